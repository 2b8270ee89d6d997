/* operator_state.c: the mesos.v1.master response messages built from the master core's state
 * (GET_TASKS, GET_AGENTS, GET_FRAMEWORKS, GET_EXECUTORS, GET_STATE, GET_ROLES, GET_WEIGHTS and
 * the SUBSCRIBE events' payloads). Reads only; every message is a heap message the caller
 * frees. See operator.h. */
#include <stdlib.h>
#include <string.h>

#include "operator.h"
#include "registrar.h"
#include "pbjson.h"
#include "util.h"

void *cm_operator_msg_new(const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *msg = cm_xcalloc(1, desc->sizeof_message);
    protobuf_c_message_init(desc, msg);
    return msg;
}

#define NEW(type, desc) ((type *)cm_operator_msg_new(&(desc)))
#define DUP(type, msg) ((type *)cm_pb_dup(&(msg)->base))

/* Appends item to a repeated field (*v, *n) of pointers. */
#define APPEND(v, n, item)                                                                         \
    do {                                                                                           \
        (v) = cm_xrealloc((v), ((n) + 1) * sizeof *(v));                                           \
        (v)[(n)++] = (item);                                                                       \
    } while (0)

static Mesos__V1__TimeInfo *time_info(double secs)
{
    Mesos__V1__TimeInfo *t = NEW(Mesos__V1__TimeInfo, mesos__v1__time_info__descriptor);
    t->nanoseconds = (int64_t)(secs * 1e9);
    return t;
}

static Mesos__V1__AgentID *agent_id(const char *id)
{
    Mesos__V1__AgentID *a = NEW(Mesos__V1__AgentID, mesos__v1__agent_id__descriptor);
    a->value = cm_xstrdup(id);
    return a;
}

static Mesos__V1__FrameworkID *framework_id(const char *id)
{
    Mesos__V1__FrameworkID *f = NEW(Mesos__V1__FrameworkID, mesos__v1__framework_id__descriptor);
    f->value = cm_xstrdup(id);
    return f;
}

Mesos__V1__Task *cm_operator_task(const struct cm_task *t)
{
    Mesos__V1__Task *o = NEW(Mesos__V1__Task, mesos__v1__task__descriptor);
    const Mesos__V1__TaskInfo *ti = t->info;
    o->name = cm_xstrdup(ti && ti->name ? ti->name : "");
    o->task_id = NEW(Mesos__V1__TaskID, mesos__v1__task_id__descriptor);
    o->task_id->value = cm_xstrdup(t->id);
    o->framework_id = framework_id(t->fw->id);
    if (ti && ti->executor && ti->executor->executor_id)
        o->executor_id = DUP(Mesos__V1__ExecutorID, ti->executor->executor_id);
    o->agent_id = agent_id(t->agent_id);
    o->state = (Mesos__V1__TaskState)t->state;
    cm_resources_to_proto(&t->resources, t->role, &o->resources, &o->n_resources);
    for (size_t i = 0; i < t->nstatuses; i++)
        APPEND(o->statuses, o->n_statuses, DUP(Mesos__V1__TaskStatus, t->statuses[i]));
    if (t->status_update_state >= 0) {
        o->has_status_update_state = 1;
        o->status_update_state = (Mesos__V1__TaskState)t->status_update_state;
    }
    if (t->has_uuid) {
        o->has_status_update_uuid = 1;
        o->status_update_uuid.len = 16;
        o->status_update_uuid.data = cm_xmalloc(16);
        memcpy(o->status_update_uuid.data, t->uuid, 16);
    }
    if (ti && ti->labels)
        o->labels = DUP(Mesos__V1__Labels, ti->labels);
    if (ti && ti->discovery)
        o->discovery = DUP(Mesos__V1__DiscoveryInfo, ti->discovery);
    if (ti && ti->container)
        o->container = DUP(Mesos__V1__ContainerInfo, ti->container);
    if (ti && ti->health_check)
        o->health_check = DUP(Mesos__V1__HealthCheck, ti->health_check);
    if (ti && ti->kill_policy)
        o->kill_policy = DUP(Mesos__V1__KillPolicy, ti->kill_policy);
    if (t->fw->info && t->fw->info->user)
        o->user = cm_xstrdup(t->fw->info->user);
    return o;
}

