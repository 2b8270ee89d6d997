/*
 * itest_operator_agent: the agent's v1 operator API against a real agent (docs/wire-protocol.md
 * §5.4, agent_operator.h): GET_HEALTH/VERSION/FLAGS/AGENT/METRICS and the logging level in
 * JSON and protobuf on /api/v1 and /slave(1)/api/v1; the processing order's status codes
 * (405, 400, 415, 406, 400 naming an unknown type or a missing field, 501 for nested
 * containers); and with a running task: GET_STATE, GET_TASKS and GET_CONTAINERS in both
 * encodings, LIST_FILES and READ_FILE of its stdout, WAIT_CONTAINER held until KILL_CONTAINER
 * ends the task and then answered with the exit status, 404 for unknown containers, and
 * /logging/toggle.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mesos/v1/agent/agent.pb-c.h"

#define CT_JSON "Content-Type: application/json"
#define CT_PB "Content-Type: application/x-protobuf"

/* POSTs a JSON call; returns the status and the parsed body (NULL unless JSON) in *out. */
static int call_json(int port, const char *path, const char *body, json_t **out)
{
    const char *hdrs[] = {CT_JSON, "Accept: application/json", NULL};
    struct itest_http_resp r;
    if (out)
        *out = NULL;
    if (itest_http(port, "POST", path, hdrs, body, strlen(body), &r, ITEST_WAIT_MS) != 0)
        return -1;
    int status = r.status;
    if (out && r.body_len)
        *out = json_loadb((const char *)r.body, r.body_len, 0, NULL);
    if (status != 200 && status != 202)
        fprintf(stderr, "%s -> %d %s\n", body, status, r.body ? (const char *)r.body : "");
    itest_http_resp_cleanup(&r);
    return status;
}

/* POSTs a protobuf call; returns the status and the decoded Response in *out (or NULL). */
static int call_pb(int port, const char *path, const Mesos__V1__Agent__Call *call,
                   Mesos__V1__Agent__Response **out)
{
    size_t len = mesos__v1__agent__call__get_packed_size(call);
    uint8_t *buf = malloc(len ? len : 1);
    mesos__v1__agent__call__pack(call, buf);
    const char *hdrs[] = {CT_PB, "Accept: application/x-protobuf", NULL};
    struct itest_http_resp r;
    *out = NULL;
    int rc = itest_http(port, "POST", path, hdrs, buf, len, &r, ITEST_WAIT_MS);
    free(buf);
    if (rc != 0)
        return -1;
    int status = r.status;
    char ct[128] = "";
    itest_header(r.headers, "Content-Type", ct, sizeof ct);
    if (status == 200 && strcmp(ct, "application/x-protobuf") == 0)
        *out = mesos__v1__agent__response__unpack(NULL, r.body_len, r.body);
    itest_http_resp_cleanup(&r);
    return status;
}

static int call_pb_type(int port, Mesos__V1__Agent__Call__Type type,
                        Mesos__V1__Agent__Response **out)
{
    Mesos__V1__Agent__Call c = MESOS__V1__AGENT__CALL__INIT;
    c.has_type = 1;
    c.type = type;
    return call_pb(port, "/api/v1", &c, out);
}

/* Raw request: status and body text (malloc'd) of whatever comes back. */
static int raw(int port, const char *method, const char *const *hdrs, const void *body, size_t len,
               char **text, char *allow, size_t allowlen)
{
    struct itest_http_resp r;
    if (itest_http(port, method, "/api/v1", hdrs, body, len, &r, ITEST_WAIT_MS) != 0)
        return -1;
    int status = r.status;
    if (text)
        *text = strdup(r.body ? (const char *)r.body : "");
    if (allow) {
        allow[0] = '\0';
        itest_header(r.headers, "Allow", allow, allowlen);
    }
    itest_http_resp_cleanup(&r);
    return status;
}

