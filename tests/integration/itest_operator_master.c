/*
 * itest_operator_master: the master's v1 operator API against a real master and agent —
 * GET_STATE / GET_AGENTS / GET_TASKS / GET_FRAMEWORKS in JSON and protobuf, the request checks
 * (405, 400, 415, 406, 501), the SUBSCRIBE stream (SUBSCRIBED, AGENT_ADDED, FRAMEWORK_ADDED,
 * TASK_ADDED, TASK_UPDATED, FRAMEWORK_REMOVED, AGENT_REMOVED), TEARDOWN and /master/teardown,
 * MARK_AGENT_GONE (tasks TASK_GONE_BY_OPERATOR, the agent refused afterwards), DRAIN_AGENT,
 * DEACTIVATE_AGENT / REACTIVATE_AGENT (offers stop and come back), /logging/toggle and
 * /master/weights with /master/roles. The JSON side is read with jansson and the protobuf side
 * with the generated mesos.v1.master code, not with the product's converter.
 */
#include "harness.h"
#include "harness_agent.h"
#include "harness_emu.h"
#include "harness_ha.h"
#include "harness_zk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mesos/v1/master/master.pb-c.h"

static const char *const JSON_HDRS[] = {"Content-Type: application/json",
                                        "Accept: application/json", NULL};
static const char *const PB_HDRS[] = {"Content-Type: application/x-protobuf",
                                      "Accept: application/x-protobuf", NULL};

/* POSTs a JSON call to /api/v1; returns the parsed body (NULL if empty or not JSON) and the
 * status in *status. */
static json_t *op_json(int port, const char *body, int *status)
{
    struct itest_http_resp r;
    *status = -1;
    if (itest_http(port, "POST", "/api/v1", JSON_HDRS, body, strlen(body), &r, ITEST_WAIT_MS) != 0)
        return NULL;
    *status = r.status;
    json_t *j = r.body_len ? json_loadb((const char *)r.body, r.body_len, 0, NULL) : NULL;
    if (r.status != 200)
        fprintf(stderr, "operator call %s -> %d %s\n", body, r.status, (const char *)r.body);
    itest_http_resp_cleanup(&r);
    return j;
}

/* A protobuf call of type with no body; returns the unpacked Response or NULL. */
static Mesos__V1__Master__Response *op_pb(int port, int type, int *status)
{
    Mesos__V1__Master__Call call = MESOS__V1__MASTER__CALL__INIT;
    call.has_type = 1;
    call.type = (Mesos__V1__Master__Call__Type)type;
    size_t len = protobuf_c_message_get_packed_size(&call.base);
    uint8_t *buf = malloc(len + 1);
    protobuf_c_message_pack(&call.base, buf);
    struct itest_http_resp r;
    *status = -1;
    int rc = itest_http(port, "POST", "/master/api/v1", PB_HDRS, buf, len, &r, ITEST_WAIT_MS);
    free(buf);
    if (rc != 0)
        return NULL;
    *status = r.status;
    char ct[128] = "";
    itest_header(r.headers, "Content-Type", ct, sizeof ct);
    Mesos__V1__Master__Response *resp = NULL;
    if (r.status == 200 && strcmp(ct, "application/x-protobuf") == 0)
        resp = mesos__v1__master__response__unpack(NULL, r.body_len, r.body);
    else
        fprintf(stderr, "protobuf call %d -> %d (%s) %s\n", type, r.status, ct,
                (const char *)r.body);
    itest_http_resp_cleanup(&r);
    return resp;
}

/* Status and body of a raw request to path. */
static int raw(int port, const char *method, const char *path, const char *const *hdrs,
               const char *body, char *out, size_t outlen)
{
    struct itest_http_resp r;
    if (itest_http(port, method, path, hdrs, body, body ? strlen(body) : 0, &r, ITEST_WAIT_MS) != 0)
        return -1;
    if (out)
        snprintf(out, outlen, "%s", r.body ? (const char *)r.body : "");
    int s = r.status;
    itest_http_resp_cleanup(&r);
    return s;
}

static const char *jstr(json_t *j, const char *path)
{
    /* path: dot-separated keys, numbers index arrays. */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = j;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur;
         tok = strtok_r(NULL, ".", &save)) {
        if (json_is_array(cur))
            cur = json_array_get(cur, (size_t)atoi(tok));
        else
            cur = json_object_get(cur, tok);
    }
    return json_is_string(cur) ? json_string_value(cur) : "";
}

