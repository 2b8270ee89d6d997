/* exec_lib.c: libcmexecutor, the v1 executor API client (include/cmesos/executor.h). */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "codec.h"
#include "errors.h"
#include "exec_internal.h"
#include "flags.h"
#include "http_client.h"
#include "ids.h"
#include "log.h"
#include "stream_client.h"
#include "util.h"

#define MOD "executor-lib"
#define MAX_EVENT_BYTES (64u << 20) /* a LAUNCH_GROUP carries whole TaskInfos */
#define FIRST_SUBSCRIBE_TIMEOUT 10.0
#define POST_TIMEOUT 10.0
#define STOP_DRAIN 2.0         /* cm_exec_run waits this long for calls in flight */
#define MAX_OUTBOX 1024        /* messages held until the first subscription */
#define MAX_MESSAGE (4u << 20) /* one framework message */

/* One update the agent has not acknowledged, in creation order. */
struct pending {
    struct pending *next;
    Mesos__V1__TaskStatus *status;
    bool sent; /* POSTed (202) or carried by a SUBSCRIBE */
};

/* A launched task none of whose updates was acknowledged yet. */
struct task_rec {
    struct task_rec *next;
    Mesos__V1__TaskInfo *task;
};

/* A framework message waiting for a subscription. */
struct outmsg {
    struct outmsg *next;
    uint8_t *data;
    size_t len;
};

/* A call made on another thread (library-owned loop), waiting for the loop. */
enum qkind { Q_UPDATE, Q_MESSAGE, Q_STOP };
struct qitem {
    struct qitem *next;
    enum qkind kind;
    void *msg; /* Q_UPDATE: an owned TaskStatus, filled; Q_MESSAGE: an owned struct outmsg */
};

struct cm_exec {
    struct cm_exec_env env;
    struct event_base *base;
    bool own_base;
    struct cm_exec_callbacks cb;
    void *cb_arg;
    void (*log)(void *arg, enum cm_exec_log_level level, const char *message);
    void *log_arg;
    struct cm_log_sink sink;
    const struct cm_clock *clock;
    cm_exec_send_hook hook;
    void *hook_arg;
    double resend_delay;

    struct cm_stream_client *link;
    struct cm_http_client *http;
    bool started, stopped, subscribed, ever_subscribed, shutdown_called;
    bool post_busy;
    uint8_t post_uuid[16];
    struct event *resend_timer;
    size_t inflight; /* POSTs waiting for an answer */

    struct pending *pending;
    struct task_rec *tasks;
    struct outmsg *outbox, **outbox_tail;
    size_t n_outbox;

    /* Library-owned loop: calls from other threads. */
    pthread_mutex_t mu;
    struct qitem *qhead, **qtail;
    int wake[2];
    struct event *wake_ev;
    struct event *drain_timer;
    bool running; /* cm_exec_run is in the loop (under mu) */
    pthread_t loop_thread;
};

/* ---- small helpers ----------------------------------------------------------------------- */

