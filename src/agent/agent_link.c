/*
 * agent_link.c: the master link of the agent core (contract in agent_link.h).
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_link.h"

#include "agent_internal.h"
#include "agent_executors.h"
#include "agent_ckpt.h"
#include "agent_state.h"
#include "agent_xapi.h"
#include "agent_updates.h"
#include "agent_caps.h"
#include "codec.h"
#include "ids.h"
#include "log.h"

#define MOD "agent"

/* Drops the link without the "lost" path: the caller decides when to register again. */
static void link_close(struct cm_agent *a)
{
    if (!a->link_open)
        return;
    a->link_open = false;
    a->link.close(a->link.arg);
}

void agent_link_register_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    agent_link_start(arg);
}

void agent_link_schedule(struct cm_agent *a, double delay)
{
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - (time_t)delay) * 1e6)};
    evtimer_add(a->register_timer, &tv);
}

/* Random delay in [0, backoff], then the back-off doubles up to 1 minute. */
void agent_link_reconnect_later(struct cm_agent *a)
{
    double delay = a->backoff * ((double)random() / (double)RAND_MAX);
    a->backoff *= 2;
    if (a->backoff > 60)
        a->backoff = 60;
    CM_INFO(MOD, "Trying to (re-)register with the master in %.3f secs", delay);
    agent_link_schedule(a, delay);
}

static void handle_registered(struct cm_agent *a, const Cmesos__Internal__AgentEvent__Registered *r)
{
    if (!r || !r->agent_id || cm_id_validate(r->agent_id->value, NULL) != 0) {
        CM_ERROR(MOD, "Master sent REGISTERED without a valid agent id");
        return;
    }
    bool again = a->agent_id != NULL;
    if (a->agent_id && strcmp(a->agent_id, r->agent_id->value) != 0)
        CM_WARN(MOD, "Master changed our id from '%s' to '%s'", a->agent_id, r->agent_id->value);
    free(a->agent_id);
    a->agent_id = cm_xstrdup(r->agent_id->value);
    a->ping_interval = r->has_ping_interval_seconds && r->ping_interval_seconds > 0
                           ? r->ping_interval_seconds
                           : 15;
    free(a->master_hostname);
    a->master_hostname = NULL;
    if (r->master_info)
        a->master_hostname = cm_xstrdup(r->master_info->hostname  ? r->master_info->hostname
                                        : r->master_info->address ? r->master_info->address->ip
                                                                  : "");
    a->registered = true;
    a->backoff = a->flags->registration_backoff_factor;
    {
        Mesos__V1__AgentInfo ai;
        Mesos__V1__AgentID aid;
        Mesos__V1__Resource **res = NULL;
        size_t nres = 0;
        agent_state_agent_info(a, &ai, &aid, &res, &nres);
        agent_ckpt_agent(a, &ai);
        cm_resources_proto_free(res, nres);
    }
    CM_INFO(MOD, "%s with master %s as agent '%s'", again ? "Re-registered" : "Registered",
            cm_detector_leader(a->detector), a->agent_id);
    cm_sum_set_connected(a->sum, true);
}

static void send_pong(struct cm_agent *a)
{
    Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
    call.has_type = 1;
    call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__PONG;
    agent_link_send(a, &call);
}

static int link_handle(struct cm_agent *a, const Cmesos__Internal__AgentEvent *ev);

/* The next turn: a fresh budget, spent first on what waited, oldest first. */
static void link_turn_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_agent *a = arg;
    a->link_turn_budget = 0;
    while (a->link_backlog_n > 0 && a->link_turn_budget < CM_AGENT_LINK_EVENTS_PER_TURN) {
        Cmesos__Internal__AgentEvent *ev = a->link_backlog[a->link_backlog_head];
        a->link_backlog_head = (a->link_backlog_head + 1) % a->link_backlog_cap;
        a->link_backlog_n--;
        a->link_turn_budget++;
        link_handle(a, ev);
        agent_pb_free(ev);
    }
    if (a->link_backlog_n > 0 || a->link_turn_budget > 0) {
        struct timeval zero = {0, 0};
        evtimer_add(a->link_turn_timer, &zero);
    }
}

