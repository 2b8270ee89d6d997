/* endpoints_out.c: the read-only endpoints' objects written straight into the reply's buffer
 * (json_out.h), with no json_t tree: the same text, key for key and byte for byte, as the
 * jansson builders of endpoints.c dump (endpoints_json.h). HTTP edge: reads the core's state,
 * changes nothing.
 *
 * Where jansson would leave a member out (a string that is not UTF-8, a non-finite double) the
 * cm_json_out_k* helpers do too. The rare shapes whose jansson rules are awkward to follow
 * (a resource summary that must merge ranges or sets across roles, attributes with a repeated
 * name, custom executors) are built with jansson and their dump is copied in. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "endpoints_json.h"
#include "json_out.h"
#include "pbjson.h"

typedef struct cm_json_out W;

/* Members with literal keys (no length to count, no check of the key). */
#define KEY(w, lit) cm_json_out_keyn(w, lit, sizeof(lit) - 1)
#define KSTR(w, lit, s) cm_json_out_kstrn(w, lit, sizeof(lit) - 1, s)
#define KBOOL(w, lit, v) (KEY(w, lit), cm_json_out_bool(w, v))
#define KINT(w, lit, v) (KEY(w, lit), cm_json_out_int(w, v))
/* A non-finite double is left out, as jansson does. */
#define KREAL(w, lit, v)                                                                           \
    do {                                                                                           \
        double v_ = (v);                                                                           \
        if (isfinite(v_)) {                                                                        \
            KEY(w, lit);                                                                           \
            cm_json_out_real(w, v_);                                                               \
        }                                                                                          \
    } while (0)

static bool utf8(const char *s)
{
    return s && cm_json_utf8_valid(s, strlen(s));
}

/* A value built with jansson (consumed), copied in as a value; nothing if it failed. */
static void put_json(W *w, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!text)
        return;
    /* The comma a value gets after another one. */
    if (w->last && w->last != '{' && w->last != '[' && w->last != ':' && w->last != ',')
        cm_json_out_raw(w, ",", 1);
    cm_json_out_raws(w, text);
    free(text);
}

/* ---- resources ---- */

static void resource_value(W *w, const struct cm_resource *e, int64_t scalar)
{
    char buf[64];
    switch (e->type) {
    case CM_VALUE_SCALAR: cm_json_out_real(w, cm_scalar_to_double(scalar)); return;
    case CM_VALUE_RANGES: {
        /* "[b-e, b-e]" */
        struct cm_json_out t = CM_JSON_OUT_INIT;
        cm_json_out_raw(&t, "[", 1);
        for (size_t k = 0; k < e->nranges; k++) {
            int n = snprintf(buf, sizeof buf, "%s%llu-%llu", k ? ", " : "",
                             (unsigned long long)e->ranges[k].begin,
                             (unsigned long long)e->ranges[k].end);
            cm_json_out_raw(&t, buf, (size_t)n);
        }
        cm_json_out_raw(&t, "]", 1);
        cm_json_out_strn(w, t.data, t.len);
        cm_json_out_cleanup(&t);
        return;
    }
    case CM_VALUE_SET: {
        struct cm_json_out t = CM_JSON_OUT_INIT;
        cm_json_out_raw(&t, "{", 1);
        for (size_t k = 0; k < e->nitems; k++) {
            if (k)
                cm_json_out_raw(&t, ", ", 2);
            cm_json_out_raws(&t, e->items[k]);
        }
        cm_json_out_raw(&t, "}", 1);
        cm_json_out_strn(w, t.data, t.len);
        cm_json_out_cleanup(&t);
        return;
    }
    }
}

static bool resource_empty(const struct cm_resource *e)
{
    return e->type == CM_VALUE_SCALAR   ? e->scalar == 0
           : e->type == CM_VALUE_RANGES ? e->nranges == 0
                                        : e->nitems == 0;
}

/* Whether r's summary can be written here: every name valid text with one type, the items of
 * sets valid text, no empty entry, and a name under several roles only for scalars (summed). */
static bool summary_simple(const struct cm_resources *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct cm_resource *e = &r->v[i];
        if (!utf8(e->name) || resource_empty(e))
            return false;
        for (size_t k = 0; e->type == CM_VALUE_SET && k < e->nitems; k++)
            if (!utf8(e->items[k]))
                return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->v[j].name, e->name) == 0 &&
                (r->v[j].type != e->type || e->type != CM_VALUE_SCALAR))
                return false;
    }
    return true;
}

