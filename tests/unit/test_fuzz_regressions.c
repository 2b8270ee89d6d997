/* test_fuzz_regressions.c: every input the libFuzzer harnesses (tests/fuzz) found to break an
 * invariant of a cm_common parser, kept as a case with its input as found (hex) and the
 * behaviour the fix gives. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "errors.h"
#include "flags.h"
#include "mesos/v1/executor/executor.pb-c.h"
#include "mesos/v1/mesos.pb-c.h"
#include "mesos/v1/scheduler/scheduler.pb-c.h"
#include "pbjson.h"
#include "test.h"

/* Decodes hex into a malloc'd buffer. */
static uint8_t *unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    uint8_t *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    *len = n;
    return out;
}

/* fuzz_pbjson: a scheduler SUBSCRIBE (protobuf) whose offer_filters map holds a
 * min_allocatable_resources quantities map keyed by bytes that are not UTF-8. The entry used
 * to vanish from the JSON (jansson refuses such keys), so printing and reading back differed;
 * the key is now printed with its non-ASCII bytes marked, as string values are. */
static void test_map_key_not_utf8(void)
{
    size_t len;
    uint8_t *body =
        unhex("10011a4a0a480a04726f6f74120474657374210000000000004e40520208065a080a060a016b12017662"
              "03656e676a1e0a03656e6712170a150a130a110a04efd8ffff120909000000000000f03f",
              &len);
    char why[256];
    ProtobufCMessage *msg = NULL;
    REQUIRE(cm_pb_decode(&mesos__v1__scheduler__call__descriptor, CM_MEDIA_PROTOBUF, body, len,
                         &msg, why, sizeof why) == 0);
    char *text = cm_pbjson_to_text(msg);
    CHECK(strstr(text, "\"quantities\":{\"????\":{\"value\":1.0}}") != NULL);
    ProtobufCMessage *again = NULL;
    REQUIRE(cm_pbjson_from_text(&mesos__v1__scheduler__call__descriptor, text, strlen(text), &again,
                                why, sizeof why) == 0);
    char *text2 = cm_pbjson_to_text(again);
    CHECK_STR(text2, text);
    free(text2);
    free(text);
    protobuf_c_message_free_unpacked(again, NULL);
    protobuf_c_message_free_unpacked(msg, NULL);
    free(body);
}

/* fuzz_codec: an ACCEPT (protobuf) launching a task whose `limits` map has an entry without
 * its Value.Scalar. It decoded, then printed as {} which does not read back (Value.Scalar's
 * `value` is required). Such an entry stands for an empty Value.Scalar, so it is refused on
 * decode naming the field, as protobuf's C++ parser refuses it for Mesos. */
static void test_map_entry_without_required_value(void)
{
    size_t len;
    uint8_t *body =
        unhex("0a040a022573100322380a030a016f12310801122d0a2b0a017412030a01741a040a02257322130a04"
              "6370757310001a0909000000006000f03f7a061a0423727565",
              &len);
    char why[256];
    ProtobufCMessage *msg = NULL;
    int rc = cm_pb_decode(&mesos__v1__scheduler__call__descriptor, CM_MEDIA_PROTOBUF, body, len,
                          &msg, why, sizeof why);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(msg == NULL);
    CHECK(strstr(why, "limits[0].value") != NULL);
    if (!strstr(why, "limits[0].value"))
        fprintf(stderr, "why: %s\n", why);
    free(body);

    /* The same through the API: an entry with a value decodes, one without does not. */
    Mesos__V1__TaskInfo__LimitsEntry e = MESOS__V1__TASK_INFO__LIMITS_ENTRY__INIT, *ep = &e;
    Mesos__V1__Value__Scalar sc = MESOS__V1__VALUE__SCALAR__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__TaskInfo t = MESOS__V1__TASK_INFO__INIT;
    tid.value = "t";
    aid.value = "a";
    t.name = "t";
    t.task_id = &tid;
    t.agent_id = &aid;
    t.n_limits = 1;
    t.limits = &ep;
    e.key = "cpus";
    for (int with_value = 0; with_value < 2; with_value++) {
        e.value = with_value ? &sc : NULL;
        uint8_t wire[256];
        size_t n = protobuf_c_message_pack(&t.base, wire);
        msg = NULL;
        rc = cm_pb_decode(&mesos__v1__task_info__descriptor, CM_MEDIA_PROTOBUF, wire, n, &msg, why,
                          sizeof why);
        CHECK_INT(rc, with_value ? 0 : CM_EINVAL);
        if (msg)
            protobuf_c_message_free_unpacked(msg, NULL);
    }
}

/* fuzz_flags: "--port=0333...3" (49 digits) also read as a duration: 3.3e47 seconds, printed as
 * "5.51146384479718e+41weeks", which does not parse back (no exponents, as in stout), so /flags
 * and an executor's environment could carry a duration nothing reads. Durations beyond what
 * Mesos's Duration holds (int64 nanoseconds) are now refused, and none prints in exponent form. */
