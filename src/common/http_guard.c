/*
 * http_guard.c: see http_guard.h.
 *
 * Each connection is a bufferevent filter (what evhttp holds) over a socket bufferevent. The
 * input filter decrypts (TLS) and runs the plaintext through the connection's framer; the output
 * filter encrypts (TLS) or copies. Refusals are written straight to the socket side, so they
 * never mix with evhttp's state; evhttp is then told the peer went away (an EOF event on the
 * filter), which frees the connection the way a real disconnect does. Timeouts and the linger
 * after a refusal are checked by one periodic sweep per server.
 */
#include "http_guard.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "clock.h"
#include "http_framer.h"
#include "log.h"
#include "metrics.h"
#include "tls.h"

#define MOD "http"
#define BUCKETS 1024
/* Seconds a refused connection may linger for the peer to read the answer. */
#define LINGER_SECS 2.0
/* Accept back-off and the least time between two reports of accept failures. */
#define ACCEPT_PAUSE_SECS 0.2
#define ACCEPT_LOG_SECS 10.0
/* Idle connections closed at once when accept() runs out of descriptors. */
#define EVICT_BATCH 16
/* Bytes of TLS records moved per OpenSSL call. */
#define TLS_CHUNK 16384

enum proto { P_UNKNOWN, P_PLAIN, P_TLS };

struct cm_http_guard_conn {
    struct cm_http_guard *g; /* NULL once the guard is gone */
    struct bufferevent *bev, *under;
    struct cm_http_framer *framer;
    enum proto proto;
    SSL *ssl;
    struct evbuffer *plain; /* decrypted input (TLS) */
    uint64_t reserved;      /* body bytes charged to the global cap and not yet handed over */
    uint64_t chunk_seen;    /* body bytes of the current chunked request already charged */
    double last_done, req_started, closing_since;
    int inflight; /* requests dispatched and not answered */
    bool streaming, closing, shut, killed, gone, refuse_new;
    bool chunked;     /* the request being received has a chunked body */
    bool nodelay;     /* TCP_NODELAY is set on the socket */
    int pending_code; /* a refusal waiting for inflight requests to be answered */
    char pending_msg[256];
    struct event *ev;      /* deferred work: refusal of a new connection, kill */
    struct event *pump;    /* deferred flush of what evhttp wrote (see on_bev_output) */
    struct evbuffer *tail; /* the held-back last byte, sealed, being sent (see out_filter) */
    struct cm_http_guard_conn *prev, *next, *hnext;
    /* In the guard's idle list (see idle_push) */
    bool in_idle;
    struct cm_http_guard_conn *iprev, *inext;
};

struct cm_http_guard {
    struct event_base *base;
    struct evhttp *http;
    struct cm_http_guard_limits lim;
    size_t max_conns; /* effective */
    struct cm_tls *tls;
    struct cm_http_guard_conn *conns; /* newest first */
    struct cm_http_guard_conn *buckets[BUCKETS];
    /* Connections with no request dispatched, oldest last_done first: a connection joins at the
     * tail when it opens and when its last request is answered (last_done = now, so the list
     * stays sorted), and leaves when a request is dispatched, it streams, or it closes. */
    struct cm_http_guard_conn *idle_head, *idle_tail;
    size_t nconns;
    uint64_t buffered;
    struct event *sweep;
    struct evconnlistener *listener;
    struct event *resume;
    double last_accept_log, last_limit_log;
    uint64_t accept_fail_unlogged, limit_unlogged;
    /* counters */
    uint64_t c_accepted, c_refused_conns, c_evicted, c_too_large, c_buffer_full, c_malformed,
        c_idle_timeouts, c_request_timeouts, c_accept_errors, c_tls_failures, c_plain_on_tls;
};

static double now(void)
{
    return cm_monotonic_secs();
}

static size_t bucket(const struct bufferevent *bev)
{
    return ((uintptr_t)bev >> 4) % BUCKETS;
}

static struct cm_http_guard_conn *conn_find(struct cm_http_guard *g, const struct bufferevent *bev)
{
    for (struct cm_http_guard_conn *c = g->buckets[bucket(bev)]; c; c = c->hnext)
        if (c->bev == bev)
            return c;
    return NULL;
}

static void idle_remove(struct cm_http_guard_conn *c)
{
    struct cm_http_guard *g = c->g;
    if (!c->in_idle || !g)
        return;
    if (c->iprev)
        c->iprev->inext = c->inext;
    else
        g->idle_head = c->inext;
    if (c->inext)
        c->inext->iprev = c->iprev;
    else
        g->idle_tail = c->iprev;
    c->iprev = c->inext = NULL;
    c->in_idle = false;
}

/* Puts c at the tail of the idle list; its last_done must be the latest of the list's. */
static void idle_push(struct cm_http_guard_conn *c)
{
    struct cm_http_guard *g = c->g;
    if (!g)
        return;
    idle_remove(c);
    c->iprev = g->idle_tail;
    c->inext = NULL;
    if (g->idle_tail)
        g->idle_tail->inext = c;
    else
        g->idle_head = c;
    g->idle_tail = c;
    c->in_idle = true;
}

