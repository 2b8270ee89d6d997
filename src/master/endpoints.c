/* endpoints.c: the master's read-only JSON endpoints (docs/wire-protocol.md §6) and
 * /metrics/snapshot (§7). Objects are built with jansson in Mesos's legacy shapes. HTTP edge: reads
 * the core's state, changes nothing. See master_http.h. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocator/allocator.h"
#include "codec.h"
#include "contender.h"
#include "registrar.h"
#include "log.h"
#include "metrics.h"
#include "endpoints_json.h"
#include "master_http.h"
#include "pbjson.h"
#include "prometheus.h"
#include "util.h"

#define MOD "master"

#define CM_EP_ATTR_TEXT 4096

/* Who is looking (--acls filters what they see, as Mesos's view_* actions do). */
struct view {
    const struct cm_acls *acls;
    const char *principal; /* NULL: anonymous */
};

static const char *task_user(const struct cm_task *t)
{
    if (t->info && t->info->command && t->info->command->user && t->info->command->user[0])
        return t->info->command->user;
    return t->fw->info && t->fw->info->user ? t->fw->info->user : "";
}

static bool view_framework(const struct view *v, const struct cm_framework *fw)
{
    return !v->acls || cm_acls_allowed(v->acls, CM_ACL_VIEW_FRAMEWORK, v->principal,
                                       fw->info && fw->info->user ? fw->info->user : "");
}

static bool view_task(const struct view *v, const struct cm_task *t)
{
    return !v->acls || cm_acls_allowed(v->acls, CM_ACL_VIEW_TASK, v->principal, task_user(t));
}

/* The read-only realm's authentication (401 answered here), then the 307 to the leader.
 * Returns false when the request was answered. *principal is malloc'd or NULL. */
static bool readonly_guard(struct cm_master *m, struct cm_http_request *req, bool redirect,
                           char **principal)
{
    if (!cm_master_http_authenticate(m, req, CM_MASTER_REALM_READONLY, principal))
        return false;
    if (redirect && cm_master_http_redirect(m, req)) {
        free(*principal);
        *principal = NULL;
        return false;
    }
    return true;
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
    return cm_enum_name_or(d, v, "UNKNOWN");
}

/* ------------------------------------------------------------------------------------------ */
/* shapes */

/* off after a snprintf at buf + off: clamped to the buffer (a long item is cut). */
static size_t advance(size_t off, int n, size_t len)
{
    off += n > 0 ? (size_t)n : 0;
    return off < len ? off : len - 1;
}

void cm_ep_ranges_text(char *buf, size_t len, const Mesos__V1__Value__Ranges *r)
{
    size_t off = advance(0, snprintf(buf, len, "["), len);
    for (size_t i = 0; r && i < r->n_range && off < len - 64; i++)
        off = advance(off,
                      snprintf(buf + off, len - off, "%s%llu-%llu", i ? ", " : "",
                               (unsigned long long)r->range[i]->begin,
                               (unsigned long long)r->range[i]->end),
                      len);
    snprintf(buf + off, len - off, "]");
}

void cm_ep_set_text(char *buf, size_t len, const Mesos__V1__Value__Set *s)
{
    size_t off = advance(0, snprintf(buf, len, "{"), len);
    for (size_t i = 0; s && i < s->n_item && off < len - 64; i++)
        off = advance(off, snprintf(buf + off, len - off, "%s%s", i ? ", " : "", s->item[i]), len);
    snprintf(buf + off, len - off, "}");
}

static json_t *range_text(const Mesos__V1__Value__Ranges *r)
{
    char buf[CM_EP_ATTR_TEXT];
    cm_ep_ranges_text(buf, sizeof buf, r);
    return json_string(buf);
}

static json_t *set_text(const Mesos__V1__Value__Set *s)
{
    char buf[CM_EP_ATTR_TEXT];
    cm_ep_set_text(buf, sizeof buf, s);
    return json_string(buf);
}

static json_t *attributes_json(const Mesos__V1__AgentInfo *info)
{
    json_t *o = json_object();
    for (size_t i = 0; info && i < info->n_attributes; i++) {
        const Mesos__V1__Attribute *a = info->attributes[i];
        json_t *v = NULL;
        switch (a->type) {
        case MESOS__V1__VALUE__TYPE__SCALAR: v = json_real(a->scalar ? a->scalar->value : 0); break;
        case MESOS__V1__VALUE__TYPE__RANGES: v = range_text(a->ranges); break;
        case MESOS__V1__VALUE__TYPE__SET: v = set_text(a->set); break;
        default: v = json_string(a->text && a->text->value ? a->text->value : ""); break;
        }
        json_object_set_new(o, a->name, v);
    }
    return o;
}

static json_t *status_json(const Mesos__V1__TaskStatus *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "state", json_string(cm_task_state_name(st->state)));
    json_object_set_new(o, "timestamp", json_real(st->has_timestamp ? st->timestamp : 0));
    if (st->has_healthy)
        json_object_set_new(o, "healthy", json_boolean(st->healthy));
    if (st->labels && st->labels->n_labels) {
        json_t *l = cm_pbjson_to_json(&st->labels->base);
        json_t *arr = json_object_get(l, "labels");
        if (arr)
            json_object_set(o, "labels", arr);
        json_decref(l);
    }
    if (st->container_status)
        json_object_set_new(o, "container_status", cm_pbjson_to_json(&st->container_status->base));
    return o;
}

