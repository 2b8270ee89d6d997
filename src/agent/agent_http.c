/*
 * agent_http.c: the agent's HTTP endpoints — routes, /state (docs/wire-protocol.md §6.4), /flags,
 * /health, /version and /metrics/snapshot (§7). Reads state; never changes it.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_auth.h"
#include "agent_internal.h"
#include "agent_nested.h"
#include "agent_operator.h"

/* Mesos still fills deprecated fields (ExecutorInfo.source, FrameworkInfo.role) for old
 * tooling, so we must read and write them. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include "codec.h"
#include "metrics.h"
#include "pbjson.h"

static const char *state_name(Mesos__V1__TaskState s)
{
    return cm_enum_name_or(&mesos__v1__task_state__descriptor, (int)s, "TASK_UNKNOWN");
}

static json_t *resources_summary_pb(Mesos__V1__Resource *const *v, size_t n)
{
    struct cm_resources r;
    cm_resources_init(&r);
    cm_resources_from_proto(&r, v, n, NULL, 0);
    json_t *j = cm_resources_summary_json(&r);
    cm_resources_cleanup(&r);
    return j;
}

static const char *resource_role(Mesos__V1__Resource *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i]->allocation_info && v[i]->allocation_info->role)
            return v[i]->allocation_info->role;
    return NULL;
}

static json_t *task_json(const struct cm_agent *a, const struct agent_framework *f,
                         const struct agent_task *t)
{
    const Mesos__V1__TaskInfo *ti = t->info;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(ti->task_id->value));
    json_object_set_new(o, "name", json_string(ti->name ? ti->name : ""));
    json_object_set_new(o, "framework_id", json_string(f->id));
    /* Command tasks have no executor_id of their own (it is implied). */
    json_object_set_new(o, "executor_id",
                        json_string(ti->executor && ti->executor->executor_id
                                        ? ti->executor->executor_id->value
                                        : ""));
    json_object_set_new(o, "slave_id", json_string(a->agent_id ? a->agent_id : ""));
    json_object_set_new(o, "state", json_string(state_name(t->state)));
    json_object_set_new(o, "resources", resources_summary_pb(ti->resources, ti->n_resources));
    const char *role = resource_role(ti->resources, ti->n_resources);
    if (role)
        json_object_set_new(o, "role", json_string(role));
    json_t *st = json_array();
    for (size_t i = 0; i < t->nstatuses; i++) {
        const Mesos__V1__TaskStatus *s = t->statuses[i];
        json_t *so = json_object();
        json_object_set_new(so, "state", json_string(state_name(s->state)));
        json_object_set_new(so, "timestamp", json_real(s->timestamp));
        if (s->has_healthy)
            json_object_set_new(so, "healthy", json_boolean(s->healthy));
        if (s->labels)
            json_object_set_new(so, "labels", cm_pbjson_to_json(&s->labels->base));
        if (s->container_status)
            json_object_set_new(so, "container_status",
                                cm_pbjson_to_json(&s->container_status->base));
        json_array_append_new(st, so);
    }
    json_object_set_new(o, "statuses", st);
    if (ti->labels && ti->labels->n_labels)
        json_object_set_new(o, "labels", cm_pbjson_to_json(&ti->labels->base));
    if (ti->discovery)
        json_object_set_new(o, "discovery", cm_pbjson_to_json(&ti->discovery->base));
    if (ti->container)
        json_object_set_new(o, "container", cm_pbjson_to_json(&ti->container->base));
    if (ti->health_check)
        json_object_set_new(o, "health_check", cm_pbjson_to_json(&ti->health_check->base));
    return o;
}

static json_t *queued_task_json(const struct cm_agent *a, const struct agent_task *t)
{
    const Mesos__V1__TaskInfo *ti = t->info;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(ti->task_id->value));
    json_object_set_new(o, "name", json_string(ti->name ? ti->name : ""));
    json_object_set_new(o, "slave_id", json_string(a->agent_id ? a->agent_id : ""));
    json_object_set_new(o, "resources", resources_summary_pb(ti->resources, ti->n_resources));
    const char *role = resource_role(ti->resources, ti->n_resources);
    if (role)
        json_object_set_new(o, "role", json_string(role));
    if (ti->command)
        json_object_set_new(o, "command", cm_pbjson_to_json(&ti->command->base));
    if (ti->discovery)
        json_object_set_new(o, "discovery", cm_pbjson_to_json(&ti->discovery->base));
    return o;
}

