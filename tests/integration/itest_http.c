/*
 * itest_http.c: the HTTP server and client against each other over real sockets on 127.0.0.1,
 * in one process and one event loop.
 */
#include <errno.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_data_segs_in */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "errors.h"
#include "http_client.h"
#include "http_server.h"
#include "stream.h"
#include "mesos/v1/scheduler/scheduler.pb-c.h"
#include "harness.h"
#include "test.h"

/* ---- fixture ------------------------------------------------------------------------------ */

struct fixture {
    struct event_base *base;
    struct cm_http_server *srv;
    struct cm_http_client *client;
    uint16_t port;
    char url[128];
};

/* One finished plain call, as seen by on_done. */
struct result {
    bool done;
    int ncalls;
    int err;
    char errmsg[256];
    long status;
    char *body;
    size_t body_len;
    char content_type[128];
    char stream_id[64];
};

static void result_clear(struct result *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

static void on_done_store(void *arg, int err, const char *errmsg,
                          const struct cm_http_response *resp)
{
    struct result *r = arg;
    r->done = true;
    r->ncalls++;
    r->err = err;
    snprintf(r->errmsg, sizeof r->errmsg, "%s", errmsg ? errmsg : "(null)");
    r->status = resp ? resp->status : -1;
    if (resp && resp->body) {
        free(r->body);
        r->body = malloc(resp->body_len + 1);
        memcpy(r->body, resp->body, resp->body_len);
        r->body[resp->body_len] = '\0';
        r->body_len = resp->body_len;
    }
    const char *ct = cm_http_response_header(resp, "content-type");
    snprintf(r->content_type, sizeof r->content_type, "%s", ct ? ct : "");
}

/* ---- handlers ----------------------------------------------------------------------------- */

static void h_echo(struct cm_http_request *req, void *arg)
{
    (void)arg;
    cm_http_add_header(req, "X-Path", req->path);
    char head[64];
    snprintf(head, sizeof head, "%s:", req->method);
    size_t hl = strlen(head);
    char *buf = malloc(hl + req->body_len);
    memcpy(buf, head, hl);
    memcpy(buf + hl, req->body, req->body_len);
    cm_http_respond(req, 200, "text/plain", buf, hl + req->body_len);
    free(buf);
}

static void h_query(struct cm_http_request *req, void *arg)
{
    (void)arg;
    char *name = cm_http_request_query_param(req, "name");
    char *missing = cm_http_request_query_param(req, "nope");
    cm_http_respond_text(req, 200, "[%s][%s][%s]", name ? name : "NULL", missing ? missing : "NULL",
                         cm_http_request_peer(req));
    free(name);
    free(missing);
}

static void h_json(struct cm_http_request *req, void *arg)
{
    (void)arg;
    cm_http_respond_json(req, 200, json_pack("{s:i}", "a", 1));
}

/* Requests parked by /slow, answered at teardown (or never: the server frees them). */
struct parked {
    struct cm_http_request *reqs[8];
    int n;
};

static void h_slow(struct cm_http_request *req, void *arg)
{
    struct parked *p = arg;
    if (p->n < 8)
        p->reqs[p->n++] = req;
    else
        cm_http_respond_text(req, 503, "too many");
}

/* A server-side stream fed by a timer. */
struct sstream {
    struct cm_http_stream *st;
    struct event *timer;
    int sent;
    int to_send; /* end after this many chunks; 0 = never end */
    bool closed; /* close callback ran */
    int close_calls;
    bool end_in_close; /* call cm_http_stream_end from the close callback */
};

static void on_sstream_close(struct cm_http_stream *st, void *arg)
{
    struct sstream *s = arg;
    (void)st;
    s->closed = true;
    s->close_calls++;
    if (s->timer)
        evtimer_del(s->timer);
    if (s->end_in_close) {
        CHECK_INT(cm_http_stream_send(st, "x", 1), CM_ECLOSED);
        cm_http_stream_end(st);
    }
    s->st = NULL;
}

static void on_sstream_tick(evutil_socket_t fd, short what, void *arg)
{
    struct sstream *s = arg;
    (void)fd;
    (void)what;
    static const char *const words[] = {"one", "two", "three", "four", "five"};
    if (!s->st)
        return;
    const char *w = words[s->sent % 5];
    CHECK_INT(cm_http_stream_send(s->st, w, strlen(w)), 0);
    s->sent++;
    if (s->to_send && s->sent == s->to_send) {
        cm_http_stream_end(s->st);
        s->st = NULL;
        return;
    }
    struct timeval tv = {0, 20000};
    evtimer_add(s->timer, &tv);
}

static void h_stream(struct cm_http_request *req, void *arg)
{
    struct sstream *s = arg;
    cm_http_add_header(req, "Mesos-Stream-Id", "abc-123");
    s->st = cm_http_stream_start(req, 200, "application/json", on_sstream_close, s);
    struct timeval tv = {0, 20000};
    evtimer_add(s->timer, &tv);
}

static void fixture_init(struct fixture *f, size_t max_body)
{
    memset(f, 0, sizeof *f);
    f->base = event_base_new();
    f->srv = cm_http_server_new(f->base, "master", max_body);
    f->client = cm_http_client_new(f->base);
    CHECK(f->srv && f->client);
    CHECK_INT(cm_http_server_bind(f->srv, "127.0.0.1", 0, &f->port), 0);
    CHECK(f->port != 0);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u", f->port);
    cm_http_server_route(f->srv, "/echo", h_echo, NULL);
    cm_http_server_route(f->srv, "/q", h_query, NULL);
    cm_http_server_route(f->srv, "/json", h_json, NULL);
}

static void fixture_cleanup(struct fixture *f)
{
    cm_http_client_free(f->client);
    cm_http_server_free(f->srv);
    event_base_free(f->base);
}

/* Makes a plain call and runs the loop until it is done. */
static void call_sync(struct fixture *f, const char *method, const char *path, const char *body,
                      size_t body_len, struct result *r)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", f->url, path);
    struct cm_http_request_opts o = {0};
    o.method = method;
    o.url = url;
    o.body = body;
    o.body_len = body_len;
    o.timeout_secs = 3;
    o.on_done = on_done_store;
    o.arg = r;
    result_clear(r);
    REQUIRE(cm_http_client_start(f->client, &o, NULL) == 0);
    CHECK(itest_loop_until(f->base, &r->done));
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_round_trip(void)
{
    struct fixture f;
    fixture_init(&f, 1024);
    struct result r = {0};

    call_sync(&f, "GET", "/echo", NULL, 0, &r);
    CHECK_INT(r.err, 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "GET:");
    CHECK_STR(r.content_type, "text/plain");

    call_sync(&f, "POST", "/echo", "hello world", 11, &r);
    CHECK_INT(r.err, 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "POST:hello world");

    call_sync(&f, "DELETE", "/echo", NULL, 0, &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "DELETE:");

    /* Unknown path: 404 with a plain-text body. */
    call_sync(&f, "GET", "/nope", NULL, 0, &r);
    CHECK_INT(r.err, 0);
    CHECK_INT(r.status, 404);
    CHECK_STR(r.content_type, "text/plain; charset=utf-8");

    /* Prefix alias: "/master/echo" reaches "/echo"; the path is reported as requested. */
    call_sync(&f, "POST", "/master/echo", "x", 1, &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "POST:x");
    call_sync(&f, "GET", "/master/nope", NULL, 0, &r);
    CHECK_INT(r.status, 404);
    call_sync(&f, "GET", "/masterecho", NULL, 0, &r);
    CHECK_INT(r.status, 404);

    /* Percent-encoded path. */
    call_sync(&f, "GET", "/%65cho", NULL, 0, &r);
    CHECK_INT(r.status, 200);
    call_sync(&f, "GET", "/ech%00o", NULL, 0, &r);
    CHECK_INT(r.status, 400);

    /* Oversized body: 413 before any handler. */
    char *big = malloc(4096);
    memset(big, 'a', 4096);
    call_sync(&f, "POST", "/echo", big, 4096, &r);
    CHECK_INT(r.err, 0);
    CHECK_INT(r.status, 413);
    free(big);
    /* The server still works afterwards. */
    call_sync(&f, "GET", "/echo", NULL, 0, &r);
    CHECK_INT(r.status, 200);

    /* Disallowed method. */
    call_sync(&f, "PATCH", "/echo", NULL, 0, &r);
    CHECK(r.status == 405 || r.status == 501);

    result_clear(&r);
    fixture_cleanup(&f);
}

static void test_query_and_jsonp(void)
{
    struct fixture f;
    fixture_init(&f, 0);
    struct result r = {0};

    call_sync(&f, "GET", "/q?x=1&name=a%20b+c%2Bd&y", NULL, 0, &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "[a b c+d][NULL][127.0.0.1]");
    call_sync(&f, "GET", "/q?name", NULL, 0, &r);
    CHECK_STR(r.body, "[][NULL][127.0.0.1]");
    call_sync(&f, "GET", "/q?name=a%00b", NULL, 0, &r);
    CHECK_STR(r.body, "[NULL][NULL][127.0.0.1]");

    call_sync(&f, "GET", "/json", NULL, 0, &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"a\":1}");
    CHECK_STR(r.content_type, "application/json");

    call_sync(&f, "GET", "/master/json?jsonp=my.cb_1$", NULL, 0, &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "my.cb_1$({\"a\":1})");
    CHECK_STR(r.content_type, "text/javascript");

    call_sync(&f, "GET", "/json?jsonp=alert(1)", NULL, 0, &r);
    CHECK_INT(r.status, 400);

    result_clear(&r);
    fixture_cleanup(&f);
}

/* Client side of a stream. */
struct cstream {
    struct cm_http_call *call;
    bool got_headers;
    long status;
    char stream_id[64];
    char data[256];
    size_t len;
    int chunks;
    bool cancel_on_data; /* cancel the call from its own on_data */
    int abort_on_data;   /* return this from on_data */
    struct result done;
};

static int on_cs_headers(void *arg, const struct cm_http_response *resp)
{
    struct cstream *c = arg;
    CHECK(!c->got_headers);
    c->got_headers = true;
    c->status = resp->status;
    const char *id = cm_http_response_header(resp, "MESOS-STREAM-ID");
    snprintf(c->stream_id, sizeof c->stream_id, "%s", id ? id : "");
    return 0;
}

static int on_cs_data(void *arg, const void *data, size_t len)
{
    struct cstream *c = arg;
    CHECK(c->got_headers);
    if (c->len + len < sizeof c->data) {
        memcpy(c->data + c->len, data, len);
        c->len += len;
        c->data[c->len] = '\0';
    }
    c->chunks++;
    if (c->cancel_on_data) {
        cm_http_call_cancel(c->call);
        cm_http_call_cancel(c->call); /* twice is harmless */
    }
    return c->abort_on_data;
}

static void on_cs_done(void *arg, int err, const char *errmsg, const struct cm_http_response *resp)
{
    struct cstream *c = arg;
    on_done_store(&c->done, err, errmsg, resp);
}

static void start_cstream(struct fixture *f, const char *path, struct cstream *c)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", f->url, path);
    const char *hdrs[] = {"Accept: application/json", "Content-Type: application/json", NULL};
    struct cm_http_request_opts o = {0};
    o.method = "POST";
    o.url = url;
    o.headers = hdrs;
    o.body = "{}";
    o.body_len = 2;
    o.on_headers = on_cs_headers;
    o.on_data = on_cs_data;
    o.on_done = on_cs_done;
    o.arg = c;
    CHECK_INT(cm_http_client_start(f->client, &o, &c->call), 0);
}

