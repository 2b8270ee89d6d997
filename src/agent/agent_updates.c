/*
 * agent_updates.c: the status updates of the agent core (contract in agent_updates.h).
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_updates.h"

#include "agent_internal.h"
#include "agent_ckpt.h"
#include "agent_link.h"
#include "agent_state.h"
#include "codec.h"
#include "ids.h"
#include "log.h"

#define MOD "agent"

/* Sends the held updates as one STATUS_UPDATE call (a lone one in the single form, which
 * every master understands). */
static void updates_send_now(struct cm_agent *a)
{
    size_t n = a->updates_n;
    if (a->updates_hold_timer)
        evtimer_del(a->updates_hold_timer);
    if (n == 0)
        return;
    Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
    call.has_type = 1;
    call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE;
    if (n == 1) {
        call.status_update = a->updates_pending[0];
    } else {
        call.status_updates = a->updates_pending;
        call.n_status_updates = n;
    }
    /* Taken off the agent before sending: a send that fails and re-registers cannot see them. */
    Cmesos__Internal__AgentCall__StatusUpdate **v = a->updates_pending;
    a->updates_pending = NULL;
    a->updates_n = a->updates_cap = 0;
    agent_link_send(a, &call);
    for (size_t i = 0; i < n; i++)
        agent_pb_free(v[i]);
    free(v);
}

static void updates_hold_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    updates_send_now(arg); /* the call in flight is slow: these go without waiting for it */
}

/* The end of a loop turn: the turn's updates leave together, or, while the previous
 * STATUS_UPDATE call is in flight, wait for it to end (cm_agent_link_call_done) or for
 * CM_AGENT_CALL_HOLD_MAX. */
static void updates_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_agent *a = arg;
    if (a->updates_n == 0)
        return;
    if (a->updates_inflight == 0) {
        updates_send_now(a);
        return;
    }
    if (!a->updates_hold_timer) {
        a->updates_hold_timer = evtimer_new(a->base, updates_hold_cb, a);
        if (!a->updates_hold_timer)
            abort();
    }
    if (!evtimer_pending(a->updates_hold_timer, NULL)) {
        struct timeval tv = {0, (suseconds_t)(CM_AGENT_CALL_HOLD_MAX * 1e6)};
        evtimer_add(a->updates_hold_timer, &tv);
    }
}

void agent_updates_flush(struct cm_agent *a)
{
    updates_send_now(a);
}

void agent_updates_call_done(struct cm_agent *a)
{
    if (a->updates_inflight > 0)
        a->updates_inflight--;
    /* What waited for this call goes at the end of this turn, with what the turn adds. */
    if (a->updates_inflight == 0 && a->updates_n > 0 && a->updates_ev)
        event_active(a->updates_ev, EV_TIMEOUT, 0);
}

void agent_updates_send(void *arg, const char *framework_id, const char *executor_id,
                        const Mesos__V1__TaskStatus *status, Mesos__V1__TaskState latest_state)
{
    struct cm_agent *a = arg;
    Cmesos__Internal__AgentCall__StatusUpdate su =
        CMESOS__INTERNAL__AGENT_CALL__STATUS_UPDATE__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
    fid.value = (char *)framework_id;
    su.framework_id = &fid;
    if (executor_id) {
        eid.value = (char *)executor_id;
        su.executor_id = &eid;
    }
    su.status = (Mesos__V1__TaskStatus *)status;
    su.has_latest_state = 1;
    su.latest_state = latest_state;
    CM_INFO(MOD, "Forwarding status update %s for task '%s' of framework '%s'",
            cm_enum_name_or(&mesos__v1__task_state__descriptor, (int)status->state, "(unknown)"),
            status->task_id->value, framework_id);
    if (!a->base) {
        Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
        call.has_type = 1;
        call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE;
        call.status_update = &su;
        agent_link_send(a, &call);
        return;
    }
    /* The updates of this loop turn go together in one call. */
    if (!a->updates_ev) {
        a->updates_ev = event_new(a->base, -1, 0, updates_flush_cb, a);
        if (!a->updates_ev)
            abort();
    }
    if (a->updates_n == a->updates_cap) {
        a->updates_cap = a->updates_cap ? a->updates_cap * 2 : 16;
        a->updates_pending =
            cm_xrealloc(a->updates_pending, a->updates_cap * sizeof *a->updates_pending);
    }
    a->updates_pending[a->updates_n++] =
        (Cmesos__Internal__AgentCall__StatusUpdate *)cm_pb_dup(&su.base);
    if (!event_pending(a->updates_ev, EV_TIMEOUT, NULL))
        event_active(a->updates_ev, EV_TIMEOUT, 0);
}

static void count_terminal(struct cm_agent *a, Mesos__V1__TaskState s)
{
    switch (s) {
    case MESOS__V1__TASK_STATE__TASK_FINISHED: a->metrics.tasks_finished++; break;
    case MESOS__V1__TASK_STATE__TASK_FAILED: a->metrics.tasks_failed++; break;
    case MESOS__V1__TASK_STATE__TASK_KILLED: a->metrics.tasks_killed++; break;
    case MESOS__V1__TASK_STATE__TASK_LOST: a->metrics.tasks_lost++; break;
    case MESOS__V1__TASK_STATE__TASK_ERROR: a->metrics.tasks_error++; break;
    case MESOS__V1__TASK_STATE__TASK_DROPPED: a->metrics.tasks_dropped++; break;
    case MESOS__V1__TASK_STATE__TASK_GONE: a->metrics.tasks_gone++; break;
    default: break;
    }
}