/* Whether principal may see task t (view_tasks with the task's user). */
static bool task_visible(const struct cm_agent *a, const struct agent_framework *f,
                         const struct agent_task *t, const char *principal)
{
    return agent_authorized(a, CM_ACL_VIEW_TASK, principal, agent_auth_task_user(t, f));
}

static json_t *executor_json(const struct cm_agent *a, const struct agent_framework *f,
                             const struct agent_executor *e, const char *principal)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(e->id));
    json_object_set_new(o, "name", json_string(e->info->name ? e->info->name : ""));
    json_object_set_new(o, "source", json_string(e->info->source ? e->info->source : ""));
    json_object_set_new(o, "container", json_string(e->container_id));
    json_object_set_new(o, "directory", json_string(e->directory ? e->directory : ""));
    json_object_set_new(o, "resources", cm_resources_summary_json(&e->resources));
    const char *role = resource_role(e->info->resources, e->info->n_resources);
    if (role)
        json_object_set_new(o, "role", json_string(role));
    if (e->info->has_type)
        json_object_set_new(o, "type",
                            json_string(e->info->type == MESOS__V1__EXECUTOR_INFO__TYPE__CUSTOM
                                            ? "CUSTOM"
                                            : "DEFAULT"));
    if (e->info->labels && e->info->labels->n_labels)
        json_object_set_new(o, "labels", cm_pbjson_to_json(&e->info->labels->base));
    json_t *tasks = json_array(), *queued = json_array(), *completed = json_array();
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &e->tasks);
    const struct agent_task *t;
    while ((t = cm_strmap_iter_value(&it, NULL))) {
        if (!task_visible(a, f, t, principal))
            continue;
        if (t->queued)
            json_array_append_new(queued, queued_task_json(a, t));
        else if (cm_task_state_terminal(t->state))
            json_array_append_new(completed, task_json(a, f, t));
        else
            json_array_append_new(tasks, task_json(a, f, t));
    }
    for (size_t i = 0; i < cm_ring_count(&e->completed_tasks); i++) {
        const struct agent_task *ct = cm_ring_at(&e->completed_tasks, i);
        if (task_visible(a, f, ct, principal))
            json_array_append_new(completed, task_json(a, f, ct));
    }
    json_object_set_new(o, "tasks", tasks);
    json_object_set_new(o, "queued_tasks", queued);
    json_object_set_new(o, "completed_tasks", completed);
    return o;
}

static json_t *framework_json(const struct cm_agent *a, const struct agent_framework *f,
                              const char *principal)
{
    const Mesos__V1__FrameworkInfo *fi = f->info;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(f->id));
    json_object_set_new(o, "name", json_string(fi->name ? fi->name : ""));
    json_object_set_new(o, "user", json_string(fi->user ? fi->user : ""));
    json_object_set_new(o, "failover_timeout",
                        json_real(fi->has_failover_timeout ? fi->failover_timeout : 0.0));
    json_object_set_new(o, "checkpoint", json_boolean(fi->has_checkpoint && fi->checkpoint));
    json_object_set_new(o, "hostname", json_string(fi->hostname ? fi->hostname : ""));
    if (fi->principal)
        json_object_set_new(o, "principal", json_string(fi->principal));
    if (fi->n_roles) {
        json_t *roles = json_array();
        for (size_t i = 0; i < fi->n_roles; i++)
            json_array_append_new(roles, json_string(fi->roles[i]));
        json_object_set_new(o, "roles", roles);
    } else {
        json_object_set_new(o, "role", json_string(fi->role ? fi->role : "*"));
    }
    json_t *ex = json_array(), *cex = json_array();
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &f->executors);
    const struct agent_executor *e;
    while ((e = cm_strmap_iter_value(&it, NULL)))
        if (agent_authorized(a, CM_ACL_VIEW_EXECUTOR, principal, agent_auth_executor_user(e)))
            json_array_append_new(ex, executor_json(a, f, e, principal));
    for (size_t i = 0; i < cm_ring_count(&f->completed_executors); i++) {
        e = cm_ring_at(&f->completed_executors, i);
        if (agent_authorized(a, CM_ACL_VIEW_EXECUTOR, principal, agent_auth_executor_user(e)))
            json_array_append_new(cex, executor_json(a, f, e, principal));
    }
    json_object_set_new(o, "executors", ex);
    json_object_set_new(o, "completed_executors", cex);
    return o;
}

