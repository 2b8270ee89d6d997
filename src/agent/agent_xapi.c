/*
 * agent_xapi.c: the executor API of the agent core (contract in agent_xapi.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_xapi.h"

#include "agent_internal.h"
#include "agent_auth.h"
#include "agent_executors.h"
#include "agent_link.h"
#include "agent_recover.h"
#include "agent_state.h"
#include "agent_updates.h"
#include "codec.h"
#include "executor_api.h"
#include "log.h"
#include "pbjson.h"
#include "stream.h"

#define MOD "agent"
/* check_executor_update: a copy of an update the agent already took for a completed task. */
#define UPDATE_ALREADY_DONE 1

/* The transport of an executor's events is the shared stream layer (stream.h): one record per
 * chunk, and an executor that stops reading is cut off past the server's cap (counted in
 * slave/event_streams_dropped_slow) instead of growing the agent's memory. The stream's close
 * callback then clears e->conn.stream from the loop. */
static void xapi_stream_send(struct agent_executor *e, const Mesos__V1__Executor__Event *ev)
{
    enum cm_media media = e->media == CM_MEDIA_JSON ? CM_MEDIA_JSON : CM_MEDIA_PROTOBUF;
    if (cm_stream_send(e->conn.stream, media, &ev->base) != 0)
        CM_WARN(MOD, "Failed to send an event to executor '%s' of framework '%s'", e->id,
                e->framework->id);
}

static void executor_stream_closed(struct cm_http_stream *stream, void *arg)
{
    (void)stream;
    struct agent_executor *e = arg;
    e->conn.stream = NULL;
    CM_INFO(MOD, "Executor '%s' of framework '%s' closed its subscription", e->id,
            e->framework->id);
}

static void xapi_stream_open(struct agent_executor *e, struct cm_http_request *req,
                             enum cm_media media)
{
    e->media = media;
    e->conn.stream =
        cm_http_stream_start(req, 200, cm_media_name(media), executor_stream_closed, e);
}

bool agent_xapi_connected(const struct agent_executor *e)
{
    return e->conn.stream != NULL || e->conn.cb != NULL;
}

void agent_xapi_disconnect(struct agent_executor *e)
{
    if (e->conn.stream)
        cm_http_stream_end(e->conn.stream);
    e->conn.stream = NULL;
    e->conn.cb = NULL;
    e->conn.arg = NULL;
}

void agent_xapi_send(struct agent_executor *e, Mesos__V1__Executor__Event *ev)
{
    if (e->conn.cb)
        e->conn.cb(e->conn.arg, ev);
    else if (e->conn.stream)
        xapi_stream_send(e, ev);
}

void agent_xapi_send_type(struct agent_executor *e, Mesos__V1__Executor__Event__Type type)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    ev.has_type = 1;
    ev.type = type;
    agent_xapi_send(e, &ev);
}

/* The queued tasks of task group g as one LAUNCH_GROUP (they leave the queue). */
static void send_launch_group(struct agent_executor *e, unsigned g)
{
    size_t n = cm_strmap_count(&e->tasks), k = 0;
    Mesos__V1__TaskInfo **v = cm_xcalloc(n + 1, sizeof *v);
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &e->tasks);
    struct agent_task *t;
    while ((t = cm_strmap_iter_value(&it, NULL)))
        if (t->group == g && t->queued) {
            t->queued = false;
            v[k++] = t->info;
        }
    Mesos__V1__TaskGroupInfo group = MESOS__V1__TASK_GROUP_INFO__INIT;
    group.n_tasks = k;
    group.tasks = v;
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__LaunchGroup lg = MESOS__V1__EXECUTOR__EVENT__LAUNCH_GROUP__INIT;
    lg.task_group = &group;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH_GROUP;
    ev.launch_group = &lg;
    if (k)
        agent_xapi_send(e, &ev);
    free(v);
}

