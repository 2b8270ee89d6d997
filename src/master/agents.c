/* agents.c: agents in the master — registration and re-registration (admitted through the
 * registry first), reconciliation of what a returning agent reports, disconnection, pings,
 * partitions (unreachable) and removal. Part of the master's core: it calls only the core and
 * src/common; the link's wire side is agent_link.c and agent_link_http.c. See master.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator/allocator.h"
#include "codec.h"
#include "errors.h"
#include "log.h"
#include "master.h"
#include "registrar.h"
#include "util.h"

#define MOD "master"

typedef Cmesos__Internal__AgentCall AgentCall;

static char *host_of_pid(const char *pid)
{
    /* "slave(1)@10.0.0.2:5051" -> "10.0.0.2" */
    const char *at = pid ? strchr(pid, '@') : NULL;
    const char *colon = at ? strrchr(at, ':') : NULL;
    if (!at || !colon || colon <= at + 1)
        return NULL;
    return strndup(at + 1, (size_t)(colon - at - 1));
}

static void set_agent_info(struct cm_master *m, struct cm_agent *a,
                           const Cmesos__Internal__AgentCall__Register *reg)
{
    (void)m;
    if (a->info)
        protobuf_c_message_free_unpacked(&a->info->base, NULL);
    a->info = (Mesos__V1__AgentInfo *)cm_pb_dup(&reg->agent_info->base);
    if (!a->info->id) {
        a->info->id = cm_xcalloc(1, sizeof *a->info->id);
        mesos__v1__agent_id__init(a->info->id);
    } else {
        free(a->info->id->value);
    }
    a->info->id->value = cm_xstrdup(a->id);
    free(a->hostname);
    free(a->ip);
    free(a->pid);
    free(a->version);
    a->hostname = cm_xstrdup(a->info->hostname);
    a->port = a->info->has_port ? a->info->port : 5051;
    char *pid_host = host_of_pid(reg->pid);
    if (reg->address_ip && reg->address_ip[0])
        a->ip = cm_xstrdup(reg->address_ip);
    else if (pid_host)
        a->ip = cm_xstrdup(pid_host);
    else
        a->ip = cm_xstrdup(a->hostname);
    free(pid_host);
    if (reg->pid && reg->pid[0]) {
        a->pid = cm_xstrdup(reg->pid);
    } else {
        char pid[400];
        snprintf(pid, sizeof pid, "slave(1)@%s:%d", a->ip, a->port);
        a->pid = cm_xstrdup(pid);
    }
    a->version = cm_xstrdup(reg->version && reg->version[0] ? reg->version : CMESOS_VERSION);
    free(a->capabilities);
    a->ncapabilities = reg->n_capabilities;
    a->capabilities = cm_xcalloc(reg->n_capabilities, sizeof *a->capabilities);
    for (size_t i = 0; i < reg->n_capabilities; i++)
        a->capabilities[i] = reg->capabilities[i]->has_type ? (int)reg->capabilities[i]->type : 0;
}

static const char *task_role(const Mesos__V1__Task *t, const struct cm_framework *fw)
{
    for (size_t i = 0; i < t->n_resources; i++)
        if (t->resources[i]->allocation_info && t->resources[i]->allocation_info->role)
            return t->resources[i]->allocation_info->role;
    return fw->nroles ? fw->roles[0] : "*";
}

