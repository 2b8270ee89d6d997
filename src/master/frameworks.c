/* frameworks.c: frameworks in the master — subscription and failover, FrameworkInfo updates,
 * disconnection and removal, frameworks recovered from agents. Part of the master's core: it
 * calls only the core and src/common. See master.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator/allocator.h"
#include "framework_info.h"
#include "codec.h"
#include "errors.h"
#include "log.h"
#include "master.h"
#include "util.h"

#define MOD "master"

/* The deprecated FrameworkInfo.role is still how non-MULTI_ROLE frameworks name their role. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static const char *info_role(const Mesos__V1__FrameworkInfo *info)
{
    return info->role && info->role[0] ? info->role : "*";
}
#pragma GCC diagnostic pop

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char **dup_strv(char *const *v, size_t n)
{
    char **out = cm_xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = cm_xstrdup(v[i]);
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* frameworks */

static void fw_set_info(struct cm_framework *fw, const Mesos__V1__FrameworkInfo *info,
                        const char *id, char *const *suppressed, size_t nsuppressed)
{
    Mesos__V1__FrameworkInfo *copy = (Mesos__V1__FrameworkInfo *)cm_pb_dup(&info->base);
    if (!copy->id) {
        copy->id = cm_xcalloc(1, sizeof *copy->id);
        mesos__v1__framework_id__init(copy->id);
    } else {
        free(copy->id->value);
    }
    copy->id->value = cm_xstrdup(id);
    if (fw->info) {
        /* user and checkpoint are immutable: a re-subscription silently keeps the old ones. */
        free(copy->user);
        copy->user = cm_xstrdup(fw->info->user);
        copy->has_checkpoint = fw->info->has_checkpoint;
        copy->checkpoint = fw->info->checkpoint;
        protobuf_c_message_free_unpacked(&fw->info->base, NULL);
    }
    fw->info = copy;
    free_strv(fw->roles, fw->nroles);
    free_strv(fw->suppressed, fw->nsuppressed);
    fw->multi_role =
        cm_framework_has_capability(copy, MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__MULTI_ROLE);
    fw->partition_aware = cm_framework_has_capability(
        copy, MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE);
    if (fw->multi_role) {
        fw->roles = dup_strv(copy->roles, copy->n_roles);
        fw->nroles = copy->n_roles;
    } else {
        const char *r = info_role(copy);
        fw->roles = dup_strv((char *const *)&r, 1);
        fw->nroles = 1;
    }
    fw->suppressed = dup_strv(suppressed, nsuppressed);
    fw->nsuppressed = nsuppressed;
}

static struct cm_framework *fw_new(struct cm_master *m, const char *id)
{
    struct cm_framework *fw = cm_xcalloc(1, sizeof *fw);
    fw->id = cm_xstrdup(id);
    cm_strmap_init(&fw->tasks);
    cm_strmap_init(&fw->offers);
    cm_strmap_init(&fw->unreachable_tasks);
    cm_ring_init(&fw->completed_tasks, (size_t)m->flags->max_completed_tasks_per_framework,
                 cm_task_free);
    cm_resources_init(&fw->used);
    cm_resources_init(&fw->offered);
    fw->registered_time = cm_clock_now(m->clock);
    cm_strmap_put(&m->frameworks, fw->id, fw);
    return fw;
}

/* Takes void * so that it can free the values of maps and rings of frameworks. */
void cm_framework_free(void *p)
{
    struct cm_framework *fw = p;
    if (!fw)
        return;
    cm_master_executors_free_framework(fw);
    cm_strmap_cleanup_values(&fw->tasks, cm_task_free);
    cm_ring_cleanup(&fw->completed_tasks);
    cm_strmap_cleanup_values(&fw->unreachable_tasks, cm_task_free); /* = the uhead list */
    cm_strmap_cleanup(&fw->offers);
    free(fw->batch);
    cm_resources_cleanup(&fw->used);
    cm_resources_cleanup(&fw->offered);
    free_strv(fw->roles, fw->nroles);
    free_strv(fw->suppressed, fw->nsuppressed);
    if (fw->info)
        protobuf_c_message_free_unpacked(&fw->info->base, NULL);
    free(fw->id);
    free(fw);
}