/* Takes ownership of status (a complete message with uuid). Records it on the task (if the
 * agent knows the task) and queues it in the status update manager. Returns the manager's
 * result (CM_EEXIST for a duplicate). */
/* A task that died because its container hit a limit (the kernel OOM-killed it) is reported
 * with the limitation's reason and message, as Mesos does, instead of the executor's "killed
 * by signal". Checked when the update arrives, while the container's cgroups still exist. */
static void apply_limitation(struct cm_agent *a, struct agent_executor *e,
                             Mesos__V1__TaskStatus *status)
{
    char msg[256];
    double mem_mb = 0;
    if (cm_containerizer_limitation(a->containerizer, e->container_id, msg, sizeof msg, &mem_mb) !=
        CM_LIMITATION_MEMORY)
        return;
    status->state = MESOS__V1__TASK_STATE__TASK_FAILED;
    status->has_reason = 1;
    status->reason = MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY;
    status->has_source = 1;
    status->source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_AGENT;
    free(status->message);
    status->message = cm_xstrdup(msg);
    if (!status->limitation) {
        Mesos__V1__TaskResourceLimitation *l = cm_xcalloc(1, sizeof *l);
        mesos__v1__task_resource_limitation__init(l);
        Mesos__V1__Resource *r = cm_xcalloc(1, sizeof *r);
        mesos__v1__resource__init(r);
        r->name = cm_xstrdup("mem");
        r->type = MESOS__V1__VALUE__TYPE__SCALAR;
        r->scalar = cm_xcalloc(1, sizeof *r->scalar);
        mesos__v1__value__scalar__init(r->scalar);
        r->scalar->value = mem_mb;
        l->n_resources = 1;
        l->resources = cm_xcalloc(1, sizeof *l->resources);
        l->resources[0] = r;
        status->limitation = l;
    }
}

int agent_updates_handle(struct cm_agent *a, const char *framework_id, struct agent_executor *e,
                         Mesos__V1__TaskStatus *status)
{
    if (e && e->pid > 0 && status->state == MESOS__V1__TASK_STATE__TASK_FAILED &&
        !(status->has_source && status->source == MESOS__V1__TASK_STATUS__SOURCE__SOURCE_AGENT))
        apply_limitation(a, e, status);
    /* The agent is the authority on its id: an executor's claim is replaced, which also covers
     * executors started before the master gave this agent a new id. */
    if (status->agent_id && a->agent_id && strcmp(status->agent_id->value, a->agent_id) != 0) {
        agent_pb_free(status->agent_id);
        status->agent_id = NULL;
    }
    if (!status->agent_id && a->agent_id) {
        status->agent_id = cm_xcalloc(1, sizeof *status->agent_id);
        mesos__v1__agent_id__init(status->agent_id);
        status->agent_id->value = cm_xstrdup(a->agent_id);
    }
    if (!status->executor_id && e) {
        status->executor_id = cm_xcalloc(1, sizeof *status->executor_id);
        mesos__v1__executor_id__init(status->executor_id);
        status->executor_id->value = cm_xstrdup(e->id);
    }
    if (!status->has_timestamp) {
        status->has_timestamp = 1;
        status->timestamp = agent_now(a);
    }
    int rc = cm_sum_update(a->sum, framework_id, e ? e->id : NULL, status);
    if (rc == 0) {
        struct agent_task *t = e ? cm_strmap_get(&e->tasks, status->task_id->value) : NULL;
        if (t && agent_ckpt_enabled(e->framework))
            agent_ckpt_update(a, e, status); /* durable before the executor gets ACKNOWLEDGED */
        if (t) {
            bool was_terminal = cm_task_state_terminal(t->state);
            t->state = status->state;
            if (!was_terminal && cm_task_state_terminal(t->state))
                count_terminal(a, t->state);
            agent_state_task_take_status(t, status); /* the task keeps it: no copy */
            return rc;
        }
        if (cm_task_state_terminal(status->state))
            count_terminal(a, status->state);
    }
    agent_pb_free(status);
    return rc;
}

/* An update the agent itself generates (SOURCE_AGENT). */
void agent_updates_generate(struct cm_agent *a, const char *framework_id, struct agent_executor *e,
                            const char *task_id, Mesos__V1__TaskState state,
                            Mesos__V1__TaskStatus__Reason reason, const char *message)
{
    Mesos__V1__TaskStatus *s = cm_xcalloc(1, sizeof *s);
    mesos__v1__task_status__init(s);
    s->task_id = cm_xcalloc(1, sizeof *s->task_id);
    mesos__v1__task_id__init(s->task_id);
    s->task_id->value = cm_xstrdup(task_id);
    s->state = state;
    s->message = cm_xstrdup(message);
    s->has_source = 1;
    s->source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_AGENT;
    s->has_reason = 1;
    s->reason = reason;
    s->has_uuid = 1;
    s->uuid.len = 16;
    s->uuid.data = malloc(16);
    if (!s->uuid.data)
        abort();
    cm_uuid_random(s->uuid.data);
    CM_INFO(MOD, "Generating %s for task '%s' of framework '%s': %s",
            cm_enum_name_or(&mesos__v1__task_state__descriptor, (int)state, "(unknown)"), task_id,
            framework_id, message);
    agent_updates_handle(a, framework_id, e, s);
}