static json_t *task_json(const struct cm_task *t)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(t->id));
    json_object_set_new(o, "name", json_string(t->info && t->info->name ? t->info->name : ""));
    json_object_set_new(o, "framework_id", json_string(t->fw->id));
    json_object_set_new(o, "executor_id",
                        json_string(t->info && t->info->executor && t->info->executor->executor_id
                                        ? t->info->executor->executor_id->value
                                        : ""));
    json_object_set_new(o, "slave_id", json_string(t->agent_id));
    json_object_set_new(o, "state", json_string(cm_task_state_name(t->state)));
    json_object_set_new(o, "resources", cm_resources_summary_json(&t->resources));
    json_object_set_new(o, "role", json_string(t->role));
    json_t *sts = json_array();
    for (size_t i = 0; i < t->nstatuses; i++)
        json_array_append_new(sts, status_json(t->statuses[i]));
    json_object_set_new(o, "statuses", sts);
    if (t->fw->info && t->fw->info->user)
        json_object_set_new(o, "user", json_string(t->fw->info->user));
    if (t->info && t->info->labels && t->info->labels->n_labels) {
        json_t *l = cm_pbjson_to_json(&t->info->labels->base);
        json_t *arr = json_object_get(l, "labels");
        if (arr)
            json_object_set(o, "labels", arr);
        json_decref(l);
    }
    if (t->info && t->info->discovery)
        json_object_set_new(o, "discovery", cm_pbjson_to_json(&t->info->discovery->base));
    if (t->info && t->info->container)
        json_object_set_new(o, "container", cm_pbjson_to_json(&t->info->container->base));
    if (t->info && t->info->health_check)
        json_object_set_new(o, "health_check", cm_pbjson_to_json(&t->info->health_check->base));
    return o;
}

static json_t *offer_json(const struct cm_offer *o)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(o->id));
    json_object_set_new(j, "framework_id", json_string(o->fw->id));
    json_object_set_new(j, "allocation_info", json_pack("{s:s}", "role", o->role));
    json_object_set_new(j, "slave_id", json_string(o->agent->id));
    json_object_set_new(j, "resources", cm_resources_summary_json(&o->resources));
    return j;
}

static json_t *fw_capabilities(const Mesos__V1__FrameworkInfo *info)
{
    json_t *a = json_array();
    for (size_t i = 0; info && i < info->n_capabilities; i++)
        if (info->capabilities[i]->has_type)
            json_array_append_new(
                a, json_string(enum_name(&mesos__v1__framework_info__capability__type__descriptor,
                                         info->capabilities[i]->type)));
    return a;
}

static void fw_common(json_t *o, const struct cm_framework *fw)
{
    const Mesos__V1__FrameworkInfo *info = fw->info;
    json_object_set_new(o, "id", json_string(fw->id));
    json_object_set_new(o, "name", json_string(info && info->name ? info->name : ""));
    json_object_set_new(o, "used_resources", cm_resources_summary_json(&fw->used));
    json_object_set_new(o, "offered_resources", cm_resources_summary_json(&fw->offered));
    json_object_set_new(o, "capabilities", fw_capabilities(info));
    json_object_set_new(o, "hostname", json_string(info && info->hostname ? info->hostname : ""));
    json_object_set_new(o, "webui_url",
                        json_string(info && info->webui_url ? info->webui_url : ""));
    json_object_set_new(o, "active", json_boolean(fw->active));
    json_object_set_new(o, "connected", json_boolean(fw->connected));
    json_object_set_new(o, "recovered", json_boolean(fw->recovered));
}

static json_t *framework_json(const struct cm_framework *fw, const struct view *v)
{
    const Mesos__V1__FrameworkInfo *info = fw->info;
    json_t *o = json_object();
    fw_common(o, fw);
    json_object_set_new(o, "user", json_string(info && info->user ? info->user : ""));
    json_object_set_new(o, "failover_timeout",
                        json_real(info && info->has_failover_timeout ? info->failover_timeout : 0));
    json_object_set_new(o, "checkpoint",
                        json_boolean(info && info->has_checkpoint && info->checkpoint));
    json_object_set_new(o, "registered_time", json_real(fw->registered_time));
    json_object_set_new(o, "unregistered_time", json_real(fw->unregistered_time));
    if (fw->reregistered_time > 0)
        json_object_set_new(o, "reregistered_time", json_real(fw->reregistered_time));
    if (info && info->principal)
        json_object_set_new(o, "principal", json_string(info->principal));
    struct cm_resources total;
    cm_resources_init(&total);
    cm_resources_copy(&total, &fw->used);
    cm_resources_add(&total, &fw->offered);
    json_object_set_new(o, "resources", cm_resources_summary_json(&total));
    cm_resources_cleanup(&total);
    if (fw->multi_role) {
        json_t *roles = json_array();
        for (size_t i = 0; i < fw->nroles; i++)
            json_array_append_new(roles, json_string(fw->roles[i]));
        json_object_set_new(o, "roles", roles);
    } else {
        json_object_set_new(o, "role", json_string(fw->nroles ? fw->roles[0] : "*"));
    }
    json_t *tasks = json_array();
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, (struct cm_strmap *)&fw->tasks); cm_strmap_iter_next(&it);)
        if (view_task(v, it.cur->value))
            json_array_append_new(tasks, task_json(it.cur->value));
    json_object_set_new(o, "tasks", tasks);
    json_t *unreachable = json_array();
    for (const struct cm_task *t = fw->uhead; t; t = t->unext)
        if (view_task(v, t))
            json_array_append_new(unreachable, task_json(t));
    json_object_set_new(o, "unreachable_tasks", unreachable);
    json_t *done = json_array();
    for (size_t i = 0; i < cm_ring_count(&fw->completed_tasks); i++)
        if (view_task(v, cm_ring_at(&fw->completed_tasks, i)))
            json_array_append_new(done, task_json(cm_ring_at(&fw->completed_tasks, i)));
    json_object_set_new(o, "completed_tasks", done);
    json_t *offers = json_array();
    for (cm_strmap_iter_init(&it, (struct cm_strmap *)&fw->offers); cm_strmap_iter_next(&it);)
        json_array_append_new(offers, offer_json(it.cur->value));
    json_object_set_new(o, "offers", offers);
    json_t *execs = json_array();
    for (cm_strmap_iter_init(&it, (struct cm_strmap *)&fw->executors); cm_strmap_iter_next(&it);)
        json_array_append_new(execs, cm_master_executor_json(it.cur->value));
    json_object_set_new(o, "executors", execs);
    if (info && info->labels && info->labels->n_labels) {
        json_t *l = cm_pbjson_to_json(&info->labels->base);
        json_t *arr = json_object_get(l, "labels");
        if (arr)
            json_object_set(o, "labels", arr);
        json_decref(l);
    }
    json_object_set_new(o, "offer_constraints", json_object());
    return o;
}