/* Resources of live executors (tasks plus executor overhead). */
static void used_resources(const struct cm_agent *a, struct cm_resources *used)
{
    struct cm_strmap_iter fit, eit;
    cm_strmap_iter_init(&fit, &a->frameworks);
    const struct agent_framework *f;
    while ((f = cm_strmap_iter_value(&fit, NULL))) {
        cm_strmap_iter_init(&eit, &f->executors);
        const struct agent_executor *e;
        while ((e = cm_strmap_iter_value(&eit, NULL)))
            if (e->state != EXECUTOR_TERMINATED)
                cm_resources_add(used, &e->resources);
    }
}

static json_t *resources_full(const struct cm_resources *r)
{
    Mesos__V1__Resource **pb = NULL;
    size_t n = 0;
    cm_resources_to_proto(r, NULL, &pb, &n);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, cm_pbjson_to_json(&pb[i]->base));
    cm_resources_proto_free(pb, n);
    return arr;
}

static void state_handler(struct cm_http_request *req, void *arg)
{
    struct cm_agent *a = arg;
    /* As Mesos's agent: flags need view_flags; frameworks, executors and tasks are filtered by
     * view_frameworks, view_executors and view_tasks with the user each runs as. */
    char *principal = agent_auth_principal(a, req, false);
    json_t *o = json_object();
    json_object_set_new(o, "version", json_string(CMESOS_VERSION));
    json_object_set_new(o, "build_date", json_string(__DATE__ " " __TIME__));
    json_object_set_new(o, "build_time", json_real((double)a->start_time));
    json_object_set_new(o, "build_user", json_string("cmesos"));
    json_object_set_new(o, "start_time", json_real(a->start_time));
    json_object_set_new(o, "id", json_string(a->agent_id ? a->agent_id : ""));
    json_object_set_new(o, "pid", json_string(a->pid));
    json_object_set_new(o, "hostname", json_string(a->hostname));
    json_t *caps = json_array();
    json_array_append_new(caps, json_string("MULTI_ROLE"));
    json_array_append_new(caps, json_string("HIERARCHICAL_ROLE"));
    json_array_append_new(caps, json_string("RESERVATION_REFINEMENT"));
    json_object_set_new(o, "capabilities", caps);
    json_object_set_new(o, "resources", cm_resources_summary_json(&a->total));

    struct cm_resources unres, used, used_unres;
    cm_resources_init(&unres);
    cm_resources_init(&used);
    cm_resources_init(&used_unres);
    cm_resources_unreserved(&a->total, &unres);
    used_resources(a, &used);
    cm_resources_unreserved(&used, &used_unres);
    json_t *reserved = json_object(), *reserved_full = json_object(),
           *reserved_alloc = json_object();
    for (size_t i = 0; i < a->total.n; i++) {
        const char *role = a->total.v[i].role;
        if (strcmp(role, "*") == 0 || json_object_get(reserved, role))
            continue;
        struct cm_resources r, ur;
        cm_resources_init(&r);
        cm_resources_init(&ur);
        cm_resources_reserved_to(&a->total, role, &r);
        cm_resources_reserved_to(&used, role, &ur);
        json_object_set_new(reserved, role, cm_resources_summary_json(&r));
        json_object_set_new(reserved_full, role, resources_full(&r));
        json_object_set_new(reserved_alloc, role, cm_resources_summary_json(&ur));
        cm_resources_cleanup(&r);
        cm_resources_cleanup(&ur);
    }
    json_object_set_new(o, "reserved_resources", reserved);
    json_object_set_new(o, "unreserved_resources", cm_resources_summary_json(&unres));
    json_object_set_new(o, "reserved_resources_full", reserved_full);
    json_object_set_new(o, "unreserved_resources_full", resources_full(&unres));
    json_object_set_new(o, "reserved_resources_allocated", reserved_alloc);
    json_object_set_new(o, "unreserved_resources_allocated",
                        cm_resources_summary_json(&used_unres));
    cm_resources_cleanup(&unres);
    cm_resources_cleanup(&used);
    cm_resources_cleanup(&used_unres);
    json_object_set_new(o, "resource_providers", json_array());
    json_object_set_new(o, "attributes", cm_attributes_json(&a->attributes));
    if (a->master_hostname)
        json_object_set_new(o, "master_hostname", json_string(a->master_hostname));
    if (agent_authorized(a, CM_ACL_VIEW_FLAGS, principal, NULL))
        json_object_set_new(o, "flags", cm_flags_to_json(a->flags->table, a->flags->ntable));

    json_t *fws = json_array(), *cfws = json_array();
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &a->frameworks);
    const struct agent_framework *f;
    while ((f = cm_strmap_iter_value(&it, NULL)))
        if (agent_authorized(a, CM_ACL_VIEW_FRAMEWORK, principal, agent_auth_framework_user(f)))
            json_array_append_new(fws, framework_json(a, f, principal));
    for (size_t i = 0; i < cm_ring_count(&a->completed_frameworks); i++) {
        f = cm_ring_at(&a->completed_frameworks, i);
        if (agent_authorized(a, CM_ACL_VIEW_FRAMEWORK, principal, agent_auth_framework_user(f)))
            json_array_append_new(cfws, framework_json(a, f, principal));
    }
    json_object_set_new(o, "frameworks", fws);
    json_object_set_new(o, "completed_frameworks", cfws);
    free(principal);
    cm_http_respond_json(req, 200, o);
}