/* The first entry named name (NULL if none) and, for a scalar, the sum over every role. */
static const struct cm_resource *find_named(const struct cm_resources *r, const char *name,
                                            size_t before, int64_t *sum)
{
    const struct cm_resource *first = NULL;
    *sum = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->v[i].name, name) != 0)
            continue;
        if (!first) {
            if (i < before)
                return NULL; /* written already */
            first = &r->v[i];
        }
        *sum += r->v[i].scalar;
    }
    return first;
}

/* cm_resources_summary_json, written. */
static void summary(W *w, const struct cm_resources *r)
{
    if (!summary_simple(r)) {
        put_json(w, cm_resources_summary_json(r));
        return;
    }
    static const char *const always[] = {"cpus", "gpus", "mem", "disk"};
    int64_t sum;
    cm_json_out_obj_open(w);
    for (size_t i = 0; i < 4; i++) {
        cm_json_out_key(w, always[i]);
        const struct cm_resource *e = find_named(r, always[i], 0, &sum);
        if (e)
            resource_value(w, e, sum);
        else
            cm_json_out_raw(w, "0.0", 3);
    }
    for (size_t i = 0; i < r->n; i++) {
        const char *name = r->v[i].name;
        if (!strcmp(name, "cpus") || !strcmp(name, "gpus") || !strcmp(name, "mem") ||
            !strcmp(name, "disk"))
            continue;
        const struct cm_resource *e = find_named(r, name, i, &sum);
        if (!e)
            continue;
        cm_json_out_key(w, name);
        resource_value(w, e, sum);
    }
    cm_json_out_obj_close(w);
}

/* An array of r as Resource messages (the *_full members). */
static void resources_full(W *w, const struct cm_resources *r)
{
    Mesos__V1__Resource **v = NULL;
    size_t n = 0;
    cm_resources_to_proto(r, NULL, &v, &n);
    cm_json_out_arr_open(w);
    for (size_t k = 0; k < n; k++)
        cm_pbjson_write(w, &v[k]->base);
    cm_json_out_arr_close(w);
    cm_resources_proto_free(v, n);
}

/* ---- tasks and offers ---- */

/* A Labels message's "labels" array as a member (the callers check n_labels). */
static void labels(W *w, const Mesos__V1__Labels *l)
{
    if (!l->labels)
        return;
    KEY(w, "labels");
    cm_json_out_arr_open(w);
    for (size_t i = 0; i < l->n_labels; i++)
        cm_pbjson_write(w, l->labels[i] ? &l->labels[i]->base : NULL);
    cm_json_out_arr_close(w);
}

static void kmsg(W *w, const char *key, const ProtobufCMessage *msg)
{
    cm_json_out_key(w, key);
    cm_pbjson_write(w, msg);
}

static void status(W *w, const Mesos__V1__TaskStatus *st)
{
    cm_json_out_obj_open(w);
    KSTR(w, "state", cm_task_state_name(st->state));
    KREAL(w, "timestamp", st->has_timestamp ? st->timestamp : 0);
    if (st->has_healthy)
        KBOOL(w, "healthy", st->healthy);
    if (st->labels && st->labels->n_labels)
        labels(w, st->labels);
    if (st->container_status)
        kmsg(w, "container_status", &st->container_status->base);
    cm_json_out_obj_close(w);
}

void cm_epw_task(W *w, const struct cm_task *t)
{
    const Mesos__V1__TaskInfo *info = t->info;
    cm_json_out_obj_open(w);
    KSTR(w, "id", t->id);
    KSTR(w, "name", info && info->name ? info->name : "");
    KSTR(w, "framework_id", t->fw->id);
    KSTR(w, "executor_id",
         info && info->executor && info->executor->executor_id ? info->executor->executor_id->value
                                                               : "");
    KSTR(w, "slave_id", t->agent_id);
    KSTR(w, "state", cm_task_state_name(t->state));
    KEY(w, "resources");
    summary(w, &t->resources);
    KSTR(w, "role", t->role);
    KEY(w, "statuses");
    cm_json_out_arr_open(w);
    for (size_t i = 0; i < t->nstatuses; i++)
        status(w, t->statuses[i]);
    cm_json_out_arr_close(w);
    if (t->fw->info && t->fw->info->user)
        KSTR(w, "user", t->fw->info->user);
    if (info && info->labels && info->labels->n_labels)
        labels(w, info->labels);
    if (info && info->discovery)
        kmsg(w, "discovery", &info->discovery->base);
    if (info && info->container)
        kmsg(w, "container", &info->container->base);
    if (info && info->health_check)
        kmsg(w, "health_check", &info->health_check->base);
    cm_json_out_obj_close(w);
}

