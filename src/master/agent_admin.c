/* agent_admin.c: what an operator does to agents through the core — deactivate, reactivate,
 * drain (DRAINING -> DRAINED, optionally gone) and mark gone (docs/operator-api.md). See
 * master.h, "operator actions on agents". Core layer: no HTTP here; the operator API's call
 * layer (operator.c) turns calls into these functions. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator/allocator.h"
#include "errors.h"
#include "log.h"
#include "master.h"
#include "registrar.h"

#define MOD "master"

static struct cm_agent *find(struct cm_master *m, const char *id, char *why, size_t whylen)
{
    struct cm_agent *a = cm_master_agent(m, id);
    if (!a)
        snprintf(why, whylen, "Agent '%s' not found", id);
    return a;
}

static void state_stored(void *arg, int err)
{
    struct cm_master *m = arg;
    if (err) {
        CM_ERROR(MOD, "Failed to store an agent's operator state in the registry: %s",
                 cm_strerror(err));
        cm_master_registrar_failed(m);
    }
}

/* Records a's deactivated / drain state in the registry, so that a restarted master brings the
 * agent back in it when it re-registers. The master has acted already (the answer of the
 * operator call does not wait); a failed store fails the registrar like any other. */
static void persist_state(struct cm_master *m, const struct cm_agent *a)
{
    struct cm_reg_agent_state st = {
        .deactivated = a->deactivated,
        .drain_state = a->drain_state,
        .has_grace = a->drain_state && a->drain_has_grace,
        .grace_ns = a->drain_state && a->drain_has_grace ? a->drain_grace_ns : 0,
        .mark_gone = a->drain_state && a->drain_mark_gone,
    };
    cm_registrar_set_agent_state(m->registrar, a->id, &st, state_stored, m);
}

void cm_master_restore_agent_state(struct cm_master *m, struct cm_agent *a)
{
    const struct cm_reg_agent_state *st = cm_registrar_agent_state(m->registrar, a->id);
    if (!st)
        return;
    a->deactivated = st->deactivated;
    a->drain_state = st->drain_state;
    a->drain_has_grace = st->has_grace;
    a->drain_grace_ns = st->grace_ns;
    a->drain_mark_gone = st->mark_gone;
    CM_INFO(MOD, "Agent %s comes back%s%s (from the registry)", a->id,
            st->deactivated ? " deactivated" : "",
            st->drain_state == MESOS__V1__DRAIN_STATE__DRAINING  ? ", draining"
            : st->drain_state == MESOS__V1__DRAIN_STATE__DRAINED ? ", drained"
                                                                 : "");
}

void cm_master_apply_stored_weights(struct cm_master *m)
{
    struct cm_strmap_iter it;
    size_t n = 0;
    for (cm_strmap_iter_init(&it, cm_registrar_weights(m->registrar)); cm_strmap_iter_next(&it);
         n++)
        cm_allocator_set_weight(m->allocator, it.cur->key, *(const double *)it.cur->value);
    if (n)
        CM_INFO(MOD, "Recovered the weights of %zu roles from the registry", n);
}

/* Stops offering a: the allocator forgets it as a candidate and outstanding offers go back. */
static void stop_offering(struct cm_master *m, struct cm_agent *a)
{
    a->deactivated = true;
    cm_allocator_activate_agent(m->allocator, a->id, false);
    cm_master_remove_offers_of(m, &a->offers, true);
}

int cm_master_deactivate_agent(struct cm_master *m, const char *id, char *why, size_t whylen)
{
    struct cm_agent *a = find(m, id, why, whylen);
    if (!a)
        return 404;
    if (!a->deactivated)
        CM_INFO(MOD, "Deactivating agent %s (%s) on the operator's request", a->id, a->hostname);
    stop_offering(m, a);
    persist_state(m, a);
    return 200;
}

int cm_master_reactivate_agent(struct cm_master *m, const char *id, char *why, size_t whylen)
{
    struct cm_agent *a = find(m, id, why, whylen);
    if (!a)
        return 404;
    CM_INFO(MOD, "Reactivating agent %s (%s) on the operator's request", a->id, a->hostname);
    a->deactivated = false;
    a->drain_state = 0;
    a->drain_has_grace = a->drain_mark_gone = false;
    if (a->connected)
        cm_allocator_activate_agent(m->allocator, a->id, true);
    persist_state(m, a);
    cm_master_allocate_soon(m);
    return 200;
}

int cm_master_drain_agent(struct cm_master *m, const char *id, bool has_grace, int64_t grace_ns,
                          bool mark_gone, char *why, size_t whylen)
{
    struct cm_agent *a = find(m, id, why, whylen);
    if (!a)
        return 404;
    if (has_grace && grace_ns < 0) {
        snprintf(why, whylen, "'max_grace_period' must not be negative");
        return 400;
    }
    CM_INFO(MOD, "Draining agent %s (%s)%s", a->id, a->hostname, mark_gone ? ", then gone" : "");
    stop_offering(m, a);
    if (a->drain_state != MESOS__V1__DRAIN_STATE__DRAINED)
        a->drain_state = MESOS__V1__DRAIN_STATE__DRAINING;
    a->drain_has_grace = has_grace;
    a->drain_grace_ns = grace_ns;
    a->drain_mark_gone = mark_gone;
    persist_state(m, a);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &a->tasks); cm_strmap_iter_next(&it);) {
        struct cm_task *t = it.cur->value;
        if (cm_task_state_terminal(t->state))
            continue;
        t->kill_asked = true;
        if (!a->connected) {
            t->kill_pending = true;
            continue;
        }
        /* The task's own grace period, capped by the drain's (Mesos: the smaller one). */
        Mesos__V1__KillPolicy kp = MESOS__V1__KILL_POLICY__INIT;
        Mesos__V1__DurationInfo d = MESOS__V1__DURATION_INFO__INIT;
        const Mesos__V1__KillPolicy *own = t->info ? t->info->kill_policy : NULL;
        if (has_grace) {
            d.nanoseconds = grace_ns;
            if (own && own->grace_period && own->grace_period->nanoseconds < grace_ns)
                d.nanoseconds = own->grace_period->nanoseconds;
            kp.grace_period = &d;
            cm_master_send_kill(m, t, &kp);
        } else {
            cm_master_send_kill(m, t, own);
        }
    }
    cm_master_check_drained(m, id);
    return 200;
}

