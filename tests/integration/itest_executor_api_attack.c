/*
 * itest_executor_api_attack: what a task can send to its own agent's executor API does not
 * crash the agent. A running task's framework and executor ids are public to the task (its
 * environment has them), so the test plays that task: it POSTs executor UPDATEs carrying an
 * undeclared TaskState (the request that used to kill mesos-agent with SIGSEGV) in protobuf
 * and in JSON, and a truncated body. Each gets a 400 naming the field, the agent stays up, and
 * the real task is still there to be killed normally.
 */
#include "harness.h"

#include <string.h>

#include "mesos/v1/executor/executor.pb-c.h"

#define XAPI "/api/v1/executor"

static size_t pack_update(const char *fid, const char *eid, const char *tid, int state,
                          uint8_t *buf, size_t cap)
{
    Mesos__V1__FrameworkID f = MESOS__V1__FRAMEWORK_ID__INIT;
    f.value = (char *)fid;
    Mesos__V1__ExecutorID e = MESOS__V1__EXECUTOR_ID__INIT;
    e.value = (char *)eid;
    Mesos__V1__TaskID t = MESOS__V1__TASK_ID__INIT;
    t.value = (char *)tid;
    uint8_t uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    st.task_id = &t;
    st.state = (Mesos__V1__TaskState)state;
    st.has_uuid = 1;
    st.uuid.data = uuid;
    st.uuid.len = sizeof uuid;
    st.has_source = 1;
    st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
    Mesos__V1__Executor__Call__Update up = MESOS__V1__EXECUTOR__CALL__UPDATE__INIT;
    up.status = &st;
    Mesos__V1__Executor__Call call = MESOS__V1__EXECUTOR__CALL__INIT;
    call.framework_id = &f;
    call.executor_id = &e;
    call.has_type = 1;
    call.type = MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE;
    call.update = &up;
    size_t len = mesos__v1__executor__call__get_packed_size(&call);
    if (len > cap)
        return 0;
    mesos__v1__executor__call__pack(&call, buf);
    return len;
}

static void expect_400(int port, const char *ct, const void *body, size_t len, const char *needle)
{
    const char *headers[] = {ct, "Accept: application/json", NULL};
    struct itest_http_resp r;
    int rc = itest_http(port, "POST", XAPI, headers, body, len, &r, ITEST_WAIT_MS);
    CHECK_INT(rc, 0);
    if (rc)
        return;
    CHECK_INT(r.status, 400);
    if (!r.body || !strstr((const char *)r.body, needle))
        fprintf(stderr, "400 body '%s' does not name '%s'\n", r.body ? (char *)r.body : "", needle);
    CHECK(r.body && strstr((const char *)r.body, needle) != NULL);
    itest_http_resp_cleanup(&r);
}

static void test_bad_updates_get_400_and_agent_lives(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_PROTOBUF, NULL);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) == 0);
    struct itest_task t = {"victim", "sleep 100", 0.1, 32};
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, c.agent_id, &t, 1, 0), 202);
    struct itest_status running;
    REQUIRE(itest_fw_wait_state(fw, "victim", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                &running) == 0);
    const char *eid = running.executor_id[0] ? running.executor_id : "victim";

    uint8_t buf[1024];
    size_t len = pack_update(fw->framework_id, eid, "victim", 99, buf, sizeof buf);
    REQUIRE(len > 0);
    expect_400(c.agent_port, "Content-Type: application/x-protobuf", buf, len,
               "unknown enum value 99");
    /* The same bytes cut short: a parse error, not a crash. */
    expect_400(c.agent_port, "Content-Type: application/x-protobuf", buf, len - 5, "parse");

    char json[1024];
    snprintf(json, sizeof json,
             "{\"type\":\"UPDATE\",\"framework_id\":{\"value\":\"%s\"},"
             "\"executor_id\":{\"value\":\"%s\"},\"update\":{\"status\":{"
             "\"task_id\":{\"value\":\"victim\"},\"state\":99,\"source\":\"SOURCE_EXECUTOR\","
             "\"uuid\":\"AQIDBAUGBwgJCgsMDQ4PEA==\"}}}",
             fw->framework_id, eid);
    expect_400(c.agent_port, "Content-Type: application/json", json, strlen(json), "state");

    /* The agent is alive and still runs the task: its state answers and a KILL works. */
    CHECK(itest_proc_alive(&c.agent));
    json_t *state = itest_get_json(c.agent_port, "/state");
    CHECK(state != NULL);
    json_decref(state);
    CHECK_INT(itest_fw_kill(fw, "victim", c.agent_id), 202);
    CHECK_INT(
        itest_fw_wait_state(fw, "victim", MESOS__V1__TASK_STATE__TASK_KILLED, ITEST_WAIT_MS, NULL),
        0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_bad_updates_get_400_and_agent_lives))
