/*
 * http_server.c: routing, responses and chunked streams on libevent's evhttp.
 *
 * A stream (SUBSCRIBE) may stay idle for seconds between heartbeats, and its close callback
 * must run promptly when the client goes away. evhttp 2.1 notices EOF while a response is
 * being written (it keeps EV_READ on with no read callback), but that depends on internals and
 * the bytes it reads pile up unbounded. So every stream also watches its socket with a read
 * event of its own that drains and drops client bytes; EOF or a socket error closes the
 * stream and frees the evhttp connection. Whichever notices first wins; the other is removed.
 */
#include "http_server.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "errors.h"
#include "http_framer.h"
#include "http_guard.h"
#include "log.h"
#include "metrics.h"
#include "tls.h"

#define ROUTE_BUCKETS 64
/* Request headers above this are refused by evhttp (400); Mesos clients send a handful. */
#define MAX_HEADERS_SIZE (64 * 1024)
/* How many reads one readiness event of a stream socket may do before yielding. */
#define WATCH_READS 16
/* Bytes evhttp may buffer from a stream's client before it stops reading. */
#define STREAM_INPUT_CAP 4096

struct route {
    char *path;
    cm_http_handler handler;
    void *arg;
    struct route *next;
};

/* The request handed to handlers, plus the links that let the server free unanswered ones. */
struct req_wrap {
    struct cm_http_request pub;
    struct cm_http_guard_conn *conn; /* the connection's guard state (body charge, timeouts) */
    struct req_wrap *prev, *next;
};

struct cm_http_stream {
    struct cm_http_server *srv;
    struct evhttp_request *ev;       /* NULL once the peer was found gone at start */
    struct evhttp_connection *evcon; /* NULL when ev is NULL */
    struct event *watch;             /* read-readiness of the socket, or the dead-start timer */
    struct evbuffer *chunk;
    cm_http_stream_close_cb close_cb;
    void *arg;
    bool in_close; /* the close callback is running; the stream is freed after it */
    bool dropped;  /* cut off for exceeding the cap; the kill event closes it from the loop */
    struct event *kill;
    struct cm_http_guard_conn *conn; /* held until the stream is released */
    struct cm_http_stream *prev, *next;
    /* In the server's list of streams with bytes in `chunk` to write at the end of the turn */
    bool queued;
    bool chunked; /* the response is chunked (HTTP/1.1): `chunk` holds framed chunks */
    struct cm_http_stream *qprev, *qnext;
};

struct cm_http_server {
    struct event_base *base;
    struct evhttp *http;
    char *prefix; /* "master", "slave(1)" or NULL */
    struct route *routes[ROUTE_BUCKETS];
    cm_http_handler fallback;
    void *fallback_arg;
    cm_http_route_check route_check; /* runs before every routed handler (authentication) */
    void *route_check_arg;
    struct req_wrap *pending; /* requests handed to handlers and not yet answered */
    struct cm_http_stream *streams;
    size_t stream_cap;
    uint64_t slow_drops;
    struct cm_http_guard *guard;
    struct cm_http_guard_limits limits;
    struct cm_tls *own_tls; /* from cm_http_server_tls_from_env */
    bool tls;               /* connections may be TLS: stream writes go through evhttp */
    /* Streams written to in this loop turn, flushed by flush_ev once the turn's other
     * callbacks ran: each gets one chunk (one write) however many events it was sent. */
    struct event *flush_ev;
    struct cm_http_stream *flush_head;
    uint64_t stream_writes, stream_direct_writes, stream_sends;
};

/* ---- small helpers ---------------------------------------------------------------------- */

static size_t hash_path(const char *s)
{
    /* FNV-1a: routes are few, the point is only to avoid a scan per request. */
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h % ROUTE_BUCKETS;
}

static struct route *route_find(const struct cm_http_server *srv, const char *path)
{
    for (struct route *r = srv->routes[hash_path(path)]; r; r = r->next)
        if (strcmp(r->path, path) == 0)
            return r;
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (n + 1 bytes), '+' as space if plus. Malformed escapes stay
 * literal. Returns false if the result would contain a NUL byte, since every caller treats it as
 * a C string. */
static bool pct_decode_into(char *out, const char *s, size_t n, bool plus)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (c == '\0')
            return false;
        out[j++] = c;
    }
    out[j] = '\0';
    return true;
}