void cm_master_check_drained(struct cm_master *m, const char *id)
{
    struct cm_agent *a = cm_master_agent(m, id);
    if (!a || a->drain_state != MESOS__V1__DRAIN_STATE__DRAINING)
        return;
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &a->tasks); cm_strmap_iter_next(&it);) {
        const struct cm_task *t = it.cur->value;
        if (!cm_task_state_terminal(t->state))
            return;
    }
    CM_INFO(MOD, "Agent %s (%s) is drained", a->id, a->hostname);
    a->drain_state = MESOS__V1__DRAIN_STATE__DRAINED;
    persist_state(m, a);
    if (a->drain_mark_gone) {
        char why[256];
        cm_master_mark_agent_gone(m, a->id, why, sizeof why);
    }
}

static void drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_master *m = arg;
    /* Ids first: marking an agent gone removes it from m->agents. */
    size_t n = 0, cap = cm_strmap_count(&m->agents);
    char **ids = cm_xcalloc(cap ? cap : 1, sizeof *ids);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->agents); cm_strmap_iter_next(&it);) {
        const struct cm_agent *a = it.cur->value;
        if (a->drain_state == MESOS__V1__DRAIN_STATE__DRAINING && n < cap)
            ids[n++] = cm_xstrdup(a->id);
    }
    for (size_t i = 0; i < n; i++) {
        cm_master_check_drained(m, ids[i]);
        free(ids[i]);
    }
    free(ids);
}

void cm_master_drain_progress(struct cm_master *m, struct cm_agent *a)
{
    (void)a;
    /* Deferred: the caller is in the middle of applying a status update to a task of a. */
    if (!m->base)
        return;
    if (!m->drain_ev)
        m->drain_ev = evtimer_new(m->base, drain_tick, m);
    if (!evtimer_pending(m->drain_ev, NULL)) {
        struct timeval tv = {0, 0};
        evtimer_add(m->drain_ev, &tv);
    }
}

void cm_master_admin_free(struct cm_master *m)
{
    if (m->drain_ev)
        event_free(m->drain_ev);
    m->drain_ev = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* gone */

struct gone_ctx {
    struct cm_master *m;
    char *id;
};

static void gone_recorded(void *arg, int err)
{
    struct gone_ctx *ctx = arg;
    struct cm_master *m = ctx->m;
    if (err) {
        CM_ERROR(MOD, "Failed to mark agent %s gone in the registry: %s", ctx->id,
                 cm_strerror(err));
        cm_master_registrar_failed(m);
        goto out;
    }
    cm_strmap_remove(&m->recovering_agents, ctx->id);
    struct cm_agent *a = cm_master_agent(m, ctx->id);
    if (!a)
        goto out;
    CM_INFO(MOD, "Agent %s (%s) marked gone", a->id, a->hostname);
    if (cm_sink_open(&a->sink)) {
        Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
        ev.has_type = 1;
        ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN;
        ev.message = "Agent has been marked gone";
        cm_master_send_agent(m, a, &ev);
        cm_sink_end(&a->sink);
    }
    a->connected = a->active = false;
    cm_allocator_activate_agent(m->allocator, a->id, false);
    cm_master_remove_offers_of(m, &a->offers, true);
    size_t n = cm_strmap_count(&a->tasks), i = 0;
    struct cm_task **tasks = cm_xcalloc(n ? n : 1, sizeof *tasks);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &a->tasks); cm_strmap_iter_next(&it);)
        tasks[i++] = it.cur->value;
    for (i = 0; i < n; i++) {
        struct cm_task *t = tasks[i];
        if (!cm_task_state_terminal(t->state)) {
            int state =
                cm_master_task_state_for(t->fw, MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR);
            cm_master_transition_task(
                m, t->fw, t, a->id, state,
                MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_REMOVED_BY_OPERATOR,
                "Agent has been marked gone", -1);
        }
        cm_master_complete_task(m, t);
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
    m->metrics.slave_removals++;
    cm_strmap_remove(&m->agents, a->id);
    cm_master_notify_agent_removed(m, a->id);
    cm_agent_free(a);
out:
    free(ctx->id);
    free(ctx);
}

int cm_master_mark_agent_gone(struct cm_master *m, const char *id, char *why, size_t whylen)
{
    if (cm_registrar_gone(m->registrar, id, NULL))
        return 200;
    struct cm_agent *a = cm_master_agent(m, id);
    if (!a && !cm_registrar_admitted(m->registrar, id) &&
        !cm_registrar_unreachable(m->registrar, id, NULL)) {
        snprintf(why, whylen, "Agent '%s' not found", id);
        return 404;
    }
    if (a)
        stop_offering(m, a); /* at once; the registry is written before anything is given up */
    struct gone_ctx *ctx = cm_xcalloc(1, sizeof *ctx);
    ctx->m = m;
    ctx->id = cm_xstrdup(id);
    cm_registrar_mark_gone(m->registrar, id, cm_clock_now(m->clock), gone_recorded, ctx);
    return 200;
}