static void flags_handler(struct cm_http_request *req, void *arg)
{
    struct cm_agent *a = arg;
    char *principal = agent_auth_principal(a, req, false);
    bool ok = agent_authorize_http(a, req, CM_ACL_VIEW_FLAGS, principal, NULL);
    free(principal);
    if (!ok)
        return;
    json_t *o = json_object();
    json_object_set_new(o, "flags", cm_flags_to_json(a->flags->table, a->flags->ntable));
    cm_http_respond_json(req, 200, o);
}

static void health_handler(struct cm_http_request *req, void *arg)
{
    (void)arg;
    cm_http_respond(req, 200, NULL, NULL, 0);
}

static void version_handler(struct cm_http_request *req, void *arg)
{
    (void)arg;
    json_t *o = json_object();
    json_object_set_new(o, "version", json_string(CMESOS_VERSION));
    json_object_set_new(o, "build_date", json_string(__DATE__ " " __TIME__));
    json_object_set_new(o, "build_time", json_real(0));
    json_object_set_new(o, "build_user", json_string("cmesos"));
    cm_http_respond_json(req, 200, o);
}

json_t *cm_agent_metrics_json(struct cm_agent *a)
{
    json_t *o = json_object();
    double t = cm_clock_now(a->clock);
    cm_metrics_set(o, "slave/uptime_secs", t - a->start_time);
    cm_metrics_set(o, "slave/registered", a->registered ? 1 : 0);
    cm_metrics_set(o, "slave/recovery_errors", 0);
    cm_metrics_set(o, "slave/frameworks_active", (double)cm_strmap_count(&a->frameworks));
    /* Executors cut off for not reading their event stream (http_server.h, stream.h). */
    if (a->http)
        cm_http_server_metrics(a->http, o, "slave");

    double registering = 0, running = 0, terminating = 0;
    double staging = 0, starting = 0, trunning = 0, killing = 0;
    struct cm_strmap_iter fit, eit, tit;
    const struct agent_framework *f;
    const struct agent_executor *e;
    const struct agent_task *tk;
    cm_strmap_iter_init(&fit, &a->frameworks);
    while ((f = cm_strmap_iter_value(&fit, NULL))) {
        cm_strmap_iter_init(&eit, &f->executors);
        while ((e = cm_strmap_iter_value(&eit, NULL))) {
            registering += e->state == EXECUTOR_REGISTERING;
            running += e->state == EXECUTOR_RUNNING;
            terminating += e->state == EXECUTOR_TERMINATING;
            cm_strmap_iter_init(&tit, &e->tasks);
            while ((tk = cm_strmap_iter_value(&tit, NULL))) {
                staging += tk->state == MESOS__V1__TASK_STATE__TASK_STAGING;
                starting += tk->state == MESOS__V1__TASK_STATE__TASK_STARTING;
                trunning += tk->state == MESOS__V1__TASK_STATE__TASK_RUNNING;
                killing += tk->state == MESOS__V1__TASK_STATE__TASK_KILLING;
            }
        }
    }
    cm_metrics_set(o, "slave/executors_registering", registering);
    cm_metrics_set(o, "slave/executors_running", running);
    cm_metrics_set(o, "slave/executors_terminating", terminating);
    cm_metrics_set(o, "slave/executors_terminated", a->metrics.executors_terminated);
    cm_metrics_set(o, "slave/executors_preempted", 0);
    cm_metrics_set(o, "slave/tasks_staging", staging);
    cm_metrics_set(o, "slave/tasks_starting", starting);
    cm_metrics_set(o, "slave/tasks_running", trunning);
    cm_metrics_set(o, "slave/tasks_killing", killing);
    cm_metrics_set(o, "slave/tasks_finished", a->metrics.tasks_finished);
    cm_metrics_set(o, "slave/tasks_failed", a->metrics.tasks_failed);
    cm_metrics_set(o, "slave/tasks_killed", a->metrics.tasks_killed);
    cm_metrics_set(o, "slave/tasks_lost", a->metrics.tasks_lost);
    cm_metrics_set(o, "slave/tasks_gone", a->metrics.tasks_gone);
    cm_metrics_set(o, "slave/valid_status_updates", a->metrics.valid_status_updates);
    cm_metrics_set(o, "slave/invalid_status_updates", a->metrics.invalid_status_updates);
    cm_metrics_set(o, "slave/valid_framework_messages", a->metrics.valid_framework_messages);
    cm_metrics_set(o, "slave/invalid_framework_messages", a->metrics.invalid_framework_messages);
    cm_metrics_set(o, "slave/container_launch_errors", a->metrics.container_launch_errors);
    if (a->fetcher) {
        const struct cm_fetcher_metrics *fm = cm_fetcher_metrics(a->fetcher);
        cm_metrics_set(o, "containerizer/fetcher/task_fetches_succeeded",
                       fm->task_fetches_succeeded);
        cm_metrics_set(o, "containerizer/fetcher/task_fetches_failed", fm->task_fetches_failed);
        cm_metrics_set(o, "containerizer/fetcher/cache_size_total_bytes",
                       (double)cm_fetcher_cache_total_bytes(a->fetcher));
        cm_metrics_set(o, "containerizer/fetcher/cache_size_used_bytes",
                       (double)cm_fetcher_cache_used_bytes(a->fetcher));
    }
    if (a->gc) {
        const struct cm_gc_metrics *gm = cm_gc_metrics(a->gc);
        cm_metrics_set(o, "gc/path_removals_succeeded", gm->path_removals_succeeded);
        cm_metrics_set(o, "gc/path_removals_failed", gm->path_removals_failed);
        cm_metrics_set(o, "gc/path_removals_pending", (double)cm_gc_pending(a->gc));
    }

    struct cm_resources used;
    cm_resources_init(&used);
    used_resources(a, &used);
    cm_metrics_resources(o, "slave", &a->total, &used);
    cm_resources_cleanup(&used);

    cm_metrics_system(o);
    return o;
}