void agent_xapi_send_launches(struct agent_executor *e)
{
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &e->tasks);
    struct agent_task *t;
    while ((t = cm_strmap_iter_value(&it, NULL))) {
        if (!t->queued)
            continue;
        /* A DEFAULT executor only takes groups: a task it never got whose group number was
         * lost (recovered after an agent restart) goes as a group with the other such tasks. */
        bool dflt = !agent_exec_is_command(e) && e->info && e->info->has_type &&
                    e->info->type == MESOS__V1__EXECUTOR_INFO__TYPE__DEFAULT;
        if (t->group || dflt) {
            send_launch_group(e, t->group);
            continue;
        }
        t->queued = false;
        Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
        Mesos__V1__Executor__Event__Launch l = MESOS__V1__EXECUTOR__EVENT__LAUNCH__INIT;
        ev.has_type = 1;
        ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH;
        l.task = t->info;
        ev.launch = &l;
        agent_xapi_send(e, &ev);
    }
}

static bool task_has_uuid(const struct agent_task *t, const ProtobufCBinaryData *uuid)
{
    for (size_t i = 0; i < t->nstatuses; i++) {
        const Mesos__V1__TaskStatus *s = t->statuses[i];
        if (s->has_uuid && s->uuid.len == uuid->len &&
            memcmp(s->uuid.data, uuid->data, uuid->len) == 0)
            return true;
    }
    return false;
}

/* What an executor could lie about in an UPDATE beyond the call's form (executor_api.c): the
 * task must be one of its own (not another executor's or another framework's), it must have
 * been launched, and a task that reached a terminal state stays there. (The agent id in the
 * status is not trusted either: agent_updates_handle writes ours over it.) Mesos's agent
 * drops such updates; we also answer 400 so the executor learns why. A resent copy of an
 * update the agent already holds (same uuid) is a duplicate, not a lie. */
static const struct agent_task *completed_task(const struct agent_executor *e, const char *tid)
{
    for (size_t i = 0; i < cm_ring_count(&e->completed_tasks); i++) {
        const struct agent_task *t = cm_ring_at(&e->completed_tasks, i);
        if (strcmp(t->info->task_id->value, tid) == 0)
            return t;
    }
    return NULL;
}

static int check_executor_update(const struct agent_executor *e, const Mesos__V1__TaskStatus *s,
                                 char *why, size_t whylen)
{
    const char *tid = s->task_id->value;
    const struct agent_task *t = cm_strmap_get(&e->tasks, tid);
    if (!t) {
        /* A copy of an update of a task that has completed since (the executor resends what
         * it never saw acknowledged) only needs its acknowledgement. Bounded by the ring. */
        const struct agent_task *done = completed_task(e, tid);
        if (done && task_has_uuid(done, &s->uuid))
            return UPDATE_ALREADY_DONE;
        if (done)
            return cm_fail(CM_EINVAL, why, whylen, "Task '%s' of executor '%s' is already complete",
                           tid, e->id);
        const struct agent_executor *owner = cm_strmap_get(&e->framework->task_index, tid);
        if (owner)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Task '%s' belongs to executor '%s', not to executor '%s'", tid,
                           owner->id, e->id);
        return cm_fail(CM_EINVAL, why, whylen,
                       "Task '%s' is not a task of executor '%s' of framework '%s'", tid, e->id,
                       e->framework->id);
    }
    if (task_has_uuid(t, &s->uuid))
        return 0;
    if (t->queued)
        return cm_fail(CM_EINVAL, why, whylen, "Task '%s' was not launched on executor '%s' yet",
                       tid, e->id);
    if (cm_task_state_terminal(t->state) && s->state != t->state)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Task '%s' is already in terminal state %s; it cannot move to %s", tid,
                       cm_enum_name_or(&mesos__v1__task_state__descriptor, (int)t->state, "?"),
                       cm_enum_name_or(&mesos__v1__task_state__descriptor, (int)s->state, "?"));
    return 0;
}

/* What ACKNOWLEDGED names of an update (its task id and uuid), kept apart from the status,
 * which agent_updates_handle takes and may free. */
struct acked {
    Mesos__V1__TaskStatus status;
    Mesos__V1__TaskID tid;
    uint8_t uuid[16];
};

