/* test_http_framer.c: request framing and head checks in front of evhttp (http_framer.h). */
#include "test.h"

#include <event2/buffer.h>

#include "http_framer.h"

struct run {
    struct cm_http_framer *f;
    struct evbuffer *in, *out;
    struct cm_http_frame_info info;
};

static void run_init(struct run *r, uint64_t max_body)
{
    struct cm_http_framer_limits lim = {.max_body = max_body};
    r->f = cm_http_framer_new(&lim);
    r->in = evbuffer_new();
    r->out = evbuffer_new();
    memset(&r->info, 0, sizeof r->info);
}

static void run_free(struct run *r)
{
    cm_http_framer_free(r->f);
    evbuffer_free(r->in);
    evbuffer_free(r->out);
}

/* Feeds s and returns the first event that is not MORE (accepting every head), or MORE. */
static enum cm_http_frame_event feed(struct run *r, const char *s, size_t n)
{
    evbuffer_add(r->in, s, n);
    for (;;) {
        enum cm_http_frame_event ev = cm_http_framer_step(r->f, r->in, r->out, &r->info);
        if (ev == CM_HTTP_FRAME_HEAD) {
            cm_http_framer_accept(r->f, r->out);
            continue;
        }
        return ev;
    }
}

static enum cm_http_frame_event feed_s(struct run *r, const char *s)
{
    return feed(r, s, strlen(s));
}

static void test_get_passes_and_completes(void)
{
    struct run r;
    run_init(&r, 0);
    CHECK(cm_http_framer_idle(r.f));
    const char *req = "GET /master/state HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK_INT(feed_s(&r, req), CM_HTTP_FRAME_DONE);
    CHECK_INT(evbuffer_get_length(r.out), strlen(req));
    CHECK_STR(r.info.method, "GET");
    CHECK(cm_http_framer_idle(r.f));
    run_free(&r);
}

static void test_head_is_held_until_complete(void)
{
    struct run r;
    run_init(&r, 0);
    CHECK_INT(feed_s(&r, "POST /api/v1/scheduler HTTP/1.1\r\nContent-Le"), CM_HTTP_FRAME_MORE);
    CHECK_INT(evbuffer_get_length(r.out), 0); /* nothing reaches evhttp yet */
    CHECK(!cm_http_framer_idle(r.f));
    CHECK_INT(feed_s(&r, "ngth: 5\r\n\r\nab"), CM_HTTP_FRAME_MORE);
    CHECK_INT(r.info.content_length, 5);
    CHECK_INT(cm_http_framer_body_bytes(r.f), 2);
    /* The body ends after 5 bytes; the next request's bytes stay for the next step. */
    CHECK_INT(feed_s(&r, "cdeGET / HTTP/1.1\r\n\r\n"), CM_HTTP_FRAME_DONE);
    CHECK_INT(feed(&r, "", 0), CM_HTTP_FRAME_DONE);
    CHECK_STR(r.info.method, "GET");
    run_free(&r);
}

static void test_oversized_content_length_refused_at_head(void)
{
    struct run r;
    run_init(&r, 1024);
    CHECK_INT(feed_s(&r, "POST /x HTTP/1.1\r\nContent-Length: 1073741824\r\n\r\n"),
              CM_HTTP_FRAME_ERROR);
    CHECK_INT(r.info.code, 413);
    CHECK(strstr(r.info.msg, "1073741824") != NULL);
    CHECK_INT(evbuffer_get_length(r.out), 0);
    /* After a refusal nothing more passes. */
    CHECK_INT(feed_s(&r, "GET / HTTP/1.1\r\n\r\n"), CM_HTTP_FRAME_ERROR);
    CHECK_INT(evbuffer_get_length(r.out), 0);
    run_free(&r);
}