static void link_backlog_push(struct cm_agent *a, const Cmesos__Internal__AgentEvent *ev)
{
    if (a->link_backlog_n == a->link_backlog_cap) {
        size_t cap = a->link_backlog_cap ? a->link_backlog_cap * 2 : 64;
        Cmesos__Internal__AgentEvent **v = cm_xcalloc(cap, sizeof *v);
        for (size_t i = 0; i < a->link_backlog_n; i++)
            v[i] = a->link_backlog[(a->link_backlog_head + i) % a->link_backlog_cap];
        free(a->link_backlog);
        a->link_backlog = v;
        a->link_backlog_cap = cap;
        a->link_backlog_head = 0;
    }
    a->link_backlog[(a->link_backlog_head + a->link_backlog_n) % a->link_backlog_cap] =
        cm_pb_dup(&ev->base);
    a->link_backlog_n++;
}

void agent_link_backlog_free(struct cm_agent *a)
{
    while (a->link_backlog_n > 0) {
        agent_pb_free(a->link_backlog[a->link_backlog_head]);
        a->link_backlog_head = (a->link_backlog_head + 1) % a->link_backlog_cap;
        a->link_backlog_n--;
    }
    free(a->link_backlog);
    a->link_backlog = NULL;
    a->link_backlog_cap = 0;
    if (a->link_turn_timer)
        event_free(a->link_turn_timer);
    a->link_turn_timer = NULL;
    for (size_t i = 0; i < a->acks_n; i++) {
        free(a->acks_pending[i][0]);
        free(a->acks_pending[i][1]);
    }
    free(a->acks_pending);
    a->acks_pending = NULL;
    a->acks_n = a->acks_cap = 0;
    if (a->acks_timer)
        event_free(a->acks_timer);
    a->acks_timer = NULL;
    for (size_t i = 0; i < a->updates_n; i++)
        agent_pb_free(a->updates_pending[i]);
    free(a->updates_pending);
    a->updates_pending = NULL;
    a->updates_n = a->updates_cap = 0;
    if (a->updates_ev)
        event_free(a->updates_ev);
    a->updates_ev = NULL;
    if (a->updates_hold_timer)
        event_free(a->updates_hold_timer);
    a->updates_hold_timer = NULL;
    if (a->acks_hold_timer)
        event_free(a->acks_hold_timer);
    a->acks_hold_timer = NULL;
}

/* The scheduler acknowledged an update: the status update manager stops retrying it and
 * sends the task's next one; a checkpointing framework's acknowledgement is checkpointed; a
 * terminal update acknowledged completes the task. */
static void handle_acknowledge(struct cm_agent *a,
                               const Cmesos__Internal__AgentEvent__Acknowledge *k)
{
    Mesos__V1__TaskState st;
    bool done = false;
    int rc = cm_sum_acknowledge(a->sum, k->framework_id->value, k->task_id->value, k->uuid.data,
                                k->uuid.len, &st, &done);
    if (rc != 0) {
        CM_WARN(MOD, "Ignoring unexpected acknowledgement for task '%s' of framework '%s'",
                k->task_id->value, k->framework_id->value);
        return;
    }
    struct agent_framework *af = cm_strmap_get(&a->frameworks, k->framework_id->value);
    struct agent_executor *ae = af ? cm_strmap_get(&af->task_index, k->task_id->value) : NULL;
    if (ae && agent_ckpt_enabled(af) && k->uuid.len == 16)
        agent_ckpt_ack(a, ae, k->task_id->value, k->uuid.data);
    if (done && cm_task_state_terminal(st) && af)
        agent_state_complete_task(a, af, k->task_id->value);
}

/* Returns non-zero to drop the stream. Events are handled in order, at most
 * CM_AGENT_LINK_EVENTS_PER_TURN per loop turn; the rest wait their turn (link_turn_cb). */
int cm_agent_link_event(struct cm_agent *a, const Cmesos__Internal__AgentEvent *ev)
{
    if (!a->link_turn_timer)
        a->link_turn_timer = evtimer_new(a->base, link_turn_cb, a);
    if (a->link_backlog_n > 0 || a->link_turn_budget >= CM_AGENT_LINK_EVENTS_PER_TURN) {
        a->last_event = agent_now(a);
        link_backlog_push(a, ev);
        return 0;
    }
    if (a->link_turn_budget++ == 0) {
        /* The budget is refilled on the next turn. */
        struct timeval zero = {0, 0};
        evtimer_add(a->link_turn_timer, &zero);
    }
    return link_handle(a, ev);
}