/* A task the agent reports that the master does not know (master failover). */
static void adopt_task(struct cm_master *m, struct cm_agent *a,
                       const Cmesos__Internal__AgentCall__Register *reg, const Mesos__V1__Task *t)
{
    const char *fid = t->framework_id->value;
    char key[600];
    snprintf(key, sizeof key, "%s %s", fid, t->task_id->value);
    if (cm_strmap_get(&a->lost_tasks, key) && !cm_task_state_terminal(t->state)) {
        /* Declared lost when the agent disconnected (its framework does not checkpoint): the
         * framework was told TASK_LOST, so the task must not come back to life. */
        CM_WARN(MOD, "Killing task %s of framework %s on agent %s: it was declared lost",
                t->task_id->value, fid, a->id);
        Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
        Cmesos__Internal__AgentEvent__KillTask kt = CMESOS__INTERNAL__AGENT_EVENT__KILL_TASK__INIT;
        kt.framework_id = t->framework_id;
        kt.task_id = t->task_id;
        ev.has_type = 1;
        ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK;
        ev.kill_task = &kt;
        cm_master_send_agent(m, a, &ev);
        return;
    }
    struct cm_framework *fw = cm_master_framework(m, fid);
    if (!fw) {
        if (cm_strmap_get(&m->completed, fid)) {
            CM_WARN(MOD, "Agent %s reports task %s of removed framework %s", a->id,
                    t->task_id->value, fid);
            return;
        }
        const Mesos__V1__FrameworkInfo *info = NULL;
        for (size_t i = 0; i < reg->n_frameworks; i++)
            if (strcmp(reg->frameworks[i]->id->value, fid) == 0)
                info = reg->frameworks[i];
        if (!info) {
            CM_WARN(MOD, "Agent %s reports task %s of unknown framework %s without its info", a->id,
                    t->task_id->value, fid);
            return;
        }
        fw = cm_master_recover_framework(m, info);
    }
    if (cm_strmap_get(&fw->tasks, t->task_id->value))
        return;
    /* A task of an agent that was unreachable reappears (docs/wire-protocol.md §11.2). */
    struct cm_task *old = cm_strmap_remove(&fw->unreachable_tasks, t->task_id->value);
    bool reappeared = old != NULL;
    if (old)
        cm_master_forget_unreachable_task(fw, old, true);
    struct cm_resources res;
    cm_resources_init(&res);
    char why[256];
    if (cm_resources_from_proto(&res, t->resources, t->n_resources, why, sizeof why) != 0) {
        CM_WARN(MOD, "Agent %s reports task %s with invalid resources: %s", a->id,
                t->task_id->value, why);
        cm_resources_cleanup(&res);
        return;
    }
    Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT;
    ti.name = t->name;
    ti.task_id = t->task_id;
    ti.agent_id = a->info->id;
    ti.n_resources = t->n_resources;
    ti.resources = t->resources;
    ti.labels = t->labels;
    ti.discovery = t->discovery;
    ti.container = t->container;
    ti.health_check = t->health_check;
    ti.kill_policy = t->kill_policy;
    /* A task of a custom or DEFAULT executor keeps naming it (executors.c adopts those). */
    for (size_t i = 0; t->executor_id && i < reg->n_executors; i++) {
        Mesos__V1__ExecutorInfo *ei = reg->executors[i];
        if (ei->executor_id && ei->framework_id && !cm_master_executor_is_command(ei) &&
            strcmp(ei->executor_id->value, t->executor_id->value) == 0 &&
            strcmp(ei->framework_id->value, fid) == 0)
            ti.executor = ei;
    }
    const char *role = task_role(t, fw);
    struct cm_task *task = cm_master_add_task(m, fw, a, &ti, &res, role);
    cm_master_restore_task(m, task, t);
    if (!cm_task_state_terminal(task->state))
        cm_allocator_allocate(m->allocator, fw->id, role, a->id, &res);
    cm_resources_cleanup(&res);
    if (reappeared && fw->partition_aware)
        cm_master_send_master_update(m, fw, task->id, a->id, task->state,
                                     MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_REREGISTERED,
                                     "Agent re-registered");
}

/* Tasks the master placed on a known agent that the agent no longer reports are lost. */
static void reconcile_known_agent(struct cm_master *m, struct cm_agent *a,
                                  const Cmesos__Internal__AgentCall__Register *reg)
{
    struct cm_strmap reported;
    cm_strmap_init(&reported);
    char key[600];
    for (size_t i = 0; i < reg->n_tasks; i++) {
        snprintf(key, sizeof key, "%s %s", reg->tasks[i]->framework_id->value,
                 reg->tasks[i]->task_id->value);
        cm_strmap_put(&reported, key, reg->tasks[i]);
    }
    size_t n = cm_strmap_count(&a->tasks), k = 0, r = 0;
    struct cm_task **lost = cm_xcalloc(n, sizeof *lost);
    struct cm_task **resend = cm_xcalloc(n, sizeof *resend);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &a->tasks); cm_strmap_iter_next(&it);) {
        struct cm_task *t = it.cur->value;
        if (cm_strmap_get(&reported, it.cur->key)) {
            t->launch_unacked = false; /* reported: the agent has it */
            continue;
        }
        if (cm_task_state_terminal(t->state))
            continue;
        /* A launch the agent never confirmed died with the link: the agent never had the task,
         * so it is sent again rather than declared lost. A task the agent confirmed and no
         * longer reports is lost; so is one the framework asked to kill meanwhile. */
        if (t->launch_unacked && !t->kill_asked)
            resend[r++] = t;
        else
            lost[k++] = t;
    }
    cm_strmap_cleanup(&reported);
    for (size_t i = 0; i < r; i++) {
        CM_INFO(MOD,
                "Re-sending task %s of framework %s to agent %s: its launch was never "
                "acknowledged",
                resend[i]->id, resend[i]->fw->id, a->id);
        cm_master_send_run_task(m, resend[i]);
    }
    free(resend);
    for (size_t i = 0; i < k; i++) {
        struct cm_task *t = lost[i];
        struct cm_framework *fw = t->fw;
        int state = cm_master_task_state_for(fw, MESOS__V1__TASK_STATE__TASK_DROPPED);
        CM_WARN(MOD, "Task %s of framework %s is unknown to re-registered agent %s", t->id, fw->id,
                a->id);
        cm_master_transition_task(m, fw, t, a->id, state,
                                  MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION,
                                  "Task is unknown to the agent", -1);
        cm_master_complete_task(m, t);
    }
    free(lost);
}