static void send_subscribed(struct cm_master *m, struct cm_framework *fw)
{
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Subscribed sub = MESOS__V1__SCHEDULER__EVENT__SUBSCRIBED__INIT;
    sub.framework_id = fw->info->id;
    sub.has_heartbeat_interval_seconds = 1;
    sub.heartbeat_interval_seconds = 15.0;
    sub.master_info = m->info;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED;
    ev.subscribed = &sub;
    cm_master_send_event(m, fw, &ev);
    cm_master_send_simple_event(m, fw, MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT);
}

static void refuse(const struct cm_sink *sink, const char *message)
{
    struct cm_sink s = *sink;
    CM_WARN(MOD, "Refusing subscription: %s", message);
    cm_sink_send_error(&s, message);
    cm_sink_end(&s);
}

struct cm_framework *cm_master_subscribe(struct cm_master *m,
                                         const Mesos__V1__Scheduler__Call *call,
                                         const struct cm_sink *sink, const char *stream_id)
{
    const Mesos__V1__Scheduler__Call__Subscribe *sub = call->subscribe;
    const Mesos__V1__FrameworkInfo *info = sub->framework_info;
    char why[512];
    if (cm_master_validate_framework_info(m, info, sub->suppressed_roles, sub->n_suppressed_roles,
                                          why, sizeof why)) {
        refuse(sink, why);
        return NULL;
    }
    const char *id = info->id && info->id->value && info->id->value[0] ? info->id->value : NULL;
    struct cm_framework *fw = NULL;
    bool fresh = false;
    double now = cm_clock_now(m->clock);
    if (id) {
        m->metrics.messages_reregister_framework++;
        if (cm_strmap_get(&m->completed, id) || cm_strmap_get(&m->removed_ids, id)) {
            refuse(sink, "Framework has been removed");
            return NULL;
        }
        fw = cm_master_framework(m, id);
        if (fw) {
            const char *oldp = fw->info->principal, *newp = info->principal;
            if ((oldp || newp) && (!oldp || !newp || strcmp(oldp, newp) != 0)) {
                refuse(sink, "Changing framework's principal is not allowed.");
                return NULL;
            }
            if (fw->connected) {
                CM_INFO(MOD, "Framework %s failed over", fw->id);
                cm_sink_send_error(&fw->sink, "Framework failed over");
                cm_sink_end(&fw->sink);
            }
            /* The new scheduler instance never saw the old offers: take them back quietly. */
            cm_master_remove_offers_of(m, &fw->offers, false);
            fw->reregistered_time = now;
        } else {
            fw = fw_new(m, id);
            fresh = true;
        }
    } else {
        m->metrics.messages_register_framework++;
        char nid[64];
        snprintf(nid, sizeof nid, "%s-%04llu", m->id, (unsigned long long)m->next_framework++);
        fw = fw_new(m, nid);
        fresh = true;
    }
    fw_set_info(fw, info, fw->id, sub->suppressed_roles, sub->n_suppressed_roles);
    fw->sink = *sink;
    snprintf(fw->stream_id, sizeof fw->stream_id, "%s", stream_id ? stream_id : "");
    fw->connected = fw->active = true;
    fw->recovered = false;
    fw->failover_deadline = 0;
    fw->unregistered_time = 0;
    const char *const *roles = (const char *const *)fw->roles;
    const char *const *supp = (const char *const *)fw->suppressed;
    if (fresh)
        cm_allocator_add_framework(m->allocator, fw->id, roles, fw->nroles, supp, fw->nsuppressed);
    else
        cm_allocator_update_framework(m->allocator, fw->id, roles, fw->nroles, supp,
                                      fw->nsuppressed);
    cm_allocator_activate_framework(m->allocator, fw->id, true);
    CM_INFO(MOD, "Framework %s (%s) subscribed", fw->id, fw->info->name);
    send_subscribed(m, fw);
    if (fresh)
        cm_master_notify_framework_added(m, fw);
    else
        cm_master_notify_framework_updated(m, fw);
    /* A re-subscription may change the FrameworkInfo: the agents refresh their copies. */
    if (!fresh)
        cm_master_send_framework_update(m, fw);
    cm_master_allocate_soon(m);
    return fw;
}

