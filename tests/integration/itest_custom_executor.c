/*
 * itest_custom_executor: tasks with their own ExecutorInfo on real daemons, run by
 * itest-custom-executor (tests/integration/custom_executor.c):
 * - two tasks of one executor run in one process, a later task joins the running executor,
 *   the executor gets Mesos's environment and its CommandInfo.environment, and it shows in
 *   /master/state, GET_EXECUTORS, the agent's /state and offers' executor_ids; framework
 *   messages with a NUL byte travel both ways; SHUTDOWN stops it and frees its resources;
 * - an executor that exits fails its unfinished tasks with REASON_EXECUTOR_TERMINATED;
 * - an executor that never subscribes is killed after --executor_registration_timeout and its
 *   task fails with REASON_EXECUTOR_REGISTRATION_TIMEOUT;
 * - bad ExecutorInfos are refused with TASK_ERROR naming the problem.
 */
#include "harness.h"

#include "pbjson.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char exec_path[512];

/* The ExecutorInfo of the test executor (shell command), with one environment variable. */
static json_t *executor_info(const char *eid, const char *command)
{
    return json_pack("{s:{s:s}, s:s, s:s, s:{s:s, s:{s:[{s:s, s:s}]}}, s:o}", "executor_id",
                     "value", eid, "name", "itest custom executor", "type", "CUSTOM", "command",
                     "value", command ? command : exec_path, "environment", "variables", "name",
                     "ITEST_CUSTOM", "value", "hello", "resources", itest_json_resources(0.1, 32));
}

static json_t *task_info(const char *tid, const char *agent_id, json_t *executor,
                         const char *action)
{
    char *data = itest_b64_encode((const uint8_t *)action, strlen(action));
    json_t *t = json_pack("{s:s, s:{s:s}, s:{s:s}, s:o, s:o, s:s}", "name", tid, "task_id", "value",
                          tid, "agent_id", "value", agent_id, "executor", executor, "resources",
                          itest_json_resources(0.1, 32), "data", data);
    free(data);
    return t;
}

static int start(struct itest_cluster *c, struct itest_fw **fw, const char *const *agent_flags)
{
    itest_bin("itest-custom-executor", exec_path, sizeof exec_path);
    if (access(exec_path, X_OK) != 0) {
        fprintf(stderr, "itest: %s is missing\n", exec_path);
        return -1;
    }
    struct itest_cluster_opts o = {.agent_flags = agent_flags};
    if (itest_cluster_start(c, &o) != 0)
        return -1;
    *fw = itest_fw_start(c->master_port, ITEST_JSON, NULL);
    return *fw ? 0 : -1;
}

static int pid_of(const struct itest_status *st)
{
    const char *p = strstr(st->message, "pid=");
    return p ? atoi(p + 4) : -1;
}

static json_t *master_executors(struct itest_cluster *c)
{
    json_t *state = itest_get_json(c->master_port, "/master/state");
    json_t *fws = json_object_get(state, "frameworks");
    json_t *ex = json_incref(json_object_get(json_array_get(fws, 0), "executors"));
    json_decref(state);
    return ex;
}

/* The value of name in the executor's environment dump, or NULL (malloc'd). */
static char *env_of(const char *dump, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "\n%s=", name);
    const char *p = strstr(dump, key);
    if (!p)
        return NULL;
    p += strlen(key);
    const char *e = strchr(p, '\n');
    return strndup(p, e ? (size_t)(e - p) : strlen(p));
}