/* A registration waiting for the registry (the master admits an agent only once the registry
 * has recorded it). Today's storages complete at once; the context also carries the request
 * for a storage that completes later. */
struct reg_ctx {
    struct cm_master *m;
    AgentCall *call; /* owned copy */
    struct cm_sink sink;
    char stream_id[37];
    char id[256];
    bool done, detached, was_unreachable, stream_closed;
    struct reg_ctx *next, *prev; /* m->pending_registrations while detached */
    int code;
    struct cm_agent *agent;
    char why[256];
};

static void finish_register(struct reg_ctx *ctx)
{
    struct cm_master *m = ctx->m;
    const AgentCall *call = ctx->call;
    const Cmesos__Internal__AgentCall__Register *reg = call->register_;
    char why[256];
    struct cm_resources total;
    cm_resources_init(&total);
    cm_resources_from_proto(&total, reg->agent_info->resources, reg->agent_info->n_resources, why,
                            sizeof why);
    struct cm_agent *a = cm_master_agent(m, ctx->id);
    bool known = a != NULL;
    bool recovering = cm_master_agent_recovering(m, ctx->id);
    if (!a) {
        a = cm_xcalloc(1, sizeof *a);
        a->id = cm_xstrdup(ctx->id);
        cm_strmap_init(&a->tasks);
        cm_strmap_init(&a->offers);
        cm_strmap_init(&a->lost_tasks);
        cm_resources_init(&a->total);
        cm_resources_init(&a->used);
        cm_resources_init(&a->offered);
        a->registered_time = cm_clock_now(m->clock);
    }
    set_agent_info(m, a, reg);
    cm_strmap_remove(&m->recovering_agents, a->id);
    if (ctx->sink.principal[0] && !a->principal)
        a->principal = cm_xstrdup(ctx->sink.principal); /* the id is bound to it from now on */

    if (known) {
        if (a->sink.stream || a->sink.cb) {
            CM_INFO(MOD, "Agent %s re-registered on a new stream; ending the old one", a->id);
            cm_sink_end(&a->sink);
        }
        if (!cm_resources_equal(&a->total, &total)) {
            CM_WARN(MOD, "Agent %s re-registered with different resources; keeping the old", a->id);
        }
        a->reregistered_time = cm_clock_now(m->clock);
        m->metrics.slave_reregistrations++;
        m->metrics.messages_reregister_slave++;
    } else {
        cm_resources_copy(&a->total, &total);
        cm_strmap_put(&m->agents, a->id, a);
        cm_allocator_add_agent(m->allocator, a->id, &a->total);
        if (call->agent_id) {
            a->reregistered_time = a->registered_time;
            m->metrics.slave_reregistrations++;
            m->metrics.messages_reregister_slave++;
        } else {
            m->metrics.slave_registrations++;
            m->metrics.messages_register_slave++;
        }
    }
    cm_resources_cleanup(&total);
    a->sink = ctx->sink;
    cm_master_agent_stream_bind(a); /* on a shared stream, events now name a->id */
    snprintf(a->stream_id, sizeof a->stream_id, "%s", ctx->stream_id);
    a->connected = a->active = true;
    a->disconnected_time = 0;
    a->last_pong = cm_clock_now(m->clock);

    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__Registered r = CMESOS__INTERNAL__AGENT_EVENT__REGISTERED__INIT;
    r.agent_id = a->info->id;
    r.master_info = m->info;
    r.has_ping_interval_seconds = 1;
    r.ping_interval_seconds = m->flags->agent_ping_timeout;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED;
    ev.registered = &r;
    cm_master_send_agent(m, a, &ev);

    if (known)
        reconcile_known_agent(m, a, reg);
    for (size_t i = 0; i < reg->n_tasks; i++)
        adopt_task(m, a, reg, reg->tasks[i]);
    cm_master_reconcile_executors(m, a, reg, known);
    cm_strmap_cleanup(&a->lost_tasks);
    cm_strmap_init(&a->lost_tasks);
    if (!known)
        cm_master_restore_agent_state(m, a);
    cm_allocator_activate_agent(m->allocator, a->id, !a->deactivated);
    cm_master_send_pending_kills(m, a);
    if (!known && a->drain_state == MESOS__V1__DRAIN_STATE__DRAINING)
        cm_master_drain_agent(m, a->id, a->drain_has_grace, a->drain_grace_ns, a->drain_mark_gone,
                              why, sizeof why); /* kills what still runs, as Mesos re-drains */
    CM_INFO(MOD, "Agent %s (%s) %s at %s%s", a->id, a->hostname,
            known || call->agent_id ? "re-registered" : "registered", a->pid,
            ctx->was_unreachable ? " (it was unreachable)"
            : recovering         ? " (recovered from the registry)"
                                 : "");
    /* No full cycle: adding or activating the agent made it dirty in the allocator, which wakes
     * a cycle over the dirty agents (Mesos allocates the one added agent). A full cycle per loop
     * turn of registrations cost O(agents) each turn during a 10,000-agent re-registration. */
    if (!known)
        cm_master_notify_agent_added(m, a);
    ctx->agent = a;
    ctx->code = 200;
}