static int link_handle(struct cm_agent *a, const Cmesos__Internal__AgentEvent *ev)
{
    a->last_event = agent_now(a);
    if (!ev->has_type)
        return 0;
    if (!a->registered && ev->type != CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED) {
        CM_WARN(MOD, "Dropping event %d from the master before REGISTERED", (int)ev->type);
        return 0;
    }
    switch (ev->type) {
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED:
        handle_registered(a, ev->registered);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__PING: send_pong(a); break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK:
        if (ev->run_task)
            agent_exec_run_task(a, ev->run_task->framework_info, ev->run_task->task);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK_GROUP:
        if (ev->run_task_group)
            agent_exec_run_task_group(a, ev->run_task_group);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK:
        if (ev->kill_task)
            agent_exec_kill_task(a, ev->kill_task);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__ACKNOWLEDGE:
        /* The single form, then the list (the master's acknowledgements of one loop turn). */
        if (ev->acknowledge)
            handle_acknowledge(a, ev->acknowledge);
        for (size_t i = 0; i < ev->n_acknowledges; i++)
            handle_acknowledge(a, ev->acknowledges[i]);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_FRAMEWORK:
        if (ev->shutdown_framework)
            agent_exec_shutdown_framework(a, ev->shutdown_framework->framework_id->value);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_EXECUTOR: {
        const Cmesos__Internal__AgentEvent__ShutdownExecutor *s = ev->shutdown_executor;
        struct agent_framework *f =
            s ? cm_strmap_get(&a->frameworks, s->framework_id->value) : NULL;
        struct agent_executor *e = f ? cm_strmap_get(&f->executors, s->executor_id->value) : NULL;
        if (e)
            agent_exec_shutdown(a, e);
        break;
    }
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__FRAMEWORK_MESSAGE: {
        const Cmesos__Internal__AgentEvent__FrameworkMessage *m = ev->framework_message;
        struct agent_framework *f =
            m ? cm_strmap_get(&a->frameworks, m->framework_id->value) : NULL;
        struct agent_executor *e = f ? cm_strmap_get(&f->executors, m->executor_id->value) : NULL;
        if (!e || !agent_xapi_connected(e)) {
            a->metrics.invalid_framework_messages++;
            CM_WARN(MOD, "Dropping framework message for unknown or unsubscribed executor");
            break;
        }
        a->metrics.valid_framework_messages++;
        Mesos__V1__Executor__Event out = MESOS__V1__EXECUTOR__EVENT__INIT;
        Mesos__V1__Executor__Event__Message msg = MESOS__V1__EXECUTOR__EVENT__MESSAGE__INIT;
        msg.data = m->data;
        out.has_type = 1;
        out.type = MESOS__V1__EXECUTOR__EVENT__TYPE__MESSAGE;
        out.message = &msg;
        agent_xapi_send(e, &out);
        break;
    }
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__UPDATE_FRAMEWORK: {
        const Mesos__V1__FrameworkInfo *fi =
            ev->update_framework ? ev->update_framework->framework_info : NULL;
        struct agent_framework *f =
            fi && fi->id ? cm_strmap_get(&a->frameworks, fi->id->value) : NULL;
        if (f)
            agent_state_framework_update(a, f, fi);
        break;
    }
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN:
        CM_ERROR(MOD, "Master asked this agent to shut down: %s",
                 ev->message ? ev->message : "(no reason)");
        event_base_loopbreak(a->base);
        return 1;
    default: break;
    }
    return 0;
}

