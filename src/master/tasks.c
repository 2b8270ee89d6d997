/* tasks.c: tasks in the master — creation, status updates and history, completion,
 * unreachable tasks, master-generated updates, RUN_TASK and KILL_TASK to the agent. Part of the
 * master's core: it calls only the core and src/common. See master.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "allocator/allocator.h"
#include "codec.h"
#include "errors.h"
#include "http_server.h"
#include "log.h"
#include "master.h"
#include "util.h"

#define MOD "master"
#define MAX_STATUSES 32

/* ------------------------------------------------------------------------------------------ */
/* small helpers */

const char *cm_task_state_name(int state)
{
    return cm_enum_name_or(&mesos__v1__task_state__descriptor, state, "TASK_UNKNOWN");
}

int cm_master_task_state_for(const struct cm_framework *fw, int state)
{
    if (fw && fw->partition_aware)
        return state;
    switch (state) {
    case MESOS__V1__TASK_STATE__TASK_DROPPED:
    case MESOS__V1__TASK_STATE__TASK_UNREACHABLE:
    case MESOS__V1__TASK_STATE__TASK_GONE:
    case MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR:
    case MESOS__V1__TASK_STATE__TASK_UNKNOWN: return MESOS__V1__TASK_STATE__TASK_LOST;
    default: return state;
    }
}

static void lower_copy(char *dst, size_t len, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < len; i++)
        dst[i] = (char)((src[i] >= 'A' && src[i] <= 'Z') ? src[i] + 32 : src[i]);
    dst[i] = 0;
}

void cm_master_count_status(struct cm_master *m, int state, int source, bool has_source, int reason,
                            bool has_reason)
{
    if (state >= 0 && state < 16 && cm_task_state_terminal(state))
        m->metrics.tasks_terminal[state]++;
    if (!has_source || !has_reason)
        return;
    /* Values from the wire were checked at decode; a name still missing (a value only our own
     * code could produce) is not counted rather than printed as NULL. */
    const char *sv = cm_enum_name(&mesos__v1__task_status__source__descriptor, source);
    const char *rv = cm_enum_name(&mesos__v1__task_status__reason__descriptor, reason);
    if (!sv || !rv)
        return;
    char st[64], so[64], re[96], key[256];
    lower_copy(st, sizeof st, cm_task_state_name(state));
    lower_copy(so, sizeof so, sv);
    lower_copy(re, sizeof re, rv);
    snprintf(key, sizeof key, "master/%s/%s/%s", st, so, re);
    uint64_t *c = cm_strmap_get(&m->metrics.task_reasons, key);
    if (!c) {
        c = cm_xcalloc(1, sizeof *c);
        cm_strmap_put(&m->metrics.task_reasons, key, c);
    }
    (*c)++;
}

/* ------------------------------------------------------------------------------------------ */
/* tasks */

struct cm_task *cm_master_add_task(struct cm_master *m, struct cm_framework *fw,
                                   struct cm_agent *agent, const Mesos__V1__TaskInfo *info,
                                   const struct cm_resources *res, const char *role)
{
    struct cm_task *t = cm_xcalloc(1, sizeof *t);
    t->id = cm_xstrdup(info->task_id->value);
    t->fw = fw;
    t->agent = agent;
    t->agent_id = cm_xstrdup(agent->id);
    t->role = cm_xstrdup(role);
    t->info = (Mesos__V1__TaskInfo *)cm_pb_dup(&info->base);
    t->state = MESOS__V1__TASK_STATE__TASK_STAGING;
    t->status_update_state = -1;
    cm_resources_init(&t->resources);
    cm_resources_copy(&t->resources, res);
    t->updated = cm_clock_now(m->clock);
    cm_strmap_put(&fw->tasks, t->id, t);
    char key[600];
    snprintf(key, sizeof key, "%s %s", fw->id, t->id);
    cm_strmap_put(&agent->tasks, key, t);
    cm_resources_add(&fw->used, res);
    cm_resources_add(&agent->used, res);
    cm_master_task_gauge(m, t->state, 1);
    cm_master_notify_task_added(m, t);
    return t;
}