static void test_one_executor_many_tasks(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw, NULL) == 0);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.5, 128, ITEST_WAIT_MS, &off) == 0);
    json_t *tasks = json_array();
    json_array_append_new(tasks, task_info("t1", c.agent_id, executor_info("ex1", NULL), "run"));
    json_array_append_new(tasks, task_info("t2", c.agent_id, executor_info("ex1", NULL), "run"));
    CHECK_INT(itest_fw_launch_json(fw, &off, tasks), 202);
    struct itest_status s1, s2, s3;
    REQUIRE(itest_fw_wait_state(fw, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                &s1) == 0);
    REQUIRE(itest_fw_wait_state(fw, "t2", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                &s2) == 0);
    CHECK(pid_of(&s1) > 0);
    CHECK_INT(pid_of(&s1), pid_of(&s2));
    CHECK_STR(s1.executor_id, "ex1");

    /* The master lists it (Mesos's shape) and so does the operator API. */
    json_t *ex = master_executors(&c);
    CHECK_INT((int)json_array_size(ex), 1);
    json_t *e0 = json_array_get(ex, 0);
    CHECK_STR(json_string_value(json_object_get(e0, "executor_id")), "ex1");
    CHECK_STR(json_string_value(json_object_get(e0, "slave_id")), c.agent_id);
    CHECK_STR(json_string_value(json_object_get(e0, "framework_id")), fw->framework_id);
    CHECK(json_number_value(json_object_get(json_object_get(e0, "resources"), "mem")) == 32);
    json_decref(ex);
    const char *h[] = {"Content-Type: application/json", "Accept: application/json", NULL};
    const char *q = "{\"type\":\"GET_EXECUTORS\"}";
    struct itest_http_resp r;
    REQUIRE(itest_http(c.master_port, "POST", "/api/v1", h, q, strlen(q), &r, 5000) == 0);
    CHECK_INT(r.status, 200);
    json_t *j = json_loads((const char *)r.body, 0, NULL);
    json_t *xs = json_object_get(json_object_get(j, "get_executors"), "executors");
    CHECK_INT((int)json_array_size(xs), 1);
    CHECK_STR(
        json_string_value(json_object_get(
            json_object_get(json_object_get(json_array_get(xs, 0), "executor_info"), "executor_id"),
            "value")),
        "ex1");
    json_decref(j);
    itest_http_resp_cleanup(&r);

    /* The agent's /state: one executor with both tasks; its sandbox has the environment. */
    json_t *as = itest_get_json(c.agent_port, "/state");
    json_t *ae = json_array_get(
        json_object_get(json_array_get(json_object_get(as, "frameworks"), 0), "executors"), 0);
    CHECK_STR(json_string_value(json_object_get(ae, "id")), "ex1");
    CHECK_INT((int)json_array_size(json_object_get(ae, "tasks")), 2);
    const char *dir = json_string_value(json_object_get(ae, "directory"));
    char envpath[1024];
    snprintf(envpath, sizeof envpath, "%s/executor.env", dir ? dir : "/nonexistent");
    char *dump = NULL;
    for (int i = 0; i < 50 && !(dump = itest_read_file(envpath, NULL)); i++)
        usleep(100 * 1000);
    REQUIRE(dump != NULL);
    char *nl = NULL;
    if (asprintf(&nl, "\n%s", dump) < 0)
        abort();
    free(dump);
    char *v;
    CHECK_STR((v = env_of(nl, "MESOS_EXECUTOR_ID")) ? v : "", "ex1");
    free(v);
    CHECK_STR((v = env_of(nl, "MESOS_FRAMEWORK_ID")) ? v : "", fw->framework_id);
    free(v);
    CHECK_STR((v = env_of(nl, "MESOS_DIRECTORY")) ? v : "", dir ? dir : "?");
    free(v);
    CHECK_STR((v = env_of(nl, "MESOS_CHECKPOINT")) ? v : "", "0");
    free(v);
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", c.agent_port);
    CHECK_STR((v = env_of(nl, "MESOS_AGENT_ENDPOINT")) ? v : "", ep);
    free(v);
    CHECK_STR((v = env_of(nl, "ITEST_CUSTOM")) ? v : "", "hello");
    free(v);
    CHECK((v = env_of(nl, "MESOS_HTTP_COMMAND_EXECUTOR")) == NULL);
    free(v);
    free(nl);
    json_decref(as);

    /* The next offer names the running executor; a third task joins it (same process). */
    struct itest_event ev;
    int found = 0;
    for (int i = 0; i < 10 && !found; i++) {
        if (itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS, NULL, ITEST_WAIT_MS,
                          &ev) != 0)
            break;
        for (size_t k = 0; k < ev.n_offers && !found; k++) {
            if (ev.offers[k].n_executor_ids == 1 && strcmp(ev.offers[k].executor_id, "ex1") == 0 &&
                ev.offers[k].cpus >= 0.1 && ev.offers[k].mem >= 32) {
                found = 1;
                struct itest_offers one = {.n = 1};
                snprintf(one.ids[0], sizeof one.ids[0], "%s", ev.offers[k].id);
                tasks = json_array();
                json_array_append_new(
                    tasks, task_info("t3", c.agent_id, executor_info("ex1", NULL), "finish"));
                CHECK_INT(itest_fw_launch_json(fw, &one, tasks), 202);
            }
        }
    }
    CHECK(found);
    REQUIRE(itest_fw_wait_state(fw, "t3", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                &s3) == 0);
    CHECK_INT(pid_of(&s3), pid_of(&s1));
    CHECK_INT(
        itest_fw_wait_state(fw, "t3", MESOS__V1__TASK_STATE__TASK_FINISHED, ITEST_WAIT_MS, NULL),
        0);
    /* Once t3's end is acknowledged the executor's container is left with 0.1 + 2 x 0.1 cpus. */
    double ecpus = 0;
    for (int i = 0; i < 50; i++) {
        json_t *st = itest_get_json(c.agent_port, "/state");
        json_t *x = json_array_get(
            json_object_get(json_array_get(json_object_get(st, "frameworks"), 0), "executors"), 0);
        ecpus = json_number_value(json_object_get(json_object_get(x, "resources"), "cpus"));
        json_decref(st);
        if (ecpus > 0.29 && ecpus < 0.31)
            break;
        usleep(100 * 1000);
    }
    CHECK(ecpus > 0.29 && ecpus < 0.31);

    /* A framework message with a NUL byte, and the executor's answer. */
    static const uint8_t msg[] = {'h', 'i', 0, 't', 'h', 'e', 'r', 'e'};
    char *b64 = itest_b64_encode(msg, sizeof msg);
    CHECK_INT(itest_fw_post_call(fw, json_pack("{s:s, s:{s:s}, s:{s:{s:s}, s:{s:s}, s:s}}", "type",
                                               "MESSAGE", "framework_id", "value", fw->framework_id,
                                               "message", "agent_id", "value", c.agent_id,
                                               "executor_id", "value", "ex1", "data", b64)),
              202);
    free(b64);
    REQUIRE(itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__MESSAGE, NULL, ITEST_WAIT_MS,
                          &ev) == 0);
    CHECK_STR(ev.executor_id, "ex1");
    CHECK_STR(ev.agent_id, c.agent_id);
    CHECK_INT((int)ev.data_len, 5 + (int)sizeof msg);
    CHECK(ev.data_len == 5 + sizeof msg && memcmp(ev.data, "echo:", 5) == 0 &&
          memcmp(ev.data + 5, msg, sizeof msg) == 0);

    /* KILL goes to the executor; SHUTDOWN stops it and its resources come back. */
    CHECK_INT(itest_fw_kill(fw, "t1", c.agent_id), 202);
    CHECK_INT(
        itest_fw_wait_state(fw, "t1", MESOS__V1__TASK_STATE__TASK_KILLED, ITEST_WAIT_MS, NULL), 0);
    CHECK_INT(itest_fw_post_call(fw, json_pack("{s:s, s:{s:s}, s:{s:{s:s}, s:{s:s}}}", "type",
                                               "SHUTDOWN", "framework_id", "value",
                                               fw->framework_id, "shutdown", "executor_id", "value",
                                               "ex1", "agent_id", "value", c.agent_id)),
              202);
    CHECK_INT(
        itest_fw_wait_state(fw, "t2", MESOS__V1__TASK_STATE__TASK_KILLED, ITEST_WAIT_MS, NULL), 0);
    CHECK_INT(
        itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE, NULL, ITEST_WAIT_MS, &ev), 0);
    CHECK_STR(ev.executor_id, "ex1");
    CHECK(ev.has_failure_status && ev.failure_status == 0);
    ex = master_executors(&c);
    CHECK_INT((int)json_array_size(ex), 0);
    json_decref(ex);
    itest_fw_drop_queued(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);
    CHECK_INT(itest_fw_wait_offer(fw, 2, 1024, ITEST_WAIT_MS, &off), 0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void test_executor_exit_fails_tasks(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw, NULL) == 0);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.3, 96, ITEST_WAIT_MS, &off) == 0);
    json_t *tasks = json_array();
    json_array_append_new(tasks, task_info("a", c.agent_id, executor_info("ex2", NULL), "run"));
    CHECK_INT(itest_fw_launch_json(fw, &off, tasks), 202);
    REQUIRE(itest_fw_wait_state(fw, "a", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    REQUIRE(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) == 0);
    tasks = json_array();
    json_array_append_new(tasks, task_info("b", c.agent_id, executor_info("ex2", NULL), "exit"));
    CHECK_INT(itest_fw_launch_json(fw, &off, tasks), 202);
    struct itest_status st;
    CHECK_INT(itest_fw_wait_state(fw, "a", MESOS__V1__TASK_STATE__TASK_FAILED, ITEST_WAIT_MS, &st),
              0);
    CHECK(st.has_reason && st.reason == MESOS__V1__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED);
    CHECK_INT(itest_fw_wait_state(fw, "b", MESOS__V1__TASK_STATE__TASK_FAILED, ITEST_WAIT_MS, &st),
              0);
    CHECK(st.has_reason && st.reason == MESOS__V1__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED);
    struct itest_event ev;
    CHECK_INT(
        itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE, NULL, ITEST_WAIT_MS, &ev), 0);
    CHECK_STR(ev.executor_id, "ex2");
    CHECK(ev.has_failure_status && WIFEXITED(ev.failure_status) &&
          WEXITSTATUS(ev.failure_status) == 7);
    json_t *ex = master_executors(&c);
    CHECK_INT((int)json_array_size(ex), 0);
    json_decref(ex);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void test_registration_timeout(void)
{
    static const char *const flags[] = {"--executor_registration_timeout=1secs", NULL};
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw, flags) == 0);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.2, 64, ITEST_WAIT_MS, &off) == 0);
    json_t *tasks = json_array();
    json_array_append_new(tasks,
                          task_info("mute", c.agent_id, executor_info("ex3", "sleep 60"), "run"));
    CHECK_INT(itest_fw_launch_json(fw, &off, tasks), 202);
    struct itest_status st;
    CHECK_INT(
        itest_fw_wait_state(fw, "mute", MESOS__V1__TASK_STATE__TASK_FAILED, ITEST_WAIT_MS, &st), 0);
    CHECK(st.has_reason &&
          st.reason == MESOS__V1__TASK_STATUS__REASON__REASON_EXECUTOR_REGISTRATION_TIMEOUT);
    struct itest_event ev;
    CHECK_INT(
        itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE, NULL, ITEST_WAIT_MS, &ev), 0);
    CHECK_STR(ev.executor_id, "ex3");
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* Waits for task's UPDATE and checks it is TASK_ERROR with a message containing needle. */
static void expect_error(struct itest_fw *fw, const char *task, const char *needle)
{
    struct itest_event ev;
    CHECK_INT(
        itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, task, ITEST_WAIT_MS, &ev), 0);
    CHECK_STR(itest_state_name(ev.status.state), "TASK_ERROR");
    if (!strstr(ev.status.message, needle))
        fprintf(stderr, "task %s: message '%s' lacks '%s'\n", task, ev.status.message, needle);
    CHECK(strstr(ev.status.message, needle) != NULL);
}