static void conn_unlink(struct cm_http_guard_conn *c)
{
    idle_remove(c);
    struct cm_http_guard *g = c->g;
    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    struct cm_http_guard_conn **pp = &g->buckets[bucket(c->bev)];
    while (*pp && *pp != c)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = c->hnext;
    c->prev = c->next = c->hnext = NULL;
    g->nconns--;
}

static void conn_release(struct cm_http_guard_conn *c)
{
    if (c->ev)
        event_free(c->ev);
    if (c->pump)
        event_free(c->pump);
    cm_http_framer_free(c->framer);
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->plain)
        evbuffer_free(c->plain);
    if (c->tail)
        evbuffer_free(c->tail);
    free(c);
}

static void uncharge(struct cm_http_guard *g, uint64_t n)
{
    if (g)
        g->buffered = g->buffered > n ? g->buffered - n : 0;
}

/* The filter bufferevent is being finalized: the connection is over. */
static void on_conn_free(void *arg)
{
    struct cm_http_guard_conn *c = arg;
    struct cm_http_guard *g = c->g;
    if (g) {
        uncharge(g, c->reserved);
        c->reserved = 0;
        conn_unlink(c);
        if (g->listener && g->nconns < g->max_conns && !g->resume)
            evconnlistener_enable(g->listener);
    }
    if (c->ev) {
        event_free(c->ev);
        c->ev = NULL;
    }
    if (c->pump) {
        event_free(c->pump);
        c->pump = NULL;
    }
    c->gone = true;
    c->g = NULL; /* unlinked: the guard may go before a request still holding c */
    if (c->inflight > 0 && g)
        return; /* freed by the last cm_http_guard_request_end */
    conn_release(c);
}

/* True while evhttp still holds the filter (bufferevent_free clears its callbacks first). */
static bool conn_alive(struct cm_http_guard_conn *c)
{
    if (c->gone)
        return false;
    bufferevent_event_cb ecb = NULL;
    bufferevent_getcb(c->bev, NULL, NULL, &ecb, NULL);
    return ecb != NULL;
}

/* Closes the connection as if the peer had gone (from the loop, never inside a filter). */
static void conn_kill_now(struct cm_http_guard_conn *c)
{
    if (c->killed || !conn_alive(c))
        return;
    c->killed = true;
    bufferevent_trigger_event(c->bev, BEV_EVENT_EOF | BEV_EVENT_READING, 0);
}

static void write_wire(struct cm_http_guard_conn *c, const void *data, size_t len);
static void pump_later(struct cm_http_guard_conn *c, double secs);

static void refuse_now(struct cm_http_guard_conn *c, int code, const char *msg);

static void on_conn_event(evutil_socket_t fd, short what, void *arg)
{
    struct cm_http_guard_conn *c = arg;
    (void)fd;
    (void)what;
    if (c->refuse_new) {
        c->refuse_new = false;
        char msg[160];
        snprintf(msg, sizeof msg,
                 "Too many connections: this server serves at most %zu at a time; retry later",
                 c->g ? c->g->max_conns : (size_t)0);
        refuse_now(c, 503, msg);
        return;
    }
    if (c->pending_code && c->inflight == 0) {
        int code = c->pending_code;
        c->pending_code = 0;
        refuse_now(c, code, c->pending_msg);
        return;
    }
    if (c->closing || c->killed)
        conn_kill_now(c);
}

static void conn_defer(struct cm_http_guard_conn *c)
{
    if (!c->ev) {
        c->ev = event_new(c->g->base, -1, 0, on_conn_event, c);
        if (!c->ev)
            abort();
    }
    event_active(c->ev, EV_TIMEOUT, 0);
}

/* ---- TLS over memory BIOs --------------------------------------------------------------- */

static void tls_flush_to(struct cm_http_guard_conn *c, struct evbuffer *out)
{
    BIO *w = SSL_get_wbio(c->ssl);
    char buf[TLS_CHUNK];
    int n;
    while (BIO_ctrl_pending(w) > 0 && (n = BIO_read(w, buf, sizeof buf)) > 0)
        evbuffer_add(out, buf, (size_t)n);
}

static void tls_flush(struct cm_http_guard_conn *c)
{
    tls_flush_to(c, bufferevent_get_output(c->under));
}

static bool tls_begin(struct cm_http_guard_conn *c)
{
    SSL_CTX *ctx = cm_tls_server_ctx(c->g->tls);
    c->ssl = ctx ? SSL_new(ctx) : NULL;
    BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
    c->plain = evbuffer_new();
    if (!c->ssl || !r || !w || !c->plain) {
        BIO_free(r);
        BIO_free(w);
        return false;
    }
    SSL_set_bio(c->ssl, r, w);
    SSL_set_accept_state(c->ssl);
    c->proto = P_TLS;
    return true;
}

/* Feeds TLS records from src; decrypted bytes go to c->plain. Returns false when the TLS
 * session failed (handshake refused, bad record). */