static void test_duration_prints_as_it_parses(void)
{
    double secs = 0;
    CHECK_INT(cm_duration_parse("0333333333333333333333333333333333333333333333333", &secs),
              CM_EINVAL);
    CHECK_INT(cm_duration_parse("15251weeks", &secs), CM_EINVAL);
    CHECK_INT(cm_duration_parse("15250weeks", &secs), 0);
    const double values[] = {CM_DURATION_MAX, 15250 * 604800.0, 1e-5, 1e-13, 1.5e-9, 90, 0.1,
                             1234.1,          1.0 / 3,          0};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char buf[64];
        cm_duration_format(values[i], buf, sizeof buf);
        CHECK(strstr(buf, "e+") == NULL && strstr(buf, "e-") == NULL);
        double back = -1;
        CHECK_INT(cm_duration_parse(buf, &back), 0);
        CHECK(fabs(back - values[i]) <= 1e-9 * (values[i] > 1 ? values[i] : 1));
        if (fabs(back - values[i]) > 1e-9 * (values[i] > 1 ? values[i] : 1))
            fprintf(stderr, "%.17g prints as '%s', reads back %.17g\n", values[i], buf, back);
    }
    char buf[64];
    cm_duration_format(90, buf, sizeof buf);
    CHECK_STR(buf, "1.5mins");
    cm_duration_format(1234.1, buf, sizeof buf);
    CHECK_STR(buf, "20.5683333333333mins");
    cm_duration_format(1e-5, buf, sizeof buf);
    CHECK_STR(buf, "10us");
    cm_duration_format(1e-14, buf, sizeof buf);
    CHECK_STR(buf, "0.00001ns");
}

/* fuzz_pbjson: a scheduler Call (protobuf) with an unknown field numbered 0, its tag written in
 * two bytes (82 00). protobuf-c took it and packed it back as a one-byte tag it refuses, so a
 * message passed on (say a TaskInfo the master forwards in RUN_TASK) would not decode at the
 * next hop. It is refused at the door, as protobuf's C++ parser does; other unknown fields
 * still pass. */
static void test_unknown_field_number_zero(void)
{
    size_t len;
    uint8_t *body = unhex("0a040a02500c820003"
                          "0a012a",
                          &len);
    char why[256];
    ProtobufCMessage *msg = NULL;
    CHECK_INT(cm_pb_decode(&mesos__v1__scheduler__call__descriptor, CM_MEDIA_PROTOBUF, body, len,
                           &msg, why, sizeof why),
              CM_EPARSE);
    CHECK(msg == NULL);
    CHECK(strstr(why, "field number 0") != NULL);
    free(body);
    /* Nested: inside the executor_id of an executor Call. */
    body = unhex("0a070a014182000100"
                 "12030a0165",
                 &len);
    CHECK_INT(cm_pb_decode(&mesos__v1__executor__call__descriptor, CM_MEDIA_PROTOBUF, body, len,
                           &msg, why, sizeof why),
              CM_EPARSE);
    CHECK(strstr(why, "executor_id") != NULL);
    if (!strstr(why, "executor_id"))
        fprintf(stderr, "why: %s\n", why);
    free(body);
    /* Field 99 (tag f8 06, varint 1) is only unknown: kept, and it packs and reads back. */
    body = unhex("0a030a0150f80601", &len);
    REQUIRE(cm_pb_decode(&mesos__v1__scheduler__call__descriptor, CM_MEDIA_PROTOBUF, body, len,
                         &msg, why, sizeof why) == 0);
    uint8_t wire[64];
    size_t n = protobuf_c_message_pack(msg, wire);
    ProtobufCMessage *back = NULL;
    CHECK_INT(cm_pb_decode(&mesos__v1__scheduler__call__descriptor, CM_MEDIA_PROTOBUF, wire, n,
                           &back, why, sizeof why),
              0);
    if (back)
        protobuf_c_message_free_unpacked(back, NULL);
    protobuf_c_message_free_unpacked(msg, NULL);
    free(body);
}

/* fuzz_codec: a double next to -DBL_MAX (the input had 0xffeffffffffffffe) printed with 15
 * digits as -1.79769313486232e+308, past DBL_MAX, which jansson refuses as an overflow: the JSON
 * the master wrote could not be read back. Such values now print with 17 digits and read back
 * exactly; ordinary values keep their short form. */
static void test_double_near_max_reads_back(void)
{
    const double values[] = {-DBL_MAX, nextafter(-DBL_MAX, 0), DBL_MAX, 1.7e308, 0.1};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        Mesos__V1__Value__Scalar sc = MESOS__V1__VALUE__SCALAR__INIT;
        sc.value = values[i];
        uint8_t *body = NULL;
        size_t blen = 0;
        REQUIRE(cm_pb_encode(&sc.base, CM_MEDIA_JSON, &body, &blen) == 0);
        ProtobufCMessage *back = NULL;
        char why[256];
        int rc = cm_pb_decode(&mesos__v1__value__scalar__descriptor, CM_MEDIA_JSON, body, blen,
                              &back, why, sizeof why);
        if (rc)
            fprintf(stderr, "%.*s: %s\n", (int)blen, (const char *)body, why);
        CHECK_INT(rc, 0);
        if (back)
            CHECK(((Mesos__V1__Value__Scalar *)back)->value == values[i]);
        if (values[i] == 0.1)
            CHECK(memmem(body, blen, "0.1}", 4) != NULL);
        if (back)
            protobuf_c_message_free_unpacked(back, NULL);
        free(body);
    }
}

TEST_MAIN(TEST(test_map_key_not_utf8), TEST(test_double_near_max_reads_back),
          TEST(test_map_entry_without_required_value), TEST(test_duration_prints_as_it_parses),
          TEST(test_unknown_field_number_zero))
