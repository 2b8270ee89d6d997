/*
 * test_json_out: the direct JSON writer prints what jansson's json_dumps(JSON_COMPACT) prints
 * for the same values, checked value by value against jansson itself (strings of random bytes,
 * doubles of random bits, integers at the edges), and members jansson refuses are left out.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "json_out.h"
#include "mesos/v1/mesos.pb-c.h"
#include "pbjson.h"
#include "test.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/* jansson's text for j (consumed). */
static char *jdump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return s;
}

static int real_mismatches;

static void check_real(double v)
{
    char *want = jdump(json_real(v));
    char got[40];
    cm_json_format_real(got, v);
    if (!want || strcmp(want, got) != 0) {
        if (real_mismatches++ < 10)
            fprintf(stderr, "real %a: jansson %s, writer %s\n", v, want ? want : "(null)", got);
    }
    free(want);
}

static void test_reals(void)
{
    static const double fixed[] = {
        0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 32.0, 65536.0, 1.7e9, 1733550000.123456, 1e15, 1e16,
        99999999999999999.0, 1e17, 1e20, 1.5e300, 1e-5, 1.25e-7, 5e-324, 1.7976931348623157e308,
        -1.7976931348623157e308, 9007199254740993.0, 123456789012345678.0, 0.001, 2.675, -123.456,
        /* Exact ties at the 18th digit: to even. */
        1.00000762939453125, 1.00002288818359375, -1.00002288818359375, 4503599627370495.5,
        1e15 + 0.5, 1e10 + 1e-8, 9999999999999998.0, 1.0000000000000002, 9.9999999999999982};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        check_real(fixed[i]);
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = rnd();
        double d;
        memcpy(&d, &bits, sizeof d);
        if (isfinite(d))
            check_real(d);
        /* Values near the fast path's edges and milli-unit scalars. */
        check_real((double)(int64_t)(rnd() % 200000000000000000ull) - 1e17);
        check_real((double)(rnd() % 10000000) / 1000.0);
        check_real(1.7e9 + (double)(rnd() % 1000000) / 1e6);
        /* Any mantissa at magnitudes from 1 to 1e17 (the printf-free path), and a tie. */
        double m = (double)(rnd() >> 11) / 9007199254740992.0 + 1.0;
        check_real(ldexp(m, (int)(rnd() % 58)) * (rnd() & 1 ? 1 : -1));
        check_real(ldexp((double)((rnd() >> 11) | 1), -(int)(rnd() % 53)));
    }
    CHECK_INT(real_mismatches, 0);
    /* Through the writer (its cache of recent values): an array of values, each twice. */
    json_t *arr = json_array();
    struct cm_json_out aw = CM_JSON_OUT_INIT;
    cm_json_out_arr_open(&aw);
    for (int i = 0; i < 2000; i++) {
        double d = (double)(rnd() % 100000) / 1000.0 + (i % 3 ? 0 : 1.7e9);
        for (int k = 0; k < 2; k++) {
            json_array_append_new(arr, json_real(d));
            cm_json_out_real(&aw, d);
        }
    }
    cm_json_out_arr_close(&aw);
    char *want = jdump(arr);
    CHECK_STR(aw.data, want);
    free(want);
    cm_json_out_cleanup(&aw);
    /* Non-finite reals: jansson refuses them, the member is left out. */
    struct cm_json_out w = CM_JSON_OUT_INIT;
    cm_json_out_obj_open(&w);
    CHECK(!cm_json_out_kreal(&w, "a", NAN));
    CHECK(!cm_json_out_kreal(&w, "b", INFINITY));
    CHECK(cm_json_out_kreal(&w, "c", 2.5));
    cm_json_out_obj_close(&w);
    CHECK_STR(w.data, "{\"c\":2.5}");
    cm_json_out_cleanup(&w);
}

static void test_ints(void)
{
    static const int64_t v[] = {0, 1, -1, 9, 10, -10, 1234567890123LL, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *want = jdump(json_integer(v[i]));
        struct cm_json_out w = CM_JSON_OUT_INIT;
        cm_json_out_int(&w, v[i]);
        CHECK_STR(w.data, want);
        cm_json_out_cleanup(&w);
        free(want);
    }
}

