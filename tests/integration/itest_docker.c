/*
 * itest_docker: the Docker containerizer end to end: a real master, an agent with
 * --containerizers=docker,mesos, mesos-docker-executor and a private dockerd
 * (harness_docker.h) with a busybox image imported at test time.
 *
 *  - image_filesystem: the task sees the image's /etc/os-release (not the host's), its
 *    sandbox at /mnt/mesos/sandbox (MESOS_SANDBOX), and its stdout lands in the sandbox;
 *    STARTING -> RUNNING -> FINISHED; the container is named mesos-<container id>;
 *    DockerInfo.parameters reach `docker run` (an env and a label).
 *  - volumes_and_port: a sandbox-relative RW volume written by the task, an absolute RO host
 *    volume read by it, and a server on a task port reached from the host (host network:
 *    the test dockerd runs with --bridge=none, so BRIDGE port mappings cannot work here).
 *  - kill_with_grace: KILL -> TASK_KILLED; a task trapping SIGTERM reports it got it; one
 *    ignoring SIGTERM is SIGKILLed after the kill policy's grace (2 s), not before.
 *  - oom: mem 32 MB and a 100 MB buffer -> TASK_FAILED / REASON_CONTAINER_LIMITATION_MEMORY.
 *  - missing_image: TASK_FAILED / REASON_CONTAINER_LAUNCH_FAILED with Docker's message; so
 *    does force_pull_image of a local-only image (no registry here).
 *  - refusals: invalid DockerInfo (no image, port mappings on the host network, a host port
 *    outside the task's ports) fail with a message naming the field, and without "docker" in
 *    --containerizers a DOCKER task is refused and nothing runs in Docker.
 *  - health_check: a COMMAND check runs inside the container (it passes only against the
 *    image's files) and reports healthy; a failing one kills the task.
 *  - statistics: /monitor/statistics of a Docker task includes its container's cgroups.
 *  - mesos_execute: --containerizer=docker --docker_image runs the command in the image; bad
 *    container flags are refused.
 *  - agent_restart: kill -9 of the agent with a running Docker task; the restarted agent
 *    recovers it (the executor re-subscribes), removes an orphan mesos-* container, and a KILL
 *    then ends the task TASK_KILLED with no container left (--docker_remove_delay=0).
 */
#include "harness.h"
#include "harness_agent.h"
#include "harness_docker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct itest_cluster c;
static struct itest_docker dk;
static int dk_state; /* 0 not tried, 1 up, -1 unavailable */
static char dk_why[512];

static int docker_up(void)
{
    if (dk_state == 0)
        dk_state = itest_docker_start(&dk, dk_why, sizeof dk_why) == 0 ? 1 : -1;
    return dk_state == 1;
}

