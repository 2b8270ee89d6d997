/*
 * itest_images: tasks in container images under the Mesos containerizer, on a real master and
 * agent (--image_providers=docker, --isolation=filesystem/linux,namespaces/pid, a local
 * --docker_registry of `docker save` archives built here from busybox-static: no dockerd, no
 * network).
 *
 *  - The task sees the image's filesystem (its /etc/os-release, not the host's), the image's
 *    Env, the sandbox at /mnt/mesos/sandbox (MESOS_SANDBOX) as its working directory.
 *  - A host path volume (RW) written by the task shows on the host; a RO one refuses writes.
 *  - Two images sharing their bottom layer keep one copy of it in the store.
 *  - A missing image, and a layer with a '../' entry, end TASK_FAILED /
 *    REASON_CONTAINER_LAUNCH_FAILED with the reason, and nothing runs.
 *  - The store survives an agent restart (the layer is not extracted again).
 *  - Image GC (--image_gc_config with headroom 1.0) removes an image nobody uses.
 * Needs root (mount namespaces, overlayfs or the copy fallback) and /bin/busybox (static).
 */
#include "harness.h"
#include "harness_agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct itest_cluster c;

#include "itest_images_build.h"

/* ---- tasks ---- */

static json_t *image_task(const char *id, const char *cmd, const char *image, json_t *volumes)
{
    json_t *res = json_pack("[o,o]", itest_json_scalar("cpus", 0.1), itest_json_scalar("mem", 32));
    json_t *container = json_pack("{s:s, s:{s:{s:s, s:{s:s}}}}", "type", "MESOS", "mesos", "image",
                                  "type", "DOCKER", "docker", "name", image);
    if (volumes)
        json_object_set_new(container, "volumes", volumes);
    return json_pack("{s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:o, s:o}", "name", id, "task_id", "value",
                     id, "agent_id", "value", c.agent_id, "command", "value", cmd, "resources", res,
                     "container", container);
}

static int launch(struct itest_fw *fw, json_t *tasks)
{
    struct itest_offers off;
    if (itest_fw_wait_offer(fw, 0.1 * (double)json_array_size(tasks),
                            32 * (double)json_array_size(tasks), ITEST_WAIT_MS, &off) != 0) {
        json_decref(tasks);
        return -1;
    }
    return itest_fw_launch_json(fw, &off, tasks) == 202 ? 0 : -1;
}

static char *task_stdout(const char *id)
{
    char dir[1024], path[1100];
    if (itest_agent_executor_dir(c.agent_port, id, dir, sizeof dir) != 0)
        return NULL;
    snprintf(path, sizeof path, "%s/stdout", dir);
    return itest_read_file(path, NULL);
}

static int wait_state(struct itest_fw *fw, const char *id, int state, struct itest_status *s)
{
    struct itest_status tmp;
    if (!s)
        s = &tmp;
    int rc = itest_fw_wait_state(fw, id, state, ITEST_WAIT_MS, s);
    if (rc != 0)
        fprintf(stderr, "task %s: no %s (last: %s '%s')\n", id, itest_state_name(state),
                itest_state_name(s->state), s->message);
    return rc;
}

