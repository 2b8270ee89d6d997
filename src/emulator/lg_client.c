/* lg_client.c: v1 scheduler API clients and their shared call connections for
 * emulator-loadgen. See lg_client.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "emu_arena.h"
#include "emu_http.h"
#include "errors.h"
#include "lg_client.h"
#include "recordio.h"
#include "util.h"

#define PATH "/api/v1/scheduler"
#define MAX_RECORD (64u << 20)
#define BODY_MAX 256

/* A call written on a connection and not yet answered. */
struct lg_out {
    struct cm_lg_client *c;
    int type;
};

/* One call connection: its outstanding calls (a ring, in order of answer). */
struct lg_conn {
    struct cm_lg_pool *pool;
    struct cm_emu_conn *conn; /* NULL until needed */
    struct lg_out *ring;      /* pool->share entries */
    int head, inflight;
    int status;
    char body[BODY_MAX];
    size_t body_len;
};

struct cm_lg_pool {
    struct event_base *base;
    struct sockaddr_in master;
    char host[280];
    struct lg_conn *conns;
    int nconns, share;    /* share: calls outstanding per connection, at most */
    struct lg_conn *last; /* the connection of the last call */
    /* Calls waiting for room: [client pointer][type:1][len:4][body], in order. */
    struct evbuffer *queue;
    size_t nqueued;
    /* Queued calls are sent at the end of the loop turn (pump_ev), not as each answer frees a
     * slot; a call moves to another connection only if that one has `refill` free slots: one
     * write of many calls instead of a write of one or two calls per connection per turn. */
    struct event *pump_ev;
    bool pump_armed;
    int refill;
    uint8_t *buf;
    size_t buf_cap;
};

struct cm_lg_client {
    struct cm_lg_pool *pool;
    struct cm_lg_client_cbs cbs;
    void *arg;
    double resubscribe_delay;
    Mesos__V1__FrameworkInfo *fi; /* deep copy */
    char *framework_id;
    bool subscribed, subscribing, fatal;
    size_t pending; /* calls queued (here or in the pool) or outstanding */

    /* The subscription stream. */
    struct cm_emu_conn *sub;
    int sub_status;
    char sub_body[BODY_MAX];
    size_t sub_body_len;
    char stream_hdr[192]; /* "Mesos-Stream-Id: <id>" */
    struct cm_recordio_decoder dec;
    struct cm_emu_arena arena;
    struct event *retry_ev;

    /* Calls made while (re-)subscribing, for the pool once SUBSCRIBED: [type:1][len:4][body]. */
    struct evbuffer *held;
    size_t nheld;
    uint8_t *scratch;
    size_t scratch_cap;
};

/* ---- encoding ------------------------------------------------------------------------------- */

static uint8_t *grow(uint8_t **buf, size_t *cap, size_t n)
{
    if (n > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (c < n)
            c *= 2;
        *buf = cm_xrealloc(*buf, c);
        *cap = c;
    }
    return *buf;
}

static size_t encode(struct cm_lg_client *c, Mesos__V1__Scheduler__Call *call)
{
    size_t n = mesos__v1__scheduler__call__get_packed_size(call);
    return mesos__v1__scheduler__call__pack(call, grow(&c->scratch, &c->scratch_cap, n));
}

static void put_hdr(uint8_t *h, int type, size_t len)
{
    h[0] = (uint8_t)type;
    h[1] = (uint8_t)len;
    h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)(len >> 16);
    h[4] = (uint8_t)(len >> 24);
}

static size_t get_len(const uint8_t *h)
{
    return (size_t)h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16 | (size_t)h[4] << 24;
}

/* ---- calls ---------------------------------------------------------------------------------- */

static const struct cm_emu_conn_cbs call_cbs;

static void body_append(char *buf, size_t *len, const uint8_t *data, size_t n)
{
    size_t room = BODY_MAX - 1 - *len;
    if (n > room)
        n = room;
    memcpy(buf + *len, data, n);
    *len += n;
    buf[*len] = 0;
}