/* As pct_decode_into, into a new string (NULL on a NUL byte). */
static char *pct_decode(const char *s, size_t n, bool plus)
{
    char *out = malloc(n + 1);
    if (!out)
        abort();
    if (!pct_decode_into(out, s, n, plus)) {
        free(out);
        return NULL;
    }
    return out;
}

static struct req_wrap *wrap_of(struct cm_http_request *req)
{
    return (struct req_wrap *)((char *)req - offsetof(struct req_wrap, pub));
}

static void wrap_unlink(struct cm_http_server *srv, struct req_wrap *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        srv->pending = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

static void wrap_free(struct req_wrap *w)
{
    free(w); /* path and query live in the same block */
}

/* The request has been answered (or turned into a stream): forget our wrapper. */
static void request_done_as(struct cm_http_request *req, bool streaming)
{
    struct req_wrap *w = wrap_of(req);
    cm_http_guard_request_end(w->conn, streaming);
    wrap_unlink(req->server, w);
    wrap_free(w);
}

static void request_done(struct cm_http_request *req)
{
    request_done_as(req, false);
}

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "UNKNOWN";
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static void send_plain_error(struct evhttp_request *ev, int code, const char *msg)
{
    evhttp_add_header(evhttp_request_get_output_headers(ev), "Content-Type",
                      "text/plain; charset=utf-8");
    evbuffer_add(evhttp_request_get_output_buffer(ev), msg, strlen(msg));
    evhttp_send_reply(ev, code, NULL, NULL);
}

static void on_request(struct evhttp_request *ev, void *arg)
{
    struct cm_http_server *srv = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!raw || !*raw)
        raw = "/";
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    /* One block per request: the wrapper, then the decoded path, then the query. */
    size_t rlen = strlen(raw), qlen = query ? strlen(query) : 0;
    struct req_wrap *w = malloc(sizeof *w + rlen + 1 + (query ? qlen + 1 : 0));
    if (!w)
        abort();
    memset(w, 0, sizeof *w);
    char *path = (char *)(w + 1);
    if (!pct_decode_into(path, raw, rlen, false) || path[0] != '/') {
        free(w);
        send_plain_error(ev, 400, "Malformed request path");
        return;
    }
    w->pub.ev = ev;
    w->pub.server = srv;
    w->conn = cm_http_guard_request_begin(srv->guard, ev);
    w->pub.method = method_name(evhttp_request_get_command(ev));
    w->pub.path = path;
    if (query) {
        w->pub.query = path + rlen + 1;
        memcpy(w->pub.query, query, qlen + 1);
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(ev);
    w->pub.body_len = evbuffer_get_length(in);
    w->pub.body = w->pub.body_len ? evbuffer_pullup(in, -1) : (const uint8_t *)"";
    w->next = srv->pending;
    if (w->next)
        w->next->prev = w;
    srv->pending = w;

    struct route *r = route_find(srv, path);
    if (!r && srv->prefix) {
        /* "/<prefix>/x" reaches the route "/x" (libprocess delegate naming). */
        size_t plen = strlen(srv->prefix);
        if (strncmp(path + 1, srv->prefix, plen) == 0) {
            const char *rest = path + 1 + plen;
            if (*rest == '/')
                r = route_find(srv, rest);
            else if (*rest == '\0')
                r = route_find(srv, "/");
        }
    }
    if (r && srv->route_check && srv->route_check(&w->pub, r->path, srv->route_check_arg))
        return; /* the check answered */
    if (r)
        r->handler(&w->pub, r->arg);
    else if (srv->fallback)
        srv->fallback(&w->pub, srv->fallback_arg);
    else
        cm_http_respond_text(&w->pub, 404, "No such endpoint: %s", path);
}

/* ---- server ------------------------------------------------------------------------------- */

struct cm_http_server *cm_http_server_new(struct event_base *base, const char *prefix,
                                          size_t max_body)
{
    /* evbuffer writes use writev without MSG_NOSIGNAL, so a peer that vanishes mid-write
     * would otherwise kill the daemon with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);

    struct cm_http_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    srv->base = base;
    srv->stream_cap = CM_HTTP_STREAM_CAP_DEFAULT;
    srv->http = evhttp_new(base);
    if (!srv->http)
        goto fail;
    if (prefix && *prefix) {
        srv->prefix = strdup(prefix);
        if (!srv->prefix)
            goto fail;
    }
    evhttp_set_max_body_size(srv->http, max_body ? (ev_ssize_t)max_body : -1);
    evhttp_set_max_headers_size(srv->http, MAX_HEADERS_SIZE);
    evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                              EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_OPTIONS);
    /* Read (and drop) an oversized body before answering 413, so the client sees the answer
     * instead of a reset connection. */
    evhttp_set_flags(srv->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_default_content_type(srv->http, NULL);
    evhttp_set_gencb(srv->http, on_request, srv);
    srv->limits.max_body = max_body ? max_body : CM_HTTP_FRAMER_MAX_BODY_DEFAULT;
    srv->guard = cm_http_guard_new(base, srv->http, &srv->limits);
    return srv;
fail:
    if (srv->http)
        evhttp_free(srv->http);
    free(srv->prefix);
    free(srv);
    return NULL;
}

static void stream_unlink(struct cm_http_stream *st)
{
    struct cm_http_server *srv = st->srv;
    if (st->prev)
        st->prev->next = st->next;
    else
        srv->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    st->prev = st->next = NULL;
}

void cm_http_server_set_stream_cap(struct cm_http_server *srv, size_t bytes)
{
    srv->stream_cap = bytes ? bytes : CM_HTTP_STREAM_CAP_DEFAULT;
}

uint64_t cm_http_server_slow_drops(const struct cm_http_server *srv)
{
    return srv->slow_drops;
}

void cm_http_server_metrics(const struct cm_http_server *srv, json_t *o, const char *prefix)
{
    char key[128];
    snprintf(key, sizeof key, "%s/event_streams_dropped_slow", prefix);
    cm_metrics_set(o, key, (double)srv->slow_drops);
    /* Events sent on streams, the writes they became (one per stream and loop turn), and how
     * many of those went straight to the socket. */
    snprintf(key, sizeof key, "%s/event_stream_sends", prefix);
    cm_metrics_set(o, key, (double)srv->stream_sends);
    snprintf(key, sizeof key, "%s/event_stream_writes", prefix);
    cm_metrics_set(o, key, (double)srv->stream_writes);
    snprintf(key, sizeof key, "%s/event_stream_direct_writes", prefix);
    cm_metrics_set(o, key, (double)srv->stream_direct_writes);
    cm_http_guard_metrics(srv->guard, o, prefix);
}

void cm_http_server_set_limits(struct cm_http_server *srv, const struct cm_http_server_limits *l)
{
    srv->limits.max_connections = l->max_connections;
    srv->limits.max_buffered = l->max_buffered_body;
    srv->limits.idle_timeout = l->idle_timeout;
    srv->limits.request_timeout = l->request_timeout;
    cm_http_guard_set_limits(srv->guard, &srv->limits);
}

size_t cm_http_server_max_connections(const struct cm_http_server *srv)
{
    return cm_http_guard_max_connections(srv->guard);
}

void cm_http_server_set_tls(struct cm_http_server *srv, struct cm_tls *tls)
{
    srv->tls = tls != NULL;
    cm_http_guard_set_tls(srv->guard, tls);
}

int cm_http_server_tls_from_env(struct cm_http_server *srv, char *why, size_t whylen)
{
    struct cm_tls *tls = NULL;
    int rc = cm_tls_from_env(&tls, why, whylen);
    if (rc)
        return rc;
    if (tls) {
        cm_tls_free(srv->own_tls);
        srv->own_tls = tls;
        srv->tls = true;
        cm_http_guard_set_tls(srv->guard, tls);
    }
    return 0;
}

/* Takes st off the server's flush list (its unsent chunk stays in st->chunk). */
static void stream_dequeue(struct cm_http_stream *st)
{
    if (!st->queued)
        return;
    if (st->qprev)
        st->qprev->qnext = st->qnext;
    else
        st->srv->flush_head = st->qnext;
    if (st->qnext)
        st->qnext->qprev = st->qprev;
    st->qprev = st->qnext = NULL;
    st->queued = false;
}

static void stream_release(struct cm_http_stream *st)
{
    stream_dequeue(st);
    cm_http_guard_stream_end(st->conn);
    if (st->watch)
        event_free(st->watch);
    if (st->kill)
        event_free(st->kill);
    evbuffer_free(st->chunk);
    free(st);
}

/* The peer is gone (or the server is going away): run the close callback once and free the
 * stream. The evhttp request is freed by the caller's path (see on_evcon_close). */
static void stream_close(struct cm_http_stream *st)
{
    if (st->evcon)
        evhttp_connection_set_closecb(st->evcon, NULL, NULL);
    stream_unlink(st);
    if (st->watch) {
        event_free(st->watch);
        st->watch = NULL;
    }
    st->in_close = true;
    if (st->close_cb)
        st->close_cb(st, st->arg);
    stream_release(st);
}

void cm_http_server_free(struct cm_http_server *srv)
{
    if (!srv)
        return;
    while (srv->streams)
        stream_close(srv->streams);
    while (srv->pending) {
        struct req_wrap *w = srv->pending;
        cm_http_guard_request_end(w->conn, false);
        wrap_unlink(srv, w);
        wrap_free(w);
    }
    if (srv->flush_ev)
        event_free(srv->flush_ev);
    cm_http_guard_free(srv->guard);
    /* Frees every connection and the requests still attached to them. */
    evhttp_free(srv->http);
    for (size_t i = 0; i < ROUTE_BUCKETS; i++) {
        struct route *r = srv->routes[i];
        while (r) {
            struct route *next = r->next;
            free(r->path);
            free(r);
            r = next;
        }
    }
    free(srv->prefix);
    cm_tls_free(srv->own_tls);
    free(srv);
}

int cm_http_server_bind(struct cm_http_server *srv, const char *ip, uint16_t port, uint16_t *bound)
{
    errno = 0;
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(srv->http, ip, port);
    if (!bs)
        return errno ? -errno : -EADDRNOTAVAIL;
    cm_http_guard_listener(srv->guard, evhttp_bound_socket_get_listener(bs));
    if (bound) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &len) != 0)
            return -errno;
        if (ss.ss_family == AF_INET)
            *bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            *bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        else
            *bound = port;
    }
    return 0;
}