static json_t *reserved_json(const struct cm_resources *r, bool full)
{
    json_t *o = json_object();
    for (size_t i = 0; i < r->n; i++) {
        const char *role = r->v[i].role;
        if (strcmp(role, "*") == 0 || json_object_get(o, role))
            continue;
        struct cm_resources part;
        cm_resources_init(&part);
        cm_resources_reserved_to(r, role, &part);
        if (full) {
            Mesos__V1__Resource **v = NULL;
            size_t n = 0;
            cm_resources_to_proto(&part, NULL, &v, &n);
            json_t *arr = json_array();
            for (size_t k = 0; k < n; k++)
                json_array_append_new(arr, cm_pbjson_to_json(&v[k]->base));
            cm_resources_proto_free(v, n);
            json_object_set_new(o, role, arr);
        } else {
            json_object_set_new(o, role, cm_resources_summary_json(&part));
        }
        cm_resources_cleanup(&part);
    }
    return o;
}

static json_t *resources_full(const struct cm_resources *r)
{
    Mesos__V1__Resource **v = NULL;
    size_t n = 0;
    cm_resources_to_proto(r, NULL, &v, &n);
    json_t *arr = json_array();
    for (size_t k = 0; k < n; k++)
        json_array_append_new(arr, cm_pbjson_to_json(&v[k]->base));
    cm_resources_proto_free(v, n);
    return arr;
}

static json_t *agent_json(const struct cm_agent *a, bool full)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(a->id));
    json_object_set_new(o, "hostname", json_string(a->hostname));
    json_object_set_new(o, "port", json_integer(a->port));
    json_object_set_new(o, "attributes", attributes_json(a->info));
    if (a->info && a->info->domain)
        json_object_set_new(o, "domain", cm_pbjson_to_json(&a->info->domain->base));
    json_object_set_new(o, "pid", json_string(a->pid));
    json_object_set_new(o, "registered_time", json_real(a->registered_time));
    if (a->reregistered_time > 0)
        json_object_set_new(o, "reregistered_time", json_real(a->reregistered_time));
    json_object_set_new(o, "resources", cm_resources_summary_json(&a->total));
    json_object_set_new(o, "used_resources", cm_resources_summary_json(&a->used));
    json_object_set_new(o, "offered_resources", cm_resources_summary_json(&a->offered));
    json_object_set_new(o, "reserved_resources", reserved_json(&a->total, false));
    struct cm_resources unres;
    cm_resources_init(&unres);
    cm_resources_unreserved(&a->total, &unres);
    json_object_set_new(o, "unreserved_resources", cm_resources_summary_json(&unres));
    if (full) {
        json_object_set_new(o, "reserved_resources_full", reserved_json(&a->total, true));
        json_object_set_new(o, "unreserved_resources_full", resources_full(&unres));
        json_object_set_new(o, "used_resources_full", resources_full(&a->used));
        json_object_set_new(o, "offered_resources_full", resources_full(&a->offered));
    }
    cm_resources_cleanup(&unres);
    json_object_set_new(o, "active", json_boolean(a->active));
    json_object_set_new(o, "deactivated", json_boolean(!a->active));
    json_object_set_new(o, "version", json_string(a->version ? a->version : ""));
    json_t *caps = json_array();
    for (size_t i = 0; i < a->ncapabilities; i++)
        json_array_append_new(
            caps, json_string(enum_name(&mesos__v1__agent_info__capability__type__descriptor,
                                        a->capabilities[i])));
    json_object_set_new(o, "capabilities", caps);
    return o;
}

static void add_build_info(json_t *o)
{
    json_object_set_new(o, "version", json_string(CMESOS_VERSION));
    json_object_set_new(o, "build_date", json_string(__DATE__ " " __TIME__));
    json_object_set_new(o, "build_time", json_real(0));
    json_object_set_new(o, "build_user", json_string("cmesos"));
}

static json_t *master_capabilities(void)
{
    return json_pack("[sss]", "AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2");
}

/* ------------------------------------------------------------------------------------------ */
/* handlers */

static json_t *frameworks_array(struct cm_master *m, const char *only, const struct view *v)
{
    json_t *a = json_array();
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->frameworks); cm_strmap_iter_next(&it);) {
        struct cm_framework *fw = it.cur->value;
        if ((!only || strcmp(only, fw->id) == 0) && view_framework(v, fw))
            json_array_append_new(a, framework_json(fw, v));
    }
    return a;
}

static json_t *completed_array(struct cm_master *m, const char *only, const struct view *v)
{
    json_t *a = json_array();
    for (size_t i = 0; i < cm_ring_count(&m->completed_list); i++) {
        const struct cm_framework *fw = cm_ring_at(&m->completed_list, i);
        if ((!only || strcmp(only, fw->id) == 0) && view_framework(v, fw))
            json_array_append_new(a, framework_json(fw, v));
    }
    return a;
}

static json_t *agents_array(struct cm_master *m, const char *only, bool full)
{
    json_t *a = json_array();
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->agents); cm_strmap_iter_next(&it);) {
        struct cm_agent *ag = it.cur->value;
        if (!only || strcmp(only, ag->id) == 0)
            json_array_append_new(a, agent_json(ag, full));
    }
    return a;
}

