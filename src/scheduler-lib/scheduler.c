/*
 * scheduler.c: the libcmscheduler state machine.
 *
 * The subscription itself (SUBSCRIBE, 307 to the leader, Mesos-Stream-Id, RecordIO, decoding,
 * heartbeat watchdog, backoff) is the common stream client (stream_client.h); this file adds
 * what is particular to the scheduler API:
 *
 *   idle --start--> subscribing --SUBSCRIBED--> subscribed
 *   subscribing/subscribed --lost--> subscribing (the client's backoff), disconnected callback
 *   any --ERROR event, SUBSCRIBE refused with 4xx, stop(), TEARDOWN answered--> stopped
 *
 * Calls other than SUBSCRIBE are independent plain POSTs tracked in a list so that stop() can
 * let them finish and free() can cancel them.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmesos/scheduler.h"
#include "auth.h"
#include "errors.h"
#include "http_client.h"
#include "ids.h"
#include "leader.h"
#include "log.h"
#include "stream_client.h"
#include "util.h"
#include "tls.h"
#include "zk_url.h"
#include "sched_internal.h"

/* The public codes are the internal ones (scheduler.h promises it; cm_scheduler_strerror
 * relies on it), and the public log levels index the same way as the internal ones. */
_Static_assert(CM_SCHEDULER_EINVAL == CM_EINVAL, "CM_SCHEDULER_EINVAL");
_Static_assert(CM_SCHEDULER_EPARSE == CM_EPARSE, "CM_SCHEDULER_EPARSE");
_Static_assert(CM_SCHEDULER_ESTATE == CM_ESTATE, "CM_SCHEDULER_ESTATE");
_Static_assert(CM_SCHEDULER_EHTTP == CM_EHTTP, "CM_SCHEDULER_EHTTP");
_Static_assert(CM_SCHEDULER_EPROTO == CM_EPROTO, "CM_SCHEDULER_EPROTO");
_Static_assert((int)CM_SCHEDULER_LOG_DEBUG == (int)CM_LOG_DEBUG, "log levels");
_Static_assert((int)CM_SCHEDULER_LOG_INFO == (int)CM_LOG_INFO, "log levels");
_Static_assert((int)CM_SCHEDULER_LOG_WARNING == (int)CM_LOG_WARNING, "log levels");
_Static_assert((int)CM_SCHEDULER_LOG_ERROR == (int)CM_LOG_ERROR, "log levels");

#define CM_SCHED_MAX_REDIRECTS 5
#define CM_SCHED_MAX_RECORD (64u * 1024 * 1024)
#define CM_SCHED_DEFAULT_HEARTBEAT 15.0
/* The ZooKeeper session timeout of the leader detector (Mesos's default). */
#define CM_SCHED_ZK_SESSION_TIMEOUT 10.0

/* One non-SUBSCRIBE call waiting for its answer. */
struct sched_call {
    struct cm_scheduler *sched;
    struct cm_http_call *http;
    Mesos__V1__Scheduler__Call__Type type;
    cm_scheduler_call_cb cb;
    void *cb_arg;
    struct sched_call *prev, *next;
};

struct cm_scheduler {
    struct event_base *base;
    bool own_base;
    struct cm_http_client *http;

    /* Configuration (read-only after new, except master_url with a ZooKeeper detector). */
    char master_url[CM_SCHED_URL_MAX];   /* empty while a detector knows no leader */
    struct cm_leader_detector *detector; /* zk:// or file:// masters */
    Mesos__V1__FrameworkInfo *fwinfo;    /* deep copy */
    enum cm_scheduler_content_type ct;
    struct cm_scheduler_callbacks cb;
    void *cb_arg;
    cm_scheduler_log_cb log;
    void *log_arg;
    /* The common code's lines reach the caller's callback through this per-instance sink. */
    struct cm_log_sink sink;
    unsigned heartbeat_misses;
    double call_timeout;

    /* Subscription. */
    struct cm_stream_client *stream;
    char *framework_id; /* from SUBSCRIBED or the config; sent on re-subscribe */
    bool started, stopping, subscribed, tearing_down;

    struct sched_call *calls;
    size_t ncalls;
    char *authorization; /* "Basic ..." (cm_scheduler_set_credential) or NULL */
};

