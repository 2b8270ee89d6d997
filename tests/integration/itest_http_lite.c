/*
 * itest_http_lite.c: the lean HTTP client of mesos-executor (src/executor-lib/http_lite.c)
 * against a hand-written HTTP/1.1 server on 127.0.0.1 in the same loop: plain calls share one
 * kept-alive connection, a "Connection: close" answer is honoured, a parked connection the
 * server drops unanswered is resent once on a new one, a streaming call keeps its own
 * connection, a refused connect ends the call from the loop, and bodies larger than a socket
 * takes at once go through whole both ways.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "errors.h"
#include "http_client.h"
#include "test.h"

/* ---- the server ------------------------------------------------------------------------------ */

struct server {
    struct event_base *base;
    struct evconnlistener *lis;
    int port;
    int accepts;         /* connections accepted */
    int requests;        /* requests read */
    bool say_close;      /* answer with "Connection: close" and close */
    bool drop_reused;    /* a second request on a connection is dropped unanswered */
    bool stream;         /* answer chunked and never end (a streaming call) */
    size_t big_answer;   /* answer with this many bytes of body ('a' + i % 26) */
    bool echo_len;       /* answer with the request body's length, in decimal */
    const char *raw;     /* answer with these bytes as they are */
    struct sconn *conns; /* open connections, freed at the end */
};

struct sconn {
    struct server *s;
    struct bufferevent *bev;
    struct sconn *next;
    int served; /* requests answered on this connection */
};

static void sconn_event(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    struct sconn *c = arg;
    for (struct sconn **p = &c->s->conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    free(c);
    bufferevent_free(bev);
}

static void sconn_write_done(struct bufferevent *bev, void *arg)
{
    /* Only set while the answer was the last on this connection. */
    sconn_event(bev, 0, arg);
}

static void sconn_read(struct bufferevent *bev, void *arg)
{
    struct sconn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        /* A whole request: head, then Content-Length bytes. */
        struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
        if (end.pos < 0)
            return;
        size_t head = (size_t)end.pos + 4;
        char *h = (char *)evbuffer_pullup(in, (ev_ssize_t)head);
        size_t body = 0;
        for (char *p = h; p < h + head; p++)
            if (strncasecmp(p, "\r\nContent-Length:", 17) == 0) {
                body = strtoul(p + 17, NULL, 10);
                break;
            }
        if (evbuffer_get_length(in) < head + body)
            return;
        evbuffer_drain(in, head + body);
        c->s->requests++;
        if (c->s->raw) {
            c->served++;
            evbuffer_add(bufferevent_get_output(bev), c->s->raw, strlen(c->s->raw));
            continue;
        }
        if (c->s->big_answer || c->s->echo_len) {
            struct evbuffer *out = bufferevent_get_output(bev);
            c->served++;
            if (c->s->echo_len) {
                char n[32];
                int len = snprintf(n, sizeof n, "%zu", body);
                evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len, n);
                continue;
            }
            evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                                c->s->big_answer);
            for (size_t i = 0; i < c->s->big_answer; i++) {
                char ch = (char)('a' + i % 26);
                evbuffer_add(out, &ch, 1);
            }
            continue;
        }
        if (c->s->drop_reused && c->served > 0) {
            sconn_event(bev, 0, c); /* closed without an answer */
            return;
        }
        c->served++;
        struct evbuffer *out = bufferevent_get_output(bev);
        if (c->s->stream) {
            evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     "2\r\nev\r\n");
            return;
        }
        evbuffer_add_printf(out, "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n%s\r\nok",
                            c->s->say_close ? "Connection: close\r\n" : "");
        if (c->s->say_close) {
            bufferevent_setcb(bev, NULL, sconn_write_done, sconn_event, c);
            return;
        }
    }
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    (void)l;
    (void)sa;
    (void)len;
    struct server *s = arg;
    s->accepts++;
    struct sconn *c = calloc(1, sizeof *c);
    struct bufferevent *bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c || !bev) {
        free(c);
        if (bev)
            bufferevent_free(bev);
        return;
    }
    c->s = s;
    c->bev = bev;
    c->next = s->conns;
    s->conns = c;
    bufferevent_setcb(bev, sconn_read, NULL, sconn_event, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static int server_start(struct server *s, struct event_base *base)
{
    memset(s, 0, sizeof *s);
    s->base = base;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    s->lis = evconnlistener_new_bind(base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                     16, (struct sockaddr *)&sin, sizeof sin);
    if (!s->lis)
        return -1;
    struct sockaddr_in got;
    socklen_t gl = sizeof got;
    if (getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&got, &gl) != 0)
        return -1;
    s->port = ntohs(got.sin_port);
    return 0;
}