static void xlog(struct cm_exec *ex, enum cm_exec_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void xlog(struct cm_exec *ex, enum cm_exec_log_level level, const char *fmt, ...)
{
    if (!ex->log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ex->log(ex->log_arg, level, line);
}

/* The common code inside the library (stream client) logs through this sink. */
static void sink_fn(void *arg, enum cm_log_level level, const char *module, const char *message)
{
    (void)module;
    struct cm_exec *ex = arg;
    if (ex->log)
        ex->log(ex->log_arg, (enum cm_exec_log_level)level, message);
}

/* An owned deep copy of m (pack + unpack), so every copy is freed one way. NULL only when
 * memory ran out. */
static ProtobufCMessage *message_copy(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return NULL;
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
    free(buf);
    return copy;
}

/* ---- calls --------------------------------------------------------------------------------- */

static void call_init(struct cm_exec *ex, Mesos__V1__Executor__Call *call,
                      Mesos__V1__ExecutorID *eid, Mesos__V1__FrameworkID *fid)
{
    mesos__v1__executor__call__init(call);
    mesos__v1__executor_id__init(eid);
    mesos__v1__framework_id__init(fid);
    eid->value = ex->env.executor_id;
    fid->value = ex->env.framework_id;
    call->executor_id = eid;
    call->framework_id = fid;
    call->has_type = 1;
}

static void build_url(const struct cm_exec *ex, char *url, size_t len)
{
    snprintf(url, len, "%s://%s/api/v1/executor", ex->env.https ? "https" : "http",
             ex->env.agent_endpoint);
}

static struct pending *pending_find(struct cm_exec *ex, const uint8_t *uuid, size_t len)
{
    if (len != 16 || !uuid)
        return NULL;
    for (struct pending *p = ex->pending; p; p = p->next)
        if (memcmp(p->status->uuid.data, uuid, 16) == 0)
            return p;
    return NULL;
}

static void maybe_finish_run(struct cm_exec *ex)
{
    if (ex->own_base && ex->stopped && ex->inflight == 0)
        event_base_loopbreak(ex->base);
}

/* POSTs one encoded call; on_done gets arg. Counts it in flight. */
static int post_call(struct cm_exec *ex, const Mesos__V1__Executor__Call *call,
                     cm_http_done_cb on_done, void *arg)
{
    uint8_t *body;
    size_t len;
    int rc = cm_pb_encode(&call->base, CM_MEDIA_PROTOBUF, &body, &len);
    if (rc)
        return rc;
    char url[300];
    build_url(ex, url, sizeof url);
    char *authz = NULL;
    if (ex->env.authentication_token &&
        asprintf(&authz, "Authorization: Bearer %s", ex->env.authentication_token) < 0) {
        free(body);
        return -ENOMEM;
    }
    const char *headers[] = {"Content-Type: application/x-protobuf",
                             "Accept: application/x-protobuf", authz, NULL};
    struct cm_http_request_opts o = {.method = "POST",
                                     .url = url,
                                     .headers = headers,
                                     .body = body,
                                     .body_len = len,
                                     .timeout_secs = POST_TIMEOUT,
                                     .on_done = on_done,
                                     .arg = arg};
    rc = cm_http_client_start(ex->http, &o, NULL);
    free(body);
    if (authz) {
        memset(authz, 0, strlen(authz));
        free(authz);
    }
    if (rc == 0)
        ex->inflight++;
    return rc;
}

static void pump(struct cm_exec *ex);

static void retry_later(struct cm_exec *ex)
{
    double d = ex->resend_delay;
    struct timeval tv = {(time_t)d, (suseconds_t)((d - floor(d)) * 1e6)};
    evtimer_add(ex->resend_timer, &tv);
}

static void on_update_done(void *arg, int err, const char *errmsg,
                           const struct cm_http_response *resp)
{
    struct cm_exec *ex = arg;
    struct pending *p = pending_find(ex, ex->post_uuid, 16);
    ex->inflight--;
    ex->post_busy = false;
    if (err || !resp || resp->status >= 500 || resp->status < 200) {
        xlog(ex, CM_EXEC_LOG_WARNING, "UPDATE call failed: %s%s%s (status %ld); retrying",
             err ? cm_strerror(err) : "bad response", errmsg && errmsg[0] ? ": " : "",
             errmsg ? errmsg : "", resp ? resp->status : 0L);
        if (!ex->stopped)
            retry_later(ex);
        maybe_finish_run(ex);
        return;
    }
    /* A 4xx does not get better by repeating it; a re-subscription still carries the update. */
    if (resp->status != 202)
        xlog(ex, CM_EXEC_LOG_ERROR, "Agent refused an UPDATE with status %ld: %.*s", resp->status,
             (int)(resp->body_len < 200 ? resp->body_len : 200), resp->body ? resp->body : "");
    if (p)
        p->sent = true;
    pump(ex);
    maybe_finish_run(ex);
}

static int post_update(struct cm_exec *ex, struct pending *p)
{
    Mesos__V1__Executor__Call call;
    Mesos__V1__ExecutorID eid;
    Mesos__V1__FrameworkID fid;
    Mesos__V1__Executor__Call__Update up = MESOS__V1__EXECUTOR__CALL__UPDATE__INIT;
    call_init(ex, &call, &eid, &fid);
    call.type = MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE;
    up.status = p->status;
    call.update = &up;
    if (ex->hook) {
        int rc = ex->hook(ex->hook_arg, &call);
        p->sent = rc == 0;
        return rc;
    }
    int rc = post_call(ex, &call, on_update_done, ex);
    if (rc) {
        xlog(ex, CM_EXEC_LOG_WARNING, "Failed to start an UPDATE call: %s", cm_strerror(rc));
        return rc;
    }
    ex->post_busy = true;
    memcpy(ex->post_uuid, p->status->uuid.data, 16);
    return 0;
}

/* Sends the oldest unsent update unless one is in flight or the link is down (the SUBSCRIBE
 * of the re-subscription carries them all then). */
static void pump(struct cm_exec *ex)
{
    while (ex->subscribed && !ex->post_busy && !ex->stopped) {
        struct pending *p = ex->pending;
        while (p && p->sent)
            p = p->next;
        if (!p)
            return;
        if (post_update(ex, p) != 0) {
            retry_later(ex);
            return;
        }
    }
}

static void on_resend_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

static void on_message_done(void *arg, int err, const char *errmsg,
                            const struct cm_http_response *resp)
{
    struct cm_exec *ex = arg;
    ex->inflight--;
    if (err || !resp || resp->status != 202)
        xlog(ex, CM_EXEC_LOG_WARNING, "MESSAGE call failed: %s%s%s (status %ld)",
             err ? cm_strerror(err) : "refused", errmsg && errmsg[0] ? ": " : "",
             errmsg ? errmsg : "", resp ? resp->status : 0L);
    maybe_finish_run(ex);
}

static void send_message_now(struct cm_exec *ex, const uint8_t *data, size_t len)
{
    Mesos__V1__Executor__Call call;
    Mesos__V1__ExecutorID eid;
    Mesos__V1__FrameworkID fid;
    Mesos__V1__Executor__Call__Message m = MESOS__V1__EXECUTOR__CALL__MESSAGE__INIT;
    call_init(ex, &call, &eid, &fid);
    call.type = MESOS__V1__EXECUTOR__CALL__TYPE__MESSAGE;
    m.data.data = (uint8_t *)data;
    m.data.len = len;
    call.message = &m;
    int rc = ex->hook ? ex->hook(ex->hook_arg, &call) : post_call(ex, &call, on_message_done, ex);
    if (rc)
        xlog(ex, CM_EXEC_LOG_WARNING, "Failed to send a MESSAGE: %s", cm_strerror(rc));
}

static void flush_outbox(struct cm_exec *ex)
{
    while (ex->subscribed && ex->outbox) {
        struct outmsg *m = ex->outbox;
        ex->outbox = m->next;
        if (!ex->outbox)
            ex->outbox_tail = &ex->outbox;
        ex->n_outbox--;
        send_message_now(ex, m->data, m->len);
        free(m->data);
        free(m);
    }
}

/* Loop thread: a message made and owned by the caller side. */
static void do_message(struct cm_exec *ex, struct outmsg *m)
{
    if (ex->subscribed && !ex->outbox) {
        send_message_now(ex, m->data, m->len);
        free(m->data);
        free(m);
        return;
    }
    if (ex->n_outbox >= MAX_OUTBOX) {
        xlog(ex, CM_EXEC_LOG_WARNING, "Dropping a MESSAGE of %zu bytes: %d messages wait already",
             m->len, MAX_OUTBOX);
        free(m->data);
        free(m);
        return;
    }
    m->next = NULL;
    *ex->outbox_tail = m;
    ex->outbox_tail = &m->next;
    ex->n_outbox++;
}

/* Loop thread: takes an owned, filled status and keeps it until acknowledged. */
static void do_update(struct cm_exec *ex, Mesos__V1__TaskStatus *status)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        xlog(ex, CM_EXEC_LOG_ERROR, "Out of memory: an update of task '%s' is lost",
             status->task_id->value);
        mesos__v1__task_status__free_unpacked(status, NULL);
        return;
    }
    p->status = status;
    struct pending **tail = &ex->pending;
    while (*tail)
        tail = &(*tail)->next;
    *tail = p;
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &mesos__v1__task_state__descriptor, (int)status->state);
    xlog(ex, CM_EXEC_LOG_DEBUG, "Sending %s for task '%s'%s%s", v ? v->name : "TASK_?",
         status->task_id->value, status->message ? ": " : "",
         status->message ? status->message : "");
    pump(ex);
}