static void slog(struct cm_scheduler *s, enum cm_scheduler_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void slog(struct cm_scheduler *s, enum cm_scheduler_log_level level, const char *fmt, ...)
{
    if (!s->log)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    s->log(s->log_arg, level, buf);
}

/* The sink handed to common code: same levels, same callback, nothing when none was given. */
static void sink_fn(void *arg, enum cm_log_level level, const char *module, const char *message)
{
    struct cm_scheduler *s = arg;
    (void)module;
    if (s->log)
        s->log(s->log_arg, (enum cm_scheduler_log_level)level, message);
}

const char *cm_scheduler_strerror(int err)
{
    if (err == CM_ESTATE)
        return "not subscribed (or not valid in the current state)";
    return cm_strerror(err);
}

/* ---- subscription -------------------------------------------------------------------------- */

static void on_leader(void *arg, const Mesos__V1__MasterInfo *leader);

static int build_subscribe(void *arg, uint8_t **out, size_t *len)
{
    struct cm_scheduler *s = arg;
    /* A shallow copy of FrameworkInfo with the id we were given, for failover. */
    Mesos__V1__FrameworkInfo fi = *s->fwinfo;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Subscribe subscribe = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
    if (s->framework_id) {
        fid.value = s->framework_id;
        fi.id = &fid;
        call.framework_id = &fid;
    } else {
        fi.id = NULL;
    }
    subscribe.framework_info = &fi;
    call.has_type = 1;
    call.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
    call.subscribe = &subscribe;
    slog(s, CM_SCHEDULER_LOG_INFO, "Subscribing%s%s", s->framework_id ? " as framework " : "",
         s->framework_id ? s->framework_id : "");
    return cm_sched_encode_call(&call, s->ct, out, len);
}

/* With our own loop, leave it once nothing more can happen. */
static void maybe_break_loop(struct cm_scheduler *s)
{
    if (s->own_base && s->stopping && s->ncalls == 0)
        event_base_loopbreak(s->base);
}

/* A condition that retrying cannot fix: tell the framework and stop. */
static void fatal(struct cm_scheduler *s, const char *message)
{
    /* INFO only: the error callback carries the message to the framework. */
    slog(s, CM_SCHEDULER_LOG_INFO, "%s", message);
    s->subscribed = false;
    if (s->cb.error)
        s->cb.error(s, s->cb_arg, message);
    cm_scheduler_stop(s);
}

static void dispatch(struct cm_scheduler *s, const Mesos__V1__Scheduler__Event *ev)
{
    switch (ev->type) {
    case MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED: {
        Mesos__V1__Scheduler__Event__Subscribed *sub = ev->subscribed;
        if (!sub->framework_id || !sub->framework_id->value) {
            slog(s, CM_SCHEDULER_LOG_WARNING, "SUBSCRIBED without framework_id; ignored");
            return;
        }
        char *id = strdup(sub->framework_id->value);
        if (!id)
            abort();
        free(s->framework_id);
        s->framework_id = id;
        double interval = CM_SCHED_DEFAULT_HEARTBEAT;
        if (sub->has_heartbeat_interval_seconds && sub->heartbeat_interval_seconds > 0 &&
            sub->heartbeat_interval_seconds < 86400)
            interval = sub->heartbeat_interval_seconds;
        s->subscribed = true;
        cm_stream_client_set_idle_timeout(s->stream, interval * s->heartbeat_misses);
        slog(s, CM_SCHEDULER_LOG_INFO, "Subscribed with framework ID %s (stream %s)", id,
             cm_stream_client_stream_id(s->stream));
        if (s->cb.subscribed)
            s->cb.subscribed(s, s->cb_arg, sub);
        break;
    }
    case MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS:
        if (s->cb.offers)
            s->cb.offers(s, s->cb_arg, ev->offers->offers, ev->offers->n_offers);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND:
        if (s->cb.rescind && ev->rescind->offer_id)
            s->cb.rescind(s, s->cb_arg, ev->rescind->offer_id);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE:
        if (s->cb.update)
            s->cb.update(s, s->cb_arg, ev->update->status);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__MESSAGE:
        if (s->cb.message)
            s->cb.message(s, s->cb_arg, ev->message);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE:
        if (s->cb.failure)
            s->cb.failure(s, s->cb_arg, ev->failure);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR:
        /* The master closes the stream after ERROR; reconnecting would not help (the
         * framework was removed or another instance took over). */
        fatal(s, ev->error->message);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT:
        if (s->cb.heartbeat)
            s->cb.heartbeat(s, s->cb_arg);
        break;
    default:
        if (s->cb.other)
            s->cb.other(s, s->cb_arg, (Mesos__V1__Scheduler__Event *)ev);
        break;
    }
}

static void on_event(void *arg, const ProtobufCMessage *msg)
{
    dispatch(arg, (const Mesos__V1__Scheduler__Event *)msg);
}

static int validate_event(void *arg, const ProtobufCMessage *msg, char *why, size_t whylen)
{
    (void)arg;
    return cm_sched_check_event((const Mesos__V1__Scheduler__Event *)msg, why, whylen);
}

static enum cm_stream_decision on_lost(void *arg, const struct cm_stream_loss *loss)
{
    struct cm_scheduler *s = arg;
    bool was = s->subscribed;
    s->subscribed = false;
    if (s->stopping)
        return CM_STREAM_STOP;
    if (s->tearing_down && loss->was_open &&
        (loss->kind == CM_STREAM_CLOSED || loss->kind == CM_STREAM_BROKEN)) {
        /* The master closes the stream after TEARDOWN: this is the end, not a failure. */
        cm_scheduler_stop(s);
        return CM_STREAM_STOP;
    }
    if (loss->kind == CM_STREAM_REFUSED && loss->status >= 400 && loss->status < 500) {
        char reason[CM_SCHED_URL_MAX + 1200];
        snprintf(reason, sizeof reason, "SUBSCRIBE refused by %s: %ld %s",
                 cm_stream_client_url(s->stream), loss->status, loss->body);
        fatal(s, reason);
        return CM_STREAM_STOP;
    }
    /* INFO only: the disconnected callback is how the framework hears about it. */
    slog(s, CM_SCHEDULER_LOG_INFO, "Subscription %s: %s; retrying in %.3f secs",
         was ? "lost" : "failed", loss->reason, loss->retry_in);
    if (s->cb.disconnected)
        s->cb.disconnected(s, s->cb_arg, loss->reason, loss->retry_in);
    if (s->stopping)
        return CM_STREAM_STOP;
    /* A detector that knows no leader restarts us itself when it learns one. */
    if (s->detector && !s->master_url[0])
        return CM_STREAM_STOP;
    return CM_STREAM_RETRY;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

struct cm_scheduler *cm_scheduler_new(const struct cm_scheduler_config *config, char *why,
                                      size_t whylen)
{
    if (!config || !config->framework_info) {
        cm_fail(CM_EINVAL, why, whylen, "framework_info is required");
        return NULL;
    }
    const Mesos__V1__FrameworkInfo *fi = config->framework_info;
    if (!fi->user || !fi->name) {
        cm_fail(CM_EINVAL, why, whylen, "framework_info.user and framework_info.name are required");
        return NULL;
    }
    if (config->content_type != CM_SCHEDULER_JSON &&
        config->content_type != CM_SCHEDULER_PROTOBUF) {
        cm_fail(CM_EINVAL, why, whylen, "content_type must be JSON or PROTOBUF");
        return NULL;
    }
    if (fi->id && fi->id->value) {
        const char *idwhy = NULL;
        if (cm_id_validate(fi->id->value, &idwhy) != 0) {
            cm_fail(CM_EINVAL, why, whylen, "framework_info.id: %s", idwhy);
            return NULL;
        }
    }

    struct cm_scheduler *s = calloc(1, sizeof *s);
    if (!s) {
        cm_fail(-ENOMEM, why, whylen, "out of memory");
        return NULL;
    }
    bool zk = config->master && cm_zk_url_is_zk(config->master);
    if (!zk &&
        cm_sched_master_url(config->master, s->master_url, sizeof s->master_url, why, whylen))
        goto fail;

    /* Deep copy through the wire format: the caller's struct may be on its stack. */
    size_t n = mesos__v1__framework_info__get_packed_size(fi);
    uint8_t *buf = malloc(n + 1);
    if (!buf) {
        cm_fail(-ENOMEM, why, whylen, "out of memory");
        goto fail;
    }
    mesos__v1__framework_info__pack(fi, buf);
    s->fwinfo = mesos__v1__framework_info__unpack(NULL, n, buf);
    free(buf);
    if (!s->fwinfo) {
        cm_fail(CM_EINVAL, why, whylen, "framework_info could not be copied (required fields?)");
        goto fail;
    }
    if (fi->id && fi->id->value && *fi->id->value) {
        s->framework_id = strdup(fi->id->value);
        if (!s->framework_id)
            goto fail;
    }

    s->ct = config->content_type;
    s->cb = config->callbacks;
    s->cb_arg = config->callback_arg;
    s->log = config->log;
    s->log_arg = config->log_arg;
    s->sink.fn = sink_fn;
    s->sink.arg = s;
    s->heartbeat_misses = config->heartbeat_misses ? config->heartbeat_misses : 5;
    s->call_timeout = config->call_timeout > 0 ? config->call_timeout : 30.0;

    if (config->base) {
        s->base = config->base;
    } else {
        s->base = event_base_new();
        if (!s->base) {
            cm_fail(-ENOMEM, why, whylen, "event_base_new failed");
            goto fail;
        }
        s->own_base = true;
    }
    s->http = cm_http_client_new(s->base);
    if (!s->http) {
        cm_fail(-ENOMEM, why, whylen, "could not create the HTTP client");
        goto fail;
    }
    struct cm_stream_client_opts so = {
        .base = s->base,
        .http = s->http,
        .log = &s->sink,
        .module = "scheduler",
        .url = s->master_url,
        .media = s->ct == CM_SCHEDULER_PROTOBUF ? CM_MEDIA_PROTOBUF : CM_MEDIA_JSON,
        .event_desc = &mesos__v1__scheduler__event__descriptor,
        .stream_id = true,
        .max_record = CM_SCHED_MAX_RECORD,
        .max_redirects = CM_SCHED_MAX_REDIRECTS,
        .backoff_initial = config->backoff_initial > 0 ? config->backoff_initial : 1.0,
        .backoff_max = config->backoff_max > 0 ? config->backoff_max : 15.0,
        /* Until SUBSCRIBED says otherwise the watchdog uses Mesos's default interval, which
         * also bounds a master that accepts the connection but never answers. */
        .idle_timeout = CM_SCHED_DEFAULT_HEARTBEAT * s->heartbeat_misses,
        .connect_timeout = 10,
        .body = build_subscribe,
        .on_event = on_event,
        .validate = validate_event,
        .on_lost = on_lost,
        .arg = s,
    };
    s->stream = cm_stream_client_new(&so, why, whylen);
    if (!s->stream)
        goto fail;
    if (zk) {
        /* The leader comes from ZooKeeper; 307s are still followed for races. */
        s->detector = cm_leader_detector_new(s->base, config->master, CM_SCHED_ZK_SESSION_TIMEOUT,
                                             on_leader, s, why, whylen);
        if (!s->detector)
            goto fail;
    }
    return s;

fail:
    cm_scheduler_free(s);
    return NULL;
}

static void clear_authorization(struct cm_scheduler *s)
{
    if (s->authorization) {
        memset(s->authorization, 0, strlen(s->authorization));
        free(s->authorization);
    }
    s->authorization = NULL;
}

static bool has_control(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return true;
    return false;
}

int cm_scheduler_set_credential(struct cm_scheduler *s, const char *principal, const char *secret)
{
    if (!principal) {
        clear_authorization(s);
        return s->stream ? cm_stream_client_set_authorization(s->stream, NULL) : 0;
    }
    if (!principal[0] || strchr(principal, ':') || has_control(principal) || !secret ||
        has_control(secret) || strlen(principal) > 255 || strlen(secret) > 1024)
        return CM_EINVAL;
    clear_authorization(s);
    s->authorization = cm_auth_basic_header(principal, secret);
    if (s->stream && cm_stream_client_set_authorization(s->stream, s->authorization) != 0)
        return CM_EINVAL;
    slog(s, CM_SCHEDULER_LOG_INFO, "Authenticating as principal '%s'", principal);
    return 0;
}

void cm_scheduler_free(struct cm_scheduler *s)
{
    if (!s)
        return;
    cm_leader_detector_free(s->detector);
    cm_stream_client_free(s->stream);
    /* The client cancels every call still in flight without calling back. */
    cm_http_client_free(s->http);
    while (s->calls) {
        struct sched_call *c = s->calls;
        s->calls = c->next;
        free(c);
    }
    if (s->fwinfo)
        protobuf_c_message_free_unpacked(&s->fwinfo->base, NULL);
    free(s->framework_id);
    clear_authorization(s);
    if (s->own_base && s->base)
        event_base_free(s->base);
    free(s);
}

struct event_base *cm_scheduler_base(const struct cm_scheduler *s)
{
    return s->base;
}

int cm_scheduler_subscribed(const struct cm_scheduler *s)
{
    return s->subscribed ? 1 : 0;
}

const char *cm_scheduler_framework_id(const struct cm_scheduler *s)
{
    return s->framework_id;
}

size_t cm_scheduler_pending_calls(const struct cm_scheduler *s)
{
    return s->ncalls;
}

int cm_scheduler_start(struct cm_scheduler *s)
{
    if (s->started)
        return CM_ESTATE;
    s->started = true;
    if (s->detector) {
        /* The first attempt follows the first leader the detector reports. */
        int rc = cm_leader_detector_start(s->detector);
        slog(s, CM_SCHEDULER_LOG_INFO, "Detecting the leading master through ZooKeeper");
        return rc;
    }
    /* The first attempt runs from the loop so that no callback runs inside start(). */
    return cm_stream_client_start(s->stream);
}

void cm_scheduler_stop(struct cm_scheduler *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    s->subscribed = false;
    cm_stream_client_stop(s->stream);
    slog(s, CM_SCHEDULER_LOG_INFO, "Scheduler stopped");
    maybe_break_loop(s);
}

int cm_scheduler_run(struct cm_scheduler *s)
{
    if (!s->own_base)
        return CM_ESTATE;
    if (s->stopping && s->ncalls == 0)
        return 0;
    event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return 0;
}

/* The detector reports a new leading master (or none): subscribe there at once, with our
 * framework id (a failover costs no back-off). Runs on the loop, never inside a stream. */
static void on_leader(void *arg, const Mesos__V1__MasterInfo *leader)
{
    struct cm_scheduler *s = arg;
    char url[CM_SCHED_URL_MAX] = "";
    if (leader && leader->port) {
        const char *host = leader->address && leader->address->ip && *leader->address->ip
                               ? leader->address->ip
                               : leader->hostname;
        if (host)
            snprintf(url, sizeof url, "%s://%s:%u%s", cm_tls_scheme(), host, (unsigned)leader->port,
                     CM_SCHED_API_PATH);
    }
    if (strcmp(url, s->master_url) == 0)
        return;
    snprintf(s->master_url, sizeof s->master_url, "%s", url);
    cm_stream_client_set_url(s->stream, url);
    slog(s, CM_SCHEDULER_LOG_INFO, "%s%s",
         url[0] ? "Leading master detected at " : "No leading master", url);
    if (!s->started || s->stopping || !url[0])
        return;
    /* A 307 may already have taken the stream to the new leader: keep it. */
    if (cm_stream_client_is_open(s->stream) && strcmp(cm_stream_client_url(s->stream), url) == 0)
        return;
    bool was = s->subscribed;
    s->subscribed = false;
    cm_stream_client_restart(s->stream);
    if (was && s->cb.disconnected)
        s->cb.disconnected(s, s->cb_arg, "the leading master changed", 0);
}

/* ---- calls --------------------------------------------------------------------------------- */

static void call_done(void *arg, int err, const char *errmsg, const struct cm_http_response *resp)
{
    struct sched_call *c = arg;
    struct cm_scheduler *s = c->sched;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->ncalls--;

    long status = resp ? resp->status : 0;
    const char *body = "";
    if (err)
        body = errmsg ? errmsg : cm_strerror(err);
    else if (resp && resp->body)
        body = resp->body;
    bool ok = !err && status >= 200 && status < 300;
    /* INFO only: the call's callback (or call_failed) is how the framework hears of it. */
    if (!ok)
        slog(s, CM_SCHEDULER_LOG_INFO, "%s call failed: %s%ld %s", cm_sched_call_type_name(c->type),
             err ? "no answer " : "", status, body);
    if (c->type == MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN && !ok)
        s->tearing_down = false;
    if (c->cb)
        c->cb(s, c->cb_arg, c->type, err, status, body);
    else if (!ok && s->cb.call_failed)
        s->cb.call_failed(s, s->cb_arg, c->type, err, status, body);
    /* A framework that was torn down has nothing left to wait for. */
    if (c->type == MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN && ok)
        cm_scheduler_stop(s);
    free(c);
    maybe_break_loop(s);
}

int cm_scheduler_call(struct cm_scheduler *s, Mesos__V1__Scheduler__Call *call,
                      cm_scheduler_call_cb cb, void *cb_arg)
{
    if (!call || !call->has_type || call->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE)
        return CM_EINVAL;
    if (!s->subscribed || !s->framework_id)
        return CM_ESTATE;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    fid.value = s->framework_id;
    Mesos__V1__FrameworkID *saved = call->framework_id;
    call->framework_id = &fid;
    uint8_t *body = NULL;
    size_t len = 0;
    int rc = cm_sched_encode_call(call, s->ct, &body, &len);
    call->framework_id = saved;
    if (rc)
        return rc;

    struct sched_call *c = calloc(1, sizeof *c);
    if (!c) {
        free(body);
        return -ENOMEM;
    }
    c->sched = s;
    c->type = call->type;
    c->cb = cb;
    c->cb_arg = cb_arg;

    char ctype[64], accept[64], stream[CM_STREAM_ID_MAX + 32];
    snprintf(ctype, sizeof ctype, "Content-Type: %s", cm_sched_media_type(s->ct));
    snprintf(accept, sizeof accept, "Accept: %s", cm_sched_media_type(s->ct));
    snprintf(stream, sizeof stream, "Mesos-Stream-Id: %s", cm_stream_client_stream_id(s->stream));
    char *authz = s->authorization ? cm_xasprintf("Authorization: %s", s->authorization) : NULL;
    const char *headers[] = {ctype, accept, stream, authz, NULL};
    struct cm_http_request_opts opts = {
        .method = "POST",
        .url = cm_stream_client_url(s->stream),
        .headers = headers,
        .body = body,
        .body_len = len,
        .timeout_secs = s->call_timeout,
        .connect_timeout_secs = 10,
        .max_body = 64 * 1024,
        .on_done = call_done,
        .arg = c,
    };
    rc = cm_http_client_start(s->http, &opts, &c->http);
    free(body);
    free(authz);
    if (rc) {
        free(c);
        return rc;
    }
    c->next = s->calls;
    if (s->calls)
        s->calls->prev = c;
    s->calls = c;
    s->ncalls++;
    if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN)
        s->tearing_down = true;
    slog(s, CM_SCHEDULER_LOG_DEBUG, "Sent %s", cm_sched_call_type_name(call->type));
    return 0;
}

static void init_call(Mesos__V1__Scheduler__Call *call, Mesos__V1__Scheduler__Call__Type type)
{
    Mesos__V1__Scheduler__Call init = MESOS__V1__SCHEDULER__CALL__INIT;
    *call = init;
    call->has_type = 1;
    call->type = type;
}

int cm_scheduler_accept(struct cm_scheduler *s, Mesos__V1__OfferID *const *offer_ids,
                        size_t n_offer_ids, Mesos__V1__Offer__Operation *const *operations,
                        size_t n_operations, const Mesos__V1__Filters *filters)
{
    if ((n_offer_ids && !offer_ids) || (n_operations && !operations))
        return CM_EINVAL;
    Mesos__V1__Scheduler__Call call;
    init_call(&call, MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT);
    Mesos__V1__Scheduler__Call__Accept accept = MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
    accept.n_offer_ids = n_offer_ids;
    accept.offer_ids = (Mesos__V1__OfferID **)offer_ids;
    accept.n_operations = n_operations;
    accept.operations = (Mesos__V1__Offer__Operation **)operations;
    accept.filters = (Mesos__V1__Filters *)filters;
    call.accept = &accept;
    return cm_scheduler_call(s, &call, NULL, NULL);
}

int cm_scheduler_accept_launch(struct cm_scheduler *s, Mesos__V1__OfferID *const *offer_ids,
                               size_t n_offer_ids, Mesos__V1__TaskInfo *const *tasks,
                               size_t n_tasks, const Mesos__V1__Filters *filters)
{
    if (n_tasks && !tasks)
        return CM_EINVAL;
    Mesos__V1__Offer__Operation__Launch launch = MESOS__V1__OFFER__OPERATION__LAUNCH__INIT;
    launch.n_task_infos = n_tasks;
    launch.task_infos = (Mesos__V1__TaskInfo **)tasks;
    Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT;
    op.has_type = 1;
    op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH;
    op.launch = &launch;
    Mesos__V1__Offer__Operation *ops[] = {&op};
    return cm_scheduler_accept(s, offer_ids, n_offer_ids, ops, 1, filters);
}

int cm_scheduler_decline(struct cm_scheduler *s, Mesos__V1__OfferID *const *offer_ids,
                         size_t n_offer_ids, const Mesos__V1__Filters *filters)
{
    if (n_offer_ids && !offer_ids)
        return CM_EINVAL;
    Mesos__V1__Scheduler__Call call;
    init_call(&call, MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE);
    Mesos__V1__Scheduler__Call__Decline decline = MESOS__V1__SCHEDULER__CALL__DECLINE__INIT;
    decline.n_offer_ids = n_offer_ids;
    decline.offer_ids = (Mesos__V1__OfferID **)offer_ids;
    decline.filters = (Mesos__V1__Filters *)filters;
    call.decline = &decline;
    return cm_scheduler_call(s, &call, NULL, NULL);
}

int cm_scheduler_revive(struct cm_scheduler *s, const char *const *roles, size_t n_roles)
{
    if (n_roles && !roles)
        return CM_EINVAL;
    Mesos__V1__Scheduler__Call call;
    init_call(&call, MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE);
    Mesos__V1__Scheduler__Call__Revive revive = MESOS__V1__SCHEDULER__CALL__REVIVE__INIT;
    revive.n_roles = n_roles;
    revive.roles = (char **)roles;
    call.revive = &revive;
    return cm_scheduler_call(s, &call, NULL, NULL);
}

int cm_scheduler_suppress(struct cm_scheduler *s, const char *const *roles, size_t n_roles)
{
    if (n_roles && !roles)
        return CM_EINVAL;
    Mesos__V1__Scheduler__Call call;
    init_call(&call, MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS);
    Mesos__V1__Scheduler__Call__Suppress suppress = MESOS__V1__SCHEDULER__CALL__SUPPRESS__INIT;
    suppress.n_roles = n_roles;
    suppress.roles = (char **)roles;
    call.suppress = &suppress;
    return cm_scheduler_call(s, &call, NULL, NULL);
}

int cm_scheduler_kill(struct cm_scheduler *s, const char *task_id, const char *agent_id)
{
    if (!task_id)
        return CM_EINVAL;
    Mesos__V1__Scheduler__Call call;
    init_call(&call, MESOS__V1__SCHEDULER__CALL__TYPE__KILL);
    Mesos__V1__Scheduler__Call__Kill kill = MESOS__V1__SCHEDULER__CALL__KILL__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    tid.value = (char *)task_id;
    kill.task_id = &tid;
    if (agent_id) {
        aid.value = (char *)agent_id;
        kill.agent_id = &aid;
    }
    call.kill = &kill;
    return cm_scheduler_call(s, &call, NULL, NULL);
}

int cm_scheduler_acknowledge(struct cm_scheduler *s, const char *agent_id, const char *task_id,
                             const uint8_t *uuid, size_t uuid_len)
{
    if (!agent_id || !task_id || !uuid || uuid_len != 16)
        return CM_EINVAL;
    Mesos__V1__Scheduler__Call call;
    init_call(&call, MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE);
    Mesos__V1__Scheduler__Call__Acknowledge ack = MESOS__V1__SCHEDULER__CALL__ACKNOWLEDGE__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    tid.value = (char *)task_id;
    aid.value = (char *)agent_id;
    ack.task_id = &tid;
    ack.agent_id = &aid;
    ack.uuid.data = (uint8_t *)uuid;
    ack.uuid.len = uuid_len;
    call.acknowledge = &ack;
    return cm_scheduler_call(s, &call, NULL, NULL);
}

int cm_scheduler_acknowledge_status(struct cm_scheduler *s, const Mesos__V1__TaskStatus *status)
{
    if (!status)
        return CM_EINVAL;
    if (!status->has_uuid || status->uuid.len == 0)
        return 0;
    if (!status->agent_id || !status->agent_id->value || !status->task_id ||
        !status->task_id->value)
        return CM_EINVAL;
    return cm_scheduler_acknowledge(s, status->agent_id->value, status->task_id->value,
                                    status->uuid.data, status->uuid.len);
}

int cm_scheduler_reconcile(struct cm_scheduler *s, const char *const *task_ids,
                           const char *const *agent_ids, size_t n_tasks)
{
    if (n_tasks && !task_ids)
        return CM_EINVAL;
    Mesos__V1__Scheduler__Call call;
    init_call(&call, MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE);
    Mesos__V1__Scheduler__Call__Reconcile rec = MESOS__V1__SCHEDULER__CALL__RECONCILE__INIT;
    Mesos__V1__Scheduler__Call__Reconcile__Task *items = NULL, **ptrs = NULL;
    Mesos__V1__TaskID *tids = NULL;
    Mesos__V1__AgentID *aids = NULL;
    int rc = -ENOMEM;
    if (n_tasks) {
        items = calloc(n_tasks, sizeof *items);
        ptrs = calloc(n_tasks, sizeof *ptrs);
        tids = calloc(n_tasks, sizeof *tids);
        aids = calloc(n_tasks, sizeof *aids);
        if (!items || !ptrs || !tids || !aids)
            goto out;
        for (size_t i = 0; i < n_tasks; i++) {
            Mesos__V1__Scheduler__Call__Reconcile__Task t =
                MESOS__V1__SCHEDULER__CALL__RECONCILE__TASK__INIT;
            Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
            Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
            if (!task_ids[i]) {
                rc = CM_EINVAL;
                goto out;
            }
            items[i] = t;
            tids[i] = tid;
            aids[i] = aid;
            tids[i].value = (char *)task_ids[i];
            items[i].task_id = &tids[i];
            if (agent_ids && agent_ids[i]) {
                aids[i].value = (char *)agent_ids[i];
                items[i].agent_id = &aids[i];
            }
            ptrs[i] = &items[i];
        }
    }
    rec.n_tasks = n_tasks;
    rec.tasks = ptrs;
    call.reconcile = &rec;
    rc = cm_scheduler_call(s, &call, NULL, NULL);
out:
    free(items);
    free(ptrs);
    free(tids);
    free(aids);
    return rc;
}

int cm_scheduler_shutdown(struct cm_scheduler *s, const char *executor_id, const char *agent_id)
{
    if (!executor_id || !agent_id)
        return CM_EINVAL;
    Mesos__V1__Scheduler__Call call;
    init_call(&call, MESOS__V1__SCHEDULER__CALL__TYPE__SHUTDOWN);
    Mesos__V1__Scheduler__Call__Shutdown sh = MESOS__V1__SCHEDULER__CALL__SHUTDOWN__INIT;
    Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    eid.value = (char *)executor_id;
    aid.value = (char *)agent_id;
    sh.executor_id = &eid;
    sh.agent_id = &aid;
    call.shutdown = &sh;
    return cm_scheduler_call(s, &call, NULL, NULL);
}

int cm_scheduler_message(struct cm_scheduler *s, const char *agent_id, const char *executor_id,
                         const void *data, size_t len)
{
    if (!agent_id || !executor_id || (len && !data))
        return CM_EINVAL;
    Mesos__V1__Scheduler__Call call;
    init_call(&call, MESOS__V1__SCHEDULER__CALL__TYPE__MESSAGE);
    Mesos__V1__Scheduler__Call__Message msg = MESOS__V1__SCHEDULER__CALL__MESSAGE__INIT;
    Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    eid.value = (char *)executor_id;
    aid.value = (char *)agent_id;
    msg.executor_id = &eid;
    msg.agent_id = &aid;
    msg.data.data = (uint8_t *)(len ? data : "");
    msg.data.len = len;
    call.message = &msg;
    return cm_scheduler_call(s, &call, NULL, NULL);
}

int cm_scheduler_teardown(struct cm_scheduler *s, cm_scheduler_call_cb cb, void *cb_arg)
{
    Mesos__V1__Scheduler__Call call;
    init_call(&call, MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN);
    return cm_scheduler_call(s, &call, cb, cb_arg);
}