/* Touches the cache lines cm_epw_task reads, a level of pointers per stage, so that the misses
 * of several tasks overlap instead of coming one after the other. */
#define PF(p) __builtin_prefetch(p)
void cm_epw_task_prefetch(const struct cm_task *t, int stage)
{
    switch (stage) {
    case 0:
        PF(t);
        PF((const char *)t + 64);
        PF((const char *)t + 128);
        return;
    case 1:
        PF(t->id);
        PF(t->info);
        PF(t->agent_id);
        PF(t->role);
        PF(t->statuses);
        PF(t->resources.v);
        return;
    case 2:
        if (t->info) {
            PF(t->info->name);
            PF(t->info->executor);
            PF(t->info->labels);
        }
        for (size_t i = 0; i < t->nstatuses && i < 4; i++)
            PF(t->statuses[i]);
        for (size_t i = 0; i < t->resources.n && i < 4; i++) {
            PF(t->resources.v[i].name);
            PF(t->resources.v[i].role);
        }
        return;
    }
}

void cm_epw_offer(W *w, const struct cm_offer *o)
{
    cm_json_out_obj_open(w);
    KSTR(w, "id", o->id);
    KSTR(w, "framework_id", o->fw->id);
    if (utf8(o->role)) { /* json_pack fails on other text */
        KEY(w, "allocation_info");
        cm_json_out_obj_open(w);
        KSTR(w, "role", o->role);
        cm_json_out_obj_close(w);
    }
    KSTR(w, "slave_id", o->agent->id);
    KEY(w, "resources");
    summary(w, &o->resources);
    cm_json_out_obj_close(w);
}

/* ---- agents ---- */

static void attributes(W *w, const Mesos__V1__AgentInfo *info)
{
    /* A repeated name keeps its first place with the last value jansson accepted: rare, so
     * left to jansson. */
    for (size_t i = 0; info && i < info->n_attributes; i++)
        for (size_t j = 0; j < i; j++)
            if (info->attributes[i]->name && info->attributes[j]->name &&
                strcmp(info->attributes[i]->name, info->attributes[j]->name) == 0) {
                put_json(w, cm_ep_attributes_json(info));
                return;
            }
    char buf[4096];
    cm_json_out_obj_open(w);
    for (size_t i = 0; info && i < info->n_attributes; i++) {
        const Mesos__V1__Attribute *a = info->attributes[i];
        switch (a->type) {
        case MESOS__V1__VALUE__TYPE__SCALAR:
            cm_json_out_kreal(w, a->name, a->scalar ? a->scalar->value : 0);
            break;
        case MESOS__V1__VALUE__TYPE__RANGES:
            cm_ep_ranges_text(buf, sizeof buf, a->ranges);
            cm_json_out_kstr(w, a->name, buf);
            break;
        case MESOS__V1__VALUE__TYPE__SET:
            cm_ep_set_text(buf, sizeof buf, a->set);
            cm_json_out_kstr(w, a->name, buf);
            break;
        default:
            cm_json_out_kstr(w, a->name, a->text && a->text->value ? a->text->value : "");
            break;
        }
    }
    cm_json_out_obj_close(w);
}

/* reserved_json of endpoints.c: role -> the summary (or the full array) of what is reserved
 * to it, roles in the order they first appear. */
static void reserved(W *w, const struct cm_resources *r, bool full)
{
    cm_json_out_obj_open(w);
    for (size_t i = 0; i < r->n; i++) {
        const char *role = r->v[i].role;
        if (strcmp(role, "*") == 0 || !utf8(role))
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(r->v[j].role, role) == 0;
        if (seen)
            continue;
        struct cm_resources part;
        cm_resources_init(&part);
        cm_resources_reserved_to(r, role, &part);
        cm_json_out_key(w, role);
        if (full)
            resources_full(w, &part);
        else
            summary(w, &part);
        cm_resources_cleanup(&part);
    }
    cm_json_out_obj_close(w);
}