static bool tls_input(struct cm_http_guard_conn *c, struct evbuffer *src)
{
    BIO *r = SSL_get_rbio(c->ssl);
    char buf[TLS_CHUNK];
    size_t len;
    while ((len = evbuffer_get_length(src)) > 0) {
        size_t n = len < sizeof buf ? len : sizeof buf;
        evbuffer_remove(src, buf, n);
        BIO_write(r, buf, (int)n);
    }
    for (;;) {
        int n = SSL_read(c->ssl, buf, sizeof buf);
        if (n > 0) {
            evbuffer_add(c->plain, buf, (size_t)n);
            continue;
        }
        int err = SSL_get_error(c->ssl, n);
        tls_flush(c);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
            return true;
        if (err == SSL_ERROR_ZERO_RETURN)
            return true; /* close_notify: the peer's EOF follows */
        unsigned long e = ERR_get_error();
        char why[256];
        ERR_error_string_n(e, why, sizeof why);
        ERR_clear_error();
        c->g->c_tls_failures++;
        CM_DEBUG(MOD, "TLS session failed: %s", e ? why : "protocol error");
        return false;
    }
}

/* Moves n bytes of src to out, encrypted when the connection speaks TLS. */
static void seal(struct cm_http_guard_conn *c, struct evbuffer *src, size_t n, struct evbuffer *out)
{
    if (c->proto != P_TLS) {
        evbuffer_remove_buffer(src, out, n);
        return;
    }
    while (n > 0) {
        size_t k = n < TLS_CHUNK ? n : TLS_CHUNK;
        unsigned char *p = evbuffer_pullup(src, (ev_ssize_t)k);
        int w = SSL_write(c->ssl, p, (int)k);
        if (w <= 0) {
            evbuffer_drain(src, n); /* no session (handshake failed): the connection is closing */
            break;
        }
        evbuffer_drain(src, (size_t)w);
        n -= (size_t)w;
    }
    tls_flush_to(c, out);
}

static void tls_output(struct cm_http_guard_conn *c, struct evbuffer *src)
{
    seal(c, src, evbuffer_get_length(src), bufferevent_get_output(c->under));
}

static void write_wire(struct cm_http_guard_conn *c, const void *data, size_t len)
{
    if (c->proto == P_TLS) {
        if (!SSL_is_init_finished(c->ssl))
            return;
        struct evbuffer *tmp = evbuffer_new();
        evbuffer_add(tmp, data, len);
        tls_output(c, tmp);
        evbuffer_free(tmp);
    } else {
        evbuffer_add(bufferevent_get_output(c->under), data, len);
    }
}

/* ---- refusals ----------------------------------------------------------------------------- */

static const char *reason(int code)
{
    switch (code) {
    case 400: return "Bad Request";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    }
    return "Error";
}

/* Once the answer is on the wire, half-close so the peer sees the end. */
static void on_under_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct cm_http_guard_conn *c = arg;
    /* Bytes queued on the socket: write them when it is writable (libevent's own callback,
     * which ran before this one, could not: writing was off). */
    (void)info; /* NULL when called directly (refusals) */
    if (evbuffer_get_length(buf) > 0 && !(bufferevent_get_enabled(c->under) & EV_WRITE))
        bufferevent_enable(c->under, EV_WRITE);
    /* The socket took everything: the held-back last byte of a response may go now. */
    if (!c->closing && evbuffer_get_length(buf) == 0 && !c->gone &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
        pump_later(c, 0);
    if (c->closing && !c->shut && evbuffer_get_length(buf) == 0) {
        c->shut = true;
        evutil_socket_t fd = bufferevent_getfd(c->under);
        if (fd >= 0)
            shutdown(fd, SHUT_WR);
    }
}

static void refuse_now(struct cm_http_guard_conn *c, int code, const char *msg)
{
    if (c->closing)
        return;
    c->closing = true;
    c->closing_since = now();
    if (c->proto != P_UNKNOWN) {
        char head[256];
        size_t mlen = strlen(msg);
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
                         code, reason(code), mlen + 1, code == 503 ? "Retry-After: 1\r\n" : "");
        write_wire(c, head, (size_t)n);
        write_wire(c, msg, mlen);
        write_wire(c, "\n", 1);
    }
    on_under_output(bufferevent_get_output(c->under), NULL, c);
    if (c->proto == P_UNKNOWN)
        conn_defer(c); /* nothing to say over an unknown protocol: just close */
}

/* Refuses from inside a filter: answers at once unless evhttp still owes an answer on this
 * connection, in which case the refusal waits so the answers stay in order. */
static void refuse(struct cm_http_guard_conn *c, int code, const char *msg)
{
    if (c->inflight > 0) {
        c->pending_code = code;
        snprintf(c->pending_msg, sizeof c->pending_msg, "%s", msg);
        c->closing_since = now();
        return;
    }
    refuse_now(c, code, msg);
}

/* ---- filters ------------------------------------------------------------------------------ */

static void on_head(struct cm_http_guard_conn *c, const struct cm_http_frame_info *info,
                    struct evbuffer *dst, bool *refused)
{
    struct cm_http_guard *g = c->g;
    uint64_t need = info->content_length;
    if (need && g->buffered + need > g->lim.max_buffered) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "Server busy: request bodies buffered by this server would pass the limit of "
                 "%llu bytes; retry later",
                 (unsigned long long)g->lim.max_buffered);
        g->c_buffer_full++;
        refuse(c, 503, msg);
        *refused = true;
        return;
    }
    g->buffered += need;
    c->reserved += need;
    c->chunk_seen = 0;
    c->chunked = info->chunked;
    cm_http_framer_accept(c->framer, dst);
}

