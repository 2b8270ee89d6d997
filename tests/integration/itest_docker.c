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
 *    --containerizers a DOCKER task is refused and nothing runs in Docker; a valid task whose
 *    dockerd is not there fails saying so.
 *  (itest_docker_ops.c: health checks, statistics, mesos-execute, agent restart.)
 */
#include "itest_docker_common.h"

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
    /* A valid task on an agent whose dockerd is not there: the launch fails and says so. */
    json_array_append_new(tasks, docker_task("nodaemon", NULL, "true", 32, NULL, NULL, NULL));
    REQUIRE(launch(fw, tasks) == 0);
    int r = MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED;
    expect_state(fw, "nodaemon", MESOS__V1__TASK_STATE__TASK_FAILED, r, "Cannot talk to dockerd",
                 NULL);
    expect_state(fw, "noimage", MESOS__V1__TASK_STATE__TASK_FAILED, r, "container.docker.image",
                 NULL);
    expect_state(fw, "hostmap", MESOS__V1__TASK_STATE__TASK_FAILED, r, "port_mappings", NULL);
    expect_state(fw, "badport", MESOS__V1__TASK_STATE__TASK_FAILED, r, "31999", NULL);
    itest_fw_free(fw);
    itest_cluster_stop(&c);

    /* --containerizers=docker alone: tasks without a DOCKER container are refused. */
    REQUIRE(itest_cluster_start(&c, &(struct itest_cluster_opts){.no_agent = 1}) == 0);
    const char *only[] = {"--containerizers=docker", "--docker=" ITEST_DOCKER_CLI,
                          "--docker_socket=/nonexistent/docker.sock", NULL};
    REQUIRE(itest_agent_spawn(&c, NULL, only) == 0);
    REQUIRE(itest_agent_wait_registered(&c, ITEST_WAIT_MS) == 0);
    fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw);
    struct itest_task plain = {.id = "plain", .command = "true", .cpus = 0.1, .mem = 32};
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) == 0);
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, off.agent_id, &plain, 1, 0), 202);
    expect_state(fw, "plain", MESOS__V1__TASK_STATE__TASK_FAILED, r,
                 "The Mesos containerizer is not enabled", NULL);
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

ITEST_MAIN(TEST(test_refusals), TEST(test_image_filesystem), TEST(test_volumes_and_port),
           TEST(test_kill_with_grace), TEST(test_oom), TEST(test_missing_image))