static void reg_ctx_free(struct reg_ctx *ctx)
{
    protobuf_c_message_free_unpacked(&ctx->call->base, NULL);
    free(ctx);
}

static void pending_unlink(struct cm_master *m, struct reg_ctx *ctx)
{
    if (ctx->prev)
        ctx->prev->next = ctx->next;
    else if (m->pending_registrations == ctx)
        m->pending_registrations = ctx->next;
    if (ctx->next)
        ctx->next->prev = ctx->prev;
    ctx->next = ctx->prev = NULL;
}

void cm_master_agent_register_stream_closed(struct cm_master *m, void *ref)
{
    for (struct reg_ctx *ctx = m->pending_registrations; ctx; ctx = ctx->next) {
        if (ctx->sink.ref == ref) {
            /* The HTTP layer frees ref and the stream itself; only forget them here. */
            ctx->sink.ref = NULL;
            ctx->sink.stream = NULL;
            ctx->stream_closed = true;
            return;
        }
    }
}

bool cm_master_agent_register_sink_closed(struct cm_master *m, const void *arg)
{
    for (struct reg_ctx *ctx = m->pending_registrations; ctx; ctx = ctx->next) {
        if (ctx->sink.cb && ctx->sink.arg == arg) {
            ctx->stream_closed = true; /* the sink stays: its end or release frees arg */
            return true;
        }
    }
    return false;
}

static void register_admitted(void *arg, int err)
{
    struct reg_ctx *ctx = arg;
    if (err) {
        CM_ERROR(MOD, "Failed to admit agent %s into the registry: %s", ctx->id, cm_strerror(err));
        cm_master_registrar_failed(ctx->m);
        snprintf(ctx->why, sizeof ctx->why, "Failed to admit agent into the registry");
        ctx->code = 503;
        cm_sink_end(&ctx->sink);
    } else {
        finish_register(ctx);
        if (ctx->detached && ctx->agent) {
            if (ctx->stream_closed)
                cm_master_agent_disconnected(ctx->m, ctx->agent);
            else if (ctx->sink.ref && ctx->sink.bind_cb)
                ctx->sink.bind_cb(ctx->sink.ref, ctx->agent); /* the edge learns its agent */
        }
    }
    ctx->done = true;
    if (ctx->detached) {
        pending_unlink(ctx->m, ctx);
        reg_ctx_free(ctx);
    }
}