static void expect_failed(struct itest_fw *fw, const char *id, const char *needle)
{
    struct itest_status s = {0};
    int rc = wait_state(fw, id, MESOS__V1__TASK_STATE__TASK_FAILED, &s);
    CHECK_INT(rc, 0);
    if (rc != 0)
        return;
    CHECK_INT(s.reason, MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
    if (!strstr(s.message, needle))
        fprintf(stderr, "task %s: message '%s' lacks '%s'\n", id, s.message, needle);
    CHECK(strstr(s.message, needle) != NULL);
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static char registry_flag[400], store[400], store_flag[450], top[64];

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_top(void)
{
    if (top[0])
        nftw(top, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static int start(const char *const *more)
{
    const char *flags[12] = {"--image_providers=docker",
                             "--isolation=filesystem/linux,namespaces/pid", registry_flag,
                             store_flag};
    size_t n = 4;
    for (size_t i = 0; more && more[i] && n < 11; i++)
        flags[n++] = more[i];
    flags[n] = NULL;
    struct itest_cluster_opts o = {.agent_flags = flags};
    return itest_cluster_start(&c, &o);
}

static void setup(void)
{
    if (geteuid() != 0)
        TEST_SKIP("itest_images needs root (mount namespaces and overlayfs)");
    busybox = itest_read_file("/bin/busybox", &busybox_len);
    if (!busybox || busybox_len < 100000)
        TEST_SKIP("itest_images needs a static /bin/busybox (busybox-static)");
    /* Not registered with the harness: they outlive each case (the store is shared across
     * cases on purpose) and are removed at exit. */
    snprintf(top, sizeof top, "/tmp/itest-images-XXXXXX");
    if (!mkdtemp(top))
        TEST_SKIP("no temp dir");
    atexit(remove_top);
    snprintf(reg, sizeof reg, "%s/registry", top);
    mkdir(reg, 0755);
    snprintf(store, sizeof store, "%s/store", top);
    snprintf(registry_flag, sizeof registry_flag, "--docker_registry=%s", reg);
    snprintf(store_flag, sizeof store_flag, "--docker_store_dir=%s", store);
    char sub[400];
    snprintf(sub, sizeof sub, "%s/localhost", reg);
    mkdir(sub, 0755);
    if (write_image("busybox.tar", "busybox:latest", "cmesos-test-image", false, NULL) != 0 ||
        write_image("localhost/other.tar", "localhost/other:latest", "cmesos-other-image", false,
                    "/app/dir") != 0 ||
        write_image("evil.tar", "evil:latest", "evil", true, NULL) != 0)
        TEST_SKIP("cannot write the test images");
}

/* ---- cases ---- */

static void test_image_filesystem_and_volumes(void)
{
    REQUIRE(start(NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    char vol[300], ro[300], marker[400];
    REQUIRE(itest_tmpdir(vol, sizeof vol) == 0);
    REQUIRE(itest_tmpdir(ro, sizeof ro) == 0);
    json_t *tasks = json_array();
    json_array_append_new(
        tasks, image_task("fs",
                          "cat /etc/os-release; echo var=$IMGVAR; echo cwd=$(pwd); "
                          "echo sandbox=$MESOS_SANDBOX; test -e /bin/busybox && echo has-busybox",
                          "busybox", NULL));
    json_array_append_new(
        tasks,
        image_task("vol",
                   "echo written-inside > /data/out && (echo x > /ro/denied 2>/dev/null || "
                   "echo ro-refused) && echo hi > /mnt/mesos/sandbox/cache/f && cat /ro/seed",
                   "busybox",
                   json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}]",
                             "container_path", "/data", "host_path", vol, "mode", "RW",
                             "container_path", "/ro", "host_path", ro, "mode", "RO",
                             "container_path", "cache", "host_path", "cachedir", "mode", "RW")));
    /* docker/runtime: no value, shell=false: the image's Cmd[0] ("/bin/sh") runs with the
     * task's arguments. */
    json_t *rt = image_task("runtime", "unused", "busybox", NULL);
    json_object_set_new(
        rt, "command",
        json_pack("{s:b, s:[s,s]}", "shell", 0, "arguments", "-c", "echo runtime-cmd-$IMGVAR"));
    json_array_append_new(tasks, rt);
    snprintf(marker, sizeof marker, "%s/seed", ro);
    FILE *f = fopen(marker, "w");
    REQUIRE(f != NULL);
    fputs("seeded\n", f);
    fclose(f);
    REQUIRE(launch(fw, tasks) == 0);
    CHECK_INT(wait_state(fw, "fs", MESOS__V1__TASK_STATE__TASK_FINISHED, NULL), 0);
    CHECK_INT(wait_state(fw, "vol", MESOS__V1__TASK_STATE__TASK_FINISHED, NULL), 0);
    char *out = task_stdout("fs");
    CHECK(out && strstr(out, "NAME=\"cmesos-test-image\""));
    CHECK(out && strstr(out, "var=from-cmesos-test-image"));
    CHECK(out && strstr(out, "cwd=/mnt/mesos/sandbox"));
    CHECK(out && strstr(out, "sandbox=/mnt/mesos/sandbox"));
    CHECK(out && strstr(out, "has-busybox"));
    if (out && !strstr(out, "cmesos-test-image"))
        fprintf(stderr, "fs stdout: %s\n", out);
    free(out);
    CHECK_INT(wait_state(fw, "runtime", MESOS__V1__TASK_STATE__TASK_FINISHED, NULL), 0);
    out = task_stdout("runtime");
    CHECK(out && strstr(out, "runtime-cmd-from-cmesos-test-image"));
    free(out);
    out = task_stdout("vol");
    CHECK(out && strstr(out, "ro-refused"));
    CHECK(out && strstr(out, "seeded"));
    free(out);
    char p[400], *w;
    snprintf(p, sizeof p, "%s/out", vol);
    w = itest_read_file(p, NULL);
    CHECK(w && strcmp(w, "written-inside\n") == 0);
    free(w);
    snprintf(p, sizeof p, "%s/denied", ro);
    CHECK(access(p, F_OK) != 0);
    char dir[1024], cp[1100];
    CHECK_INT(itest_agent_executor_dir(c.agent_port, "vol", dir, sizeof dir), 0);
    snprintf(cp, sizeof cp, "%s/cachedir/f", dir);
    w = itest_read_file(cp, NULL);
    CHECK(w && strcmp(w, "hi\n") == 0);
    free(w);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void test_dedup_missing_and_malicious(void)
{
    REQUIRE(start(NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    json_t *tasks = json_array();
    json_array_append_new(tasks, image_task("a", "cat /etc/os-release", "busybox", NULL));
    json_array_append_new(
        tasks, image_task("b", "cat /etc/os-release; echo cwd=$(pwd)", "localhost/other", NULL));
    json_array_append_new(tasks,
                          image_task("missing", "touch /tmp/ran-missing", "nosuch:1.0", NULL));
    json_array_append_new(tasks, image_task("evil", "true", "evil", NULL));
    json_array_append_new(
        tasks, image_task("badvol", "touch /tmp/ran-badvol", "busybox",
                          json_pack("[{s:s, s:s, s:s}]", "container_path", "/data", "host_path",
                                    "/nonexistent/cmesos-vol", "mode", "RW")));
    unlink("/tmp/cmesos-evil");
    REQUIRE(launch(fw, tasks) == 0);
    CHECK_INT(wait_state(fw, "a", MESOS__V1__TASK_STATE__TASK_FINISHED, NULL), 0);
    CHECK_INT(wait_state(fw, "b", MESOS__V1__TASK_STATE__TASK_FINISHED, NULL), 0);
    expect_failed(fw, "missing", "Failed to find image 'nosuch:1.0'");
    expect_failed(fw, "evil", "Refusing layer entry '../../../../../tmp/cmesos-evil'");
    CHECK(access("/tmp/cmesos-evil", F_OK) != 0);
    /* A failure inside the launch child (here a volume's host path) fails the task too. */
    expect_failed(fw, "badvol",
                  "Failed to provision the container's root filesystem: Volume host path "
                  "/nonexistent/cmesos-vol");
    char *out = task_stdout("b");
    CHECK(out && strstr(out, "cmesos-other-image"));
    /* The image's WorkingDir, made since the image lacks it (as Mesos does). */
    CHECK(out && strstr(out, "cwd=/app/dir"));
    free(out);
    /* busybox and localhost/other share their base layer: 3 layers, not 4 (the evil image's
     * base layer is the same one; its bad top layer never reached the store). */
    char layers[500], images[500];
    snprintf(layers, sizeof layers, "%s/layers", store);
    snprintf(images, sizeof images, "%s/images", store);
    CHECK_INT(count_entries(layers), 3);
    CHECK_INT(count_entries(images), 2);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* Runs once the previous cases filled the store: a restarted agent reuses it as it is. */
static void test_store_survives_restart(void)
{
    char layers[500];
    snprintf(layers, sizeof layers, "%s/layers", store);
    REQUIRE(count_entries(layers) == 3);
    DIR *d = opendir(layers);
    REQUIRE(d != NULL);
    struct dirent *de;
    char one[1024] = "";
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') {
            snprintf(one, sizeof one, "%s/%s", layers, de->d_name);
            break;
        }
    closedir(d);
    struct stat before, after;
    REQUIRE(stat(one, &before) == 0);
    REQUIRE(start(NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    json_t *tasks = json_array();
    json_array_append_new(tasks, image_task("again", "cat /etc/os-release", "busybox", NULL));
    REQUIRE(launch(fw, tasks) == 0);
    CHECK_INT(wait_state(fw, "again", MESOS__V1__TASK_STATE__TASK_FINISHED, NULL), 0);
    CHECK(stat(one, &after) == 0 && after.st_ino == before.st_ino &&
          after.st_mtim.tv_sec == before.st_mtim.tv_sec);
    CHECK_INT(count_entries(layers), 3);
    char *log = itest_read_file(itest_agent_log(&c), NULL);
    CHECK(log && !strstr(log, "Pulling image 'busybox'"));
    free(log);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void test_gc_removes_unused_image(void)
{
    const char *gc[] = {"--image_gc_config={\"image_disk_headroom\":1.0,"
                        "\"image_disk_watch_interval\":{\"nanoseconds\":200000000},"
                        "\"excluded_images\":[{\"type\":\"DOCKER\",\"docker\":{\"name\":"
                        "\"busybox\"}}]}",
                        NULL};
    REQUIRE(start(gc) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    json_t *tasks = json_array();
    json_array_append_new(tasks, image_task("gc", "cat /etc/os-release", "localhost/other", NULL));
    REQUIRE(launch(fw, tasks) == 0);
    CHECK_INT(wait_state(fw, "gc", MESOS__V1__TASK_STATE__TASK_FINISHED, NULL), 0);
    char layers[500], images[500];
    snprintf(layers, sizeof layers, "%s/layers", store);
    snprintf(images, sizeof images, "%s/images", store);
    /* Once the executor is gone, localhost/other is unused: its record and its own top layer
     * go; busybox (excluded) keeps its two layers, the shared base among them. */
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        gone = count_entries(images) == 1 && count_entries(layers) == 2;
        if (!gone)
            usleep(100000);
    }
    CHECK(gone);
    if (!gone)
        fprintf(stderr, "store: %zu images, %zu layers\n", count_entries(images),
                count_entries(layers));
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* kill -9 of the agent under a running image task: the executor and the task's rootfs (in
 * their mount namespace) survive, the restarted agent re-attaches, and a kill ends the task. */
static void test_agent_restart_with_running_image_task(void)
{
    const char *flags[] = {"--image_providers=docker",
                           "--isolation=filesystem/linux,namespaces/pid",
                           registry_flag,
                           store_flag,
                           "--registration_backoff_factor=100ms",
                           NULL};
    struct itest_cluster_opts o = {.no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    REQUIRE(itest_agent_spawn(&c, NULL, flags) == 0);
    REQUIRE(itest_agent_wait_registered(&c, ITEST_WAIT_MS) == 0);
    /* The agent checkpoints its id once registered: wait for its log line. */
    for (int i = 0; i < 200; i++) {
        char *text = itest_read_file(itest_agent_log(&c), NULL);
        bool done = text && strstr(text, "as agent '");
        free(text);
        if (done)
            break;
        usleep(20000);
    }
    struct itest_fw_opts fo = {.checkpoint = 1, .failover_timeout = 60};
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, &fo);
    REQUIRE(fw != NULL);
    json_t *tasks = json_array();
    json_array_append_new(tasks, image_task("long", "echo started; sleep 60", "busybox", NULL));
    REQUIRE(launch(fw, tasks) == 0);
    REQUIRE(wait_state(fw, "long", MESOS__V1__TASK_STATE__TASK_RUNNING, NULL) == 0);
    usleep(300 * 1000);
    itest_agent_kill9(&c);
    usleep(200 * 1000);
    REQUIRE(itest_agent_spawn(&c, NULL, flags) == 0);
    CHECK_INT(itest_agent_wait_registered(&c, ITEST_WAIT_MS), 0);
    /* The executor re-subscribes; then the kill reaches it. */
    int killed = -1;
    for (int i = 0; i < 50 && killed != 0; i++) {
        itest_fw_kill(fw, "long", c.agent_id);
        killed = itest_fw_wait_state(fw, "long", MESOS__V1__TASK_STATE__TASK_KILLED, 400, NULL);
    }
    CHECK_INT(killed, 0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(FIXTURE(setup), TEST(test_image_filesystem_and_volumes),
           TEST(test_dedup_missing_and_malicious), TEST(test_store_survives_restart),
           TEST(test_gc_removes_unused_image), TEST(test_agent_restart_with_running_image_task))
