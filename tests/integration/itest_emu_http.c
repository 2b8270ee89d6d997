/*
 * itest_emu_http: the emulator's HTTP/1.1 client connection (src/emulator/emu_http.h) against a
 * hand-driven server socket on 127.0.0.1 (no daemon): pipelined answers with Content-Length, a
 * chunked body and a Mesos-Stream-Id header, written in pieces cut inside lines and CRLFs; a
 * header line over the 16 KiB bound and a malformed status line, each of which must fail the
 * outstanding request with CM_EPROTO, not crash or buffer without bound.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emu_http.h"
#include "errors.h"
#include "harness.h"

#define MAXR 8

struct seen {
    int nhead, ndone;
    int status[MAXR];
    char sid[MAXR][64];
    char body[MAXR][64];
    int err[MAXR];
};

static void on_head(void *arg, int status, const char *sid)
{
    struct seen *s = arg;
    if (s->nhead < MAXR) {
        s->status[s->nhead] = status;
        snprintf(s->sid[s->nhead], sizeof s->sid[0], "%s", sid ? sid : "");
    }
    s->nhead++;
}

static void on_body(void *arg, const uint8_t *data, size_t len)
{
    struct seen *s = arg;
    if (s->ndone >= MAXR)
        return;
    char *b = s->body[s->ndone];
    size_t have = strlen(b);
    if (have + len < sizeof s->body[0]) {
        memcpy(b + have, data, len);
        b[have + len] = 0;
    }
}

static void on_done(void *arg, int err)
{
    struct seen *s = arg;
    if (s->ndone < MAXR)
        s->err[s->ndone] = err;
    s->ndone++;
}

static const struct cm_emu_conn_cbs cbs = {on_head, on_body, on_done};

struct server {
    int lfd, fd;
    struct sockaddr_in addr;
};

static int server_listen(struct server *sv)
{
    sv->fd = -1;
    sv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sv->lfd < 0)
        return -1;
    memset(&sv->addr, 0, sizeof sv->addr);
    sv->addr.sin_family = AF_INET;
    sv->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sv->addr;
    if (bind(sv->lfd, (struct sockaddr *)&sv->addr, sizeof sv->addr) != 0 ||
        listen(sv->lfd, 4) != 0 || getsockname(sv->lfd, (struct sockaddr *)&sv->addr, &len) != 0)
        return -1;
    return 0;
}

static void server_close(struct server *sv)
{
    if (sv->fd >= 0)
        close(sv->fd);
    if (sv->lfd >= 0)
        close(sv->lfd);
}

static char reqs[8192]; /* what the server read */

/* Runs the client's loop until the server socket has read n requests' heads ("POST " each) or
 * 5 s pass (into reqs). Returns the requests seen. */