/* get_endpoints with the endpoint's path, as libprocess authorizes /metrics/snapshot. */
static bool endpoint_authorized(struct cm_agent *a, struct cm_http_request *req, const char *path)
{
    if (!a->acls)
        return true;
    char *principal = agent_auth_principal(a, req, false);
    bool ok = agent_authorize_http(a, req, CM_ACL_GET_ENDPOINT, principal, path);
    free(principal);
    return ok;
}

static void metrics_handler(struct cm_http_request *req, void *arg)
{
    if (!endpoint_authorized(arg, req, "/metrics/snapshot"))
        return;
    cm_http_respond_json(req, 200, cm_agent_metrics_json(arg));
}

static void prometheus_handler(struct cm_http_request *req, void *arg)
{
    if (!endpoint_authorized(arg, req, "/metrics"))
        return;
    cm_agent_op_prometheus(req, arg);
}

/* ---- usage: /monitor/statistics and /containers ---------------------------------------- */

/* One entry per live container (an executor whose process has not been reaped), read from its
 * cgroups: a few small files each, no mount-table scans, so polling every second with a
 * hundred containers stays cheap. container_id/executor_id filter when non-NULL. */
static json_t *usage_entries(struct cm_agent *a, bool containers, const char *container_id,
                             const char *executor_id, const char *principal)
{
    json_t *arr = json_array();
    double ts = cm_clock_now(a->clock);
    struct cm_strmap_iter fit;
    cm_strmap_iter_init(&fit, &a->frameworks);
    struct agent_framework *f;
    while ((f = cm_strmap_iter_value(&fit, NULL))) {
        struct cm_strmap_iter eit;
        cm_strmap_iter_init(&eit, &f->executors);
        struct agent_executor *e;
        while ((e = cm_strmap_iter_value(&eit, NULL))) {
            if (e->pid <= 0)
                continue;
            if (container_id && strcmp(container_id, e->container_id) != 0)
                continue;
            if (executor_id && strcmp(executor_id, e->id) != 0)
                continue;
            /* /containers: view_containers with the executor's user (Mesos's agent). */
            if (containers &&
                !agent_authorized(a, CM_ACL_VIEW_CONTAINER, principal, agent_auth_executor_user(e)))
                continue;
            json_t *stats = json_object();
            if (cm_containerizer_usage(a->containerizer, e->container_id, ts, stats) != 0) {
                json_decref(stats);
                continue;
            }
            if (a->docker && cm_docker_is_executor(e->info))
                cm_docker_usage(a->docker, e->container_id, ts, stats);
            json_t *o = json_object();
            json_object_set_new(o, "framework_id", json_string(f->id));
            json_object_set_new(o, "executor_id", json_string(e->id));
            json_object_set_new(o, "executor_name",
                                json_string(e->info && e->info->name ? e->info->name : ""));
            json_object_set_new(o, "source",
                                json_string(e->info && e->info->source ? e->info->source : ""));
            if (containers) {
                json_object_set_new(o, "container_id", json_string(e->container_id));
                json_t *st = json_object();
                json_object_set_new(st, "container_id",
                                    json_pack("{s:s}", "value", e->container_id));
                json_object_set_new(st, "executor_pid", json_integer(e->pid));
                json_object_set_new(o, "status", st);
            }
            json_object_set_new(o, "statistics", stats);
            json_array_append_new(arr, o);
        }
    }
    return arr;
}

