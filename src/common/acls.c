/*
 * acls.c: Mesos's ACLs JSON and the local authorizer's evaluation (acls.h).
 */
#include "acls.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "file_read.h"
#include "util.h"

#define MAX_VALUE_LEN 1024

enum entity_type { ENT_SOME = 0, ENT_ANY = 1, ENT_NONE = 2 };

struct entity {
    enum entity_type type;
    char **values;
    size_t n;
};

struct rule {
    struct entity subject;
    struct entity object;
    /* A hierarchical-role rule "a/%": matches every object value below prefix "a/". */
    char *recursive_prefix;
};

struct rules {
    struct rule *items;
    size_t n;
};

struct cm_acls {
    bool permissive;
    struct rules actions[CM_ACL_NACTIONS];
};

/* Every key of Mesos's ACLs message: its object field, the cmesos action that enforces it
 * (-1: none) and whether its objects are hierarchical roles. */
struct action_def {
    const char *key;
    const char *object;
    int action;
    bool roles;
};

static const struct action_def defs[] = {
    {"register_frameworks", "roles", CM_ACL_REGISTER_FRAMEWORK, true},
    {"run_tasks", "users", CM_ACL_RUN_TASK, false},
    {"teardown_frameworks", "framework_principals", CM_ACL_TEARDOWN_FRAMEWORK, false},
    {"get_endpoints", "paths", CM_ACL_GET_ENDPOINT, false},
    {"view_frameworks", "users", CM_ACL_VIEW_FRAMEWORK, false},
    {"view_tasks", "users", CM_ACL_VIEW_TASK, false},
    {"view_executors", "users", CM_ACL_VIEW_EXECUTOR, false},
    {"access_sandboxes", "users", CM_ACL_ACCESS_SANDBOX, false},
    {"access_mesos_logs", "logs", CM_ACL_ACCESS_MESOS_LOG, false},
    {"view_roles", "roles", CM_ACL_VIEW_ROLE, true},
    {"view_flags", "flags", CM_ACL_VIEW_FLAGS, false},
    {"update_weights", "roles", CM_ACL_UPDATE_WEIGHT, true},
    {"set_log_level", "level", CM_ACL_SET_LOG_LEVEL, false},
    {"register_agents", "agents", CM_ACL_REGISTER_AGENT, false},
    {"mark_agents_gone", "agents", CM_ACL_MARK_AGENT_GONE, false},
    {"drain_agents", "agents", CM_ACL_DRAIN_AGENT, false},
    {"deactivate_agents", "agents", CM_ACL_DEACTIVATE_AGENT, false},
    {"reactivate_agents", "agents", CM_ACL_REACTIVATE_AGENT, false},
    {"get_quotas", "roles", CM_ACL_GET_QUOTA, true},
    {"update_quotas", "roles", CM_ACL_UPDATE_QUOTA, true},
    /* Mesos actions cmesos does not have: validated, warned about, not evaluated. */
    {"reserve_resources", "roles", -1, true},
    {"unreserve_resources", "reserver_principals", -1, false},
    {"create_volumes", "roles", -1, true},
    {"destroy_volumes", "creator_principals", -1, false},
    {"resize_volumes", "roles", -1, true},
    {"launch_nested_containers_as_user", "users", -1, false},
    {"launch_nested_containers_under_parent_with_user", "users", -1, false},
    {"kill_nested_containers", "users", -1, false},
    {"wait_nested_containers", "users", -1, false},
    {"launch_nested_container_sessions_as_user", "users", -1, false},
    {"launch_nested_container_sessions_under_parent_with_user", "users", -1, false},
    {"attach_containers_input", "users", -1, false},
    {"attach_containers_output", "users", -1, false},
    {"view_containers", "users", CM_ACL_VIEW_CONTAINER, false},
    {"remove_nested_containers", "users", -1, false},
    {"update_maintenance_schedules", "machines", -1, false},
    {"get_maintenance_schedules", "machines", -1, false},
    {"start_maintenances", "machines", -1, false},
    {"stop_maintenances", "machines", -1, false},
    {"get_maintenance_statuses", "machines", -1, false},
    {"launch_standalone_containers", "users", -1, false},
    {"kill_standalone_containers", "users", CM_ACL_KILL_STANDALONE_CONTAINER, false},
    {"wait_standalone_containers", "users", -1, false},
    {"remove_standalone_containers", "users", -1, false},
    {"view_standalone_containers", "users", -1, false},
    {"modify_resource_provider_configs", "resource_providers", -1, false},
    {"mark_resource_providers_gone", "resource_providers", -1, false},
    {"view_resource_providers", "resource_providers", -1, false},
    {"prune_images", "images", -1, false},
    {"create_block_disks", "roles", -1, true},
    {"destroy_block_disks", "roles", -1, true},
    {"create_mount_disks", "roles", -1, true},
    {"destroy_mount_disks", "roles", -1, true},
    {"destroy_raw_disks", "roles", -1, true},
};

