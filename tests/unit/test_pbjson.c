/* Unit tests for the protobuf <-> JSON converter against the Mesos mapping rules (§1.3). */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "errors.h"
#include "mesos/v1/mesos.pb-c.h"
#include "mesos/v1/scheduler/scheduler.pb-c.h"
#include "pbjson.h"
#include "test.h"

static ProtobufCMessage *parse_ok(const ProtobufCMessageDescriptor *d, const char *text)
{
    char why[256] = "";
    ProtobufCMessage *m = NULL;
    int rc = cm_pbjson_from_text(d, text, strlen(text), &m, why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "parse failed (%d): %s\n  input: %s\n", rc, why, text);
    return m;
}

static int parse_err(const ProtobufCMessageDescriptor *d, const char *text, char *why,
                     size_t whylen)
{
    ProtobufCMessage *m = NULL;
    why[0] = '\0';
    int rc = cm_pbjson_from_text(d, text, strlen(text), &m, why, whylen);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

static bool json_matches(json_t *got, const char *expected_text)
{
    json_error_t err;
    json_t *exp = json_loads(expected_text, 0, &err);
    if (!exp) {
        fprintf(stderr, "bad expected JSON: %s\n", err.text);
        return false;
    }
    bool eq = json_equal(got, exp);
    if (!eq) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        char *e = json_dumps(exp, JSON_COMPACT | JSON_SORT_KEYS);
        fprintf(stderr, "JSON mismatch:\n  got:      %s\n  expected: %s\n", g, e);
        free(g);
        free(e);
    }
    json_decref(exp);
    return eq;
}

/* JSON -> proto -> JSON must give expected; proto -> binary -> proto -> JSON and
 * JSON text -> proto -> JSON must give the same again. */
static void roundtrip(const ProtobufCMessageDescriptor *d, const char *input, const char *expected)
{
    ProtobufCMessage *m = parse_ok(d, input);
    REQUIRE(m);
    json_t *j1 = cm_pbjson_to_json(m);
    CHECK(json_matches(j1, expected));

    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    REQUIRE(buf);
    CHECK_INT(protobuf_c_message_pack(m, buf), len);
    ProtobufCMessage *m2 = protobuf_c_message_unpack(d, NULL, len, buf);
    free(buf);
    REQUIRE(m2);
    char why[256];
    CHECK_INT(cm_pbjson_check_required(m2, why, sizeof why), 0);
    json_t *j2 = cm_pbjson_to_json(m2);
    CHECK(json_equal(j1, j2));

    char *text = cm_pbjson_to_text(m);
    ProtobufCMessage *m3 = parse_ok(d, text);
    free(text);
    REQUIRE(m3);
    json_t *j3 = cm_pbjson_to_json(m3);
    CHECK(json_equal(j1, j3));

    json_decref(j1);
    json_decref(j2);
    json_decref(j3);
    protobuf_c_message_free_unpacked(m, NULL);
    protobuf_c_message_free_unpacked(m2, NULL);
    protobuf_c_message_free_unpacked(m3, NULL);
}