/* Active tasks by state, for the master/tasks_<state> gauges. */
void cm_master_task_gauge(struct cm_master *m, int state, int delta)
{
    if (state >= 0 && state < 16)
        m->metrics.task_gauge[state] += delta;
}

static void task_release(struct cm_master *m, struct cm_task *t)
{
    if (t->released)
        return;
    t->released = true;
    cm_allocator_recover(m->allocator, t->fw->id, t->role, t->agent_id, &t->resources, 0);
    cm_resources_subtract(&t->fw->used, &t->resources);
    if (t->agent)
        cm_resources_subtract(&t->agent->used, &t->resources);
}

/* Takes void * so that it can free the values of maps and rings of tasks. */
void cm_task_free(void *p)
{
    struct cm_task *t = p;
    if (!t)
        return;
    free(t->id);
    free(t->agent_id);
    free(t->role);
    if (t->info)
        protobuf_c_message_free_unpacked(&t->info->base, NULL);
    for (size_t i = 0; i < t->nstatuses; i++)
        protobuf_c_message_free_unpacked(&t->statuses[i]->base, NULL);
    free(t->statuses);
    cm_resources_cleanup(&t->resources);
    free(t);
}

static void task_add_status(struct cm_task *t, const Mesos__V1__TaskStatus *st)
{
    if (t->nstatuses == MAX_STATUSES) {
        protobuf_c_message_free_unpacked(&t->statuses[0]->base, NULL);
        memmove(t->statuses, t->statuses + 1, (MAX_STATUSES - 1) * sizeof *t->statuses);
        t->nstatuses--;
    }
    t->statuses = cm_xrealloc(t->statuses, (t->nstatuses + 1) * sizeof *t->statuses);
    t->statuses[t->nstatuses++] = (Mesos__V1__TaskStatus *)cm_pb_dup(&st->base);
}

void cm_master_update_task(struct cm_master *m, struct cm_task *t, const Mesos__V1__TaskStatus *st,
                           int latest_state)
{
    int old = t->state;
    int now_state = latest_state >= 0 ? latest_state : (int)st->state;
    if (cm_strmap_get(&t->fw->tasks, t->id) == t) {
        cm_master_task_gauge(m, old, -1);
        cm_master_task_gauge(m, now_state, 1);
    }
    t->state = now_state;
    t->status_update_state = (int)st->state;
    t->has_uuid = st->has_uuid && st->uuid.len == 16;
    if (t->has_uuid)
        memcpy(t->uuid, st->uuid.data, 16);
    task_add_status(t, st);
    t->updated = st->has_timestamp ? st->timestamp : cm_clock_now(m->clock);
    if (now_state != old)
        cm_master_count_status(m, now_state, st->source, st->has_source, st->reason,
                               st->has_reason);
    if (cm_task_state_terminal(now_state))
        task_release(m, t);
    if (now_state != old)
        cm_master_notify_task_updated(m, t, st);
    if (cm_task_state_terminal(now_state) && t->agent &&
        t->agent->drain_state == MESOS__V1__DRAIN_STATE__DRAINING)
        cm_master_drain_progress(m, t->agent);
}