static void call_on_head(void *arg, int status, const char *sid)
{
    (void)sid;
    struct lg_conn *lc = arg;
    lc->status = status;
    lc->body_len = 0;
    lc->body[0] = 0;
}

static void call_on_body(void *arg, const uint8_t *data, size_t len)
{
    struct lg_conn *lc = arg;
    if (lc->status < 200 || lc->status > 299)
        body_append(lc->body, &lc->body_len, data, len);
}

static void pool_pump(struct cm_lg_pool *p);

static void call_done(struct cm_lg_client *c, int type, int err, int status, const char *body)
{
    c->pending--;
    if (c->cbs.call_done)
        c->cbs.call_done(c->arg, type, err, status, body);
}

static void call_on_done(void *arg, int err)
{
    struct lg_conn *lc = arg;
    struct cm_lg_pool *p = lc->pool;
    if (lc->inflight <= 0)
        return; /* cannot happen: one answer per request */
    struct lg_out o = lc->ring[lc->head];
    lc->head = (lc->head + 1) % p->share;
    lc->inflight--;
    call_done(o.c, o.type, err, err ? 0 : lc->status, err ? "" : lc->body);
    lc->status = 0;
    lc->body_len = 0;
    lc->body[0] = 0;
    if (lc->conn && cm_emu_conn_dead(lc->conn) && lc->inflight == 0) {
        cm_emu_conn_free(lc->conn);
        lc->conn = NULL;
    }
    pool_pump(p);
}

/* False for a connection still reporting its failures; a dead one with nothing outstanding is
 * dropped here (the master may close an idle keep-alive connection) and opened again on use. */
static bool usable(struct lg_conn *lc)
{
    if (lc->conn && cm_emu_conn_dead(lc->conn)) {
        if (lc->inflight > 0)
            return false;
        cm_emu_conn_free(lc->conn);
        lc->conn = NULL;
    }
    return true;
}

/* The connection for the next call: the last one used while it has room (so that the calls of
 * one loop turn leave in one write), else the least busy of those with at least `refill` free
 * slots (a connection with one or two free slots would get a write of one or two calls); NULL
 * if there is none: the call waits in the queue for answers to make room. */
static struct lg_conn *pick(struct cm_lg_pool *p)
{
    if (p->last && p->last->inflight < p->share && usable(p->last))
        return p->last;
    struct lg_conn *best = NULL;
    for (int i = 0; i < p->nconns; i++) {
        struct lg_conn *lc = &p->conns[i];
        if (!usable(lc) || lc->inflight > p->share - p->refill)
            continue;
        if (!best || lc->inflight < best->inflight)
            best = lc;
        if (best->inflight == 0)
            break;
    }
    p->last = best;
    return best;
}

/* Writes one encoded call of c (its connection opened if needed) on the connection pick
 * chooses. Returns 0, CM_ESTATE when there is none, or -errno. */
static int post(struct cm_lg_pool *p, struct cm_lg_client *c, int type, const uint8_t *body,
                size_t len)
{
    struct lg_conn *lc = pick(p);
    if (!lc)
        return CM_ESTATE;
    if (!lc->conn) {
        int err = 0;
        lc->conn = cm_emu_conn_new(p->base, &p->master, NULL, &call_cbs, lc, &err);
        if (!lc->conn)
            return err ? err : -ENOMEM;
    }
    const char *headers[] = {c->stream_hdr, NULL};
    int rc =
        cm_emu_conn_post(lc->conn, p->host, PATH, c->stream_hdr[0] ? headers : NULL, body, len);
    if (rc != 0)
        return rc;
    lc->ring[(lc->head + lc->inflight) % p->share] = (struct lg_out){c, type};
    lc->inflight++;
    return 0;
}

/* Sends c's call now, or queues it in the pool (in order behind the others). */
static void submit(struct cm_lg_pool *p, struct cm_lg_client *c, int type, const uint8_t *body,
                   size_t len)
{
    if (p->nqueued == 0 && post(p, c, type, body, len) == 0)
        return; /* else (full, or no socket now) it waits for the next pump */
    uint8_t h[5];
    put_hdr(h, type, len);
    evbuffer_add(p->queue, &c, sizeof c);
    evbuffer_add(p->queue, h, sizeof h);
    evbuffer_add(p->queue, body, len);
    p->nqueued++;
}