static void test_strings(void)
{
    int mismatches = 0, validity = 0;
    char s[64];
    for (int i = 0; i < 200000; i++) {
        size_t n = rnd() % 40;
        for (size_t k = 0; k < n; k++) {
            uint64_t r = rnd();
            /* Mostly the interesting bytes: controls, quotes, backslash, 0x7F, high bytes. */
            /* Half the strings mostly plain text, so long runs of it occur too. */
            switch (i % 2 ? r % 6 : r % 64) {
            case 0: s[k] = (char)(1 + (r >> 8) % 31); break;
            case 1: s[k] = "\"\\/\x7f ~"[(r >> 8) % 6]; break;
            case 2: s[k] = (char)(0x80 + (r >> 8) % 128); break;
            case 3: s[k] = (char)(0xC0 + (r >> 8) % 64); break;
            default: s[k] = (char)(0x20 + (r >> 8) % 96); break;
            }
        }
        s[n] = '\0';
        json_t *js = json_string(s);
        bool valid = cm_json_utf8_valid(s, n);
        if ((js != NULL) != valid && validity++ < 10)
            fprintf(stderr, "utf8 validity differs for string %d (jansson %d)\n", i, js != NULL);
        if (!js)
            continue;
        char *want = jdump(js);
        struct cm_json_out w = CM_JSON_OUT_INIT;
        cm_json_out_str(&w, s);
        if (strcmp(want, w.data) != 0 && mismatches++ < 10)
            fprintf(stderr, "string: jansson %s, writer %s\n", want, w.data);
        cm_json_out_cleanup(&w);
        free(want);
    }
    CHECK_INT(validity, 0);
    CHECK_INT(mismatches, 0);
    /* Valid multi-byte text passes through; the boundary cases of the validator. */
    const char *ok = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80";
    CHECK(cm_json_utf8_valid(ok, strlen(ok)));
    CHECK(!cm_json_utf8_valid("\xed\xa0\x80", 3));     /* a surrogate */
    CHECK(!cm_json_utf8_valid("\xe0\x80\xaf", 3));     /* overlong '/' */
    CHECK(!cm_json_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    CHECK(!cm_json_utf8_valid("\xc3", 1));             /* cut short */
}

/* A small document both ways: nesting, commas, members jansson refuses. */
static void test_document(void)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string("a\"b"));
    json_object_set_new(o, "bad", json_string("\xff"));
    json_object_set_new(o, "\xff", json_string("bad key"));
    json_object_set_new(o, "n", json_integer(-3));
    json_object_set_new(o, "q", json_string("x\ty"));
    json_object_set_new(o, "k", json_false());
    json_t *arr = json_array();
    json_array_append_new(arr, json_real(0.1));
    json_array_append_new(arr, json_object());
    json_array_append_new(arr, json_array());
    json_array_append_new(arr, json_true());
    json_array_append_new(arr, json_null());
    json_object_set_new(o, "list", arr);
    json_object_set_new(o, "empty", json_object());
    char *want = jdump(o);

    struct cm_json_out w = CM_JSON_OUT_INIT;
    cm_json_out_obj_open(&w);
    CHECK(cm_json_out_kstr(&w, "id", "a\"b"));
    CHECK(!cm_json_out_kstr(&w, "bad", "\xff"));
    CHECK(!cm_json_out_kstr(&w, "\xff", "bad key"));
    CHECK(!cm_json_out_kstr(&w, "null", NULL));
    CHECK(!cm_json_out_kstrn(&w, "bad", 3, "\xc3("));
    CHECK(!cm_json_out_kstrn(&w, "null", 4, NULL));
    CHECK(cm_json_out_kint(&w, "n", -3));
    /* Pre-quoted keys: refused values leave nothing behind, not even the key. */
    CHECK(!cm_json_out_kqstr(&w, "\"q\":", 4, "\xc3("));
    CHECK(!cm_json_out_kqstr(&w, "\"q\":", 4, NULL));
    CHECK(cm_json_out_kqstr(&w, "\"q\":", 4, "x\ty"));
    cm_json_out_keyq(&w, "\"k\":", 4);
    cm_json_out_bool(&w, false);
    CHECK(cm_json_out_kopen(&w, "list"));
    cm_json_out_arr_open(&w);
    cm_json_out_real(&w, 0.1);
    cm_json_out_obj_open(&w);
    cm_json_out_obj_close(&w);
    cm_json_out_arr_open(&w);
    cm_json_out_arr_close(&w);
    cm_json_out_bool(&w, true);
    cm_json_out_null(&w);
    cm_json_out_arr_close(&w);
    /* Written in two pieces, as a stream sends it: the comma still comes. */
    size_t half = w.len;
    char *first = strdup(w.data);
    cm_json_out_reset(&w);
    cm_json_out_key(&w, "empty");
    cm_json_out_raws(&w, "{}");
    cm_json_out_obj_close(&w);
    size_t total = half + w.len;
    char *all = malloc(total + 1);
    memcpy(all, first, half);
    memcpy(all + half, w.data, w.len + 1);
    CHECK_STR(all, want);
    free(all);
    free(first);
    free(want);
    cm_json_out_cleanup(&w);
    cm_json_out_cleanup(&w); /* twice: a no-op */
}