static void test_defaults_and_deprecated(void)
{
    ProtobufCMessage *m = parse_ok(&mesos__v1__framework_info__descriptor,
                                   "{\"user\":\"u\",\"name\":\"n\",\"roles\":[]}");
    REQUIRE(m);
    Mesos__V1__FrameworkInfo *fi = (Mesos__V1__FrameworkInfo *)m;
    CHECK(!fi->has_checkpoint);
    CHECK_INT(fi->n_roles, 0);
    json_t *j = cm_pbjson_to_json(m);
    /* Defaults emitted, deprecated role not, empty repeated omitted. */
    CHECK(json_matches(j, "{\"user\":\"u\",\"name\":\"n\",\"failover_timeout\":0.0,"
                          "\"checkpoint\":false}"));
    json_decref(j);
    protobuf_c_message_free_unpacked(m, NULL);

    m = parse_ok(&mesos__v1__framework_info__descriptor,
                 "{\"user\":\"u\",\"name\":\"n\",\"role\":\"*\",\"checkpoint\":\"true\"}");
    REQUIRE(m);
    j = cm_pbjson_to_json(m);
    CHECK(json_matches(j, "{\"user\":\"u\",\"name\":\"n\",\"failover_timeout\":0.0,"
                          "\"checkpoint\":true,\"role\":\"*\"}"));
    json_decref(j);
    protobuf_c_message_free_unpacked(m, NULL);

    m = parse_ok(&mesos__v1__filters__descriptor, "{}");
    REQUIRE(m);
    j = cm_pbjson_to_json(m);
    CHECK(json_matches(j, "{\"refuse_seconds\":5.0}"));
    json_decref(j);
    protobuf_c_message_free_unpacked(m, NULL);

    /* A Resource built in C with no role: role is not emitted. */
    Mesos__V1__Resource r = MESOS__V1__RESOURCE__INIT;
    Mesos__V1__Value__Scalar s = MESOS__V1__VALUE__SCALAR__INIT;
    s.value = 1.5;
    r.name = "cpus";
    r.type = MESOS__V1__VALUE__TYPE__SCALAR;
    r.scalar = &s;
    j = cm_pbjson_to_json(&r.base);
    CHECK(json_matches(j, "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1.5}}"));
    json_decref(j);
}

static void test_bytes_uuid(void)
{
    static const uint8_t uuid[16] = {0x62, 0x89, 0x84, 0xd0, 0x42, 0x13, 0x41, 0x40,
                                     0xbc, 0xb0, 0x99, 0xd7, 0xef, 0x46, 0xb1, 0xdf};
    char *b64 = cm_base64_encode(uuid, 16);
    CHECK_INT(strlen(b64), 24);
    CHECK_STR(b64, "YomE0EITQUC8sJnX70ax3w==");
    uint8_t *dec;
    size_t declen;
    CHECK_INT(cm_base64_decode(b64, strlen(b64), &dec, &declen), 0);
    CHECK_INT(declen, 16);
    CHECK(memcmp(dec, uuid, 16) == 0);
    free(dec);
    free(b64);

    /* RFC 4648 vectors. */
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *e = cm_base64_encode(plain[i], strlen(plain[i]));
        CHECK_STR(e, enc[i]);
        free(e);
        CHECK_INT(cm_base64_decode(enc[i], strlen(enc[i]), &dec, &declen), 0);
        CHECK_INT(declen, strlen(plain[i]));
        CHECK(memcmp(dec, plain[i], declen) == 0);
        free(dec);
    }
    CHECK_INT(cm_base64_decode("Zm9v!", 5, &dec, &declen), CM_EPARSE);
    CHECK_INT(cm_base64_decode("Z===", 4, &dec, &declen), CM_EPARSE);
    CHECK_INT(cm_base64_decode("Zm9vY", 5, &dec, &declen), CM_EPARSE);

    const char *in = "{\"task_id\":{\"value\":\"t1\"},\"state\":\"TASK_RUNNING\","
                     "\"uuid\":\"YomE0EITQUC8sJnX70ax3w==\",\"data\":\"aGk=\"}";
    ProtobufCMessage *m = parse_ok(&mesos__v1__task_status__descriptor, in);
    REQUIRE(m);
    Mesos__V1__TaskStatus *st = (Mesos__V1__TaskStatus *)m;
    CHECK(st->has_uuid && st->uuid.len == 16 && memcmp(st->uuid.data, uuid, 16) == 0);
    CHECK(st->has_data && st->data.len == 2 && memcmp(st->data.data, "hi", 2) == 0);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    json_t *j = cm_pbjson_to_json(m);
    CHECK_STR(json_string_value(json_object_get(j, "uuid")), "YomE0EITQUC8sJnX70ax3w==");
    CHECK_STR(json_string_value(json_object_get(j, "state")), "TASK_RUNNING");
    json_decref(j);
    protobuf_c_message_free_unpacked(m, NULL);

    char why[256];
    CHECK_INT(
        parse_err(&mesos__v1__task_status__descriptor,
                  "{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_RUNNING\",\"uuid\":\"@@\"}", why,
                  sizeof why),
        CM_EINVAL);
    CHECK(strstr(why, "uuid") != NULL);
}

