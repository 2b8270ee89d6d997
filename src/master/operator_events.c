/* operator_events.c: the operator API's SUBSCRIBE streams. A subscriber gets SUBSCRIBED (the
 * whole GET_STATE and the heartbeat interval) and then one record per change the master core
 * reports through its observer seam (master.h, struct cm_master_observer): TASK_ADDED,
 * TASK_UPDATED, AGENT_ADDED, AGENT_REMOVED, FRAMEWORK_ADDED/UPDATED/REMOVED, and HEARTBEAT
 * every CM_OPERATOR_HEARTBEAT_SECS. Each record is one chunk (stream.h); a subscriber that stops
 * reading is cut off by the HTTP server's cap and dropped here. See operator.h. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "errors.h"
#include "http_server.h"
#include "json_out.h"
#include "json_stream.h"
#include "log.h"
#include "operator.h"
#include "stream.h"
#include "util.h"

#define MOD "operator"

typedef Mesos__V1__Master__Event Event;

struct cm_operator_subscriber {
    struct cm_operator *op;
    struct cm_sink sink;
    struct cm_operator_subscriber *prev, *next;
    /* Cut off for not reading: the stream's close callback is still to come. */
    bool closing;
    /* Left behind by the operator's end while closing: the close callback only frees it. */
    bool orphan;
    /* An HTTP stream's SUBSCRIBED record while it is being written in slices (the timer runs
     * them), and the records of the events that came meanwhile, sent right after it. */
    struct cm_operator_snap *snap;
    struct event *snap_ev;
    struct cm_json_out snap_out;
    uint8_t *held;
    size_t held_len, held_cap;
};

/* Frees what s holds for its snapshot (the stream is not touched). */
static void snap_done(struct cm_operator_subscriber *s)
{
    cm_operator_snap_free(s->snap);
    s->snap = NULL;
    if (s->snap_ev)
        event_free(s->snap_ev);
    s->snap_ev = NULL;
    cm_json_out_cleanup(&s->snap_out);
    memset(&s->snap_out, 0, sizeof s->snap_out);
    free(s->held);
    s->held = NULL;
    s->held_len = s->held_cap = 0;
}

static void sub_free(struct cm_operator_subscriber *s)
{
    snap_done(s);
    free(s);
}

static void unlink_sub(struct cm_operator *op, struct cm_operator_subscriber *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        op->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    op->nsubs--;
}

/* Ends s's stream (we drop it) and frees it. */
static void drop(struct cm_operator *op, struct cm_operator_subscriber *s)
{
    unlink_sub(op, s);
    cm_sink_end(&s->sink);
    sub_free(s);
}

void cm_operator_unsubscribe(struct cm_operator *op, struct cm_operator_subscriber *s)
{
    /* The HTTP layer frees the stream itself after its close callback. */
    if (!s->orphan)
        unlink_sub(op, s);
    sub_free(s);
}

size_t cm_operator_subscribers(const struct cm_operator *op)
{
    return op->nsubs;
}

void cm_operator_end_subscribers(struct cm_operator *op)
{
    while (op->subs) {
        struct cm_operator_subscriber *s = op->subs;
        if (!s->closing) {
            drop(op, s);
            continue;
        }
        /* Its close callback runs later (when the server frees the connection) and frees it
         * with its closure; the operator is gone by then. */
        unlink_sub(op, s);
        s->orphan = true;
    }
}

/* The stream was refused (cut off, or the peer is gone): its close callback follows from the
 * loop and frees s; until then s sends nothing. */
static void cut_off(struct cm_operator_subscriber *s)
{
    CM_WARN(MOD, "Dropping an operator event subscriber that is not reading");
    snap_done(s);
    s->sink.stream = NULL;
    s->sink.cb = NULL;
    s->closing = true;
}

/* Keeps ev's record for after s's SUBSCRIBED; a subscriber that would hold more than a stream
 * may queue is dropped (as it would be for not reading). */
static void hold(struct cm_operator *op, struct cm_operator_subscriber *s, const Event *ev)
{
    uint8_t *frame;
    size_t len;
    if (cm_stream_frame(s->sink.media == CM_MEDIA_JSON ? CM_MEDIA_JSON : CM_MEDIA_PROTOBUF,
                        &ev->base, &frame, &len) != 0)
        return;
    if (s->held_len + len > CM_HTTP_STREAM_CAP_DEFAULT) {
        free(frame);
        CM_WARN(MOD, "Dropping an operator event subscriber: too many events while its "
                     "SUBSCRIBED event is written");
        drop(op, s);
        return;
    }
    if (s->held_len + len > s->held_cap) {
        size_t cap = s->held_cap ? s->held_cap : 4096;
        while (s->held_len + len > cap)
            cap *= 2;
        s->held = cm_xrealloc(s->held, cap);
        s->held_cap = cap;
    }
    memcpy(s->held + s->held_len, frame, len);
    s->held_len += len;
    free(frame);
}