/* Validates status and builds the owned copy the library keeps. */
static int prepare_status(struct cm_exec *ex, const Mesos__V1__TaskStatus *in,
                          Mesos__V1__TaskStatus **out, uint8_t *uuid_out, char *why, size_t whylen)
{
    const char *idwhy;
    if (!in)
        return cm_fail(CM_EINVAL, why, whylen, "status is NULL");
    if (!in->task_id || !in->task_id->value || !in->task_id->value[0])
        return cm_fail(CM_EINVAL, why, whylen, "status.task_id is not set");
    if (cm_id_validate(in->task_id->value, &idwhy) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "status.task_id '%s' is invalid: %s",
                       in->task_id->value, idwhy);
    if (!protobuf_c_enum_descriptor_get_value(&mesos__v1__task_state__descriptor, (int)in->state))
        return cm_fail(CM_EINVAL, why, whylen, "status.state %d is not a TaskState",
                       (int)in->state);
    if (in->state == MESOS__V1__TASK_STATE__TASK_STAGING)
        return cm_fail(CM_EINVAL, why, whylen,
                       "status.state: an executor may not send TASK_STAGING");
    if (in->has_uuid && in->uuid.len != 16)
        return cm_fail(CM_EINVAL, why, whylen, "status.uuid must be 16 bytes, not %zu",
                       in->uuid.len);
    Mesos__V1__TaskStatus st = *in;
    Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    uint8_t uuid[16];
    if (!st.has_uuid) {
        cm_uuid_random(uuid);
        st.has_uuid = 1;
        st.uuid.data = uuid;
        st.uuid.len = 16;
    }
    if (!st.has_timestamp) {
        st.has_timestamp = 1;
        st.timestamp = cm_clock_now(ex->clock);
    }
    if (!st.has_source) {
        st.has_source = 1;
        st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
    }
    if (!st.executor_id) {
        eid.value = ex->env.executor_id;
        st.executor_id = &eid;
    }
    if (!st.agent_id) {
        aid.value = ex->env.agent_id;
        st.agent_id = &aid;
    }
    Mesos__V1__TaskStatus *copy = (Mesos__V1__TaskStatus *)message_copy(&st.base);
    if (!copy)
        return -ENOMEM;
    if (uuid_out)
        memcpy(uuid_out, copy->uuid.data, 16);
    *out = copy;
    return 0;
}