static json_t *jget(json_t *j, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = j;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur;
         tok = strtok_r(NULL, ".", &save))
        cur =
            json_is_array(cur) ? json_array_get(cur, (size_t)atoi(tok)) : json_object_get(cur, tok);
    return cur;
}

/* Starts a framework and runs task id (sleep 100) until RUNNING. */
static struct itest_fw *run_task(struct itest_cluster *c, const char *id, int partition_aware)
{
    struct itest_fw_opts o = {.partition_aware = partition_aware, .checkpoint = 1};
    struct itest_fw *fw = itest_fw_start(c->master_port, ITEST_JSON, &o);
    if (!fw)
        return NULL;
    struct itest_offers off;
    if (itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) != 0)
        return fw;
    struct itest_task t = {id, "sleep 100", 0.1, 32};
    itest_fw_accept(fw, off.idv, off.n, c->agent_id, &t, 1, 0);
    itest_fw_wait_state(fw, id, MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS, NULL);
    return fw;
}

static void test_state_calls(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    int port = c.master_port, st;
    struct itest_fw *fw = run_task(&c, "t1", 0);
    REQUIRE(fw != NULL);

    json_t *j = op_json(port, "{\"type\":\"GET_STATE\"}", &st);
    CHECK_INT(st, 200);
    CHECK_STR(jstr(j, "type"), "GET_STATE");
    CHECK_STR(jstr(j, "get_state.get_tasks.tasks.0.task_id.value"), "t1");
    CHECK_STR(jstr(j, "get_state.get_tasks.tasks.0.state"), "TASK_RUNNING");
    CHECK_STR(jstr(j, "get_state.get_tasks.tasks.0.agent_id.value"), c.agent_id);
    CHECK_STR(jstr(j, "get_state.get_agents.agents.0.agent_info.id.value"), c.agent_id);
    CHECK_STR(jstr(j, "get_state.get_frameworks.frameworks.0.framework_info.id.value"),
              fw->framework_id);
    CHECK(json_is_true(jget(j, "get_state.get_frameworks.frameworks.0.connected")));
    json_decref(j);

    Mesos__V1__Master__Response *r = op_pb(port, MESOS__V1__MASTER__CALL__TYPE__GET_AGENTS, &st);
    CHECK_INT(st, 200);
    REQUIRE(r != NULL);
    CHECK_INT(r->type, MESOS__V1__MASTER__RESPONSE__TYPE__GET_AGENTS);
    REQUIRE(r->get_agents && r->get_agents->n_agents == 1);
    CHECK_STR(r->get_agents->agents[0]->agent_info->id->value, c.agent_id);
    CHECK(r->get_agents->agents[0]->active);
    CHECK(r->get_agents->agents[0]->n_total_resources > 0);
    mesos__v1__master__response__free_unpacked(r, NULL);

    r = op_pb(port, MESOS__V1__MASTER__CALL__TYPE__GET_TASKS, &st);
    REQUIRE(r != NULL && r->get_tasks);
    CHECK_INT(r->type, MESOS__V1__MASTER__RESPONSE__TYPE__GET_TASKS);
    REQUIRE(r->get_tasks->n_tasks == 1);
    CHECK_STR(r->get_tasks->tasks[0]->task_id->value, "t1");
    CHECK_INT(r->get_tasks->tasks[0]->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    mesos__v1__master__response__free_unpacked(r, NULL);

    j = op_json(port, "{\"type\":\"GET_TASKS\"}", &st);
    CHECK_STR(jstr(j, "get_tasks.tasks.0.framework_id.value"), fw->framework_id);
    json_decref(j);
    j = op_json(port, "{\"type\":\"GET_FRAMEWORKS\"}", &st);
    CHECK_STR(jstr(j, "get_frameworks.frameworks.0.framework_info.id.value"), fw->framework_id);
    json_decref(j);
    j = op_json(port, "{\"type\":\"GET_OPERATIONS\"}", &st);
    CHECK_INT(st, 200);
    CHECK_STR(jstr(j, "type"), "GET_OPERATIONS");
    json_decref(j);
    j = op_json(port, "{\"type\":\"GET_HEALTH\"}", &st);
    CHECK(json_is_true(jget(j, "get_health.healthy")));
    json_decref(j);
    j = op_json(port, "{\"type\":\"GET_MASTER\"}", &st);
    CHECK(strlen(jstr(j, "get_master.master_info.id")) > 0);
    json_decref(j);

    /* Request checks, in the scheduler API's order. */
    char body[1024];
    CHECK_INT(raw(port, "GET", "/api/v1", NULL, NULL, body, sizeof body), 405);
    const char *no_ct[] = {"Accept: application/json", NULL};
    CHECK_INT(raw(port, "POST", "/api/v1", no_ct, "{\"type\":\"GET_HEALTH\"}", body, sizeof body),
              400);
    const char *text_ct[] = {"Content-Type: text/plain", NULL};
    CHECK_INT(raw(port, "POST", "/api/v1", text_ct, "x", body, sizeof body), 415);
    const char *html[] = {"Content-Type: application/json", "Accept: text/html", NULL};
    CHECK_INT(raw(port, "POST", "/api/v1", html, "{\"type\":\"GET_HEALTH\"}", body, sizeof body),
              406);
    CHECK_INT(raw(port, "POST", "/api/v1", JSON_HDRS, "{\"type\":", body, sizeof body), 400);
    CHECK_INT(
        raw(port, "POST", "/api/v1", JSON_HDRS, "{\"type\":\"NOT_A_CALL\"}", body, sizeof body),
        400);
    CHECK(strstr(body, "NOT_A_CALL") != NULL);
    CHECK_INT(
        raw(port, "POST", "/api/v1", JSON_HDRS, "{\"type\":\"READ_FILE\"}", body, sizeof body),
        400);
    CHECK(strstr(body, "read_file") != NULL);
    CHECK_INT(
        raw(port, "POST", "/api/v1", JSON_HDRS, "{\"type\":\"GET_QUOTA\"}", body, sizeof body),
        501);
    CHECK_INT(raw(port, "POST", "/master/api/v1", JSON_HDRS,
                  "{\"type\":\"RESERVE_RESOURCES\",\"reserve_resources\":{\"agent_id\":"
                  "{\"value\":\"x\"}}}",
                  body, sizeof body),
              501);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* Next record of the operator stream as JSON (NULL on timeout or end). */
static json_t *next_event(struct itest_stream *s, int timeout_ms)
{
    uint8_t *data = NULL;
    size_t len = 0;
    if (itest_stream_next(s, timeout_ms, &data, &len) != 0)
        return NULL;
    json_t *j = json_loadb((const char *)data, len, 0, NULL);
    free(data);
    return j;
}

/* Waits for the next event of type (others skipped); NULL on timeout. */
static json_t *wait_event(struct itest_stream *s, const char *type)
{
    for (int i = 0; i < 100; i++) {
        json_t *j = next_event(s, ITEST_WAIT_MS);
        if (!j) {
            fprintf(stderr, "no %s event\n", type);
            return NULL;
        }
        if (strcmp(jstr(j, "type"), type) == 0)
            return j;
        json_decref(j);
    }
    return NULL;
}

static void test_subscribe(void)
{
    struct itest_cluster c;
    struct itest_cluster_opts o = {.no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    int port = c.master_port, st;
    const char *sub = "{\"type\":\"SUBSCRIBE\"}";
    struct itest_stream *s =
        itest_stream_open(port, "/master/api/v1", JSON_HDRS, sub, strlen(sub), ITEST_WAIT_MS);
    REQUIRE(s != NULL);
    CHECK_INT(itest_stream_status(s), 200);
    CHECK(itest_stream_chunked(s));
    json_t *j = next_event(s, ITEST_WAIT_MS);
    CHECK_STR(jstr(j, "type"), "SUBSCRIBED");
    CHECK(json_real_value(jget(j, "subscribed.heartbeat_interval_seconds")) == 15.0);
    CHECK(jget(j, "subscribed.get_state.get_agents") != NULL);
    json_decref(j);

    /* A protobuf subscriber too: its first record is a packed Event. */
    Mesos__V1__Master__Call call = MESOS__V1__MASTER__CALL__INIT;
    call.has_type = 1;
    call.type = MESOS__V1__MASTER__CALL__TYPE__SUBSCRIBE;
    uint8_t pb[16];
    size_t pblen = protobuf_c_message_pack(&call.base, pb);
    struct itest_stream *ps = itest_stream_open(port, "/api/v1", PB_HDRS, pb, pblen, ITEST_WAIT_MS);
    REQUIRE(ps != NULL);
    uint8_t *data = NULL;
    size_t len = 0;
    REQUIRE(itest_stream_next(ps, ITEST_WAIT_MS, &data, &len) == 0);
    Mesos__V1__Master__Event *pev = mesos__v1__master__event__unpack(NULL, len, data);
    free(data);
    REQUIRE(pev != NULL);
    CHECK_INT(pev->type, MESOS__V1__MASTER__EVENT__TYPE__SUBSCRIBED);
    CHECK(pev->subscribed && pev->subscribed->get_state);
    mesos__v1__master__event__free_unpacked(pev, NULL);

    REQUIRE(itest_agent_spawn(&c, NULL, NULL) == 0);
    REQUIRE(itest_agent_wait_registered(&c, ITEST_WAIT_MS) == 0);
    j = wait_event(s, "AGENT_ADDED");
    CHECK_STR(jstr(j, "agent_added.agent.agent_info.id.value"), c.agent_id);
    json_decref(j);

    struct itest_fw *fw = run_task(&c, "t1", 1);
    REQUIRE(fw != NULL);
    j = wait_event(s, "FRAMEWORK_ADDED");
    CHECK_STR(jstr(j, "framework_added.framework.framework_info.id.value"), fw->framework_id);
    json_decref(j);
    j = wait_event(s, "TASK_ADDED");
    CHECK_STR(jstr(j, "task_added.task.task_id.value"), "t1");
    CHECK_STR(jstr(j, "task_added.task.state"), "TASK_STAGING");
    json_decref(j);
    /* TASK_UPDATED follow in state order up to RUNNING. */
    int running = 0;
    for (int i = 0; i < 5 && !running; i++) {
        j = wait_event(s, "TASK_UPDATED");
        if (!j)
            break;
        CHECK_STR(jstr(j, "task_updated.framework_id.value"), fw->framework_id);
        CHECK_STR(jstr(j, "task_updated.status.task_id.value"), "t1");
        running = strcmp(jstr(j, "task_updated.state"), "TASK_RUNNING") == 0;
        json_decref(j);
    }
    CHECK(running);

    /* TEARDOWN by the operator: the task is killed, the framework removed. */
    char body[512];
    snprintf(body, sizeof body,
             "{\"type\":\"TEARDOWN\",\"teardown\":{\"framework_id\":{\"value\":\"%s\"}}}",
             fw->framework_id);
    json_decref(op_json(port, body, &st));
    CHECK_INT(st, 200);
    j = wait_event(s, "TASK_UPDATED");
    CHECK_STR(jstr(j, "task_updated.state"), "TASK_KILLED");
    json_decref(j);
    j = wait_event(s, "FRAMEWORK_REMOVED");
    CHECK_STR(jstr(j, "framework_removed.framework_info.id.value"), fw->framework_id);
    json_decref(j);
    json_decref(op_json(port, body, &st));
    CHECK_INT(st, 400); /* gone now */

    snprintf(body, sizeof body,
             "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{\"agent_id\":{\"value\":\"%s\"}}}",
             c.agent_id);
    json_decref(op_json(port, body, &st));
    CHECK_INT(st, 200);
    j = wait_event(s, "AGENT_REMOVED");
    CHECK_STR(jstr(j, "agent_removed.agent_id.value"), c.agent_id);
    json_decref(j);
    itest_stream_free(ps);
    itest_stream_free(s);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static int count_agents(int port)
{
    int st;
    json_t *j = op_json(port, "{\"type\":\"GET_AGENTS\"}", &st);
    int n = (int)json_array_size(jget(j, "get_agents.agents"));
    json_decref(j);
    return n;
}

static void test_mark_gone(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    int port = c.master_port, st;
    struct itest_fw *fw = run_task(&c, "t1", 1);
    REQUIRE(fw != NULL);
    char body[512];
    snprintf(body, sizeof body,
             "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{\"agent_id\":{\"value\":\"%s\"}}}",
             c.agent_id);
    json_decref(op_json(port, body, &st));
    CHECK_INT(st, 200);
    struct itest_status s;
    CHECK_INT(itest_fw_wait_state(fw, "t1", MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR,
                                  ITEST_WAIT_MS, &s),
              0);
    CHECK_INT(count_agents(port), 0);
    /* Marked gone twice: still 200. Unknown agents: 404. */
    json_decref(op_json(port, body, &st));
    CHECK_INT(st, 200);
    json_decref(op_json(port,
                        "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{\"agent_id\":"
                        "{\"value\":\"nobody\"}}}",
                        &st));
    CHECK_INT(st, 404);
    /* The agent cannot come back: a restart with the same work dir (same id) is refused. */
    itest_agent_kill9(&c);
    REQUIRE(itest_agent_spawn(&c, NULL, NULL) == 0);
    sleep(2);
    CHECK_INT(count_agents(port), 0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* No offer for ms (queued ones declined first). */
static int no_offer_for(struct itest_fw *fw, int ms)
{
    struct itest_event ev;
    itest_fw_drop_queued(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);
    return itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS, NULL, ms, &ev) ==
           -ETIMEDOUT;
}

static void test_drain_deactivate(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    int port = c.master_port, st;
    struct itest_fw *fw = run_task(&c, "t1", 0);
    REQUIRE(fw != NULL);
    char body[512];
    snprintf(body, sizeof body,
             "{\"type\":\"DRAIN_AGENT\",\"drain_agent\":{\"agent_id\":{\"value\":\"%s\"},"
             "\"max_grace_period\":{\"seconds\":1}}}",
             c.agent_id);
    json_decref(op_json(port, body, &st));
    CHECK_INT(st, 200);
    CHECK_INT(
        itest_fw_wait_state(fw, "t1", MESOS__V1__TASK_STATE__TASK_KILLED, ITEST_WAIT_MS, NULL), 0);
    const char *state = "";
    for (int i = 0; i < 50; i++) {
        json_t *j = op_json(port, "{\"type\":\"GET_AGENTS\"}", &st);
        state = strcmp(jstr(j, "get_agents.agents.0.drain_info.state"), "DRAINED") == 0 ? "DRAINED"
                                                                                        : "";
        int deact = json_is_true(jget(j, "get_agents.agents.0.deactivated"));
        json_decref(j);
        if (state[0]) {
            CHECK(deact);
            break;
        }
        usleep(100000);
    }
    CHECK_STR(state, "DRAINED");
    CHECK(no_offer_for(fw, 2500));
    snprintf(
        body, sizeof body,
        "{\"type\":\"REACTIVATE_AGENT\",\"reactivate_agent\":{\"agent_id\":{\"value\":\"%s\"}}}",
        c.agent_id);
    json_decref(op_json(port, body, &st));
    CHECK_INT(st, 200);
    struct itest_offers off;
    CHECK_INT(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off), 0);

    /* DEACTIVATE: the offer is rescinded and none comes until REACTIVATE. */
    snprintf(
        body, sizeof body,
        "{\"type\":\"DEACTIVATE_AGENT\",\"deactivate_agent\":{\"agent_id\":{\"value\":\"%s\"}}}",
        c.agent_id);
    json_decref(op_json(port, body, &st));
    CHECK_INT(st, 200);
    struct itest_event ev;
    CHECK_INT(
        itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND, NULL, ITEST_WAIT_MS, &ev), 0);
    CHECK(no_offer_for(fw, 2500));
    snprintf(
        body, sizeof body,
        "{\"type\":\"REACTIVATE_AGENT\",\"reactivate_agent\":{\"agent_id\":{\"value\":\"%s\"}}}",
        c.agent_id);
    json_decref(op_json(port, body, &st));
    CHECK_INT(st, 200);
    CHECK_INT(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off), 0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void test_legacy_endpoints(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    int port = c.master_port, st;
    struct itest_fw *fw = run_task(&c, "t1", 0);
    REQUIRE(fw != NULL);
    char out[4096], body[512];

    /* /master/teardown: POST frameworkId=. */
    CHECK_INT(raw(port, "GET", "/master/teardown", NULL, NULL, out, sizeof out), 405);
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    CHECK_INT(raw(port, "POST", "/master/teardown", form, "x=1", out, sizeof out), 400);
    CHECK_INT(raw(port, "POST", "/master/teardown", form, "frameworkId=nope", out, sizeof out),
              400);
    snprintf(body, sizeof body, "frameworkId=%s", fw->framework_id);
    CHECK_INT(raw(port, "POST", "/master/teardown", form, body, out, sizeof out), 200);
    json_t *j = op_json(port, "{\"type\":\"GET_FRAMEWORKS\"}", &st);
    CHECK_INT((int)json_array_size(jget(j, "get_frameworks.frameworks")), 0);
    CHECK_STR(jstr(j, "get_frameworks.completed_frameworks.0.framework_info.id.value"),
              fw->framework_id);
    json_decref(j);
    j = op_json(port, "{\"type\":\"GET_TASKS\"}", &st);
    CHECK_STR(jstr(j, "get_tasks.completed_tasks.0.task_id.value"), "t1");
    CHECK_STR(jstr(j, "get_tasks.completed_tasks.0.state"), "TASK_KILLED");
    json_decref(j);

    /* /logging/toggle and GET_LOGGING_LEVEL. */
    CHECK_INT(raw(port, "GET", "/logging/toggle?duration=1secs", NULL, NULL, out, sizeof out), 400);
    CHECK_INT(raw(port, "GET", "/logging/toggle?level=1", NULL, NULL, out, sizeof out), 400);
    CHECK_INT(
        raw(port, "GET", "/logging/toggle?level=x&duration=1secs", NULL, NULL, out, sizeof out),
        400);
    CHECK_INT(
        raw(port, "GET", "/logging/toggle?level=1&duration=1secs", NULL, NULL, out, sizeof out),
        200);
    j = op_json(port, "{\"type\":\"GET_LOGGING_LEVEL\"}", &st);
    CHECK_INT((int)json_integer_value(jget(j, "get_logging_level.level")), 1);
    json_decref(j);
    usleep(1500000);
    j = op_json(port, "{\"type\":\"GET_LOGGING_LEVEL\"}", &st);
    CHECK_INT((int)json_integer_value(jget(j, "get_logging_level.level")), 0);
    json_decref(j);

    /* /master/weights (PUT, GET), UPDATE_WEIGHTS, GET_WEIGHTS, /master/roles. */
    CHECK_INT(raw(port, "PUT", "/master/weights", NULL, "[{\"role\":\"web\",\"weight\":2.5}]", out,
                  sizeof out),
              200);
    CHECK_INT(raw(port, "PUT", "/master/weights", NULL, "[{\"role\":\"web\",\"weight\":-1}]", out,
                  sizeof out),
              400);
    json_decref(op_json(port,
                        "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":"
                        "[{\"role\":\"batch\",\"weight\":0.5}]}}",
                        &st));
    CHECK_INT(st, 200);
    j = op_json(port, "{\"type\":\"GET_WEIGHTS\"}", &st);
    CHECK_INT((int)json_array_size(jget(j, "get_weights.weight_infos")), 2);
    json_decref(j);
    j = itest_get_json(port, "/master/weights");
    CHECK_INT((int)json_array_size(j), 2);
    json_decref(j);
    j = itest_get_json(port, "/master/roles");
    json_t *roles = jget(j, "roles");
    int web = 0;
    for (size_t i = 0; i < json_array_size(roles); i++) {
        json_t *r = json_array_get(roles, i);
        if (strcmp(jstr(r, "name"), "web") == 0)
            web = json_real_value(json_object_get(r, "weight")) == 2.5;
    }
    CHECK(web);
    json_decref(j);
    CHECK_INT(raw(port, "GET", "/master/maintenance/schedule", NULL, NULL, out, sizeof out), 501);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* A standby master answers every operator call, even GET_HEALTH, with a 307 to the leader. */
static void test_standby_redirects(void)
{
    char why[256];
    if (!itest_zk_available(why, sizeof why))
        SKIP_CASE("ZooKeeper is not installed (%s)", why);
    struct itest_zk z;
    memset(&z, 0, sizeof z);
    REQUIRE(itest_zk_start(&z) == 0);
    char url[256];
    itest_zk_url(&z, "/mesos", url, sizeof url);
    struct itest_ha_master ms[2];
    memset(ms, 0, sizeof ms);
    REQUIRE(itest_ha_master_start(&ms[0], url, "3secs", NULL) == 0);
    REQUIRE(itest_ha_master_start(&ms[1], url, "3secs", NULL) == 0);
    int leader = itest_ha_wait_leader(ms, 2, 15000);
    REQUIRE(leader >= 0);
    int standby = ms[1 - leader].port;
    char want[128], loc[256] = "";
    snprintf(want, sizeof want, "//127.0.0.1:%d/master/api/v1", ms[leader].port);
    int st = -1;
    for (int i = 0; i < 100 && st != 307; i++) {
        struct itest_http_resp r;
        const char *b = "{\"type\":\"GET_HEALTH\"}";
        if (itest_http(standby, "POST", "/api/v1", JSON_HDRS, b, strlen(b), &r, 3000) == 0) {
            st = r.status;
            itest_header(r.headers, "Location", loc, sizeof loc);
            itest_http_resp_cleanup(&r);
        }
        if (st != 307)
            itest_ha_sleep_ms(50); /* the standby learns of the leader a moment later */
    }
    CHECK_INT(st, 307);
    CHECK_STR(loc, want);
    /* The leader answers (503 while it still recovers right after its election). */
    for (int i = 0; i < 100; i++) {
        json_t *j = op_json(ms[leader].port, "{\"type\":\"GET_HEALTH\"}", &st);
        json_decref(j);
        if (st != 503)
            break;
        itest_ha_sleep_ms(50);
    }
    CHECK_INT(st, 200);
}

/* POSTs a call of type in protobuf; the raw reply body (malloc'd) or NULL. */
static uint8_t *op_pb_raw(int port, int type, size_t *len, int *status, bool *chunked)
{
    Mesos__V1__Master__Call call = MESOS__V1__MASTER__CALL__INIT;
    call.has_type = 1;
    call.type = (Mesos__V1__Master__Call__Type)type;
    uint8_t buf[16];
    size_t n = protobuf_c_message_pack(&call.base, buf);
    struct itest_http_resp r;
    *status = -1;
    if (itest_http(port, "POST", "/api/v1", PB_HDRS, buf, n, &r, ITEST_WAIT_MS) != 0)
        return NULL;
    *status = r.status;
    char te[64] = "";
    itest_header(r.headers, "Transfer-Encoding", te, sizeof te);
    *chunked = strcmp(te, "chunked") == 0;
    uint8_t *body = r.body;
    *len = r.body_len;
    r.body = NULL;
    itest_http_resp_cleanup(&r);
    return body;
}

/* The first record of a SUBSCRIBE stream in the given headers' media (malloc'd), or NULL. */
static uint8_t *first_record(int port, const char *const *hdrs, const void *body, size_t blen,
                             size_t *len)
{
    struct itest_stream *st = itest_stream_open(port, "/api/v1", hdrs, body, blen, ITEST_WAIT_MS);
    if (!st)
        return NULL;
    uint8_t *data = NULL;
    if (itest_stream_next(st, ITEST_WAIT_MS, &data, len) != 0)
        data = NULL;
    itest_stream_free(st);
    return data;
}

/* A state of some size (300 emulated agents, a framework holding an offer of each, two
 * frameworks' finished tasks): GET_STATE is written in slices, over several chunks, and says
 * the same in JSON, in protobuf and in SUBSCRIBE's SUBSCRIBED event. The protobuf body is what
 * protobuf-c packs for the message it decodes to (the one-piece reply's bytes). */
static void test_state_sliced(void)
{
    const int n = 300;
    struct itest_cluster c;
    REQUIRE(itest_emu_master_start(&c, NULL) == 0);
    struct itest_emu e;
    REQUIRE(itest_emu_start(&e, &c, n, "cpus:2;mem:1024", "fixed:0.2", NULL) == 0);
    REQUIRE(itest_metric_wait(c.master_port, "master/slaves_active", n, 20));
    char log[512];
    int lst = -1;
    REQUIRE(itest_emu_loadgen(&c, 2, 200, log, sizeof log, &lst) == 0);
    CHECK_INT(lst, 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    /* Offers of every agent held, and nothing else changing. */
    CHECK(itest_metric_wait(c.master_port, "master/outstanding_offers", n, 20));
    int port = c.master_port, st;

    size_t plen = 0;
    bool chunked = false;
    uint8_t *pb = op_pb_raw(port, MESOS__V1__MASTER__CALL__TYPE__GET_STATE, &plen, &st, &chunked);
    CHECK_INT(st, 200);
    CHECK(chunked);
    REQUIRE(pb != NULL);
    Mesos__V1__Master__Response *r = mesos__v1__master__response__unpack(NULL, plen, pb);
    REQUIRE(r != NULL && r->get_state);
    Mesos__V1__Master__Response__GetState *gs = r->get_state;
    CHECK(gs->get_agents && gs->get_agents->n_agents == (size_t)n);
    CHECK(gs->get_frameworks && gs->get_frameworks->n_frameworks == 1);
    CHECK(gs->get_frameworks->n_frameworks == 1 &&
          gs->get_frameworks->frameworks[0]->n_offers == (size_t)n);
    CHECK(gs->get_tasks && gs->get_tasks->n_completed_tasks >= 200);
    size_t repacked_len = protobuf_c_message_get_packed_size(&r->base);
    uint8_t *repacked = malloc(repacked_len + 1);
    protobuf_c_message_pack(&r->base, repacked);
    CHECK(repacked_len == plen && memcmp(repacked, pb, plen) == 0);
    free(repacked);

    /* JSON: the same objects. */
    json_t *j = op_json(port, "{\"type\":\"GET_STATE\"}", &st);
    CHECK_INT(st, 200);
    REQUIRE(j != NULL);
    CHECK_INT((int)json_array_size(jget(j, "get_state.get_agents.agents")), n);
    CHECK_INT((int)json_array_size(jget(j, "get_state.get_frameworks.frameworks.0.offers")), n);
    CHECK_INT((int)json_array_size(jget(j, "get_state.get_tasks.completed_tasks")),
              (int)gs->get_tasks->n_completed_tasks);
    CHECK_INT((int)json_array_size(jget(j, "get_state.get_frameworks.completed_frameworks")),
              (int)gs->get_frameworks->n_completed_frameworks);
    for (size_t i = 0; i < gs->get_agents->n_agents; i++) {
        char path[96];
        snprintf(path, sizeof path, "get_state.get_agents.agents.%zu.agent_info.id.value", i);
        if (strcmp(jstr(j, path), gs->get_agents->agents[i]->agent_info->id->value) != 0) {
            CHECK_STR(jstr(j, path), gs->get_agents->agents[i]->agent_info->id->value);
            break;
        }
    }

    /* SUBSCRIBED carries the same state: JSON equal as values, protobuf byte for byte. */
    const char *sub = "{\"type\":\"SUBSCRIBE\"}";
    size_t elen = 0;
    uint8_t *ej = first_record(port, JSON_HDRS, sub, strlen(sub), &elen);
    REQUIRE(ej != NULL);
    json_t *ev = json_loadb((const char *)ej, elen, 0, NULL);
    free(ej);
    CHECK_STR(jstr(ev, "type"), "SUBSCRIBED");
    CHECK(json_equal(jget(ev, "subscribed.get_state"), jget(j, "get_state")));
    json_decref(ev);
    json_decref(j);
    Mesos__V1__Master__Call call = MESOS__V1__MASTER__CALL__INIT;
    call.has_type = 1;
    call.type = MESOS__V1__MASTER__CALL__TYPE__SUBSCRIBE;
    uint8_t cb[16];
    size_t clen = protobuf_c_message_pack(&call.base, cb);
    uint8_t *ep = first_record(port, PB_HDRS, cb, clen, &elen);
    REQUIRE(ep != NULL);
    Mesos__V1__Master__Event *pev = mesos__v1__master__event__unpack(NULL, elen, ep);
    free(ep);
    REQUIRE(pev != NULL && pev->subscribed && pev->subscribed->get_state);
    size_t a = protobuf_c_message_get_packed_size(&pev->subscribed->get_state->base);
    size_t b = protobuf_c_message_get_packed_size(&gs->base);
    uint8_t *pa = malloc(a + 1), *pbb = malloc(b + 1);
    protobuf_c_message_pack(&pev->subscribed->get_state->base, pa);
    protobuf_c_message_pack(&gs->base, pbb);
    CHECK(a == b && memcmp(pa, pbb, a) == 0);
    free(pa);
    free(pbb);
    mesos__v1__master__event__free_unpacked(pev, NULL);

    /* A framework arriving while SUBSCRIBED is being written: its FRAMEWORK_ADDED comes after
     * the whole SUBSCRIBED record, never lost nor inside it. */
    struct itest_stream *s =
        itest_stream_open(port, "/api/v1", JSON_HDRS, sub, strlen(sub), ITEST_WAIT_MS);
    REQUIRE(s != NULL);
    struct itest_fw_opts o2 = {.name = "late"};
    struct itest_fw *fw2 = itest_fw_start(port, ITEST_JSON, &o2);
    REQUIRE(fw2 != NULL);
    ev = next_event(s, ITEST_WAIT_MS);
    CHECK_STR(jstr(ev, "type"), "SUBSCRIBED");
    CHECK_INT((int)json_array_size(jget(ev, "subscribed.get_state.get_agents.agents")), n);
    json_decref(ev);
    ev = wait_event(s, "FRAMEWORK_ADDED");
    CHECK_STR(jstr(ev, "framework_added.framework.framework_info.id.value"), fw2->framework_id);
    json_decref(ev);
    itest_stream_free(s);
    itest_fw_free(fw2);

    /* Subscribers that go away while their SUBSCRIBED is being written: the master forgets
     * them and goes on serving. */
    for (int i = 0; i < 3; i++) {
        s = itest_stream_open(port, "/api/v1", i % 2 ? PB_HDRS : JSON_HDRS,
                              i % 2 ? (void *)cb : sub, i % 2 ? clen : strlen(sub), ITEST_WAIT_MS);
        CHECK(s != NULL);
        itest_stream_free(s);
    }
    json_decref(op_json(port, "{\"type\":\"GET_HEALTH\"}", &st));
    CHECK_INT(st, 200);

    mesos__v1__master__response__free_unpacked(r, NULL);
    free(pb);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_state_calls), TEST(test_subscribe), TEST(test_mark_gone),
           TEST(test_drain_deactivate), TEST(test_legacy_endpoints), TEST(test_standby_redirects),
           TEST(test_state_sliced))