void cm_operator_broadcast(struct cm_operator *op, const Event *ev)
{
    struct cm_operator_subscriber *s = op->subs, *next;
    for (; s; s = next) {
        next = s->next;
        if (s->closing)
            continue;
        if (s->snap) {
            hold(op, s, ev);
            continue;
        }
        if (cm_sink_send(&s->sink, &ev->base) != 0) {
            /* Cut off for not reading (or gone): its close callback comes from the loop and
             * must not find it, so only the stream pointer is forgotten here. */
            cut_off(s);
        }
    }
}

/* One slice of s's SUBSCRIBED record: produce for up to CM_JSON_STREAM_SLICE seconds or a
 * chunk's worth of bytes, send, and come back on the next loop turn; once it is out, the held
 * events follow and s is an ordinary subscriber. */
static void on_snap_slice(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_operator_subscriber *s = arg;
    struct timeval now = {0, 0}, later = {0, 1000};
    if (cm_http_stream_pending(s->sink.stream) > CM_JSON_STREAM_MAX_QUEUED) {
        evtimer_add(s->snap_ev, &later); /* let the peer read first */
        return;
    }
    double t0 = cm_monotonic_secs();
    bool more = true;
    while (more && s->snap_out.len < CM_JSON_STREAM_CHUNK) {
        more = cm_operator_snap_produce(s->snap, &s->snap_out);
        if (cm_monotonic_secs() - t0 >= CM_JSON_STREAM_SLICE)
            break;
    }
    if (s->snap_out.len) {
        int rc = cm_http_stream_send(s->sink.stream, s->snap_out.data, s->snap_out.len);
        cm_json_out_reset(&s->snap_out);
        if (rc != 0) {
            cut_off(s);
            return;
        }
    }
    if (more) {
        evtimer_add(s->snap_ev, &now);
        return;
    }
    int rc = s->held_len ? cm_http_stream_send(s->sink.stream, s->held, s->held_len) : 0;
    CM_INFO(MOD,
            "Sent SUBSCRIBED (%zu bytes) to an operator subscriber, then %zu bytes of events "
            "of the meantime",
            cm_operator_snap_size(s->snap), s->held_len);
    snap_done(s);
    if (rc != 0)
        cut_off(s);
}

/* Starts writing SUBSCRIBED to s's HTTP stream in slices; false when it cannot (no loop). */
static bool start_snap(struct cm_operator *op, struct cm_operator_subscriber *s)
{
    if (!op->m->base || !s->sink.stream || op->one_piece)
        return false;
    s->snap_ev = evtimer_new(op->m->base, on_snap_slice, s);
    if (!s->snap_ev)
        return false;
    s->snap = cm_operator_snap_new(
        op->m, CM_OPERATOR_SNAP_SUBSCRIBED,
        s->sink.media == CM_MEDIA_JSON ? CM_MEDIA_JSON : CM_MEDIA_PROTOBUF, true);
    struct timeval now = {0, 0};
    evtimer_add(s->snap_ev, &now);
    return true;
}

struct cm_operator_subscriber *cm_operator_subscribe(struct cm_operator *op,
                                                     const struct cm_sink *sink)
{
    struct cm_operator_subscriber *s = cm_xcalloc(1, sizeof *s);
    s->op = op;
    s->sink = *sink;
    if (start_snap(op, s)) {
        s->next = op->subs;
        if (s->next)
            s->next->prev = s;
        op->subs = s;
        op->nsubs++;
        CM_INFO(MOD, "Added an operator event subscriber (%zu now)", op->nsubs);
        return s;
    }
    Event ev = MESOS__V1__MASTER__EVENT__INIT;
    Mesos__V1__Master__Event__Subscribed sub = MESOS__V1__MASTER__EVENT__SUBSCRIBED__INIT;
    sub.get_state = cm_operator_get_state(op->m);
    sub.has_heartbeat_interval_seconds = 1;
    sub.heartbeat_interval_seconds = CM_OPERATOR_HEARTBEAT_SECS;
    ev.has_type = 1;
    ev.type = MESOS__V1__MASTER__EVENT__TYPE__SUBSCRIBED;
    ev.subscribed = &sub;
    int rc = cm_sink_send(&s->sink, &ev.base);
    protobuf_c_message_free_unpacked(&sub.get_state->base, NULL);
    s->next = op->subs;
    if (s->next)
        s->next->prev = s;
    op->subs = s;
    op->nsubs++;
    if (rc != 0) {
        s->sink.stream = NULL; /* its close callback follows */
        s->closing = true;
    }
    CM_INFO(MOD, "Added an operator event subscriber (%zu now)", op->nsubs);
    return s;
}

void cm_operator_heartbeat(struct cm_operator *op)
{
    Event ev = MESOS__V1__MASTER__EVENT__INIT;
    ev.has_type = 1;
    ev.type = MESOS__V1__MASTER__EVENT__TYPE__HEARTBEAT;
    cm_operator_broadcast(op, &ev);
}

/* ------------------------------------------------------------------------------------------ */
/* the observer */