static void test_bad_heads_named(void)
{
    static const struct {
        const char *req;
        int code;
        const char *word;
    } cases[] = {
        {"BREW /pot HTTP/1.1\r\n\r\n", 501, "BREW"},
        {"PATCH /x HTTP/1.1\r\n\r\n", 405, "PATCH"},
        {"GET x HTTP/1.1\r\n\r\n", 400, "start with '/'"},
        {"GET /x HTTP/2.0\r\n\r\n", 505, "HTTP/2.0"},
        {"GET /x\r\n\r\n", 400, "request line"},
        {"GET /a\x01 HTTP/1.1\r\n\r\n", 400, "0x01"},
        {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "header line"},
        {"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400, "folding"},
        {"POST / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n", 400, "Content-Length"},
        {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "Conflicting"},
        {"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "both"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "gzip"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct run r;
        run_init(&r, 0);
        enum cm_http_frame_event ev = feed_s(&r, cases[i].req);
        CHECK_INT(ev, CM_HTTP_FRAME_ERROR);
        CHECK_INT(r.info.code, cases[i].code);
        if (!strstr(r.info.msg, cases[i].word))
            fprintf(stderr, "case %zu: message '%s' lacks '%s'\n", i, r.info.msg, cases[i].word);
        CHECK(strstr(r.info.msg, cases[i].word) != NULL);
        run_free(&r);
    }
}

static void test_limits_on_uri_and_head(void)
{
    struct run r;
    run_init(&r, 0);
    char big[10000];
    memset(big, 'a', sizeof big);
    big[0] = '/';
    evbuffer_add_printf(r.in, "GET %.*s HTTP/1.1\r\n\r\n", (int)sizeof big, big);
    CHECK_INT(cm_http_framer_step(r.f, r.in, r.out, &r.info), CM_HTTP_FRAME_ERROR);
    CHECK_INT(r.info.code, 414);
    run_free(&r);

    /* A head that never ends is cut at max_head, not buffered without bound. */
    run_init(&r, 0);
    CHECK_INT(feed_s(&r, "GET / HTTP/1.1\r\n"), CM_HTTP_FRAME_MORE);
    enum cm_http_frame_event ev = CM_HTTP_FRAME_MORE;
    for (int i = 0; i < 100 && ev == CM_HTTP_FRAME_MORE; i++) {
        char line[1100];
        int n = snprintf(line, sizeof line, "X-%d: %01000d\r\n", i, 0);
        ev = feed(&r, line, (size_t)n);
    }
    CHECK_INT(ev, CM_HTTP_FRAME_ERROR);
    CHECK_INT(r.info.code, 431);
    run_free(&r);
}

static void test_chunked_body(void)
{
    struct run r;
    run_init(&r, 10);
    const char *req = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n";
    CHECK_INT(feed_s(&r, req), CM_HTTP_FRAME_DONE);
    CHECK_INT(evbuffer_get_length(r.out), strlen(req));
    CHECK_INT(cm_http_framer_body_bytes(r.f), 5);
    CHECK(cm_http_framer_idle(r.f));
    /* Over max_body in chunks: refused with 413 at the chunk that passes the limit. */
    CHECK_INT(feed_s(&r, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n"
                         "8\r\n"),
              CM_HTTP_FRAME_ERROR);
    CHECK_INT(r.info.code, 413);
    run_free(&r);

    run_init(&r, 0);
    CHECK_INT(feed_s(&r, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
              CM_HTTP_FRAME_ERROR);
    CHECK_INT(r.info.code, 400);
    run_free(&r);
}

static void test_leading_blank_lines_skipped(void)
{
    struct run r;
    run_init(&r, 0);
    CHECK_INT(feed_s(&r, "\r\n\r\n"), CM_HTTP_FRAME_MORE);
    CHECK(cm_http_framer_idle(r.f));
    CHECK_INT(feed_s(&r, "GET / HTTP/1.0\n\n"), CM_HTTP_FRAME_DONE);
    run_free(&r);
}

/* The end of a head (two line ends with only CRs between) is found wherever the input is split,
 * and a line holding text after CRs does not end it. */
static void test_head_end_at_every_split(void)
{
    const char *reqs[] = {
        "POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab",
        "GET /a HTTP/1.1\nHost: x\n\r\n",
        "GET /b HTTP/1.1\r\nX-A: v\r\nX-B: w\r\n\r\n",
    };
    for (size_t k = 0; k < sizeof reqs / sizeof reqs[0]; k++) {
        size_t len = strlen(reqs[k]);
        for (size_t cut = 1; cut < len; cut++) {
            struct run r;
            run_init(&r, 0);
            enum cm_http_frame_event a = feed(&r, reqs[k], cut);
            enum cm_http_frame_event b =
                a == CM_HTTP_FRAME_DONE ? a : feed(&r, reqs[k] + cut, len - cut);
            if (b != CM_HTTP_FRAME_DONE || evbuffer_get_length(r.out) != len)
                fprintf(stderr, "request %zu cut at %zu: event %d, %zu bytes out\n", k, cut, (int)b,
                        evbuffer_get_length(r.out));
            CHECK_INT(b, CM_HTTP_FRAME_DONE);
            CHECK_INT(evbuffer_get_length(r.out), len);
            /* Nothing is held once the request is through: the head ended where it should. */
            CHECK(cm_http_framer_idle(r.f));
            run_free(&r);
        }
    }
    /* Text after CRs on a line keeps the head open. */
    struct run r;
    run_init(&r, 0);
    CHECK_INT(feed_s(&r, "GET / HTTP/1.1\r\n\r\rX"), CM_HTTP_FRAME_MORE);
    CHECK_INT(evbuffer_get_length(r.out), 0);
    run_free(&r);
}

TEST_MAIN(TEST(test_get_passes_and_completes), TEST(test_head_is_held_until_complete),
          TEST(test_oversized_content_length_refused_at_head), TEST(test_bad_heads_named),
          TEST(test_limits_on_uri_and_head), TEST(test_chunked_body),
          TEST(test_leading_blank_lines_skipped), TEST(test_head_end_at_every_split))