int cm_master_register_agent(struct cm_master *m, const AgentCall *call, const struct cm_sink *sink,
                             const char *stream_id, struct cm_agent **agent_out, char *why,
                             size_t whylen)
{
    const Cmesos__Internal__AgentCall__Register *reg = call->register_;
    int rc = cm_master_agent_validate_register(m, call, why, whylen);
    if (rc)
        return 400;
    /* Identity first (the HTTP edge asks the same before it opens the stream): an agent id is
     * bound to its principal, and a live agent's stream is never taken over. */
    int code = cm_master_agent_register_check(m, call->agent_id ? call->agent_id->value : NULL,
                                              sink->principal, why, whylen);
    if (code) {
        struct cm_sink s = *sink;
        cm_sink_end(&s);
        return code;
    }
    struct reg_ctx *ctx = cm_xcalloc(1, sizeof *ctx);
    ctx->m = m;
    if (call->agent_id)
        snprintf(ctx->id, sizeof ctx->id, "%s", call->agent_id->value);
    else
        snprintf(ctx->id, sizeof ctx->id, "%s-S%llu", m->id, (unsigned long long)m->next_agent++);
    if (cm_registrar_gone(m->registrar, ctx->id, NULL)) {
        /* Marked gone by the operator: it may never come back (docs/wire-protocol.md §11.2). */
        struct cm_sink s = *sink;
        Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
        ev.has_type = 1;
        ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN;
        ev.message = "Agent has been marked gone";
        cm_sink_send(&s, &ev.base);
        cm_sink_end(&s);
        free(ctx);
        cm_fail(CM_ESTATE, why, whylen, "Agent %s has been marked gone", call->agent_id->value);
        return 403;
    }
    ctx->call = (AgentCall *)cm_pb_dup(&call->base);
    ctx->sink = *sink;
    snprintf(ctx->stream_id, sizeof ctx->stream_id, "%s", stream_id ? stream_id : "");
    ctx->was_unreachable = cm_registrar_unreachable(m->registrar, ctx->id, NULL);

    /* The registry records the admission before the master acts on it. */
    Mesos__V1__AgentInfo info = *reg->agent_info;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = ctx->id;
    info.id = &aid;
    cm_registrar_admit(m->registrar, &info, register_admitted, ctx);
    if (!ctx->done) {
        /* A storage that answers later: the stream stays open and REGISTERED follows. */
        ctx->detached = true;
        ctx->next = m->pending_registrations;
        if (ctx->next)
            ctx->next->prev = ctx;
        m->pending_registrations = ctx;
        return 200;
    }
    code = ctx->code;
    if (code != 200)
        snprintf(why, whylen, "%s", ctx->why);
    if (agent_out)
        *agent_out = ctx->agent;
    reg_ctx_free(ctx);
    return code;
}

/* ------------------------------------------------------------------------------------------ */
/* partitions */

struct unreach_ctx {
    struct cm_master *m;
    char *id;
    double when;
};

static void agent_unreachable_recorded(void *arg, int err)
{
    struct unreach_ctx *ctx = arg;
    struct cm_master *m = ctx->m;
    struct cm_agent *a = cm_master_agent(m, ctx->id);
    if (err) {
        CM_ERROR(MOD, "Failed to mark agent %s unreachable in the registry: %s", ctx->id,
                 cm_strerror(err));
        cm_master_registrar_failed(m);
        goto out;
    }
    if (!a || a->connected) {
        /* It came back (or was removed) while the registry was being written. */
        m->metrics.slave_unreachable_canceled++;
        goto out;
    }
    m->metrics.slave_unreachable_completed++;
    m->metrics.slave_removals++;
    m->metrics.slave_removals_unhealthy++;
    size_t n = cm_strmap_count(&a->tasks), i = 0;
    struct cm_task **tasks = cm_xcalloc(n, sizeof *tasks);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &a->tasks); cm_strmap_iter_next(&it);)
        tasks[i++] = it.cur->value;
    for (i = 0; i < n; i++) {
        struct cm_task *t = tasks[i];
        struct cm_framework *fw = t->fw;
        if (cm_task_state_terminal(t->state)) {
            cm_master_complete_task(m, t);
            continue;
        }
        int state = cm_master_task_state_for(fw, MESOS__V1__TASK_STATE__TASK_UNREACHABLE);
        cm_master_transition_task(m, fw, t, a->id, state,
                                  MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_REMOVED,
                                  "Agent is unreachable", ctx->when);
        cm_master_task_unreachable(m, t, ctx->when);
    }
    free(tasks);
    /* Every framework hears that the agent is lost (FAILURE without executor_id). */
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Failure f = MESOS__V1__SCHEDULER__EVENT__FAILURE__INIT;
    f.agent_id = a->info->id;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE;
    ev.failure = &f;
    for (cm_strmap_iter_init(&it, &m->frameworks); cm_strmap_iter_next(&it);)
        cm_master_send_event(m, it.cur->value, &ev);
    cm_allocator_remove_agent(m->allocator, a->id);
    cm_strmap_remove(&m->agents, a->id);
    cm_master_notify_agent_removed(m, a->id);
    cm_agent_free(a);