/* ---- calls from other threads (library-owned loop) --------------------------------------- */

/* true when the call must be queued for the loop thread rather than made here. */
static bool off_loop(struct cm_exec *ex)
{
    if (!ex->own_base)
        return false;
    pthread_mutex_lock(&ex->mu);
    bool here = ex->running && pthread_equal(pthread_self(), ex->loop_thread);
    pthread_mutex_unlock(&ex->mu);
    return !here;
}

static int enqueue(struct cm_exec *ex, enum qkind kind, void *msg)
{
    struct qitem *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    q->kind = kind;
    q->msg = msg;
    pthread_mutex_lock(&ex->mu);
    *ex->qtail = q;
    ex->qtail = &q->next;
    pthread_mutex_unlock(&ex->mu);
    char one = 1;
    /* A full pipe already wakes the loop; nothing else can fail here that matters. */
    ssize_t n = write(ex->wake[1], &one, 1);
    (void)n;
    return 0;
}

static void do_stop(struct cm_exec *ex);

static void drain_queue(struct cm_exec *ex)
{
    for (;;) {
        pthread_mutex_lock(&ex->mu);
        struct qitem *q = ex->qhead;
        if (q) {
            ex->qhead = q->next;
            if (!ex->qhead)
                ex->qtail = &ex->qhead;
        }
        pthread_mutex_unlock(&ex->mu);
        if (!q)
            return;
        switch (q->kind) {
        case Q_UPDATE:
            if (ex->stopped)
                mesos__v1__task_status__free_unpacked(q->msg, NULL);
            else
                do_update(ex, q->msg);
            break;
        case Q_MESSAGE:
            if (ex->stopped) {
                struct outmsg *m = q->msg;
                free(m->data);
                free(m);
            } else
                do_message(ex, q->msg);
            break;
        case Q_STOP: do_stop(ex); break;
        }
        free(q);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0)
        ;
    drain_queue(arg);
}

/* ---- public calls ------------------------------------------------------------------------ */

int cm_exec_update(struct cm_exec *ex, const Mesos__V1__TaskStatus *status, uint8_t *uuid_out,
                   char *why, size_t whylen)
{
    if (!ex)
        return cm_fail(CM_EINVAL, why, whylen, "executor is NULL");
    Mesos__V1__TaskStatus *copy;
    int rc = prepare_status(ex, status, &copy, uuid_out, why, whylen);
    if (rc)
        return rc;
    if (off_loop(ex)) {
        rc = enqueue(ex, Q_UPDATE, copy);
        if (rc)
            mesos__v1__task_status__free_unpacked(copy, NULL);
        return rc;
    }
    if (ex->stopped) {
        mesos__v1__task_status__free_unpacked(copy, NULL);
        return cm_fail(CM_ESTATE, why, whylen, "the executor is stopped");
    }
    do_update(ex, copy);
    return 0;
}

int cm_exec_update_bytes(struct cm_exec *ex, const uint8_t *status, size_t len, uint8_t *uuid_out,
                         char *why, size_t whylen)
{
    ProtobufCMessage *m = NULL;
    char inner[256];
    if (!status && len)
        return cm_fail(CM_EINVAL, why, whylen, "status is NULL");
    if (cm_pb_decode(&mesos__v1__task_status__descriptor, CM_MEDIA_PROTOBUF, status, len, &m, inner,
                     sizeof inner) != 0)
        return cm_fail(CM_EPARSE, why, whylen, "status is not a mesos.v1.TaskStatus: %s", inner);
    int rc = cm_exec_update(ex, (Mesos__V1__TaskStatus *)m, uuid_out, why, whylen);
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int cm_exec_message(struct cm_exec *ex, const void *data, size_t len, char *why, size_t whylen)
{
    if (!ex)
        return cm_fail(CM_EINVAL, why, whylen, "executor is NULL");
    if (!data && len)
        return cm_fail(CM_EINVAL, why, whylen, "data is NULL");
    if (len > MAX_MESSAGE)
        return cm_fail(CM_EINVAL, why, whylen, "message.data is %zu bytes; the limit is %u", len,
                       MAX_MESSAGE);
    struct outmsg *m = calloc(1, sizeof *m);
    if (!m || !(m->data = malloc(len ? len : 1))) {
        free(m);
        return -ENOMEM;
    }
    if (len)
        memcpy(m->data, data, len);
    m->len = len;
    if (off_loop(ex)) {
        int rc = enqueue(ex, Q_MESSAGE, m);
        if (rc) {
            free(m->data);
            free(m);
        }
        return rc;
    }
    if (ex->stopped) {
        free(m->data);
        free(m);
        return cm_fail(CM_ESTATE, why, whylen, "the executor is stopped");
    }
    do_message(ex, m);
    return 0;
}

int cm_exec_call_bytes(struct cm_exec *ex, const uint8_t *call, size_t len, char *why,
                       size_t whylen)
{
    ProtobufCMessage *m = NULL;
    char inner[256];
    if (!call && len)
        return cm_fail(CM_EINVAL, why, whylen, "call is NULL");
    if (cm_pb_decode(&mesos__v1__executor__call__descriptor, CM_MEDIA_PROTOBUF, call, len, &m,
                     inner, sizeof inner) != 0)
        return cm_fail(CM_EPARSE, why, whylen, "call is not a mesos.v1.executor.Call: %s", inner);
    Mesos__V1__Executor__Call *c = (Mesos__V1__Executor__Call *)m;
    int rc;
    if (c->type == MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE) {
        if (!c->update || !c->update->status)
            rc = cm_fail(CM_EINVAL, why, whylen, "call.update.status is not set");
        else
            rc = cm_exec_update(ex, c->update->status, NULL, why, whylen);
    } else if (c->type == MESOS__V1__EXECUTOR__CALL__TYPE__MESSAGE) {
        if (!c->message)
            rc = cm_fail(CM_EINVAL, why, whylen, "call.message is not set");
        else
            rc = cm_exec_message(ex, c->message->data.data, c->message->data.len, why, whylen);
    } else {
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
            &mesos__v1__executor__call__type__descriptor, (int)c->type);
        rc = cm_fail(CM_EINVAL, why, whylen,
                     "call.type %s is not accepted (only UPDATE and MESSAGE)",
                     v ? v->name : "UNKNOWN");
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

/* ---- events ------------------------------------------------------------------------------ */

static struct task_rec **task_find(struct cm_exec *ex, const char *id)
{
    struct task_rec **pp = &ex->tasks;
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->task->task_id->value, id) == 0)
            return pp;
    return NULL;
}