void cm_http_server_route(struct cm_http_server *srv, const char *path, cm_http_handler handler,
                          void *arg)
{
    struct route *r = route_find(srv, path);
    if (r) {
        r->handler = handler;
        r->arg = arg;
        return;
    }
    r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->path = strdup(path);
    if (!r->path)
        abort();
    r->handler = handler;
    r->arg = arg;
    size_t b = hash_path(path);
    r->next = srv->routes[b];
    srv->routes[b] = r;
}

void cm_http_server_fallback(struct cm_http_server *srv, cm_http_handler handler, void *arg)
{
    srv->fallback = handler;
    srv->fallback_arg = arg;
}

void cm_http_server_route_check(struct cm_http_server *srv, cm_http_route_check check, void *arg)
{
    srv->route_check = check;
    srv->route_check_arg = arg;
}

/* ---- requests ----------------------------------------------------------------------------- */

const char *cm_http_request_header(const struct cm_http_request *req, const char *name)
{
    /* evhttp_find_header compares every header name byte by byte through a locale-free table;
     * a first-letter check skips most names, and libc's strcasecmp is ASCII-only in the C
     * locale the daemons run in, so folding stays the same. */
    unsigned char first = (unsigned char)name[0] | 0x20;
    const struct evkeyvalq *q = evhttp_request_get_input_headers(req->ev);
    for (const struct evkeyval *kv = q->tqh_first; kv; kv = kv->next.tqe_next)
        if (((unsigned char)kv->key[0] | 0x20) == first && strcasecmp(kv->key, name) == 0)
            return kv->value;
    return NULL;
}

