/* Unit tests for RecordIO framing: encoder output, every split of a stream, and errors. */
#include <string.h>

#include <event2/buffer.h>

#include "errors.h"
#include "recordio.h"
#include "test.h"

struct collected {
    char recs[8][64];
    size_t lens[8];
    int n;
    int stop_after; /* return non-zero from the callback after this many records (0 = never) */
};

static int collect(void *arg, const uint8_t *data, size_t len)
{
    struct collected *c = arg;
    if (c->n < 8 && len < 64) {
        memcpy(c->recs[c->n], data, len);
        c->recs[c->n][len] = '\0';
        c->lens[c->n] = len;
    }
    c->n++;
    if (c->stop_after && c->n >= c->stop_after)
        return 42;
    return 0;
}

static void test_header_and_append(void)
{
    char h[24];
    CHECK_INT(cm_recordio_header(5, h), 2);
    CHECK(memcmp(h, "5\n", 2) == 0);
    CHECK_INT(cm_recordio_header(18446744073709551615ull, h), 21);
    CHECK(memcmp(h, "18446744073709551615\n", 21) == 0);

    struct evbuffer *b = evbuffer_new();
    REQUIRE(b);
    CHECK_INT(cm_recordio_append(b, "hello", 5), 0);
    CHECK_INT(cm_recordio_append(b, "{\"a\":1}", 7), 0);
    size_t len = evbuffer_get_length(b);
    char out[64] = {0};
    evbuffer_remove(b, out, len);
    CHECK_STR(out, "5\nhello7\n{\"a\":1}");
    evbuffer_free(b);
}

static void test_every_split(void)
{
    const char stream[] = "5\nhello3\nabc12\n{\"type\":\"X\"}1\nZ";
    size_t n = strlen(stream);
    for (size_t s1 = 0; s1 <= n; s1++) {
        for (size_t s2 = s1; s2 <= n; s2++) {
            struct cm_recordio_decoder d;
            struct collected c = {0};
            cm_recordio_decoder_init(&d, 64);
            CHECK_INT(cm_recordio_feed(&d, stream, s1, collect, &c), 0);
            CHECK_INT(cm_recordio_feed(&d, stream + s1, s2 - s1, collect, &c), 0);
            CHECK_INT(cm_recordio_feed(&d, stream + s2, n - s2, collect, &c), 0);
            CHECK_INT(c.n, 4);
            CHECK_STR(c.recs[0], "hello");
            CHECK_STR(c.recs[1], "abc");
            CHECK_STR(c.recs[2], "{\"type\":\"X\"}");
            CHECK_STR(c.recs[3], "Z");
            cm_recordio_decoder_cleanup(&d);
        }
    }
}

static void test_byte_at_a_time(void)
{
    const char stream[] = "3\nabc4\ndefg";
    struct cm_recordio_decoder d;
    struct collected c = {0};
    cm_recordio_decoder_init(&d, 16);
    for (size_t i = 0; i < strlen(stream); i++)
        CHECK_INT(cm_recordio_feed(&d, stream + i, 1, collect, &c), 0);
    CHECK_INT(c.n, 2);
    CHECK_STR(c.recs[1], "defg");
    /* Binary payloads with NUL and newline bytes pass through untouched. */
    const uint8_t bin[] = {'3', '\n', 0, '\n', 7};
    CHECK_INT(cm_recordio_feed(&d, bin, sizeof bin, collect, &c), 0);
    CHECK_INT(c.n, 3);
    CHECK_INT(c.lens[2], 3);
    CHECK(c.recs[2][0] == 0 && c.recs[2][1] == '\n' && c.recs[2][2] == 7);
    cm_recordio_decoder_cleanup(&d);
}

static void test_oversize_is_sticky(void)
{
    struct cm_recordio_decoder d;
    struct collected c = {0};
    cm_recordio_decoder_init(&d, 10);
    CHECK_INT(cm_recordio_feed(&d, "10\n0123456789", 13, collect, &c), 0);
    CHECK_INT(c.n, 1);
    CHECK_INT(cm_recordio_feed(&d, "1", 1, collect, &c), 0);
    CHECK_INT(cm_recordio_feed(&d, "1", 1, collect, &c), CM_ETOOBIG);
    CHECK_INT(d.failed, CM_ETOOBIG);
    /* Sticky: even a good record is refused now. */
    CHECK_INT(cm_recordio_feed(&d, "1\na", 3, collect, &c), CM_ETOOBIG);
    CHECK_INT(c.n, 1);
    cm_recordio_decoder_cleanup(&d);

    /* A huge announced size fails before any payload is buffered. */
    cm_recordio_decoder_init(&d, 1 << 20);
    CHECK_INT(cm_recordio_feed(&d, "99999999999", 11, collect, &c), CM_ETOOBIG);
    CHECK(d.buf == NULL);
    cm_recordio_decoder_cleanup(&d);
}

static void test_bad_headers(void)
{
    static const char *bad[] = {"0\n",  "\n",   "x\n",    " 5\nhello", "5\r\nhello",
                                "-1\n", "5 \n", "+5\nhi", "1a\n",      "00\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cm_recordio_decoder d;
        struct collected c = {0};
        cm_recordio_decoder_init(&d, 1 << 20);
        CHECK_INT(cm_recordio_feed(&d, bad[i], strlen(bad[i]), collect, &c), CM_EPROTO);
        CHECK_INT(cm_recordio_feed(&d, "1\na", 3, collect, &c), CM_EPROTO);
        CHECK_INT(c.n, 0);
        cm_recordio_decoder_cleanup(&d);
    }
    /* Header too long: 21 digits (even with leading zeros) is not a uint64 length. */
    struct cm_recordio_decoder d;
    struct collected c = {0};
    cm_recordio_decoder_init(&d, (size_t)-1);
    CHECK_INT(cm_recordio_feed(&d, "000000000000000000001\na", 23, collect, &c), CM_EPROTO);
    cm_recordio_decoder_cleanup(&d);
    /* 20 digits of overflow. */
    cm_recordio_decoder_init(&d, (size_t)-1);
    CHECK_INT(cm_recordio_feed(&d, "99999999999999999999\n", 21, collect, &c), CM_ETOOBIG);
    cm_recordio_decoder_cleanup(&d);
}

static void test_callback_stop(void)
{
    struct cm_recordio_decoder d;
    struct collected c = {.stop_after = 1};
    cm_recordio_decoder_init(&d, 16);
    CHECK_INT(cm_recordio_feed(&d, "1\na1\nb", 6, collect, &c), 42);
    CHECK_INT(c.n, 1);
    CHECK_INT(d.failed, 0);
    cm_recordio_decoder_cleanup(&d);
}

TEST_MAIN(TEST(test_header_and_append), TEST(test_every_split), TEST(test_byte_at_a_time),
          TEST(test_oversize_is_sticky), TEST(test_bad_headers), TEST(test_callback_stop))