/* Charges the chunked body bytes that arrived since the last call; refuses with 503 when they
 * would pass the cap. Returns false after a refusal. */
static bool charge_chunked(struct cm_http_guard_conn *c)
{
    struct cm_http_guard *g = c->g;
    uint64_t body = cm_http_framer_body_bytes(c->framer);
    if (body <= c->chunk_seen)
        return true;
    uint64_t delta = body - c->chunk_seen;
    c->chunk_seen = body;
    if (g->buffered + delta > g->lim.max_buffered) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "Server busy: request bodies buffered by this server passed the limit of "
                 "%llu bytes; retry later",
                 (unsigned long long)g->lim.max_buffered);
        g->c_buffer_full++;
        c->chunked = false;
        refuse(c, 503, msg);
        return false;
    }
    g->buffered += delta;
    c->reserved += delta;
    return true;
}

static enum bufferevent_filter_result in_filter(struct evbuffer *src, struct evbuffer *dst,
                                                ev_ssize_t limit, enum bufferevent_flush_mode mode,
                                                void *arg)
{
    struct cm_http_guard_conn *c = arg;
    (void)limit;
    (void)mode;
    if (evbuffer_get_length(src) == 0)
        return BEV_NEED_MORE;
    if (!c->g || c->closing || c->pending_code || c->streaming) {
        /* Nothing more is read from a refused connection; a stream carries nothing from its
         * client (http_server.c drains the socket itself). */
        evbuffer_drain(src, evbuffer_get_length(src));
        return BEV_OK;
    }
    struct cm_http_guard *g = c->g;
    if (c->proto == P_UNKNOWN) {
        unsigned char first = 0;
        evbuffer_copyout(src, &first, 1);
        /* A TLS record of type handshake (22) starts every TLS ClientHello. */
        if (g->tls && first == 0x16) {
            if (!tls_begin(c)) {
                evbuffer_drain(src, evbuffer_get_length(src));
                refuse_now(c, 500, "TLS is not available");
                return BEV_OK;
            }
        } else {
            c->proto = P_PLAIN;
            if (g->tls && !cm_tls_support_downgrade(g->tls)) {
                g->c_plain_on_tls++;
                evbuffer_drain(src, evbuffer_get_length(src));
                refuse_now(c, 400,
                           "This server requires TLS: use https:// (plain HTTP is refused "
                           "because LIBPROCESS_SSL_SUPPORT_DOWNGRADE is off)");
                return BEV_OK;
            }
        }
    }
    if (!c->req_started)
        c->req_started = now();
    struct evbuffer *in = src;
    if (c->proto == P_TLS) {
        if (!tls_input(c, src)) {
            c->closing = true;
            c->closing_since = now();
            conn_defer(c);
            return BEV_OK;
        }
        in = c->plain;
    }
    for (;;) {
        struct cm_http_frame_info info;
        enum cm_http_frame_event ev = cm_http_framer_step(c->framer, in, dst, &info);
        if (ev == CM_HTTP_FRAME_HEAD) {
            bool refused = false;
            on_head(c, &info, dst, &refused);
            if (refused)
                break;
            continue;
        }
        if (c->chunked && !charge_chunked(c)) {
            break;
        }
        if (ev == CM_HTTP_FRAME_DONE) {
            c->chunked = false;
            c->last_done = now();
            c->req_started = 0;
            continue;
        }
        if (ev == CM_HTTP_FRAME_ERROR) {
            if (info.code == 413)
                g->c_too_large++;
            else
                g->c_malformed++;
            refuse(c, info.code, info.msg);
            break;
        }
        break; /* MORE */
    }
    if (cm_http_framer_idle(c->framer) && !evbuffer_get_length(in))
        c->req_started = 0;
    if (evbuffer_get_length(in) && c->closing)
        evbuffer_drain(in, evbuffer_get_length(in));
    return BEV_OK;
}

/* Responses are written whole or in two parts (see out_filter): without TCP_NODELAY the second
 * part would wait for the peer's delayed acknowledgement of the first (some 40 ms). */