static int server_read_requests(struct event_base *base, struct server *sv, int n)
{
    char *buf = reqs;
    size_t have = 0;
    int seen = 0;
    for (int spin = 0; spin < 500 && seen < n; spin++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (sv->fd < 0) {
            struct pollfd p = {sv->lfd, POLLIN, 0};
            if (poll(&p, 1, 10) == 1)
                sv->fd = accept4(sv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            continue;
        }
        struct pollfd p = {sv->fd, POLLIN, 0};
        if (poll(&p, 1, 10) != 1)
            continue;
        ssize_t r = read(sv->fd, buf + have, sizeof reqs - 1 - have);
        if (r <= 0)
            continue;
        have += (size_t)r;
        buf[have] = 0;
        seen = 0;
        for (const char *q = buf; (q = strstr(q, "POST /p HTTP/1.1\r\n")); q++)
            seen++;
    }
    return seen;
}

/* Writes text in pieces of `piece` bytes, running the client's loop after each. */
static void server_send(struct event_base *base, struct server *sv, const char *text, size_t piece)
{
    size_t len = strlen(text);
    for (size_t off = 0; off < len; off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        ssize_t w = write(sv->fd, text + off, n);
        (void)w;
        for (int k = 0; k < 3; k++) {
            usleep(1000);
            event_base_loop(base, EVLOOP_NONBLOCK);
        }
    }
}

static void run_until_done(struct event_base *base, struct seen *s, int n)
{
    for (int spin = 0; spin < 500 && s->ndone < n; spin++) {
        usleep(2000);
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
}

static void test_pipelined_answers_in_pieces(void)
{
    struct event_base *base = event_base_new();
    struct server sv;
    REQUIRE(base && server_listen(&sv) == 0);
    struct seen s;
    memset(&s, 0, sizeof s);
    int err = 0;
    struct cm_emu_conn *c = cm_emu_conn_new(base, &sv.addr, NULL, &cbs, &s, &err);
    REQUIRE(c != NULL);
    const char *hdrs[] = {"Mesos-Stream-Id: s1", NULL};
    CHECK_INT(cm_emu_conn_post(c, "h", "/p", hdrs, (const uint8_t *)"a", 1), 0);
    CHECK_INT(cm_emu_conn_post(c, "h", "/p", NULL, (const uint8_t *)"bb", 2), 0);
    CHECK_INT(cm_emu_conn_post(c, "h", "/p", NULL, NULL, 0), 0);
    CHECK_INT(cm_emu_conn_outstanding(c), 3);
    CHECK_INT(server_read_requests(base, &sv, 3), 3);
    CHECK(strstr(reqs, "Content-Length: 1\r\nMesos-Stream-Id: s1\r\n\r\na") != NULL);
    CHECK(strstr(reqs, "Content-Length: 2\r\n\r\nbb") != NULL);
    CHECK(strstr(reqs, "Content-Length: 0\r\n\r\n") != NULL);
    const char *answers = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
                          "HTTP/1.1 200 OK\r\nmesos-stream-id: abc-1\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nxyz\r\n0\r\n\r\n"
                          "HTTP/1.1 400 Bad Request\r\nContent-Length: 4\r\n\r\nnope";
    /* 7 bytes at a time: every line and CRLF is cut somewhere. */
    server_send(base, &sv, answers, 7);
    run_until_done(base, &s, 3);
    CHECK_INT(s.nhead, 3);
    CHECK_INT(s.ndone, 3);
    CHECK_INT(s.status[0], 202);
    CHECK_INT(s.status[1], 200);
    CHECK_INT(s.status[2], 400);
    CHECK_STR(s.sid[0], "");
    CHECK_STR(s.sid[1], "abc-1");
    CHECK_STR(s.body[0], "");
    CHECK_STR(s.body[1], "helloxyz");
    CHECK_STR(s.body[2], "nope");
    CHECK_INT(s.err[0], 0);
    CHECK_INT(s.err[1], 0);
    CHECK_INT(s.err[2], 0);
    CHECK(!cm_emu_conn_dead(c));
    CHECK_INT(cm_emu_conn_outstanding(c), 0);
    cm_emu_conn_free(c);
    server_close(&sv);
    event_base_free(base);
}

/* A bad answer fails the outstanding request with CM_EPROTO and kills the connection. */
static void bad_answer(const char *answer, size_t repeat_pad)
{
    struct event_base *base = event_base_new();
    struct server sv;
    REQUIRE(base && server_listen(&sv) == 0);
    struct seen s;
    memset(&s, 0, sizeof s);
    int err = 0;
    struct cm_emu_conn *c = cm_emu_conn_new(base, &sv.addr, NULL, &cbs, &s, &err);
    REQUIRE(c != NULL);
    CHECK_INT(cm_emu_conn_post(c, "h", "/p", NULL, (const uint8_t *)"a", 1), 0);
    CHECK_INT(server_read_requests(base, &sv, 1), 1);
    char *text = malloc(strlen(answer) + repeat_pad + 1);
    REQUIRE(text != NULL);
    strcpy(text, answer);
    memset(text + strlen(answer), 'x', repeat_pad);
    text[strlen(answer) + repeat_pad] = 0;
    server_send(base, &sv, text, 4096);
    free(text);
    run_until_done(base, &s, 1);
    CHECK_INT(s.ndone, 1);
    CHECK_INT(s.err[0], CM_EPROTO);
    CHECK(cm_emu_conn_dead(c));
    CHECK_INT(cm_emu_conn_post(c, "h", "/p", NULL, NULL, 0), CM_ECLOSED);
    cm_emu_conn_free(c);
    server_close(&sv);
    event_base_free(base);
}

static void test_header_line_over_bound(void)
{
    /* 20 KiB of one header line with no CRLF: over the 16 KiB head bound. */
    bad_answer("HTTP/1.1 200 OK\r\nX-Long: ", 20000);
}

static void test_malformed_status_line(void)
{
    bad_answer("HTTP/1.1 2x0 OK\r\n\r\n", 0);
}

TEST_MAIN(TEST(test_pipelined_answers_in_pieces), TEST(test_header_line_over_bound),
          TEST(test_malformed_status_line))