static void test_stream(void)
{
    struct fixture f;
    fixture_init(&f, 0);
    struct sstream s = {0};
    s.to_send = 3;
    s.timer = evtimer_new(f.base, on_sstream_tick, &s);
    cm_http_server_route(f.srv, "/api/v1/scheduler", h_stream, &s);

    struct cstream c = {0};
    start_cstream(&f, "/master/api/v1/scheduler", &c);
    CHECK(itest_loop_until(f.base, &c.done.done));
    CHECK_INT(c.done.err, 0);
    CHECK_INT(c.done.ncalls, 1);
    CHECK(c.got_headers);
    CHECK_INT(c.status, 200);
    CHECK_STR(c.stream_id, "abc-123");
    CHECK_STR(c.data, "onetwothree");
    CHECK(c.chunks >= 1);
    CHECK_STR(c.done.content_type, "application/json");
    CHECK(!s.closed); /* ended by us: no close callback */

    event_free(s.timer);
    result_clear(&c.done);
    fixture_cleanup(&f);
}

static void test_stream_client_cancel(void)
{
    struct fixture f;
    fixture_init(&f, 0);
    struct sstream s = {0};
    s.timer = evtimer_new(f.base, on_sstream_tick, &s);
    cm_http_server_route(f.srv, "/api/v1/scheduler", h_stream, &s);

    /* The client cancels from inside its own on_data: the server must notice promptly. */
    struct cstream c = {0};
    c.cancel_on_data = true;
    start_cstream(&f, "/api/v1/scheduler", &c);
    CHECK(itest_loop_until(f.base, &s.closed));
    CHECK_INT(s.close_calls, 1);
    CHECK_INT(c.chunks, 1);
    CHECK(!c.done.done);

    /* A second stream, idle on the server side, cancelled from a timer: the server notices
     * the idle connection going away too. */
    struct sstream s2 = {0};
    s2.timer = evtimer_new(f.base, on_sstream_tick, &s2);
    s2.end_in_close = true;
    cm_http_server_route(f.srv, "/idle", h_stream, &s2);
    struct cstream c2 = {0};
    start_cstream(&f, "/idle", &c2);
    CHECK(itest_loop_until(f.base, &c2.got_headers));
    evtimer_del(s2.timer); /* the server goes quiet */
    itest_loop_for(f.base, 0.05);
    cm_http_call_cancel(c2.call);
    CHECK(itest_loop_until(f.base, &s2.closed));
    CHECK_INT(s2.close_calls, 1);
    CHECK(!c2.done.done);

    /* A stream aborted by on_data's return value ends with CM_ECLOSED. */
    struct sstream s3 = {0};
    s3.timer = evtimer_new(f.base, on_sstream_tick, &s3);
    cm_http_server_route(f.srv, "/abort", h_stream, &s3);
    struct cstream c3 = {0};
    c3.abort_on_data = 1;
    start_cstream(&f, "/abort", &c3);
    CHECK(itest_loop_until(f.base, &c3.done.done));
    CHECK_INT(c3.done.err, CM_ECLOSED);
    CHECK(itest_loop_until(f.base, &s3.closed));

    /* Server freed with a stream open: its close callback runs. */
    struct sstream s4 = {0};
    s4.timer = evtimer_new(f.base, on_sstream_tick, &s4);
    cm_http_server_route(f.srv, "/open", h_stream, &s4);
    struct cstream c4 = {0};
    start_cstream(&f, "/open", &c4);
    CHECK(itest_loop_until(f.base, &c4.got_headers));
    cm_http_server_free(f.srv);
    f.srv = NULL;
    CHECK(s4.closed);
    CHECK_INT(s4.close_calls, 1);
    /* The client sees the stream break. */
    CHECK(itest_loop_until(f.base, &c4.done.done));
    CHECK_INT(c4.done.err, CM_EHTTP);

    event_free(s.timer);
    event_free(s2.timer);
    event_free(s3.timer);
    event_free(s4.timer);
    result_clear(&c.done);
    result_clear(&c2.done);
    result_clear(&c3.done);
    result_clear(&c4.done);
    fixture_cleanup(&f);
}