static void conn_nodelay(struct cm_http_guard_conn *c, evutil_socket_t fd)
{
    if (c->nodelay || fd < 0)
        return;
    c->nodelay = true;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/*
 * Output. The filter tells evhttp a write is complete (its write callback) as soon as the
 * filter's own output is empty, and evhttp may then close the socket at once (Connection: close,
 * HTTP/1.0), losing whatever still waits in the socket's buffer. So the last byte is held back
 * until everything before it has reached the kernel, and is then sent straight to the socket;
 * only then is the output empty. This keeps evhttp's write callback meaning what it means on a
 * plain socket.
 */
static enum bufferevent_filter_result out_filter(struct evbuffer *src, struct evbuffer *dst,
                                                 ev_ssize_t limit, enum bufferevent_flush_mode mode,
                                                 void *arg)
{
    struct cm_http_guard_conn *c = arg;
    (void)limit;
    size_t len = evbuffer_get_length(src);
    if (len == 0)
        return BEV_NEED_MORE;
    bool moved = false;
    evutil_socket_t fd = bufferevent_getfd(c->under);
    /* Run at once as evhttp adds bytes (not from the pump) on a plain connection with nothing
     * queued: move nothing yet. Every addition also schedules the pump (on_bev_output), which
     * comes back with BEV_FLUSH and sends the whole response in the one write below; moving it
     * here would write all but its last byte now and that byte later: two writes and two TCP
     * segments for every response. */
    if (mode != BEV_FLUSH && c->proto == P_PLAIN && !c->tail && fd >= 0 &&
        evbuffer_get_length(dst) == 0)
        return BEV_NEED_MORE;
    conn_nodelay(c, fd);
    /* From the pump with nothing queued: a plain response goes out in one write when the
     * socket takes it all (the common case), and is then complete. */
    if (mode == BEV_FLUSH && c->proto != P_TLS && !c->tail && fd >= 0 &&
        evbuffer_get_length(dst) == 0) {
        if (evbuffer_write(src, fd) > 0)
            moved = true;
        if (evbuffer_get_length(src) == 0)
            return BEV_OK;
        len = evbuffer_get_length(src);
    }
    if (len > 1 && !c->tail) {
        seal(c, src, len - 1, dst);
        moved = true;
    }
    /* Write at once what the socket takes (as a plain socket's bufferevent would on its next
     * turn), so that the held-back byte can usually follow right away. */
    if (fd >= 0 && evbuffer_get_length(dst) > 0)
        (void)evbuffer_write(dst, fd);
    /* The last byte goes only from the pump: when evhttp adds bytes with writing on, the filter
     * runs at once and an empty output would run evhttp's write callback before evhttp set it
     * up (the end of a chunked response). */
    if (mode != BEV_FLUSH || evbuffer_get_length(dst) > 0 || evbuffer_get_length(src) != 1)
        return moved ? BEV_OK : BEV_NEED_MORE;
    if (!c->tail) {
        c->tail = evbuffer_new();
        if (!c->tail)
            abort();
        struct evbuffer *one = evbuffer_new();
        if (!one)
            abort();
        char b;
        evbuffer_copyout(src, &b, 1);
        evbuffer_add(one, &b, 1);
        seal(c, one, 1, c->tail);
        evbuffer_free(one);
    }
    while (fd >= 0 && evbuffer_get_length(c->tail) > 0) {
        size_t tl = evbuffer_get_length(c->tail);
        ssize_t n =
            send(fd, evbuffer_pullup(c->tail, (ev_ssize_t)tl), tl, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            evbuffer_drain(c->tail, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pump_later(c, 0.005);
            return moved ? BEV_OK : BEV_NEED_MORE;
        }
        break; /* the peer is gone: the socket's error event ends the connection */
    }
    evbuffer_free(c->tail);
    c->tail = NULL;
    evbuffer_drain(src, 1);
    return BEV_OK;
}

/* ---- pumping ------------------------------------------------------------------------------ */

/*
 * A filter bufferevent runs its output filter as soon as bytes are added, if writing is enabled
 * at that moment, and then runs the write callback, before evhttp has said what that callback
 * should do (it adds the last chunk of a stream, then sets up the callback that ends the
 * request); if writing is off, nothing runs the filter later. And it runs its input filter on
 * bytes already read only when more arrive. So the output filter moves nothing by itself:
 * every time evhttp writes, the connection is pumped from the loop, which flushes the output
 * through the filter (running evhttp's write callback, now set up), then runs input that arrived
 * while reading was off through the filter and announces it.
 */
static void on_pump(evutil_socket_t fd, short what, void *arg)
{
    struct cm_http_guard_conn *c = arg;
    (void)fd;
    (void)what;
    if (!conn_alive(c))
        return;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)))
        bufferevent_flush(c->bev, EV_WRITE, BEV_FLUSH);
    if (!conn_alive(c))
        return;
    if ((bufferevent_get_enabled(c->bev) & EV_READ) &&
        evbuffer_get_length(bufferevent_get_input(c->under))) {
        bufferevent_flush(c->bev, EV_READ, BEV_NORMAL);
        if (conn_alive(c) && evbuffer_get_length(bufferevent_get_input(c->bev)))
            bufferevent_trigger(c->bev, EV_READ, 0);
    }
}

static void pump_later(struct cm_http_guard_conn *c, double secs)
{
    if (c->gone)
        return;
    if (!c->pump) {
        c->pump = event_new(bufferevent_get_base(c->bev), -1, 0, on_pump, c);
        if (!c->pump)
            abort();
    }
    if (secs <= 0) {
        event_active(c->pump, EV_TIMEOUT, 0);
    } else if (!event_pending(c->pump, EV_TIMEOUT, NULL)) {
        struct timeval tv = {0, (suseconds_t)(secs * 1e6)};
        event_add(c->pump, &tv);
    }
}

static void on_bev_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct cm_http_guard_conn *c = arg;
    (void)buf;
    if (info->n_added == 0)
        return;
    pump_later(c, 0);
}