#define NDEFS (sizeof defs / sizeof defs[0])

const char *cm_acls_action_name(enum cm_acl_action action)
{
    for (size_t i = 0; i < NDEFS; i++)
        if (defs[i].action == (int)action)
            return defs[i].key;
    return "unknown";
}

/* ------------------------------------------------------------------------------------------ */
/* Freeing */

static void entity_cleanup(struct entity *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->values[i]);
    free(e->values);
    e->values = NULL;
    e->n = 0;
}

static void rule_cleanup(struct rule *r)
{
    entity_cleanup(&r->subject);
    entity_cleanup(&r->object);
    free(r->recursive_prefix);
}

void cm_acls_free(struct cm_acls *acls)
{
    if (!acls)
        return;
    for (int a = 0; a < CM_ACL_NACTIONS; a++) {
        for (size_t i = 0; i < acls->actions[a].n; i++)
            rule_cleanup(&acls->actions[a].items[i]);
        free(acls->actions[a].items);
    }
    free(acls);
}

/* ------------------------------------------------------------------------------------------ */
/* Parsing */

static int parse_entity(json_t *j, const char *where, struct entity *e, char *why, size_t whylen)
{
    memset(e, 0, sizeof *e);
    if (!json_is_object(j))
        return cm_fail(CM_EINVAL, why, whylen, "%s: expected an object", where);
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "type") != 0 && strcmp(key, "values") != 0)
            return cm_fail(CM_EINVAL, why, whylen, "%s.%s: unknown field", where, key);
    }
    json_t *type = json_object_get(j, "type");
    if (type) {
        const char *t = json_string_value(type);
        if (!t)
            return cm_fail(CM_EINVAL, why, whylen, "%s.type: expected a string", where);
        if (strcmp(t, "SOME") == 0)
            e->type = ENT_SOME;
        else if (strcmp(t, "ANY") == 0)
            e->type = ENT_ANY;
        else if (strcmp(t, "NONE") == 0)
            e->type = ENT_NONE;
        else
            return cm_fail(CM_EINVAL, why, whylen, "%s.type: '%.64s' is not one of SOME, ANY, NONE",
                           where, t);
    }
    json_t *values = json_object_get(j, "values");
    if (!values)
        return 0;
    if (!json_is_array(values))
        return cm_fail(CM_EINVAL, why, whylen, "%s.values: expected an array", where);
    size_t n = json_array_size(values);
    if (n > CM_ACLS_MAX_VALUES)
        return cm_fail(CM_ETOOBIG, why, whylen, "%s.values: more than %d values", where,
                       CM_ACLS_MAX_VALUES);
    if (e->type != ENT_SOME)
        return 0; /* Mesos ignores values for ANY and NONE. */
    e->values = cm_xcalloc(n ? n : 1, sizeof *e->values);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(values, i);
        if (!json_is_string(s))
            return cm_fail(CM_EINVAL, why, whylen, "%s.values[%zu]: expected a string", where, i);
        size_t len = json_string_length(s);
        if (len == 0 || len > MAX_VALUE_LEN || strlen(json_string_value(s)) != len)
            return cm_fail(CM_EINVAL, why, whylen,
                           "%s.values[%zu]: expected 1..%d bytes without NUL", where, i,
                           MAX_VALUE_LEN);
        e->values[e->n++] = cm_xstrdup(json_string_value(s));
    }
    return 0;
}

static void rules_push(struct rules *rs, struct rule *r)
{
    if ((rs->n & (rs->n - 1)) == 0)
        rs->items = cm_xrealloc(rs->items, (rs->n ? rs->n * 2 : 1) * sizeof *rs->items);
    rs->items[rs->n++] = *r;
    memset(r, 0, sizeof *r);
}