/* ---- the client ------------------------------------------------------------------------------ */

struct run {
    struct event_base *base;
    struct cm_http_client *client;
    char url[64];
    int left;   /* calls still to start */
    int ok;     /* calls answered 202 "ok" */
    int failed; /* calls that ended in an error */
};

static void start_post(struct run *r);

static void on_post_done(void *arg, int err, const char *errmsg,
                         const struct cm_http_response *resp)
{
    (void)errmsg;
    struct run *r = arg;
    if (err == 0 && resp && resp->status == 202 && resp->body_len == 2 &&
        memcmp(resp->body, "ok", 2) == 0)
        r->ok++;
    else
        r->failed++;
    /* The next call starts from inside the callback, as the executor's updates do. */
    if (r->left > 0)
        start_post(r);
    else
        event_base_loopexit(r->base, NULL);
}

static void start_post(struct run *r)
{
    r->left--;
    static const char *const headers[] = {"Content-Type: application/x-protobuf", NULL};
    struct cm_http_request_opts o = {.method = "POST",
                                     .url = r->url,
                                     .headers = headers,
                                     .body = "abc",
                                     .body_len = 3,
                                     .timeout_secs = 5,
                                     .on_done = on_post_done,
                                     .arg = r};
    if (cm_http_client_start(r->client, &o, NULL) != 0) {
        r->failed++;
        event_base_loopexit(r->base, NULL);
    }
}

/* n sequential POSTs; returns when the last one is answered (or 5 s passed). */
static void run_posts(struct run *r, struct server *s, int n)
{
    snprintf(r->url, sizeof r->url, "http://127.0.0.1:%d/api/v1/executor", s->port);
    r->left = n;
    r->ok = r->failed = 0;
    start_post(r);
    struct timeval tv = {5, 0};
    event_base_loopexit(r->base, &tv);
    event_base_dispatch(r->base);
}

struct fixture {
    struct event_base *base;
    struct server s;
    struct run r;
};

static int setup(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    f->base = event_base_new();
    if (!f->base || server_start(&f->s, f->base) != 0)
        return -1;
    f->r.base = f->base;
    f->r.client = cm_http_client_new(f->base);
    return f->r.client ? 0 : -1;
}

static void teardown(struct fixture *f)
{
    cm_http_client_free(f->r.client);
    while (f->s.conns)
        sconn_event(f->s.conns->bev, 0, f->s.conns);
    if (f->s.lis)
        evconnlistener_free(f->s.lis);
    if (f->base)
        event_base_free(f->base);
}

/* ---- cases ----------------------------------------------------------------------------------- */

static void plain_calls_share_one_connection(void)
{
    struct fixture f;
    REQUIRE(setup(&f) == 0);
    run_posts(&f.r, &f.s, 3);
    CHECK_INT(f.r.ok, 3);
    CHECK_INT(f.r.failed, 0);
    CHECK_INT(f.s.requests, 3);
    CHECK_INT(f.s.accepts, 1);
    teardown(&f);
}

static void connection_close_is_honoured(void)
{
    struct fixture f;
    REQUIRE(setup(&f) == 0);
    f.s.say_close = true;
    run_posts(&f.r, &f.s, 3);
    CHECK_INT(f.r.ok, 3);
    CHECK_INT(f.r.failed, 0);
    CHECK_INT(f.s.accepts, 3);
    teardown(&f);
}