/* ---- connections -------------------------------------------------------------------------- */

static bool conn_idle(const struct cm_http_guard_conn *c)
{
    return !c->streaming && !c->closing && !c->killed && c->inflight == 0 && !c->pending_code &&
           c->req_started == 0 && cm_http_framer_idle(c->framer);
}

/* Closes the connection idle for the longest time; false if there is none. */
static bool evict_idle(struct cm_http_guard *g);

/* Closes up to n of the longest-idle connections; returns how many. */
static size_t evict_idle_n(struct cm_http_guard *g, size_t n)
{
    size_t done = 0;
    while (done < n && evict_idle(g))
        done++;
    return done;
}

/* Takes the head of the idle list (the connection answered the longest ago). Connections on
 * the list that closed or stream meanwhile leave it here; those receiving a request head or body
 * (req_started) stay but are skipped, so the cost is O(1) plus the connections at the head that
 * are half way through sending a request (each is bounded by request_timeout). */
static bool evict_idle(struct cm_http_guard *g)
{
    struct cm_http_guard_conn *best = NULL;
    for (struct cm_http_guard_conn *c = g->idle_head, *next; c; c = next) {
        next = c->inext;
        if (c->streaming || c->closing || c->killed || c->pending_code || c->inflight > 0 ||
            !conn_alive(c)) {
            idle_remove(c);
            continue;
        }
        if (conn_idle(c)) {
            best = c;
            break;
        }
    }
    if (!best)
        return false;
    idle_remove(best);
    g->c_evicted++;
    best->closing = true;
    best->closing_since = now();
    conn_defer(best);
    return true;
}

static struct bufferevent *on_new_conn(struct event_base *base, void *arg)
{
    struct cm_http_guard *g = arg;
    struct cm_http_guard_conn *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->g = g;
    c->framer = cm_http_framer_new(&(struct cm_http_framer_limits){.max_body = g->lim.max_body});
    c->under = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->under)
        abort();
    c->bev = bufferevent_filter_new(c->under, in_filter, out_filter, BEV_OPT_CLOSE_ON_FREE,
                                    on_conn_free, c);
    if (!c->bev)
        abort();
    /* evhttp enables reading on the filter only; the socket under it must read too (the flag
     * takes effect when evhttp hands it the descriptor). Writing is enabled with the first
     * bytes queued on the socket (on_under_output): most responses are written straight to the
     * socket, and a socket watched for writing from the start would cost an epoll_ctl to add
     * the write event, a wake-up (a new socket is writable) and another epoll_ctl to drop it. */
    bufferevent_enable(c->under, EV_READ);
    bufferevent_disable(c->under, EV_WRITE); /* on by default in a new bufferevent */
    evbuffer_add_cb(bufferevent_get_output(c->bev), on_bev_output, c);
    evbuffer_add_cb(bufferevent_get_output(c->under), on_under_output, c);
    c->last_done = now();
    c->proto = g->tls ? P_UNKNOWN : P_PLAIN;
    c->next = g->conns;
    if (c->next)
        c->next->prev = c;
    g->conns = c;
    size_t b = bucket(c->bev);
    c->hnext = g->buckets[b];
    g->buckets[b] = c;
    g->nconns++;
    g->c_accepted++;
    idle_push(c);
    if (g->nconns > g->max_conns && !evict_idle(g)) {
        g->c_refused_conns++;
        g->limit_unlogged++;
        double t = now();
        if (t - g->last_limit_log >= ACCEPT_LOG_SECS) {
            CM_WARN(MOD,
                    "Refusing connections (503): %zu open, the limit is %zu and none is idle "
                    "(%llu refused since the last report)",
                    g->nconns - 1, g->max_conns, (unsigned long long)g->limit_unlogged);
            g->last_limit_log = t;
            g->limit_unlogged = 0;
        }
        c->refuse_new = true;
        if (c->proto == P_UNKNOWN)
            c->proto = P_PLAIN; /* the refusal is plain text; a TLS client sees a failure */
        conn_defer(c);
    }
    return c->bev;
}

/* ---- accept back-off ---------------------------------------------------------------------- */

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct cm_http_guard *g = arg;
    (void)fd;
    (void)what;
    event_free(g->resume);
    g->resume = NULL;
    if (g->listener)
        evconnlistener_enable(g->listener);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg);

struct find_guard {
    struct evconnlistener *l;
    struct cm_http_guard *g;
};