/* /master/state up to "flags": everything but the arrays of agents and frameworks. */
static json_t *state_head(struct cm_master *m, const char *principal)
{
    json_t *o = json_object();
    add_build_info(o);
    json_object_set_new(o, "start_time", json_real(m->start_time));
    json_object_set_new(o, "elected_time", json_real(m->elected_time));
    json_object_set_new(o, "id", json_string(m->id));
    json_object_set_new(o, "pid", json_string(m->info->pid));
    json_object_set_new(o, "hostname", json_string(m->hostname));
    json_object_set_new(o, "capabilities", master_capabilities());
    size_t active = 0, inactive = 0;
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->agents); cm_strmap_iter_next(&it);)
        ((struct cm_agent *)it.cur->value)->active ? active++ : inactive++;
    json_object_set_new(o, "activated_slaves", json_real((double)active));
    json_object_set_new(o, "deactivated_slaves", json_real((double)inactive));
    json_object_set_new(o, "unreachable_slaves",
                        json_real((double)cm_registrar_count_unreachable(m->registrar)));
    json_object_set_new(o, "leader", json_string(m->info->pid));
    json_object_set_new(o, "leader_info",
                        json_pack("{s:s,s:s,s:i,s:s}", "id", m->id, "pid", m->info->pid, "port",
                                  (int)m->port, "hostname", m->hostname));
    if (m->flags->cluster)
        json_object_set_new(o, "cluster", json_string(m->flags->cluster));
    if (m->flags->log_dir)
        json_object_set_new(o, "log_dir", json_string(m->flags->log_dir));
    /* As in Mesos, the flags are shown to those view_flags allows. */
    if (cm_acls_allowed(m->acls, CM_ACL_VIEW_FLAGS, principal, NULL))
        json_object_set_new(o, "flags", cm_flags_to_json(m->flags->table, m->flags->nflags));
    return o;
}

static void handle_state(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    char *principal = NULL;
    if (!readonly_guard(m, req, true, &principal))
        return;
    if (cm_master_stream_state(m, req, &principal))
        return;
    struct view v = {m->acls, principal};
    json_t *o = state_head(m, principal);
    json_object_set_new(o, "slaves", agents_array(m, NULL, false));
    json_object_set_new(o, "recovered_slaves", json_array());
    json_object_set_new(o, "frameworks", frameworks_array(m, NULL, &v));
    json_object_set_new(o, "completed_frameworks", completed_array(m, NULL, &v));
    json_object_set_new(o, "orphan_tasks", json_array());
    json_object_set_new(o, "unregistered_frameworks", json_array());
    free(principal);
    cm_http_respond_json(req, 200, o);
}

static void task_counts(json_t *o, struct cm_strmap *tasks, bool fw_side)
{
    static const int states[] = {
        MESOS__V1__TASK_STATE__TASK_STAGING,  MESOS__V1__TASK_STATE__TASK_STARTING,
        MESOS__V1__TASK_STATE__TASK_RUNNING,  MESOS__V1__TASK_STATE__TASK_KILLING,
        MESOS__V1__TASK_STATE__TASK_FINISHED, MESOS__V1__TASK_STATE__TASK_KILLED,
        MESOS__V1__TASK_STATE__TASK_FAILED,   MESOS__V1__TASK_STATE__TASK_LOST,
        MESOS__V1__TASK_STATE__TASK_ERROR,    MESOS__V1__TASK_STATE__TASK_UNREACHABLE};
    long counts[16] = {0};
    json_t *ids = json_array();
    json_t *seen = json_object();
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, tasks); cm_strmap_iter_next(&it);) {
        struct cm_task *t = it.cur->value;
        if (t->state >= 0 && t->state < 16)
            counts[t->state]++;
        const char *other = fw_side ? t->agent_id : t->fw->id;
        if (!json_object_get(seen, other)) {
            json_object_set_new(seen, other, json_true());
            json_array_append_new(ids, json_string(other));
        }
    }
    json_decref(seen);
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        json_object_set_new(o, cm_task_state_name(states[i]), json_integer(counts[states[i]]));
    json_object_set_new(o, fw_side ? "slave_ids" : "framework_ids", ids);
}

/* /master/state-summary's pieces. */
static json_t *summary_head(struct cm_master *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "hostname", json_string(m->hostname));
    if (m->flags->cluster)
        json_object_set_new(o, "cluster", json_string(m->flags->cluster));
    return o;
}

static json_t *summary_agent(struct cm_agent *a)
{
    json_t *j = agent_json(a, false);
    task_counts(j, &a->tasks, false);
    return j;
}

static json_t *summary_framework(struct cm_framework *fw)
{
    json_t *j = json_object();
    fw_common(j, fw);
    task_counts(j, &fw->tasks, true);
    return j;
}

static void handle_state_summary(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    char *principal = NULL;
    if (!readonly_guard(m, req, true, &principal))
        return;
    if (cm_master_stream_summary(m, req, &principal))
        return;
    struct view v = {m->acls, principal};
    json_t *o = summary_head(m);
    json_t *slaves = json_array();
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->agents); cm_strmap_iter_next(&it);)
        json_array_append_new(slaves, summary_agent(it.cur->value));
    json_object_set_new(o, "slaves", slaves);
    json_t *fws = json_array();
    for (cm_strmap_iter_init(&it, &m->frameworks); cm_strmap_iter_next(&it);) {
        struct cm_framework *fw = it.cur->value;
        if (view_framework(&v, fw))
            json_array_append_new(fws, summary_framework(fw));
    }
    json_object_set_new(o, "frameworks", fws);
    free(principal);
    cm_http_respond_json(req, 200, o);
}

static void handle_frameworks(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    char *principal = NULL;
    if (!readonly_guard(m, req, true, &principal))
        return;
    char *only = cm_http_request_query_param(req, "framework_id");
    if (cm_master_stream_frameworks(m, req, only, &principal)) {
        free(only);
        return;
    }
    struct view v = {m->acls, principal};
    json_t *o = json_object();
    json_object_set_new(o, "frameworks", frameworks_array(m, only, &v));
    json_object_set_new(o, "completed_frameworks", completed_array(m, only, &v));
    json_object_set_new(o, "unregistered_frameworks", json_array());
    free(only);
    free(principal);
    cm_http_respond_json(req, 200, o);
}