Mesos__V1__Master__Response__GetAgents__Agent *cm_operator_agent(const struct cm_agent *a)
{
    Mesos__V1__Master__Response__GetAgents__Agent *o =
        NEW(Mesos__V1__Master__Response__GetAgents__Agent,
            mesos__v1__master__response__get_agents__agent__descriptor);
    o->agent_info = DUP(Mesos__V1__AgentInfo, a->info);
    o->active = a->active;
    o->has_deactivated = 1;
    o->deactivated = a->deactivated;
    o->version = cm_xstrdup(a->version ? a->version : "");
    if (a->pid)
        o->pid = cm_xstrdup(a->pid);
    o->registered_time = time_info(a->registered_time);
    if (a->reregistered_time > 0)
        o->reregistered_time = time_info(a->reregistered_time);
    cm_resources_to_proto(&a->total, NULL, &o->total_resources, &o->n_total_resources);
    cm_resources_to_proto(&a->used, NULL, &o->allocated_resources, &o->n_allocated_resources);
    cm_resources_to_proto(&a->offered, NULL, &o->offered_resources, &o->n_offered_resources);
    if (a->ncapabilities) {
        o->capabilities = cm_xcalloc(a->ncapabilities, sizeof *o->capabilities);
        for (size_t i = 0; i < a->ncapabilities; i++)
            o->capabilities[i] =
                cm_operator_msg_new(&mesos__v1__agent_info__capability__descriptor);
        for (size_t i = 0; i < a->ncapabilities; i++) {
            o->capabilities[i]->has_type = 1;
            o->capabilities[i]->type = (Mesos__V1__AgentInfo__Capability__Type)a->capabilities[i];
        }
        o->n_capabilities = a->ncapabilities;
    }
    if (a->drain_state) {
        o->drain_info = NEW(Mesos__V1__DrainInfo, mesos__v1__drain_info__descriptor);
        o->drain_info->state = (Mesos__V1__DrainState)a->drain_state;
        o->drain_info->config = NEW(Mesos__V1__DrainConfig, mesos__v1__drain_config__descriptor);
        if (a->drain_has_grace) {
            o->drain_info->config->max_grace_period =
                NEW(Mesos__V1__DurationInfo, mesos__v1__duration_info__descriptor);
            o->drain_info->config->max_grace_period->nanoseconds = a->drain_grace_ns;
        }
        o->drain_info->config->has_mark_gone = 1;
        o->drain_info->config->mark_gone = a->drain_mark_gone;
    }
    return o;
}

Mesos__V1__Offer *cm_operator_offer(const struct cm_offer *of)
{
    Mesos__V1__Offer *o = NEW(Mesos__V1__Offer, mesos__v1__offer__descriptor);
    o->id = NEW(Mesos__V1__OfferID, mesos__v1__offer_id__descriptor);
    o->id->value = cm_xstrdup(of->id);
    o->framework_id = framework_id(of->fw->id);
    o->agent_id = agent_id(of->agent->id);
    o->hostname = cm_xstrdup(of->agent->hostname ? of->agent->hostname : "");
    cm_resources_to_proto(&of->resources, of->role, &o->resources, &o->n_resources);
    o->allocation_info =
        NEW(Mesos__V1__Resource__AllocationInfo, mesos__v1__resource__allocation_info__descriptor);
    o->allocation_info->role = cm_xstrdup(of->role);
    return o;
}

static Mesos__V1__Master__Response__GetFrameworks__Framework *
framework(const struct cm_framework *fw, bool offers)
{
    Mesos__V1__Master__Response__GetFrameworks__Framework *o =
        NEW(Mesos__V1__Master__Response__GetFrameworks__Framework,
            mesos__v1__master__response__get_frameworks__framework__descriptor);
    o->framework_info = DUP(Mesos__V1__FrameworkInfo, fw->info);
    o->active = fw->active;
    o->connected = fw->connected;
    o->recovered = fw->recovered;
    if (fw->registered_time > 0)
        o->registered_time = time_info(fw->registered_time);
    if (fw->reregistered_time > 0)
        o->reregistered_time = time_info(fw->reregistered_time);
    if (!fw->connected && fw->unregistered_time > 0)
        o->unregistered_time = time_info(fw->unregistered_time);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &fw->offers); offers && cm_strmap_iter_next(&it);)
        APPEND(o->offers, o->n_offers, cm_operator_offer(it.cur->value));
    cm_resources_to_proto(&fw->used, NULL, &o->allocated_resources, &o->n_allocated_resources);
    cm_resources_to_proto(&fw->offered, NULL, &o->offered_resources, &o->n_offered_resources);
    return o;
}

Mesos__V1__Master__Response__GetFrameworks__Framework *
cm_operator_framework(const struct cm_framework *fw)
{
    return framework(fw, true);
}