#define NEED_DOCKER()                                                                              \
    do {                                                                                           \
        if (!docker_up())                                                                          \
            SKIP_CASE("no private dockerd here: %s", dk_why);                                      \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A cluster whose agent runs Docker tasks with the private dockerd. */
static int start(const char *resources, const char *const *more)
{
    if (itest_cluster_start(&c, &(struct itest_cluster_opts){.no_agent = 1}) != 0)
        return -1;
    static char sock[160];
    snprintf(sock, sizeof sock, "--docker_socket=%s", dk.sock);
    const char *flags[16] = {"--containerizers=docker,mesos", "--docker=" ITEST_DOCKER_CLI, sock};
    size_t n = 3;
    for (size_t i = 0; more && more[i] && n < 15; i++)
        flags[n++] = more[i];
    flags[n] = NULL;
    if (itest_agent_spawn(&c, resources, flags) != 0)
        return -1;
    return itest_agent_wait_registered(&c, ITEST_WAIT_MS);
}

static json_t *scalar(const char *name, double v)
{
    return json_pack("{s:s, s:s, s:{s:f}}", "name", name, "type", "SCALAR", "scalar", "value", v);
}

/* A Docker TaskInfo: shell command cmd in ITEST_DOCKER_IMAGE (or image), docker fields merged
 * from docker_extra, other TaskInfo/ContainerInfo fields from extra / container_extra. */
static json_t *docker_task(const char *id, const char *image, const char *cmd, double mem,
                           json_t *docker_extra, json_t *container_extra, json_t *extra)
{
    json_t *res = json_pack("[o,o]", scalar("cpus", 0.1), scalar("mem", mem));
    json_t *docker = json_pack("{s:s}", "image", image ? image : ITEST_DOCKER_IMAGE);
    if (docker_extra) {
        json_object_update(docker, docker_extra);
        json_decref(docker_extra);
    }
    json_t *container = json_pack("{s:s, s:o}", "type", "DOCKER", "docker", docker);
    if (container_extra) {
        json_object_update(container, container_extra);
        json_decref(container_extra);
    }
    json_t *t = json_pack("{s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:o, s:o}", "name", id, "task_id",
                          "value", id, "agent_id", "value", c.agent_id, "command", "value", cmd,
                          "resources", res, "container", container);
    if (extra) {
        json_t *r = json_object_get(extra, "resources");
        if (r)
            json_array_extend(res, r);
        json_object_del(extra, "resources");
        json_object_update(t, extra);
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
    json_t *ids = json_array();
    for (size_t i = 0; i < off.n; i++)
        json_array_append_new(ids, json_pack("{s:s}", "value", off.idv[i]));
    json_t *call = json_pack("{s:s, s:{s:s}, s:{s:o, s:[{s:s, s:{s:o}}], s:{s:f}}}", "type",
                             "ACCEPT", "framework_id", "value", fw->framework_id, "accept",
                             "offer_ids", ids, "operations", "type", "LAUNCH", "launch",
                             "task_infos", tasks, "filters", "refuse_seconds", 0.0);
    char *text = json_dumps(call, JSON_COMPACT);
    json_decref(call);
    int rc = itest_fw_post(fw, text, strlen(text), 1);
    if (rc != 202)
        fprintf(stderr, "ACCEPT answered %d: %s\n", rc, fw->last_body);
    free(text);
    return rc == 202 ? 0 : -1;
}

/* The executor's sandbox and container id from the agent's /state (live or completed). */
static int executor_of(const char *id, char *dir, size_t dlen, char *cid, size_t clen)
{
    json_t *st = itest_get_json(c.agent_port, "/state");
    if (!st)
        return -1;
    *dir = '\0';
    size_t i, k;
    json_t *f, *e;
    const char *lists[] = {"frameworks", "completed_frameworks"};
    const char *elists[] = {"executors", "completed_executors"};
    for (int l = 0; l < 2; l++)
        json_array_foreach(json_object_get(st, lists[l]), i, f)
        {
            for (int m = 0; m < 2; m++)
                json_array_foreach(json_object_get(f, elists[m]), k, e)
                {
                    const char *eid = json_string_value(json_object_get(e, "id"));
                    if (eid && strcmp(eid, id) == 0) {
                        snprintf(dir, dlen, "%s",
                                 json_string_value(json_object_get(e, "directory")));
                        const char *ct = json_string_value(json_object_get(e, "container"));
                        if (cid)
                            snprintf(cid, clen, "%s", ct ? ct : "");
                    }
                }
        }
    json_decref(st);
    return *dir ? 0 : -1;
}

static char *sandbox_file(const char *id, const char *name)
{
    char dir[512], path[700];
    if (executor_of(id, dir, sizeof dir, NULL, 0) != 0)
        return NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return itest_read_file(path, NULL);
}

static void expect_state(struct itest_fw *fw, const char *id, int state, int reason,
                         const char *needle, struct itest_status *out)
{
    struct itest_status s = {0};
    int rc = itest_fw_wait_state(fw, id, state, ITEST_WAIT_MS, &s);
    CHECK_INT(rc, 0);
    if (out)
        *out = s;
    if (rc != 0)
        return;
    if (reason >= 0) {
        if (!s.has_reason || s.reason != reason)
            fprintf(stderr, "task %s: reason %s, message '%s'\n", id, itest_reason_name(s.reason),
                    s.message);
        CHECK(s.has_reason);
        CHECK_INT(s.reason, reason);
    }
    if (needle && !strstr(s.message, needle))
        fprintf(stderr, "task %s: message '%s' lacks '%s'\n", id, s.message, needle);
    if (needle)
        CHECK(strstr(s.message, needle) != NULL);
}

static void test_image_filesystem(void)
{
    NEED_DOCKER();
    REQUIRE(start(NULL, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw);
    json_t *tasks = json_array();
    json_array_append_new(tasks, docker_task("fs", NULL,
                                             "cat /etc/os-release; echo sandbox=$MESOS_SANDBOX; "
                                             "echo inside > $MESOS_SANDBOX/marker; echo oops >&2",
                                             32, NULL, NULL, NULL));
    /* DockerInfo.parameters: passed to `docker run` as --key=value (the CLI path). */
    json_array_append_new(
        tasks,
        docker_task("params", NULL, "echo from_param=$FROM_PARAM", 32,
                    json_pack("{s:[{s:s, s:s}, {s:s, s:s}]}", "parameters", "key", "env", "value",
                              "FROM_PARAM=yes", "key", "label", "value", "org.cmesos.test=params"),
                    NULL, NULL));
    REQUIRE(launch(fw, tasks) == 0);
    expect_state(fw, "params", MESOS__V1__TASK_STATE__TASK_FINISHED, -1, NULL, NULL);
    char *pout = sandbox_file("params", "stdout");
    CHECK(pout && strstr(pout, "from_param=yes"));
    free(pout);
    char pdir[512], pcid[128];
    CHECK(executor_of("params", pdir, sizeof pdir, pcid, sizeof pcid) == 0);
    char pname[160];
    snprintf(pname, sizeof pname, "mesos-%s", pcid);
    const char *insp[] = {"inspect", "-f", "{{index .Config.Labels \"org.cmesos.test\"}}", pname,
                          NULL};
    char *label = NULL;
    CHECK_INT(itest_docker_cli(&dk, insp, &label), 0);
    CHECK(label && strstr(label, "params"));
    free(label);
    expect_state(fw, "fs", MESOS__V1__TASK_STATE__TASK_STARTING, -1, NULL, NULL);
    expect_state(fw, "fs", MESOS__V1__TASK_STATE__TASK_RUNNING, -1, NULL, NULL);
    expect_state(fw, "fs", MESOS__V1__TASK_STATE__TASK_FINISHED, -1, NULL, NULL);
    char *out = sandbox_file("fs", "stdout");
    REQUIRE(out);
    if (!strstr(out, "cmesos busybox"))
        fprintf(stderr, "stdout: %s\n", out);
    CHECK(strstr(out, "NAME=\"cmesos busybox\"") != NULL);
    CHECK(strstr(out, "sandbox=/mnt/mesos/sandbox") != NULL);
    free(out);
    char *err = sandbox_file("fs", "stderr");
    CHECK(err && strstr(err, "oops"));
    free(err);
    char *marker = sandbox_file("fs", "marker");
    CHECK(marker && strcmp(marker, "inside\n") == 0);
    free(marker);
    /* The host's own os-release is not the image's. */
    char *host = itest_read_file("/etc/os-release", NULL);
    CHECK(!host || !strstr(host, "cmesos busybox"));
    free(host);
    char dir[512], cid[128], name[160];
    CHECK(executor_of("fs", dir, sizeof dir, cid, sizeof cid) == 0);
    snprintf(name, sizeof name, "mesos-%s", cid);
    char *names = itest_docker_names(&dk, "mesos-");
    CHECK(names && strstr(names, name));
    free(names);
    itest_fw_free(fw);
}

static void test_volumes_and_port(void)
{
    NEED_DOCKER();
    REQUIRE(start("cpus:2;mem:1024;disk:1024;ports:[31500-31510]", NULL) == 0);
    char host_dir[256], path[300];
    REQUIRE(itest_tmpdir(host_dir, sizeof host_dir) == 0);
    snprintf(path, sizeof path, "%s/hello.txt", host_dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs("from the host\n", f);
    fclose(f);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw);
    json_t *vols = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}]", "container_path", "/data",
                             "host_path", "vol", "mode", "RW", "container_path", "/hostro",
                             "host_path", host_dir, "mode", "RO");
    json_t *ports = json_pack("{s:[{s:s, s:s, s:{s:[{s:i, s:i}]}}]}", "resources", "name", "ports",
                              "type", "RANGES", "ranges", "range", "begin", 31505, "end", 31505);
    json_t *tasks = json_array();
    json_array_append_new(
        tasks,
        docker_task("vp", NULL,
                    "echo written > /data/out.txt && cat /hostro/hello.txt > /data/copy.txt && "
                    "(touch /hostro/x 2>/dev/null && echo rw || echo ro) > /data/mode.txt && "
                    "mkdir -p /tmp/www && echo served-from-docker > /tmp/www/index.html && "
                    "exec httpd -f -p 127.0.0.1:31505 -h /tmp/www",
                    32, json_pack("{s:s}", "network", "HOST"), json_pack("{s:o}", "volumes", vols),
                    ports));
    REQUIRE(launch(fw, tasks) == 0);
    expect_state(fw, "vp", MESOS__V1__TASK_STATE__TASK_RUNNING, -1, NULL, NULL);
    struct itest_http_resp r = {0};
    int got = 0;
    for (int i = 0; i < 100 && !got; i++) {
        if (itest_http(31505, "GET", "/index.html", NULL, NULL, 0, &r, 2000) == 0 &&
            r.status == 200)
            got = 1;
        else {
            itest_http_resp_cleanup(&r);
            memset(&r, 0, sizeof r);
            usleep(100000);
        }
    }
    CHECK(got);
    if (got)
        CHECK(strstr((char *)r.body, "served-from-docker") != NULL);
    itest_http_resp_cleanup(&r);
    char *out = sandbox_file("vp", "vol/out.txt");
    CHECK(out && strcmp(out, "written\n") == 0);
    free(out);
    char *copy = sandbox_file("vp", "vol/copy.txt");
    CHECK(copy && strcmp(copy, "from the host\n") == 0);
    free(copy);
    char *mode = sandbox_file("vp", "vol/mode.txt");
    CHECK(mode && strcmp(mode, "ro\n") == 0);
    free(mode);
    CHECK_INT(itest_fw_kill(fw, "vp", c.agent_id), 202);
    expect_state(fw, "vp", MESOS__V1__TASK_STATE__TASK_KILLED, -1, NULL, NULL);
    itest_fw_free(fw);
}