static void test_invalid_executors(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw, NULL) == 0);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 1, 256, ITEST_WAIT_MS, &off) == 0);
    json_t *tasks = json_array();
    /* Same executor id, different ExecutorInfo. */
    json_array_append_new(tasks, task_info("ok", c.agent_id, executor_info("ex4", NULL), "run"));
    json_t *other = executor_info("ex4", "/bin/true");
    json_array_append_new(tasks, task_info("clash", c.agent_id, other, "run"));
    /* DEFAULT executors are for LAUNCH_GROUP. */
    json_t *dflt = executor_info("ex5", NULL);
    json_object_set_new(dflt, "type", json_string("DEFAULT"));
    json_array_append_new(tasks, task_info("dflt", c.agent_id, dflt, "run"));
    /* More than the offer holds. */
    json_t *big = executor_info("ex6", NULL);
    json_object_set_new(big, "resources", itest_json_resources(100, 32));
    json_array_append_new(tasks, task_info("big", c.agent_id, big, "run"));
    /* Another framework's id. */
    json_t *foreign = executor_info("ex7", NULL);
    json_object_set_new(foreign, "framework_id", json_pack("{s:s}", "value", "someone-else"));
    json_array_append_new(tasks, task_info("foreign", c.agent_id, foreign, "run"));
    CHECK_INT(itest_fw_launch_json(fw, &off, tasks), 202);
    expect_error(fw, "clash", "not compatible");
    expect_error(fw, "dflt", "'ExecutorInfo.type' must be 'CUSTOM'");
    expect_error(fw, "big", "its executor uses more resources");
    expect_error(fw, "foreign", "invalid FrameworkID");
    CHECK_INT(
        itest_fw_wait_state(fw, "ok", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS, NULL), 0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* Posts a call given as JSON in the framework's encoding (protobuf frameworks get it packed). */
static int post_any(struct itest_fw *fw, json_t *call)
{
    if (fw->enc == ITEST_JSON)
        return itest_fw_post_call(fw, call);
    ProtobufCMessage *msg = NULL;
    char why[256];
    int rc =
        cm_pbjson_from_json(&mesos__v1__scheduler__call__descriptor, call, &msg, why, sizeof why);
    json_decref(call);
    if (rc != 0) {
        fprintf(stderr, "itest: bad call: %s\n", why);
        return -1;
    }
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len + 1);
    protobuf_c_message_pack(msg, buf);
    protobuf_c_message_free_unpacked(msg, NULL);
    rc = itest_fw_post(fw, buf, len, 1);
    free(buf);
    return rc;
}