Mesos__V1__Master__Response__GetFrameworks__Framework *
cm_operator_framework_head(const struct cm_framework *fw)
{
    return framework(fw, false);
}

static void add_fw_tasks(Mesos__V1__Master__Response__GetTasks *o, const struct cm_framework *fw)
{
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &fw->tasks); cm_strmap_iter_next(&it);)
        APPEND(o->tasks, o->n_tasks, cm_operator_task(it.cur->value));
    for (const struct cm_task *t = fw->uhead; t; t = t->unext)
        APPEND(o->unreachable_tasks, o->n_unreachable_tasks, cm_operator_task(t));
    for (size_t i = 0; i < cm_ring_count(&fw->completed_tasks); i++)
        APPEND(o->completed_tasks, o->n_completed_tasks,
               cm_operator_task(cm_ring_at(&fw->completed_tasks, i)));
}

Mesos__V1__Master__Response__GetTasks *cm_operator_get_tasks(struct cm_master *m)
{
    Mesos__V1__Master__Response__GetTasks *o = NEW(
        Mesos__V1__Master__Response__GetTasks, mesos__v1__master__response__get_tasks__descriptor);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->frameworks); cm_strmap_iter_next(&it);)
        add_fw_tasks(o, it.cur->value);
    /* Completed frameworks' tasks (all ended) are completed tasks. */
    for (size_t i = 0; i < cm_ring_count(&m->completed_list); i++) {
        const struct cm_framework *fw = cm_ring_at(&m->completed_list, i);
        for (size_t j = 0; j < cm_ring_count(&fw->completed_tasks); j++)
            APPEND(o->completed_tasks, o->n_completed_tasks,
                   cm_operator_task(cm_ring_at(&fw->completed_tasks, j)));
    }
    return o;
}

Mesos__V1__Master__Response__GetAgents *cm_operator_get_agents(struct cm_master *m)
{
    Mesos__V1__Master__Response__GetAgents *o =
        NEW(Mesos__V1__Master__Response__GetAgents,
            mesos__v1__master__response__get_agents__descriptor);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->agents); cm_strmap_iter_next(&it);)
        APPEND(o->agents, o->n_agents, cm_operator_agent(it.cur->value));
    /* Admitted agents that have not re-registered since the master restarted. */
    for (cm_strmap_iter_init(&it, &m->recovering_agents); cm_strmap_iter_next(&it);) {
        const Mesos__V1__AgentInfo *info = cm_registrar_admitted(m->registrar, it.cur->key);
        if (info && !cm_master_agent(m, it.cur->key))
            APPEND(o->recovered_agents, o->n_recovered_agents, DUP(Mesos__V1__AgentInfo, info));
    }
    return o;
}

Mesos__V1__Master__Response__GetFrameworks *cm_operator_get_frameworks(struct cm_master *m)
{
    Mesos__V1__Master__Response__GetFrameworks *o =
        NEW(Mesos__V1__Master__Response__GetFrameworks,
            mesos__v1__master__response__get_frameworks__descriptor);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->frameworks); cm_strmap_iter_next(&it);)
        APPEND(o->frameworks, o->n_frameworks, cm_operator_framework(it.cur->value));
    for (size_t i = 0; i < cm_ring_count(&m->completed_list); i++)
        APPEND(o->completed_frameworks, o->n_completed_frameworks,
               cm_operator_framework(cm_ring_at(&m->completed_list, i)));
    return o;
}

Mesos__V1__Master__Response__GetExecutors *cm_operator_get_executors(struct cm_master *m)
{
    /* The custom executors the master placed (or learnt of from re-registrations); the command
     * executors of command tasks are the agent's business and not listed, as in Mesos. */
    Mesos__V1__Master__Response__GetExecutors *o =
        NEW(Mesos__V1__Master__Response__GetExecutors,
            mesos__v1__master__response__get_executors__descriptor);
    struct cm_strmap_iter it, eit;
    for (cm_strmap_iter_init(&it, &m->frameworks); cm_strmap_iter_next(&it);) {
        struct cm_framework *fw = it.cur->value;
        for (cm_strmap_iter_init(&eit, &fw->executors); cm_strmap_iter_next(&eit);) {
            const struct cm_executor *e = eit.cur->value;
            Mesos__V1__Master__Response__GetExecutors__Executor *x =
                NEW(Mesos__V1__Master__Response__GetExecutors__Executor,
                    mesos__v1__master__response__get_executors__executor__descriptor);
            x->executor_info = DUP(Mesos__V1__ExecutorInfo, e->info);
            x->agent_id = agent_id(e->agent->id);
            APPEND(o->executors, o->n_executors, x);
        }
    }
    return o;
}