static void track_task(struct cm_exec *ex, const Mesos__V1__TaskInfo *t)
{
    if (!t || !t->task_id || !t->task_id->value || task_find(ex, t->task_id->value))
        return;
    struct task_rec *r = calloc(1, sizeof *r);
    if (r)
        r->task = (Mesos__V1__TaskInfo *)message_copy(&t->base);
    if (!r || !r->task) {
        free(r);
        xlog(ex, CM_EXEC_LOG_ERROR, "Out of memory: task '%s' is not kept for re-subscription",
             t->task_id->value);
        return;
    }
    struct task_rec **tail = &ex->tasks;
    while (*tail)
        tail = &(*tail)->next;
    *tail = r;
}

static void forget_task(struct cm_exec *ex, const char *id)
{
    struct task_rec **pp = task_find(ex, id);
    if (!pp)
        return;
    struct task_rec *r = *pp;
    *pp = r->next;
    mesos__v1__task_info__free_unpacked(r->task, NULL);
    free(r);
}

static void call_shutdown(struct cm_exec *ex, enum cm_exec_shutdown_reason reason)
{
    if (ex->shutdown_called)
        return;
    ex->shutdown_called = true;
    if (ex->cb.shutdown)
        ex->cb.shutdown(ex, ex->cb_arg, reason);
}

