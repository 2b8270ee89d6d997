/*
 * itest_state_stream: /master/state, /master/frameworks, /master/slaves, /master/tasks and
 * /master/state-summary are written in slices (chunked) and must say exactly what the
 * one-piece answer says. The one-piece builders still answer ?jsonp=cb requests, so the test
 * compares the streamed body byte for byte with the body inside "cb(...)", on a master with a
 * framework, a running task, a finished task, an outstanding offer and a completed framework.
 */
#include "harness.h"

#include <string.h>

static void compare(int port, const char *path)
{
    struct itest_http_resp a = {0}, b = {0};
    char jp[256];
    snprintf(jp, sizeof jp, "%s%sjsonp=cb", path, strchr(path, '?') ? "&" : "?");
    REQUIRE(itest_http(port, "GET", path, NULL, NULL, 0, &a, ITEST_WAIT_MS) == 0);
    REQUIRE(itest_http(port, "GET", jp, NULL, NULL, 0, &b, ITEST_WAIT_MS) == 0);
    CHECK_INT(a.status, 200);
    CHECK_INT(b.status, 200);
    char te[64] = "";
    CHECK(itest_header(a.headers, "Transfer-Encoding", te, sizeof te) && strstr(te, "chunked"));
    char ct[64] = "";
    CHECK(itest_header(a.headers, "Content-Type", ct, sizeof ct));
    CHECK_STR(ct, "application/json");
    /* b is "cb(<json>)" */
    CHECK(b.body_len > 4 && memcmp(b.body, "cb(", 3) == 0 && b.body[b.body_len - 1] == ')');
    if (b.body_len > 4) {
        size_t n = b.body_len - 4;
        bool same = a.body_len == n && memcmp(a.body, b.body + 3, n) == 0;
        if (!same)
            fprintf(stderr, "%s: streamed body differs\nstreamed: %.*s\none piece: %.*s\n", path,
                    (int)a.body_len, (const char *)a.body, (int)n, (const char *)b.body + 3);
        CHECK(same);
        json_error_t err;
        json_t *j = json_loadb((const char *)a.body, a.body_len, 0, &err);
        CHECK(j != NULL);
        json_decref(j);
    }
    itest_http_resp_cleanup(&a);
    itest_http_resp_cleanup(&b);
}

static void test_state_stream(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    /* A framework that comes and goes: a completed framework. */
    struct itest_fw_opts o0 = {.name = "itest-gone"};
    struct itest_fw *gone = itest_fw_start(c.master_port, ITEST_JSON, &o0);
    REQUIRE(gone != NULL);
    CHECK_INT(itest_fw_teardown(gone), 202);
    itest_fw_free(gone);

    struct itest_fw_opts o = {.name = "itest-state-stream"};
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, &o);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 2, 1024, ITEST_WAIT_MS, &off) == 0);
    struct itest_task t[2] = {{"done-1", "true", 0.1, 32}, {"running-1", "sleep 60", 0.1, 32}};
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, c.agent_id, t, 2, 0), 202);
    CHECK_INT(itest_fw_wait_state(fw, "done-1", MESOS__V1__TASK_STATE__TASK_FINISHED, ITEST_WAIT_MS,
                                  NULL),
              0);
    CHECK_INT(itest_fw_wait_state(fw, "running-1", MESOS__V1__TASK_STATE__TASK_RUNNING,
                                  ITEST_WAIT_MS, NULL),
              0);
    /* Hold offers of everything but the running task (the rest of the accept, then the
     * finished task's share), so "offers" is not empty and nothing changes any more. */
    struct itest_offers rest;
    CHECK_INT(itest_fw_wait_offer(fw, 1.85, 990, ITEST_WAIT_MS, &rest), 0);

    compare(c.master_port, "/master/state");
    compare(c.master_port, "/master/frameworks");
    compare(c.master_port, "/master/slaves");
    compare(c.master_port, "/state");
    char path[512];
    snprintf(path, sizeof path, "/master/frameworks?framework_id=%s", fw->framework_id);
    compare(c.master_port, path);
    snprintf(path, sizeof path, "/master/slaves?slave_id=%s", c.agent_id);
    compare(c.master_port, path);
    compare(c.master_port, "/master/slaves?slave_id=no-such-agent");
    compare(c.master_port, "/master/state-summary");
    compare(c.master_port, "/master/tasks");
    compare(c.master_port, "/master/tasks?order=asc&limit=1");
    compare(c.master_port, "/master/tasks?offset=1");
    compare(c.master_port, "/master/tasks?offset=5");
    compare(c.master_port, "/tasks?task_id=done-1");
    compare(c.master_port, "/master/tasks?limit=0");
    compare(c.master_port, "/master/tasks?order=asc");
    compare(c.master_port, "/master/tasks?order=des&offset=1&limit=1");
    compare(c.master_port, "/master/tasks?offset=9223372036854775807&limit=2");
    snprintf(path, sizeof path, "/master/tasks?framework_id=%s&order=asc", fw->framework_id);
    compare(c.master_port, path);
    snprintf(path, sizeof path, "/master/tasks?framework_id=%s&task_id=running-1",
             fw->framework_id);
    compare(c.master_port, path);
    compare(c.master_port, "/master/tasks?framework_id=no-such-framework");
    /* One order is the other reversed (the order is total). */
    json_t *asc = itest_get_json(c.master_port, "/master/tasks?order=asc");
    json_t *des = itest_get_json(c.master_port, "/master/tasks?order=des");
    CHECK(asc != NULL && des != NULL);
    if (asc && des) {
        json_t *ta = json_object_get(asc, "tasks"), *td = json_object_get(des, "tasks");
        CHECK_INT((int)json_array_size(ta), 2);
        CHECK_INT((int)json_array_size(td), 2);
        const char *a0 = json_string_value(json_object_get(json_array_get(ta, 0), "id"));
        const char *d1 = json_string_value(json_object_get(json_array_get(td, 1), "id"));
        CHECK(a0 && d1 && strcmp(a0, d1) == 0);
    }
    json_decref(asc);
    json_decref(des);
    struct itest_http_resp bad = {0};
    REQUIRE(itest_http(c.master_port, "GET", "/master/tasks?limit=-1", NULL, NULL, 0, &bad,
                       ITEST_WAIT_MS) == 0);
    CHECK_INT(bad.status, 400);
    itest_http_resp_cleanup(&bad);

    json_t *st = itest_get_json(c.master_port, "/master/state");
    CHECK(st != NULL);
    if (st) {
        json_t *fws = json_object_get(st, "frameworks");
        CHECK_INT((int)json_array_size(fws), 1);
        json_t *f0 = json_array_get(fws, 0);
        CHECK_INT((int)json_array_size(json_object_get(f0, "tasks")), 1);
        CHECK_INT((int)json_array_size(json_object_get(f0, "completed_tasks")), 1);
        CHECK((int)json_array_size(json_object_get(f0, "offers")) >= 1);
        CHECK_INT((int)json_array_size(json_object_get(st, "completed_frameworks")), 1);
        CHECK_INT((int)json_array_size(json_object_get(st, "slaves")), 1);
        json_decref(st);
    }
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_state_stream))
