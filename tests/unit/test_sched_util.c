/*
 * test_sched_util.c: the pure parts of libcmscheduler — master URLs, redirect Locations, the
 * reconnect backoff, and call encoding / event decoding in JSON and protobuf.
 *
 * Unit tests link only cm_common, so the library's pure module is compiled into this test
 * directly.
 */
#include "../../src/scheduler-lib/sched_util.c"

#include <jansson.h>

#include "pbjson.h"
#include "stream_client.h"

#include "test.h"

static void test_master_url(void)
{
    char url[CM_SCHED_URL_MAX], why[256];
    CHECK_INT(cm_sched_master_url("127.0.0.1:5050", url, sizeof url, why, sizeof why), 0);
    CHECK_STR(url, "http://127.0.0.1:5050/api/v1/scheduler");
    CHECK_INT(cm_sched_master_url("http://m1:5050", url, sizeof url, why, sizeof why), 0);
    CHECK_STR(url, "http://m1:5050/api/v1/scheduler");
    CHECK_INT(
        cm_sched_master_url("https://m1.example.com:443/master/", url, sizeof url, why, sizeof why),
        0);
    CHECK_STR(url, "https://m1.example.com:443/api/v1/scheduler");
    CHECK_INT(cm_sched_master_url("[::1]:5050", url, sizeof url, why, sizeof why), 0);
    CHECK_STR(url, "http://[::1]:5050/api/v1/scheduler");

    CHECK_INT(cm_sched_master_url("zk://127.0.0.1:2181/mesos", url, sizeof url, why, sizeof why),
              CM_EINVAL);
    CHECK(strstr(why, "zk://") != NULL);
    CHECK_INT(cm_sched_master_url("", url, sizeof url, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_sched_master_url(NULL, url, sizeof url, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_sched_master_url("localhost", url, sizeof url, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "port") != NULL);
    CHECK_INT(cm_sched_master_url("localhost:0", url, sizeof url, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_sched_master_url("localhost:65536", url, sizeof url, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_sched_master_url("localhost:50x0", url, sizeof url, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_sched_master_url(":5050", url, sizeof url, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_sched_master_url("ftp://h:1", url, sizeof url, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_sched_master_url("bad host:1", url, sizeof url, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_sched_master_url("u@h:1", url, sizeof url, why, sizeof why), CM_EINVAL);

    char big[2048];
    memset(big, 'a', sizeof big);
    memcpy(big + sizeof big - 6, ":5050", 6);
    CHECK_INT(cm_sched_master_url(big, url, sizeof url, why, sizeof why), CM_EINVAL);
}

static void test_resolve_location(void)
{
    char out[CM_SCHED_URL_MAX];
    const char *cur = "http://10.0.0.1:5050/api/v1/scheduler";
    /* Mesos answers with a protocol-relative Location naming the delegated path. */
    CHECK_INT(
        cm_stream_resolve_location(cur, "//10.0.0.2:5050/master/api/v1/scheduler", out, sizeof out),
        0);
    CHECK_STR(out, "http://10.0.0.2:5050/master/api/v1/scheduler");
    CHECK_INT(
        cm_stream_resolve_location("https://a:1/api/v1/scheduler", "//b:2/x", out, sizeof out), 0);
    CHECK_STR(out, "https://b:2/x");
    CHECK_INT(cm_stream_resolve_location(cur, "http://m3:5051/api/v1/scheduler", out, sizeof out),
              0);
    CHECK_STR(out, "http://m3:5051/api/v1/scheduler");
    CHECK_INT(cm_stream_resolve_location(cur, "/master/api/v1/scheduler", out, sizeof out), 0);
    CHECK_STR(out, "http://10.0.0.1:5050/master/api/v1/scheduler");
    /* No path: the scheduler endpoint is meant. */
    CHECK_INT(cm_stream_resolve_location(cur, "//m4:5050", out, sizeof out), 0);
    CHECK_STR(out, "http://m4:5050/api/v1/scheduler");
    CHECK_INT(cm_stream_resolve_location(cur, " //m5:5050/p \r\n", out, sizeof out), 0);
    CHECK_STR(out, "http://m5:5050/p");

    CHECK_INT(cm_stream_resolve_location(cur, "", out, sizeof out), CM_EINVAL);
    CHECK_INT(cm_stream_resolve_location(cur, NULL, out, sizeof out), CM_EINVAL);
    CHECK_INT(cm_stream_resolve_location(cur, "//", out, sizeof out), CM_EINVAL);
    CHECK_INT(cm_stream_resolve_location(cur, "relative/path", out, sizeof out), CM_EINVAL);
    CHECK_INT(cm_stream_resolve_location(cur, "ftp://x:1/", out, sizeof out), CM_EINVAL);
    CHECK_INT(cm_stream_resolve_location(cur, "//a b:1/", out, sizeof out), CM_EINVAL);
    CHECK_INT(cm_stream_resolve_location(cur, "//u@evil:1/", out, sizeof out), CM_EINVAL);
    char small[16];
    CHECK_INT(cm_stream_resolve_location(cur, "//long-host-name:5050/x", small, sizeof small),
              CM_EINVAL);
}

static void test_backoff(void)
{
    /* With r = 0.999.. the delay is the cap: 1, 2, 4, 8, 15, 15. */
    double r = 0.9999999;
    const double caps[] = {1, 2, 4, 8, 15, 15, 15};
    for (unsigned i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        double d = cm_stream_backoff_delay(i, 1.0, 15.0, r);
        CHECK(d <= caps[i] && d > caps[i] * 0.999);
        double lo = cm_stream_backoff_delay(i, 1.0, 15.0, 0.0);
        CHECK(lo == caps[i] / 2);
    }
    /* Huge attempt counts do not overflow. */
    CHECK(cm_stream_backoff_delay(1000000, 1.0, 15.0, 0.5) <= 15.0);
    /* Bad jitter input is treated as 0; bad bounds fall back to sane ones. */
    CHECK(cm_stream_backoff_delay(0, 1.0, 15.0, 7.0) == 0.5);
    CHECK(cm_stream_backoff_delay(3, 0, 0, 0) == 0.5);

    uint64_t st = 42;
    double sum = 0;
    for (int i = 0; i < 1000; i++) {
        double x = cm_stream_random(&st);
        REQUIRE(x >= 0 && x < 1);
        sum += x;
    }
    CHECK(sum > 400 && sum < 600);
    uint64_t zero = 0;
    double z = cm_stream_random(&zero);
    CHECK(z >= 0 && z < 1 && zero != 0);
}

/* An ACCEPT with one LAUNCH, as mesos-execute builds it. */
static uint8_t *encode_accept(enum cm_scheduler_content_type ct, size_t *len)
{
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    fid.value = "m-0000";
    Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT;
    oid.value = "m-O0";
    Mesos__V1__OfferID *oids[] = {&oid};
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    tid.value = "t1";
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = "m-S0";
    Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
    cmd.value = "echo hi";
    Mesos__V1__TaskInfo task = MESOS__V1__TASK_INFO__INIT;
    task.name = "t1";
    task.task_id = &tid;
    task.agent_id = &aid;
    task.command = &cmd;
    Mesos__V1__TaskInfo *tasks[] = {&task};
    Mesos__V1__Offer__Operation__Launch launch = MESOS__V1__OFFER__OPERATION__LAUNCH__INIT;
    launch.n_task_infos = 1;
    launch.task_infos = tasks;
    Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT;
    op.has_type = 1;
    op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH;
    op.launch = &launch;
    Mesos__V1__Offer__Operation *ops[] = {&op};
    Mesos__V1__Filters filters = MESOS__V1__FILTERS__INIT;
    filters.has_refuse_seconds = 1;
    filters.refuse_seconds = 10;
    Mesos__V1__Scheduler__Call__Accept accept = MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
    accept.n_offer_ids = 1;
    accept.offer_ids = oids;
    accept.n_operations = 1;
    accept.operations = ops;
    accept.filters = &filters;
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    call.framework_id = &fid;
    call.has_type = 1;
    call.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT;
    call.accept = &accept;
    uint8_t *out = NULL;
    if (cm_sched_encode_call(&call, ct, &out, len) != 0)
        return NULL;
    return out;
}

static void check_accept(const Mesos__V1__Scheduler__Call *c)
{
    CHECK(c->has_type && c->type == MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT);
    REQUIRE(c->framework_id && c->accept);
    CHECK_STR(c->framework_id->value, "m-0000");
    REQUIRE(c->accept->n_offer_ids == 1 && c->accept->n_operations == 1);
    CHECK_STR(c->accept->offer_ids[0]->value, "m-O0");
    const Mesos__V1__Offer__Operation *op = c->accept->operations[0];
    CHECK(op->type == MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH);
    REQUIRE(op->launch && op->launch->n_task_infos == 1);
    CHECK_STR(op->launch->task_infos[0]->command->value, "echo hi");
    CHECK_STR(op->launch->task_infos[0]->agent_id->value, "m-S0");
    REQUIRE(c->accept->filters);
    CHECK(c->accept->filters->refuse_seconds == 10);
}

static void test_encode_json(void)
{
    size_t len = 0;
    uint8_t *body = encode_accept(CM_SCHEDULER_JSON, &len);
    REQUIRE(body);
    CHECK(len == strlen((char *)body));
    json_error_t jerr;
    json_t *j = json_loadb((const char *)body, len, 0, &jerr);
    REQUIRE(j);
    /* Mesos's mapping: enum names, snake_case keys, nested messages as objects. */
    CHECK_STR(json_string_value(json_object_get(j, "type")), "ACCEPT");
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "framework_id"), "value")),
              "m-0000");
    json_t *ops = json_object_get(json_object_get(j, "accept"), "operations");
    CHECK_STR(json_string_value(json_object_get(json_array_get(ops, 0), "type")), "LAUNCH");
    json_t *ti = json_array_get(
        json_object_get(json_object_get(json_array_get(ops, 0), "launch"), "task_infos"), 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(ti, "task_id"), "value")), "t1");
    json_decref(j);

    ProtobufCMessage *m = NULL;
    char why[256];
    REQUIRE(cm_pbjson_from_text(&mesos__v1__scheduler__call__descriptor, (char *)body, len, &m, why,
                                sizeof why) == 0);
    check_accept((Mesos__V1__Scheduler__Call *)m);
    protobuf_c_message_free_unpacked(m, NULL);
    free(body);
}

static void test_encode_protobuf(void)
{
    size_t len = 0;
    uint8_t *body = encode_accept(CM_SCHEDULER_PROTOBUF, &len);
    REQUIRE(body && len > 0);
    Mesos__V1__Scheduler__Call *c = mesos__v1__scheduler__call__unpack(NULL, len, body);
    REQUIRE(c);
    check_accept(c);
    mesos__v1__scheduler__call__free_unpacked(c, NULL);
    free(body);

    /* A call with no body (TEARDOWN) still encodes to a valid buffer. */
    Mesos__V1__Scheduler__Call t = MESOS__V1__SCHEDULER__CALL__INIT;
    t.has_type = 1;
    t.type = MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN;
    REQUIRE(cm_sched_encode_call(&t, CM_SCHEDULER_PROTOBUF, &body, &len) == 0);
    CHECK(body != NULL && len == 2);
    free(body);
    CHECK_STR(cm_sched_media_type(CM_SCHEDULER_PROTOBUF), "application/x-protobuf");
    CHECK_STR(cm_sched_media_type(CM_SCHEDULER_JSON), "application/json");
    CHECK_STR(cm_sched_call_type_name(MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE),
              "ACKNOWLEDGE");
    CHECK_STR(cm_sched_call_type_name((Mesos__V1__Scheduler__Call__Type)999), "UNKNOWN");
}

static Mesos__V1__Scheduler__Event *decode_json(const char *text, int *rc, char *why, size_t wl)
{
    Mesos__V1__Scheduler__Event *ev = NULL;
    *rc =
        cm_sched_decode_event(CM_SCHEDULER_JSON, (const uint8_t *)text, strlen(text), &ev, why, wl);
    return ev;
}

static void test_decode_json(void)
{
    char why[256];
    int rc;
    Mesos__V1__Scheduler__Event *ev =
        decode_json("{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":{\"value\":"
                    "\"m-0000\"},\"heartbeat_interval_seconds\":15.0}}",
                    &rc, why, sizeof why);
    REQUIRE(rc == 0 && ev);
    CHECK(ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED);
    CHECK_STR(ev->subscribed->framework_id->value, "m-0000");
    CHECK(ev->subscribed->heartbeat_interval_seconds == 15.0);
    protobuf_c_message_free_unpacked(&ev->base, NULL);

    /* OFFERS is nested ({"offers":{"offers":[...]}}), as in the trace in docs/wire-protocol.md
     * (Appendix A). */
    ev = decode_json("{\"type\":\"OFFERS\",\"offers\":{\"offers\":[{\"id\":{\"value\":\"m-O0\"},"
                     "\"framework_id\":{\"value\":\"m-0000\"},\"agent_id\":{\"value\":\"m-S0\"},"
                     "\"hostname\":\"a1\",\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
                     "\"scalar\":{\"value\":4.0},\"role\":\"*\"}]}]}}",
                     &rc, why, sizeof why);
    REQUIRE(rc == 0 && ev);
    REQUIRE(ev->offers->n_offers == 1);
    CHECK_STR(ev->offers->offers[0]->hostname, "a1");
    CHECK(ev->offers->offers[0]->resources[0]->scalar->value == 4.0);
    protobuf_c_message_free_unpacked(&ev->base, NULL);

    /* UPDATE with a base64 uuid of 16 bytes. */
    ev = decode_json("{\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":"
                     "\"t1\"},\"state\":\"TASK_RUNNING\",\"source\":\"SOURCE_EXECUTOR\","
                     "\"agent_id\":{\"value\":\"m-S0\"},\"uuid\":\"AAECAwQFBgcICQoLDA0ODw==\"}}}",
                     &rc, why, sizeof why);
    REQUIRE(rc == 0 && ev);
    const Mesos__V1__TaskStatus *st = ev->update->status;
    CHECK(st->state == MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK(st->has_uuid && st->uuid.len == 16 && st->uuid.data[15] == 15);
    CHECK(st->has_source && st->source == MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR);
    protobuf_c_message_free_unpacked(&ev->base, NULL);

    ev = decode_json("{\"type\":\"ERROR\",\"error\":{\"message\":\"Framework has been removed\"}}",
                     &rc, why, sizeof why);
    REQUIRE(rc == 0 && ev);
    CHECK_STR(ev->error->message, "Framework has been removed");
    protobuf_c_message_free_unpacked(&ev->base, NULL);

    ev = decode_json("{\"type\":\"HEARTBEAT\",\"unknown_key\":1}", &rc, why, sizeof why);
    REQUIRE(rc == 0 && ev);
    CHECK(ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT);
    protobuf_c_message_free_unpacked(&ev->base, NULL);

    /* Errors: not JSON, no type, a type without its body, a required field missing. */
    ev = decode_json("not json", &rc, why, sizeof why);
    CHECK(rc != 0 && ev == NULL);
    ev = decode_json("{}", &rc, why, sizeof why);
    CHECK(rc == CM_EINVAL && ev == NULL);
    ev = decode_json("{\"type\":\"UPDATE\"}", &rc, why, sizeof why);
    CHECK(rc == CM_EINVAL && ev == NULL);
    CHECK(strstr(why, "update") != NULL);
    ev = decode_json("{\"type\":\"ERROR\",\"message\":\"flat\"}", &rc, why, sizeof why);
    CHECK(rc == CM_EINVAL && ev == NULL);
    ev = decode_json("{\"type\":\"RESCIND\",\"rescind\":{}}", &rc, why, sizeof why);
    CHECK(rc != 0 && ev == NULL);
    ev = decode_json("[1,2]", &rc, why, sizeof why);
    CHECK(rc != 0 && ev == NULL);
}

static void test_decode_protobuf(void)
{
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Rescind rescind = MESOS__V1__SCHEDULER__EVENT__RESCIND__INIT;
    Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT;
    oid.value = "m-O7";
    rescind.offer_id = &oid;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND;
    ev.rescind = &rescind;
    uint8_t buf[128];
    size_t len = mesos__v1__scheduler__event__pack(&ev, buf);
    Mesos__V1__Scheduler__Event *out = NULL;
    char why[256];
    REQUIRE(cm_sched_decode_event(CM_SCHEDULER_PROTOBUF, buf, len, &out, why, sizeof why) == 0);
    CHECK_STR(out->rescind->offer_id->value, "m-O7");
    protobuf_c_message_free_unpacked(&out->base, NULL);

    /* Truncated bytes and a type without its body are refused. */
    CHECK(cm_sched_decode_event(CM_SCHEDULER_PROTOBUF, buf, len - 1, &out, why, sizeof why) ==
          CM_EPARSE);
    CHECK(out == NULL);
    ev.rescind = NULL;
    len = mesos__v1__scheduler__event__pack(&ev, buf);
    CHECK(cm_sched_decode_event(CM_SCHEDULER_PROTOBUF, buf, len, &out, why, sizeof why) ==
          CM_EINVAL);
    const uint8_t junk[] = {0xff, 0xff, 0xff};
    CHECK(cm_sched_decode_event(CM_SCHEDULER_PROTOBUF, junk, sizeof junk, &out, why, sizeof why) ==
          CM_EPARSE);
}

TEST_MAIN(TEST(test_master_url), TEST(test_resolve_location), TEST(test_backoff),
          TEST(test_encode_json), TEST(test_encode_protobuf), TEST(test_decode_json),
          TEST(test_decode_protobuf))