/* A client that writes on its stream connection and then vanishes: the bytes are dropped
 * (bounded), the server stays up and the close callback runs. */
static void test_stream_chatty_client(void)
{
    struct fixture f;
    fixture_init(&f, 0);
    struct sstream s = {0};
    s.timer = evtimer_new(f.base, on_sstream_tick, &s);
    cm_http_server_route(f.srv, "/idle", h_stream, &s);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(f.port);
    REQUIRE(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    const char *req = "POST /idle HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    bool started = false;
    for (int i = 0; i < 100 && !started; i++) {
        itest_loop_for(f.base, 0.01);
        started = s.st != NULL;
    }
    CHECK(started);
    evtimer_del(s.timer);
    /* 1 MiB of junk, written while the loop runs so neither side blocks. */
    char junk[8192];
    memset(junk, 'j', sizeof junk);
    size_t sent = 0;
    for (int i = 0; i < 500 && sent < (1u << 20); i++) {
        ssize_t n = send(fd, junk, sizeof junk, MSG_DONTWAIT);
        if (n > 0)
            sent += (size_t)n;
        itest_loop_for(f.base, 0.002);
    }
    CHECK(sent >= (1u << 20));
    CHECK(!s.closed);
    CHECK_INT(cm_http_stream_send(s.st, "still", 5), 0);
    CHECK(cm_http_stream_pending(s.st) < (1u << 20));
    itest_loop_for(f.base, 0.02);
    close(fd);
    CHECK(itest_loop_until(f.base, &s.closed));
    CHECK_INT(s.close_calls, 1);

    event_free(s.timer);
    fixture_cleanup(&f);
}

/* A subscriber that stops reading: the server keeps producing, the unsent bytes stay under the
 * cap (plus one chunk), the stream is cut off once, counted, and its close callback runs. */
struct flood {
    struct cm_http_stream *st;
    struct event *timer;
    size_t sent;
    size_t max_pending;
    int refused;
    bool closed;
    int close_calls;
};

static void on_flood_close(struct cm_http_stream *st, void *arg)
{
    struct flood *fl = arg;
    (void)st;
    fl->closed = true;
    fl->close_calls++;
    fl->st = NULL;
}

static void on_flood_tick(evutil_socket_t fd, short what, void *arg)
{
    struct flood *fl = arg;
    (void)fd;
    (void)what;
    if (!fl->st)
        return;
    /* A HEARTBEAT-sized event would take too long to fill a socket; send big MESSAGE events. */
    static uint8_t data[32 * 1024];
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Message msg = MESOS__V1__SCHEDULER__EVENT__MESSAGE__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
    aid.value = "a";
    eid.value = "e";
    msg.agent_id = &aid;
    msg.executor_id = &eid;
    msg.data.data = data;
    msg.data.len = sizeof data;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__MESSAGE;
    ev.message = &msg;
    for (int i = 0; i < 8 && fl->st; i++) {
        int rc = cm_stream_send(fl->st, CM_MEDIA_PROTOBUF, &ev.base);
        if (rc == CM_ECLOSED) {
            fl->refused++;
            CHECK_INT(cm_stream_send(fl->st, CM_MEDIA_PROTOBUF, &ev.base), CM_ECLOSED);
            return; /* the close callback follows from the loop */
        }
        CHECK_INT(rc, 0);
        fl->sent += sizeof data;
        size_t p = cm_http_stream_pending(fl->st);
        if (p > fl->max_pending)
            fl->max_pending = p;
    }
    struct timeval tv = {0, 1000};
    evtimer_add(fl->timer, &tv);
}

static void h_flood(struct cm_http_request *req, void *arg)
{
    struct flood *fl = arg;
    fl->st = cm_http_stream_start(req, 200, "application/x-protobuf", on_flood_close, fl);
    struct timeval tv = {0, 1000};
    evtimer_add(fl->timer, &tv);
}

static void test_stream_slow_subscriber(void)
{
    struct fixture f;
    fixture_init(&f, 0);
    const size_t cap = 512 * 1024;
    cm_http_server_set_stream_cap(f.srv, cap);
    struct flood fl = {0};
    fl.timer = evtimer_new(f.base, on_flood_tick, &fl);
    cm_http_server_route(f.srv, "/flood", h_flood, &fl);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 16 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(f.port);
    REQUIRE(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    const char *req = "POST /flood HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    /* Never read: the server must give up on us. */
    CHECK(itest_loop_until(f.base, &fl.closed));
    CHECK_INT(fl.close_calls, 1);
    CHECK_INT(fl.refused, 1);
    CHECK(cm_http_server_slow_drops(f.srv) == 1);
    json_t *metrics = json_object();
    cm_http_server_metrics(f.srv, metrics, "master");
    CHECK(json_real_value(json_object_get(metrics, "master/event_streams_dropped_slow")) == 1.0);
    json_decref(metrics);
    CHECK(fl.max_pending <= cap + 32 * 1024 + 64);
    CHECK(fl.max_pending > 0);
    printf("slow subscriber: %zu bytes produced, at most %zu unsent, cut off\n", fl.sent,
           fl.max_pending);
    /* The connection is gone: reading drains what the kernel held, then EOF or a reset. */
    char buf[65536];
    ssize_t n;
    size_t total = 0;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        total += (size_t)n;
    CHECK(total < fl.sent);
    close(fd);

    event_free(fl.timer);
    fixture_cleanup(&f);
}

static void test_errors(void)
{
    struct fixture f;
    fixture_init(&f, 0);
    struct parked parked = {0};
    cm_http_server_route(f.srv, "/slow", h_slow, &parked);
    struct result r = {0};

    /* Connection refused: a port that was just free. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    close(fd);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/x", ntohs(sa.sin_port));
    struct cm_http_request_opts o = {0};
    o.url = url;
    o.on_done = on_done_store;
    o.arg = &r;
    CHECK_INT(cm_http_client_start(f.client, &o, NULL), 0);
    CHECK(itest_loop_until(f.base, &r.done));
    CHECK_INT(r.err, CM_EHTTP);
    CHECK_INT(r.status, 0);
    CHECK(strlen(r.errmsg) > 0);
    printf("refused: %s\n", r.errmsg);

    /* Plain call timeout. */
    result_clear(&r);
    snprintf(url, sizeof url, "%s/slow", f.url);
    o.url = url;
    o.timeout_secs = 0.3;
    CHECK_INT(cm_http_client_start(f.client, &o, NULL), 0);
    CHECK(itest_loop_until(f.base, &r.done));
    CHECK_INT(r.err, CM_EHTTP);
    CHECK_INT(r.ncalls, 1);
    printf("timeout: %s\n", r.errmsg);

    /* Body over max_body: CM_ETOOBIG. */
    result_clear(&r);
    snprintf(url, sizeof url, "%s/echo", f.url);
    o.url = url;
    o.method = "POST";
    o.body = "0123456789abcdef";
    o.body_len = 16;
    o.max_body = 8;
    o.timeout_secs = 3;
    CHECK_INT(cm_http_client_start(f.client, &o, NULL), 0);
    CHECK(itest_loop_until(f.base, &r.done));
    CHECK_INT(r.err, CM_ETOOBIG);

    /* Bad input is refused at once, without a callback. */
    result_clear(&r);
    o.max_body = 0;
    o.url = "not a url";
    CHECK(cm_http_client_start(f.client, &o, NULL) < 0);
    o.url = "ftp://127.0.0.1/x";
    CHECK(cm_http_client_start(f.client, &o, NULL) < 0);
    o.url = url;
    const char *bad[] = {"X-Evil: a\r\nInjected: b", NULL};
    o.headers = bad;
    CHECK(cm_http_client_start(f.client, &o, NULL) < 0);
    o.headers = NULL;
    o.method = "GE T";
    CHECK(cm_http_client_start(f.client, &o, NULL) < 0);
    itest_loop_for(f.base, 0.05);
    CHECK(!r.done);

    for (int i = 0; i < parked.n; i++)
        cm_http_respond_text(parked.reqs[i], 200, "late");
    result_clear(&r);
    fixture_cleanup(&f);
}

/* A done callback that cancels another call in flight. */
struct canceller {
    struct cm_http_call *victim;
    struct result res;
};

static void on_done_cancel_other(void *arg, int err, const char *errmsg,
                                 const struct cm_http_response *resp)
{
    struct canceller *k = arg;
    on_done_store(&k->res, err, errmsg, resp);
    cm_http_call_cancel(k->victim);
}

/* A done callback that starts a new call. */
struct chain {
    struct fixture *f;
    struct result first, second;
};

static void on_done_chain(void *arg, int err, const char *errmsg,
                          const struct cm_http_response *resp)
{
    struct chain *ch = arg;
    on_done_store(&ch->first, err, errmsg, resp);
    char url[256];
    snprintf(url, sizeof url, "%s/echo", ch->f->url);
    struct cm_http_request_opts o = {0};
    o.url = url;
    o.on_done = on_done_store;
    o.arg = &ch->second;
    CHECK_INT(cm_http_client_start(ch->f->client, &o, NULL), 0);
}

struct data_chain {
    struct fixture *f;
    struct cstream cs;
    struct result started;
    bool did_start;
};

static int on_data_start_call(void *arg, const void *data, size_t len)
{
    struct data_chain *dc = arg;
    (void)data;
    (void)len;
    if (!dc->did_start) {
        dc->did_start = true;
        char url[256];
        snprintf(url, sizeof url, "%s/echo", dc->f->url);
        struct cm_http_request_opts o = {0};
        o.url = url;
        o.on_done = on_done_store;
        o.arg = &dc->started;
        CHECK_INT(cm_http_client_start(dc->f->client, &o, NULL), 0);
    }
    return 0;
}

static void on_dc_done(void *arg, int err, const char *errmsg, const struct cm_http_response *resp)
{
    struct data_chain *dc = arg;
    on_done_store(&dc->cs.done, err, errmsg, resp);
}

static void test_cancel_in_callbacks(void)
{
    struct fixture f;
    fixture_init(&f, 0);
    struct parked parked = {0};
    cm_http_server_route(f.srv, "/slow", h_slow, &parked);

    /* A's done cancels B (parked on the server): B never calls back. */
    struct canceller k = {0};
    struct result rb = {0};
    char url_a[256], url_b[256];
    snprintf(url_a, sizeof url_a, "%s/echo", f.url);
    snprintf(url_b, sizeof url_b, "%s/slow", f.url);
    struct cm_http_request_opts ob = {0};
    ob.url = url_b;
    ob.on_done = on_done_store;
    ob.arg = &rb;
    CHECK_INT(cm_http_client_start(f.client, &ob, &k.victim), 0);
    struct cm_http_request_opts oa = {0};
    oa.url = url_a;
    oa.on_done = on_done_cancel_other;
    oa.arg = &k;
    CHECK_INT(cm_http_client_start(f.client, &oa, NULL), 0);
    CHECK(itest_loop_until(f.base, &k.res.done));
    CHECK_INT(k.res.status, 200);
    itest_loop_for(f.base, 0.1);
    CHECK(!rb.done);

    /* A done callback starts another call. */
    struct chain ch = {0};
    ch.f = &f;
    oa.on_done = on_done_chain;
    oa.arg = &ch;
    CHECK_INT(cm_http_client_start(f.client, &oa, NULL), 0);
    CHECK(itest_loop_until(f.base, &ch.second.done));
    CHECK_INT(ch.second.status, 200);

    /* A stream's on_data (inside curl) starts another call. */
    struct sstream s = {0};
    s.to_send = 2;
    s.timer = evtimer_new(f.base, on_sstream_tick, &s);
    cm_http_server_route(f.srv, "/stream", h_stream, &s);
    struct data_chain dc = {0};
    dc.f = &f;
    char url_s[256];
    snprintf(url_s, sizeof url_s, "%s/stream", f.url);
    struct cm_http_request_opts os = {0};
    os.url = url_s;
    os.on_data = on_data_start_call;
    os.on_done = on_dc_done;
    os.arg = &dc;
    CHECK_INT(cm_http_client_start(f.client, &os, NULL), 0);
    CHECK(itest_loop_until(f.base, &dc.started.done));
    CHECK_INT(dc.started.status, 200);
    CHECK(itest_loop_until(f.base, &dc.cs.done.done));
    CHECK_INT(dc.cs.done.err, 0);

    /* Calls in flight when the client is freed: no callbacks, no leaks. */
    struct result rc = {0};
    ob.arg = &rc;
    CHECK_INT(cm_http_client_start(f.client, &ob, NULL), 0);
    CHECK_INT(cm_http_client_start(f.client, &ob, NULL), 0);
    itest_loop_for(f.base, 0.05);
    cm_http_client_free(f.client);
    f.client = NULL;
    itest_loop_for(f.base, 0.05);
    CHECK(!rc.done);

    for (int i = 0; i < parked.n; i++)
        cm_http_respond_text(parked.reqs[i], 200, "late");
    itest_loop_for(f.base, 0.05);
    event_free(s.timer);
    result_clear(&k.res);
    result_clear(&rb);
    result_clear(&ch.first);
    result_clear(&ch.second);
    result_clear(&dc.started);
    result_clear(&dc.cs.done);
    result_clear(&rc);
    fixture_cleanup(&f);
}

/* The client freed from inside callbacks: from a plain call's done and from a stream's
 * on_data (inside curl), with other calls in flight. */
struct freer {
    struct fixture *f;
    bool fired;
    bool done_called;
};

static void on_done_freer_never(void *arg, int err, const char *errmsg,
                                const struct cm_http_response *resp)
{
    struct freer *fr = arg;
    (void)err;
    (void)errmsg;
    (void)resp;
    fr->done_called = true;
}

static void on_done_free_client(void *arg, int err, const char *errmsg,
                                const struct cm_http_response *resp)
{
    struct freer *fr = arg;
    (void)err;
    (void)errmsg;
    (void)resp;
    fr->fired = true;
    cm_http_client_free(fr->f->client);
    fr->f->client = NULL;
}

static int on_data_free_client(void *arg, const void *data, size_t len)
{
    (void)data;
    (void)len;
    on_done_free_client(arg, 0, "", NULL);
    return 0;
}

static void on_done_never(void *arg, int err, const char *errmsg,
                          const struct cm_http_response *resp)
{
    (void)err;
    (void)errmsg;
    (void)resp;
    *(bool *)arg = true;
}

static void test_free_client_in_callbacks(void)
{
    struct fixture f;
    fixture_init(&f, 0);
    struct parked parked = {0};
    cm_http_server_route(f.srv, "/slow", h_slow, &parked);
    struct sstream s = {0};
    s.timer = evtimer_new(f.base, on_sstream_tick, &s);
    cm_http_server_route(f.srv, "/stream", h_stream, &s);
    char url_slow[256], url_echo[256], url_stream[256];
    snprintf(url_slow, sizeof url_slow, "%s/slow", f.url);
    snprintf(url_echo, sizeof url_echo, "%s/echo", f.url);
    snprintf(url_stream, sizeof url_stream, "%s/stream", f.url);

    bool never = false;
    struct cm_http_request_opts slow = {0};
    slow.url = url_slow;
    slow.on_done = on_done_never;
    slow.arg = &never;
    CHECK_INT(cm_http_client_start(f.client, &slow, NULL), 0);

    struct freer fr = {&f, false, false};
    struct cm_http_request_opts o = {0};
    o.url = url_echo;
    o.on_done = on_done_free_client;
    o.arg = &fr;
    CHECK_INT(cm_http_client_start(f.client, &o, NULL), 0);
    CHECK(itest_loop_until(f.base, &fr.fired));
    CHECK(f.client == NULL);
    itest_loop_for(f.base, 0.05);
    CHECK(!never);

    /* Again, from inside curl's write callback. */
    f.client = cm_http_client_new(f.base);
    REQUIRE(f.client != NULL);
    CHECK_INT(cm_http_client_start(f.client, &slow, NULL), 0);
    struct freer fr2 = {&f, false, false};
    struct cm_http_request_opts os = {0};
    os.url = url_stream;
    os.on_data = on_data_free_client;
    os.on_done = on_done_freer_never;
    os.arg = &fr2;
    CHECK_INT(cm_http_client_start(f.client, &os, NULL), 0);
    CHECK(itest_loop_until(f.base, &fr2.fired));
    CHECK(f.client == NULL);
    CHECK(itest_loop_until(f.base, &s.closed));
    CHECK(!never);
    CHECK(!fr2.done_called);

    for (int i = 0; i < parked.n; i++)
        cm_http_respond_text(parked.reqs[i], 200, "late");
    itest_loop_for(f.base, 0.05);
    event_free(s.timer);
    fixture_cleanup(&f);
}

/* Sends raw on a connected socket and reads until want bytes came back, or a response ending
 * in "POST:hello" did (or 3 s passed), running the server's loop meanwhile; returns the bytes
 * read. */
static size_t raw_exchange(struct fixture *f, int fd, const char *req, char *buf, size_t want)
{
    CHECK(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
    size_t got = 0;
    for (int i = 0; i < 3000 && got < want; i++) {
        itest_loop_for(f->base, 0.001);
        ssize_t n = recv(fd, buf + got, want - got, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t)n;
        else if (n == 0)
            break;
        if (got >= 10 && memcmp(buf + got - 10, "POST:hello", 10) == 0)
            break;
    }
    return got;
}

static unsigned data_segs_in(int fd)
{
    struct tcp_info ti;
    memset(&ti, 0, sizeof ti);
    socklen_t len = sizeof ti;
    CHECK_INT(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    return ti.tcpi_data_segs_in;
}

/* A plain response leaves in one write, so in one TCP segment (the server's TCP_NODELAY sends
 * each write at once): the connection layer used to write all but the last byte at once and
 * that byte from the loop, two segments per response. Kept-alive and "Connection: close". */
static void test_plain_response_one_segment(void)
{
    struct fixture f;
    fixture_init(&f, 1024);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    char buf[1024];
    const char *ka = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
    /* Learn the response's length from a first exchange (headers carry the date). */
    size_t got = raw_exchange(&f, fd, ka, buf, sizeof buf - 1);
    buf[got] = '\0';
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    CHECK(strstr(buf, "POST:hello") != NULL);
    unsigned segs = data_segs_in(fd);
    CHECK_INT(segs, 1);
    for (int i = 0; i < 5; i++) {
        size_t again = raw_exchange(&f, fd, ka, buf, got);
        CHECK_INT(again, got);
        CHECK_INT(data_segs_in(fd), segs + 1);
        segs = data_segs_in(fd);
    }
    const char *cl =
        "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello";
    size_t last = raw_exchange(&f, fd, cl, buf, sizeof buf - 1);
    buf[last] = '\0';
    CHECK(strstr(buf, "Connection: close") != NULL);
    CHECK(strstr(buf, "POST:hello") != NULL);
    CHECK_INT(data_segs_in(fd), segs + 1);
    close(fd);
    fixture_cleanup(&f);
}

/* Starts a stream and sends its first event at once, as the agent does for SUBSCRIBED; the
 * stream stays open until the client goes. */
static void h_stream_first(struct cm_http_request *req, void *arg)
{
    struct cm_http_stream **out = arg;
    *out = cm_http_stream_start(req, 200, "application/x-protobuf", NULL, NULL);
    CHECK_INT(cm_http_stream_send(*out, "SUBSCRIBED", 10), 0);
    CHECK_INT(cm_http_stream_send(*out, "HEARTBEAT", 9), 0);
}

/* The head of a stream and the events sent with it leave in one write (one TCP segment); later
 * events in one more. */
static void test_stream_head_and_first_event_one_segment(void)
{
    struct fixture f;
    fixture_init(&f, 1024);
    struct cm_http_stream *st = NULL;
    cm_http_server_route(f.srv, "/first", h_stream_first, &st);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    const char *req = "POST /first HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
    CHECK(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
    char buf[2048];
    size_t got = 0;
    for (int i = 0; i < 3000; i++) {
        itest_loop_for(f.base, 0.001);
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "HEARTBEAT\r\n") || n == 0)
            break;
    }
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    CHECK(strstr(buf, "\r\n\r\na\r\nSUBSCRIBED\r\n9\r\nHEARTBEAT\r\n") != NULL);
    CHECK_INT(data_segs_in(fd), 1);
    REQUIRE(st != NULL);
    /* A later event goes on its own, after the head. */
    CHECK_INT(cm_http_stream_send(st, "LATER", 5), 0);
    got = 0;
    for (int i = 0; i < 3000; i++) {
        itest_loop_for(f.base, 0.001);
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "LATER\r\n") || n == 0)
            break;
    }
    CHECK_STR(buf, "5\r\nLATER\r\n");
    CHECK_INT(data_segs_in(fd), 2);
    cm_http_stream_end(st);
    close(fd);
    itest_loop_for(f.base, 0.02);
    fixture_cleanup(&f);
}

TEST_MAIN(TEST(test_round_trip), TEST(test_plain_response_one_segment),
          TEST(test_stream_head_and_first_event_one_segment), TEST(test_query_and_jsonp),
          TEST(test_stream), TEST(test_stream_client_cancel), TEST(test_stream_chatty_client),
          TEST(test_stream_slow_subscriber), TEST(test_errors), TEST(test_cancel_in_callbacks),
          TEST(test_free_client_in_callbacks))