static void on_acknowledged(struct cm_exec *ex, const Mesos__V1__Executor__Event__Acknowledged *a)
{
    if (!a || !a->task_id || !a->task_id->value)
        return;
    forget_task(ex, a->task_id->value);
    struct pending *p = pending_find(ex, a->uuid.data, a->uuid.len);
    if (!p) {
        xlog(ex, CM_EXEC_LOG_WARNING, "ACKNOWLEDGED for an unknown update of task '%s'",
             a->task_id->value);
        return;
    }
    for (struct pending **pp = &ex->pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    mesos__v1__task_status__free_unpacked(p->status, NULL);
    free(p);
    if (ex->cb.acknowledged)
        ex->cb.acknowledged(ex, ex->cb_arg, a->task_id, a->uuid.data, a->uuid.len);
}

void cm_exec_handle_event(struct cm_exec *ex, const Mesos__V1__Executor__Event *ev)
{
    if (ex->stopped)
        return;
    if (ex->cb.event_bytes) {
        size_t len = mesos__v1__executor__event__get_packed_size(ev);
        uint8_t *buf = malloc(len ? len : 1);
        if (buf) {
            mesos__v1__executor__event__pack(ev, buf);
            ex->cb.event_bytes(ex, ex->cb_arg, buf, len);
            free(buf);
        }
        if (ex->stopped)
            return;
    }
    switch (ev->type) {
    case MESOS__V1__EXECUTOR__EVENT__TYPE__SUBSCRIBED:
        ex->subscribed = true;
        ex->ever_subscribed = true;
        xlog(ex, CM_EXEC_LOG_INFO, "Subscribed to agent %s", ex->env.agent_endpoint);
        if (ex->cb.subscribed)
            ex->cb.subscribed(ex, ex->cb_arg, ev->subscribed);
        pump(ex);
        flush_outbox(ex);
        break;
    case MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH:
        if (!ev->launch || !ev->launch->task)
            break;
        track_task(ex, ev->launch->task);
        if (ex->cb.launch)
            ex->cb.launch(ex, ex->cb_arg, ev->launch->task);
        break;
    case MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH_GROUP: {
        const Mesos__V1__TaskGroupInfo *g = ev->launch_group ? ev->launch_group->task_group : NULL;
        if (!g)
            break;
        for (size_t i = 0; i < g->n_tasks; i++)
            track_task(ex, g->tasks[i]);
        if (ex->cb.launch_group)
            ex->cb.launch_group(ex, ex->cb_arg, g);
        break;
    }
    case MESOS__V1__EXECUTOR__EVENT__TYPE__KILL:
        if (!ev->kill || !ev->kill->task_id || !ev->kill->task_id->value)
            break;
        if (ex->cb.kill)
            ex->cb.kill(ex, ex->cb_arg, ev->kill->task_id, ev->kill->kill_policy);
        break;
    case MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED:
        on_acknowledged(ex, ev->acknowledged);
        break;
    case MESOS__V1__EXECUTOR__EVENT__TYPE__MESSAGE:
        if (ev->message && ex->cb.message)
            ex->cb.message(ex, ex->cb_arg, ev->message->data.data, ev->message->data.len);
        break;
    case MESOS__V1__EXECUTOR__EVENT__TYPE__ERROR: {
        const char *msg = ev->error && ev->error->message ? ev->error->message : "(no message)";
        xlog(ex, CM_EXEC_LOG_ERROR, "Agent sent ERROR: %s", msg);
        if (ex->cb.error)
            ex->cb.error(ex, ex->cb_arg, msg);
        cm_exec_stop(ex);
        break;
    }
    case MESOS__V1__EXECUTOR__EVENT__TYPE__SHUTDOWN:
        call_shutdown(ex, CM_EXEC_SHUTDOWN_REQUESTED);
        break;
    case MESOS__V1__EXECUTOR__EVENT__TYPE__HEARTBEAT: break;
    default:
        xlog(ex, CM_EXEC_LOG_WARNING, "Ignoring event of unknown type %d", (int)ev->type);
        break;
    }
}

/* ---- the subscription -------------------------------------------------------------------- */

int cm_exec_pack_subscribe(struct cm_exec *ex, uint8_t **buf, size_t *len)
{
    Mesos__V1__Executor__Call call;
    Mesos__V1__ExecutorID eid;
    Mesos__V1__FrameworkID fid;
    Mesos__V1__Executor__Call__Subscribe sub = MESOS__V1__EXECUTOR__CALL__SUBSCRIBE__INIT;
    size_t n = 0, nt = 0;
    for (struct pending *p = ex->pending; p; p = p->next)
        n++;
    for (struct task_rec *t = ex->tasks; t; t = t->next)
        nt++;
    Mesos__V1__Executor__Call__Update *ups = calloc(n ? n : 1, sizeof *ups);
    Mesos__V1__Executor__Call__Update **upp = calloc(n ? n : 1, sizeof *upp);
    Mesos__V1__TaskInfo **tasks = calloc(nt ? nt : 1, sizeof *tasks);
    int rc = -ENOMEM;
    if (ups && upp && tasks) {
        size_t i = 0;
        for (struct pending *p = ex->pending; p; p = p->next, i++) {
            mesos__v1__executor__call__update__init(&ups[i]);
            ups[i].status = p->status;
            upp[i] = &ups[i];
        }
        i = 0;
        for (struct task_rec *t = ex->tasks; t; t = t->next)
            tasks[i++] = t->task;
        sub.n_unacknowledged_updates = n;
        sub.unacknowledged_updates = upp;
        sub.n_unacknowledged_tasks = nt;
        sub.unacknowledged_tasks = tasks;
        call_init(ex, &call, &eid, &fid);
        call.type = MESOS__V1__EXECUTOR__CALL__TYPE__SUBSCRIBE;
        call.subscribe = &sub;
        rc = cm_pb_encode(&call.base, CM_MEDIA_PROTOBUF, buf, len);
    }
    free(ups);
    free(upp);
    free(tasks);
    return rc;
}

static int build_subscribe(void *arg, uint8_t **body, size_t *len)
{
    struct cm_exec *ex = arg;
    int rc = cm_exec_pack_subscribe(ex, body, len);
    if (rc)
        return rc;
    /* The body carries every unacknowledged update; none needs a POST of its own. */
    for (struct pending *p = ex->pending; p; p = p->next)
        p->sent = true;
    return 0;
}

static void on_stream_event(void *arg, const ProtobufCMessage *msg)
{
    cm_exec_handle_event(arg, (const Mesos__V1__Executor__Event *)msg);
}

static enum cm_stream_decision on_stream_lost(void *arg, const struct cm_stream_loss *loss)
{
    struct cm_exec *ex = arg;
    ex->subscribed = false;
    if (ex->stopped)
        return CM_STREAM_STOP;
    xlog(ex, CM_EXEC_LOG_WARNING, "Subscription to the agent ended: %s", loss->reason);
    /* Without checkpointing, an agent that went away will not come back for this executor
     * (Mesos's rule); a fresh executor still gets a moment to reach its agent. */
    bool may_retry = ex->env.checkpoint || !ex->ever_subscribed;
    double limit = ex->env.checkpoint ? ex->env.recovery_timeout : FIRST_SUBSCRIBE_TIMEOUT;
    if (!may_retry || loss->down_for >= limit) {
        xlog(ex, CM_EXEC_LOG_ERROR, "Agent %s is gone (disconnected for %.1f s)",
             ex->env.agent_endpoint, loss->down_for);
        ex->stopped = true; /* nothing more goes out; the executor decides what follows */
        call_shutdown(ex, CM_EXEC_SHUTDOWN_AGENT_GONE);
        maybe_finish_run(ex);
        return CM_STREAM_STOP;
    }
    if (ex->cb.disconnected)
        ex->cb.disconnected(ex, ex->cb_arg, loss->reason, loss->retry_in);
    return ex->stopped ? CM_STREAM_STOP : CM_STREAM_RETRY;
}

int cm_exec_start(struct cm_exec *ex)
{
    if (ex->started || ex->stopped)
        return CM_ESTATE;
    if (!ex->http) {
        ex->http = cm_http_client_new(ex->base);
        if (!ex->http)
            return -ENOMEM;
    }
    char url[300], why[256];
    build_url(ex, url, sizeof url);
    double cap = ex->env.backoff_max > 0.1 ? ex->env.backoff_max : 0.1;
    char *bearer = NULL;
    if (ex->env.authentication_token &&
        asprintf(&bearer, "Bearer %s", ex->env.authentication_token) < 0)
        return -ENOMEM;
    struct cm_stream_client_opts o = {
        .base = ex->base,
        .http = ex->http,
        .clock = ex->clock,
        .log = &ex->sink,
        .module = MOD,
        .url = url,
        .media = CM_MEDIA_PROTOBUF,
        .event_desc = &mesos__v1__executor__event__descriptor,
        .max_record = MAX_EVENT_BYTES,
        .backoff_initial = 0.1,
        .backoff_max = cap,
        .body = build_subscribe,
        .on_event = on_stream_event,
        .on_lost = on_stream_lost,
        .arg = ex,
        .authorization = bearer,
    };
    ex->link = cm_stream_client_new(&o, why, sizeof why);
    if (bearer) {
        memset(bearer, 0, strlen(bearer));
        free(bearer);
    }
    if (!ex->link) {
        xlog(ex, CM_EXEC_LOG_ERROR, "Cannot create the link to the agent: %s", why);
        return CM_EINVAL;
    }
    int rc = cm_stream_client_start(ex->link);
    if (rc == 0)
        ex->started = true;
    return rc;
}

static void on_drain_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_exec *ex = arg;
    event_base_loopbreak(ex->base);
}