static void test_simple_calls_both_encodings(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    json_t *j = NULL;

    CHECK_INT(call_json(c.agent_port, "/api/v1", "{\"type\":\"GET_HEALTH\"}", &j), 200);
    CHECK_STR(json_string_value(json_object_get(j, "type")), "GET_HEALTH");
    CHECK(json_is_true(json_object_get(json_object_get(j, "get_health"), "healthy")));
    json_decref(j);

    /* The process-prefixed path serves the same API. */
    CHECK_INT(call_json(c.agent_port, "/slave(1)/api/v1", "{\"type\":\"GET_VERSION\"}", &j), 200);
    json_t *vi = json_object_get(json_object_get(j, "get_version"), "version_info");
    CHECK(json_is_string(json_object_get(vi, "version")));
    json_decref(j);

    CHECK_INT(call_json(c.agent_port, "/api/v1", "{\"type\":\"GET_FLAGS\"}", &j), 200);
    json_t *flags = json_object_get(json_object_get(j, "get_flags"), "flags");
    bool work_dir = false;
    for (size_t i = 0; i < json_array_size(flags); i++) {
        json_t *f = json_array_get(flags, i);
        if (strcmp(json_string_value(json_object_get(f, "name")), "work_dir") == 0)
            work_dir = strcmp(json_string_value(json_object_get(f, "value")), c.agent_work) == 0;
    }
    CHECK(work_dir);
    json_decref(j);

    CHECK_INT(call_json(c.agent_port, "/api/v1", "{\"type\":\"GET_AGENT\"}", &j), 200);
    json_t *ai = json_object_get(json_object_get(j, "get_agent"), "agent_info");
    CHECK_STR(json_string_value(json_object_get(json_object_get(ai, "id"), "value")), c.agent_id);
    CHECK_INT(json_integer_value(json_object_get(ai, "port")), c.agent_port);
    json_decref(j);

    Mesos__V1__Agent__Response *r = NULL;
    CHECK_INT(call_pb_type(c.agent_port, MESOS__V1__AGENT__CALL__TYPE__GET_METRICS, &r), 200);
    REQUIRE(r && r->get_metrics);
    bool uptime = false;
    for (size_t i = 0; i < r->get_metrics->n_metrics; i++)
        uptime = uptime || strcmp(r->get_metrics->metrics[i]->name, "slave/uptime_secs") == 0;
    CHECK(uptime);
    mesos__v1__agent__response__free_unpacked(r, NULL);

    CHECK_INT(call_pb_type(c.agent_port, MESOS__V1__AGENT__CALL__TYPE__GET_AGENT, &r), 200);
    REQUIRE(r && r->get_agent && r->get_agent->agent_info);
    CHECK_STR(r->get_agent->agent_info->id->value, c.agent_id);
    mesos__v1__agent__response__free_unpacked(r, NULL);

    /* Logging: raise for 5 s, read it back, and /logging/toggle resets it. */
    CHECK_INT(call_json(c.agent_port, "/api/v1",
                        "{\"type\":\"SET_LOGGING_LEVEL\",\"set_logging_level\":{\"level\":2,"
                        "\"duration\":{\"nanoseconds\":5000000000}}}",
                        NULL),
              200);
    CHECK_INT(call_pb_type(c.agent_port, MESOS__V1__AGENT__CALL__TYPE__GET_LOGGING_LEVEL, &r), 200);
    REQUIRE(r && r->get_logging_level);
    CHECK_INT(r->get_logging_level->level, 2);
    mesos__v1__agent__response__free_unpacked(r, NULL);
    struct itest_http_resp hr;
    REQUIRE(itest_http(c.agent_port, "GET", "/logging/toggle?level=0&duration=1secs", NULL, NULL, 0,
                       &hr, ITEST_WAIT_MS) == 0);
    CHECK_INT(hr.status, 200);
    itest_http_resp_cleanup(&hr);
    REQUIRE(itest_http(c.agent_port, "GET", "/logging/toggle?level=1", NULL, NULL, 0, &hr,
                       ITEST_WAIT_MS) == 0);
    CHECK_INT(hr.status, 400);
    CHECK(strstr((const char *)hr.body, "duration") != NULL);
    itest_http_resp_cleanup(&hr);
    CHECK_INT(call_json(c.agent_port, "/api/v1", "{\"type\":\"GET_LOGGING_LEVEL\"}", &j), 200);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "get_logging_level"), "level")),
              0);
    json_decref(j);
    itest_cluster_stop(&c);
}

