/* lg_client.c: one framework's v1 scheduler API connection for emulator-loadgen. See lg_client.h.
 */
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

/* One call connection: the types of its outstanding calls (a ring, in order of answer). */
struct lg_conn {
    struct cm_lg_client *c;
    struct cm_emu_conn *conn; /* NULL until needed */
    uint8_t *ring;            /* max_inflight entries */
    int head, inflight;
    int status;
    char body[BODY_MAX];
    size_t body_len;
};

struct cm_lg_client {
    struct event_base *base;
    struct sockaddr_in master;
    char host[280];
    struct cm_lg_client_cbs cbs;
    void *arg;
    int max_inflight;
    double resubscribe_delay;
    Mesos__V1__FrameworkInfo *fi; /* deep copy */
    char *framework_id;
    bool subscribed, subscribing, fatal;

    /* The subscription stream. */
    struct cm_emu_conn *sub;
    int sub_status;
    char sub_body[BODY_MAX];
    size_t sub_body_len;
    char stream_hdr[192]; /* "Mesos-Stream-Id: <id>" */
    struct cm_recordio_decoder dec;
    struct cm_emu_arena arena;
    struct event *retry_ev;

    /* Calls: pipelined connections, and the encoded calls waiting ([type:1][len:4][body]). */
    struct lg_conn *conns;
    int nconns;
    int inflight; /* over all connections */
    struct evbuffer *queue;
    size_t nqueued;
    uint8_t *scratch;
    size_t scratch_cap;
};

/* ---- encoding ------------------------------------------------------------------------------- */

static uint8_t *scratch(struct cm_lg_client *c, size_t n)
{
    if (n > c->scratch_cap) {
        size_t cap = c->scratch_cap ? c->scratch_cap : 4096;
        while (cap < n)
            cap *= 2;
        c->scratch = cm_xrealloc(c->scratch, cap);
        c->scratch_cap = cap;
    }
    return c->scratch;
}