static void test_int64_and_doubles(void)
{
    ProtobufCMessage *m =
        parse_ok(&mesos__v1__time_info__descriptor, "{\"nanoseconds\":\"1700000000123456789\"}");
    REQUIRE(m);
    CHECK(((Mesos__V1__TimeInfo *)m)->nanoseconds == 1700000000123456789LL);
    json_t *j = cm_pbjson_to_json(m);
    CHECK(json_is_integer(json_object_get(j, "nanoseconds")));
    CHECK(json_integer_value(json_object_get(j, "nanoseconds")) == 1700000000123456789LL);
    json_decref(j);
    protobuf_c_message_free_unpacked(m, NULL);

    m = parse_ok(&mesos__v1__time_info__descriptor, "{\"nanoseconds\":-5}");
    REQUIRE(m);
    CHECK(((Mesos__V1__TimeInfo *)m)->nanoseconds == -5);
    protobuf_c_message_free_unpacked(m, NULL);

    char why[256];
    CHECK_INT(
        parse_err(&mesos__v1__time_info__descriptor, "{\"nanoseconds\":1.5}", why, sizeof why),
        CM_EINVAL);
    CHECK(strstr(why, "nanoseconds") != NULL);
    CHECK_INT(
        parse_err(&mesos__v1__time_info__descriptor, "{\"nanoseconds\":\"12x\"}", why, sizeof why),
        CM_EINVAL);
    CHECK_INT(
        parse_err(&mesos__v1__time_info__descriptor, "{\"nanoseconds\":true}", why, sizeof why),
        CM_EINVAL);

    /* uint64 ranges: strings beyond INT64_MAX, negatives refused. */
    m = parse_ok(&mesos__v1__value__range__descriptor,
                 "{\"begin\":\"18446744073709551615\",\"end\":31000}");
    REQUIRE(m);
    CHECK(((Mesos__V1__Value__Range *)m)->begin == UINT64_MAX);
    protobuf_c_message_free_unpacked(m, NULL);
    CHECK_INT(parse_err(&mesos__v1__value__range__descriptor, "{\"begin\":-1,\"end\":2}", why,
                        sizeof why),
              CM_EINVAL);

    /* int32 overflow refused. */
    CHECK_INT(parse_err(&mesos__v1__agent_info__descriptor,
                        "{\"hostname\":\"h\",\"port\":4294967296}", why, sizeof why),
              CM_EINVAL);
    CHECK(strstr(why, "port") != NULL);

    const char *doubles[] = {"\"Infinity\"", "\"-Infinity\"", "\"2.5\"", "2.5", "3", "\"NaN\""};
    for (int i = 0; i < 6; i++) {
        char in[64];
        snprintf(in, sizeof in, "{\"value\":%s}", doubles[i]);
        m = parse_ok(&mesos__v1__value__scalar__descriptor, in);
        REQUIRE(m);
        double v = ((Mesos__V1__Value__Scalar *)m)->value;
        if (i == 0)
            CHECK(isinf(v) && v > 0);
        else if (i == 1)
            CHECK(isinf(v) && v < 0);
        else if (i == 5)
            CHECK(isnan(v));
        else if (i == 4)
            CHECK(v == 3.0);
        else
            CHECK(v == 2.5);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    CHECK_INT(
        parse_err(&mesos__v1__value__scalar__descriptor, "{\"value\":\"abc\"}", why, sizeof why),
        CM_EINVAL);
    CHECK_INT(parse_err(&mesos__v1__value__scalar__descriptor, "{\"value\":\"\"}", why, sizeof why),
              CM_EINVAL);

    Mesos__V1__Value__Scalar s = MESOS__V1__VALUE__SCALAR__INIT;
    s.value = INFINITY;
    j = cm_pbjson_to_json(&s.base);
    CHECK_STR(json_string_value(json_object_get(j, "value")), "Infinity");
    json_decref(j);
    s.value = 0.1;
    char *t = cm_pbjson_to_text(&s.base);
    CHECK_STR(t, "{\"value\":0.1}");
    free(t);
}

static void test_bools_and_types(void)
{
    char why[256];
    ProtobufCMessage *m = parse_ok(&mesos__v1__framework_info__descriptor,
                                   "{\"user\":\"u\",\"name\":\"n\",\"checkpoint\":\"false\"}");
    REQUIRE(m);
    CHECK(((Mesos__V1__FrameworkInfo *)m)->has_checkpoint);
    CHECK(!((Mesos__V1__FrameworkInfo *)m)->checkpoint);
    protobuf_c_message_free_unpacked(m, NULL);
    CHECK_INT(parse_err(&mesos__v1__framework_info__descriptor,
                        "{\"user\":\"u\",\"name\":\"n\",\"checkpoint\":\"yes\"}", why, sizeof why),
              CM_EINVAL);
    CHECK(strstr(why, "checkpoint") != NULL);
    CHECK_INT(parse_err(&mesos__v1__framework_info__descriptor, "{\"user\":5,\"name\":\"n\"}", why,
                        sizeof why),
              CM_EINVAL);
    CHECK(strstr(why, "'user'") != NULL);
    CHECK_INT(parse_err(&mesos__v1__framework_info__descriptor,
                        "{\"user\":\"u\",\"name\":\"n\",\"roles\":\"a\"}", why, sizeof why),
              CM_EINVAL);
    CHECK_INT(parse_err(&mesos__v1__framework_info__descriptor,
                        "{\"user\":\"u\",\"name\":\"n\",\"id\":\"x\"}", why, sizeof why),
              CM_EINVAL);
    CHECK(strstr(why, "'id'") != NULL);
}

static void test_unknown_and_null(void)
{
    ProtobufCMessage *m = parse_ok(&mesos__v1__framework_info__descriptor,
                                   "{\"user\":\"u\",\"name\":\"n\",\"bogus\":{\"x\":[1,2]},"
                                   "\"hostname\":null,\"roles\":[\"a\",null,\"b\"]}");
    REQUIRE(m);
    Mesos__V1__FrameworkInfo *fi = (Mesos__V1__FrameworkInfo *)m;
    CHECK(fi->hostname == NULL);
    CHECK_INT(fi->n_roles, 2);
    CHECK_STR(fi->roles[1], "b");
    protobuf_c_message_free_unpacked(m, NULL);
}

static void test_enums(void)
{
    char why[256];
    /* Optional unknown enum: dropped. */
    ProtobufCMessage *m = parse_ok(&mesos__v1__task_status__descriptor,
                                   "{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_FAILED\","
                                   "\"source\":\"SOURCE_BOGUS\",\"reason\":\"REASON_GC_ERROR\"}");
    REQUIRE(m);
    Mesos__V1__TaskStatus *st = (Mesos__V1__TaskStatus *)m;
    CHECK(!st->has_source);
    CHECK(st->has_reason && st->reason == MESOS__V1__TASK_STATUS__REASON__REASON_GC_ERROR);
    protobuf_c_message_free_unpacked(m, NULL);

    /* Required unknown enum: error naming the field. */
    CHECK_INT(parse_err(&mesos__v1__task_status__descriptor,
                        "{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_BOGUS\"}", why,
                        sizeof why),
              CM_EINVAL);
    CHECK_STR(why, "Field 'state': unknown enum value 'TASK_BOGUS'");

    /* Capabilities with unknown types keep their element but lose the type. */
    m = parse_ok(&mesos__v1__framework_info__descriptor,
                 "{\"user\":\"u\",\"name\":\"n\",\"capabilities\":[{\"type\":\"MULTI_ROLE\"},"
                 "{\"type\":\"FUTURE_THING\"}]}");
    REQUIRE(m);
    Mesos__V1__FrameworkInfo *fi = (Mesos__V1__FrameworkInfo *)m;
    CHECK_INT(fi->n_capabilities, 2);
    CHECK(fi->capabilities[0]->has_type);
    CHECK(!fi->capabilities[1]->has_type);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void test_missing_required(void)
{
    char why[256];
    CHECK_INT(
        parse_err(&mesos__v1__scheduler__call__descriptor,
                  "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"name\":\"x\"}}}",
                  why, sizeof why),
        CM_EINVAL);
    CHECK_STR(why, "Missing required fields: subscribe.framework_info.user");
    CHECK_INT(parse_err(&mesos__v1__task_status__descriptor, "{}", why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "Missing required fields: task_id, state");
    CHECK_INT(parse_err(&mesos__v1__offer__descriptor,
                        "{\"id\":{\"value\":\"o\"},\"framework_id\":{\"value\":\"f\"},"
                        "\"agent_id\":{\"value\":\"a\"},\"hostname\":\"h\","
                        "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\"},{\"name\":\"x\"}]}",
                        why, sizeof why),
              CM_EINVAL);
    CHECK_STR(why, "Missing required fields: resources[1].type");

    /* check_required on a message built in C. */
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    CHECK_INT(cm_pbjson_check_required(&st.base, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "Missing required fields: task_id");
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    st.task_id = &tid;
    CHECK_INT(cm_pbjson_check_required(&st.base, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "Missing required fields: task_id.value");
    tid.value = "t";
    CHECK_INT(cm_pbjson_check_required(&st.base, why, sizeof why), 0);
}

static void test_top_level_and_depth(void)
{
    char why[256];
    CHECK_INT(parse_err(&mesos__v1__task_id__descriptor, "[1]", why, sizeof why), CM_EINVAL);
    CHECK_INT(parse_err(&mesos__v1__task_id__descriptor, "\"x\"", why, sizeof why), CM_EINVAL);
    CHECK_INT(parse_err(&mesos__v1__task_id__descriptor, "{nope", why, sizeof why), CM_EPARSE);
    CHECK_INT(parse_err(&mesos__v1__task_id__descriptor, "", why, sizeof why), CM_EPARSE);
    json_t *arr = json_array();
    ProtobufCMessage *m = NULL;
    CHECK_INT(cm_pbjson_from_json(&mesos__v1__task_id__descriptor, arr, &m, why, sizeof why),
              CM_EINVAL);
    CHECK(m == NULL);
    json_decref(arr);

    /* 100 levels of an unknown key: refused by the text depth check. */
    char deep[1024] = "{\"value\":\"t\",\"x\":";
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    for (int i = 0; i < 100; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    CHECK_INT(parse_err(&mesos__v1__task_id__descriptor, deep, why, sizeof why), CM_ETOOBIG);

    /* A recursive message (ContainerID.parent) nested beyond the cap through from_json. */
    json_t *root = json_pack("{s:s}", "value", "c0");
    json_t *cur = root;
    for (int i = 1; i < CM_PBJSON_MAX_DEPTH + 5; i++) {
        json_t *p = json_pack("{s:s}", "value", "c");
        json_object_set_new(cur, "parent", p);
        cur = p;
    }
    CHECK_INT(cm_pbjson_from_json(&mesos__v1__container_id__descriptor, root, &m, why, sizeof why),
              CM_ETOOBIG);
    CHECK(m == NULL);
    json_decref(root);

    /* Within the cap it works. */
    root = json_pack("{s:s}", "value", "c0");
    cur = root;
    for (int i = 1; i < 10; i++) {
        json_t *p = json_pack("{s:s}", "value", "c");
        json_object_set_new(cur, "parent", p);
        cur = p;
    }
    CHECK_INT(cm_pbjson_from_json(&mesos__v1__container_id__descriptor, root, &m, why, sizeof why),
              0);
    protobuf_c_message_free_unpacked(m, NULL);
    json_decref(root);
}

static void test_oneof(void)
{
    roundtrip(&mesos__v1__scheduler__attribute_constraint__descriptor,
              "{\"selector\":{\"attribute_name\":\"rack\"},\"predicate\":{\"exists\":{}}}",
              "{\"selector\":{\"attribute_name\":\"rack\"},\"predicate\":{\"exists\":{}}}");
    ProtobufCMessage *m =
        parse_ok(&mesos__v1__scheduler__attribute_constraint__descriptor,
                 "{\"selector\":{\"pseudoattribute_type\":\"HOSTNAME\",\"attribute_name\":\"x\"},"
                 "\"predicate\":{\"text_equals\":{\"value\":\"v\"}}}");
    REQUIRE(m);
    json_t *j = cm_pbjson_to_json(m);
    /* Only one member of a oneof survives. */
    CHECK_INT(json_object_size(json_object_get(j, "selector")), 1);
    json_decref(j);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void test_roundtrip_subscribe(void)
{
    roundtrip(
        &mesos__v1__scheduler__call__descriptor,
        "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"root\","
        "\"name\":\"test\",\"roles\":[\"eng\"],\"capabilities\":[{\"type\":\"MULTI_ROLE\"}],"
        "\"failover_timeout\":\"60\",\"labels\":{\"labels\":[{\"key\":\"k\",\"value\":\"v\"}]},"
        "\"offer_filters\":{\"eng\":{\"min_allocatable_resources\":{\"quantities\":[{"
        "\"quantities\":{\"cpus\":{\"value\":1}}}]}}}}}}",
        "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"root\","
        "\"name\":\"test\",\"roles\":[\"eng\"],\"capabilities\":[{\"type\":\"MULTI_ROLE\"}],"
        "\"failover_timeout\":60.0,\"checkpoint\":false,"
        "\"labels\":{\"labels\":[{\"key\":\"k\",\"value\":\"v\"}]},"
        "\"offer_filters\":{\"eng\":{\"min_allocatable_resources\":{\"quantities\":[{"
        "\"quantities\":{\"cpus\":{\"value\":1.0}}}]}}}}}}");
}

static const char accept_in[] =
    "{\"framework_id\":{\"value\":\"fw-0001\"},\"type\":\"ACCEPT\",\"accept\":{"
    "\"offer_ids\":[{\"value\":\"m-O1\"}],\"filters\":{\"refuse_seconds\":1},"
    "\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[{"
    "\"name\":\"t\",\"task_id\":{\"value\":\"t1\"},\"agent_id\":{\"value\":\"m-S0\"},"
    "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1},"
    "\"role\":\"*\",\"allocation_info\":{\"role\":\"eng\"}},"
    "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":31000,"
    "\"end\":31005}]}},"
    "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":10},\"reservations\":[{"
    "\"type\":\"DYNAMIC\",\"role\":\"eng\",\"principal\":\"p\"}]}],"
    "\"command\":{\"value\":\"sleep 10\",\"uris\":[{\"value\":\"http://x/y.tgz\"}],"
    "\"environment\":{\"variables\":[{\"name\":\"A\",\"value\":\"1\"}]}},"
    "\"limits\":{\"cpus\":{\"value\":\"Infinity\"},\"mem\":{\"value\":256}},"
    "\"data\":\"aGVsbG8=\"}]}}]}}";

static const char accept_out[] =
    "{\"framework_id\":{\"value\":\"fw-0001\"},\"type\":\"ACCEPT\",\"accept\":{"
    "\"offer_ids\":[{\"value\":\"m-O1\"}],\"filters\":{\"refuse_seconds\":1.0},"
    "\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[{"
    "\"name\":\"t\",\"task_id\":{\"value\":\"t1\"},\"agent_id\":{\"value\":\"m-S0\"},"
    "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1},"
    "\"role\":\"*\",\"allocation_info\":{\"role\":\"eng\"}},"
    "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":31000,"
    "\"end\":31005}]}},"
    "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":10.0},\"reservations\":[{"
    "\"type\":\"DYNAMIC\",\"role\":\"eng\",\"principal\":\"p\"}]}],"
    "\"command\":{\"value\":\"sleep 10\",\"shell\":true,\"uris\":[{\"value\":\"http://x/y.tgz\","
    "\"extract\":true}],"
    "\"environment\":{\"variables\":[{\"name\":\"A\",\"value\":\"1\",\"type\":\"VALUE\"}]}},"
    "\"limits\":{\"cpus\":{\"value\":\"Infinity\"},\"mem\":{\"value\":256.0}},"
    "\"data\":\"aGVsbG8=\"}]}}]}}";

static void test_roundtrip_accept(void)
{
    roundtrip(&mesos__v1__scheduler__call__descriptor, accept_in, accept_out);
    ProtobufCMessage *m = parse_ok(&mesos__v1__scheduler__call__descriptor, accept_in);
    REQUIRE(m);
    Mesos__V1__Scheduler__Call *c = (Mesos__V1__Scheduler__Call *)m;
    REQUIRE(c->accept && c->accept->n_operations == 1);
    Mesos__V1__TaskInfo *ti = c->accept->operations[0]->launch->task_infos[0];
    CHECK_INT(ti->n_limits, 2);
    CHECK_INT(ti->n_resources, 3);
    CHECK(ti->resources[1]->ranges->range[0]->end == 31005);
    CHECK(ti->command->shell); /* the default, unset */
    CHECK(!ti->command->has_shell);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void test_roundtrip_offers(void)
{
    const char *offer =
        "{\"id\":{\"value\":\"m-O7\"},\"framework_id\":{\"value\":\"m-0000\"},"
        "\"agent_id\":{\"value\":\"m-S1\"},\"hostname\":\"host1\","
        "\"resources\":[{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1024.5},"
        "\"role\":\"*\"},{\"name\":\"x\",\"type\":\"SET\",\"set\":{\"item\":[\"a\",\"b\"]}}],"
        "\"attributes\":[{\"name\":\"rack\",\"type\":\"TEXT\",\"text\":{\"value\":\"r1\"}}],"
        "\"allocation_info\":{\"role\":\"eng\"}}";
    roundtrip(&mesos__v1__offer__descriptor, offer, offer);

    char in[2048];
    snprintf(in, sizeof in, "{\"type\":\"OFFERS\",\"offers\":{\"offers\":[%s]}}", offer);
    roundtrip(&mesos__v1__scheduler__event__descriptor, in, in);
    ProtobufCMessage *m = parse_ok(&mesos__v1__scheduler__event__descriptor, in);
    REQUIRE(m);
    json_t *j = cm_pbjson_to_json(m);
    json_t *inner = json_object_get(json_object_get(j, "offers"), "offers");
    CHECK(json_is_array(inner) && json_array_size(inner) == 1);
    json_decref(j);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void test_roundtrip_update(void)
{
    const char *in =
        "{\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":\"t1\"},"
        "\"state\":\"TASK_RUNNING\",\"source\":\"SOURCE_EXECUTOR\",\"agent_id\":{\"value\":"
        "\"m-S0\"},\"executor_id\":{\"value\":\"t1\"},\"timestamp\":1700000000.25,"
        "\"uuid\":\"YomE0EITQUC8sJnX70ax3w==\",\"healthy\":true,"
        "\"container_status\":{\"container_id\":{\"value\":\"c\"},\"network_infos\":[{"
        "\"ip_addresses\":[{\"ip_address\":\"127.0.0.1\"}]}]}}}}";
    /* NetworkInfo.IPAddress.protocol has [default = IPv4], so it appears on output. */
    const char *out =
        "{\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":\"t1\"},"
        "\"state\":\"TASK_RUNNING\",\"source\":\"SOURCE_EXECUTOR\",\"agent_id\":{\"value\":"
        "\"m-S0\"},\"executor_id\":{\"value\":\"t1\"},\"timestamp\":1700000000.25,"
        "\"uuid\":\"YomE0EITQUC8sJnX70ax3w==\",\"healthy\":true,"
        "\"container_status\":{\"container_id\":{\"value\":\"c\"},\"network_infos\":[{"
        "\"ip_addresses\":[{\"ip_address\":\"127.0.0.1\",\"protocol\":\"IPv4\"}]}]}}}}";
    roundtrip(&mesos__v1__scheduler__event__descriptor, in, out);
}

TEST_MAIN(TEST(test_defaults_and_deprecated), TEST(test_bytes_uuid), TEST(test_int64_and_doubles),
          TEST(test_bools_and_types), TEST(test_unknown_and_null), TEST(test_enums),
          TEST(test_missing_required), TEST(test_top_level_and_depth), TEST(test_oneof),
          TEST(test_roundtrip_subscribe), TEST(test_roundtrip_accept), TEST(test_roundtrip_offers),
          TEST(test_roundtrip_update))
