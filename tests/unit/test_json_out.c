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
    static const double fixed[] = {0.0,
                                   -0.0,
                                   1.0,
                                   -1.0,
                                   0.1,
                                   0.5,
                                   32.0,
                                   65536.0,
                                   1.7e9,
                                   1733550000.123456,
                                   1e15,
                                   1e16,
                                   99999999999999999.0,
                                   1e17,
                                   1e20,
                                   1.5e300,
                                   1e-5,
                                   1.25e-7,
                                   5e-324,
                                   1.7976931348623157e308,
                                   -1.7976931348623157e308,
                                   9007199254740993.0,
                                   123456789012345678.0,
                                   0.001,
                                   2.675,
                                   -123.456};
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
    }
    CHECK_INT(real_mismatches, 0);
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
        size_t n = rnd() % 12;
        for (size_t k = 0; k < n; k++) {
            uint64_t r = rnd();
            /* Mostly the interesting bytes: controls, quotes, backslash, 0x7F, high bytes. */
            switch (r % 6) {
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
    CHECK(cm_json_out_kint(&w, "n", -3));
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

TEST_MAIN(TEST(test_reals), TEST(test_ints), TEST(test_strings), TEST(test_document))