/* cm_pbjson_write against json_dumps(cm_pbjson_to_json()) on messages that reach the odd
 * corners: maps with repeated keys, explicit defaults, NaN and infinities, bytes, text that is
 * not UTF-8, nested and repeated messages, a NULL message. */
static bool pb_same(const ProtobufCMessage *msg)
{
    json_t *j = cm_pbjson_to_json(msg);
    char *tree = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct cm_json_out w = CM_JSON_OUT_INIT;
    cm_pbjson_write(&w, msg);
    bool same = tree && strcmp(tree, w.data) == 0;
    if (!same)
        fprintf(stderr, "pbjson: tree %s\n      direct %s\n", tree, w.data);
    free(tree);
    cm_json_out_cleanup(&w);
    return same;
}

static void test_pbjson(void)
{
    static const char *const tasks[] = {
        "{\"name\":\"t\",\"task_id\":{\"value\":\"a/b\\n\"},\"agent_id\":{\"value\":\"s\"},"
        "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}},"
        "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":1,"
        "\"end\":\"18446744073709551615\"}]}}],\"limits\":{\"cpus\":{\"value\":2},\"mem\":{"
        "\"value\":1}},"
        "\"data\":\"AAEC/w==\",\"labels\":{\"labels\":[{\"key\":"
        "\"k\",\"value\":\"\\u00e9\\u0001\"}]},\"health_check\":{\"type\":\"HTTP\",\"http\":"
        "{\"port\":80}},\"command\":{\"value\":\"x\",\"environment\":{\"variables\":[{"
        "\"name\":\"A\",\"value\":\"1\"}]}},\"discovery\":{\"visibility\":\"FRAMEWORK\"}}",
        "{\"name\":\"\",\"task_id\":{\"value\":\"\"},\"agent_id\":{\"value\":\"\"},"
        "\"kill_policy\":{\"grace_period\":{\"nanoseconds\":-5}},\"max_completion_time\":{"
        "\"nanoseconds\":9223372036854775807}}",
    };
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++) {
        ProtobufCMessage *msg = NULL;
        char why[256] = "";
        int rc = cm_pbjson_from_text(&mesos__v1__task_info__descriptor, tasks[i], strlen(tasks[i]),
                                     &msg, why, sizeof why);
        if (rc)
            fprintf(stderr, "task %zu: %s\n", i, why);
        REQUIRE(rc == 0);
        CHECK(pb_same(msg));
        /* A map with a repeated key (jansson keeps the first place, the last value) and an
         * entry without its value. */
        Mesos__V1__TaskInfo *ti = (Mesos__V1__TaskInfo *)msg;
        Mesos__V1__TaskInfo__LimitsEntry e1 = MESOS__V1__TASK_INFO__LIMITS_ENTRY__INIT,
                                         e2 = MESOS__V1__TASK_INFO__LIMITS_ENTRY__INIT;
        Mesos__V1__Value__Scalar three = MESOS__V1__VALUE__SCALAR__INIT;
        three.value = 3;
        e1.key = "cpus";
        e1.value = &three;
        e2.key = "gpus";
        Mesos__V1__TaskInfo__LimitsEntry *ents[8];
        size_t nl = ti->n_limits;
        for (size_t k = 0; k < nl && k < 6; k++)
            ents[k] = ti->limits[k];
        ents[nl] = &e1;
        ents[nl + 1] = &e2;
        Mesos__V1__TaskInfo__LimitsEntry **keep_limits = ti->limits;
        ti->limits = ents;
        ti->n_limits = nl + 2;
        CHECK(pb_same(msg));
        ti->limits = keep_limits;
        ti->n_limits = nl;
        /* Text that is not UTF-8 (it can come in protobuf bodies) and odd doubles. */
        Mesos__V1__TaskInfo *t = (Mesos__V1__TaskInfo *)msg;
        free(t->name);
        t->name = strdup("caf\xe9 \xff\x80");
        Mesos__V1__Value__Scalar sc = MESOS__V1__VALUE__SCALAR__INIT;
        Mesos__V1__Resource r = MESOS__V1__RESOURCE__INIT;
        r.name = "x";
        r.type = MESOS__V1__VALUE__TYPE__SCALAR;
        r.scalar = &sc;
        Mesos__V1__Resource *rs[1] = {&r};
        size_t n = t->n_resources;
        Mesos__V1__Resource **keep = t->resources;
        t->resources = rs;
        t->n_resources = 1;
        static const double odd[] = {NAN, INFINITY, -INFINITY, -0.0, 1e300, 5e-324};
        for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++) {
            sc.value = odd[k];
            CHECK(pb_same(msg));
        }
        t->resources = keep;
        t->n_resources = n;
        protobuf_c_message_free_unpacked(msg, NULL);
    }
    struct cm_json_out w = CM_JSON_OUT_INIT;
    cm_pbjson_write(&w, NULL);
    CHECK_STR(w.data, "{}");
    cm_json_out_cleanup(&w);
}