static void acked_init(struct acked *k, const Mesos__V1__TaskStatus *s)
{
    mesos__v1__task_status__init(&k->status);
    mesos__v1__task_id__init(&k->tid);
    k->tid.value = cm_xstrdup(s->task_id->value);
    k->status.task_id = &k->tid;
    size_t n = s->uuid.len < sizeof k->uuid ? s->uuid.len : sizeof k->uuid;
    if (n)
        memcpy(k->uuid, s->uuid.data, n);
    k->status.has_uuid = s->has_uuid;
    k->status.uuid.data = k->uuid;
    k->status.uuid.len = n;
}

static void acked_cleanup(struct acked *k)
{
    free(k->tid.value);
}

/* ACKNOWLEDGED means "the agent has it": sent for new updates and for duplicates alike. */
static void send_acknowledged(struct agent_executor *e, const Mesos__V1__TaskStatus *s)
{
    Mesos__V1__Executor__Event ack = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Acknowledged ak = MESOS__V1__EXECUTOR__EVENT__ACKNOWLEDGED__INIT;
    ak.task_id = s->task_id;
    ak.uuid = s->uuid;
    ack.has_type = 1;
    ack.type = MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED;
    ack.acknowledged = &ak;
    agent_xapi_send(e, &ack);
}

static int handle_subscribe(struct cm_agent *a, const struct cm_agent_exec_client *client,
                            struct agent_executor *e, Mesos__V1__Executor__Call *call,
                            enum cm_media media, char *why, size_t whylen)
{
    if (e->state == EXECUTOR_TERMINATED || e->state == EXECUTOR_TERMINATING)
        return cm_fail(403, why, whylen, "Executor is terminating");
    /* Not started by this agent yet: the caller is a stray, e.g. the executor of a container a
     * killed agent had cloned but not recorded, which the orphan cleanup is killing. */
    if (e->launch_queued || e->fetch)
        return cm_fail(403, why, whylen, "Executor has not been launched by this agent yet");
    agent_xapi_disconnect(e);
    if (client->cb) {
        e->media = media;
        e->conn.cb = client->cb;
        e->conn.arg = client->arg;
    } else {
        xapi_stream_open(e, client->req, media);
    }
    if (e->recovered && e->state == EXECUTOR_REGISTERING) {
        CM_INFO(MOD, "Recovered executor '%s' of framework '%s' re-subscribed", e->id,
                e->framework->id);
        if (a->awaiting_executors > 0 && --a->awaiting_executors == 0)
            agent_recover_done(a);
    }
    e->state = EXECUTOR_RUNNING;
    /* A task the executor already got (it resends it as unacknowledged) is not launched
     * again; one it never got (the agent died before sending LAUNCH) is. */
    for (size_t i = 0; call->subscribe && i < call->subscribe->n_unacknowledged_tasks; i++) {
        const Mesos__V1__TaskInfo *ut = call->subscribe->unacknowledged_tasks[i];
        struct agent_task *qt =
            ut && ut->task_id ? cm_strmap_get(&e->tasks, ut->task_id->value) : NULL;
        if (qt)
            qt->queued = false;
    }
    if (e->registration_timer)
        evtimer_del(e->registration_timer);
    CM_INFO(MOD, "Executor '%s' of framework '%s' subscribed", e->id, e->framework->id);

    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Subscribed sub = MESOS__V1__EXECUTOR__EVENT__SUBSCRIBED__INIT;
    Mesos__V1__AgentInfo ai;
    Mesos__V1__AgentID aid;
    Mesos__V1__Resource **res = NULL;
    size_t nres = 0;
    Mesos__V1__ContainerID cid = MESOS__V1__CONTAINER_ID__INIT;
    agent_state_agent_info(a, &ai, &aid, &res, &nres);
    cid.value = e->container_id;
    sub.executor_info = e->info;
    sub.framework_info = e->framework->info;
    sub.agent_info = &ai;
    sub.container_id = &cid;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__SUBSCRIBED;
    ev.subscribed = &sub;
    agent_xapi_send(e, &ev);
    cm_resources_proto_free(res, nres);