void cm_master_send_framework_update(struct cm_master *m, struct cm_framework *fw)
{
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__UpdateFramework uf =
        CMESOS__INTERNAL__AGENT_EVENT__UPDATE_FRAMEWORK__INIT;
    uf.framework_info = fw->info;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__UPDATE_FRAMEWORK;
    ev.update_framework = &uf;
    /* The agents that run its executors are those holding its tasks (the command executor
     * lives exactly as long as its task); each gets the event once. */
    struct cm_strmap sent;
    cm_strmap_init(&sent);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &fw->tasks); cm_strmap_iter_next(&it);) {
        struct cm_task *t = it.cur->value;
        if (!t->agent || !t->agent->connected || cm_strmap_get(&sent, t->agent->id))
            continue;
        cm_strmap_put(&sent, t->agent->id, t->agent);
        cm_master_send_agent(m, t->agent, &ev);
    }
    /* A custom executor may outlive its tasks: its agent hears it too. */
    for (cm_strmap_iter_init(&it, &fw->executors); cm_strmap_iter_next(&it);) {
        struct cm_executor *e = it.cur->value;
        if (!e->agent->connected || cm_strmap_get(&sent, e->agent->id))
            continue;
        cm_strmap_put(&sent, e->agent->id, e->agent);
        cm_master_send_agent(m, e->agent, &ev);
    }
    cm_strmap_cleanup(&sent);
}

struct cm_framework *cm_master_recover_framework(struct cm_master *m,
                                                 const Mesos__V1__FrameworkInfo *info)
{
    struct cm_framework *fw = fw_new(m, info->id->value);
    fw_set_info(fw, info, fw->id, NULL, 0);
    fw->recovered = true;
    cm_allocator_add_framework(m->allocator, fw->id, (const char *const *)fw->roles, fw->nroles,
                               NULL, 0);
    cm_allocator_activate_framework(m->allocator, fw->id, false);
    CM_INFO(MOD, "Recovered framework %s (%s) from an agent's re-registration", fw->id,
            fw->info->name);
    cm_master_notify_framework_added(m, fw);
    return fw;
}

void cm_master_apply_framework_info(struct cm_master *m, struct cm_framework *fw,
                                    const Mesos__V1__FrameworkInfo *info, char *const *suppressed,
                                    size_t nsuppressed)
{
    fw_set_info(fw, info, fw->id, suppressed, nsuppressed);
    size_t n = cm_strmap_count(&fw->offers), i = 0;
    struct cm_offer **v = cm_xcalloc(n, sizeof *v);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &fw->offers); cm_strmap_iter_next(&it);)
        v[i++] = it.cur->value;
    for (i = 0; i < n; i++) {
        bool kept = false;
        for (size_t j = 0; j < fw->nroles; j++)
            kept = kept || strcmp(fw->roles[j], v[i]->role) == 0;
        if (!kept)
            cm_master_remove_offer(m, v[i], true, true, 0);
    }
    free(v);
    cm_allocator_update_framework(m->allocator, fw->id, (const char *const *)fw->roles, fw->nroles,
                                  (const char *const *)fw->suppressed, fw->nsuppressed);
    cm_master_send_framework_update(m, fw);
    cm_master_notify_framework_updated(m, fw);
    cm_master_allocate_soon(m);
}

void cm_master_framework_disconnected(struct cm_master *m, struct cm_framework *fw)
{
    fw->sink.stream = NULL; /* freed by the HTTP layer right after this */
    fw->sink.cb = NULL;
    fw->sink.ref = NULL; /* freed by the close callback */
    if (m->shutting_down || !fw->connected)
        return;
    CM_INFO(MOD, "Framework %s disconnected", fw->id);
    fw->connected = fw->active = false;
    double now = cm_clock_now(m->clock);
    fw->unregistered_time = now;
    cm_allocator_activate_framework(m->allocator, fw->id, false);
    cm_master_remove_offers_of(m, &fw->offers, false);
    cm_master_notify_framework_updated(m, fw);
    double timeout = fw->info->has_failover_timeout ? fw->info->failover_timeout : 0;
    if (!(timeout > 0)) {
        cm_master_remove_framework(m, fw);
        return;
    }
    fw->failover_deadline = now + timeout;
}