static void dropped_reused_connection_is_resent_once(void)
{
    struct fixture f;
    REQUIRE(setup(&f) == 0);
    f.s.drop_reused = true;
    run_posts(&f.r, &f.s, 2);
    /* The second call went on the parked connection, was dropped, and was sent again. */
    CHECK_INT(f.r.ok, 2);
    CHECK_INT(f.r.failed, 0);
    CHECK_INT(f.s.requests, 3);
    CHECK_INT(f.s.accepts, 2);
    teardown(&f);
}

static int on_stream_headers(void *arg, const struct cm_http_response *resp)
{
    (void)arg;
    (void)resp;
    return 0;
}

static int on_stream_data(void *arg, const void *data, size_t len)
{
    (void)data;
    (void)len;
    event_base_loopexit(((struct run *)arg)->base, NULL);
    return 0;
}

static void on_stream_done(void *arg, int err, const char *errmsg,
                           const struct cm_http_response *resp)
{
    (void)err;
    (void)errmsg;
    (void)resp;
    ((struct run *)arg)->failed++;
}

static void streaming_call_keeps_its_own_connection(void)
{
    struct fixture f;
    REQUIRE(setup(&f) == 0);
    /* A plain call parks a connection; a stream must not take it. */
    run_posts(&f.r, &f.s, 1);
    CHECK_INT(f.r.ok, 1);
    f.s.stream = true;
    struct cm_http_request_opts o = {.method = "POST",
                                     .url = f.r.url,
                                     .body = "sub",
                                     .body_len = 3,
                                     .on_headers = on_stream_headers,
                                     .on_data = on_stream_data,
                                     .on_done = on_stream_done,
                                     .arg = &f.r};
    struct cm_http_call *call = NULL;
    REQUIRE(cm_http_client_start(f.r.client, &o, &call) == 0);
    struct timeval tv = {5, 0};
    event_base_loopexit(f.base, &tv);
    event_base_dispatch(f.base);
    CHECK_INT(f.s.accepts, 2);
    CHECK_INT(f.r.failed, 0);
    /* The parked connection is still there for the next plain call. */
    f.s.stream = false;
    run_posts(&f.r, &f.s, 1);
    CHECK_INT(f.r.ok, 1);
    CHECK_INT(f.s.accepts, 2);
    cm_http_call_cancel(call);
    teardown(&f);
}

/* One call's outcome, for the cases below. */
struct outcome {
    struct event_base *base;
    int calls; /* done callbacks */
    int err;
    long status;
    char msg[256];
    char *body;
    size_t body_len;
};

static void on_outcome(void *arg, int err, const char *errmsg, const struct cm_http_response *resp)
{
    struct outcome *o = arg;
    o->calls++;
    o->err = err;
    snprintf(o->msg, sizeof o->msg, "%s", errmsg ? errmsg : "");
    if (resp) {
        o->status = resp->status;
        if (err == 0 && resp->body) {
            o->body = malloc(resp->body_len + 1);
            if (o->body) {
                memcpy(o->body, resp->body, resp->body_len);
                o->body[resp->body_len] = '\0';
                o->body_len = resp->body_len;
            }
        }
    }
    event_base_loopexit(o->base, NULL);
}

static void wait_outcome(struct outcome *o)
{
    struct timeval tv = {10, 0};
    event_base_loopexit(o->base, &tv);
    event_base_dispatch(o->base);
}

static void refused_connect_ends_the_call_from_the_loop(void)
{
    struct fixture f;
    REQUIRE(setup(&f) == 0);
    /* A port nobody listens on any more: the server's own, closed. */
    int port = f.s.port;
    evconnlistener_free(f.s.lis);
    f.s.lis = NULL;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/executor", port);
    struct outcome o = {.base = f.base};
    struct cm_http_request_opts opts = {.method = "POST",
                                        .url = url,
                                        .body = "abc",
                                        .body_len = 3,
                                        .timeout_secs = 5,
                                        .on_done = on_outcome,
                                        .arg = &o};
    REQUIRE(cm_http_client_start(f.r.client, &opts, NULL) == 0);
    CHECK_INT(o.calls, 0); /* never from inside start */
    wait_outcome(&o);
    CHECK_INT(o.calls, 1);
    CHECK_INT(o.err, CM_EHTTP);
    CHECK(strstr(o.msg, "connect failed") != NULL);
    CHECK(strstr(o.msg, "refused") != NULL);
    teardown(&f);
}