    /* Updates the executor could not get acknowledged before are handled again (duplicates
     * are dropped by the status update manager) and acknowledged on the new stream. */
    for (size_t i = 0; call->subscribe && i < call->subscribe->n_unacknowledged_updates; i++) {
        Mesos__V1__Executor__Call__Update *u = call->subscribe->unacknowledged_updates[i];
        char uwhy[256];
        if (!u->status || !u->status->has_uuid || u->status->uuid.len != 16 ||
            !u->status->task_id || !u->status->has_source ||
            u->status->source != MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR) {
            a->metrics.invalid_status_updates++;
            CM_WARN(MOD, "Dropping a malformed unacknowledged update of executor '%s'", e->id);
            continue;
        }
        /* An executor reporting on a task evidently has it: it is not launched again. */
        struct agent_task *ut = cm_strmap_get(&e->tasks, u->status->task_id->value);
        if (ut)
            ut->queued = false;
        int rc = check_executor_update(e, u->status, uwhy, sizeof uwhy);
        if (rc < 0) {
            a->metrics.invalid_status_updates++;
            CM_WARN(MOD, "Dropping an unacknowledged update of executor '%s': %s", e->id, uwhy);
            continue;
        }
        if (rc == 0) {
            /* The status goes to the agent as it is (no copy); the acknowledgement is made
             * from what it names. */
            Mesos__V1__TaskStatus *st = u->status;
            struct acked ak;
            acked_init(&ak, st);
            u->status = NULL; /* taken: the call is freed without it */
            agent_updates_handle(a, e->framework->id, e, st);
            send_acknowledged(e, &ak.status);
            acked_cleanup(&ak);
            continue;
        }
        send_acknowledged(e, u->status);
    }
    agent_xapi_send_launches(e);
    return 200;
}