/* The agent's members, without the braces (the summary adds its own after them). */
static void agent_members(W *w, const struct cm_agent *a, bool full)
{
    KSTR(w, "id", a->id);
    KSTR(w, "hostname", a->hostname);
    KINT(w, "port", a->port);
    KEY(w, "attributes");
    attributes(w, a->info);
    if (a->info && a->info->domain)
        kmsg(w, "domain", &a->info->domain->base);
    KSTR(w, "pid", a->pid);
    KREAL(w, "registered_time", a->registered_time);
    if (a->reregistered_time > 0)
        KREAL(w, "reregistered_time", a->reregistered_time);
    KEY(w, "resources");
    summary(w, &a->total);
    KEY(w, "used_resources");
    summary(w, &a->used);
    KEY(w, "offered_resources");
    summary(w, &a->offered);
    KEY(w, "reserved_resources");
    reserved(w, &a->total, false);
    struct cm_resources unres;
    cm_resources_init(&unres);
    cm_resources_unreserved(&a->total, &unres);
    KEY(w, "unreserved_resources");
    summary(w, &unres);
    if (full) {
        KEY(w, "reserved_resources_full");
        reserved(w, &a->total, true);
        KEY(w, "unreserved_resources_full");
        resources_full(w, &unres);
        KEY(w, "used_resources_full");
        resources_full(w, &a->used);
        KEY(w, "offered_resources_full");
        resources_full(w, &a->offered);
    }
    cm_resources_cleanup(&unres);
    KBOOL(w, "active", a->active);
    KBOOL(w, "deactivated", !a->active);
    KSTR(w, "version", a->version ? a->version : "");
    KEY(w, "capabilities");
    cm_json_out_arr_open(w);
    for (size_t i = 0; i < a->ncapabilities; i++)
        cm_json_out_str(w, cm_enum_name_or(&mesos__v1__agent_info__capability__type__descriptor,
                                           a->capabilities[i], "UNKNOWN"));
    cm_json_out_arr_close(w);
}

void cm_epw_agent(W *w, const struct cm_agent *a, bool full)
{
    cm_json_out_obj_open(w);
    agent_members(w, a, full);
    cm_json_out_obj_close(w);
}

/* task_counts of endpoints.c: the count of tasks in each state, then the ids of the other side
 * (frameworks of an agent's tasks, agents of a framework's), each once, as first met. */
static void task_counts(W *w, const struct cm_strmap *tasks, bool fw_side)
{
    static const int states[] = {
        MESOS__V1__TASK_STATE__TASK_STAGING,  MESOS__V1__TASK_STATE__TASK_STARTING,
        MESOS__V1__TASK_STATE__TASK_RUNNING,  MESOS__V1__TASK_STATE__TASK_KILLING,
        MESOS__V1__TASK_STATE__TASK_FINISHED, MESOS__V1__TASK_STATE__TASK_KILLED,
        MESOS__V1__TASK_STATE__TASK_FAILED,   MESOS__V1__TASK_STATE__TASK_LOST,
        MESOS__V1__TASK_STATE__TASK_ERROR,    MESOS__V1__TASK_STATE__TASK_UNREACHABLE};
    int64_t counts[16] = {0};
    struct cm_strmap seen;
    cm_strmap_init(&seen);
    struct cm_json_out ids = CM_JSON_OUT_INIT;
    cm_json_out_arr_open(&ids);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, tasks); cm_strmap_iter_next(&it);) {
        const struct cm_task *t = it.cur->value;
        if (t->state >= 0 && t->state < 16)
            counts[t->state]++;
        const char *other = fw_side ? t->agent_id : t->fw->id;
        if (!utf8(other) || cm_strmap_get(&seen, other))
            continue;
        cm_strmap_put(&seen, other, (void *)other);
        cm_json_out_str(&ids, other);
    }
    cm_json_out_arr_close(&ids);
    cm_strmap_cleanup(&seen);
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        cm_json_out_kint(w, cm_task_state_name(states[i]), counts[states[i]]);
    cm_json_out_key(w, fw_side ? "slave_ids" : "framework_ids");
    cm_json_out_raw(w, ids.data, ids.len);
    cm_json_out_cleanup(&ids);
}

void cm_epw_summary_agent(W *w, const struct cm_agent *a)
{
    cm_json_out_obj_open(w);
    agent_members(w, a, false);
    task_counts(w, &a->tasks, false);
    cm_json_out_obj_close(w);
}

/* ---- frameworks ---- */