static void entity_copy(struct entity *dst, const struct entity *src)
{
    dst->type = src->type;
    dst->n = src->n;
    dst->values = cm_xcalloc(src->n ? src->n : 1, sizeof *dst->values);
    for (size_t i = 0; i < src->n; i++)
        dst->values[i] = cm_xstrdup(src->values[i]);
}

/* Stores a parsed rule; for hierarchical roles a value "x/%" becomes its own recursive rule,
 * the other values stay together, in order (Mesos's createHierarchicalRoleACLs). Takes r. */
static void store_rule(struct rules *rs, struct rule *r, bool roles)
{
    if (!roles || r->object.type != ENT_SOME) {
        rules_push(rs, r);
        return;
    }
    struct entity rest = {ENT_SOME, cm_xcalloc(r->object.n ? r->object.n : 1, sizeof(char *)), 0};
    for (size_t i = 0; i < r->object.n; i++) {
        char *v = r->object.values[i];
        size_t len = strlen(v);
        if (len >= 2 && strcmp(v + len - 2, "/%") == 0) {
            struct rule rec = {0};
            entity_copy(&rec.subject, &r->subject);
            rec.object.type = ENT_SOME;
            rec.object.values = cm_xcalloc(1, sizeof(char *));
            rec.object.values[0] = v;
            rec.object.n = 1;
            rec.recursive_prefix = cm_xstrndup(v, len - 1); /* keeps the '/' */
            rules_push(rs, &rec);
        } else {
            rest.values[rest.n++] = v;
        }
        r->object.values[i] = NULL;
    }
    r->object.n = 0;
    if (rest.n) {
        struct rule plain = {0};
        plain.subject = r->subject;
        memset(&r->subject, 0, sizeof r->subject);
        plain.object = rest;
        rules_push(rs, &plain);
    } else {
        free(rest.values);
    }
    rule_cleanup(r);
    memset(r, 0, sizeof *r);
}

static int parse_rules(json_t *list, const struct action_def *d, struct rules *rs, char *why,
                       size_t whylen)
{
    if (!json_is_array(list))
        return cm_fail(CM_EINVAL, why, whylen, "%s: expected an array", d->key);
    if (json_array_size(list) > CM_ACLS_MAX_RULES)
        return cm_fail(CM_ETOOBIG, why, whylen, "%s: more than %d rules", d->key,
                       CM_ACLS_MAX_RULES);
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o)
    {
        char where[160];
        snprintf(where, sizeof where, "%s[%zu]", d->key, i);
        if (!json_is_object(o))
            return cm_fail(CM_EINVAL, why, whylen, "%s: expected an object", where);
        const char *key;
        json_t *v;
        json_object_foreach(o, key, v)
        {
            if (strcmp(key, "principals") != 0 && strcmp(key, d->object) != 0)
                return cm_fail(CM_EINVAL, why, whylen,
                               "%s.%s: unknown field (expected "
                               "'principals' and '%s')",
                               where, key, d->object);
        }
        json_t *p = json_object_get(o, "principals"), *ob = json_object_get(o, d->object);
        if (!p)
            return cm_fail(CM_EINVAL, why, whylen, "%s.principals: missing", where);
        if (!ob)
            return cm_fail(CM_EINVAL, why, whylen, "%s.%s: missing", where, d->object);
        struct rule r = {0};
        char w2[200];
        snprintf(w2, sizeof w2, "%s.principals", where);
        int rc = parse_entity(p, w2, &r.subject, why, whylen);
        if (rc == 0) {
            snprintf(w2, sizeof w2, "%s.%s", where, d->object);
            rc = parse_entity(ob, w2, &r.object, why, whylen);
        }
        if (rc) {
            rule_cleanup(&r);
            return rc;
        }
        if (rs)
            store_rule(rs, &r, d->roles);
        else
            rule_cleanup(&r);
    }
    return 0;
}