static int find_guard_cb(const struct event_base *base, const struct event *ev, void *arg)
{
    struct find_guard *fg = arg;
    (void)base;
    if (event_get_callback(ev) != on_sweep)
        return 0;
    struct cm_http_guard *g = event_get_callback_arg(ev);
    if (g->listener != fg->l)
        return 0;
    fg->g = g;
    return 1;
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    /* arg is evhttp's (the listener's callback data belongs to evhttp): find the guard by its
     * sweep timer, which is always pending on the loop. */
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    struct find_guard fg = {.l = l};
    event_base_foreach_event(evconnlistener_get_base(l), find_guard_cb, &fg);
    struct cm_http_guard *g = fg.g;
    if (!g) {
        evconnlistener_disable(l); /* cannot happen: better stalled than spinning */
        return;
    }
    g->c_accept_errors++;
    g->accept_fail_unlogged++;
    double t = now();
    if (t - g->last_accept_log >= ACCEPT_LOG_SECS) {
        CM_WARN(MOD,
                "accept() failed: %s (%llu failures since the last report); pausing new "
                "connections for %.0f ms at a time, %zu connections open",
                strerror(err), (unsigned long long)g->accept_fail_unlogged,
                ACCEPT_PAUSE_SECS * 1000, g->nconns);
        g->last_accept_log = t;
        g->accept_fail_unlogged = 0;
    }
    /* Out of descriptors: close a batch of idle connections (the waiting clients are more
     * likely to be served than an idle one is to come back), and stop polling the listener (it
     * stays readable, so the loop would spin) until they are closed, or a little longer when
     * nothing could be freed. */
    size_t freed = 0;
    if (err == EMFILE || err == ENFILE)
        freed = evict_idle_n(g, EVICT_BATCH);
    evconnlistener_disable(l);
    if (!g->resume) {
        g->resume = evtimer_new(g->base, on_resume, g);
        if (!g->resume)
            abort();
        double pause = freed ? ACCEPT_PAUSE_SECS / 10 : ACCEPT_PAUSE_SECS;
        struct timeval tv = {0, (suseconds_t)(pause * 1e6)};
        evtimer_add(g->resume, &tv);
    }
}

void cm_http_guard_listener(struct cm_http_guard *g, struct evconnlistener *l)
{
    g->listener = l;
    evconnlistener_set_error_cb(l, on_accept_error);
}

/* ---- sweep -------------------------------------------------------------------------------- */

static void compute_max_conns(struct cm_http_guard *g);

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct cm_http_guard *g = arg;
    (void)fd;
    (void)what;
    double t = now();
    compute_max_conns(g); /* RLIMIT_NOFILE may have been changed from outside (prlimit) */
    if (g->nconns > g->max_conns)
        evict_idle_n(g, g->nconns - g->max_conns);
    for (struct cm_http_guard_conn *c = g->conns; c; c = c->next) {
        if (c->killed || c->gone)
            continue;
        if (c->closing) {
            if (t - c->closing_since > LINGER_SECS)
                conn_kill_now(c);
            continue;
        }
        if (c->streaming || c->inflight > 0)
            continue;
        if (c->pending_code) {
            conn_defer(c);
            continue;
        }
        if (c->req_started) {
            if (t - c->req_started > g->lim.request_timeout) {
                g->c_request_timeouts++;
                char msg[160];
                snprintf(msg, sizeof msg,
                         "Request not received in full within %.3g seconds (the server's "
                         "request timeout)",
                         g->lim.request_timeout);
                if (c->proto == P_TLS && !SSL_is_init_finished(c->ssl))
                    c->proto = P_UNKNOWN; /* no session to answer over */
                refuse_now(c, 408, msg);
            }
        } else if (t - c->last_done > g->lim.idle_timeout) {
            g->c_idle_timeouts++;
            conn_kill_now(c);
        }
    }
}

static void arm_sweep(struct cm_http_guard *g)
{
    double shortest =
        g->lim.idle_timeout < g->lim.request_timeout ? g->lim.idle_timeout : g->lim.request_timeout;
    double every = shortest / 4;
    if (every < 0.05)
        every = 0.05;
    if (every > 1.0)
        every = 1.0;
    struct timeval tv = {(time_t)every, (suseconds_t)((every - (double)(time_t)every) * 1e6)};
    evtimer_del(g->sweep);
    event_add(g->sweep, &tv);
}

/* ---- guard -------------------------------------------------------------------------------- */

void cm_http_guard_set_limits(struct cm_http_guard *g, const struct cm_http_guard_limits *limits)
{
    g->lim = *limits;
    if (!g->lim.max_connections)
        g->lim.max_connections = CM_HTTP_MAX_CONNECTIONS_DEFAULT;
    if (!g->lim.max_buffered)
        g->lim.max_buffered = CM_HTTP_MAX_BUFFERED_DEFAULT;
    if (g->lim.idle_timeout <= 0)
        g->lim.idle_timeout = CM_HTTP_IDLE_TIMEOUT_DEFAULT;
    if (g->lim.request_timeout <= 0)
        g->lim.request_timeout = CM_HTTP_REQUEST_TIMEOUT_DEFAULT;
    compute_max_conns(g);
    arm_sweep(g);
}