static void on_task_added(void *arg, const struct cm_task *t)
{
    struct cm_operator *op = arg;
    if (!op->subs)
        return;
    Event ev = MESOS__V1__MASTER__EVENT__INIT;
    Mesos__V1__Master__Event__TaskAdded ta = MESOS__V1__MASTER__EVENT__TASK_ADDED__INIT;
    ta.task = cm_operator_task(t);
    ev.has_type = 1;
    ev.type = MESOS__V1__MASTER__EVENT__TYPE__TASK_ADDED;
    ev.task_added = &ta;
    cm_operator_broadcast(op, &ev);
    protobuf_c_message_free_unpacked(&ta.task->base, NULL);
}

static void on_task_updated(void *arg, const struct cm_task *t, const Mesos__V1__TaskStatus *st)
{
    struct cm_operator *op = arg;
    if (!op->subs)
        return;
    Event ev = MESOS__V1__MASTER__EVENT__INIT;
    Mesos__V1__Master__Event__TaskUpdated tu = MESOS__V1__MASTER__EVENT__TASK_UPDATED__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    fid.value = t->fw->id;
    tu.framework_id = &fid;
    tu.status = (Mesos__V1__TaskStatus *)st;
    tu.state = (Mesos__V1__TaskState)t->state;
    ev.has_type = 1;
    ev.type = MESOS__V1__MASTER__EVENT__TYPE__TASK_UPDATED;
    ev.task_updated = &tu;
    cm_operator_broadcast(op, &ev);
}

static void on_agent_added(void *arg, const struct cm_agent *a)
{
    struct cm_operator *op = arg;
    if (!op->subs)
        return;
    Event ev = MESOS__V1__MASTER__EVENT__INIT;
    Mesos__V1__Master__Event__AgentAdded aa = MESOS__V1__MASTER__EVENT__AGENT_ADDED__INIT;
    aa.agent = cm_operator_agent(a);
    ev.has_type = 1;
    ev.type = MESOS__V1__MASTER__EVENT__TYPE__AGENT_ADDED;
    ev.agent_added = &aa;
    cm_operator_broadcast(op, &ev);
    protobuf_c_message_free_unpacked(&aa.agent->base, NULL);
}

static void on_agent_removed(void *arg, const char *agent_id)
{
    struct cm_operator *op = arg;
    if (!op->subs)
        return;
    Event ev = MESOS__V1__MASTER__EVENT__INIT;
    Mesos__V1__Master__Event__AgentRemoved ar = MESOS__V1__MASTER__EVENT__AGENT_REMOVED__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = (char *)agent_id;
    ar.agent_id = &aid;
    ev.has_type = 1;
    ev.type = MESOS__V1__MASTER__EVENT__TYPE__AGENT_REMOVED;
    ev.agent_removed = &ar;
    cm_operator_broadcast(op, &ev);
}

static void send_framework(struct cm_operator *op, const struct cm_framework *fw, bool added)
{
    if (!op->subs)
        return;
    Event ev = MESOS__V1__MASTER__EVENT__INIT;
    Mesos__V1__Master__Event__FrameworkAdded fa = MESOS__V1__MASTER__EVENT__FRAMEWORK_ADDED__INIT;
    Mesos__V1__Master__Event__FrameworkUpdated fu =
        MESOS__V1__MASTER__EVENT__FRAMEWORK_UPDATED__INIT;
    Mesos__V1__Master__Response__GetFrameworks__Framework *f = cm_operator_framework(fw);
    ev.has_type = 1;
    if (added) {
        fa.framework = f;
        ev.type = MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_ADDED;
        ev.framework_added = &fa;
    } else {
        fu.framework = f;
        ev.type = MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_UPDATED;
        ev.framework_updated = &fu;
    }
    cm_operator_broadcast(op, &ev);
    protobuf_c_message_free_unpacked(&f->base, NULL);
}

static void on_framework_added(void *arg, const struct cm_framework *fw)
{
    send_framework(arg, fw, true);
}

static void on_framework_updated(void *arg, const struct cm_framework *fw)
{
    send_framework(arg, fw, false);
}

static void on_framework_removed(void *arg, const struct cm_framework *fw)
{
    struct cm_operator *op = arg;
    if (!op->subs)
        return;
    Event ev = MESOS__V1__MASTER__EVENT__INIT;
    Mesos__V1__Master__Event__FrameworkRemoved fr =
        MESOS__V1__MASTER__EVENT__FRAMEWORK_REMOVED__INIT;
    fr.framework_info = fw->info;
    ev.has_type = 1;
    ev.type = MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_REMOVED;
    ev.framework_removed = &fr;
    cm_operator_broadcast(op, &ev);
}

void cm_operator_observe(struct cm_operator *op, struct cm_master_observer *obs)
{
    obs->arg = op;
    obs->task_added = on_task_added;
    obs->task_updated = on_task_updated;
    obs->agent_added = on_agent_added;
    obs->agent_removed = on_agent_removed;
    obs->framework_added = on_framework_added;
    obs->framework_updated = on_framework_updated;
    obs->framework_removed = on_framework_removed;
}