static void statistics_handler(struct cm_http_request *req, void *arg)
{
    if (!endpoint_authorized(arg, req, "/monitor/statistics"))
        return;
    cm_http_respond_json(req, 200, usage_entries(arg, false, NULL, NULL, NULL));
}

static void containers_handler(struct cm_http_request *req, void *arg)
{
    char *cid = cm_http_request_query_param(req, "container_id");
    char *eid = cm_http_request_query_param(req, "executor_id");
    char *principal = agent_auth_principal(arg, req, false);
    json_t *entries = usage_entries(arg, true, cid, eid, principal);
    char *nested = cm_http_request_query_param(req, "show_nested");
    if (nested && strcmp(nested, "true") == 0)
        agent_nested_usage_json(arg, entries, cm_clock_now(((struct cm_agent *)arg)->clock));
    free(nested);
    cm_http_respond_json(req, 200, entries);
    free(principal);
    free(cid);
    free(eid);
}

void cm_agent_http_routes(struct cm_agent *a)
{
    cm_http_server_route(a->http, "/monitor/statistics", statistics_handler, a);
    cm_http_server_route(a->http, "/monitor/statistics.json", statistics_handler, a);
    cm_http_server_route(a->http, "/containers", containers_handler, a);
    cm_http_server_route(a->http, "/api/v1/executor", cm_agent_executor_api, a);
    cm_http_server_route(a->http, "/state", state_handler, a);
    cm_http_server_route(a->http, "/state.json", state_handler, a);
    cm_http_server_route(a->http, "/flags", flags_handler, a);
    cm_http_server_route(a->http, "/health", health_handler, a);
    cm_http_server_route(a->http, "/version", version_handler, a);
    cm_http_server_route(a->http, "/metrics/snapshot", metrics_handler, a);
    cm_http_server_route(a->http, "/metrics", prometheus_handler, a);
    cm_agent_op_routes(a);
}