/* Sends queued calls while there is room (see refill). A call that cannot be written (no
 * socket) is failed through call_done, as a lost connection would. */
static void pump_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_lg_pool *p = arg;
    p->pump_armed = false;
    while (p->nqueued > 0) {
        struct cm_lg_client *c;
        uint8_t h[5];
        const size_t hl = sizeof c + sizeof h;
        uint8_t *b = grow(&p->buf, &p->buf_cap, hl);
        evbuffer_copyout(p->queue, b, hl);
        memcpy(&c, b, sizeof c);
        memcpy(h, b + sizeof c, sizeof h);
        size_t len = get_len(h);
        b = grow(&p->buf, &p->buf_cap, hl + len);
        evbuffer_copyout(p->queue, b, hl + len);
        int rc = post(p, c, h[0], b + hl, len);
        if (rc == CM_ESTATE)
            return; /* full: the next answers pump again */
        evbuffer_drain(p->queue, hl + len);
        p->nqueued--;
        if (rc != 0)
            call_done(c, h[0], rc, 0, "");
    }
}

/* Queued calls are sent at the end of this loop turn. */
static void pool_pump(struct cm_lg_pool *p)
{
    if (p->nqueued == 0 || p->pump_armed)
        return;
    p->pump_armed = true;
    event_active(p->pump_ev, EV_TIMEOUT, 0);
}

int cm_lg_client_call(struct cm_lg_client *c, Mesos__V1__Scheduler__Call *call)
{
    if (c->fatal || !c->framework_id)
        return CM_ESTATE;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    fid.value = c->framework_id;
    call->framework_id = &fid;
    size_t len = encode(c, call);
    call->framework_id = NULL;
    int type = call->has_type ? (int)call->type : 0;
    c->pending++;
    if (c->subscribed) {
        submit(c->pool, c, type, c->scratch, len);
        return 0;
    }
    uint8_t h[5];
    put_hdr(h, type, len);
    evbuffer_add(c->held, h, sizeof h);
    evbuffer_add(c->held, c->scratch, len);
    c->nheld++;
    return 0;
}

/* SUBSCRIBED: the calls made while subscribing go to the pool. */
static void release_held(struct cm_lg_client *c)
{
    while (c->nheld > 0) {
        uint8_t h[5];
        evbuffer_remove(c->held, h, sizeof h);
        size_t len = get_len(h);
        uint8_t *body = grow(&c->scratch, &c->scratch_cap, len);
        evbuffer_remove(c->held, body, len);
        c->nheld--;
        submit(c->pool, c, h[0], body, len);
    }
}

size_t cm_lg_client_pending(const struct cm_lg_client *c)
{
    return c->pending;
}

bool cm_lg_client_subscribed(const struct cm_lg_client *c)
{
    return c->subscribed;
}

static const struct cm_emu_conn_cbs call_cbs = {call_on_head, call_on_body, call_on_done};

/* ---- subscription --------------------------------------------------------------------------- */

static void sub_lost(struct cm_lg_client *c, const char *why);

static int on_record(void *arg, const uint8_t *data, size_t len)
{
    struct cm_lg_client *c = arg;
    Mesos__V1__Scheduler__Event *ev =
        mesos__v1__scheduler__event__unpack(cm_emu_arena_allocator(&c->arena), len, data);
    if (!ev) {
        cm_emu_arena_reset(&c->arena);
        return 1;
    }
    if (ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED && ev->subscribed &&
        ev->subscribed->framework_id && ev->subscribed->framework_id->value) {
        if (!c->framework_id || strcmp(c->framework_id, ev->subscribed->framework_id->value)) {
            free(c->framework_id);
            c->framework_id = cm_xstrdup(ev->subscribed->framework_id->value);
        }
        c->subscribed = true;
        c->subscribing = false;
    } else if (ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR) {
        c->fatal = true; /* Mesos closes the stream after it: no re-subscription */
    }
    bool is_subscribed = ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED;
    if (c->cbs.event)
        c->cbs.event(c->arg, ev);
    cm_emu_arena_reset(&c->arena);
    if (is_subscribed)
        release_held(c);
    return 0;
}