void agent_link_start(struct cm_agent *a)
{
    if (a->link_open || a->recovering)
        return;
    const char *leader = cm_detector_leader(a->detector);
    if (!leader) {
        agent_link_reconnect_later(a);
        return;
    }

    Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
    Cmesos__Internal__AgentCall__Register reg = CMESOS__INTERNAL__AGENT_CALL__REGISTER__INIT;
    Mesos__V1__AgentInfo ai;
    Mesos__V1__AgentID aid, aid2 = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__Resource **res = NULL;
    size_t nres = 0;
    agent_state_agent_info(a, &ai, &aid, &res, &nres);
    struct cm_agent_caps caps;
    size_t ncaps = cm_agent_caps_fill(&caps);
    reg.agent_info = &ai;
    reg.version = CMESOS_VERSION;
    reg.capabilities = caps.p;
    reg.n_capabilities = ncaps;
    reg.pid = a->pid;
    reg.address_ip = a->ip;

    /* Re-registration: report what still runs here so the master keeps it. */
    size_t nf = cm_strmap_count(&a->frameworks), ne = 0, nt = 0;
    struct cm_strmap_iter fit, eit, tit;
    struct agent_framework *f;
    struct agent_executor *e;
    struct agent_task *t;
    cm_strmap_iter_init(&fit, &a->frameworks);
    while ((f = cm_strmap_iter_value(&fit, NULL))) {
        ne += cm_strmap_count(&f->executors);
        cm_strmap_iter_init(&eit, &f->executors);
        while ((e = cm_strmap_iter_value(&eit, NULL)))
            nt += cm_strmap_count(&e->tasks);
    }
    Mesos__V1__FrameworkInfo **fv = cm_xcalloc(nf + 1, sizeof *fv);
    Mesos__V1__ExecutorInfo **ev = cm_xcalloc(ne + 1, sizeof *ev);
    Mesos__V1__Task **tv = cm_xcalloc(nt + 1, sizeof *tv);
    Mesos__V1__Task *tasks = cm_xcalloc(nt + 1, sizeof *tasks);
    Mesos__V1__FrameworkID *fids = cm_xcalloc(nt + 1, sizeof *fids);
    Mesos__V1__ExecutorID *eids = cm_xcalloc(nt + 1, sizeof *eids);
    size_t fi = 0, ei = 0, ti = 0;
    if (a->agent_id) {
        aid2.value = a->agent_id;
        call.agent_id = &aid2;
        cm_strmap_iter_init(&fit, &a->frameworks);
        while ((f = cm_strmap_iter_value(&fit, NULL))) {
            fv[fi++] = f->info;
            cm_strmap_iter_init(&eit, &f->executors);
            while ((e = cm_strmap_iter_value(&eit, NULL))) {
                /* An exited executor (kept for its tasks' updates) was already reported
                 * gone with EXITED_EXECUTOR: the master must not take it as running. */
                if (e->state != EXECUTOR_TERMINATED)
                    ev[ei++] = e->info;
                cm_strmap_iter_init(&tit, &e->tasks);
                while ((t = cm_strmap_iter_value(&tit, NULL))) {
                    Mesos__V1__Task *pt = &tasks[ti];
                    mesos__v1__task__init(pt);
                    pt->name = t->info->name;
                    pt->task_id = t->info->task_id;
                    mesos__v1__framework_id__init(&fids[ti]);
                    fids[ti].value = f->id;
                    pt->framework_id = &fids[ti];
                    mesos__v1__executor_id__init(&eids[ti]);
                    eids[ti].value = e->id;
                    pt->executor_id = &eids[ti];
                    pt->agent_id = &aid2;
                    pt->state = t->state;
                    pt->resources = t->info->resources;
                    pt->n_resources = t->info->n_resources;
                    if (t->nstatuses) {
                        pt->statuses = t->statuses;
                        pt->n_statuses = t->nstatuses;
                    }
                    Mesos__V1__TaskState head;
                    if (cm_sum_pending(a->sum, f->id, t->info->task_id->value, &head) > 0) {
                        pt->has_status_update_state = 1;
                        pt->status_update_state = head;
                    }
                    tv[ti++] = pt;
                }
            }
        }
    }
    reg.frameworks = fv;
    reg.n_frameworks = fi;
    reg.executors = ev;
    reg.n_executors = ei;
    reg.tasks = tv;
    reg.n_tasks = ti;
    call.has_type = 1;
    call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__REGISTER;
    call.register_ = &reg;

    CM_INFO(MOD, "%s with master at %s", a->agent_id ? "Re-registering" : "Registering", leader);
    char why[256] = "";
    int rc = a->link.open(a->link.arg, leader, &call, why, sizeof why);
    cm_resources_proto_free(res, nres);
    free(fv);
    free(ev);
    free(tv);
    free(tasks);
    free(fids);
    free(eids);
    if (rc != 0) {
        CM_ERROR(MOD, "Failed to start registration: %s", *why ? why : cm_strerror(rc));
        agent_link_reconnect_later(a);
        return;
    }
    a->link_open = true;
}