static void test_kill_with_grace(void)
{
    NEED_DOCKER();
    REQUIRE(start(NULL, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw);
    json_t *policy = json_pack("{s:{s:{s:I}}}", "kill_policy", "grace_period", "nanoseconds",
                               (json_int_t)2000000000);
    json_t *tasks = json_array();
    json_array_append_new(tasks, docker_task("trap", NULL,
                                             "trap 'echo got-TERM; exit 0' TERM; echo ready; "
                                             "while true; do sleep 0.1; done",
                                             32, NULL, NULL, json_deep_copy(policy)));
    json_array_append_new(tasks, docker_task("stubborn", NULL,
                                             "trap '' TERM; echo ready; while true; do sleep "
                                             "0.1; done",
                                             32, NULL, NULL, policy));
    REQUIRE(launch(fw, tasks) == 0);
    expect_state(fw, "trap", MESOS__V1__TASK_STATE__TASK_RUNNING, -1, NULL, NULL);
    expect_state(fw, "stubborn", MESOS__V1__TASK_STATE__TASK_RUNNING, -1, NULL, NULL);
    usleep(500000); /* both shells have set their traps */
    CHECK_INT(itest_fw_kill(fw, "trap", c.agent_id), 202);
    expect_state(fw, "trap", MESOS__V1__TASK_STATE__TASK_KILLED, -1, NULL, NULL);
    char *out = sandbox_file("trap", "stdout");
    for (int i = 0; i < 20 && !(out && strstr(out, "got-TERM")); i++) {
        free(out);
        usleep(100000);
        out = sandbox_file("trap", "stdout");
    }
    CHECK(out && strstr(out, "got-TERM"));
    free(out);
    double t0 = now_s();
    CHECK_INT(itest_fw_kill(fw, "stubborn", c.agent_id), 202);
    expect_state(fw, "stubborn", MESOS__V1__TASK_STATE__TASK_KILLED, -1, NULL, NULL);
    double took = now_s() - t0;
    fprintf(stderr, "stubborn task killed after %.2f s (grace 2 s)\n", took);
    CHECK(took >= 1.8);
    CHECK(took < 10);
    itest_fw_free(fw);
}

static void test_oom(void)
{
    NEED_DOCKER();
    REQUIRE(start(NULL, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw);
    json_t *tasks = json_array();
    json_array_append_new(tasks, docker_task("oom", NULL,
                                             "dd if=/dev/zero of=/dev/null bs=100M count=1; "
                                             "sleep 5",
                                             32, NULL, NULL, NULL));
    REQUIRE(launch(fw, tasks) == 0);
    expect_state(fw, "oom", MESOS__V1__TASK_STATE__TASK_FAILED,
                 MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY,
                 "Memory limit exceeded", NULL);
    itest_fw_free(fw);
}

static void test_missing_image(void)
{
    NEED_DOCKER();
    REQUIRE(start(NULL, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw);
    json_t *tasks = json_array();
    json_array_append_new(
        tasks, docker_task("noimg", "localhost/no-such-image:1", "true", 32, NULL, NULL, NULL));
    /* force_pull_image pulls even a local image: with no registry here that fails, with
     * Docker's message, before anything runs. */
    json_array_append_new(tasks,
                          docker_task("forcepull", NULL, "true", 32,
                                      json_pack("{s:b}", "force_pull_image", 1), NULL, NULL));
    REQUIRE(launch(fw, tasks) == 0);
    struct itest_status s;
    expect_state(fw, "forcepull", MESOS__V1__TASK_STATE__TASK_FAILED,
                 MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED,
                 "Failed to pull image '" ITEST_DOCKER_IMAGE "'", NULL);
    expect_state(fw, "noimg", MESOS__V1__TASK_STATE__TASK_FAILED,
                 MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED,
                 "Failed to launch container", &s);
    /* Docker's own words, naming the image. */
    CHECK(strstr(s.message, "no-such-image") != NULL);
    CHECK(strstr(s.message, "Error response from daemon") != NULL ||
          strstr(s.message, "Unable to find image") != NULL);
    itest_fw_free(fw);
}

static void test_refusals(void)
{
    /* Validation happens in the agent before any dockerd is asked: no daemon needed. */
    if (itest_cluster_start(&c, &(struct itest_cluster_opts){.no_agent = 1}) != 0)
        REQUIRE(0);
    const char *flags[] = {"--containerizers=docker,mesos", "--docker=" ITEST_DOCKER_CLI,
                           "--docker_socket=/nonexistent/docker.sock", NULL};
    REQUIRE(itest_agent_spawn(&c, "cpus:2;mem:1024;disk:1024;ports:[31600-31601]", flags) == 0);
    REQUIRE(itest_agent_wait_registered(&c, ITEST_WAIT_MS) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw);
    json_t *tasks = json_array();
    /* image is a required field: the master refuses a DockerInfo without one, so the agent's
     * own check is reached with an empty image. */
    json_array_append_new(tasks, docker_task("noimage", "", "true", 32, NULL, NULL, NULL));
    json_array_append_new(
        tasks, docker_task("hostmap", NULL, "true", 32,
                           json_pack("{s:s, s:[{s:i, s:i}]}", "network", "HOST", "port_mappings",
                                     "host_port", 31600, "container_port", 80),
                           NULL, NULL));
    json_array_append_new(
        tasks, docker_task("badport", NULL, "true", 32,
                           json_pack("{s:s, s:[{s:i, s:i}]}", "network", "BRIDGE", "port_mappings",
                                     "host_port", 31999, "container_port", 80),
                           NULL, NULL));
    REQUIRE(launch(fw, tasks) == 0);
    int r = MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED;
    expect_state(fw, "noimage", MESOS__V1__TASK_STATE__TASK_FAILED, r, "container.docker.image",
                 NULL);
    expect_state(fw, "hostmap", MESOS__V1__TASK_STATE__TASK_FAILED, r, "port_mappings", NULL);
    expect_state(fw, "badport", MESOS__V1__TASK_STATE__TASK_FAILED, r, "31999", NULL);
    itest_fw_free(fw);
    itest_cluster_stop(&c);

    /* Without docker in --containerizers: refused, as before the Docker containerizer. */
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw);
    tasks = json_array();
    json_array_append_new(tasks, docker_task("nodocker", NULL, "true", 32, NULL, NULL, NULL));
    REQUIRE(launch(fw, tasks) == 0);
    expect_state(fw, "nodocker", MESOS__V1__TASK_STATE__TASK_FAILED, r, "type DOCKER", NULL);
    itest_fw_free(fw);
}

/* /monitor/statistics of a Docker task counts its container's cgroups: 150 MB of page cache
 * written inside the container show up in mem_total_bytes / mem_cache_bytes (the executor and
 * its docker CLI processes use far less). */
static void test_statistics(void)
{
    NEED_DOCKER();
    REQUIRE(start("cpus:2;mem:1024;disk:1024", NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw);
    json_t *tasks = json_array();
    json_array_append_new(tasks, docker_task("stats", NULL,
                                             "dd if=/dev/zero of=/tmp/f bs=1M count=150 && "
                                             "echo written && sleep 1000",
                                             256, NULL, NULL, NULL));
    REQUIRE(launch(fw, tasks) == 0);
    expect_state(fw, "stats", MESOS__V1__TASK_STATE__TASK_RUNNING, -1, NULL, NULL);
    double total = 0, cache = 0;
    for (int i = 0; i < 100 && total < 140e6; i++) {
        json_t *arr = itest_get_json(c.agent_port, "/monitor/statistics");
        size_t k;
        json_t *o;
        json_array_foreach(arr, k, o)
        {
            const char *eid = json_string_value(json_object_get(o, "executor_id"));
            json_t *st = json_object_get(o, "statistics");
            if (eid && strcmp(eid, "stats") == 0) {
                total = json_number_value(json_object_get(st, "mem_total_bytes"));
                cache = json_number_value(json_object_get(st, "mem_cache_bytes"));
            }
        }
        json_decref(arr);
        if (total < 140e6)
            usleep(100000);
    }
    fprintf(stderr, "statistics: mem_total_bytes %.0f, mem_cache_bytes %.0f\n", total, cache);
    CHECK(total >= 140e6);
    CHECK(cache >= 100e6); /* memory.stat lags usage a little */
    CHECK_INT(itest_fw_kill(fw, "stats", c.agent_id), 202);
    expect_state(fw, "stats", MESOS__V1__TASK_STATE__TASK_KILLED, -1, NULL, NULL);
    itest_fw_free(fw);
}

/* COMMAND health checks run inside the container (docker exec): a check that only passes
 * against the image's /etc/os-release reports healthy; a failing one kills the task. */
static void test_health_check(void)
{
    NEED_DOCKER();
    REQUIRE(start(NULL, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw);
    const char *fmt = "{s:{s:s, s:{s:s}, s:f, s:f, s:f, s:i, s:f}}";
    json_t *good =
        json_pack(fmt, "health_check", "type", "COMMAND", "command", "value",
                  "grep -q cmesos /etc/os-release", "delay_seconds", 0.0, "interval_seconds", 0.5,
                  "grace_period_seconds", 0.0, "consecutive_failures", 1, "timeout_seconds", 10.0);
    json_t *bad = json_pack(fmt, "health_check", "type", "COMMAND", "command", "value",
                            "grep -q no-such-text /etc/os-release", "delay_seconds", 0.0,
                            "interval_seconds", 0.5, "grace_period_seconds", 0.0,
                            "consecutive_failures", 1, "timeout_seconds", 10.0);
    json_t *tasks = json_array();
    json_array_append_new(tasks, docker_task("healthy", NULL, "sleep 1000", 32, NULL, NULL, good));
    json_array_append_new(tasks, docker_task("sick", NULL, "sleep 1000", 32, NULL, NULL, bad));
    REQUIRE(launch(fw, tasks) == 0);
    struct itest_status s = {0};
    int found = 0;
    for (int i = 0; i < 3 && !found; i++) {
        if (itest_fw_wait_state(fw, "healthy", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                &s) != 0)
            break;
        found = s.has_reason &&
                s.reason == MESOS__V1__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED;
    }
    CHECK(found);
    CHECK(found && s.message[0] == '\0'); /* healthy: no failure message */
    expect_state(fw, "sick", MESOS__V1__TASK_STATE__TASK_KILLED, -1,
                 "health check failed 1 consecutive times", NULL);
    CHECK_INT(itest_fw_kill(fw, "healthy", c.agent_id), 202);
    expect_state(fw, "healthy", MESOS__V1__TASK_STATE__TASK_KILLED, -1, NULL, NULL);
    itest_fw_free(fw);
}

/* mesos-execute --containerizer=docker --docker_image=... runs the command in the image. */
static void test_mesos_execute(void)
{
    char bin[512], master[96];
    itest_bin("mesos-execute", bin, sizeof bin);
    /* Flag errors first: no daemon needed. */
    char *argv_bad[] = {
        bin, "--master=127.0.0.1:1", "--name=x", "--command=true", "--containerizer=docker", NULL};
    int status = 0;
    char *out = NULL;
    CHECK_INT(itest_run(argv_bad, 20000, &status, &out), 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    CHECK(out && strstr(out, "requires docker image name"));
    free(out);
    char *argv_vol[] = {bin,
                        "--master=127.0.0.1:1",
                        "--name=x",
                        "--command=true",
                        "--volumes=[{\"container_path\":1}]",
                        NULL};
    out = NULL;
    CHECK_INT(itest_run(argv_vol, 20000, &status, &out), 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    CHECK(out && strstr(out, "volumes"));
    free(out);

    NEED_DOCKER();
    REQUIRE(start(NULL, NULL) == 0);
    snprintf(master, sizeof master, "--master=%s", c.master_addr);
    char *argv[] = {bin,
                    master,
                    "--name=exec-docker",
                    "--containerizer=docker",
                    "--docker_image=" ITEST_DOCKER_IMAGE,
                    "--command=cat /etc/os-release",
                    "--volumes=[{\"container_path\":\"/v\",\"host_path\":\"v\",\"mode\":\"RW\"}]",
                    "--tail",
                    NULL};
    out = NULL;
    CHECK_INT(itest_run(argv, 60000, &status, &out), 0);
    if (!out || !strstr(out, "cmesos busybox"))
        fprintf(stderr, "mesos-execute said: %s\n", out ? out : "");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(out && strstr(out, "TASK_RUNNING") && strstr(out, "TASK_FINISHED"));
    CHECK(out && strstr(out, "NAME=\"cmesos busybox\""));
    free(out);
}

static void test_agent_restart(void)
{
    NEED_DOCKER();
    /* Containers of earlier cases are not this case's business. */
    char *names = itest_docker_names(&dk, "mesos-");
    for (char *p = names ? strtok(names, "\n") : NULL; p; p = strtok(NULL, "\n")) {
        const char *rm[] = {"rm", "-f", p, NULL};
        itest_docker_cli(&dk, rm, NULL);
    }
    free(names);
    const char *more[] = {"--docker_remove_delay=0secs", "--executor_reregistration_timeout=5secs",
                          NULL};
    REQUIRE(start(NULL, more) == 0);
    struct itest_fw *fw =
        itest_fw_start(c.master_port, ITEST_JSON, &(struct itest_fw_opts){.checkpoint = 1});
    REQUIRE(fw);
    json_t *tasks = json_array();
    json_array_append_new(
        tasks, docker_task("survivor", NULL, "echo up; sleep 1000", 32, NULL, NULL, NULL));
    REQUIRE(launch(fw, tasks) == 0);
    expect_state(fw, "survivor", MESOS__V1__TASK_STATE__TASK_RUNNING, -1, NULL, NULL);
    char dir[512], cid[128], name[160];
    REQUIRE(executor_of("survivor", dir, sizeof dir, cid, sizeof cid) == 0);
    snprintf(name, sizeof name, "mesos-%s", cid);

    itest_agent_kill9(&c);
    /* An orphan: a mesos-* container no executor owns. */
    const char *orphan[] = {"run",   "-d",   "--name",           "mesos-orphan-itest",
                            "--net", "host", ITEST_DOCKER_IMAGE, "sleep",
                            "1000",  NULL};
    char *out = NULL;
    CHECK_INT(itest_docker_cli(&dk, orphan, &out), 0);
    free(out);
    static char sock[160];
    snprintf(sock, sizeof sock, "--docker_socket=%s", dk.sock);
    const char *flags[] = {"--containerizers=docker,mesos",
                           "--docker=" ITEST_DOCKER_CLI,
                           sock,
                           more[0],
                           more[1],
                           NULL};
    REQUIRE(itest_agent_spawn(&c, NULL, flags) == 0);
    REQUIRE(itest_agent_wait_registered(&c, ITEST_WAIT_MS) == 0);
    /* Recovered: the task is still RUNNING on the agent and its container runs. */
    int running = 0;
    for (int i = 0; i < 100 && !running; i++) {
        json_t *st = itest_get_json(c.agent_port, "/state");
        char *text = st ? json_dumps(st, JSON_COMPACT) : NULL;
        running = text && strstr(text, "\"survivor\"") && strstr(text, "TASK_RUNNING");
        free(text);
        json_decref(st);
        if (!running)
            usleep(100000);
    }
    CHECK(running);
    /* The orphan goes, the survivor stays. */
    int orphan_gone = 0;
    for (int i = 0; i < 100 && !orphan_gone; i++) {
        names = itest_docker_names(&dk, "mesos-");
        orphan_gone = names && !strstr(names, "mesos-orphan-itest");
        if (orphan_gone)
            CHECK(strstr(names, name) != NULL);
        free(names);
        if (!orphan_gone)
            usleep(100000);
    }
    CHECK(orphan_gone);
    usleep(1000000); /* the executor re-subscribes (it retries every few hundred ms) */
    CHECK_INT(itest_fw_kill(fw, "survivor", c.agent_id), 202);
    expect_state(fw, "survivor", MESOS__V1__TASK_STATE__TASK_KILLED, -1, NULL, NULL);
    /* No container left: the executor stopped it, the agent removed it (remove delay 0). */
    int none = 0;
    for (int i = 0; i < 100 && !none; i++) {
        names = itest_docker_names(&dk, "mesos-");
        none = names && names[0] == '\0';
        if (!none && i == 99)
            fprintf(stderr, "containers left: %s\n", names ? names : "(error)");
        free(names);
        if (!none)
            usleep(100000);
    }
    CHECK(none);
    itest_fw_free(fw);
}

ITEST_MAIN(TEST(test_refusals), TEST(test_image_filesystem), TEST(test_volumes_and_port),
           TEST(test_kill_with_grace), TEST(test_oom), TEST(test_missing_image),
           TEST(test_health_check), TEST(test_statistics), TEST(test_mesos_execute),
           TEST(test_agent_restart))
