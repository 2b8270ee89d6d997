/*
 * itest_sandbox: what a task runs as and in, on a real master and agent.
 *
 *  - ContainerInfo the agent cannot honour (type DOCKER, MESOS with an image, volumes) ends
 * TASK_FAILED / REASON_CONTAINER_LAUNCH_FAILED with a message naming what is unsupported, and
 * nothing runs; a plain MESOS container runs.
 *  - --switch_user: a task with CommandInfo.user "nobody" runs as uid 65534 (its `id -u` in
 *    stdout), its sandbox and the file the fetcher put there are nobody's, and a file only
 *    root can read cannot be fetched by it; a user that does not exist fails the task with a
 *    message saying so. (Root only: skipped otherwise.)
 *  - Disk: a task with disk:10 that writes 50 MB ends TASK_FAILED /
 *    REASON_CONTAINER_LIMITATION_DISK within seconds (--container_disk_watch_interval=200ms),
 *    and /monitor/statistics reports disk_limit_bytes and disk_used_bytes.
 */
#include "harness.h"
#include "harness_agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static struct itest_cluster c;

/* A TaskInfo in JSON: command (shell), resources, and extra fields merged in. */
static json_t *task_json(const char *id, const char *cmd, double disk, json_t *extra)
{
    json_t *res = json_pack("[o,o]", itest_json_scalar("cpus", 0.1), itest_json_scalar("mem", 32));
    if (disk > 0)
        json_array_append_new(res, itest_json_scalar("disk", disk));
    json_t *t =
        json_pack("{s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:o}", "name", id, "task_id", "value", id,
                  "agent_id", "value", c.agent_id, "command", "value", cmd, "resources", res);
    if (extra) {
        const char *k;
        json_t *v;
        json_object_foreach(extra, k, v)
        {
            if (strcmp(k, "command") == 0)
                json_object_update(json_object_get(t, "command"), v);
            else
                json_object_set(t, k, v);
        }
        json_decref(extra);
    }
    return t;
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

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void expect_failed(struct itest_fw *fw, const char *id, int reason, const char *needle)
{
    struct itest_status s = {0};
    int rc = itest_fw_wait_state(fw, id, MESOS__V1__TASK_STATE__TASK_FAILED, ITEST_WAIT_MS, &s);
    CHECK_INT(rc, 0);
    if (rc != 0)
        return;
    CHECK(s.has_reason);
    if (s.reason != reason)
        fprintf(stderr, "task %s: reason %s, message '%s'\n", id, itest_reason_name(s.reason),
                s.message);
    CHECK_INT(s.reason, reason);
    if (!strstr(s.message, needle))
        fprintf(stderr, "task %s: message '%s' lacks '%s'\n", id, s.message, needle);
    CHECK(strstr(s.message, needle) != NULL);
}

static void test_unsupported_containers(void)
{
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    json_t *tasks = json_array();
    /* Each would leave a marker on the host if it ran. */
    char marker[300], cmd[400];
    REQUIRE(itest_tmpdir(marker, sizeof marker) == 0);
    snprintf(cmd, sizeof cmd, "touch %s/ran; cat /etc/os-release", marker);
    json_array_append_new(tasks, task_json("docker", cmd, 0,
                                           json_pack("{s:{s:s, s:{s:s}}}", "container", "type",
                                                     "DOCKER", "docker", "image", "alpine:3.19")));
    json_array_append_new(tasks, task_json("image", cmd, 0,
                                           json_pack("{s:{s:s, s:{s:{s:s, s:{s:s}}}}}", "container",
                                                     "type", "MESOS", "mesos", "image", "type",
                                                     "DOCKER", "docker", "name", "busybox")));
    json_array_append_new(tasks, task_json("volume", cmd, 0,
                                           json_pack("{s:{s:s, s:[{s:s, s:s, s:s}]}}", "container",
                                                     "type", "MESOS", "volumes", "container_path",
                                                     "/data", "host_path", "/tmp", "mode", "RW")));
    json_array_append_new(tasks, task_json("plain", "echo plain", 0,
                                           json_pack("{s:{s:s}}", "container", "type", "MESOS")));
    REQUIRE(launch(fw, tasks) == 0);
    int lf = MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED;
    expect_failed(fw, "docker", lf, "type DOCKER (image 'alpine:3.19') is not supported");
    expect_failed(fw, "image", lf, "'mesos.image' ('busybox') is not supported");
    expect_failed(fw, "volume", lf, "'volumes' are not supported");
    CHECK_INT(
        itest_fw_wait_state(fw, "plain", MESOS__V1__TASK_STATE__TASK_FINISHED, ITEST_WAIT_MS, NULL),
        0);

    /* Executor-level ContainerInfo is checked by the agent too (test_agent_container_info):
     * the master refuses custom executors before they reach it for now. */
    char p[400];
    snprintf(p, sizeof p, "%s/ran", marker);
    CHECK(access(p, F_OK) != 0); /* nothing ran on the host */
    json_t *m = itest_get_json(c.agent_port, "/metrics/snapshot");
    CHECK(m && json_number_value(json_object_get(m, "slave/container_launch_errors")) >= 3);
    json_decref(m);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void test_switch_user(void)
{
    if (geteuid() != 0)
        SKIP_CASE("--switch_user to another user needs root");
    /* The executor runs as the task's user, so that user must be able to execute it; a checkout
     * under /root (mode 0700) is not reachable by nobody. Like an installed agent
     * (libexec/mesos), the test gives the agent a copy in a directory everyone can enter. */
    char libexec[300], exe_src[512], exe_dst[400], launcher_flag[420];
    REQUIRE(itest_tmpdir(libexec, sizeof libexec) == 0);
    chmod(libexec, 0755);
    itest_bin("mesos-executor", exe_src, sizeof exe_src);
    snprintf(exe_dst, sizeof exe_dst, "%s/mesos-executor", libexec);
    char *cp[] = {"/bin/cp", exe_src, exe_dst, NULL};
    int cp_status = -1;
    REQUIRE(itest_run(cp, 20000, &cp_status, NULL) == 0);
    REQUIRE(WIFEXITED(cp_status) && WEXITSTATUS(cp_status) == 0);
    chmod(exe_dst, 0755);
    snprintf(launcher_flag, sizeof launcher_flag, "--launcher_dir=%s", libexec);
    const char *agent_flags[] = {launcher_flag, NULL};
    struct itest_cluster_opts opts = {.agent_flags = agent_flags};
    REQUIRE(itest_cluster_start(&c, &opts) == 0);
    /* mkdtemp made the test's directories 0700; a real work_dir is traversable. */
    chmod(c.dir, 0755);
    chmod(c.agent_work, 0755);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);

    char files[300], readable[400], secret[400];
    REQUIRE(itest_tmpdir(files, sizeof files) == 0);
    chmod(files, 0755);
    snprintf(readable, sizeof readable, "%s/readable.txt", files);
    snprintf(secret, sizeof secret, "%s/secret.txt", files);
    FILE *fp = fopen(readable, "w");
    REQUIRE(fp != NULL);
    fputs("for everyone\n", fp);
    fclose(fp);
    chmod(readable, 0644);
    fp = fopen(secret, "w");
    REQUIRE(fp != NULL);
    fputs("root only\n", fp);
    fclose(fp);
    chmod(secret, 0600);

    json_t *tasks = json_array();
    json_array_append_new(tasks, task_json("asnobody",
                                           "id -u; stat -c 'owner=%u' readable.txt; touch mine", 0,
                                           json_pack("{s:{s:s, s:[{s:s}]}}", "command", "user",
                                                     "nobody", "uris", "value", readable)));
    /* Without URIs the sandbox is made by the executor's child, as the user looked up once. */
    json_array_append_new(tasks, task_json("plainnobody", "id -u", 0,
                                           json_pack("{s:{s:s}}", "command", "user", "nobody")));
    json_array_append_new(
        tasks, task_json("nosuchuser", "echo ran", 0,
                         json_pack("{s:{s:s}}", "command", "user", "cm-no-such-user-4711")));
    json_array_append_new(tasks, task_json("stealer", "cat secret.txt", 0,
                                           json_pack("{s:{s:s, s:[{s:s}]}}", "command", "user",
                                                     "nobody", "uris", "value", secret)));
    REQUIRE(launch(fw, tasks) == 0);

    CHECK_INT(itest_fw_wait_state(fw, "asnobody", MESOS__V1__TASK_STATE__TASK_FINISHED,
                                  ITEST_WAIT_MS, NULL),
              0);
    char dir[1024];
    REQUIRE(itest_agent_executor_dir(c.agent_port, "asnobody", dir, sizeof dir) == 0);
    char p[1200];
    snprintf(p, sizeof p, "%s/stdout", dir);
    char *out = slurp(p);
    CHECK(out && strstr(out, "65534\n") != NULL);
    CHECK(out && strstr(out, "owner=65534") != NULL);
    if (out && !strstr(out, "65534\n"))
        fprintf(stderr, "stdout: %s\n", out);
    free(out);
    struct stat st;
    CHECK(stat(dir, &st) == 0 && st.st_uid == 65534);
    snprintf(p, sizeof p, "%s/mine", dir);
    CHECK(stat(p, &st) == 0 && st.st_uid == 65534);
    snprintf(p, sizeof p, "%s/readable.txt", dir);
    CHECK(stat(p, &st) == 0 && st.st_uid == 65534);

    CHECK_INT(itest_fw_wait_state(fw, "plainnobody", MESOS__V1__TASK_STATE__TASK_FINISHED,
                                  ITEST_WAIT_MS, NULL),
              0);
    REQUIRE(itest_agent_executor_dir(c.agent_port, "plainnobody", dir, sizeof dir) == 0);
    snprintf(p, sizeof p, "%s/stdout", dir);
    out = slurp(p);
    CHECK(out && strstr(out, "65534\n") != NULL);
    free(out);
    CHECK(stat(dir, &st) == 0 && st.st_uid == 65534);

    expect_failed(fw, "nosuchuser", MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED,
                  "User 'cm-no-such-user-4711' does not exist on this agent");
    expect_failed(fw, "stealer", MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED,
                  "Permission denied");
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static double now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_disk_quota(void)
{
    setenv("MESOS_CONTAINER_DISK_WATCH_INTERVAL", "200ms", 1);
    int rc = itest_cluster_start(&c, NULL);
    unsetenv("MESOS_CONTAINER_DISK_WATCH_INTERVAL");
    REQUIRE(rc == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    json_t *tasks = json_array();
    json_array_append_new(
        tasks, task_json("hog", "dd if=/dev/zero of=big bs=1M count=50 2>&1; sleep 60", 10, NULL));
    json_array_append_new(
        tasks,
        task_json("modest", "dd if=/dev/zero of=some bs=1M count=5 2>&1; sleep 60", 100, NULL));
    double t0 = now_secs();
    REQUIRE(launch(fw, tasks) == 0);
    struct itest_status s = {0};
    rc = itest_fw_wait_state(fw, "hog", MESOS__V1__TASK_STATE__TASK_FAILED, ITEST_WAIT_MS, &s);
    double took = now_secs() - t0;
    CHECK_INT(rc, 0);
    CHECK_INT(s.reason, MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_DISK);
    if (!strstr(s.message, "exceeds quota (10MB)"))
        fprintf(stderr, "message: %s\n", s.message);
    CHECK(strstr(s.message, "Disk usage (") && strstr(s.message, "exceeds quota (10MB)"));
    /* Printed, not bounded beyond the wait above: at load 40 the agent saw the usage 0.4 s
     * after the launch, and then its loop and the other executor made no progress for 9 s
     * (the whole machine stalled), so the update came 10.3 s after the launch. What must
     * hold is that the limit is enforced, with its reason and message (checked above). */
    fprintf(stderr, "disk: the 50 MB task failed %.2f s after its launch\n", took);

    /* The one within its disk keeps running, and its usage is in the statistics. */
    REQUIRE(itest_fw_wait_state(fw, "modest", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    int seen = 0;
    for (int t = 0; t < 50 && !seen; t++) {
        json_t *st = itest_get_json(c.agent_port, "/monitor/statistics");
        size_t i;
        json_t *e;
        json_array_foreach(st, i, e)
        {
            const char *eid = json_string_value(json_object_get(e, "executor_id"));
            json_t *stats = json_object_get(e, "statistics");
            if (!eid || strcmp(eid, "modest") != 0 || !stats)
                continue;
            json_int_t used = json_integer_value(json_object_get(stats, "disk_used_bytes"));
            json_int_t limit = json_integer_value(json_object_get(stats, "disk_limit_bytes"));
            CHECK_INT(limit, 100LL * 1024 * 1024);
            if (used >= 5LL * 1024 * 1024) {
                CHECK(used < 10LL * 1024 * 1024);
                seen = 1;
            }
        }
        json_decref(st);
        if (!seen)
            usleep(100 * 1000);
    }
    CHECK(seen);
    CHECK_INT(itest_fw_kill(fw, "modest", c.agent_id), 202);
    CHECK_INT(
        itest_fw_wait_state(fw, "modest", MESOS__V1__TASK_STATE__TASK_KILLED, ITEST_WAIT_MS, NULL),
        0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* A fetched archive plants "stdout" as a symlink to a file outside; the launch child (root)
 * must neither append to it nor chown it. */
static void test_planted_stdout(void)
{
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    chmod(c.dir, 0755);
    chmod(c.agent_work, 0755);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    char d[300], victim[400], cmd[1400];
    REQUIRE(itest_tmpdir(d, sizeof d) == 0);
    chmod(d, 0755);
    snprintf(victim, sizeof victim, "%s/victim", d);
    FILE *fp = fopen(victim, "w");
    REQUIRE(fp != NULL);
    fputs("victim\n", fp);
    fclose(fp);
    chmod(victim, 0644);
    snprintf(cmd, sizeof cmd,
             "cd %s && mkdir pack && ln -s %s pack/stdout && tar -C pack -cf planted.tar stdout", d,
             victim);
    REQUIRE(system(cmd) == 0);
    char tarpath[400];
    snprintf(tarpath, sizeof tarpath, "%s/planted.tar", d);
    json_t *tasks = json_array();
    json_t *extra =
        json_pack("{s:{s:[{s:s, s:b}]}}", "command", "uris", "value", tarpath, "extract", 1);
    if (geteuid() == 0) /* as a user of its own when the agent can switch */
        json_object_set_new(json_object_get(extra, "command"), "user", json_string("nobody"));
    json_array_append_new(tasks, task_json("planted", "echo OVERWRITTEN", 0, extra));
    REQUIRE(launch(fw, tasks) == 0);
    expect_failed(fw, "planted", MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED,
                  "stdout");
    char *text = slurp(victim);
    CHECK(text && strcmp(text, "victim\n") == 0);
    free(text);
    struct stat st;
    CHECK(stat(victim, &st) == 0 && st.st_uid == 0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* A fetched archive plants a directory symlink "d" to a directory outside; a later URI with
 * output_file "d/x" must not be written through it (even as root). */
static void test_planted_dir_link(void)
{
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    char d[300], out[400], cmd[1400], tarpath[400], payload[400];
    REQUIRE(itest_tmpdir(d, sizeof d) == 0);
    snprintf(out, sizeof out, "%s/outside", d);
    REQUIRE(mkdir(out, 0755) == 0);
    snprintf(cmd, sizeof cmd,
             "cd %s && mkdir pack && ln -s %s pack/d && tar -C pack -cf planted.tar d && "
             "echo payload > payload.txt",
             d, out);
    REQUIRE(system(cmd) == 0);
    snprintf(tarpath, sizeof tarpath, "%s/planted.tar", d);
    snprintf(payload, sizeof payload, "%s/payload.txt", d);
    json_t *tasks = json_array();
    json_array_append_new(
        tasks, task_json("dirlink", "echo ran", 0,
                         json_pack("{s:{s:[{s:s, s:b}, {s:s, s:s}]}}", "command", "uris", "value",
                                   tarpath, "extract", 1, "value", payload, "output_file", "d/x")));
    REQUIRE(launch(fw, tasks) == 0);
    expect_failed(fw, "dirlink", MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED,
                  "leads outside of the sandbox");
    char p[500];
    snprintf(p, sizeof p, "%s/x", out);
    CHECK(access(p, F_OK) != 0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* The agent is killed (-9) before the task writes; the restarted agent re-attaches the
 * container and its disk watch catches the write. */
static void test_disk_after_recovery(void)
{
    static const char *const flags[] = {"--registration_backoff_factor=100ms",
                                        "--container_disk_watch_interval=200ms", NULL};
    struct itest_cluster_opts o = {.no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    REQUIRE(itest_agent_spawn(&c, NULL, flags) == 0);
    REQUIRE(itest_agent_wait_registered(&c, ITEST_WAIT_MS) == 0);
    /* The agent checkpoints its id after it logs the registration. */
    int registered = 0;
    for (int t = 0; t < 250 && !registered; t++) {
        char *text = itest_read_file(itest_agent_log(&c), NULL);
        registered = text && strstr(text, "as agent '");
        free(text);
        if (!registered)
            usleep(20 * 1000);
    }
    REQUIRE(registered);
    struct itest_fw_opts fo = {.checkpoint = 1, .failover_timeout = 60};
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, &fo);
    REQUIRE(fw != NULL);
    json_t *tasks = json_array();
    json_array_append_new(tasks,
                          task_json("late-hog",
                                    "sleep 3; dd if=/dev/zero of=big bs=1M count=50 2>&1; sleep 60",
                                    10, NULL));
    REQUIRE(launch(fw, tasks) == 0);
    REQUIRE(itest_fw_wait_state(fw, "late-hog", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    usleep(200 * 1000);
    itest_agent_kill9(&c);
    usleep(200 * 1000);
    REQUIRE(itest_agent_spawn(&c, NULL, flags) == 0);
    struct itest_status s = {0};
    int rc =
        itest_fw_wait_state(fw, "late-hog", MESOS__V1__TASK_STATE__TASK_FAILED, ITEST_WAIT_MS, &s);
    CHECK_INT(rc, 0);
    CHECK_INT(s.reason, MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_DISK);
    if (!strstr(s.message, "exceeds quota (10MB)"))
        fprintf(stderr, "late-hog: rc %d, reason %s, message '%s'\n", rc,
                itest_reason_name(s.reason), s.message);
    CHECK(strstr(s.message, "exceeds quota (10MB)") != NULL);
    char *text = itest_read_file(itest_agent_log(&c), NULL);
    CHECK(text && strstr(text, "over its limit")); /* the restarted agent killed it */
    free(text);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_unsupported_containers), TEST(test_switch_user), TEST(test_disk_quota),
           TEST(test_planted_stdout), TEST(test_planted_dir_link), TEST(test_disk_after_recovery))