out:
    free(ctx->id);
    free(ctx);
}

/* Rescinds every outstanding offer of a (collected first: removing edits a->offers). */
static void rescind_agent_offers(struct cm_master *m, struct cm_agent *a)
{
    size_t n = cm_strmap_count(&a->offers), i = 0;
    struct cm_offer **offers = cm_xcalloc(n, sizeof *offers);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &a->offers); cm_strmap_iter_next(&it);)
        offers[i++] = it.cur->value;
    for (i = 0; i < n; i++)
        cm_master_remove_offer(m, offers[i], false, true, 0);
    free(offers);
}

void cm_master_mark_agent_unreachable(struct cm_master *m, struct cm_agent *a, const char *why)
{
    CM_WARN(MOD, "Marking agent %s (%s) unreachable: %s", a->id, a->hostname, why);
    m->metrics.slave_unreachable_scheduled++;
    /* Stop using it at once; the registry is written before its tasks are given up. */
    if (a->sink.stream || a->sink.cb)
        cm_sink_end(&a->sink);
    if (a->connected)
        cm_allocator_activate_agent(m->allocator, a->id, false);
    a->connected = a->active = false;
    a->disconnected_time = 0;
    rescind_agent_offers(m, a);
    struct unreach_ctx *ctx = cm_xcalloc(1, sizeof *ctx);
    ctx->m = m;
    ctx->id = cm_xstrdup(a->id);
    ctx->when = cm_clock_now(m->clock);
    cm_registrar_mark_unreachable(m->registrar, a->id, ctx->when, agent_unreachable_recorded, ctx);
}

void cm_master_remove_agent(struct cm_master *m, struct cm_agent *a)
{
    CM_INFO(MOD, "Removing agent %s (%s)", a->id, a->hostname);
    if (a->sink.stream || a->sink.cb)
        cm_sink_end(&a->sink);
    a->connected = a->active = false;
    rescind_agent_offers(m, a);
    /* Its tasks are gone with it. */
    size_t n = cm_strmap_count(&a->tasks), i = 0;
    struct cm_strmap_iter it;
    struct cm_task **tasks = cm_xcalloc(n, sizeof *tasks);
    for (cm_strmap_iter_init(&it, &a->tasks); cm_strmap_iter_next(&it);)
        tasks[i++] = it.cur->value;
    for (i = 0; i < n; i++) {
        struct cm_task *t = tasks[i];
        if (!cm_task_state_terminal(t->state)) {
            int state = cm_master_task_state_for(t->fw, MESOS__V1__TASK_STATE__TASK_GONE);
            cm_master_transition_task(m, t->fw, t, a->id, state,
                                      MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_REMOVED,
                                      "Agent was removed", -1);
        }
        cm_master_complete_task(m, t);
    }
    free(tasks);
    cm_allocator_remove_agent(m->allocator, a->id);
    cm_registrar_remove(m->registrar, a->id, NULL, NULL);
    m->metrics.slave_removals++;
    m->metrics.slave_removals_unregistered++;
    cm_strmap_remove(&m->agents, a->id);
    cm_master_notify_agent_removed(m, a->id);
    cm_agent_free(a);
}

/* ------------------------------------------------------------------------------------------ */
/* disconnection */

static bool fw_checkpoints(const struct cm_framework *fw)
{
    return fw->info && fw->info->has_checkpoint && fw->info->checkpoint;
}