static void sub_on_head(void *arg, int status, const char *sid)
{
    struct cm_lg_client *c = arg;
    c->sub_status = status;
    c->sub_body_len = 0;
    c->sub_body[0] = 0;
    if (status == 200 && sid)
        snprintf(c->stream_hdr, sizeof c->stream_hdr, "Mesos-Stream-Id: %s", sid);
}

static void sub_on_body(void *arg, const uint8_t *data, size_t len)
{
    struct cm_lg_client *c = arg;
    if (c->sub_status != 200) {
        body_append(c->sub_body, &c->sub_body_len, data, len);
        return;
    }
    if (cm_recordio_feed(&c->dec, data, len, on_record, c) != 0) {
        /* Undecodable: drop the stream (a freed connection calls nothing more). */
        cm_emu_conn_free(c->sub);
        c->sub = NULL;
        sub_lost(c, "undecodable event on the subscription stream");
    }
}

static void sub_on_done(void *arg, int err)
{
    struct cm_lg_client *c = arg;
    char why[BODY_MAX + 64];
    if (c->sub_status == 200)
        snprintf(why, sizeof why, "subscription stream ended (%s)",
                 err ? cm_strerror(err) : "closed by the master");
    else if (c->sub_status)
        snprintf(why, sizeof why, "SUBSCRIBE answered %d: %s", c->sub_status, c->sub_body);
    else
        snprintf(why, sizeof why, "SUBSCRIBE failed: %s", cm_strerror(err));
    if (c->sub_status >= 300 && c->sub_status < 500)
        c->fatal = true;
    cm_emu_conn_free(c->sub);
    c->sub = NULL;
    sub_lost(c, why);
}

static const struct cm_emu_conn_cbs sub_cbs = {sub_on_head, sub_on_body, sub_on_done};

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_lg_client *c = arg;
    int rc = cm_lg_client_subscribe(c);
    if (rc != 0 && rc != CM_ESTATE)
        sub_lost(c, "SUBSCRIBE: no socket"); /* tries again after the delay */
}

static void sub_lost(struct cm_lg_client *c, const char *why)
{
    c->subscribed = false;
    c->subscribing = false;
    c->stream_hdr[0] = 0;
    if (!c->fatal) {
        struct timeval tv = {
            (time_t)c->resubscribe_delay,
            (suseconds_t)((c->resubscribe_delay - (time_t)c->resubscribe_delay) * 1e6)};
        evtimer_add(c->retry_ev, &tv);
    }
    if (c->cbs.lost)
        c->cbs.lost(c->arg, c->fatal, why);
}

int cm_lg_client_subscribe(struct cm_lg_client *c)
{
    if (c->fatal || c->sub || c->subscribing)
        return CM_ESTATE;
    Mesos__V1__FrameworkInfo fi = *c->fi;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
    if (c->framework_id) {
        fid.value = c->framework_id;
        fi.id = &fid;
        call.framework_id = &fid;
    }
    sub.framework_info = &fi;
    call.has_type = 1;
    call.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
    call.subscribe = &sub;
    size_t len = encode(c, &call);
    int err = 0;
    c->sub = cm_emu_conn_new(c->pool->base, &c->pool->master, NULL, &sub_cbs, c, &err);
    if (!c->sub)
        return err ? err : -ENOMEM;
    cm_recordio_decoder_cleanup(&c->dec);
    cm_recordio_decoder_init(&c->dec, MAX_RECORD);
    c->sub_status = 0;
    c->subscribing = true;
    return cm_emu_conn_post(c->sub, c->pool->host, PATH, NULL, c->scratch, len);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static int resolve(const char *master, struct sockaddr_in *sa, char *why, size_t whylen)
{
    const char *colon = master ? strrchr(master, ':') : NULL;
    if (!colon || colon == master || !colon[1] || colon - master > 255)
        return cm_fail(CM_EINVAL, why, whylen, "--master must be HOST:PORT, not '%s'",
                       master ? master : "");
    char host[256];
    memcpy(host, master, (size_t)(colon - master));
    host[colon - master] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535)
        return cm_fail(CM_EINVAL, why, whylen, "bad port in --master '%s'", master);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res)
        return cm_fail(CM_EINVAL, why, whylen, "cannot resolve '%s': %s", host, gai_strerror(rc));
    *sa = *(const struct sockaddr_in *)res->ai_addr;
    sa->sin_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