static void do_stop(struct cm_exec *ex)
{
    if (!ex->stopped) {
        ex->stopped = true;
        ex->subscribed = false;
        if (ex->link)
            cm_stream_client_stop(ex->link);
        evtimer_del(ex->resend_timer);
    }
    if (ex->own_base) {
        struct timeval tv = {(time_t)STOP_DRAIN, 0};
        evtimer_add(ex->drain_timer, &tv);
        maybe_finish_run(ex);
    }
}

void cm_exec_stop(struct cm_exec *ex)
{
    if (!ex)
        return;
    if (off_loop(ex)) {
        /* Without memory for the queue item, the stop still reaches the loop: the flag is
         * read by the next wakeup. */
        if (enqueue(ex, Q_STOP, NULL) != 0)
            event_base_loopbreak(ex->base);
        return;
    }
    do_stop(ex);
}

int cm_exec_run(struct cm_exec *ex)
{
    if (!ex->own_base)
        return CM_ESTATE;
    pthread_mutex_lock(&ex->mu);
    if (ex->running) {
        pthread_mutex_unlock(&ex->mu);
        return CM_ESTATE;
    }
    ex->running = true;
    ex->loop_thread = pthread_self();
    pthread_mutex_unlock(&ex->mu);
    drain_queue(ex); /* calls made before the loop ran */
    if (!ex->stopped || ex->inflight)
        event_base_dispatch(ex->base);
    pthread_mutex_lock(&ex->mu);
    ex->running = false;
    pthread_mutex_unlock(&ex->mu);
    return 0;
}

/* ---- life cycle -------------------------------------------------------------------------- */