Mesos__V1__Master__Response__GetState *cm_operator_get_state(struct cm_master *m)
{
    Mesos__V1__Master__Response__GetState *o = NEW(
        Mesos__V1__Master__Response__GetState, mesos__v1__master__response__get_state__descriptor);
    o->get_tasks = cm_operator_get_tasks(m);
    o->get_executors = cm_operator_get_executors(m);
    o->get_frameworks = cm_operator_get_frameworks(m);
    o->get_agents = cm_operator_get_agents(m);
    return o;
}

static double weight_of(struct cm_operator *op, const char *role)
{
    const double *w = cm_strmap_get(&op->weights, role);
    return w ? *w : 1.0;
}

static Mesos__V1__Role *role_entry(struct cm_strmap *roles, const char *name, double weight)
{
    Mesos__V1__Role *r = cm_strmap_get(roles, name);
    if (!r) {
        r = NEW(Mesos__V1__Role, mesos__v1__role__descriptor);
        r->name = cm_xstrdup(name);
        r->weight = weight;
        cm_strmap_put(roles, name, r);
    }
    return r;
}

Mesos__V1__Master__Response__GetRoles *cm_operator_get_roles(struct cm_operator *op)
{
    struct cm_master *m = op->m;
    struct cm_strmap roles; /* name -> Mesos__V1__Role* (moved into the response) */
    cm_strmap_init(&roles);
    struct cm_strmap alloc; /* name -> struct cm_resources* */
    cm_strmap_init(&alloc);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &op->weights); cm_strmap_iter_next(&it);)
        role_entry(&roles, it.cur->key, *(double *)it.cur->value);
    for (cm_strmap_iter_init(&it, &m->frameworks); cm_strmap_iter_next(&it);) {
        const struct cm_framework *fw = it.cur->value;
        for (size_t i = 0; i < fw->nroles; i++) {
            Mesos__V1__Role *r = role_entry(&roles, fw->roles[i], weight_of(op, fw->roles[i]));
            APPEND(r->frameworks, r->n_frameworks, framework_id(fw->id));
        }
        struct cm_strmap_iter ti;
        for (cm_strmap_iter_init(&ti, &fw->tasks); cm_strmap_iter_next(&ti);) {
            const struct cm_task *t = ti.cur->value;
            if (t->released || !t->role)
                continue;
            role_entry(&roles, t->role, weight_of(op, t->role));
            struct cm_resources *sum = cm_strmap_get(&alloc, t->role);
            if (!sum) {
                sum = cm_xcalloc(1, sizeof *sum);
                cm_resources_init(sum);
                cm_strmap_put(&alloc, t->role, sum);
            }
            cm_resources_add(sum, &t->resources);
        }
    }
    Mesos__V1__Master__Response__GetRoles *o = NEW(
        Mesos__V1__Master__Response__GetRoles, mesos__v1__master__response__get_roles__descriptor);
    for (cm_strmap_iter_init(&it, &roles); cm_strmap_iter_next(&it);) {
        Mesos__V1__Role *r = it.cur->value;
        struct cm_resources *sum = cm_strmap_get(&alloc, r->name);
        if (sum)
            cm_resources_to_proto(sum, r->name, &r->resources, &r->n_resources);
        APPEND(o->roles, o->n_roles, r);
    }
    for (cm_strmap_iter_init(&it, &alloc); cm_strmap_iter_next(&it);) {
        cm_resources_cleanup(it.cur->value);
        free(it.cur->value);
    }
    cm_strmap_cleanup(&alloc);
    cm_strmap_cleanup(&roles);
    return o;
}

Mesos__V1__Master__Response__GetWeights *cm_operator_get_weights(struct cm_operator *op)
{
    Mesos__V1__Master__Response__GetWeights *o =
        NEW(Mesos__V1__Master__Response__GetWeights,
            mesos__v1__master__response__get_weights__descriptor);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &op->weights); cm_strmap_iter_next(&it);) {
        Mesos__V1__WeightInfo *w = NEW(Mesos__V1__WeightInfo, mesos__v1__weight_info__descriptor);
        w->weight = *(double *)it.cur->value;
        w->role = cm_xstrdup(it.cur->key);
        APPEND(o->weight_infos, o->n_weight_infos, w);
    }
    return o;
}