static void handle_slaves(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    char *principal = NULL;
    if (!readonly_guard(m, req, true, &principal))
        return;
    free(principal); /* Mesos has no view_agents action: agents are not filtered */
    char *only = cm_http_request_query_param(req, "slave_id");
    if (cm_master_stream_slaves(m, req, only)) {
        free(only);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "slaves", agents_array(m, only, true));
    json_object_set_new(o, "recovered_slaves", json_array());
    free(only);
    cm_http_respond_json(req, 200, o);
}

void cm_ep_task_key_of(struct cm_ep_task_key *k, const struct cm_task *t, long ring)
{
    const Mesos__V1__TaskStatus *st = t->nstatuses ? t->statuses[0] : NULL;
    k->has_status = st != NULL;
    k->ts = st && st->has_timestamp && !isnan(st->timestamp) ? st->timestamp : 0;
    k->fw_id = t->fw->id;
    k->task_id = t->id;
    k->ring = ring;
    k->addr = (uintptr_t)t;
}

int cm_ep_task_key_cmp(const struct cm_ep_task_key *a, const struct cm_ep_task_key *b)
{
    if (a->has_status != b->has_status)
        return a->has_status ? 1 : -1; /* without a status first */
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    int c = strcmp(a->fw_id, b->fw_id);
    if (c)
        return c;
    c = strcmp(a->task_id, b->task_id);
    if (c)
        return c;
    if (a->ring != b->ring)
        return a->ring < b->ring ? -1 : 1;
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

static int by_key_asc(const void *a, const void *b)
{
    return cm_ep_task_key_cmp(a, b);
}

static int by_key_des(const void *a, const void *b)
{
    return cm_ep_task_key_cmp(b, a);
}

static void add_task_key(struct cm_ep_task_key **v, size_t *n, size_t *cap, const struct cm_task *t,
                         long ring)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        *v = cm_xrealloc(*v, *cap * sizeof **v);
    }
    cm_ep_task_key_of(&(*v)[(*n)++], t, ring);
}

/* A framework's tasks for /master/tasks, as Mesos collects them: active, unreachable,
 * completed. */
static void collect_tasks(const struct cm_framework *fw, const char *task_id,
                          struct cm_ep_task_key **v, size_t *n, size_t *cap,
                          const struct view *view)
{
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &fw->tasks); cm_strmap_iter_next(&it);) {
        const struct cm_task *t = it.cur->value;
        if ((!task_id || strcmp(task_id, t->id) == 0) && view_task(view, t))
            add_task_key(v, n, cap, t, -1);
    }
    for (cm_strmap_iter_init(&it, &fw->unreachable_tasks); cm_strmap_iter_next(&it);) {
        const struct cm_task *t = it.cur->value;
        if ((!task_id || strcmp(task_id, t->id) == 0) && view_task(view, t))
            add_task_key(v, n, cap, t, -1);
    }
    for (size_t i = 0; i < cm_ring_count(&fw->completed_tasks); i++) {
        const struct cm_task *t = cm_ring_at(&fw->completed_tasks, i);
        if ((!task_id || strcmp(task_id, t->id) == 0) && view_task(view, t))
            add_task_key(v, n, cap, t, (long)i);
    }
}

/* A count parameter of /master/tasks; false when it is not a number >= 0. */
static bool count_param(const char *s, size_t *out)
{
    if (!s)
        return true;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < 0 || errno)
        return false;
    *out = (size_t)v;
    return true;
}

static void handle_tasks(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    char *principal = NULL;
    if (!readonly_guard(m, req, true, &principal))
        return;
    struct view view = {m->acls, principal};
    char *limit_s = cm_http_request_query_param(req, "limit");
    char *offset_s = cm_http_request_query_param(req, "offset");
    char *order = cm_http_request_query_param(req, "order");
    char *fid = cm_http_request_query_param(req, "framework_id");
    char *tid = cm_http_request_query_param(req, "task_id");
    struct cm_ep_tasks_query q = {.framework_id = fid, .task_id = tid, .limit = 100};
    bool ok = count_param(limit_s, &q.limit) && count_param(offset_s, &q.offset);
    if (order && strcmp(order, "asc") != 0 && strcmp(order, "des") != 0)
        ok = false;
    if (!ok) {
        cm_http_respond_text(req, 400, "Invalid 'limit', 'offset' or 'order' query parameter");
        goto out;
    }
    q.asc = order && strcmp(order, "asc") == 0;
    if (cm_master_stream_tasks(m, req, &principal, &q))
        goto out;
    /* ?jsonp: in one piece (every task collected and sorted: the reference the streamed
     * selection is compared with). */
    struct cm_ep_task_key *v = NULL;
    size_t n = 0, cap = 0;
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->frameworks); cm_strmap_iter_next(&it);) {
        const struct cm_framework *fw = it.cur->value;
        if ((!fid || strcmp(fid, fw->id) == 0) && view_framework(&view, fw))
            collect_tasks(fw, tid, &v, &n, &cap, &view);
    }
    for (size_t i = 0; i < cm_ring_count(&m->completed_list); i++) {
        const struct cm_framework *fw = cm_ring_at(&m->completed_list, i);
        if ((!fid || strcmp(fid, fw->id) == 0) && view_framework(&view, fw))
            collect_tasks(fw, tid, &v, &n, &cap, &view);
    }
    if (n)
        qsort(v, n, sizeof *v, q.asc ? by_key_asc : by_key_des);
    json_t *arr = json_array();
    for (size_t i = q.offset; i < n && i - q.offset < q.limit; i++)
        json_array_append_new(arr, task_json((const struct cm_task *)v[i].addr));
    free(v);
    json_t *o = json_object();
    json_object_set_new(o, "tasks", arr);
    cm_http_respond_json(req, 200, o);
out:
    free(principal);
    free(limit_s);
    free(offset_s);
    free(order);
    free(fid);
    free(tid);
}