/* The example executor on libcmexecutor (examples/example-executor.c), driven by a protobuf
 * framework: a task's data runs as its command, messages with a NUL byte are echoed, KILL. */
static void test_example_executor_protobuf(void)
{
    char ex[512];
    itest_bin("example-executor", ex, sizeof ex);
    if (access(ex, X_OK) != 0)
        SKIP_CASE("%s is not built", ex);
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_PROTOBUF, NULL);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.3, 96, ITEST_WAIT_MS, &off) == 0);
    json_t *tasks = json_array();
    json_array_append_new(tasks,
                          task_info("e1", c.agent_id, executor_info("exx", ex), "echo done"));
    json_array_append_new(tasks,
                          task_info("e2", c.agent_id, executor_info("exx", ex), "sleep 100"));
    json_t *ids = json_array();
    for (size_t i = 0; i < off.n; i++)
        json_array_append_new(ids, json_pack("{s:s}", "value", off.ids[i]));
    CHECK_INT(
        post_any(fw, json_pack("{s:s, s:{s:s}, s:{s:o, s:[{s:s, s:{s:o}}]}}", "type", "ACCEPT",
                               "framework_id", "value", fw->framework_id, "accept", "offer_ids",
                               ids, "operations", "type", "LAUNCH", "launch", "task_infos", tasks)),
        202);
    CHECK_INT(
        itest_fw_wait_state(fw, "e1", MESOS__V1__TASK_STATE__TASK_FINISHED, ITEST_WAIT_MS, NULL),
        0);
    CHECK_INT(
        itest_fw_wait_state(fw, "e2", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS, NULL), 0);
    static const uint8_t msg[] = {0, 'x', 0, 0xff, 'y'};
    char *b64 = itest_b64_encode(msg, sizeof msg);
    CHECK_INT(
        post_any(fw, json_pack("{s:s, s:{s:s}, s:{s:{s:s}, s:{s:s}, s:s}}", "type", "MESSAGE",
                               "framework_id", "value", fw->framework_id, "message", "agent_id",
                               "value", c.agent_id, "executor_id", "value", "exx", "data", b64)),
        202);
    free(b64);
    struct itest_event ev;
    REQUIRE(itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__MESSAGE, NULL, ITEST_WAIT_MS,
                          &ev) == 0);
    CHECK_STR(ev.executor_id, "exx");
    CHECK(ev.data_len == sizeof msg && memcmp(ev.data, msg, sizeof msg) == 0);
    CHECK_INT(itest_fw_kill(fw, "e2", c.agent_id), 202);
    CHECK_INT(
        itest_fw_wait_state(fw, "e2", MESOS__V1__TASK_STATE__TASK_KILLED, ITEST_WAIT_MS, NULL), 0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* The executor's URIs are fetched into its sandbox before it starts. */
static void test_executor_uris(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw, NULL) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/payload.txt", c.dir);
    FILE *fp = fopen(path, "w");
    REQUIRE(fp != NULL);
    fputs("fetched for the executor\n", fp);
    fclose(fp);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.2, 64, ITEST_WAIT_MS, &off) == 0);
    json_t *ei = executor_info("exu", NULL);
    json_object_set_new(json_object_get(ei, "command"), "uris",
                        json_pack("[{s:s}]", "value", path));
    json_t *tasks = json_array();
    json_array_append_new(tasks, task_info("u1", c.agent_id, ei, "finish"));
    CHECK_INT(itest_fw_launch_json(fw, &off, tasks), 202);
    CHECK_INT(
        itest_fw_wait_state(fw, "u1", MESOS__V1__TASK_STATE__TASK_FINISHED, ITEST_WAIT_MS, NULL),
        0);
    json_t *as = itest_get_json(c.agent_port, "/state");
    json_t *ae = json_array_get(
        json_object_get(json_array_get(json_object_get(as, "frameworks"), 0), "executors"), 0);
    const char *dir = json_string_value(json_object_get(ae, "directory"));
    char got[1024];
    snprintf(got, sizeof got, "%s/payload.txt", dir ? dir : "/nonexistent");
    char *text = itest_read_file(got, NULL);
    CHECK(text && strcmp(text, "fetched for the executor\n") == 0);
    free(text);
    json_decref(as);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_one_executor_many_tasks), TEST(test_executor_exit_fails_tasks),
           TEST(test_registration_timeout), TEST(test_invalid_executors),
           TEST(test_example_executor_protobuf), TEST(test_executor_uris))