static size_t encode(struct cm_lg_client *c, Mesos__V1__Scheduler__Call *call)
{
    size_t n = mesos__v1__scheduler__call__get_packed_size(call);
    return mesos__v1__scheduler__call__pack(call, scratch(c, n));
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

static void pump(struct cm_lg_client *c);

static void call_on_done(void *arg, int err)
{
    struct lg_conn *lc = arg;
    struct cm_lg_client *c = lc->c;
    if (lc->inflight <= 0)
        return; /* cannot happen: one answer per request */
    int type = lc->ring[lc->head];
    lc->head = (lc->head + 1) % c->max_inflight;
    lc->inflight--;
    c->inflight--;
    int status = err ? 0 : lc->status;
    if (c->cbs.call_done)
        c->cbs.call_done(c->arg, type, err, status, err ? "" : lc->body);
    lc->status = 0;
    lc->body_len = 0;
    lc->body[0] = 0;
    if (lc->conn && cm_emu_conn_dead(lc->conn) && lc->inflight == 0) {
        cm_emu_conn_free(lc->conn);
        lc->conn = NULL;
    }
    pump(c);
}

/* The connection for the next call: the one with the fewest calls outstanding (a closed one
 * counts as empty: it is opened again), or NULL if none can take one now. A dead connection
 * with nothing outstanding is dropped here (the master may close an idle keep-alive one); one
 * still reporting its failures is skipped. */
static struct lg_conn *pick(struct cm_lg_client *c)
{
    struct lg_conn *best = NULL;
    for (int i = 0; i < c->nconns; i++) {
        struct lg_conn *lc = &c->conns[i];
        if (lc->conn && cm_emu_conn_dead(lc->conn)) {
            if (lc->inflight > 0)
                continue;
            cm_emu_conn_free(lc->conn);
            lc->conn = NULL;
        }
        if (!best || lc->inflight < best->inflight)
            best = lc;
        if (best->inflight == 0)
            break;
    }
    return best;
}

static bool can_post(const struct cm_lg_client *c)
{
    return c->subscribed && c->inflight < c->max_inflight;
}

/* Writes one encoded call (its connection opened if needed). Returns 0, CM_ESTATE when no
 * connection can take it now, or -errno. */
static int post(struct cm_lg_client *c, int type, const uint8_t *body, size_t len)
{
    struct lg_conn *lc = pick(c);
    if (!lc)
        return CM_ESTATE;
    if (!lc->conn) {
        int err = 0;
        lc->conn = cm_emu_conn_new(c->base, &c->master, NULL, &call_cbs, lc, &err);
        if (!lc->conn)
            return err ? err : -ENOMEM;
    }
    const char *headers[] = {c->stream_hdr, NULL};
    int rc =
        cm_emu_conn_post(lc->conn, c->host, PATH, c->stream_hdr[0] ? headers : NULL, body, len);
    if (rc != 0)
        return rc;
    lc->ring[(lc->head + lc->inflight) % c->max_inflight] = (uint8_t)type;
    lc->inflight++;
    c->inflight++;
    return 0;
}

/* Sends queued calls while there is room. A call that cannot be written (no socket) is failed
 * through call_done, as a lost connection would. */
static void pump(struct cm_lg_client *c)
{
    while (c->nqueued > 0 && can_post(c)) {
        uint8_t hdr[5];
        evbuffer_copyout(c->queue, hdr, sizeof hdr);
        uint32_t len = (uint32_t)hdr[1] | (uint32_t)hdr[2] << 8 | (uint32_t)hdr[3] << 16 |
                       (uint32_t)hdr[4] << 24;
        uint8_t *body = scratch(c, sizeof hdr + len);
        evbuffer_copyout(c->queue, body, sizeof hdr + len);
        int rc = post(c, hdr[0], body + sizeof hdr, len);
        if (rc == CM_ESTATE)
            return; /* every connection is busy reporting a failure: after its callbacks */
        evbuffer_drain(c->queue, sizeof hdr + len);
        c->nqueued--;
        if (rc != 0 && c->cbs.call_done)
            c->cbs.call_done(c->arg, hdr[0], rc, 0, "");
    }
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
    if (c->nqueued == 0 && can_post(c) && post(c, type, c->scratch, len) == 0)
        return 0; /* else (no connection or socket now) it waits for the next pump */
    uint8_t hdr[5] = {(uint8_t)type, (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
                      (uint8_t)(len >> 24)};
    evbuffer_add(c->queue, hdr, sizeof hdr);
    evbuffer_add(c->queue, c->scratch, len);
    c->nqueued++;
    return 0;
}

size_t cm_lg_client_pending(const struct cm_lg_client *c)
{
    return c->nqueued + (size_t)c->inflight;
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
        pump(c); /* the calls queued while (re-)subscribing */
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
    c->sub = cm_emu_conn_new(c->base, &c->master, NULL, &sub_cbs, c, &err);
    if (!c->sub)
        return err ? err : -ENOMEM;
    cm_recordio_decoder_cleanup(&c->dec);
    cm_recordio_decoder_init(&c->dec, MAX_RECORD);
    c->sub_status = 0;
    c->subscribing = true;
    return cm_emu_conn_post(c->sub, c->host, PATH, NULL, c->scratch, len);
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

struct cm_lg_client *cm_lg_client_new(const struct cm_lg_client_config *cfg, char *why,
                                      size_t whylen)
{
    if (!cfg->base || !cfg->framework_info || cfg->max_inflight < 1 || cfg->max_inflight > 65536) {
        cm_fail(CM_EINVAL, why, whylen, "base, framework_info and max_inflight 1..65536 needed");
        return NULL;
    }
    struct sockaddr_in sa;
    if (resolve(cfg->master, &sa, why, whylen) != 0)
        return NULL;
    struct cm_lg_client *c = cm_xcalloc(1, sizeof *c);
    c->base = cfg->base;
    c->master = sa;
    snprintf(c->host, sizeof c->host, "%s", cfg->master);
    c->cbs = cfg->cbs;
    c->arg = cfg->arg;
    c->max_inflight = cfg->max_inflight;
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
    c->retry_ev = evtimer_new(c->base, retry_cb, c);
    c->nconns = cfg->connections > 0 ? cfg->connections : 1;
    c->conns = cm_xcalloc((size_t)c->nconns, sizeof *c->conns);
    for (int i = 0; i < c->nconns; i++) {
        c->conns[i].c = c;
        c->conns[i].ring = cm_xcalloc((size_t)c->max_inflight, 1);
    }
    c->queue = evbuffer_new();
    if (!c->retry_ev || !c->queue)
        abort();
    return c;
}

void cm_lg_client_free(struct cm_lg_client *c)
{
    if (!c)
        return;
    cm_emu_conn_free(c->sub);
    for (int i = 0; i < c->nconns; i++) {
        cm_emu_conn_free(c->conns[i].conn);
        free(c->conns[i].ring);
    }
    free(c->conns);
    if (c->fi)
        protobuf_c_message_free_unpacked(&c->fi->base, NULL);
    free(c->framework_id);
    cm_recordio_decoder_cleanup(&c->dec);
    cm_emu_arena_free(&c->arena);
    event_free(c->retry_ev);
    evbuffer_free(c->queue);
    free(c->scratch);
    free(c);
}