/* The detector saw a new leading master (or none): drop the old stream and re-register with
 * our id at once, so that a failover costs no back-off. */
void agent_link_leader_changed(void *arg, const char *leader)
{
    struct cm_agent *a = arg;
    link_close(a);
    if (a->registered) {
        a->registered = false;
        cm_sum_set_connected(a->sum, false);
    }
    a->backoff =
        a->flags->registration_backoff_factor > 0 ? a->flags->registration_backoff_factor : 1;
    if (leader && a->register_timer)
        agent_link_schedule(a, 0);
}

void agent_link_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cm_agent_tick(arg);
}

/* Sends call (not REGISTER) to the master over the open link. Dropped when not registered:
 * status updates are retried by the status update manager, launches are re-sent by the master
 * until acknowledged, the rest is best effort. */
void agent_link_send(struct cm_agent *a, Cmesos__Internal__AgentCall *call)
{
    if (!a->registered || !a->link_open)
        return;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = a->agent_id;
    call->agent_id = &aid;
    int rc = a->link.send(a->link.arg, call);
    if (rc != 0)
        CM_WARN(MOD, "Failed to send a call to the master: %s", cm_strerror(rc));
    call->agent_id = NULL;
}

/* Tells the master a RUN_TASK is safe with us (checkpointed, or answered with a terminal
 * update), so it stops holding the launch for a re-send. */
static void acks_send_now(struct cm_agent *a)
{
    size_t n = a->acks_n;
    if (a->acks_hold_timer)
        evtimer_del(a->acks_hold_timer);
    if (n == 0)
        return;
    Cmesos__Internal__AgentCall__TaskLaunchAck *acks = cm_xcalloc(n, sizeof *acks);
    Cmesos__Internal__AgentCall__TaskLaunchAck **ackv = cm_xcalloc(n, sizeof *ackv);
    Mesos__V1__FrameworkID *fids = cm_xcalloc(n, sizeof *fids);
    Mesos__V1__TaskID *tids = cm_xcalloc(n, sizeof *tids);
    for (size_t i = 0; i < n; i++) {
        mesos__v1__framework_id__init(&fids[i]);
        mesos__v1__task_id__init(&tids[i]);
        fids[i].value = a->acks_pending[i][0];
        tids[i].value = a->acks_pending[i][1];
        cmesos__internal__agent_call__task_launch_ack__init(&acks[i]);
        acks[i].framework_id = &fids[i];
        acks[i].task_id = &tids[i];
        ackv[i] = &acks[i];
    }
    Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
    call.has_type = 1;
    call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__TASK_LAUNCH_ACK;
    call.task_launch_acks = ackv;
    call.n_task_launch_acks = n;
    /* Taken off the agent before sending, like the updates (agent_updates.c). */
    char *(*pending)[2] = a->acks_pending;
    a->acks_pending = NULL;
    a->acks_n = a->acks_cap = 0;
    agent_link_send(a, &call);
    for (size_t i = 0; i < n; i++) {
        free(pending[i][0]);
        free(pending[i][1]);
    }
    free(pending);
    free(acks);
    free(ackv);
    free(fids);
    free(tids);
}

static void acks_hold_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    acks_send_now(arg);
}

/* The end of the turn that collected the acks: they leave as one call, or wait while the
 * previous TASK_LAUNCH_ACK call is in flight (at most CM_AGENT_CALL_HOLD_MAX). */
static void acks_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_agent *a = arg;
    if (a->acks_n == 0)
        return;
    if (a->acks_inflight == 0) {
        acks_send_now(a);
        return;
    }
    if (!a->acks_hold_timer)
        a->acks_hold_timer = evtimer_new(a->base, acks_hold_cb, a);
    if (a->acks_hold_timer && !evtimer_pending(a->acks_hold_timer, NULL)) {
        struct timeval tv = {0, (suseconds_t)(CM_AGENT_CALL_HOLD_MAX * 1e6)};
        evtimer_add(a->acks_hold_timer, &tv);
    }
}