int cm_acls_parse(const char *text, size_t len, struct cm_acls **out, const struct cm_log_sink *log,
                  char *why, size_t whylen)
{
    *out = NULL;
    if (len > CM_ACLS_MAX_TEXT)
        return cm_fail(CM_ETOOBIG, why, whylen, "ACLs are larger than %zu bytes", CM_ACLS_MAX_TEXT);
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return cm_fail(CM_EPARSE, why, whylen, "invalid ACLs JSON at line %d: %s", err.line,
                       err.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return cm_fail(CM_EINVAL, why, whylen, "ACLs: expected a JSON object");
    }
    struct cm_acls *acls = cm_xcalloc(1, sizeof *acls);
    acls->permissive = true;
    int rc = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "permissive") == 0) {
            if (!json_is_boolean(v)) {
                rc = cm_fail(CM_EINVAL, why, whylen, "permissive: expected true or false");
                break;
            }
            acls->permissive = json_is_true(v);
            continue;
        }
        const struct action_def *d = NULL;
        for (size_t i = 0; i < NDEFS && !d; i++)
            if (strcmp(defs[i].key, key) == 0)
                d = &defs[i];
        if (!d) {
            rc = cm_fail(CM_EINVAL, why, whylen, "%.128s: not an action of Mesos's ACLs", key);
            break;
        }
        rc = parse_rules(v, d, d->action >= 0 ? &acls->actions[d->action] : NULL, why, whylen);
        if (rc)
            break;
        if (d->action < 0 && json_array_size(v) > 0)
            cm_log_to(log, CM_LOG_WARNING, "acls",
                      "ACLs: %zu rule(s) for '%s' accepted but not enforced: cmesos has no "
                      "such action",
                      json_array_size(v), d->key);
    }
    json_decref(root);
    if (rc) {
        cm_acls_free(acls);
        return rc;
    }
    *out = acls;
    return 0;
}

int cm_acls_load(const char *value, struct cm_acls **out, const struct cm_log_sink *log, char *why,
                 size_t whylen)
{
    *out = NULL;
    const char *s = value;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '{')
        return cm_acls_parse(s, strlen(s), out, log, why, whylen);
    char *buf = NULL, inner[512];
    size_t n = 0;
    int rc = cm_file_read(value, CM_ACLS_MAX_TEXT, &buf, &n, NULL, inner, sizeof inner);
    if (rc)
        return cm_fail(rc, why, whylen, "--acls: %s", inner);
    rc = cm_acls_parse(buf, n, out, log, inner, sizeof inner);
    free(buf);
    if (rc)
        cm_fail(rc, why, whylen, "--acls '%s': %s", value, inner);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Evaluation */

static bool listed(const struct entity *acl, const char *value)
{
    for (size_t i = 0; i < acl->n; i++)
        if (strcmp(acl->values[i], value) == 0)
            return true;
    return false;
}

/* The request entity is ANY when value is NULL, else SOME with one value (requests are never
 * NONE in cmesos). Mesos's match and allow matrices for those two rows. */
static bool matches(const char *value, const struct entity *acl)
{
    if (acl->type == ENT_ANY || acl->type == ENT_NONE)
        return true;
    return value && listed(acl, value);
}

static bool allows(const char *value, const struct entity *acl)
{
    if (acl->type == ENT_ANY)
        return true;
    if (acl->type == ENT_NONE)
        return false;
    return value && listed(acl, value);
}

bool cm_acls_allowed(const struct cm_acls *acls, enum cm_acl_action action, const char *subject,
                     const char *object)
{
    if (!acls)
        return true;
    if ((int)action < 0 || action >= CM_ACL_NACTIONS)
        return false;
    const struct rules *rs = &acls->actions[action];
    for (size_t i = 0; i < rs->n; i++) {
        const struct rule *r = &rs->items[i];
        if (r->recursive_prefix) {
            /* Only a particular role below the prefix can match; it is then treated as
             * matched and allowed by ANY. */
            if (!object || strncmp(object, r->recursive_prefix, strlen(r->recursive_prefix)))
                continue;
            if (matches(subject, &r->subject))
                return allows(subject, &r->subject);
            continue;
        }
        if (matches(subject, &r->subject) && matches(object, &r->object))
            return allows(subject, &r->subject) && allows(object, &r->object);
    }
    return acls->permissive;
}

size_t cm_acls_rule_count(const struct cm_acls *acls, enum cm_acl_action action)
{
    if (!acls || (int)action < 0 || action >= CM_ACL_NACTIONS)
        return 0;
    return acls->actions[action].n;
}

bool cm_acls_permissive(const struct cm_acls *acls)
{
    return acls ? acls->permissive : true;
}
