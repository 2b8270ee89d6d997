/*
 * itest_bad_input: every bad input of docs/wire-protocol.md §2.1/§2.2 gets its status code and a
 * short text/plain reason from a real master, and none of it changes anything: afterwards the
 * framework that was subscribed all along still works and a new one subscribes and gets
 * offers.
 */
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define SCHED "/api/v1/scheduler"
#define CT_JSON "Content-Type: application/json"
#define CT_PB "Content-Type: application/x-protobuf"

static int master_port;

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Posts body to the scheduler endpoint and checks code + a non-empty text/plain body. */
static void expect(const char *what, const char *method, const char *const *headers,
                   const void *body, size_t len, int code, const char *needle)
{
    struct itest_http_resp r;
    int rc = itest_http(master_port, method, SCHED, headers, body, len, &r, ITEST_WAIT_MS);
    CHECK_INT(rc, 0);
    if (rc)
        return;
    if (r.status != code)
        fprintf(stderr, "case '%s': got %d (%s), expected %d\n", what, r.status,
                (const char *)r.body, code);
    CHECK_INT(r.status, code);
    char ct[128];
    itest_header(r.headers, "Content-Type", ct, sizeof ct);
    /* evhttp's own 413 page is HTML; every answer written by the master is text/plain. */
    if (code != 413) {
        if (strncmp(ct, "text/plain", 10) != 0)
            fprintf(stderr, "case '%s': Content-Type '%s'\n", what, ct);
        CHECK(strncmp(ct, "text/plain", 10) == 0);
    }
    if (r.body_len == 0)
        fprintf(stderr, "case '%s': empty body\n", what);
    CHECK(r.body_len > 0);
    if (needle && !strstr((const char *)r.body, needle)) {
        fprintf(stderr, "case '%s': body '%s' does not mention '%s'\n", what, (const char *)r.body,
                needle);
        CHECK(strstr((const char *)r.body, needle) != NULL);
    }
    if (code == 405) {
        char allow[64];
        CHECK(itest_header(r.headers, "Allow", allow, sizeof allow));
        CHECK_STR(allow, "POST");
    }
    itest_http_resp_cleanup(&r);
}

static void expect_json(const char *what, const char *const *headers, const char *body, int code,
                        const char *needle)
{
    expect(what, "POST", headers, body, strlen(body), code, needle);
}

