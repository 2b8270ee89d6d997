/*
 * test_recordio_stream_fuzz.c: the client stream decoder (stream_client.h: RecordIO, then
 * cm_pb_decode, then the owner's validator) under structured and random hostile input: out-of-range
 * enums, wrong-typed fields, truncated records, huge record lengths, and mutated streams fed in
 * random splits. Deterministic (fixed seeds); memory stays bounded by max_record.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "errors.h"
#include "fuzz_util.h"
#include "mesos/v1/executor/executor.pb-c.h"
#include "mesos/v1/scheduler/scheduler.pb-c.h"
#include "recordio.h"
#include "stream_client.h"
#include "test.h"

#define MAX_RECORD 4096

struct sink {
    int events;
    int types[64];
};

static void on_event(void *arg, const ProtobufCMessage *msg)
{
    struct sink *s = arg;
    const Mesos__V1__Scheduler__Event *ev = (const Mesos__V1__Scheduler__Event *)msg;
    /* What the policy promises the owner: a declared type, and the body it names. */
    CHECK(ev->has_type);
    CHECK(cm_enum_name(&mesos__v1__scheduler__event__type__descriptor, (int)ev->type) != NULL);
    if (ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE) {
        CHECK(ev->update && ev->update->status);
        CHECK(cm_enum_name(&mesos__v1__task_state__descriptor, (int)ev->update->status->state));
    }
    if (s->events < 64)
        s->types[s->events] = (int)ev->type;
    s->events++;
}

/* The owner's check, as libcmscheduler's: a type, and UPDATE carries its status. */
static int validate(void *arg, const ProtobufCMessage *msg, char *why, size_t whylen)
{
    (void)arg;
    const Mesos__V1__Scheduler__Event *ev = (const Mesos__V1__Scheduler__Event *)msg;
    if (!ev->has_type)
        return cm_fail(CM_EINVAL, why, whylen, "Event has no 'type'");
    if (ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE &&
        (!ev->update || !ev->update->status))
        return cm_fail(CM_EINVAL, why, whylen, "UPDATE lacks 'update.status'");
    return 0;
}

static struct cm_stream_decoder *dec_new(enum cm_media media, struct sink *s)
{
    memset(s, 0, sizeof *s);
    return cm_stream_decoder_new(&mesos__v1__scheduler__event__descriptor, media, MAX_RECORD,
                                 validate, on_event, s);
}

