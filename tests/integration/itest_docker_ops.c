/*
 * itest_docker_ops: the Docker containerizer in operation, on a private dockerd (see
 * itest_docker.c for the launch paths):
 *
 *  - health_check: a COMMAND check runs inside the container (it passes only against the
 *    image's files) and reports healthy; a failing one kills the task.
 *  - statistics: /monitor/statistics of a Docker task includes its container's cgroups.
 *  - mesos_execute: --containerizer=docker --docker_image runs the command in the image; bad
 *    container flags are refused.
 *  - agent_restart: kill -9 of the agent with a running Docker task; the restarted agent
 *    recovers it (the executor re-subscribes), removes an orphan mesos-* container, and a KILL
 *    then ends the task TASK_KILLED with no container left (--docker_remove_delay=0).
 */
#include "itest_docker_common.h"

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

ITEST_MAIN(TEST(test_health_check), TEST(test_statistics), TEST(test_mesos_execute),
           TEST(test_agent_restart))
