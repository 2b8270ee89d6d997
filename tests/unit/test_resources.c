/* Unit tests for resource arithmetic, parsing, protobuf conversion and summaries. */
#include <math.h>
#include <string.h>

#define PROTOBUF_C__NO_DEPRECATED 1

#include "errors.h"
#include "pbjson.h"
#include "resources.h"
#include "test.h"

static void parse(struct cm_resources *r, const char *text)
{
    char why[256] = "";
    int rc = cm_resources_parse(r, text, NULL, why, sizeof why);
    if (rc)
        fprintf(stderr, "parse '%s' failed: %s\n", text, why);
    CHECK_INT(rc, 0);
}

static bool formats_as(const struct cm_resources *r, const char *expected)
{
    char *s = cm_resources_format(r);
    bool ok = strcmp(s, expected) == 0;
    if (!ok)
        fprintf(stderr, "format: got '%s', expected '%s'\n", s, expected);
    free(s);
    return ok;
}

static void test_scalar_fixed_point(void)
{
    CHECK(cm_scalar_from_double(0.1) == 100);
    CHECK(cm_scalar_from_double(0.0004) == 0);
    CHECK(cm_scalar_from_double(0.0005) == 1);
    CHECK(cm_scalar_from_double(1024) == 1024000);
    CHECK(cm_scalar_to_double(300) == 0.3);

    struct cm_resources a, b;
    cm_resources_init(&a);
    cm_resources_init(&b);
    parse(&a, "cpus:0.1");
    parse(&b, "cpus:0.2");
    cm_resources_add(&a, &b);
    CHECK(cm_resources_scalar(&a, "cpus") == 300);
    CHECK(cm_scalar_to_double(cm_resources_scalar(&a, "cpus")) == 0.3);
    /* Subtracting back lands exactly on the original. */
    cm_resources_subtract(&a, &b);
    CHECK(cm_resources_scalar(&a, "cpus") == 100);
    cm_resources_subtract(&a, &b); /* clamps at zero and drops the entry */
    CHECK(cm_resources_empty(&a));
    cm_resources_cleanup(&a);
    cm_resources_cleanup(&b);
}

static void test_parse_text(void)
{
    struct cm_resources r;
    cm_resources_init(&r);
    parse(&r, "cpus:2;mem:1024;disk(role):10;ports:[31000-32000, 33000-33010];x:{b,a}");
    CHECK_INT(r.n, 5);
    CHECK(cm_resources_scalar(&r, "cpus") == 2000);
    CHECK(cm_resources_scalar(&r, "mem") == 1024000);
    CHECK(cm_resources_scalar(&r, "disk") == 10000);
    CHECK(formats_as(&r, "cpus(*):2; mem(*):1024; disk(role):10; "
                         "ports(*):[31000-32000, 33000-33010]; x(*):{a, b}"));
    /* The formatted text parses back to the same bag. */
    char *s = cm_resources_format(&r);
    struct cm_resources r2;
    cm_resources_init(&r2);
    parse(&r2, s);
    free(s);
    CHECK(cm_resources_equal(&r, &r2));
    cm_resources_cleanup(&r2);
    cm_resources_cleanup(&r);

    /* Repeated names merge; default role applies to unroled entries. */
    cm_resources_init(&r);
    char why[256];
    CHECK_INT(
        cm_resources_parse(&r, " cpus:1 ; cpus:1.5; ports:[1-2,3-4]; ", "eng", why, sizeof why), 0);
    CHECK(formats_as(&r, "cpus(eng):2.5; ports(eng):[1-4]"));
    cm_resources_cleanup(&r);
}