/* Appends n bytes (buf_splice at the end, spelled so GCC can see the bounds). */
static void buf_add(struct buf *b, const void *data, size_t n)
{
    buf_reserve(b, b->len + n);
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void frame(struct buf *out, const void *data, size_t len)
{
    char hdr[24];
    size_t hl = cm_recordio_header(len, hdr);
    buf_add(out, hdr, hl);
    buf_add(out, data, len);
}

static void frame_text(struct buf *out, const char *text)
{
    frame(out, text, strlen(text));
}

/* A well-formed protobuf UPDATE with the given state value (maybe undeclared). */
static void pb_update(struct buf *out, int state)
{
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Update up = MESOS__V1__SCHEDULER__EVENT__UPDATE__INIT;
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    tid.value = "t1";
    st.task_id = &tid;
    st.state = (Mesos__V1__TaskState)state;
    up.status = &st;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE;
    ev.update = &up;
    uint8_t *p;
    size_t n;
    REQUIRE(cm_pb_encode(&ev.base, CM_MEDIA_PROTOBUF, &p, &n) == 0);
    frame(out, p, n);
    free(p);
}

static void pb_type(struct buf *out, int type)
{
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    ev.has_type = 1;
    ev.type = (Mesos__V1__Scheduler__Event__Type)type;
    uint8_t *p;
    size_t n;
    REQUIRE(cm_pb_encode(&ev.base, CM_MEDIA_PROTOBUF, &p, &n) == 0);
    frame(out, p, n);
    free(p);
}

/* Feeds b in one piece; returns the result. */
static int feed_all(struct cm_stream_decoder *d, const struct buf *b, char *why, size_t wl)
{
    return cm_stream_decoder_feed(d, b->p, b->len, why, wl);
}

static void test_good_streams(void)
{
    struct buf b = {0};
    frame_text(&b, "{\"type\":\"HEARTBEAT\"}");
    frame_text(&b, "{\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":\"t\"},"
                   "\"state\":\"TASK_RUNNING\"}}}");
    frame_text(&b, "{\"type\":\"HEARTBEAT\",\"unknown_key\":[1,2,3]}");
    /* Every split of the stream into three pieces decodes the same three events. */
    for (size_t i = 0; i <= b.len; i += 7) {
        for (size_t j = i; j <= b.len; j += 11) {
            struct sink s;
            struct cm_stream_decoder *d = dec_new(CM_MEDIA_JSON, &s);
            char why[256] = "";
            CHECK_INT(cm_stream_decoder_feed(d, b.p, i, why, sizeof why), 0);
            CHECK_INT(cm_stream_decoder_feed(d, b.p + i, j - i, why, sizeof why), 0);
            CHECK_INT(cm_stream_decoder_feed(d, b.p + j, b.len - j, why, sizeof why), 0);
            CHECK_INT(s.events, 3);
            CHECK_INT(s.types[1], MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE);
            cm_stream_decoder_free(d);
        }
    }
    free(b.p);

    struct buf p = {0};
    pb_type(&p, MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT);
    pb_update(&p, MESOS__V1__TASK_STATE__TASK_FINISHED);
    struct sink s;
    struct cm_stream_decoder *d = dec_new(CM_MEDIA_PROTOBUF, &s);
    for (size_t i = 0; i < p.len; i++)
        CHECK_INT(cm_stream_decoder_feed(d, p.p + i, 1, NULL, 0), 0);
    CHECK_INT(s.events, 2);
    cm_stream_decoder_free(d);
    free(p.p);
}

/* One bad record after a good one: the good one is delivered, the bad one ends the stream
 * (never skipped), and the failure is sticky. */
static void expect_fail(enum cm_media media, const struct buf *bad, int want, const char *needle)
{
    struct buf b = {0};
    if (media == CM_MEDIA_JSON)
        frame_text(&b, "{\"type\":\"HEARTBEAT\"}");
    else
        pb_type(&b, MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT);
    buf_add(&b, bad->p, bad->len);
    /* A good record after the bad one must not be delivered. */
    if (media == CM_MEDIA_JSON)
        frame_text(&b, "{\"type\":\"HEARTBEAT\"}");
    else
        pb_type(&b, MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT);
    struct sink s;
    struct cm_stream_decoder *d = dec_new(media, &s);
    char why[512] = "";
    int rc = feed_all(d, &b, why, sizeof why);
    CHECK_INT(rc, want);
    CHECK_INT(s.events, 1);
    if (needle && !strstr(why, needle)) {
        printf("why '%s' lacks '%s'\n", why, needle);
        CHECK(0);
    }
    char why2[512] = "";
    CHECK_INT(cm_stream_decoder_feed(d, "1\n{", 3, why2, sizeof why2), want);
    CHECK_STR(why2, why);
    CHECK_INT(s.events, 1);
    cm_stream_decoder_free(d);
    free(b.p);
}

static void test_out_of_range_enums(void)
{
    struct buf bad = {0};
    /* An undeclared Event.type (optional) is unset by the codec; the owner's rule refuses it. */
    pb_type(&bad, 99);
    expect_fail(CM_MEDIA_PROTOBUF, &bad, CM_EINVAL, "Failed to de-serialize event");
    bad.len = 0;
    pb_type(&bad, -5);
    expect_fail(CM_MEDIA_PROTOBUF, &bad, CM_EINVAL, "type");
    /* An undeclared TaskStatus.state (required) fails in the codec, naming the field. */
    bad.len = 0;
    pb_update(&bad, 4242);
    expect_fail(CM_MEDIA_PROTOBUF, &bad, CM_EINVAL, "state");
    /* The same in JSON: unknown names. */
    bad.len = 0;
    frame_text(&bad, "{\"type\":\"NO_SUCH_EVENT\"}");
    expect_fail(CM_MEDIA_JSON, &bad, CM_EINVAL, NULL);
    bad.len = 0;
    frame_text(&bad, "{\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":\"t\"},"
                     "\"state\":\"TASK_EXPLODED\"}}}");
    expect_fail(CM_MEDIA_JSON, &bad, CM_EINVAL, NULL);
    free(bad.p);
}

static void test_wrong_types(void)
{
    static const char *const json[] = {
        "{\"type\":99}",
        "{\"type\":\"UPDATE\",\"update\":7}",
        "{\"type\":\"UPDATE\",\"update\":{\"status\":\"running\"}}",
        "{\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":5},"
        "\"state\":\"TASK_RUNNING\"}}}",
        "{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":[1]}}",
        "[\"type\",\"HEARTBEAT\"]",
        "{\"type\":\"HEARTBEAT\"",
        "",
        "\xff\xfe",
    };
    for (size_t i = 0; i < sizeof json / sizeof *json; i++) {
        struct buf bad = {0};
        if (json[i][0])
            frame_text(&bad, json[i]);
        else
            buf_add(&bad, "0\n", 2); /* an empty record is a framing error */
        struct buf b = {0};
        frame_text(&b, "{\"type\":\"HEARTBEAT\"}");
        buf_add(&b, bad.p, bad.len);
        struct sink s;
        struct cm_stream_decoder *d = dec_new(CM_MEDIA_JSON, &s);
        char why[512] = "";
        int rc = feed_all(d, &b, why, sizeof why);
        CHECK(rc == CM_EPARSE || rc == CM_EINVAL || rc == CM_EPROTO);
        CHECK_INT(s.events, 1);
        CHECK(why[0] != '\0');
        cm_stream_decoder_free(d);
        free(b.p);
        free(bad.p);
    }
    /* Protobuf: field 1 (type, a varint) sent as a length-delimited field, and a string field
     * sent as a varint. */
    static const uint8_t pb_bad[][6] = {
        {0x0a, 0x01, 0x01},       /* type as bytes */
        {0x12, 0x03, 0x08, 0x01}, /* subscribed: length 3 but 2 bytes follow (truncated) */
        {0x08, 0xff, 0xff},       /* an unterminated varint */
    };
    static const size_t pb_len[] = {3, 4, 3};
    for (size_t i = 0; i < 3; i++) {
        struct buf bad = {0};
        frame(&bad, pb_bad[i], pb_len[i]);
        expect_fail(CM_MEDIA_PROTOBUF, &bad, CM_EPARSE, "Failed to de-serialize event");
        free(bad.p);
    }
}