void cm_master_restore_task(struct cm_master *m, struct cm_task *t, const Mesos__V1__Task *rep)
{
    cm_master_task_gauge(m, t->state, -1);
    t->state = rep->state;
    cm_master_task_gauge(m, t->state, 1);
    for (size_t i = 0; i < rep->n_statuses; i++)
        task_add_status(t, rep->statuses[i]);
    if (rep->n_statuses > 0 && rep->statuses[rep->n_statuses - 1]->has_timestamp)
        t->updated = rep->statuses[rep->n_statuses - 1]->timestamp;
    t->status_update_state = rep->has_status_update_state ? (int)rep->status_update_state : -1;
    t->has_uuid = rep->has_status_update_uuid && rep->status_update_uuid.len == 16;
    if (t->has_uuid)
        memcpy(t->uuid, rep->status_update_uuid.data, 16);
    if (cm_task_state_terminal(t->state)) {
        /* Never allocated: the caller only tells the allocator about live tasks. */
        t->released = true;
        cm_resources_subtract(&t->fw->used, &t->resources);
        if (t->agent)
            cm_resources_subtract(&t->agent->used, &t->resources);
    }
}

/* Takes a task out of the live state: its resources go back to the allocator and it leaves its
 * framework's active tasks and its agent's index. The caller then keeps it as completed or
 * unreachable (or frees it). */
static void task_detach(struct cm_master *m, struct cm_task *t)
{
    struct cm_framework *fw = t->fw;
    task_release(m, t);
    if (cm_strmap_get(&fw->tasks, t->id) == t) {
        cm_master_task_gauge(m, t->state, -1);
        cm_strmap_remove(&fw->tasks, t->id);
    }
    if (t->agent) {
        char key[600];
        snprintf(key, sizeof key, "%s %s", fw->id, t->id);
        cm_strmap_remove(&t->agent->tasks, key);
        t->agent = NULL;
    }
}

void cm_master_complete_task(struct cm_master *m, struct cm_task *t)
{
    task_detach(m, t);
    cm_ring_push(&t->fw->completed_tasks, t);
}

void cm_master_task_unreachable(struct cm_master *m, struct cm_task *t, double when)
{
    struct cm_framework *fw = t->fw;
    task_detach(m, t);
    t->unreachable_time = when;
    size_t cap = (size_t)m->flags->max_unreachable_tasks_per_framework;
    if (cap == 0) {
        cm_task_free(t);
        return;
    }
    struct cm_task *old = cm_strmap_put(&fw->unreachable_tasks, t->id, t);
    if (old)
        cm_master_forget_unreachable_task(fw, old, true);
    t->uprev = fw->utail;
    t->unext = NULL;
    if (fw->utail)
        fw->utail->unext = t;
    else
        fw->uhead = t;
    fw->utail = t;
    while (cm_strmap_count(&fw->unreachable_tasks) > cap)
        cm_master_forget_unreachable_task(fw, fw->uhead, false);
}

void cm_master_forget_unreachable_task(struct cm_framework *fw, struct cm_task *t, bool unlinked)
{
    if (!unlinked && cm_strmap_get(&fw->unreachable_tasks, t->id) == t)
        cm_strmap_remove(&fw->unreachable_tasks, t->id);
    if (t->uprev)
        t->uprev->unext = t->unext;
    else if (fw->uhead == t)
        fw->uhead = t->unext;
    if (t->unext)
        t->unext->uprev = t->uprev;
    else if (fw->utail == t)
        fw->utail = t->uprev;
    cm_task_free(t);
}

void cm_master_send_master_update(struct cm_master *m, struct cm_framework *fw, const char *task_id,
                                  const char *agent_id, int state, int reason, const char *message)
{
    cm_master_send_master_update_ex(m, fw, task_id, agent_id, state, reason, message, -1);
}

void cm_master_send_master_update_ex(struct cm_master *m, struct cm_framework *fw,
                                     const char *task_id, const char *agent_id, int state,
                                     int reason, const char *message, double unreachable_time)
{
    Mesos__V1__TimeInfo ut = MESOS__V1__TIME_INFO__INIT;
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    tid.value = (char *)task_id;
    st.task_id = &tid;
    st.state = state;
    if (agent_id) {
        aid.value = (char *)agent_id;
        st.agent_id = &aid;
    }
    st.has_source = 1;
    st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER;
    st.has_reason = 1;
    st.reason = reason;
    st.message = (char *)message;
    st.has_timestamp = 1;
    st.timestamp = cm_clock_now(m->clock);
    if (unreachable_time >= 0) {
        ut.nanoseconds = (int64_t)(unreachable_time * 1e9);
        st.unreachable_time = &ut;
    }
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Update up = MESOS__V1__SCHEDULER__EVENT__UPDATE__INIT;
    up.status = &st;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE;
    ev.update = &up;
    cm_master_send_event(m, fw, &ev);
}