char *cm_http_request_query_param(const struct cm_http_request *req, const char *name)
{
    const char *p = req->query;
    if (!p)
        return NULL;
    while (*p) {
        const char *end = strchr(p, '&');
        if (!end)
            end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *kend = eq ? eq : end;
        char *key = pct_decode(p, (size_t)(kend - p), true);
        bool match = key && strcmp(key, name) == 0;
        free(key);
        if (match) {
            if (!eq)
                return strdup("");
            return pct_decode(eq + 1, (size_t)(end - eq - 1), true);
        }
        p = *end ? end + 1 : end;
    }
    return NULL;
}

const char *cm_http_request_peer(const struct cm_http_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req->ev);
    if (!evcon)
        return "";
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evcon, &addr, &port);
    return addr ? addr : "";
}

void cm_http_add_header(struct cm_http_request *req, const char *name, const char *value)
{
    /* evhttp refuses values with CR/LF, which is what we want for untrusted text. */
    evhttp_add_header(evhttp_request_get_output_headers(req->ev), name, value);
}

void cm_http_respond(struct cm_http_request *req, int code, const char *content_type,
                     const void *body, size_t len)
{
    struct evhttp_request *ev = req->ev;
    if (content_type)
        evhttp_add_header(evhttp_request_get_output_headers(ev), "Content-Type", content_type);
    if (body && len)
        evbuffer_add(evhttp_request_get_output_buffer(ev), body, len);
    request_done(req);
    evhttp_send_reply(ev, code, NULL, NULL);
}