static void test_truncated_and_huge(void)
{
    /* A record cut short is not an error yet: the decoder waits, delivers nothing. */
    struct buf b = {0};
    frame_text(&b, "{\"type\":\"HEARTBEAT\"}");
    struct sink s;
    struct cm_stream_decoder *d = dec_new(CM_MEDIA_JSON, &s);
    CHECK_INT(cm_stream_decoder_feed(d, b.p, b.len - 1, NULL, 0), 0);
    CHECK_INT(s.events, 0);
    CHECK_INT(cm_stream_decoder_feed(d, b.p + b.len - 1, 1, NULL, 0), 0);
    CHECK_INT(s.events, 1);
    cm_stream_decoder_free(d);

    /* A protobuf payload truncated inside its own record: undecodable. */
    struct buf full = {0};
    pb_update(&full, MESOS__V1__TASK_STATE__TASK_RUNNING);
    const char *nl = memchr(full.p, '\n', full.len);
    size_t hl = (size_t)(nl - full.p) + 1;
    struct buf cut = {0};
    frame(&cut, full.p + hl, full.len - hl - 3);
    expect_fail(CM_MEDIA_PROTOBUF, &cut, CM_EPARSE, NULL);

    /* Huge lengths are refused from the header alone, before any allocation grows. */
    static const char *const huge[] = {"4097\n", "99999999999\n", "18446744073709551615\n",
                                       "99999999999999999999999\n", "000000000000000000000001\n"};
    for (size_t i = 0; i < sizeof huge / sizeof *huge; i++) {
        struct mallinfo2 before = mallinfo2();
        d = dec_new(CM_MEDIA_JSON, &s);
        char why[256] = "";
        int rc = cm_stream_decoder_feed(d, huge[i], strlen(huge[i]), why, sizeof why);
        CHECK(rc == CM_ETOOBIG || rc == CM_EPROTO);
        CHECK(strstr(why, "stream of events") != NULL);
        struct mallinfo2 after = mallinfo2();
        CHECK(after.uordblks < before.uordblks + 64 * 1024);
        cm_stream_decoder_free(d);
    }
    free(b.p);
    free(full.p);
    free(cut.p);
}

/* Random mutations of a valid stream, fed in random splits: no crash, only the documented
 * errors, sticky once failed, and never more events than records. */