struct cm_exec *cm_exec_new(const struct cm_exec_config *config, char *why, size_t whylen)
{
    if (!config || !config->env) {
        cm_fail(CM_EINVAL, why, whylen, "config.env is required");
        return NULL;
    }
    const struct cm_exec_env *e = config->env;
    if (!e->framework_id || !e->executor_id || !e->agent_id || !e->agent_endpoint) {
        cm_fail(CM_EINVAL, why, whylen,
                "config.env needs framework_id, executor_id, agent_id and agent_endpoint");
        return NULL;
    }
    struct cm_exec *ex = calloc(1, sizeof *ex);
    if (!ex || exec_env_copy(&ex->env, e) != 0) {
        free(ex);
        cm_fail(-ENOMEM, why, whylen, "out of memory");
        return NULL;
    }
    ex->cb = config->callbacks;
    ex->cb_arg = config->callback_arg;
    ex->log = config->log;
    ex->log_arg = config->log_arg;
    ex->sink.fn = sink_fn;
    ex->sink.arg = ex;
    ex->clock = &cm_clock_real;
    ex->resend_delay = 1.0;
    ex->outbox_tail = &ex->outbox;
    ex->qtail = &ex->qhead;
    ex->wake[0] = ex->wake[1] = -1;
    pthread_mutex_init(&ex->mu, NULL);
    ex->base = config->base;
    if (!ex->base) {
        ex->own_base = true;
        ex->base = event_base_new();
        if (!ex->base || pipe2(ex->wake, O_CLOEXEC | O_NONBLOCK) != 0)
            goto fail;
        ex->wake_ev = event_new(ex->base, ex->wake[0], EV_READ | EV_PERSIST, on_wake, ex);
        ex->drain_timer = evtimer_new(ex->base, on_drain_timer, ex);
        if (!ex->wake_ev || !ex->drain_timer || event_add(ex->wake_ev, NULL) != 0)
            goto fail;
    }
    ex->resend_timer = evtimer_new(ex->base, on_resend_timer, ex);
    if (!ex->resend_timer)
        goto fail;
    return ex;
fail:
    cm_fail(-ENOMEM, why, whylen, "cannot create the event loop");
    cm_exec_free(ex);
    return NULL;
}

void cm_exec_free(struct cm_exec *ex)
{
    if (!ex)
        return;
    /* Freeing the clients cancels the stream and the POSTs without callbacks. */
    cm_stream_client_free(ex->link);
    cm_http_client_free(ex->http);
    while (ex->pending) {
        struct pending *next = ex->pending->next;
        mesos__v1__task_status__free_unpacked(ex->pending->status, NULL);
        free(ex->pending);
        ex->pending = next;
    }
    while (ex->tasks) {
        struct task_rec *next = ex->tasks->next;
        mesos__v1__task_info__free_unpacked(ex->tasks->task, NULL);
        free(ex->tasks);
        ex->tasks = next;
    }
    while (ex->outbox) {
        struct outmsg *next = ex->outbox->next;
        free(ex->outbox->data);
        free(ex->outbox);
        ex->outbox = next;
    }
    while (ex->qhead) {
        struct qitem *next = ex->qhead->next;
        if (ex->qhead->kind == Q_UPDATE)
            mesos__v1__task_status__free_unpacked(ex->qhead->msg, NULL);
        else if (ex->qhead->kind == Q_MESSAGE) {
            struct outmsg *m = ex->qhead->msg;
            free(m->data);
            free(m);
        }
        free(ex->qhead);
        ex->qhead = next;
    }
    if (ex->resend_timer)
        event_free(ex->resend_timer);
    if (ex->wake_ev)
        event_free(ex->wake_ev);
    if (ex->drain_timer)
        event_free(ex->drain_timer);
    if (ex->own_base && ex->base)
        event_base_free(ex->base);
    if (ex->wake[0] >= 0)
        close(ex->wake[0]);
    if (ex->wake[1] >= 0)
        close(ex->wake[1]);
    pthread_mutex_destroy(&ex->mu);
    cm_exec_env_cleanup(&ex->env);
    free(ex);
}

/* ---- accessors and hooks ----------------------------------------------------------------- */

struct event_base *cm_exec_base(const struct cm_exec *ex)
{
    return ex->base;
}

int cm_exec_subscribed(const struct cm_exec *ex)
{
    return ex->subscribed ? 1 : 0;
}

size_t cm_exec_unacknowledged_updates(const struct cm_exec *ex)
{
    size_t n = 0;
    for (const struct pending *p = ex->pending; p; p = p->next)
        n++;
    return n;
}

size_t cm_exec_unacknowledged_tasks(const struct cm_exec *ex)
{
    size_t n = 0;
    for (const struct task_rec *t = ex->tasks; t; t = t->next)
        n++;
    return n;
}

const struct cm_exec_env *cm_exec_env(const struct cm_exec *ex)
{
    return &ex->env;
}

const char *cm_exec_strerror(int err)
{
    return cm_strerror(err);
}

void cm_exec_set_send_hook(struct cm_exec *ex, cm_exec_send_hook hook, void *arg)
{
    ex->hook = hook;
    ex->hook_arg = arg;
}

void cm_exec_set_clock(struct cm_exec *ex, const struct cm_clock *clock)
{
    ex->clock = clock ? clock : &cm_clock_real;
}

void cm_exec_set_resend_delay(struct cm_exec *ex, double secs)
{
    ex->resend_delay = secs >= 0 ? secs : 1.0;
}