struct cm_lg_pool *cm_lg_pool_new(struct event_base *base, const char *master, int connections,
                                  int per_connection, char *why, size_t whylen)
{
    if (!base || connections < 1 || connections > 1024 || per_connection < 1 ||
        per_connection > 65536) {
        cm_fail(CM_EINVAL, why, whylen,
                "connections must be 1..1024 and calls per connection 1..65536");
        return NULL;
    }
    struct sockaddr_in sa;
    if (resolve(master, &sa, why, whylen) != 0)
        return NULL;
    struct cm_lg_pool *p = cm_xcalloc(1, sizeof *p);
    p->base = base;
    p->master = sa;
    snprintf(p->host, sizeof p->host, "%s", master);
    p->nconns = connections;
    p->share = per_connection;
    p->conns = cm_xcalloc((size_t)connections, sizeof *p->conns);
    for (int i = 0; i < connections; i++) {
        p->conns[i].pool = p;
        p->conns[i].ring = cm_xcalloc((size_t)per_connection, sizeof *p->conns[i].ring);
    }
    p->queue = evbuffer_new();
    p->pump_ev = event_new(base, -1, 0, pump_cb, p);
    if (!p->queue || !p->pump_ev)
        abort();
    /* A quarter of a connection's calls per write at least while calls wait. */
    p->refill = per_connection >= 4 ? per_connection / 4 : 1;
    return p;
}

void cm_lg_pool_free(struct cm_lg_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nconns; i++) {
        cm_emu_conn_free(p->conns[i].conn);
        free(p->conns[i].ring);
    }
    free(p->conns);
    event_free(p->pump_ev);
    evbuffer_free(p->queue);
    free(p->buf);
    free(p);
}

struct cm_lg_client *cm_lg_client_new(const struct cm_lg_client_config *cfg, char *why,
                                      size_t whylen)
{
    if (!cfg->pool || !cfg->framework_info) {
        cm_fail(CM_EINVAL, why, whylen, "a pool and a framework_info are needed");
        return NULL;
    }
    struct cm_lg_client *c = cm_xcalloc(1, sizeof *c);
    c->pool = cfg->pool;
    c->cbs = cfg->cbs;
    c->arg = cfg->arg;
    c->resubscribe_delay = cfg->resubscribe_delay > 0 ? cfg->resubscribe_delay : 1.0;
    /* A deep copy through the wire form. */
    size_t n = mesos__v1__framework_info__get_packed_size(cfg->framework_info);
    uint8_t *buf = cm_xmalloc(n);
    mesos__v1__framework_info__pack(cfg->framework_info, buf);
    c->fi = mesos__v1__framework_info__unpack(NULL, n, buf);
    free(buf);
    if (!c->fi) {
        free(c);
        cm_fail(CM_EINVAL, why, whylen, "framework_info does not encode");
        return NULL;
    }
    cm_recordio_decoder_init(&c->dec, MAX_RECORD);
    cm_emu_arena_init(&c->arena, 0);
    c->retry_ev = evtimer_new(c->pool->base, retry_cb, c);
    c->held = evbuffer_new();
    if (!c->retry_ev || !c->held)
        abort();
    return c;
}

void cm_lg_client_free(struct cm_lg_client *c)
{
    if (!c)
        return;
    cm_emu_conn_free(c->sub);
    if (c->fi)
        protobuf_c_message_free_unpacked(&c->fi->base, NULL);
    free(c->framework_id);
    cm_recordio_decoder_cleanup(&c->dec);
    cm_emu_arena_free(&c->arena);
    event_free(c->retry_ev);
    evbuffer_free(c->held);
    free(c->scratch);
    free(c);
}
