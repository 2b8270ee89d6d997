/*
 * executor_env.c: executor environment construction.
 */
#include "executor_env.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "flags.h"

/* v is the NULL-terminated environment being built; h[i] is the hash of v[i]'s name, so that
 * looking a name up (every put looks for the name it sets) compares strings only on a match. */
struct envlist {
    char **v;
    uint64_t *h;
    size_t n, cap;
};

/* FNV-1a of the first nl bytes of s. */
static uint64_t name_hash(const char *s, size_t nl)
{
    uint64_t x = 1469598103934665603ULL;
    for (size_t i = 0; i < nl; i++) {
        x ^= (unsigned char)s[i];
        x *= 1099511628211ULL;
    }
    return x;
}

/* Index of the variable named by the first nl bytes of name (hash h), or -1. */
static ptrdiff_t env_find(const struct envlist *e, const char *name, size_t nl, uint64_t h)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->h[i] == h && strncmp(e->v[i], name, nl) == 0 && e->v[i][nl] == '=')
            return (ptrdiff_t)i;
    return -1;
}

/* Puts entry ("name=value", malloc'd, taken) in place of the variable of that name (the first
 * nl bytes), or appends it. */
static void env_put(struct envlist *e, char *entry, size_t nl)
{
    uint64_t h = name_hash(entry, nl);
    ptrdiff_t i = env_find(e, entry, nl, h);
    if (i >= 0) {
        free(e->v[i]);
        e->v[i] = entry;
        return;
    }
    if (e->n + 2 > e->cap) {
        e->cap = e->cap ? e->cap * 2 : 64;
        e->v = realloc(e->v, e->cap * sizeof *e->v);
        e->h = realloc(e->h, e->cap * sizeof *e->h);
        if (!e->v || !e->h)
            abort();
    }
    e->h[e->n] = h;
    e->v[e->n++] = entry;
    e->v[e->n] = NULL;
}

static void env_set(struct envlist *e, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    char *entry = malloc(nl + vl + 2);
    if (!entry)
        abort();
    memcpy(entry, name, nl);
    entry[nl] = '=';
    memcpy(entry + nl + 1, value, vl + 1);
    env_put(e, entry, nl);
}

static void env_unset(struct envlist *e, const char *name)
{
    size_t nl = strlen(name);
    ptrdiff_t f = env_find(e, name, nl, name_hash(name, nl));
    if (f < 0)
        return;
    size_t i = (size_t)f;
    free(e->v[i]);
    memmove(&e->v[i], &e->v[i + 1], (e->n - i) * sizeof *e->v); /* with the NULL */
    memmove(&e->h[i], &e->h[i + 1], (e->n - i - 1) * sizeof *e->h);
    e->n--;
}

static void env_set_raw(struct envlist *e, const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return;
    char *entry = strdup(assignment); /* one copy: the entry is the assignment itself */
    if (!entry)
        abort();
    env_put(e, entry, (size_t)(eq - assignment));
}

const char *cm_executor_env_get(char *const *env, const char *name)
{
    size_t nl = strlen(name);
    for (; env && *env; env++)
        if (strncmp(*env, name, nl) == 0 && (*env)[nl] == '=')
            return *env + nl + 1;
    return NULL;
}

char **cm_executor_env_build(const struct cm_executor_env_params *p)
{
    struct envlist e = {0};
    if (p->env_flag && json_is_object(p->env_flag)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)p->env_flag, k, v)
        {
            if (json_is_string(v))
                env_set(&e, k, json_string_value(v));
        }
        const char *lip = cm_executor_env_get(p->inherited, "LIBPROCESS_IP");
        if (lip)
            env_set(&e, "LIBPROCESS_IP", lip);
        /* The executor must speak TLS to this agent as the agent does (tls.h). */
        for (char *const *in = p->inherited; in && *in; in++)
            if (strncmp(*in, "LIBPROCESS_SSL_", 15) == 0)
                env_set_raw(&e, *in);
    } else {
        for (char *const *in = p->inherited; in && *in; in++)
            env_set_raw(&e, *in);
    }
    char buf[512];
    env_set(&e, "MESOS_FRAMEWORK_ID", p->framework_id);
    env_set(&e, "MESOS_EXECUTOR_ID", p->executor_id);
    env_set(&e, "MESOS_SLAVE_ID", p->agent_id);
    snprintf(buf, sizeof buf, "slave(1)@%s:%d", p->agent_ip, p->agent_port);
    env_set(&e, "MESOS_SLAVE_PID", buf);
    snprintf(buf, sizeof buf, "%s:%d", p->agent_ip, p->agent_port);
    env_set(&e, "MESOS_AGENT_ENDPOINT", buf);
    env_set(&e, "MESOS_DIRECTORY", p->directory);
    env_set(&e, "MESOS_SANDBOX", p->sandbox ? p->sandbox : p->directory);
    env_set(&e, "MESOS_CHECKPOINT", p->checkpoint ? "1" : "0");
    if (!p->custom)
        env_set(&e, "MESOS_HTTP_COMMAND_EXECUTOR", "1");
    cm_duration_format(p->shutdown_grace_period, buf, sizeof buf);
    env_set(&e, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", buf);
    if (p->checkpoint) {
        cm_duration_format(p->recovery_timeout > 0 ? p->recovery_timeout : 15 * 60, buf,
                           sizeof buf);
        env_set(&e, "MESOS_RECOVERY_TIMEOUT", buf);
        cm_duration_format(p->subscription_backoff_max > 0 ? p->subscription_backoff_max : 2, buf,
                           sizeof buf);
        env_set(&e, "MESOS_SUBSCRIPTION_BACKOFF_MAX", buf);
    }
    env_set(&e, "LIBPROCESS_PORT", "0");
    if (p->auth_token)
        env_set(&e, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN", p->auth_token);
    else
        env_unset(&e, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN");
    for (size_t i = 0; p->command_env && i < p->command_env->n_variables; i++) {
        const Mesos__V1__Environment__Variable *v = p->command_env->variables[i];
        if (v->name && v->name[0] && !strchr(v->name, '=') && v->value &&
            (!v->has_type || v->type == MESOS__V1__ENVIRONMENT__VARIABLE__TYPE__VALUE))
            env_set(&e, v->name, v->value);
    }
    free(e.h);
    if (!e.v) {
        e.v = calloc(1, sizeof *e.v);
        if (!e.v)
            abort();
    }
    return e.v;
}

void cm_executor_env_free(char **env)
{
    if (!env)
        return;
    for (char **p = env; *p; p++)
        free(*p);
    free(env);
}

json_t *cm_executor_env_parse_flag(const char *text, char *why, size_t whylen)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        cm_fail(CM_EINVAL, why, whylen, "Failed to load flag 'executor_environment_variables': %s",
                err.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        cm_fail(CM_EINVAL, why, whylen,
                "Failed to load flag 'executor_environment_variables': not a JSON object");
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        if (!json_is_string(v) || !*k || strchr(k, '=')) {
            cm_fail(CM_EINVAL, why, whylen,
                    "Failed to load flag 'executor_environment_variables': value of '%s' must "
                    "be a string (and the name must not contain '=')",
                    k);
            json_decref(j);
            return NULL;
        }
    }
    return j;
}