void agent_link_launch_ack(struct cm_agent *a, const char *framework_id, const char *task_id)
{
    if (!a->acks_timer)
        a->acks_timer = event_new(a->base, -1, 0, acks_flush_cb, a);
    if (a->acks_n == a->acks_cap) {
        a->acks_cap = a->acks_cap ? a->acks_cap * 2 : 32;
        a->acks_pending = cm_xrealloc(a->acks_pending, a->acks_cap * sizeof *a->acks_pending);
    }
    a->acks_pending[a->acks_n][0] = cm_xstrdup(framework_id);
    a->acks_pending[a->acks_n][1] = cm_xstrdup(task_id);
    a->acks_n++;
    /* Once the turn's other callbacks ran (an active event, not a timer: no timerfd change). */
    if (a->acks_timer && !event_pending(a->acks_timer, EV_TIMEOUT, NULL))
        event_active(a->acks_timer, EV_TIMEOUT, 0);
}

void cm_agent_link_call_started(struct cm_agent *a, int type)
{
    if (type == CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE)
        a->updates_inflight++;
    else if (type == CMESOS__INTERNAL__AGENT_CALL__TYPE__TASK_LAUNCH_ACK)
        a->acks_inflight++;
}

void cm_agent_link_call_done(struct cm_agent *a, int type)
{
    if (type == CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE) {
        agent_updates_call_done(a);
    } else if (type == CMESOS__INTERNAL__AGENT_CALL__TYPE__TASK_LAUNCH_ACK) {
        if (a->acks_inflight > 0)
            a->acks_inflight--;
        if (a->acks_inflight == 0 && a->acks_n > 0 && a->acks_timer)
            event_active(a->acks_timer, EV_TIMEOUT, 0);
    }
}

/* The link ended (the master closed the stream, the connection broke, or the transport gave
 * up): back off and register again with our id. */
void cm_agent_link_lost(struct cm_agent *a, const char *reason)
{
    a->link_open = false;
    if (a->registered)
        CM_WARN(MOD, "Lost the master's event stream (%s)", reason ? reason : "stream ended");
    else
        CM_WARN(MOD, "Registration with the master failed: %s", reason ? reason : "stream ended");
    a->registered = false;
    cm_sum_set_connected(a->sum, false);
    agent_link_reconnect_later(a);
}

/* The master answered a call with 403: it forgot us (e.g. it restarted), so we register
 * again at once with our id. */
void cm_agent_link_forgotten(struct cm_agent *a)
{
    if (!a->registered)
        return;
    a->registered = false;
    cm_sum_set_connected(a->sum, false);
    link_close(a);
    agent_link_schedule(a, 0);
}

void cm_agent_tick(struct cm_agent *a)
{
    cm_sum_tick(a->sum);
    if (a->registered && agent_now(a) - a->last_event > 5 * a->ping_interval) {
        CM_WARN(MOD, "No event from the master for %.0f secs; re-registering",
                agent_now(a) - a->last_event);
        a->registered = false;
        cm_sum_set_connected(a->sum, false);
        link_close(a);
        agent_link_reconnect_later(a);
    }
}

int cm_agent_link_record(struct cm_agent *a, const uint8_t *data, size_t len)
{
    ProtobufCMessage *m = NULL;
    char why[256] = "";
    int rc = cm_pb_decode(&cmesos__internal__agent_event__descriptor, CM_MEDIA_PROTOBUF, data, len,
                          &m, why, sizeof why);
    if (rc != 0) {
        /* The stream client's policy (stream_client.h): skipping it could lose an event the
         * master counts as delivered, so the link is dropped and the agent registers again. */
        CM_ERROR(MOD, "Failed to de-serialize an event from the master (%zu bytes): %s", len,
                 why[0] ? why : cm_strerror(rc));
        return 1;
    }
    rc = cm_agent_link_event(a, (Cmesos__Internal__AgentEvent *)m);
    agent_pb_free(m);
    return rc;
}