/* docs/wire-protocol.md §11.2: when an agent's connection breaks, tasks of frameworks that do not
 * checkpoint cannot survive an agent restart, so they are lost at once; checkpointing ones wait
 * for the agent to come back or for it to be marked unreachable. */
static void lose_uncheckpointed_tasks(struct cm_master *m, struct cm_agent *agent)
{
    size_t n = cm_strmap_count(&agent->tasks), k = 0;
    if (n == 0)
        return;
    struct cm_task **v = cm_xcalloc(n, sizeof *v);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &agent->tasks); cm_strmap_iter_next(&it);) {
        struct cm_task *t = it.cur->value;
        if (!fw_checkpoints(t->fw))
            v[k++] = t;
    }
    for (size_t i = 0; i < k; i++) {
        struct cm_task *t = v[i];
        char key[600];
        snprintf(key, sizeof key, "%s %s", t->fw->id, t->id);
        if (!cm_task_state_terminal(t->state)) {
            cm_master_transition_task(m, t->fw, t, agent->id, MESOS__V1__TASK_STATE__TASK_LOST,
                                      MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_DISCONNECTED,
                                      "Agent disconnected", -1);
            cm_strmap_put(&agent->lost_tasks, key, agent);
        }
        cm_master_complete_task(m, t);
    }
    free(v);
}

void cm_master_agent_disconnected(struct cm_master *m, struct cm_agent *agent)
{
    /* The stream is gone (the edge frees it); a place on a shared stream is let go of. */
    cm_master_agent_sink_release(&agent->sink);
    if (m->shutting_down || !agent->connected)
        return;
    CM_INFO(MOD, "Agent %s (%s) disconnected", agent->id, agent->hostname);
    agent->connected = agent->active = false;
    agent->disconnected_time = cm_clock_now(m->clock);
    cm_allocator_activate_agent(m->allocator, agent->id, false);
    cm_master_remove_offers_of(m, &agent->offers, true);
    lose_uncheckpointed_tasks(m, agent);
}

void cm_master_ping_agents(struct cm_master *m)
{
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__PING;
    double now = cm_clock_now(m->clock);
    double limit = m->flags->agent_ping_timeout * (double)m->flags->max_agent_ping_timeouts;
    size_t n = 0;
    struct cm_agent **silent = cm_xcalloc(cm_strmap_count(&m->agents), sizeof *silent);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->agents); cm_strmap_iter_next(&it);) {
        struct cm_agent *a = it.cur->value;
        if (!a->connected) {
            /* A closed stream gets the same budget as missed pings to come back. */
            if (a->disconnected_time > 0 && now - a->disconnected_time >= limit)
                silent[n++] = a;
            continue;
        }
        struct cm_agent_stream *ss;
        if (now - a->last_pong >= limit)
            silent[n++] = a;
        else if ((ss = cm_master_sink_agent_stream(&a->sink)))
            cm_master_agent_stream_ping_due(ss); /* one PING per shared stream, below */
        else
            cm_master_send_agent(m, a, &ev);
    }
    cm_master_agent_streams_ping(m);
    /* Collected first: marking an agent unreachable removes it from m->agents. All of them go
     * into the registry in one store (registrar.h, cm_registrar_hold). */
    cm_registrar_hold(m->registrar);
    for (size_t i = 0; i < n; i++) {
        struct cm_agent *a = silent[i];
        char why[128];
        if (a->connected)
            snprintf(why, sizeof why, "missed %ld pings", m->flags->max_agent_ping_timeouts);
        else
            snprintf(why, sizeof why, "did not reconnect within %gs", limit);
        cm_master_mark_agent_unreachable(m, a, why);
    }
    cm_registrar_release(m->registrar);
    free(silent);
}

void cm_agent_free(struct cm_agent *a)
{
    if (!a)
        return;
    cm_master_executors_free_agent(a);
    cm_strmap_cleanup(&a->tasks);
    cm_strmap_cleanup(&a->offers);
    cm_strmap_cleanup(&a->lost_tasks);
    cm_resources_cleanup(&a->total);
    cm_resources_cleanup(&a->used);
    cm_resources_cleanup(&a->offered);
    if (a->info)
        protobuf_c_message_free_unpacked(&a->info->base, NULL);
    free(a->capabilities);
    free(a->id);
    free(a->principal);
    free(a->pid);
    free(a->ip);
    free(a->hostname);
    free(a->version);
    free(a);
}