void cm_master_transition_task(struct cm_master *m, struct cm_framework *fw, struct cm_task *t,
                               const char *agent_id, int state, int reason, const char *message,
                               double unreachable_time)
{
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__TimeInfo ut = MESOS__V1__TIME_INFO__INIT;
    tid.value = t->id;
    st.task_id = &tid;
    st.state = state;
    st.has_source = 1;
    st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER;
    st.has_reason = 1;
    st.reason = reason;
    st.has_timestamp = 1;
    st.timestamp = cm_clock_now(m->clock);
    if (unreachable_time >= 0) {
        ut.nanoseconds = (int64_t)(unreachable_time * 1e9);
        st.unreachable_time = &ut;
    }
    cm_master_update_task(m, t, &st, -1);
    cm_master_send_master_update_ex(m, fw, t->id, agent_id, state, reason, message,
                                    unreachable_time);
}

static bool is_group_task(const struct cm_task *t)
{
    const Mesos__V1__ExecutorInfo *e = t->info->executor;
    return e && e->has_type && e->type == MESOS__V1__EXECUTOR_INFO__TYPE__DEFAULT;
}

void cm_master_send_run_task_group(struct cm_master *m, struct cm_task **tasks, size_t n)
{
    if (n == 0)
        return;
    struct cm_task *t0 = tasks[0];
    Mesos__V1__TaskInfo *shallow = cm_xcalloc(n, sizeof *shallow);
    Mesos__V1__TaskInfo **ptrs = cm_xcalloc(n, sizeof *ptrs);
    for (size_t i = 0; i < n; i++) {
        shallow[i] = *tasks[i]->info;
        shallow[i].executor = NULL; /* the group's executor travels once, beside it */
        cm_resources_to_proto(&tasks[i]->resources, tasks[i]->role, &shallow[i].resources,
                              &shallow[i].n_resources);
        ptrs[i] = &shallow[i];
        tasks[i]->launch_unacked = true;
    }
    Mesos__V1__ExecutorInfo exec = *t0->info->executor;
    struct cm_resources er;
    cm_resources_init(&er);
    char w[128];
    bool exec_res =
        cm_resources_from_proto(&er, exec.resources, exec.n_resources, w, sizeof w) == 0;
    if (exec_res)
        cm_resources_to_proto(&er, t0->role, &exec.resources, &exec.n_resources);
    cm_resources_cleanup(&er);
    Mesos__V1__TaskGroupInfo group = MESOS__V1__TASK_GROUP_INFO__INIT;
    group.n_tasks = n;
    group.tasks = ptrs;
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__RunTaskGroup rg =
        CMESOS__INTERNAL__AGENT_EVENT__RUN_TASK_GROUP__INIT;
    rg.framework_info = t0->fw->info;
    rg.executor = &exec;
    rg.task_group = &group;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK_GROUP;
    ev.run_task_group = &rg;
    cm_master_send_agent(m, t0->agent, &ev);
    for (size_t i = 0; i < n; i++)
        cm_resources_proto_free(shallow[i].resources, shallow[i].n_resources);
    if (exec_res)
        cm_resources_proto_free(exec.resources, exec.n_resources);
    free(shallow);
    free(ptrs);
}