static void large_answer_is_read_whole(void)
{
    struct fixture f;
    REQUIRE(setup(&f) == 0);
    f.s.big_answer = 1000 * 1000; /* many reads of the client's buffer */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/big", f.s.port);
    struct outcome o = {.base = f.base};
    struct cm_http_request_opts opts = {
        .method = "GET", .url = url, .timeout_secs = 10, .on_done = on_outcome, .arg = &o};
    REQUIRE(cm_http_client_start(f.r.client, &opts, NULL) == 0);
    wait_outcome(&o);
    CHECK_INT(o.calls, 1);
    CHECK_INT(o.err, 0);
    CHECK_INT(o.status, 200);
    REQUIRE(o.body != NULL);
    CHECK_INT(o.body_len, f.s.big_answer);
    size_t bad = 0;
    for (size_t i = 0; i < o.body_len; i++)
        bad += o.body[i] != (char)('a' + i % 26);
    CHECK_INT(bad, 0);
    free(o.body);
    teardown(&f);
}

static void large_request_waits_for_the_socket(void)
{
    struct fixture f;
    REQUIRE(setup(&f) == 0);
    f.s.echo_len = true;
    /* More than a loopback socket takes at once: the rest waits for the write watch. */
    size_t len = 16u * 1024 * 1024;
    char *body = malloc(len);
    REQUIRE(body != NULL);
    memset(body, 'q', len);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/executor", f.s.port);
    for (int round = 0; round < 2; round++) {
        /* The second round goes on the parked connection. */
        struct outcome o = {.base = f.base};
        struct cm_http_request_opts opts = {.method = "POST",
                                            .url = url,
                                            .body = body,
                                            .body_len = len,
                                            .timeout_secs = 10,
                                            .on_done = on_outcome,
                                            .arg = &o};
        REQUIRE(cm_http_client_start(f.r.client, &opts, NULL) == 0);
        wait_outcome(&o);
        CHECK_INT(o.calls, 1);
        CHECK_INT(o.err, 0);
        CHECK_INT(o.status, 200);
        CHECK_STR(o.body, "16777216");
        free(o.body);
    }
    CHECK_INT(f.s.accepts, 1);
    CHECK_INT(f.s.requests, 2);
    free(body);
    teardown(&f);
}

/* The status line, read by hand: what it accepts and what it refuses. */
static void status_lines(void)
{
    static const struct {
        const char *answer;
        long status; /* 0: refused as malformed */
    } cases[] = {
        {"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", 202},
        {"HTTP/1.0 404\r\nContent-Length: 0\r\n\r\n", 404},
        {"HTTP/1.1  200  OK\r\nContent-Length: 0\r\n\r\n", 200},
        {"HTTP/1.1 99 Low\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1 2000 High\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1 20x OK\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/x.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0},
        {"SPDY/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fixture f;
        REQUIRE(setup(&f) == 0);
        f.s.raw = cases[i].answer;
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/x", f.s.port);
        struct outcome o = {.base = f.base};
        struct cm_http_request_opts opts = {
            .method = "GET", .url = url, .timeout_secs = 5, .on_done = on_outcome, .arg = &o};
        REQUIRE(cm_http_client_start(f.r.client, &opts, NULL) == 0);
        wait_outcome(&o);
        CHECK_INT(o.calls, 1);
        if (cases[i].status) {
            CHECK_INT(o.err, 0);
            CHECK_INT(o.status, cases[i].status);
        } else {
            CHECK_INT(o.err, CM_EHTTP);
            CHECK_STR(o.msg, "malformed HTTP status line");
        }
        free(o.body);
        teardown(&f);
    }
}

TEST_MAIN(TEST(status_lines), TEST(plain_calls_share_one_connection),
          TEST(connection_close_is_honoured), TEST(dropped_reused_connection_is_resent_once),
          TEST(streaming_call_keeps_its_own_connection),
          TEST(refused_connect_ends_the_call_from_the_loop), TEST(large_answer_is_read_whole),
          TEST(large_request_waits_for_the_socket))