/* real_digits 15: what json_dumps(JSON_REAL_PRECISION(15)) prints (cm_pb_encode's JSON). */
static void check_real15(double v, struct cm_json_out *w, json_t *arr)
{
    json_t *j = json_real(v);
    char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    char got[40];
    cm_json_format_real_digits(got, v, 15);
    if (!want || strcmp(want, got) != 0) {
        if (real_mismatches++ < 10)
            fprintf(stderr, "real15 %a: jansson %s, writer %s\n", v, want ? want : "(null)", got);
    }
    free(want);
    json_array_append_new(arr, j);
    cm_json_out_real(w, v);
}

static void test_reals15(void)
{
    static const double fixed[] = {0.0,   -0.0,     0.1,     0.3,   1.0,  1e14, 999999999999999.0,
                                   1e15,  3e15,     1e16,    1.7e9, 1e20, 1e-5, 1733550000.123456,
                                   2.675, -123.456, 1.5e300, 5e-324};
    struct cm_json_out w = CM_JSON_OUT_INIT;
    w.real_digits = 15;
    json_t *arr = json_array();
    cm_json_out_arr_open(&w);
    real_mismatches = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        check_real15(fixed[i], &w, arr);
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = rnd();
        double d;
        memcpy(&d, &bits, sizeof d);
        if (isfinite(d) && fabs(d) < 1e300)
            check_real15(d, &w, arr);
        check_real15((double)(int64_t)(rnd() % 20000000000000000ull) - 1e16, &w, arr);
        check_real15((double)(rnd() % 10000000) / 1000.0, &w, arr);
    }
    cm_json_out_arr_close(&w);
    CHECK_INT(real_mismatches, 0);
    char *want = json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(arr);
    CHECK(want && strcmp(want, w.data) == 0);
    free(want);
    cm_json_out_cleanup(&w);
}

TEST_MAIN(TEST(test_pbjson), TEST(test_reals), TEST(test_ints), TEST(test_strings),
          TEST(test_document), TEST(test_reals15))