void cm_master_send_run_task(struct cm_master *m, struct cm_task *t)
{
    if (is_group_task(t)) {
        cm_master_send_run_task_group(m, &t, 1);
        return;
    }
    /* The agent gets the task with its resources in the offer's allocation role. */
    Mesos__V1__TaskInfo shallow = *t->info;
    cm_resources_to_proto(&t->resources, t->role, &shallow.resources, &shallow.n_resources);
    /* A custom executor's resources likewise (validated at ACCEPT, so they parse). */
    Mesos__V1__ExecutorInfo exec;
    bool exec_res = false;
    if (t->info->executor) {
        exec = *t->info->executor;
        struct cm_resources er;
        cm_resources_init(&er);
        char w[128];
        if (cm_resources_from_proto(&er, exec.resources, exec.n_resources, w, sizeof w) == 0) {
            cm_resources_to_proto(&er, t->role, &exec.resources, &exec.n_resources);
            exec_res = true;
        }
        cm_resources_cleanup(&er);
        shallow.executor = &exec;
    }
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__RunTask rt = CMESOS__INTERNAL__AGENT_EVENT__RUN_TASK__INIT;
    rt.framework_info = t->fw->info;
    rt.task = &shallow;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK;
    ev.run_task = &rt;
    t->launch_unacked = true;
    cm_master_send_agent(m, t->agent, &ev);
    cm_resources_proto_free(shallow.resources, shallow.n_resources);
    if (exec_res)
        cm_resources_proto_free(exec.resources, exec.n_resources);
}

void cm_master_send_kill(struct cm_master *m, struct cm_task *t, const Mesos__V1__KillPolicy *kp)
{
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__KillTask kt = CMESOS__INTERNAL__AGENT_EVENT__KILL_TASK__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    tid.value = t->id;
    kt.framework_id = t->fw->info->id;
    kt.task_id = &tid;
    kt.kill_policy = (Mesos__V1__KillPolicy *)kp;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK;
    ev.kill_task = &kt;
    cm_master_send_agent(m, t->agent, &ev);
}

void cm_master_send_pending_kills(struct cm_master *m, struct cm_agent *a)
{
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &a->tasks); cm_strmap_iter_next(&it);) {
        struct cm_task *t = it.cur->value;
        if (t->kill_pending) {
            t->kill_pending = false;
            cm_master_send_kill(m, t, NULL);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* acknowledgements to agents, one ACKNOWLEDGE event per agent and loop turn */

/* One held acknowledgement: the struct and its three values in one allocation. */
struct held_ack {
    char *framework_id, *task_id;
    uint8_t *uuid;
    size_t uuid_len;
};

struct ack_batch {
    struct held_ack **v;
    size_t n, cap;
};

static void ack_batch_free(void *p)
{
    struct ack_batch *b = p;
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i]);
    free(b->v);
    free(b);
}

/* Batches up to this size are built on the stack (most hold one to a few acknowledgements). */
#define ACK_STACK 16

static void send_ack_event(struct cm_master *m, struct cm_agent *a, struct held_ack **v, size_t n)
{
    Cmesos__Internal__AgentEvent__Acknowledge ae_s[ACK_STACK], *aev_s[ACK_STACK];
    Mesos__V1__FrameworkID fids_s[ACK_STACK];
    Mesos__V1__TaskID tids_s[ACK_STACK];
    bool heap = n > ACK_STACK;
    Cmesos__Internal__AgentEvent__Acknowledge *ae = heap ? cm_xcalloc(n, sizeof *ae) : ae_s;
    Cmesos__Internal__AgentEvent__Acknowledge **aev = heap ? cm_xcalloc(n, sizeof *aev) : aev_s;
    Mesos__V1__FrameworkID *fids = heap ? cm_xcalloc(n, sizeof *fids) : fids_s;
    Mesos__V1__TaskID *tids = heap ? cm_xcalloc(n, sizeof *tids) : tids_s;
    for (size_t i = 0; i < n; i++) {
        mesos__v1__framework_id__init(&fids[i]);
        mesos__v1__task_id__init(&tids[i]);
        cmesos__internal__agent_event__acknowledge__init(&ae[i]);
        fids[i].value = v[i]->framework_id;
        tids[i].value = v[i]->task_id;
        ae[i].framework_id = &fids[i];
        ae[i].task_id = &tids[i];
        ae[i].uuid.data = v[i]->uuid;
        ae[i].uuid.len = v[i]->uuid_len;
        aev[i] = &ae[i];
    }
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__ACKNOWLEDGE;
    /* A lone acknowledgement keeps the single form, which every agent understands. */
    if (n == 1) {
        ev.acknowledge = &ae[0];
    } else {
        ev.acknowledges = aev;
        ev.n_acknowledges = n;
    }
    cm_master_send_agent(m, a, &ev);
    if (heap) {
        free(ae);
        free(aev);
        free(fids);
        free(tids);
    }
}