static void test_random(void)
{
    struct rng r = {0x5eed5eed5eedULL};
    struct buf base_json = {0}, base_pb = {0};
    frame_text(&base_json, "{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":{\"value\":"
                           "\"f\"},\"heartbeat_interval_seconds\":15}}");
    frame_text(&base_json, "{\"type\":\"HEARTBEAT\"}");
    frame_text(&base_json,
               "{\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":"
               "\"t\"},\"state\":\"TASK_RUNNING\",\"uuid\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}}}");
    pb_type(&base_pb, MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT);
    pb_update(&base_pb, MESOS__V1__TASK_STATE__TASK_RUNNING);
    pb_type(&base_pb, MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT);
    struct mallinfo2 start = mallinfo2();
    int failures = 0, clean = 0;
    for (int iter = 0; iter < 20000; iter++) {
        bool pb = iter & 1;
        struct buf b = {0};
        const struct buf *src = pb ? &base_pb : &base_json;
        buf_add(&b, src->p, src->len);
        if (pb) {
            size_t nops = 1 + rng_below(&r, 3);
            for (size_t k = 0; k < nops && b.len; k++) {
                size_t at = rng_below(&r, b.len);
                switch (rng_below(&r, 4)) {
                case 0: b.p[at] = (char)rng_next(&r); break;
                case 1: buf_splice(&b, at, 1 + rng_below(&r, 4), "", 0); break;
                case 2: buf_splice(&b, at, 0, "\x08\xe3\x07", 3); break; /* a field 1 = 995 */
                default: buf_splice(&b, at, 0, "9", 1); break;           /* longer lengths */
                }
            }
        } else {
            mutate(&r, &b);
        }
        struct sink s;
        struct cm_stream_decoder *d = dec_new(pb ? CM_MEDIA_PROTOBUF : CM_MEDIA_JSON, &s);
        size_t off = 0;
        int rc = 0;
        while (off < b.len) {
            size_t n = 1 + rng_below(&r, 40);
            if (n > b.len - off)
                n = b.len - off;
            char why[256];
            int rc2 = cm_stream_decoder_feed(d, b.p + off, n, why, sizeof why);
            if (rc)
                CHECK_INT(rc2, rc);
            rc = rc2;
            off += n;
        }
        CHECK(rc == 0 || rc == CM_EPROTO || rc == CM_ETOOBIG || rc == CM_EPARSE || rc == CM_EINVAL);
        CHECK(s.events <= 8);
        if (rc)
            failures++;
        else
            clean++;
        cm_stream_decoder_free(d);
        free(b.p);
    }
    struct mallinfo2 end = mallinfo2();
    printf("random: %d streams failed as protocol errors, %d decoded cleanly\n", failures, clean);
    CHECK(failures > 1000);
    CHECK(clean > 100);
    /* Nothing leaks per stream (ASan checks the rest). */
    CHECK(end.uordblks < start.uordblks + 256 * 1024);
    free(base_json.p);
    free(base_pb.p);
}

/* The executor's events go through the same decoder. */
static void on_exec_event(void *arg, const ProtobufCMessage *msg)
{
    (*(int *)arg)++;
    CHECK(msg->descriptor == &mesos__v1__executor__event__descriptor);
}

static void test_executor_events(void)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__SHUTDOWN;
    uint8_t *p;
    size_t n;
    REQUIRE(cm_pb_encode(&ev.base, CM_MEDIA_PROTOBUF, &p, &n) == 0);
    struct buf b = {0};
    frame(&b, p, n);
    free(p);
    int count = 0;
    struct cm_stream_decoder *d = cm_stream_decoder_new(
        &mesos__v1__executor__event__descriptor, CM_MEDIA_PROTOBUF, 0, NULL, on_exec_event, &count);
    CHECK_INT(feed_all(d, &b, NULL, 0), 0);
    CHECK_INT(count, 1);
    CHECK_INT(cm_stream_decoder_feed(d, "3\n\x08\xff\xff", 5, NULL, 0), CM_EPARSE);
    CHECK_INT(count, 1);
    cm_stream_decoder_free(d);
    free(b.p);
}

TEST_MAIN(TEST(test_good_streams), TEST(test_out_of_range_enums), TEST(test_wrong_types),
          TEST(test_truncated_and_huge), TEST(test_random), TEST(test_executor_events))