static void test_bad_input(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    master_port = c.master_port;

    /* A framework that stays subscribed throughout. */
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    char h_sid[300], h_bad_sid[64], body[2048];
    snprintf(h_sid, sizeof h_sid, "Mesos-Stream-Id: %s", fw->stream_id);
    snprintf(h_bad_sid, sizeof h_bad_sid, "Mesos-Stream-Id: 00000000-0000-4000-8000-000000000000");
    const char *json_sid[] = {CT_JSON, h_sid, NULL};
    const char *json_only[] = {CT_JSON, NULL};
    const char *subscribe = "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":"
                            "\"u\",\"name\":\"n\"}}}";

    expect("GET", "GET", NULL, NULL, 0, 405, NULL);
    const char *no_ct[] = {"Accept: application/json", NULL};
    expect_json("no Content-Type", no_ct, subscribe, 400, NULL);
    const char *text_ct[] = {"Content-Type: text/plain", NULL};
    expect_json("Content-Type text/plain", text_ct, subscribe, 415, NULL);
    expect_json("malformed JSON", json_only, "{\"type\":\"SUBSCRIBE\",", 400, NULL);
    expect_json("JSON array", json_only, "[1,2]", 400, NULL);
    expect_json("missing framework_info.user", json_only,
                "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"name\":\"n\"}}}", 400,
                "user");
    expect_json("no type", json_only,
                "{\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":\"n\"}}}", 400, NULL);
    expect_json("SUBSCRIBE without subscribe", json_only, "{\"type\":\"SUBSCRIBE\"}", 400, NULL);
    const char *html[] = {CT_JSON, "Accept: text/html", NULL};
    expect_json("SUBSCRIBE Accept text/html", html, subscribe, 406, NULL);
    const char *with_sid[] = {CT_JSON, h_bad_sid, NULL};
    expect_json("SUBSCRIBE with Mesos-Stream-Id", with_sid, subscribe, 400, NULL);
    expect_json("SUBSCRIBE framework_id mismatch", json_only,
                "{\"type\":\"SUBSCRIBE\",\"framework_id\":{\"value\":\"abc\"},\"subscribe\":{"
                "\"framework_info\":{\"user\":\"u\",\"name\":\"n\"}}}",
                400, NULL);
    expect_json("REVIVE without framework_id", json_sid, "{\"type\":\"REVIVE\"}", 400, NULL);
    expect_json("REVIVE unknown framework", json_sid,
                "{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"no-such-framework\"}}", 400,
                NULL);

    /* Calls for the live framework with a bad stream id or bad fields. */
    snprintf(body, sizeof body, "{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"%s\"}}",
             fw->framework_id);
    expect_json("REVIVE without Mesos-Stream-Id", json_only, body, 400, NULL);
    expect_json("REVIVE with a wrong Mesos-Stream-Id", with_sid, body, 400, NULL);
    snprintf(body, sizeof body,
             "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"%s\"},\"acknowledge\":{"
             "\"agent_id\":{\"value\":\"%s\"},\"task_id\":{\"value\":\"t\"},"
             "\"uuid\":\"AAECAwQFBgcICQ==\"}}",
             fw->framework_id, c.agent_id);
    expect_json("ACKNOWLEDGE with a 10-byte uuid", json_sid, body, 400, NULL);
    snprintf(body, sizeof body, "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"}}",
             fw->framework_id);
    expect_json("ACCEPT without accept", json_sid, body, 400, NULL);
    snprintf(body, sizeof body, "{\"type\":\"KILL\",\"framework_id\":{\"value\":\"%s\"}}",
             fw->framework_id);
    expect_json("KILL without kill", json_sid, body, 400, NULL);
    snprintf(body, sizeof body, "{\"type\":\"UNKNOWN\",\"framework_id\":{\"value\":\"%s\"}}",
             fw->framework_id);
    expect_json("type UNKNOWN", json_sid, body, 501, NULL);

    /* Protobuf garbage, and a protobuf call missing its type. */
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99, 0x01, 0x02};
    const char *pb[] = {CT_PB, "Accept: application/x-protobuf", NULL};
    expect("protobuf garbage", "POST", pb, garbage, sizeof garbage, 400, NULL);
    static const uint8_t empty_call[] = {0x0a, 0x03, 0x0a, 0x01, 0x78}; /* framework_id only */
    expect("protobuf call without type", "POST", pb, empty_call, sizeof empty_call, 400, NULL);

    /* A body over the master's bound (16 MiB). */
    size_t big = 20u << 20;
    char *huge = malloc(big);
    REQUIRE(huge != NULL);
    memset(huge, ' ', big);
    expect("oversized body", "POST", json_only, huge, big, 413, NULL);
    free(huge);

    /* A framework that is known but disconnected (failover_timeout keeps it around): 403. */
    struct itest_fw_opts o = {.name = "itest-gone", .failover_timeout = 3600};
    struct itest_fw *gone = itest_fw_start(c.master_port, ITEST_JSON, &o);
    REQUIRE(gone != NULL);
    itest_fw_disconnect(gone);
    snprintf(body, sizeof body, "{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"%s\"}}",
             gone->framework_id);
    int code = 0;
    for (int i = 0; i < 200; i++) {
        code = itest_fw_post(gone, body, strlen(body), 1);
        if (code == 403)
            break;
        pause_ms(50);
    }
    if (code != 403)
        fprintf(stderr, "disconnected framework: REVIVE answered %d (%s)\n", code, gone->last_body);
    CHECK_INT(code, 403);
    itest_fw_free(gone);

    /* Nothing changed: the first framework's calls still work, and a new one subscribes and
     * is offered the whole agent once the first one steps aside. */
    CHECK_INT(itest_fw_suppress(fw), 202);
    struct itest_offers off;
    for (;;) {
        struct itest_event ev;
        /* Give back whatever the first framework holds. */
        if (itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS, NULL, 300, &ev) != 0)
            break;
        for (size_t i = 0; i < ev.n_offers; i++)
            itest_fw_decline(fw, ev.offers[i].id, 3600);
    }
    struct itest_fw *fresh = itest_fw_start(c.master_port, ITEST_PROTOBUF, NULL);
    REQUIRE(fresh != NULL);
    CHECK_INT(itest_fw_wait_offer(fresh, 2, 1024, ITEST_WAIT_MS, &off), 0);
    CHECK(itest_proc_alive(&c.master));
    CHECK(itest_proc_alive(&c.agent));
    itest_fw_free(fresh);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_bad_input))