void cm_http_respond_text(struct cm_http_request *req, int code, const char *fmt, ...)
{
    struct evhttp_request *ev = req->ev;
    va_list ap;
    va_start(ap, fmt);
    evbuffer_add_vprintf(evhttp_request_get_output_buffer(ev), fmt, ap);
    va_end(ap);
    evhttp_add_header(evhttp_request_get_output_headers(ev), "Content-Type",
                      "text/plain; charset=utf-8");
    request_done(req);
    evhttp_send_reply(ev, code, NULL, NULL);
}

/* A JSONP callback is a dotted JavaScript name ("cb", "jQuery123_456", "my.ns.$cb"): segments
 * of [A-Za-z0-9_$] that do not start with a digit, joined by single dots, at most 256 bytes.
 * Anything else (parentheses, quotes, "<script>", spaces) could inject script into the page
 * that loads the response, so it is refused. */
static bool jsonp_valid(const char *cb)
{
    if (!*cb || strlen(cb) > 256)
        return false;
    bool seg_start = true;
    for (const char *p = cb; *p; p++) {
        char c = *p;
        if (c == '.') {
            if (seg_start)
                return false; /* empty segment: leading or double dot */
            seg_start = true;
            continue;
        }
        bool digit = c >= '0' && c <= '9';
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || digit || c == '_' || c == '$';
        if (!ok || (seg_start && digit))
            return false;
        seg_start = false;
    }
    return !seg_start; /* no trailing dot */
}

void cm_http_respond_json(struct cm_http_request *req, int code, json_t *json)
{
    if (!json) {
        cm_http_respond_text(req, 500, "Failed to build the JSON response");
        return;
    }
    char *text = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(json);
    if (!text) {
        cm_http_respond_text(req, 500, "Failed to encode the JSON response");
        return;
    }
    char *cb = cm_http_request_query_param(req, "jsonp");
    if (cb && !jsonp_valid(cb)) {
        free(cb);
        free(text);
        cm_http_respond_text(req, 400,
                             "Invalid 'jsonp' callback name: expecting a JavaScript identifier");
        return;
    }
    struct evhttp_request *ev = req->ev;
    struct evbuffer *out = evhttp_request_get_output_buffer(ev);
    struct evkeyvalq *hdrs = evhttp_request_get_output_headers(ev);
    if (cb) {
        /* As Mesos's OK(json, jsonp): "cb(<json>)" as text/javascript. */
        evhttp_add_header(hdrs, "Content-Type", "text/javascript");
        evbuffer_add_printf(out, "%s(%s)", cb, text);
    } else {
        evhttp_add_header(hdrs, "Content-Type", "application/json");
        evbuffer_add(out, text, strlen(text));
    }
    free(cb);
    free(text);
    request_done(req);
    evhttp_send_reply(ev, code, NULL, NULL);
}

/* ---- streams ------------------------------------------------------------------------------ */

/* evhttp is tearing the connection down (peer gone, write error, timeout, server freed). */
static void on_evcon_close(struct evhttp_connection *evcon, void *arg)
{
    struct cm_http_stream *st = arg;
    (void)evcon;
    struct evhttp_request *ev = st->ev;
    /* On a failed write evhttp detaches the unfinished request before freeing the connection
     * and leaves it to us; otherwise the connection frees it right after this callback. */
    bool detached = ev && evhttp_request_get_connection(ev) == NULL;
    st->evcon = NULL;
    stream_close(st);
    if (detached)
        evhttp_request_free(ev);
}

static void on_stream_readable(evutil_socket_t fd, short what, void *arg)
{
    struct cm_http_stream *st = arg;
    (void)what;
    char buf[4096];
    for (int i = 0; i < WATCH_READS; i++) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0)
            continue; /* a stream carries nothing from the client: drop it */
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* EOF or a socket error: the peer is gone. Close the stream first (this frees st and
         * this event), then the connection, which frees the request still attached to it. */
        struct evhttp_connection *evcon = st->evcon;
        stream_close(st);
        evhttp_connection_free(evcon);
        return;
    }
}

static void on_dead_start(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    stream_close(arg);
}