static void test_parse_errors(void)
{
    static const char *bad[] = {
        "cpus:abc",
        "cpus:-1",
        "ports:[5-3]",
        "mem",
        ":5",
        "cpus:nan",
        "cpus:inf",
        "cpus:Infinity",
        "ports:[1-2",
        "ports:[x-2]",
        "ports:[5]",
        "x:{a,b",
        "cpus(/x):1",
        "cpus():1",
        "cpus:",
        "cpus:1e999",
        "cpus:1e13",
        "[{\"name\":\"cpus\",\"type\":\"TEXT\",\"text\":{\"value\":\"x\"}}]",
        "[{\"name\":\"cpus\",\"type\":\"BOGUS\",\"scalar\":{\"value\":1}}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\"}]",
        "[{\"name\":\"\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":-1}}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":"
        "\"NaN\"}}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":"
        "\"Infinity\"}}]",
        "[1]",
        "[{\"name\":\"p\",\"type\":\"RANGES\",\"ranges\":{\"range\":"
        "[{\"begin\":5,\"end\":3}]}}]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cm_resources r;
        cm_resources_init(&r);
        char why[256] = "";
        int rc = cm_resources_parse(&r, bad[i], NULL, why, sizeof why);
        if (rc != CM_EINVAL)
            fprintf(stderr, "'%s' was accepted (rc %d)\n", bad[i], rc);
        CHECK_INT(rc, CM_EINVAL);
        CHECK(why[0] != '\0');
        cm_resources_cleanup(&r);
    }
    char why[256];
    struct cm_resources r;
    cm_resources_init(&r);
    CHECK_INT(cm_resources_parse(&r, "cpus:abc", NULL, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'cpus'") != NULL);
    CHECK_INT(cm_resources_parse(&r, "ports:[5-3]", NULL, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'ports'") != NULL);
    CHECK_INT(cm_resources_parse(&r, "mem", NULL, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'mem'") != NULL);
    cm_resources_cleanup(&r);
}

static void test_parse_json(void)
{
    struct cm_resources r;
    cm_resources_init(&r);
    parse(&r, "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},"
              "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":100},\"role\":\"eng\","
              "\"reservation\":{\"principal\":\"ops\"}},"
              "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":64},\"reservations\":[{"
              "\"type\":\"STATIC\",\"role\":\"eng\"},{\"type\":\"DYNAMIC\",\"role\":\"eng/web\","
              "\"principal\":\"p\"}]},"
              "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":10,"
              "\"end\":20},{\"begin\":15,\"end\":30}]}},"
              "{\"name\":\"zones\",\"type\":\"SET\",\"set\":{\"item\":[\"b\",\"a\",\"b\"]}}]");
    CHECK(formats_as(&r, "cpus(*):4; disk(eng, dynamic, ops):100; mem(eng/web, dynamic, p):64; "
                         "ports(*):[10-30]; zones(*):{a, b}"));
    cm_resources_cleanup(&r);

    /* Mixing role with reservations is refused. */
    cm_resources_init(&r);
    char why[256];
    CHECK_INT(cm_resources_parse(&r,
                                 "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
                                 "\"role\":\"eng\",\"reservations\":[{\"type\":\"STATIC\","
                                 "\"role\":\"eng\"}]}]",
                                 NULL, why, sizeof why),
              CM_EINVAL);
    CHECK(strstr(why, "'cpus'") != NULL);
    /* A dynamic reservation to "*" is refused. */
    CHECK_INT(cm_resources_parse(&r,
                                 "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
                                 "\"reservation\":{\"principal\":\"x\"}}]",
                                 NULL, why, sizeof why),
              CM_EINVAL);
    CHECK(cm_resources_empty(&r));
    cm_resources_cleanup(&r);
}

static void test_ranges(void)
{
    struct cm_resources a, b;
    cm_resources_init(&a);
    cm_resources_init(&b);
    parse(&a, "ports:[1-10, 20-30]");
    parse(&b, "ports:[11-19]");
    cm_resources_add(&a, &b);
    CHECK(formats_as(&a, "ports(*):[1-30]"));
    cm_resources_clear(&b);
    parse(&b, "ports:[1-1, 5-6, 30-30]");
    cm_resources_subtract(&a, &b);
    CHECK(formats_as(&a, "ports(*):[2-4, 7-29]"));
    cm_resources_clear(&b);
    parse(&b, "ports:[3-8]");
    cm_resources_subtract(&a, &b);
    CHECK(formats_as(&a, "ports(*):[2-2, 9-29]"));

    /* contains */
    cm_resources_clear(&b);
    parse(&b, "ports:[2-2, 10-12]");
    CHECK(cm_resources_contains(&a, &b));
    cm_resources_clear(&b);
    parse(&b, "ports:[2-3]");
    CHECK(!cm_resources_contains(&a, &b));
    cm_resources_clear(&b);
    parse(&b, "ports:[29-30]");
    CHECK(!cm_resources_contains(&a, &b));
    cm_resources_clear(&b);
    parse(&b, "ports:[0-0]");
    CHECK(!cm_resources_contains(&a, &b));

    /* Subtracting a range spanning several, and everything. */
    cm_resources_clear(&b);
    parse(&b, "ports:[0-100]");
    cm_resources_subtract(&a, &b);
    CHECK(cm_resources_empty(&a));

    /* Extreme values. */
    cm_resources_clear(&a);
    parse(&a, "ports:[0-18446744073709551615]");
    cm_resources_clear(&b);
    parse(&b, "ports:[0-0, 18446744073709551615-18446744073709551615]");
    cm_resources_subtract(&a, &b);
    CHECK(formats_as(&a, "ports(*):[1-18446744073709551614]"));
    cm_resources_add(&a, &b);
    CHECK(formats_as(&a, "ports(*):[0-18446744073709551615]"));
    cm_resources_cleanup(&a);
    cm_resources_cleanup(&b);
}

static void test_sets_and_contains(void)
{
    struct cm_resources a, b;
    cm_resources_init(&a);
    cm_resources_init(&b);
    parse(&a, "x:{a,b,c};cpus:4;mem:100");
    parse(&b, "x:{b};cpus:4");
    CHECK(cm_resources_contains(&a, &b));
    CHECK(!cm_resources_contains(&b, &a));
    cm_resources_subtract(&a, &b);
    CHECK(formats_as(&a, "x(*):{a, c}; mem(*):100"));
    cm_resources_clear(&b);
    parse(&b, "x:{d}");
    CHECK(!cm_resources_contains(&a, &b));
    /* Reserved resources are not unreserved resources. */
    cm_resources_clear(&b);
    parse(&b, "mem(eng):10");
    CHECK(!cm_resources_contains(&a, &b));
    cm_resources_subtract(&a, &b); /* absent: no change */
    CHECK(formats_as(&a, "x(*):{a, c}; mem(*):100"));
    /* Empty is contained in everything; equal needs both directions. */
    cm_resources_clear(&b);
    CHECK(cm_resources_contains(&a, &b));
    CHECK(!cm_resources_equal(&a, &b));
    cm_resources_copy(&b, &a);
    CHECK(cm_resources_equal(&a, &b));
    cm_resources_add(&b, &b);
    CHECK(cm_resources_scalar(&b, "mem") == 200000);
    cm_resources_subtract(&b, &b);
    CHECK(cm_resources_empty(&b));

    struct cm_resources m;
    cm_resources_init(&m);
    cm_resources_move(&m, &a);
    CHECK(cm_resources_empty(&a) && a.v == NULL);
    CHECK(formats_as(&m, "x(*):{a, c}; mem(*):100"));
    cm_resources_cleanup(&m);
    cm_resources_cleanup(&a);
    cm_resources_cleanup(&b);
}

static void test_roles(void)
{
    struct cm_resources r, out;
    cm_resources_init(&r);
    cm_resources_init(&out);
    parse(&r, "cpus:1;cpus(eng):2;cpus(eng/web):4;cpus(ops):8;cpus(eng/webx):16");
    cm_resources_allocatable_to(&r, "eng/web", &out);
    CHECK(cm_resources_scalar(&out, "cpus") == 7000);
    cm_resources_clear(&out);
    cm_resources_allocatable_to(&r, "eng", &out);
    CHECK(cm_resources_scalar(&out, "cpus") == 3000);
    cm_resources_clear(&out);
    cm_resources_allocatable_to(&r, "other", &out);
    CHECK(cm_resources_scalar(&out, "cpus") == 1000);
    cm_resources_clear(&out);
    cm_resources_unreserved(&r, &out);
    CHECK(formats_as(&out, "cpus(*):1"));
    cm_resources_clear(&out);
    cm_resources_reserved_to(&r, "eng", &out);
    CHECK(formats_as(&out, "cpus(eng):2"));
    cm_resources_clear(&out);
    cm_resources_reserved_to(&r, "*", &out);
    CHECK(cm_resources_empty(&out));
    CHECK(cm_resources_scalar(&r, "cpus") == 31000);
    cm_resources_cleanup(&r);
    cm_resources_cleanup(&out);
}

static void test_proto_roundtrip(void)
{
    struct cm_resources r;
    cm_resources_init(&r);
    parse(&r, "cpus:1.5;mem(eng):512;ports:[31000-31005, 31010-31010];x:{a,b}");
    parse(&r, "[{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":10},\"role\":\"eng\","
              "\"reservation\":{\"principal\":\"ops\"}}]");
    Mesos__V1__Resource **v;
    size_t n;
    cm_resources_to_proto(&r, "eng", &v, &n);
    CHECK_INT(n, 5);
    CHECK_STR(v[0]->name, "cpus");
    CHECK_STR(v[0]->role, "*");
    CHECK(v[0]->scalar->value == 1.5);
    CHECK_STR(v[0]->allocation_info->role, "eng");
    CHECK(v[4]->reservation && strcmp(v[4]->reservation->principal, "ops") == 0);

    /* JSON of a converted resource uses the pre-refinement format. */
    json_t *j = cm_pbjson_to_json(&v[2]->base);
    char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(t,
              "{\"allocation_info\":{\"role\":\"eng\"},\"name\":\"ports\",\"ranges\":{\"range\":"
              "[{\"begin\":31000,\"end\":31005},{\"begin\":31010,\"end\":31010}]},\"role\":\"*\","
              "\"type\":\"RANGES\"}");
    free(t);
    json_decref(j);

    struct cm_resources back;
    cm_resources_init(&back);
    char why[256];
    CHECK_INT(cm_resources_from_proto(&back, v, n, why, sizeof why), 0);
    CHECK(cm_resources_equal(&r, &back));

    /* Through protobuf binary as well. */
    size_t len = protobuf_c_message_get_packed_size(&v[4]->base);
    uint8_t buf[256];
    REQUIRE(len <= sizeof buf);
    protobuf_c_message_pack(&v[4]->base, buf);
    Mesos__V1__Resource *u = mesos__v1__resource__unpack(NULL, len, buf);
    REQUIRE(u);
    struct cm_resources one;
    cm_resources_init(&one);
    CHECK_INT(cm_resources_from_proto(&one, &u, 1, why, sizeof why), 0);
    CHECK(formats_as(&one, "disk(eng, dynamic, ops):10"));
    mesos__v1__resource__free_unpacked(u, NULL);
    cm_resources_cleanup(&one);

    cm_resources_proto_free(v, n);
    cm_resources_proto_free(NULL, 0);
    cm_resources_cleanup(&back);
    cm_resources_cleanup(&r);
}

static void test_from_proto_errors(void)
{
    char why[256];
    struct cm_resources r;
    cm_resources_init(&r);
    Mesos__V1__Resource res = MESOS__V1__RESOURCE__INIT;
    Mesos__V1__Resource *p = &res;
    Mesos__V1__Value__Scalar s = MESOS__V1__VALUE__SCALAR__INIT;
    res.name = "cpus";
    res.type = MESOS__V1__VALUE__TYPE__SCALAR;
    res.scalar = &s;
    s.value = NAN;
    CHECK_INT(cm_resources_from_proto(&r, &p, 1, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'cpus'") != NULL);
    s.value = INFINITY;
    CHECK_INT(cm_resources_from_proto(&r, &p, 1, why, sizeof why), CM_EINVAL);
    s.value = 1;
    res.role = "eng//x";
    CHECK_INT(cm_resources_from_proto(&r, &p, 1, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'cpus'") != NULL);
    res.role = "eng";
    CHECK_INT(cm_resources_from_proto(&r, &p, 1, why, sizeof why), 0);
    res.type = MESOS__V1__VALUE__TYPE__RANGES;
    CHECK_INT(cm_resources_from_proto(&r, &p, 1, why, sizeof why), CM_EINVAL);
    res.type = 99;
    CHECK_INT(cm_resources_from_proto(&r, &p, 1, why, sizeof why), CM_EINVAL);
    CHECK(formats_as(&r, "cpus(eng):1"));
    cm_resources_cleanup(&r);
}

static void test_summary(void)
{
    struct cm_resources r;
    cm_resources_init(&r);
    parse(&r, "cpus:1.5;cpus(eng):0.5;mem:1024;ports:[31000-31005];ports(eng):[31010-31010];"
              "x:{b,a};foo:3");
    json_t *j = cm_resources_summary_json(&r);
    json_error_t err;
    json_t *exp = json_loads("{\"cpus\":2.0,\"gpus\":0.0,\"mem\":1024.0,\"disk\":0.0,\"foo\":3.0,"
                             "\"ports\":\"[31000-31005, 31010-31010]\",\"x\":\"{a, b}\"}",
                             0, &err);
    CHECK(json_equal(j, exp));
    if (!json_equal(j, exp)) {
        char *t = json_dumps(j, JSON_SORT_KEYS);
        fprintf(stderr, "summary: %s\n", t);
        free(t);
    }
    json_decref(exp);
    json_decref(j);
    cm_resources_cleanup(&r);

    cm_resources_init(&r);
    j = cm_resources_summary_json(&r);
    CHECK_INT(json_object_size(j), 4);
    CHECK(json_is_real(json_object_get(j, "gpus")));
    json_decref(j);
    cm_resources_cleanup(&r);
}

TEST_MAIN(TEST(test_scalar_fixed_point), TEST(test_parse_text), TEST(test_parse_errors),
          TEST(test_parse_json), TEST(test_ranges), TEST(test_sets_and_contains), TEST(test_roles),
          TEST(test_proto_roundtrip), TEST(test_from_proto_errors), TEST(test_summary))