static void fw_common(W *w, const struct cm_framework *fw)
{
    const Mesos__V1__FrameworkInfo *info = fw->info;
    KSTR(w, "id", fw->id);
    KSTR(w, "name", info && info->name ? info->name : "");
    KEY(w, "used_resources");
    summary(w, &fw->used);
    KEY(w, "offered_resources");
    summary(w, &fw->offered);
    KEY(w, "capabilities");
    cm_json_out_arr_open(w);
    for (size_t i = 0; info && i < info->n_capabilities; i++)
        if (info->capabilities[i]->has_type)
            cm_json_out_str(
                w, cm_enum_name_or(&mesos__v1__framework_info__capability__type__descriptor,
                                   info->capabilities[i]->type, "UNKNOWN"));
    cm_json_out_arr_close(w);
    KSTR(w, "hostname", info && info->hostname ? info->hostname : "");
    KSTR(w, "webui_url", info && info->webui_url ? info->webui_url : "");
    KBOOL(w, "active", fw->active);
    KBOOL(w, "connected", fw->connected);
    KBOOL(w, "recovered", fw->recovered);
}

void cm_epw_summary_framework(W *w, const struct cm_framework *fw)
{
    cm_json_out_obj_open(w);
    fw_common(w, fw);
    task_counts(w, &fw->tasks, true);
    cm_json_out_obj_close(w);
}

void cm_epw_framework_head(W *w, const struct cm_framework *fw)
{
    const Mesos__V1__FrameworkInfo *info = fw->info;
    cm_json_out_obj_open(w);
    fw_common(w, fw);
    KSTR(w, "user", info && info->user ? info->user : "");
    KREAL(w, "failover_timeout", info && info->has_failover_timeout ? info->failover_timeout : 0);
    KBOOL(w, "checkpoint", info && info->has_checkpoint && info->checkpoint);
    KREAL(w, "registered_time", fw->registered_time);
    KREAL(w, "unregistered_time", fw->unregistered_time);
    if (fw->reregistered_time > 0)
        KREAL(w, "reregistered_time", fw->reregistered_time);
    if (info && info->principal)
        KSTR(w, "principal", info->principal);
    struct cm_resources total;
    cm_resources_init(&total);
    cm_resources_copy(&total, &fw->used);
    cm_resources_add(&total, &fw->offered);
    KEY(w, "resources");
    summary(w, &total);
    cm_resources_cleanup(&total);
    if (fw->multi_role) {
        KEY(w, "roles");
        cm_json_out_arr_open(w);
        for (size_t i = 0; i < fw->nroles; i++)
            if (utf8(fw->roles[i]))
                cm_json_out_str(w, fw->roles[i]);
        cm_json_out_arr_close(w);
    } else {
        KSTR(w, "role", fw->nroles ? fw->roles[0] : "*");
    }
    KEY(w, "tasks");
    cm_json_out_arr_open(w);
}

void cm_epw_framework_mid(W *w, const struct cm_master *m, const struct cm_framework *fw,
                          const char *principal)
{
    cm_json_out_arr_close(w);
    KEY(w, "unreachable_tasks");
    cm_json_out_arr_open(w);
    for (const struct cm_task *t = fw->uhead; t; t = t->unext)
        if (cm_ep_view_task(m, principal, t))
            cm_epw_task(w, t);
    cm_json_out_arr_close(w);
    KEY(w, "completed_tasks");
    cm_json_out_arr_open(w);
    for (size_t i = 0; i < cm_ring_count(&fw->completed_tasks); i++)
        if (cm_ep_view_task(m, principal, cm_ring_at(&fw->completed_tasks, i)))
            cm_epw_task(w, cm_ring_at(&fw->completed_tasks, i));
    cm_json_out_arr_close(w);
    KEY(w, "offers");
    cm_json_out_arr_open(w);
}

void cm_epw_framework_tail(W *w, const struct cm_framework *fw)
{
    const Mesos__V1__FrameworkInfo *info = fw->info;
    cm_json_out_arr_close(w);
    KEY(w, "executors");
    cm_json_out_arr_open(w);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &fw->executors); cm_strmap_iter_next(&it);)
        put_json(w, cm_master_executor_json(it.cur->value));
    cm_json_out_arr_close(w);
    if (info && info->labels && info->labels->n_labels)
        labels(w, info->labels);
    KEY(w, "offer_constraints");
    cm_json_out_raw(w, "{}", 2);
    cm_json_out_obj_close(w);
}