struct cm_http_stream *cm_http_stream_start(struct cm_http_request *req, int code,
                                            const char *content_type,
                                            cm_http_stream_close_cb close_cb, void *arg)
{
    struct cm_http_server *srv = req->server;
    struct evhttp_request *ev = req->ev;
    struct cm_http_stream *st = calloc(1, sizeof *st);
    if (!st)
        abort();
    st->srv = srv;
    st->close_cb = close_cb;
    st->arg = arg;
    st->chunk = evbuffer_new();
    if (!st->chunk)
        abort();
    st->conn = wrap_of(req)->conn;
    request_done_as(req, true);

    struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
    if (!evcon) {
        /* The connection already failed: report the close from the loop, as if the peer had
         * gone right after the headers. */
        evhttp_request_free(ev);
        st->watch = event_new(srv->base, -1, 0, on_dead_start, st);
        if (!st->watch)
            abort();
        event_active(st->watch, EV_TIMEOUT, 0);
    } else {
        st->ev = ev;
        st->evcon = evcon;
        if (content_type)
            evhttp_add_header(evhttp_request_get_output_headers(ev), "Content-Type", content_type);
        evhttp_send_reply_start(ev, code, NULL);
        const char *te =
            evhttp_find_header(evhttp_request_get_output_headers(ev), "Transfer-Encoding");
        st->chunked = te && strcmp(te, "chunked") == 0;
        evhttp_connection_set_closecb(evcon, on_evcon_close, st);
        struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
        /* While writing, evhttp keeps reading into a buffer nobody drains; cap it so a client
         * that talks on its stream cannot grow it. Our watch drains the socket instead. */
        bufferevent_setwatermark(bev, EV_READ, 0, STREAM_INPUT_CAP);
        evutil_socket_t fd = bufferevent_getfd(bev);
        st->watch = event_new(srv->base, fd, EV_READ | EV_PERSIST, on_stream_readable, st);
        if (!st->watch || event_add(st->watch, NULL) != 0)
            abort();
    }
    st->next = srv->streams;
    if (st->next)
        st->next->prev = st;
    srv->streams = st;
    return st;
}

/* A dropped stream is closed from the loop: free the connection (and the unsent bytes with
 * it), then tell the owner as for a vanished peer. */
static void on_stream_kill(evutil_socket_t fd, short what, void *arg)
{
    struct cm_http_stream *st = arg;
    (void)fd;
    (void)what;
    struct evhttp_connection *evcon = st->evcon;
    stream_close(st);
    if (evcon)
        evhttp_connection_free(evcon);
}

static void stream_drop_slow(struct cm_http_stream *st, size_t pending, size_t len)
{
    struct cm_http_server *srv = st->srv;
    st->dropped = true;
    srv->slow_drops++;
    char *addr = NULL;
    ev_uint16_t port = 0;
    if (st->evcon)
        evhttp_connection_get_peer(st->evcon, &addr, &port);
    CM_WARN("http",
            "Dropping the stream to %s:%u: %zu bytes unsent and %zu more would pass "
            "the cap of %zu bytes (the subscriber is not reading)",
            addr ? addr : "?", (unsigned)port, pending, len, srv->stream_cap);
    st->kill = event_new(srv->base, -1, 0, on_stream_kill, st);
    if (!st->kill)
        abort();
    event_active(st->kill, EV_TIMEOUT, 0);
}

/* "<hex length>\r\n" into buf (at least 20 bytes); returns its length. */
static size_t chunk_header(size_t n, char *buf)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    size_t k = 0;
    do {
        tmp[k++] = hex[n & 15];
        n >>= 4;
    } while (n && k < sizeof tmp);
    for (size_t i = 0; i < k; i++)
        buf[i] = tmp[k - 1 - i];
    buf[k] = '\r';
    buf[k + 1] = '\n';
    return k + 2;
}

/* Writes what st collected in this turn (one chunk per event, already framed) in one go. On a
 * plain connection with nothing queued it goes to the socket here (one writev, no EV_WRITE armed
 * and disarmed); what the kernel does not take, and everything on TLS connections or behind
 * queued bytes, goes through the connection's buffer. */