/* Fills why like cm_fail and returns the HTTP code. */
static int xapi_fail(int code, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int xapi_fail(int code, char *why, size_t whylen, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    snprintf(why, whylen, "%s", tmp);
    return code;
}

int cm_agent_executor_call(struct cm_agent *a, enum cm_media media, const void *body, size_t len,
                           enum cm_media accept, const struct cm_agent_exec_client *client,
                           char *why, size_t whylen)
{
    int code = 202;
    *why = '\0';
    Mesos__V1__Executor__Call *call = NULL;
    if (cm_executor_call_decode(media, body, len, &call, why, whylen) != 0)
        return 400;
    if (cm_executor_call_validate(call, why, whylen) != 0) {
        if (call->has_type && call->type == MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE)
            a->metrics.invalid_status_updates++;
        code = xapi_fail(400, why, whylen, "Failed to validate Executor::Call: %s", why);
        goto out;
    }
    if (call->type == MESOS__V1__EXECUTOR__CALL__TYPE__UNKNOWN) {
        code = xapi_fail(501, why, whylen, "Received an unexpected 'UNKNOWN' call");
        goto out;
    }
    if (call->type == MESOS__V1__EXECUTOR__CALL__TYPE__SUBSCRIBE) {
        if (accept == CM_MEDIA_NONE || accept == CM_MEDIA_UNSUPPORTED) {
            code = xapi_fail(406, why, whylen,
                             "Expecting 'Accept' to allow application/json or "
                             "application/x-protobuf");
            goto out;
        }
    }
    if (call->type == MESOS__V1__EXECUTOR__CALL__TYPE__HEARTBEAT) {
        code = 202;
        goto out;
    }
    struct agent_framework *f = cm_strmap_get(&a->frameworks, call->framework_id->value);
    if (!f) {
        code = xapi_fail(400, why, whylen, "Framework cannot be found");
        goto out;
    }
    struct agent_executor *e = cm_strmap_get(&f->executors, call->executor_id->value);
    if (!e) {
        code = xapi_fail(400, why, whylen, "Executor cannot be found");
        goto out;
    }
    if (a->flags->authenticate_http_executors &&
        (code = agent_auth_executor_claims(client->claims, e, why, whylen)) != 0) {
        CM_WARN(MOD, "Refusing a call for executor '%s' of framework '%s': %s", e->id, f->id, why);
        goto out;
    }
    switch (call->type) {
    case MESOS__V1__EXECUTOR__CALL__TYPE__SUBSCRIBE:
        code = handle_subscribe(a, client, e, call, accept, why, whylen);
        break;
    case MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE: {
        if (!agent_xapi_connected(e)) {
            code = xapi_fail(403, why, whylen, "Executor is not subscribed");
            break;
        }
        Mesos__V1__TaskStatus *s = call->update->status;
        int rc = check_executor_update(e, s, why, whylen);
        if (rc < 0) {
            a->metrics.invalid_status_updates++;
            CM_WARN(MOD, "Refusing an update from executor '%s' of framework '%s': %s", e->id,
                    f->id, why);
            code = xapi_fail(400, why, whylen, "Failed to validate Executor::Call: %s", why);
            break;
        }
        code = 202;
        if (rc == 0) {
            /* Taken from the call instead of copied (the call is freed without it). */
            struct acked ak;
            acked_init(&ak, s);
            call->update->status = NULL;
            rc = agent_updates_handle(a, f->id, e, s);
            a->metrics.valid_status_updates += rc == 0;
            send_acknowledged(e, &ak.status);
            acked_cleanup(&ak);
            break;
        }
        send_acknowledged(e, s);
        break;
    }
    case MESOS__V1__EXECUTOR__CALL__TYPE__MESSAGE: {
        if (!agent_xapi_connected(e)) {
            code = xapi_fail(403, why, whylen, "Executor is not subscribed");
            break;
        }
        Cmesos__Internal__AgentCall mc = CMESOS__INTERNAL__AGENT_CALL__INIT;
        Cmesos__Internal__AgentCall__ExecutorMessage em =
            CMESOS__INTERNAL__AGENT_CALL__EXECUTOR_MESSAGE__INIT;
        em.framework_id = call->framework_id;
        em.executor_id = call->executor_id;
        em.data = call->message->data;
        mc.has_type = 1;
        mc.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__EXECUTOR_MESSAGE;
        mc.executor_message = &em;
        agent_link_send(a, &mc);
        code = 202;
        break;
    }
    default: code = xapi_fail(501, why, whylen, "Unsupported call"); break;
    }
out:
    agent_pb_free(call);
    return code;
}

static void executor_api(struct cm_agent *a, struct cm_http_request *req, const json_t *claims);

void cm_agent_executor_api(struct cm_http_request *req, void *arg)
{
    struct cm_agent *a = arg;
    /* Authentication comes first, as in Mesos (libprocess authenticates before the handler):
     * nothing of the body is read for a caller without a valid token. */
    json_t *claims = NULL;
    if (agent_auth_executor_request(a, req, &claims) != 0)
        return; /* answered 401 */
    executor_api(a, req, claims);
    json_decref(claims);
}

static void executor_api(struct cm_agent *a, struct cm_http_request *req, const json_t *claims)
{
    if (strcmp(req->method, "POST") != 0) {
        cm_http_add_header(req, "Allow", "POST");
        cm_http_respond_text(req, 405, "Expecting a 'POST' request, received '%s'", req->method);
        return;
    }
    const char *ct = cm_http_request_header(req, "Content-Type");
    if (!ct) {
        cm_http_respond_text(req, 400, "Expecting 'Content-Type' to be present");
        return;
    }
    enum cm_media media = cm_http_content_type(ct);
    if (media != CM_MEDIA_JSON && media != CM_MEDIA_PROTOBUF) {
        cm_http_respond_text(req, 415,
                             "Expecting 'Content-Type' of application/json or "
                             "application/x-protobuf");
        return;
    }
    enum cm_media accept = cm_http_negotiate(cm_http_request_header(req, "Accept"));
    struct cm_agent_exec_client client = {.req = req, .claims = claims};
    char why[512];
    int code = cm_agent_executor_call(a, media, req->body, req->body_len, accept, &client, why,
                                      sizeof why);
    if (code == 200)
        return; /* SUBSCRIBE: the request now carries the event stream */
    if (code == 202)
        cm_http_respond(req, 202, NULL, NULL, 0);
    else
        cm_http_respond_text(req, code, "%s", why);
}