void cm_master_flush_acks(struct cm_master *m)
{
    if (cm_strmap_count(&m->ack_batches) == 0)
        return;
    /* Detached first: nothing sent below can add to the map being walked. */
    struct cm_strmap batches = m->ack_batches;
    cm_strmap_init(&m->ack_batches);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &batches); cm_strmap_iter_next(&it);) {
        struct ack_batch *b = it.cur->value;
        struct cm_agent *a = cm_master_agent(m, it.cur->key);
        if (a && a->connected)
            send_ack_event(m, a, b->v, b->n);
        else
            m->metrics.dropped_messages += b->n; /* the agent resends; its next stream gets them */
    }
    cm_strmap_cleanup_values(&batches, ack_batch_free);
    /* Written now, not at the server's end of the turn: the scheduler's ACKNOWLEDGE calls were
     * answered 202 since, and the agent must not learn of an acknowledgement after the
     * scheduler learns it was accepted (a master killed in between would lose it). */
    if (m->http)
        cm_http_server_flush(m->http);
}

static void acks_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cm_master_flush_acks(arg);
}

void cm_master_send_ack(struct cm_master *m, struct cm_agent *a, const char *framework_id,
                        const char *task_id, const uint8_t *uuid, size_t uuid_len)
{
    size_t fl = strlen(framework_id) + 1, tl = strlen(task_id) + 1;
    struct held_ack *h = cm_xmalloc(sizeof *h + fl + tl + uuid_len);
    h->framework_id = (char *)(h + 1);
    h->task_id = h->framework_id + fl;
    h->uuid = (uint8_t *)h->task_id + tl;
    h->uuid_len = uuid_len;
    memcpy(h->framework_id, framework_id, fl);
    memcpy(h->task_id, task_id, tl);
    if (uuid_len)
        memcpy(h->uuid, uuid, uuid_len);
    if (!m->base) {
        send_ack_event(m, a, &h, 1);
        free(h);
        return;
    }
    if (!m->ack_ev) {
        m->ack_ev = event_new(m->base, -1, 0, acks_flush_cb, m);
        if (!m->ack_ev)
            abort();
    }
    struct ack_batch *b = cm_strmap_get(&m->ack_batches, a->id);
    if (!b) {
        b = cm_xcalloc(1, sizeof *b);
        cm_strmap_put(&m->ack_batches, a->id, b);
    }
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->v = cm_xrealloc(b->v, b->cap * sizeof *b->v);
    }
    b->v[b->n++] = h;
    /* Runs after the callbacks already due in this turn (the other requests read with this
     * one), so their acknowledgements join the batch. */
    if (!event_pending(m->ack_ev, EV_TIMEOUT, NULL))
        event_active(m->ack_ev, EV_TIMEOUT, 0);
}

void cm_master_acks_free(struct cm_master *m)
{
    cm_strmap_cleanup_values(&m->ack_batches, ack_batch_free);
    if (m->ack_ev)
        event_free(m->ack_ev);
    m->ack_ev = NULL;
}