static void stream_flush(struct cm_http_stream *st)
{
    size_t total = evbuffer_get_length(st->chunk);
    if (total == 0)
        return;
    if (st->in_close || st->dropped || !st->ev || !st->evcon ||
        !evhttp_request_get_connection(st->ev)) {
        evbuffer_drain(st->chunk, total);
        return;
    }
    struct cm_http_server *srv = st->srv;
    srv->stream_writes++;
    if (!st->chunked) {
        /* HTTP/1.0: evhttp writes the body bytes as they are. */
        evhttp_send_reply_chunk(st->ev, st->chunk);
        evbuffer_drain(st->chunk, evbuffer_get_length(st->chunk));
        return;
    }
    struct bufferevent *bev = evhttp_connection_get_bufferevent(st->evcon);
    /* bev is the connection guard's filter (http_guard.h): nothing may wait in it or in the
     * socket's own buffer below it, or the direct write would overtake those bytes. */
    if (!srv->tls && cm_http_guard_unsent(bev) == 0) {
        struct evbuffer_iovec ext[16];
        struct iovec iov[16];
        int niov = evbuffer_peek(st->chunk, -1, NULL, ext, 16);
        if (niov > 16)
            niov = 16; /* the rest goes through the buffer below */
        for (int i = 0; i < niov; i++) {
            iov[i].iov_base = ext[i].iov_base;
            iov[i].iov_len = ext[i].iov_len;
        }
        ssize_t w;
        do
            w = writev(bufferevent_getfd(bev), iov, niov);
        while (w < 0 && errno == EINTR);
        if (w > 0) {
            srv->stream_direct_writes++;
            evbuffer_drain(st->chunk, (size_t)w);
        }
        if (evbuffer_get_length(st->chunk) == 0)
            return;
        /* The kernel's buffer is full (or the write failed: the connection's own write then
         * reports it and closes the stream). */
    }
    /* What evhttp_send_reply_chunk would do with bytes it framed itself. */
    bufferevent_write_buffer(bev, st->chunk);
    bufferevent_enable(bev, EV_WRITE);
}

void cm_http_server_flush(struct cm_http_server *srv)
{
    while (srv->flush_head) {
        struct cm_http_stream *st = srv->flush_head;
        stream_dequeue(st);
        stream_flush(st);
    }
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cm_http_server_flush(arg);
}

int cm_http_stream_send(struct cm_http_stream *st, const void *data, size_t len)
{
    if (st->in_close || st->dropped || !st->ev || !evhttp_request_get_connection(st->ev))
        return CM_ECLOSED;
    if (len == 0)
        return 0;
    size_t pending = cm_http_stream_pending(st);
    /* An empty queue takes any one chunk, so a single event larger than the cap still goes
     * out; the queue is bounded by the cap plus one chunk. */
    if (pending > 0 && pending + len > st->srv->stream_cap) {
        stream_drop_slow(st, pending, len);
        return CM_ECLOSED;
    }
    struct cm_http_server *srv = st->srv;
    srv->stream_sends++;
    if (st->chunked && !srv->tls && st->evcon && !st->queued &&
        evbuffer_get_length(st->chunk) == 0) {
        /* Bytes still wait in the connection (typically the response head of a stream that
         * just started): the chunk joins them now, and the connection's pump sends head and
         * chunk in one write, where the flush below would write it on its own after them. */
        struct bufferevent *bev = evhttp_connection_get_bufferevent(st->evcon);
        if (cm_http_guard_unsent(bev) > 0) {
            char hdr[24];
            size_t hlen = chunk_header(len, hdr);
            struct evbuffer *out = bufferevent_get_output(bev);
            evbuffer_add(out, hdr, hlen);
            evbuffer_add(out, data, len);
            evbuffer_add(out, "\r\n", 2);
            bufferevent_enable(bev, EV_WRITE);
            srv->stream_writes++;
            return 0;
        }
    }
    if (st->chunked) {
        /* Each event stays a chunk of its own (clients may rely on one record per chunk);
         * the chunks of one turn leave together. */
        char hdr[24];
        size_t hlen = chunk_header(len, hdr);
        evbuffer_add(st->chunk, hdr, hlen);
        evbuffer_add(st->chunk, data, len);
        evbuffer_add(st->chunk, "\r\n", 2);
    } else {
        evbuffer_add(st->chunk, data, len);
    }
    if (st->queued)
        return 0;
    if (!srv->flush_ev) {
        srv->flush_ev = event_new(srv->base, -1, 0, on_flush, srv);
        if (!srv->flush_ev)
            abort();
    }
    st->queued = true;
    st->qnext = srv->flush_head;
    if (st->qnext)
        st->qnext->qprev = st;
    srv->flush_head = st;
    /* Runs after the callbacks already due in this turn, so everything they send to this
     * stream joins the one write. */
    if (!event_pending(srv->flush_ev, EV_TIMEOUT, NULL))
        event_active(srv->flush_ev, EV_TIMEOUT, 0);
    return 0;
}