static void test_status_codes(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    int p = c.agent_port;
    char *t = NULL, allow[64];
    const char *json_hdrs[] = {CT_JSON, NULL};

    CHECK_INT(raw(p, "GET", NULL, NULL, 0, &t, allow, sizeof allow), 405);
    CHECK_STR(allow, "POST");
    free(t);

    const char *body = "{\"type\":\"GET_HEALTH\"}";
    CHECK_INT(raw(p, "POST", NULL, body, strlen(body), &t, NULL, 0), 400);
    CHECK(strstr(t, "Content-Type") != NULL);
    free(t);

    const char *text_hdrs[] = {"Content-Type: text/plain", NULL};
    CHECK_INT(raw(p, "POST", text_hdrs, body, strlen(body), &t, NULL, 0), 415);
    free(t);

    CHECK_INT(raw(p, "POST", json_hdrs, "{not json", 9, &t, NULL, 0), 400);
    free(t);

    /* An undeclared type is named, in JSON and in protobuf. */
    const char *unknown = "{\"type\":\"GET_SOMETHING_NEW\"}";
    CHECK_INT(raw(p, "POST", json_hdrs, unknown, strlen(unknown), &t, NULL, 0), 400);
    CHECK(strstr(t, "GET_SOMETHING_NEW") != NULL);
    free(t);
    const uint8_t pb99[] = {0x08, 99}; /* field 1 (type), varint 99 */
    const char *pb_hdrs[] = {CT_PB, NULL};
    CHECK_INT(raw(p, "POST", pb_hdrs, pb99, sizeof pb99, &t, NULL, 0), 400);
    CHECK(strstr(t, "99") != NULL);
    free(t);

    /* The call's sub-message is required, and named. */
    const char *nokill = "{\"type\":\"KILL_CONTAINER\"}";
    CHECK_INT(raw(p, "POST", json_hdrs, nokill, strlen(nokill), &t, NULL, 0), 400);
    CHECK(strstr(t, "kill_container") != NULL);
    free(t);

    const char *html_hdrs[] = {CT_JSON, "Accept: text/html", NULL};
    CHECK_INT(raw(p, "POST", html_hdrs, body, strlen(body), &t, NULL, 0), 406);
    free(t);

    const char *nested = "{\"type\":\"LAUNCH_NESTED_CONTAINER_SESSION\","
                         "\"launch_nested_container_session\":{\"container_id\":{\"value\":\"x\","
                         "\"parent\":{\"value\":\"y\"}}}}";
    CHECK_INT(raw(p, "POST", json_hdrs, nested, strlen(nested), &t, NULL, 0), 501);
    CHECK(strstr(t, "LAUNCH_NESTED_CONTAINER_SESSION") != NULL);
    free(t);
    const char *rp = "{\"type\":\"GET_RESOURCE_PROVIDERS\"}";
    CHECK_INT(raw(p, "POST", json_hdrs, rp, strlen(rp), &t, NULL, 0), 501);
    free(t);
    const char *recordio_hdrs[] = {"Content-Type: application/recordio", NULL};
    CHECK_INT(raw(p, "POST", recordio_hdrs, "1\n{", 3, &t, NULL, 0), 501);
    free(t);

    const char *unknown_cid = "{\"type\":\"KILL_CONTAINER\",\"kill_container\":{\"container_id\":"
                              "{\"value\":\"no-such-container\"}}}";
    CHECK_INT(call_json(p, "/api/v1", unknown_cid, NULL), 404);
    const char *unknown_wait = "{\"type\":\"WAIT_CONTAINER\",\"wait_container\":{\"container_id\":"
                               "{\"value\":\"no-such-container\"}}}";
    CHECK_INT(call_json(p, "/api/v1", unknown_wait, NULL), 404);
    itest_cluster_stop(&c);
}

struct waiter {
    int port;
    char body[512];
    int status;
    json_t *resp;
    volatile int done;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    w->status = call_json(w->port, "/api/v1", w->body, &w->resp);
    w->done = 1;
    return NULL;
}

static bool has_task(json_t *arr, const char *tid)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *id = json_object_get(json_array_get(arr, i), "task_id");
        if (strcmp(json_string_value(json_object_get(id, "value")), tid) == 0)
            return true;
    }
    return false;
}