static void handle_redirect(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    char leader[300], loc[320];
    if (!m->contender->ops->leader(m->contender, leader, sizeof leader)) {
        cm_http_respond_text(req, 503, "No leader elected");
        return;
    }
    snprintf(loc, sizeof loc, "//%s", leader);
    cm_http_add_header(req, "Location", loc);
    cm_http_respond(req, 307, NULL, NULL, 0);
}

static void handle_health(struct cm_http_request *req, void *arg)
{
    (void)arg;
    cm_http_respond(req, 200, NULL, NULL, 0);
}

static void handle_version(struct cm_http_request *req, void *arg)
{
    (void)arg;
    json_t *o = json_object();
    add_build_info(o);
    cm_http_respond_json(req, 200, o);
}

static void handle_flags(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    char *principal = NULL;
    if (!readonly_guard(m, req, false, &principal))
        return;
    bool ok = cm_master_http_authorize(m, req, CM_ACL_VIEW_FLAGS, principal, NULL);
    free(principal);
    if (!ok)
        return;
    json_t *o = json_object();
    json_object_set_new(o, "flags", cm_flags_to_json(m->flags->table, m->flags->nflags));
    cm_http_respond_json(req, 200, o);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

static void alloc_stats(json_t *o, const struct cm_master_metrics *mm)
{
    const char *base = "allocator/mesos/allocation_run_ms";
    size_t n = mm->alloc_n, cap = sizeof mm->alloc_ms / sizeof mm->alloc_ms[0];
    if (n == 0)
        return;
    double *v = cm_xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = mm->alloc_ms[(mm->alloc_head + i) % cap];
    cm_metrics_set(o, base, v[n - 1]); /* the latest value, as Mesos's timer reports */
    qsort(v, n, sizeof *v, cmp_double);
    char k[128];
    static const struct {
        const char *s;
        double p;
    } ps[] = {{"p50", .5},  {"p90", .9},    {"p95", .95},
              {"p99", .99}, {"p999", .999}, {"p9999", .9999}};
    snprintf(k, sizeof k, "%s/count", base);
    cm_metrics_set(o, k, (double)n);
    snprintf(k, sizeof k, "%s/min", base);
    cm_metrics_set(o, k, v[0]);
    snprintf(k, sizeof k, "%s/max", base);
    cm_metrics_set(o, k, v[n - 1]);
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        size_t idx = (size_t)(ps[i].p * (double)(n - 1) + 0.5);
        snprintf(k, sizeof k, "%s/%s", base, ps[i].s);
        cm_metrics_set(o, k, v[idx < n ? idx : n - 1]);
    }
    free(v);
}

static void url_encode(char *dst, size_t len, const char *src)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *src && o + 4 < len; src++) {
        unsigned char c = (unsigned char)*src;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '%';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    dst[o] = 0;
}

static void lower(char *dst, size_t len, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < len; i++)
        dst[i] = (char)((src[i] >= 'A' && src[i] <= 'Z') ? src[i] + 32 : src[i]);
    dst[i] = 0;
}

static void framework_metrics(json_t *o, const struct cm_framework *fw)
{
    char name[300], prefix[700], k[900], t[64];
    url_encode(name, sizeof name, fw->info && fw->info->name ? fw->info->name : "");
    snprintf(prefix, sizeof prefix, "master/frameworks/%s/%s", name, fw->id);
    const struct cm_fw_metrics *fm = &fw->metrics;
    snprintf(k, sizeof k, "%s/subscribed", prefix);
    cm_metrics_set(o, k, fw->connected ? 1 : 0);
    snprintf(k, sizeof k, "%s/calls", prefix);
    cm_metrics_set(o, k, (double)fm->calls);
    for (int i = 0; i < CM_MASTER_NCALL_TYPES; i++) {
        const char *tname = cm_enum_name(&mesos__v1__scheduler__call__type__descriptor, i);
        if (!tname || i == 0)
            continue;
        lower(t, sizeof t, tname);
        snprintf(k, sizeof k, "%s/calls/%s", prefix, t);
        cm_metrics_set(o, k, (double)fm->call_types[i]);
    }
    snprintf(k, sizeof k, "%s/events", prefix);
    cm_metrics_set(o, k, (double)fm->events);
    for (int i = 0; i < CM_MASTER_NEVENT_TYPES; i++) {
        const char *tname = cm_enum_name(&mesos__v1__scheduler__event__type__descriptor, i);
        if (!tname || i == 0)
            continue;
        lower(t, sizeof t, tname);
        snprintf(k, sizeof k, "%s/events/%s", prefix, t);
        cm_metrics_set(o, k, (double)fm->event_types[i]);
    }
    snprintf(k, sizeof k, "%s/offers/sent", prefix);
    cm_metrics_set(o, k, (double)fm->offers_sent);
    snprintf(k, sizeof k, "%s/offers/accepted", prefix);
    cm_metrics_set(o, k, (double)fm->offers_accepted);
    snprintf(k, sizeof k, "%s/offers/declined", prefix);
    cm_metrics_set(o, k, (double)fm->offers_declined);
    snprintf(k, sizeof k, "%s/offers/rescinded", prefix);
    cm_metrics_set(o, k, (double)fm->offers_rescinded);
    for (size_t i = 0; i < fw->nroles; i++) {
        bool sup = false;
        for (size_t j = 0; j < fw->nsuppressed; j++)
            sup = sup || strcmp(fw->suppressed[j], fw->roles[i]) == 0;
        snprintf(k, sizeof k, "%s/roles/%s/suppressed", prefix, fw->roles[i]);
        cm_metrics_set(o, k, sup ? 1 : 0);
    }
}