void cm_http_stream_end(struct cm_http_stream *st)
{
    if (!st || st->in_close)
        return; /* freed by stream_close once the close callback returns */
    if (st->evcon) {
        evhttp_connection_set_closecb(st->evcon, NULL, NULL);
        bufferevent_setwatermark(evhttp_connection_get_bufferevent(st->evcon), EV_READ, 0, 0);
    }
    stream_unlink(st);
    stream_dequeue(st);
    if (!st->dropped)
        stream_flush(st); /* what this turn sent goes before the end of the response */
    if (st->dropped && st->evcon)
        evhttp_connection_free(st->evcon); /* the peer does not read: do not flush to it */
    else if (st->ev)
        evhttp_send_reply_end(st->ev); /* frees the request once the last chunk is out */
    stream_release(st);
}

size_t cm_http_stream_pending(const struct cm_http_stream *st)
{
    if (st->in_close || !st->evcon)
        return 0;
    return evbuffer_get_length(st->chunk) +
           cm_http_guard_unsent(evhttp_connection_get_bufferevent(st->evcon));
}

/* ---- media types -------------------------------------------------------------------------- */

/* Trims [*s, *e) of blanks. */
static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

static bool token_is(const char *s, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(e - s) == n && strncasecmp(s, word, n) == 0;
}

/* How well the media range [s, e) matches type/subtype: 3 exact, 2 type/ *, 1 * / *, 0 no. */
static int range_match(const char *s, const char *e, const char *type, const char *subtype)
{
    const char *slash = memchr(s, '/', (size_t)(e - s));
    if (!slash)
        return 0;
    const char *ts = s, *te = slash, *ss = slash + 1, *se = e;
    trim(&ts, &te);
    trim(&ss, &se);
    bool type_any = token_is(ts, te, "*");
    bool sub_any = token_is(ss, se, "*");
    if (type_any && sub_any)
        return 1;
    if (!token_is(ts, te, type))
        return 0;
    if (sub_any)
        return 2;
    return token_is(ss, se, subtype) ? 3 : 0;
}

/* Parses the q parameter among the parameters [s, e) (";a=b;q=0.5"); default 1, -1 if bad. */
static double range_q(const char *s, const char *e)
{
    double q = 1.0;
    while (s < e) {
        const char *ps = s + 1; /* skip ';' */
        const char *pe = memchr(ps, ';', (size_t)(e - ps));
        if (!pe)
            pe = e;
        const char *a = ps, *b = pe;
        trim(&a, &b);
        if (b - a >= 2 && (a[0] == 'q' || a[0] == 'Q') && a[1] == '=') {
            char num[16];
            size_t n = (size_t)(b - a - 2);
            if (n == 0 || n >= sizeof num)
                return -1;
            memcpy(num, a + 2, n);
            num[n] = '\0';
            char *end = NULL;
            q = strtod(num, &end);
            if (*end != '\0' || q < 0 || q > 1)
                return -1;
        }
        s = pe;
    }
    return q;
}

enum cm_media cm_http_negotiate(const char *accept)
{
    if (!accept)
        return CM_MEDIA_JSON;
    const char *p = accept;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return CM_MEDIA_JSON;

    /* For each candidate keep the q of the most specific matching range (RFC 7231 §5.3.2). */
    int json_spec = 0, pb_spec = 0;
    double json_q = 0, pb_q = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *params = memchr(p, ';', (size_t)(end - p));
        const char *rs = p, *re = params ? params : end;
        trim(&rs, &re);
        double q = range_q(params ? params : end, end);
        if (rs < re && q >= 0) {
            int js = range_match(rs, re, "application", "json");
            int ps = range_match(rs, re, "application", "x-protobuf");
            if (js > json_spec || (js && js == json_spec && q > json_q)) {
                json_spec = js;
                json_q = q;
            }
            if (ps > pb_spec || (ps && ps == pb_spec && q > pb_q)) {
                pb_spec = ps;
                pb_q = q;
            }
        }
        p = *end ? end + 1 : end;
    }
    if (json_spec && json_q > 0)
        return CM_MEDIA_JSON;
    if (pb_spec && pb_q > 0)
        return CM_MEDIA_PROTOBUF;
    return CM_MEDIA_NONE;
}