static void test_task_state_files_kill_and_wait(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    int p = c.agent_port;
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) == 0);
    struct itest_task task = {"op-task", "echo hello-operator; exec sleep 100", 0.1, 32};
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, c.agent_id, &task, 1, 0), 202);
    REQUIRE(itest_fw_wait_state(fw, "op-task", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);

    /* GET_TASKS and GET_STATE in JSON. */
    json_t *j = NULL;
    CHECK_INT(call_json(p, "/api/v1", "{\"type\":\"GET_TASKS\"}", &j), 200);
    CHECK_STR(json_string_value(json_object_get(j, "type")), "GET_TASKS");
    CHECK(has_task(json_object_get(json_object_get(j, "get_tasks"), "launched_tasks"), "op-task"));
    json_decref(j);
    CHECK_INT(call_json(p, "/api/v1", "{\"type\":\"GET_STATE\"}", &j), 200);
    json_t *gs = json_object_get(j, "get_state");
    CHECK(has_task(json_object_get(json_object_get(gs, "get_tasks"), "launched_tasks"), "op-task"));
    json_t *fws = json_object_get(json_object_get(gs, "get_frameworks"), "frameworks");
    CHECK_INT(json_array_size(fws), 1);
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_object_get(json_array_get(fws, 0), "framework_info"), "id"),
                  "value")),
              fw->framework_id);
    json_t *exs = json_object_get(json_object_get(gs, "get_executors"), "executors");
    CHECK_INT(json_array_size(exs), 1);
    json_decref(j);

    /* GET_CONTAINERS in JSON gives the container; protobuf agrees. */
    CHECK_INT(call_json(p, "/api/v1", "{\"type\":\"GET_CONTAINERS\"}", &j), 200);
    json_t *cs = json_object_get(json_object_get(j, "get_containers"), "containers");
    REQUIRE(json_array_size(cs) == 1);
    json_t *c0 = json_array_get(cs, 0);
    char cid[128];
    snprintf(cid, sizeof cid, "%s",
             json_string_value(json_object_get(json_object_get(c0, "container_id"), "value")));
    CHECK(cid[0] != '\0');
    CHECK_STR(json_string_value(json_object_get(json_object_get(c0, "framework_id"), "value")),
              fw->framework_id);
    char eid[128];
    snprintf(eid, sizeof eid, "%s",
             json_string_value(json_object_get(json_object_get(c0, "executor_id"), "value")));
    json_decref(j);

    Mesos__V1__Agent__Response *r = NULL;
    CHECK_INT(call_pb_type(p, MESOS__V1__AGENT__CALL__TYPE__GET_CONTAINERS, &r), 200);
    REQUIRE(r && r->get_containers && r->get_containers->n_containers == 1);
    CHECK_STR(r->get_containers->containers[0]->container_id->value, cid);
    CHECK(r->get_containers->containers[0]->container_status &&
          r->get_containers->containers[0]->container_status->has_executor_pid);
    mesos__v1__agent__response__free_unpacked(r, NULL);
    CHECK_INT(call_pb_type(p, MESOS__V1__AGENT__CALL__TYPE__GET_TASKS, &r), 200);
    REQUIRE(r && r->get_tasks);
    CHECK_INT(r->get_tasks->n_launched_tasks, 1);
    if (r->get_tasks->n_launched_tasks == 1) {
        CHECK_STR(r->get_tasks->launched_tasks[0]->task_id->value, "op-task");
        CHECK_INT(r->get_tasks->launched_tasks[0]->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    }
    mesos__v1__agent__response__free_unpacked(r, NULL);
    CHECK_INT(call_pb_type(p, MESOS__V1__AGENT__CALL__TYPE__GET_STATE, &r), 200);
    REQUIRE(r && r->get_state && r->get_state->get_tasks);
    CHECK_INT(r->get_state->get_tasks->n_launched_tasks, 1);
    mesos__v1__agent__response__free_unpacked(r, NULL);

    /* The sandbox through the /files table: LIST_FILES then READ_FILE of stdout. */
    char dir[512], body[1024];
    snprintf(dir, sizeof dir, "/frameworks/%s/executors/%s/runs/latest", fw->framework_id, eid);
    snprintf(body, sizeof body, "{\"type\":\"LIST_FILES\",\"list_files\":{\"path\":\"%s\"}}", dir);
    CHECK_INT(call_json(p, "/api/v1", body, &j), 200);
    json_t *fis = json_object_get(json_object_get(j, "list_files"), "file_infos");
    bool stdout_seen = false;
    for (size_t i = 0; i < json_array_size(fis); i++) {
        const char *fp = json_string_value(json_object_get(json_array_get(fis, i), "path"));
        stdout_seen =
            stdout_seen || (fp && strstr(fp, "/stdout") && strncmp(fp, dir, strlen(dir)) == 0);
    }
    CHECK(stdout_seen);
    json_decref(j);
    bool hello = false;
    for (int i = 0; i < 100 && !hello; i++) {
        snprintf(body, sizeof body,
                 "{\"type\":\"READ_FILE\",\"read_file\":{\"path\":\"%s/stdout\",\"offset\":0}}",
                 dir);
        if (call_json(p, "/api/v1", body, &j) != 200)
            break;
        const char *b64 =
            json_string_value(json_object_get(json_object_get(j, "read_file"), "data"));
        uint8_t data[4096];
        size_t n = 0;
        if (b64 && itest_b64_decode(b64, data, sizeof data - 1, &n) == 0) {
            data[n] = 0;
            hello = strstr((char *)data, "hello-operator") != NULL;
        }
        json_decref(j);
        if (!hello)
            usleep(50000);
    }
    CHECK(hello);
    /* Outside the attached directories: refused, as /files/read refuses it. */
    CHECK_INT(call_json(p, "/api/v1",
                        "{\"type\":\"READ_FILE\",\"read_file\":{\"path\":\"/etc/passwd\","
                        "\"offset\":0}}",
                        NULL),
              404);
    snprintf(body, sizeof body,
             "{\"type\":\"READ_FILE\",\"read_file\":{\"path\":\"%s/../../../../x\",\"offset\":0}}",
             dir);
    CHECK_INT(call_json(p, "/api/v1", body, NULL), 403);

    /* WAIT_CONTAINER is held while the container runs ... */
    struct waiter w = {.port = p};
    snprintf(
        w.body, sizeof w.body,
        "{\"type\":\"WAIT_CONTAINER\",\"wait_container\":{\"container_id\":{\"value\":\"%s\"}}}",
        cid);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, wait_thread, &w) == 0);
    usleep(500000);
    CHECK(!w.done);
    /* ... KILL_CONTAINER (SIGTERM) ends it and the task ... */
    snprintf(body, sizeof body,
             "{\"type\":\"KILL_CONTAINER\",\"kill_container\":{\"container_id\":{\"value\":\"%s\"},"
             "\"signal\":%d}}",
             cid, SIGTERM);
    CHECK_INT(call_json(p, "/api/v1", body, NULL), 200);
    pthread_join(th, NULL);
    CHECK_INT(w.status, 200);
    json_t *wc = json_object_get(w.resp, "wait_container");
    CHECK_STR(json_string_value(json_object_get(w.resp, "type")), "WAIT_CONTAINER");
    CHECK(json_is_integer(json_object_get(wc, "exit_status")));
    int exit_status = (int)json_integer_value(json_object_get(wc, "exit_status"));
    json_decref(w.resp);
    struct itest_event ev;
    bool terminal = false;
    for (int i = 0; i < 10 && !terminal; i++) {
        if (itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, "op-task", ITEST_WAIT_MS,
                          &ev) != 0)
            break;
        if (ev.status.has_uuid)
            itest_fw_ack(fw, &ev.status);
        terminal = ev.status.state != MESOS__V1__TASK_STATE__TASK_RUNNING &&
                   ev.status.state != MESOS__V1__TASK_STATE__TASK_KILLING;
    }
    CHECK(terminal);
    /* ... and a WAIT_CONTAINER after the exit answers at once, the same way; in protobuf too. */
    CHECK_INT(call_json(p, "/api/v1", w.body, &j), 200);
    CHECK_INT(
        json_integer_value(json_object_get(json_object_get(j, "wait_container"), "exit_status")),
        exit_status);
    json_decref(j);
    Mesos__V1__Agent__Call call = MESOS__V1__AGENT__CALL__INIT;
    Mesos__V1__Agent__Call__WaitContainer wcall = MESOS__V1__AGENT__CALL__WAIT_CONTAINER__INIT;
    Mesos__V1__ContainerID pcid = MESOS__V1__CONTAINER_ID__INIT;
    pcid.value = cid;
    wcall.container_id = &pcid;
    call.has_type = 1;
    call.type = MESOS__V1__AGENT__CALL__TYPE__WAIT_CONTAINER;
    call.wait_container = &wcall;
    CHECK_INT(call_pb(p, "/api/v1", &call, &r), 200);
    REQUIRE(r && r->wait_container);
    CHECK(r->wait_container->has_exit_status && r->wait_container->exit_status == exit_status);
    mesos__v1__agent__response__free_unpacked(r, NULL);
    /* The container is gone: killing it again is a 404. */
    CHECK_INT(call_json(p, "/api/v1", body, NULL), 404);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_simple_calls_both_encodings), TEST(test_status_codes),
           TEST(test_task_state_files_kill_and_wait))