json_t *cm_master_metrics_json(struct cm_master *m)
{
    const struct cm_master_metrics *mm = &m->metrics;
    json_t *o = json_object();
    double now = cm_clock_now(m->clock);
    cm_metrics_set(o, "master/uptime_secs", now - m->start_time);
    cm_metrics_set(o, "master/elected", m->contender->ops->is_leader(m->contender) ? 1 : 0);
    /* Subscribers cut off for not reading their event stream (http_server.h). */
    if (m->http)
        cm_http_server_metrics(m->http, o, "master");

    size_t sa = 0, si = 0, sc = 0, sd = 0;
    struct cm_resources total, used;
    cm_resources_init(&total);
    cm_resources_init(&used);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->agents); cm_strmap_iter_next(&it);) {
        struct cm_agent *a = it.cur->value;
        a->active ? sa++ : si++;
        a->connected ? sc++ : sd++;
        cm_resources_add(&total, &a->total);
        cm_resources_add(&used, &a->used);
    }
    cm_metrics_set(o, "master/slaves_active", (double)sa);
    cm_metrics_set(o, "master/slaves_inactive", (double)si);
    cm_metrics_set(o, "master/slaves_connected", (double)sc);
    cm_metrics_set(o, "master/slaves_disconnected", (double)sd);
    cm_metrics_set(o, "master/slaves_unreachable",
                   (double)cm_registrar_count_unreachable(m->registrar));
    size_t fa = 0, fi = 0, fc = 0, fd = 0;
    for (cm_strmap_iter_init(&it, &m->frameworks); cm_strmap_iter_next(&it);) {
        struct cm_framework *fw = it.cur->value;
        fw->active ? fa++ : fi++;
        fw->connected ? fc++ : fd++;
        if (m->flags->publish_per_framework_metrics)
            framework_metrics(o, fw);
    }
    cm_metrics_set(o, "master/frameworks_active", (double)fa);
    cm_metrics_set(o, "master/frameworks_inactive", (double)fi);
    cm_metrics_set(o, "master/frameworks_connected", (double)fc);
    cm_metrics_set(o, "master/frameworks_disconnected", (double)fd);
    cm_metrics_set(o, "master/outstanding_offers", (double)cm_strmap_count(&m->offers));
    cm_metrics_set(o, "master/operator_event_stream_subscribers", 0);
    cm_metrics_set(o, "master/event_queue_messages", 0);
    cm_metrics_set(o, "master/event_queue_dispatches", 0);
    cm_metrics_set(o, "master/event_queue_http_requests", 0);

    cm_metrics_resources(o, "master", &total, &used);
    static const char *const rnames[] = {"cpus", "gpus", "mem", "disk"};
    char k[256];
    for (size_t i = 0; i < 4; i++) {
        snprintf(k, sizeof k, "allocator/mesos/resources/%s/total", rnames[i]);
        cm_metrics_set(o, k, cm_scalar_to_double(cm_resources_scalar(&total, rnames[i])));
    }
    cm_resources_cleanup(&total);
    cm_resources_cleanup(&used);

    cm_metrics_set(o, "master/tasks_staging",
                   (double)mm->task_gauge[MESOS__V1__TASK_STATE__TASK_STAGING]);
    cm_metrics_set(o, "master/tasks_starting",
                   (double)mm->task_gauge[MESOS__V1__TASK_STATE__TASK_STARTING]);
    cm_metrics_set(o, "master/tasks_running",
                   (double)mm->task_gauge[MESOS__V1__TASK_STATE__TASK_RUNNING]);
    cm_metrics_set(o, "master/tasks_killing",
                   (double)mm->task_gauge[MESOS__V1__TASK_STATE__TASK_KILLING]);
    cm_metrics_set(o, "master/tasks_unreachable",
                   (double)mm->task_gauge[MESOS__V1__TASK_STATE__TASK_UNREACHABLE]);
    static const int terminal[] = {
        MESOS__V1__TASK_STATE__TASK_FINISHED, MESOS__V1__TASK_STATE__TASK_FAILED,
        MESOS__V1__TASK_STATE__TASK_KILLED,   MESOS__V1__TASK_STATE__TASK_LOST,
        MESOS__V1__TASK_STATE__TASK_ERROR,    MESOS__V1__TASK_STATE__TASK_DROPPED,
        MESOS__V1__TASK_STATE__TASK_GONE,     MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR};
    for (size_t i = 0; i < sizeof terminal / sizeof terminal[0]; i++) {
        char st[64];
        lower(st, sizeof st, cm_task_state_name(terminal[i]) + 5);
        snprintf(k, sizeof k, "master/tasks_%s", st);
        cm_metrics_set(o, k, (double)mm->tasks_terminal[terminal[i]]);
    }
    for (cm_strmap_iter_init(&it, (struct cm_strmap *)&mm->task_reasons); cm_strmap_iter_next(&it);)
        cm_metrics_set(o, it.cur->key, (double)*(uint64_t *)it.cur->value);

#define MSG(name) cm_metrics_set(o, "master/messages_" #name, (double)mm->messages_##name)
    MSG(register_framework);
    MSG(reregister_framework);
    MSG(unregister_framework);
    MSG(deactivate_framework);
    MSG(launch_tasks);
    MSG(decline_offers);
    MSG(revive_offers);
    MSG(suppress_offers);
    MSG(kill_task);
    MSG(status_update);
    MSG(status_update_acknowledgement);
    MSG(reconcile_tasks);
    MSG(reconcile_operations);
    MSG(resource_request);
    MSG(framework_to_executor);
    MSG(executor_to_framework);
    MSG(exited_executor);
    MSG(register_slave);
    MSG(reregister_slave);
    MSG(unregister_slave);
    MSG(update_slave);
#undef MSG
#define CNT(name) cm_metrics_set(o, "master/" #name, (double)mm->name)
    CNT(valid_status_updates);
    CNT(invalid_status_updates);
    CNT(valid_status_update_acknowledgements);
    CNT(invalid_status_update_acknowledgements);
    CNT(valid_framework_to_executor_messages);
    CNT(invalid_framework_to_executor_messages);
    CNT(valid_executor_to_framework_messages);
    CNT(invalid_executor_to_framework_messages);
    CNT(slave_registrations);
    CNT(slave_reregistrations);
    CNT(slave_removals);
    CNT(dropped_messages);