static void compute_max_conns(struct cm_http_guard *g)
{
    g->max_conns = g->lim.max_connections;
    /* Leave descriptors for everything else the daemon opens (files, pipes, clients). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        rlim_t reserve = rl.rlim_cur / 4;
        if (reserve < 16)
            reserve = 16;
        if (reserve > 256)
            reserve = 256;
        rlim_t usable = rl.rlim_cur > reserve + 1 ? rl.rlim_cur - reserve : 1;
        if (usable < g->max_conns)
            g->max_conns = (size_t)usable;
    }
}

size_t cm_http_guard_max_connections(const struct cm_http_guard *g)
{
    return g->max_conns;
}

struct cm_http_guard *cm_http_guard_new(struct event_base *base, struct evhttp *http,
                                        const struct cm_http_guard_limits *limits)
{
    struct cm_http_guard *g = calloc(1, sizeof *g);
    if (!g)
        abort();
    g->base = base;
    g->http = http;
    g->last_accept_log = g->last_limit_log = -ACCEPT_LOG_SECS;
    g->sweep = event_new(base, -1, EV_PERSIST, on_sweep, g);
    if (!g->sweep)
        abort();
    cm_http_guard_set_limits(g, limits);
    evhttp_set_bevcb(http, on_new_conn, g);
    return g;
}

void cm_http_guard_set_tls(struct cm_http_guard *g, struct cm_tls *tls)
{
    g->tls = tls;
}

void cm_http_guard_free(struct cm_http_guard *g)
{
    if (!g)
        return;
    for (struct cm_http_guard_conn *c = g->conns; c; c = c->next) {
        c->g = NULL;
        c->inflight = 0;
        if (c->ev) {
            event_free(c->ev);
            c->ev = NULL;
        }
        evbuffer_remove_cb(bufferevent_get_output(c->under), on_under_output, c);
        evbuffer_remove_cb(bufferevent_get_output(c->bev), on_bev_output, c);
        if (c->pump) {
            event_free(c->pump);
            c->pump = NULL;
        }
    }
    event_free(g->sweep);
    if (g->resume)
        event_free(g->resume);
    free(g);
}

struct cm_http_guard_conn *cm_http_guard_request_begin(struct cm_http_guard *g,
                                                       struct evhttp_request *ev)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
    if (!evcon)
        return NULL;
    struct cm_http_guard_conn *c = conn_find(g, evhttp_connection_get_bufferevent(evcon));
    if (!c)
        return NULL;
    c->inflight++;
    idle_remove(c);
    return c;
}

void cm_http_guard_request_end(struct cm_http_guard_conn *c, int streaming)
{
    if (!c)
        return;
    struct cm_http_guard *g = c->g;
    /* The body has been handled: its bytes no longer count against the cap. */
    uncharge(g, c->reserved);
    c->reserved = 0;
    if (streaming) {
        c->streaming = true; /* the stream holds the connection until cm_http_guard_stream_end */
        idle_remove(c);
        return;
    }
    if (c->inflight > 0)
        c->inflight--;
    if (c->gone) {
        if (c->inflight == 0)
            conn_release(c);
        return;
    }
    c->last_done = now();
    if (c->inflight == 0 && !c->streaming && !c->closing && !c->killed && !c->pending_code)
        idle_push(c);
    if (c->pending_code && c->inflight == 0 && g)
        conn_defer(c);
}

void cm_http_guard_stream_end(struct cm_http_guard_conn *c)
{
    if (!c)
        return;
    c->streaming = false;
    cm_http_guard_request_end(c, 0);
}

size_t cm_http_guard_unsent(struct bufferevent *bev)
{
    size_t n = evbuffer_get_length(bufferevent_get_output(bev));
    struct bufferevent *u = bufferevent_get_underlying(bev);
    if (u)
        n += evbuffer_get_length(bufferevent_get_output(u));
    return n;
}

void cm_http_guard_metrics(const struct cm_http_guard *g, json_t *o, const char *prefix)
{
    static const struct {
        const char *name;
        size_t off;
    } counters[] = {
        {"http_connections_accepted", offsetof(struct cm_http_guard, c_accepted)},
        {"http_refused_connections", offsetof(struct cm_http_guard, c_refused_conns)},
        {"http_evicted_idle_connections", offsetof(struct cm_http_guard, c_evicted)},
        {"http_refused_body_too_large", offsetof(struct cm_http_guard, c_too_large)},
        {"http_refused_buffer_full", offsetof(struct cm_http_guard, c_buffer_full)},
        {"http_refused_malformed", offsetof(struct cm_http_guard, c_malformed)},
        {"http_idle_timeouts", offsetof(struct cm_http_guard, c_idle_timeouts)},
        {"http_request_timeouts", offsetof(struct cm_http_guard, c_request_timeouts)},
        {"http_accept_errors", offsetof(struct cm_http_guard, c_accept_errors)},
        {"http_tls_failures", offsetof(struct cm_http_guard, c_tls_failures)},
        {"http_refused_plain_on_tls", offsetof(struct cm_http_guard, c_plain_on_tls)},
    };
    char key[160];
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        uint64_t v;
        memcpy(&v, (const char *)g + counters[i].off, sizeof v);
        snprintf(key, sizeof key, "%s/%s", prefix, counters[i].name);
        cm_metrics_set(o, key, (double)v);
    }
    snprintf(key, sizeof key, "%s/http_connections", prefix);
    cm_metrics_set(o, key, (double)g->nconns);
    snprintf(key, sizeof key, "%s/http_max_connections", prefix);
    cm_metrics_set(o, key, (double)g->max_conns);
    snprintf(key, sizeof key, "%s/http_body_bytes_buffered", prefix);
    cm_metrics_set(o, key, (double)g->buffered);
}