/* Removed framework ids outlive the bounded completed list (a torn-down id never subscribes
 * again); only the ids are kept, at most CM_MASTER_REMOVED_IDS_MAX of them. */

static void remember_removed(struct cm_master *m, const char *id)
{
    if (cm_strmap_get(&m->removed_ids, id))
        return;
    if (cm_ring_full(&m->removed_ring))
        cm_strmap_remove(&m->removed_ids, cm_ring_at(&m->removed_ring, 0));
    char *copy = cm_xstrdup(id);
    cm_ring_push(&m->removed_ring, copy);
    cm_strmap_put(&m->removed_ids, copy, copy);
}

void cm_master_remove_framework(struct cm_master *m, struct cm_framework *fw)
{
    CM_INFO(MOD, "Removing framework %s (%s)", fw->id, fw->info ? fw->info->name : "");
    if (cm_sink_open(&fw->sink))
        cm_sink_end(&fw->sink);
    fw->connected = fw->active = false;
    cm_master_remove_offers_of(m, &fw->offers, false);

    /* Kill what it has on every connected agent, then account its tasks as killed. */
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__ShutdownFramework sf =
        CMESOS__INTERNAL__AGENT_EVENT__SHUTDOWN_FRAMEWORK__INIT;
    sf.framework_id = fw->info->id;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_FRAMEWORK;
    ev.shutdown_framework = &sf;
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->agents); cm_strmap_iter_next(&it);) {
        struct cm_agent *a = it.cur->value;
        if (a->connected)
            cm_master_send_agent(m, a, &ev);
    }
    size_t n = cm_strmap_count(&fw->tasks), i = 0;
    struct cm_task **tasks = cm_xcalloc(n, sizeof *tasks);
    for (cm_strmap_iter_init(&it, &fw->tasks); cm_strmap_iter_next(&it);)
        tasks[i++] = it.cur->value;
    for (i = 0; i < n; i++) {
        struct cm_task *t = tasks[i];
        if (!cm_task_state_terminal(t->state)) {
            cm_master_task_gauge(m, t->state, -1);
            cm_master_task_gauge(m, MESOS__V1__TASK_STATE__TASK_KILLED, 1);
            t->state = MESOS__V1__TASK_STATE__TASK_KILLED;
            m->metrics.tasks_terminal[MESOS__V1__TASK_STATE__TASK_KILLED]++;
            /* Operator subscribers see the kill (the framework's stream is gone). */
            Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
            Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
            tid.value = t->id;
            st.task_id = &tid;
            st.state = MESOS__V1__TASK_STATE__TASK_KILLED;
            st.has_source = st.has_reason = st.has_timestamp = 1;
            st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER;
            st.reason = MESOS__V1__TASK_STATUS__REASON__REASON_FRAMEWORK_REMOVED;
            st.timestamp = cm_clock_now(m->clock);
            st.message = "Framework removed";
            cm_master_notify_task_updated(m, t, &st);
        }
        cm_master_complete_task(m, t);
    }
    free(tasks);
    cm_master_remove_framework_executors(m, fw);
    cm_master_notify_framework_removed(m, fw);
    cm_allocator_remove_framework(m->allocator, fw->id);
    cm_strmap_remove(&m->frameworks, fw->id);
    remember_removed(m, fw->id);
    fw->completed = true;
    fw->unregistered_time = cm_clock_now(m->clock);
    size_t cap = (size_t)m->flags->max_completed_frameworks;
    if (cap == 0) {
        cm_framework_free(fw);
        return;
    }
    /* The flag is read when first needed (the ring never shrinks, so empty = unused). */
    if (cm_ring_count(&m->completed_list) == 0)
        cm_ring_init(&m->completed_list, cap, cm_framework_free);
    if (cm_ring_full(&m->completed_list)) {
        const struct cm_framework *old = cm_ring_at(&m->completed_list, 0);
        cm_strmap_remove(&m->completed, old->id);
    }
    cm_ring_push(&m->completed_list, fw);
    cm_strmap_put(&m->completed, fw->id, fw);
}