#undef CNT
    cm_metrics_set(o, "master/slave_removals/reason_unregistered",
                   (double)mm->slave_removals_unregistered);
    cm_metrics_set(o, "master/slave_removals/reason_unhealthy",
                   (double)mm->slave_removals_unhealthy);
    cm_metrics_set(o, "master/slave_unreachable_scheduled",
                   (double)mm->slave_unreachable_scheduled);
    cm_metrics_set(o, "master/slave_unreachable_completed",
                   (double)mm->slave_unreachable_completed);
    cm_metrics_set(o, "master/slave_unreachable_canceled", (double)mm->slave_unreachable_canceled);
    cm_metrics_set(o, "master/slave_removals/reason_registered", 0);
    cm_metrics_set(o, "master/http_cache_hits", 0);
    cm_metrics_set(o, "master/recovery_slave_removals", (double)mm->recovery_slave_removals);

    cm_metrics_set(o, "allocator/mesos/allocation_runs", (double)mm->allocation_runs);
    alloc_stats(o, mm);
    cm_metrics_set(o, "allocator/mesos/event_queue_dispatches", 0);
    struct cm_allocator_stats as;
    cm_allocator_stats(m->allocator, &as);
    cm_metrics_set(o, "allocator/mesos/resources/cpus/offered_or_allocated", as.cpus_allocated);
    cm_metrics_set(o, "allocator/mesos/resources/mem/offered_or_allocated", as.mem_allocated);
    cm_metrics_set(o, "allocator/mesos/resources/disk/offered_or_allocated", as.disk_allocated);
    for (cm_strmap_iter_init(&it, &m->frameworks); cm_strmap_iter_next(&it);) {
        struct cm_framework *fw = it.cur->value;
        for (size_t i = 0; i < fw->nroles; i++) {
            snprintf(k, sizeof k, "allocator/mesos/roles/%s/shares/dominant", fw->roles[i]);
            cm_metrics_set(o, k, cm_allocator_role_share(m->allocator, fw->roles[i]));
        }
    }
    struct cm_registrar_stats rs;
    cm_registrar_stats(m->registrar, &rs);
    cm_metrics_set(o, "registrar/registry_size_bytes", (double)rs.size_bytes);
    cm_metrics_set(o, "registrar/queued_operations", (double)cm_registrar_queued(m->registrar));
    cm_metrics_set(o, "registrar/state_fetch_ms", rs.fetch_ms);
    cm_metrics_set(o, "registrar/state_store_ms", rs.store_ms);

    cm_metrics_system(o);
    return o;
}

static void handle_metrics(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    char *principal = NULL;
    if (!readonly_guard(m, req, false, &principal))
        return;
    /* get_endpoints covers /metrics/snapshot in Mesos (authorization.md). */
    bool ok = cm_master_http_authorize(m, req, CM_ACL_GET_ENDPOINT, principal, "/metrics/snapshot");
    free(principal);
    if (!ok)
        return;
    char *timeout = cm_http_request_query_param(req, "timeout");
    if (timeout) {
        double secs;
        int rc = cm_duration_parse(timeout, &secs);
        free(timeout);
        if (rc) {
            cm_http_respond_text(req, 400, "Invalid timeout");
            return;
        }
    }
    cm_http_respond_json(req, 200, cm_master_metrics_json(m));
}

/* /metrics: the snapshot in Prometheus's text format (prometheus.h). */
static void handle_prometheus(struct cm_http_request *req, void *arg)
{
    /* The same metrics as /metrics/snapshot, so the same realm and get_endpoints rule. */
    struct cm_master *m = arg;
    char *principal = NULL;
    if (!readonly_guard(m, req, false, &principal))
        return;
    bool ok = cm_master_http_authorize(m, req, CM_ACL_GET_ENDPOINT, principal, "/metrics");
    free(principal);
    if (ok)
        cm_prom_respond(req, cm_master_metrics_json(m));
}

void cm_master_endpoints_routes(struct cm_master *m)
{
    struct cm_http_server *h = m->http;
    /* The server's "master" prefix makes each of these reachable as /master/... too. */
    cm_http_server_route(h, "/state", handle_state, m);
    cm_http_server_route(h, "/state.json", handle_state, m);
    cm_http_server_route(h, "/state-summary", handle_state_summary, m);
    cm_http_server_route(h, "/frameworks", handle_frameworks, m);
    cm_http_server_route(h, "/slaves", handle_slaves, m);
    cm_http_server_route(h, "/tasks", handle_tasks, m);
    cm_http_server_route(h, "/tasks.json", handle_tasks, m);
    cm_http_server_route(h, "/redirect", handle_redirect, m);
    cm_http_server_route(h, "/health", handle_health, m);
    cm_http_server_route(h, "/flags", handle_flags, m);
    cm_http_server_route(h, "/version", handle_version, m);
    cm_http_server_route(h, "/metrics/snapshot", handle_metrics, m);
    cm_http_server_route(h, "/metrics", handle_prometheus, m);
    CM_DEBUG(MOD, "Routes registered");
}

/* ------------------------------------------------------------------------------------------ */
/* the builders, for endpoints_stream.c (endpoints_json.h) */

json_t *cm_ep_state_head(struct cm_master *m, const char *principal)
{
    return state_head(m, principal);
}

json_t *cm_ep_summary_head(struct cm_master *m)
{
    return summary_head(m);
}

json_t *cm_ep_attributes_json(const Mesos__V1__AgentInfo *info)
{
    return attributes_json(info);
}

bool cm_ep_view_framework(const struct cm_master *m, const char *principal,
                          const struct cm_framework *fw)
{
    struct view v = {m->acls, principal};
    return view_framework(&v, fw);
}

bool cm_ep_view_task(const struct cm_master *m, const char *principal, const struct cm_task *t)
{
    struct view v = {m->acls, principal};
    return view_task(&v, t);
}
