/*
 * agent_operator.c: the agent's v1 operator API — request processing order, the calls that are
 * not state dumps (health, flags, version, metrics, logging, files, KILL/WAIT_CONTAINER), the
 * 501s, /logging/toggle and /metrics (contract in agent_operator.h).
 */
#include "agent_operator.h"

#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The deprecated nested-container calls are still validated and answered (501). */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include "agent_auth.h"
#include "agent_nested.h"
#include "codec.h"
#include "errors.h"
#include "log.h"
#include "pbjson.h"
#include "prometheus.h"
#include "util.h"

#define MOD "agent"
#define TEXT "text/plain; charset=utf-8"
/* How often held WAIT_CONTAINER requests look at their container. */
#define WAIT_POLL_USEC 100000

struct waiter {
    char *container_id;
    enum cm_media media;
    cm_agent_op_reply_fn reply;
    void *arg;
    struct waiter *next;
};

struct cm_agent_op {
    struct cm_agent *agent;
    unsigned level;            /* verbosity in effect */
    enum cm_log_level initial; /* --logging_level */
    struct event *revert_timer;
    struct waiter *waiters;
    size_t nwaiters;
    struct event *wait_timer;
    /* The container claim of the executor token the call in progress carries (set by the HTTP
     * handler around cm_agent_op_call_as; NULL: no executor token). Nested container calls
     * made with a token may only name that container's children (agent_nested.h). */
    const char *caller_cid;
};

/* ---- replies ------------------------------------------------------------------------------ */

void cm_agent_op_reply_text(cm_agent_op_reply_fn reply, void *arg, int code, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    buf[n] = '\0';
    reply(arg, code, TEXT, buf, (size_t)n);
}

static void reply_msg(cm_agent_op_reply_fn reply, void *arg, enum cm_media media,
                      const ProtobufCMessage *msg)
{
    uint8_t *out = NULL;
    size_t len = 0;
    cm_pb_encode(msg, media, &out, &len);
    reply(arg, 200, cm_media_name(media), out, len);
    free(out);
}

/* ---- logging ------------------------------------------------------------------------------ */

static void apply_level(struct cm_agent_op *op)
{
    cm_log_set_level(op->level > 0 ? CM_LOG_DEBUG : op->initial);
}

static void revert_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_agent_op *op = arg;
    op->level = 0;
    apply_level(op);
    CM_INFO(MOD, "Logging verbosity reverted to 0");
}

unsigned cm_agent_op_logging_level(const struct cm_agent_op *op)
{
    return op->level;
}

int cm_agent_op_set_logging_level(struct cm_agent_op *op, unsigned level, double duration,
                                  char *why, size_t whylen)
{
    if (!isfinite(duration) || duration < 0)
        return cm_fail(CM_EINVAL, why, whylen, "Invalid duration: it must be 0 or more");
    /* A year is the longest timer we arm (libevent's timeval holds it). */
    if (duration > 365.0 * 86400)
        duration = 365.0 * 86400;
    event_del(op->revert_timer);
    op->level = level;
    apply_level(op);
    if (level != 0) {
        struct timeval tv = {(time_t)duration, (suseconds_t)((duration - floor(duration)) * 1e6)};
        event_add(op->revert_timer, &tv);
    }
    CM_INFO(MOD, "Logging verbosity set to %u for %.3f seconds", level, duration);
    return 0;
}

/* ---- WAIT_CONTAINER ----------------------------------------------------------------------- */

static void answer_wait(struct cm_agent_op *op, struct waiter *w, const struct agent_executor *e)
{
    (void)op;
    Mesos__V1__Agent__Response resp = MESOS__V1__AGENT__RESPONSE__INIT;
    Mesos__V1__Agent__Response__WaitContainer wc = MESOS__V1__AGENT__RESPONSE__WAIT_CONTAINER__INIT;
    resp.has_type = 1;
    resp.type = MESOS__V1__AGENT__RESPONSE__TYPE__WAIT_CONTAINER;
    resp.wait_container = &wc;
    if (e->wait_status >= 0) {
        wc.has_exit_status = 1;
        wc.exit_status = e->wait_status;
    }
    reply_msg(w->reply, w->arg, w->media, &resp.base);
}

static bool exited(const struct agent_executor *e)
{
    return e->state == EXECUTOR_TERMINATED && e->pid <= 0;
}

static void wait_arm(struct cm_agent_op *op)
{
    struct timeval tv = {0, WAIT_POLL_USEC};
    event_add(op->wait_timer, &tv);
}

static void wait_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_agent_op *op = arg;
    struct waiter **pp = &op->waiters;
    while (*pp) {
        struct waiter *w = *pp;
        const struct agent_executor *e = cm_agent_op_find_container(op->agent, w->container_id);
        if (e && !exited(e)) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        op->nwaiters--;
        if (e)
            answer_wait(op, w, e);
        else /* the record fell out of the bounded completed lists meanwhile */
            cm_agent_op_reply_text(w->reply, w->arg, 404, "Container %s cannot be found",
                                   w->container_id);
        free(w->container_id);
        free(w);
    }
    if (op->waiters)
        wait_arm(op);
}

static void wait_container(struct cm_agent_op *op, const char *cid, enum cm_media media,
                           cm_agent_op_reply_fn reply, void *arg)
{
    const struct agent_executor *e = cm_agent_op_find_container(op->agent, cid);
    if (!e) {
        cm_agent_op_reply_text(reply, arg, 404, "Container %s cannot be found", cid);
        return;
    }
    struct waiter w0 = {.media = media, .reply = reply, .arg = arg};
    if (exited(e)) {
        answer_wait(op, &w0, e);
        return;
    }
    if (op->nwaiters >= CM_AGENT_OP_MAX_WAITERS) {
        cm_agent_op_reply_text(reply, arg, 503, "Too many WAIT_CONTAINER calls are waiting (%d)",
                               CM_AGENT_OP_MAX_WAITERS);
        return;
    }
    struct waiter *w = cm_xcalloc(1, sizeof *w);
    *w = w0;
    w->container_id = cm_xstrdup(cid);
    w->next = op->waiters;
    op->waiters = w;
    op->nwaiters++;
    wait_arm(op);
}

/* ---- simple calls ------------------------------------------------------------------------- */

static void get_flags(struct cm_agent *a, struct cm_agent_op_arena *ar,
                      Mesos__V1__Agent__Response *resp)
{
    json_t *flags = cm_flags_to_json(a->flags->table, a->flags->ntable);
    size_t n = json_object_size(flags), i = 0;
    Mesos__V1__Flag **v = cm_agent_op_alloc(ar, (n ? n : 1) * sizeof *v);
    const char *name;
    json_t *val;
    json_object_foreach(flags, name, val)
    {
        Mesos__V1__Flag *f = cm_agent_op_alloc(ar, sizeof *f);
        mesos__v1__flag__init(f);
        size_t nl = strlen(name);
        f->name = cm_agent_op_alloc(ar, nl + 1);
        memcpy(f->name, name, nl + 1);
        if (json_is_string(val)) {
            const char *s = json_string_value(val);
            size_t sl = strlen(s);
            f->value = cm_agent_op_alloc(ar, sl + 1);
            memcpy(f->value, s, sl + 1);
        }
        v[i++] = f;
    }
    json_decref(flags);
    Mesos__V1__Agent__Response__GetFlags *g = cm_agent_op_alloc(ar, sizeof *g);
    mesos__v1__agent__response__get_flags__init(g);
    g->n_flags = i;
    g->flags = v;
    resp->has_type = 1;
    resp->type = MESOS__V1__AGENT__RESPONSE__TYPE__GET_FLAGS;
    resp->get_flags = g;
}

static void get_metrics(struct cm_agent *a, struct cm_agent_op_arena *ar,
                        Mesos__V1__Agent__Response *resp)
{
    json_t *o = cm_agent_metrics_json(a);
    size_t n = json_object_size(o), i = 0;
    Mesos__V1__Metric **v = cm_agent_op_alloc(ar, (n ? n : 1) * sizeof *v);
    const char *name;
    json_t *val;
    json_object_foreach(o, name, val)
    {
        if (!json_is_number(val))
            continue;
        Mesos__V1__Metric *m = cm_agent_op_alloc(ar, sizeof *m);
        mesos__v1__metric__init(m);
        size_t nl = strlen(name);
        m->name = cm_agent_op_alloc(ar, nl + 1);
        memcpy(m->name, name, nl + 1);
        m->has_value = 1;
        m->value = json_number_value(val);
        v[i++] = m;
    }
    json_decref(o);
    Mesos__V1__Agent__Response__GetMetrics *g = cm_agent_op_alloc(ar, sizeof *g);
    mesos__v1__agent__response__get_metrics__init(g);
    g->n_metrics = i;
    g->metrics = v;
    resp->has_type = 1;
    resp->type = MESOS__V1__AGENT__RESPONSE__TYPE__GET_METRICS;
    resp->get_metrics = g;
}

/* The live executor running container cid, or NULL. */
static const struct agent_executor *executor_of_container(struct cm_agent *a, const char *cid)
{
    struct cm_strmap_iter fit;
    cm_strmap_iter_init(&fit, &a->frameworks);
    const struct agent_framework *f;
    while ((f = cm_strmap_iter_value(&fit, NULL))) {
        struct cm_strmap_iter eit;
        cm_strmap_iter_init(&eit, &f->executors);
        const struct agent_executor *e;
        while ((e = cm_strmap_iter_value(&eit, NULL)))
            if (strcmp(e->container_id, cid) == 0)
                return e;
    }
    return NULL;
}

/* Mesos's authorization of an operator call (see cm_agent_op_call_as). Returns 0 or 403 with
 * why. */
static int authorize_call(struct cm_agent *a, const char *principal,
                          const Mesos__V1__Agent__Call *c, char *why, size_t whylen)
{
    if (!a->acls)
        return 0;
    int rc = 0;
    switch (c->type) {
    case MESOS__V1__AGENT__CALL__TYPE__GET_FLAGS:
        return agent_authorize(a, CM_ACL_VIEW_FLAGS, principal, NULL, why, whylen);
    case MESOS__V1__AGENT__CALL__TYPE__SET_LOGGING_LEVEL:
        return agent_authorize(a, CM_ACL_SET_LOG_LEVEL, principal, NULL, why, whylen);
    case MESOS__V1__AGENT__CALL__TYPE__LIST_FILES:
    case MESOS__V1__AGENT__CALL__TYPE__READ_FILE: {
        const char *path = c->type == MESOS__V1__AGENT__CALL__TYPE__LIST_FILES ? c->list_files->path
                                                                               : c->read_file->path;
        char *root = NULL, *rel = NULL;
        /* A path that does not resolve is answered by the call itself (400/403/404). */
        if (a->files && cm_files_resolve(a->files, path, &root, &rel) == 0)
            rc = agent_auth_files(a, principal, root, why, whylen);
        free(root);
        free(rel);
        return rc;
    }
    case MESOS__V1__AGENT__CALL__TYPE__KILL_CONTAINER: {
        const struct agent_executor *e =
            executor_of_container(a, c->kill_container->container_id->value);
        return agent_authorize(a, CM_ACL_KILL_STANDALONE_CONTAINER, principal,
                               e ? agent_auth_executor_user(e) : NULL, why, whylen);
    }
    default: return 0;
    }
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

static const struct agent_framework *framework_by_id(struct cm_agent *a,
                                                     const Mesos__V1__FrameworkID *id)
{
    if (!id || !id->value)
        return NULL;
    const struct agent_framework *f = cm_strmap_get(&a->frameworks, id->value);
    for (size_t i = 0; !f && i < cm_ring_count(&a->completed_frameworks); i++) {
        const struct agent_framework *c = cm_ring_at(&a->completed_frameworks, i);
        if (strcmp(c->id, id->value) == 0)
            f = c;
    }
    return f;
}

/* view_frameworks with the framework's user (ANY when the framework is unknown). */
static bool framework_visible(struct cm_agent *a, const char *principal,
                              const Mesos__V1__FrameworkID *id)
{
    return agent_authorized(a, CM_ACL_VIEW_FRAMEWORK, principal,
                            agent_auth_framework_user(framework_by_id(a, id)));
}

/* Keeps the tasks principal may view (view_frameworks and view_tasks; Task.user is the task's
 * CommandInfo.user, else its framework's). Returns the new count. */
static size_t filter_tasks(struct cm_agent *a, const char *principal, Mesos__V1__Task **v, size_t n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (framework_visible(a, principal, v[i]->framework_id) &&
            agent_authorized(a, CM_ACL_VIEW_TASK, principal, nonempty(v[i]->user)))
            v[kept++] = v[i];
    return kept;
}

static void filter_get_tasks(struct cm_agent *a, const char *principal,
                             Mesos__V1__Agent__Response__GetTasks *g)
{
    if (!g)
        return;
    g->n_pending_tasks = filter_tasks(a, principal, g->pending_tasks, g->n_pending_tasks);
    g->n_queued_tasks = filter_tasks(a, principal, g->queued_tasks, g->n_queued_tasks);
    g->n_launched_tasks = filter_tasks(a, principal, g->launched_tasks, g->n_launched_tasks);
    g->n_terminated_tasks = filter_tasks(a, principal, g->terminated_tasks, g->n_terminated_tasks);
    g->n_completed_tasks = filter_tasks(a, principal, g->completed_tasks, g->n_completed_tasks);
}

/* Keeps the executors principal may view (view_frameworks and view_executors with the
 * executor's CommandInfo.user, else its framework's). */
static size_t filter_executors(struct cm_agent *a, const char *principal,
                               Mesos__V1__Agent__Response__GetExecutors__Executor **v, size_t n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const Mesos__V1__ExecutorInfo *ei = v[i]->executor_info;
        const struct agent_framework *f = ei ? framework_by_id(a, ei->framework_id) : NULL;
        const char *user = ei && ei->command ? nonempty(ei->command->user) : NULL;
        if (!user)
            user = agent_auth_framework_user(f);
        if (agent_authorized(a, CM_ACL_VIEW_FRAMEWORK, principal, agent_auth_framework_user(f)) &&
            agent_authorized(a, CM_ACL_VIEW_EXECUTOR, principal, user))
            v[kept++] = v[i];
    }
    return kept;
}

static void filter_get_executors(struct cm_agent *a, const char *principal,
                                 Mesos__V1__Agent__Response__GetExecutors *g)
{
    if (!g)
        return;
    g->n_executors = filter_executors(a, principal, g->executors, g->n_executors);
    g->n_completed_executors =
        filter_executors(a, principal, g->completed_executors, g->n_completed_executors);
}

static size_t filter_frameworks(struct cm_agent *a, const char *principal,
                                Mesos__V1__Agent__Response__GetFrameworks__Framework **v, size_t n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const Mesos__V1__FrameworkInfo *fi = v[i]->framework_info;
        if (agent_authorized(a, CM_ACL_VIEW_FRAMEWORK, principal, fi ? nonempty(fi->user) : NULL))
            v[kept++] = v[i];
    }
    return kept;
}

static void filter_get_frameworks(struct cm_agent *a, const char *principal,
                                  Mesos__V1__Agent__Response__GetFrameworks *g)
{
    if (!g)
        return;
    g->n_frameworks = filter_frameworks(a, principal, g->frameworks, g->n_frameworks);
    g->n_completed_frameworks =
        filter_frameworks(a, principal, g->completed_frameworks, g->n_completed_frameworks);
}

/* Under --acls, GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS and GET_STATE list only what principal
 * may view, per object, as Mesos's agent does. The dropped entries stay in the arena. */
static void filter_state(struct cm_agent *a, const char *principal,
                         Mesos__V1__Agent__Response *resp)
{
    if (!a->acls)
        return;
    filter_get_tasks(a, principal, resp->get_tasks);
    filter_get_executors(a, principal, resp->get_executors);
    filter_get_frameworks(a, principal, resp->get_frameworks);
    if (resp->get_state) {
        filter_get_tasks(a, principal, resp->get_state->get_tasks);
        filter_get_executors(a, principal, resp->get_state->get_executors);
        filter_get_frameworks(a, principal, resp->get_state->get_frameworks);
    }
}

/* GET_CONTAINERS under --acls: only the containers whose executor's user view_containers
 * allows (Mesos's agent filters the same way). The entries stay in the arena. */
static void agent_op_filter_containers(struct cm_agent *a, const char *principal,
                                       Mesos__V1__Agent__Response *resp)
{
    Mesos__V1__Agent__Response__GetContainers *g = resp->get_containers;
    if (!a->acls || !g)
        return;
    size_t kept = 0;
    for (size_t i = 0; i < g->n_containers; i++) {
        Mesos__V1__Agent__Response__GetContainers__Container *ct = g->containers[i];
        const struct agent_executor *e =
            ct->container_id ? executor_of_container(a, ct->container_id->value) : NULL;
        if (agent_authorized(a, CM_ACL_VIEW_CONTAINER, principal,
                             e ? agent_auth_executor_user(e) : NULL))
            g->containers[kept++] = ct;
    }
    g->n_containers = kept;
}

static void kill_container(struct cm_agent *a, const Mesos__V1__Agent__Call__KillContainer *k,
                           cm_agent_op_reply_fn reply, void *arg)
{
    int sig = k->has_signal ? k->signal : SIGKILL;
    if (sig <= 0 || sig > SIGRTMAX) {
        cm_agent_op_reply_text(reply, arg, 400,
                               "Failed to validate agent::Call: Invalid 'signal' %d", sig);
        return;
    }
    const char *cid = k->container_id->value;
    int rc = cm_containerizer_kill(a->containerizer, cid, sig);
    if (rc == CM_ENOTFOUND) {
        cm_agent_op_reply_text(reply, arg, 404, "Container %s cannot be found", cid);
        return;
    }
    if (rc != 0) {
        cm_agent_op_reply_text(reply, arg, 500, "Failed to kill container %s: %s", cid,
                               cm_strerror(rc));
        return;
    }
    CM_INFO(MOD, "Sent signal %d to container %s (operator KILL_CONTAINER)", sig, cid);
    reply(arg, 200, NULL, NULL, 0);
}

/* ---- validation --------------------------------------------------------------------------- */

/* The sub-message a call type needs, or NULL for none. "" for calls that need none. */
static const char *missing_field(const Mesos__V1__Agent__Call *c)
{
    switch (c->type) {
    case MESOS__V1__AGENT__CALL__TYPE__SET_LOGGING_LEVEL:
        return c->set_logging_level ? NULL : "set_logging_level";
    case MESOS__V1__AGENT__CALL__TYPE__LIST_FILES: return c->list_files ? NULL : "list_files";
    case MESOS__V1__AGENT__CALL__TYPE__READ_FILE: return c->read_file ? NULL : "read_file";
    case MESOS__V1__AGENT__CALL__TYPE__KILL_CONTAINER:
        return c->kill_container ? NULL : "kill_container";
    case MESOS__V1__AGENT__CALL__TYPE__WAIT_CONTAINER:
        return c->wait_container ? NULL : "wait_container";
    case MESOS__V1__AGENT__CALL__TYPE__LAUNCH_NESTED_CONTAINER:
        return c->launch_nested_container ? NULL : "launch_nested_container";
    case MESOS__V1__AGENT__CALL__TYPE__WAIT_NESTED_CONTAINER:
        return c->wait_nested_container ? NULL : "wait_nested_container";
    case MESOS__V1__AGENT__CALL__TYPE__KILL_NESTED_CONTAINER:
        return c->kill_nested_container ? NULL : "kill_nested_container";
    case MESOS__V1__AGENT__CALL__TYPE__REMOVE_NESTED_CONTAINER:
        return c->remove_nested_container ? NULL : "remove_nested_container";
    case MESOS__V1__AGENT__CALL__TYPE__LAUNCH_NESTED_CONTAINER_SESSION:
        return c->launch_nested_container_session ? NULL : "launch_nested_container_session";
    case MESOS__V1__AGENT__CALL__TYPE__ATTACH_CONTAINER_OUTPUT:
        return c->attach_container_output ? NULL : "attach_container_output";
    case MESOS__V1__AGENT__CALL__TYPE__LAUNCH_CONTAINER:
        return c->launch_container ? NULL : "launch_container";
    case MESOS__V1__AGENT__CALL__TYPE__REMOVE_CONTAINER:
        return c->remove_container ? NULL : "remove_container";
    case MESOS__V1__AGENT__CALL__TYPE__ADD_RESOURCE_PROVIDER_CONFIG:
        return c->add_resource_provider_config ? NULL : "add_resource_provider_config";
    case MESOS__V1__AGENT__CALL__TYPE__UPDATE_RESOURCE_PROVIDER_CONFIG:
        return c->update_resource_provider_config ? NULL : "update_resource_provider_config";
    case MESOS__V1__AGENT__CALL__TYPE__REMOVE_RESOURCE_PROVIDER_CONFIG:
        return c->remove_resource_provider_config ? NULL : "remove_resource_provider_config";
    case MESOS__V1__AGENT__CALL__TYPE__MARK_RESOURCE_PROVIDER_GONE:
        return c->mark_resource_provider_gone ? NULL : "mark_resource_provider_gone";
    case MESOS__V1__AGENT__CALL__TYPE__PRUNE_IMAGES:
    default: return NULL;
    }
}

/* Reads the varint at *p (bounded by end); returns false when it runs out or overflows. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return false;
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* The decoder leaves an undeclared 'type' unset (codec.h, as Mesos's parser does); to name the
 * value in the 400, look at what was sent: the last field 1 of the protobuf, or "type" of the
 * JSON object. Writes a description into buf, or "" when there was none. */
static void sent_type(enum cm_media media, const void *body, size_t len, char *buf, size_t n)
{
    buf[0] = '\0';
    if (media == CM_MEDIA_JSON) {
        json_t *j = json_loadb(body, len, JSON_DECODE_ANY, NULL);
        json_t *t = json_is_object(j) ? json_object_get(j, "type") : NULL;
        if (json_is_string(t))
            snprintf(buf, n, "'%.100s'", json_string_value(t));
        else if (json_is_integer(t))
            snprintf(buf, n, "%lld", (long long)json_integer_value(t));
        json_decref(j);
        return;
    }
    const uint8_t *p = body, *end = p + len;
    while (p < end) {
        uint64_t key, v;
        if (!read_varint(&p, end, &key))
            return;
        unsigned wt = (unsigned)(key & 7);
        if (wt == 0) {
            if (!read_varint(&p, end, &v))
                return;
            if ((key >> 3) == 1)
                snprintf(buf, n, "%lld", (long long)(int32_t)v);
        } else if (wt == 1 || wt == 5) {
            size_t skip = wt == 1 ? 8 : 4;
            if ((size_t)(end - p) < skip)
                return;
            p += skip;
        } else if (wt == 2) {
            if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return;
            p += v;
        } else {
            return;
        }
    }
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static void not_implemented(const Mesos__V1__Agent__Call *c, cm_agent_op_reply_fn reply, void *arg)
{
    const char *name =
        cm_enum_name_or(&mesos__v1__agent__call__type__descriptor, (int)c->type, "UNKNOWN");
    const char *what = "this capability is not implemented in cmesos";
    switch (c->type) {
    case MESOS__V1__AGENT__CALL__TYPE__LAUNCH_NESTED_CONTAINER_SESSION:
    case MESOS__V1__AGENT__CALL__TYPE__ATTACH_CONTAINER_INPUT:
    case MESOS__V1__AGENT__CALL__TYPE__ATTACH_CONTAINER_OUTPUT:
        what = "cmesos has no interactive container sessions (LAUNCH_NESTED_CONTAINER, "
               "WAIT_NESTED_CONTAINER and KILL_NESTED_CONTAINER are supported)";
        break;
    case MESOS__V1__AGENT__CALL__TYPE__LAUNCH_CONTAINER:
    case MESOS__V1__AGENT__CALL__TYPE__REMOVE_CONTAINER:
        what = "cmesos has no standalone containers";
        break;
    case MESOS__V1__AGENT__CALL__TYPE__GET_RESOURCE_PROVIDERS:
    case MESOS__V1__AGENT__CALL__TYPE__ADD_RESOURCE_PROVIDER_CONFIG:
    case MESOS__V1__AGENT__CALL__TYPE__UPDATE_RESOURCE_PROVIDER_CONFIG:
    case MESOS__V1__AGENT__CALL__TYPE__REMOVE_RESOURCE_PROVIDER_CONFIG:
    case MESOS__V1__AGENT__CALL__TYPE__MARK_RESOURCE_PROVIDER_GONE:
        what = "cmesos has no resource providers";
        break;
    case MESOS__V1__AGENT__CALL__TYPE__GET_OPERATIONS:
        what = "cmesos has no offer operations on agents";
        break;
    case MESOS__V1__AGENT__CALL__TYPE__PRUNE_IMAGES: what = "cmesos has no container images"; break;
    default: break;
    }
    cm_agent_op_reply_text(reply, arg, 501, "%s is not implemented: %s", name, what);
}

static void dispatch(struct cm_agent_op *op, const char *principal, const Mesos__V1__Agent__Call *c,
                     enum cm_media media, cm_agent_op_reply_fn reply, void *arg)
{
    struct cm_agent *a = op->agent;
    struct cm_agent_op_arena ar = {0};
    Mesos__V1__Agent__Response resp = MESOS__V1__AGENT__RESPONSE__INIT;
    Mesos__V1__Agent__Response__GetHealth health = MESOS__V1__AGENT__RESPONSE__GET_HEALTH__INIT;
    Mesos__V1__Agent__Response__GetVersion ver = MESOS__V1__AGENT__RESPONSE__GET_VERSION__INIT;
    Mesos__V1__VersionInfo vi = MESOS__V1__VERSION_INFO__INIT;
    Mesos__V1__Agent__Response__GetLoggingLevel lvl =
        MESOS__V1__AGENT__RESPONSE__GET_LOGGING_LEVEL__INIT;
    char why[1400];
    int code = authorize_call(a, principal, c, why, sizeof why);
    if (code) {
        cm_agent_op_reply_text(reply, arg, code, "%s", why);
        return;
    }
    switch (c->type) {
    case MESOS__V1__AGENT__CALL__TYPE__GET_HEALTH:
        health.healthy = 1;
        resp.type = MESOS__V1__AGENT__RESPONSE__TYPE__GET_HEALTH;
        resp.get_health = &health;
        break;
    case MESOS__V1__AGENT__CALL__TYPE__GET_FLAGS: get_flags(a, &ar, &resp); break;
    case MESOS__V1__AGENT__CALL__TYPE__GET_VERSION:
        vi.version = CMESOS_VERSION;
        vi.build_date = __DATE__ " " __TIME__;
        vi.build_user = "cmesos";
        ver.version_info = &vi;
        resp.type = MESOS__V1__AGENT__RESPONSE__TYPE__GET_VERSION;
        resp.get_version = &ver;
        break;
    case MESOS__V1__AGENT__CALL__TYPE__GET_METRICS: get_metrics(a, &ar, &resp); break;
    case MESOS__V1__AGENT__CALL__TYPE__GET_LOGGING_LEVEL:
        lvl.level = op->level;
        resp.type = MESOS__V1__AGENT__RESPONSE__TYPE__GET_LOGGING_LEVEL;
        resp.get_logging_level = &lvl;
        break;
    case MESOS__V1__AGENT__CALL__TYPE__SET_LOGGING_LEVEL: {
        const Mesos__V1__DurationInfo *d = c->set_logging_level->duration;
        if (cm_agent_op_set_logging_level(op, c->set_logging_level->level,
                                          (double)d->nanoseconds / 1e9, why, sizeof why) != 0) {
            cm_agent_op_reply_text(reply, arg, 400,
                                   "Failed to validate agent::Call: 'set_logging_level': %s", why);
            return;
        }
        reply(arg, 200, NULL, NULL, 0);
        return;
    }
    case MESOS__V1__AGENT__CALL__TYPE__LIST_FILES:
        code = cm_agent_op_list_files(a, c->list_files->path, &ar, &resp, why, sizeof why);
        break;
    case MESOS__V1__AGENT__CALL__TYPE__READ_FILE:
        code = cm_agent_op_read_file(a, c->read_file->path, c->read_file->offset,
                                     c->read_file->has_length, c->read_file->length, &ar, &resp,
                                     why, sizeof why);
        break;
    case MESOS__V1__AGENT__CALL__TYPE__GET_STATE: cm_agent_op_get_state(a, &ar, &resp); break;
    case MESOS__V1__AGENT__CALL__TYPE__GET_CONTAINERS:
        cm_agent_op_get_containers(a, &ar, &resp);
        agent_op_filter_containers(a, principal, &resp);
        if (c->get_containers && c->get_containers->show_nested)
            agent_nested_op_containers(a, &ar, &resp, cm_clock_now(a->clock));
        break;
    case MESOS__V1__AGENT__CALL__TYPE__GET_FRAMEWORKS:
        cm_agent_op_get_frameworks(a, &ar, &resp);
        break;
    case MESOS__V1__AGENT__CALL__TYPE__GET_EXECUTORS:
        cm_agent_op_get_executors(a, &ar, &resp);
        break;
    case MESOS__V1__AGENT__CALL__TYPE__GET_TASKS: cm_agent_op_get_tasks(a, &ar, &resp); break;
    case MESOS__V1__AGENT__CALL__TYPE__GET_AGENT: cm_agent_op_get_agent(a, &ar, &resp); break;
    case MESOS__V1__AGENT__CALL__TYPE__KILL_CONTAINER:
        if (c->kill_container->container_id->parent)
            agent_nested_kill(a, op->caller_cid, c->kill_container->container_id,
                              c->kill_container->has_signal, c->kill_container->signal, reply, arg);
        else
            kill_container(a, c->kill_container, reply, arg);
        return;
    case MESOS__V1__AGENT__CALL__TYPE__WAIT_CONTAINER:
        if (c->wait_container->container_id->parent)
            agent_nested_wait_container(a, op->caller_cid, c->wait_container->container_id, media,
                                        reply, arg);
        else
            wait_container(op, c->wait_container->container_id->value, media, reply, arg);
        return;
    case MESOS__V1__AGENT__CALL__TYPE__REMOVE_CONTAINER:
        if (c->remove_container->container_id->parent)
            agent_nested_remove(a, op->caller_cid, c->remove_container->container_id, reply, arg);
        else
            not_implemented(c, reply, arg);
        return;
    case MESOS__V1__AGENT__CALL__TYPE__LAUNCH_NESTED_CONTAINER:
        agent_nested_launch(a, op->caller_cid, c->launch_nested_container, reply, arg);
        return;
    case MESOS__V1__AGENT__CALL__TYPE__LAUNCH_CONTAINER:
        agent_nested_launch_container(a, op->caller_cid, c->launch_container, reply, arg);
        return;
    case MESOS__V1__AGENT__CALL__TYPE__WAIT_NESTED_CONTAINER:
        agent_nested_wait(a, op->caller_cid, c->wait_nested_container->container_id, media, reply,
                          arg);
        return;
    case MESOS__V1__AGENT__CALL__TYPE__KILL_NESTED_CONTAINER:
        agent_nested_kill(a, op->caller_cid, c->kill_nested_container->container_id,
                          c->kill_nested_container->has_signal, c->kill_nested_container->signal,
                          reply, arg);
        return;
    case MESOS__V1__AGENT__CALL__TYPE__REMOVE_NESTED_CONTAINER:
        agent_nested_remove(a, op->caller_cid, c->remove_nested_container->container_id, reply,
                            arg);
        return;
    case MESOS__V1__AGENT__CALL__TYPE__UNKNOWN:
        cm_agent_op_reply_text(reply, arg, 501, "Call type UNKNOWN is not implemented");
        return;
    default: not_implemented(c, reply, arg); return;
    }
    if (code) {
        cm_agent_op_reply_text(reply, arg, code, "%s", why);
    } else {
        filter_state(a, principal, &resp);
        resp.has_type = 1;
        reply_msg(reply, arg, media, &resp.base);
    }
    cm_agent_op_arena_free(&ar);
}

void cm_agent_op_call(struct cm_agent_op *op, const char *method, const char *content_type,
                      const char *accept, const void *body, size_t len, cm_agent_op_reply_fn reply,
                      void *arg)
{
    cm_agent_op_call_as(op, NULL, method, content_type, accept, body, len, reply, arg);
}

void cm_agent_op_call_as(struct cm_agent_op *op, const char *principal, const char *method,
                         const char *content_type, const char *accept, const void *body, size_t len,
                         cm_agent_op_reply_fn reply, void *arg)
{
    if (op->agent->recovering) {
        cm_agent_op_reply_text(reply, arg, 503, "Agent has not finished recovery");
        return;
    }
    if (!method || strcmp(method, "POST") != 0) {
        cm_agent_op_reply_text(reply, arg, 405, "Expecting a 'POST' request, received '%s'",
                               method ? method : "");
        return;
    }
    if (!content_type) {
        cm_agent_op_reply_text(reply, arg, 400, "Expecting 'Content-Type' to be present");
        return;
    }
    enum cm_media media = cm_http_content_type(content_type);
    if (media != CM_MEDIA_JSON && media != CM_MEDIA_PROTOBUF) {
        if (strncasecmp(content_type, "application/recordio", 20) == 0)
            cm_agent_op_reply_text(
                reply, arg, 501,
                "Streaming calls (ATTACH_CONTAINER_INPUT) are not implemented: cmesos "
                "has no interactive container sessions");
        else
            cm_agent_op_reply_text(reply, arg, 415, "Expecting 'Content-Type' of %s or %s",
                                   cm_media_name(CM_MEDIA_JSON), cm_media_name(CM_MEDIA_PROTOBUF));
        return;
    }
    /* Mesos's agent checks Accept before it reads the body. */
    enum cm_media out_media = cm_http_negotiate(accept);
    if (out_media != CM_MEDIA_JSON && out_media != CM_MEDIA_PROTOBUF) {
        cm_agent_op_reply_text(reply, arg, 406, "Expecting 'Accept' to allow %s or %s",
                               cm_media_name(CM_MEDIA_JSON), cm_media_name(CM_MEDIA_PROTOBUF));
        return;
    }
    ProtobufCMessage *msg = NULL;
    char why[512];
    int rc =
        cm_pb_decode(&mesos__v1__agent__call__descriptor, media, body, len, &msg, why, sizeof why);
    if (rc != 0) {
        if (media == CM_MEDIA_JSON)
            cm_agent_op_reply_text(reply, arg, 400, "Failed to convert JSON into Call protobuf: %s",
                                   why);
        else
            cm_agent_op_reply_text(reply, arg, 400, "Failed to parse body into Call protobuf: %s",
                                   why);
        return;
    }
    Mesos__V1__Agent__Call *c = (Mesos__V1__Agent__Call *)msg;
    const char *missing = NULL;
    if (!c->has_type) {
        char sent[160];
        sent_type(media, body, len, sent, sizeof sent);
        if (sent[0])
            cm_agent_op_reply_text(reply, arg, 400,
                                   "Failed to validate agent::Call: Unknown call type %s", sent);
        else
            cm_agent_op_reply_text(
                reply, arg, 400, "Failed to validate agent::Call: Expecting 'type' to be present");
        goto out;
    }
    if ((missing = missing_field(c))) {
        cm_agent_op_reply_text(reply, arg, 400,
                               "Failed to validate agent::Call: Expecting '%s' to be present",
                               missing);
        goto out;
    }
    dispatch(op, principal, c, out_media, reply, arg);
out:
    protobuf_c_message_free_unpacked(msg, NULL);
}

/* ---- HTTP --------------------------------------------------------------------------------- */

static void http_reply(void *arg, int code, const char *content_type, const void *body, size_t len)
{
    struct cm_http_request *req = arg;
    if (code == 405)
        cm_http_add_header(req, "Allow", "POST");
    cm_http_respond(req, code, content_type, body, len);
}

static void api_handler(struct cm_http_request *req, void *arg)
{
    struct cm_agent *a = arg;
    /* An executor's token (the default executor launching its tasks' containers) binds the
     * nested container calls to its own container. */
    json_t *claims = NULL;
    const char *authz = cm_http_request_header(req, "Authorization");
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0 &&
        agent_auth_executor_request(a, req, &claims) != 0)
        return; /* answered 401 */
    char *principal = agent_auth_principal(a, req, true);
    a->op->caller_cid = claims ? json_string_value(json_object_get(claims, "cid")) : NULL;
    cm_agent_op_call_as(a->op, principal, req->method, cm_http_request_header(req, "Content-Type"),
                        cm_http_request_header(req, "Accept"), req->body, req->body_len, http_reply,
                        req);
    a->op->caller_cid = NULL;
    json_decref(claims);
    free(principal);
}

/* /logging/toggle?level=N&duration=D (GET or POST, as libprocess serves it). */
static void toggle_handler(struct cm_http_request *req, void *arg)
{
    struct cm_agent *a = arg;
    if (a->acls) {
        char *principal = agent_auth_principal(a, req, true);
        bool ok = agent_authorize_http(a, req, CM_ACL_SET_LOG_LEVEL, principal, NULL);
        free(principal);
        if (!ok)
            return;
    }
    char *level = cm_http_request_query_param(req, "level");
    char *duration = cm_http_request_query_param(req, "duration");
    char *end = NULL;
    double secs = 0;
    char why[256];
    long v = 0;
    if (!level) {
        cm_http_respond_text(req, 400, "Expecting 'level=value' in query.\n");
        goto out;
    }
    if (!duration) {
        cm_http_respond_text(req, 400, "Expecting 'duration=value' in query.\n");
        goto out;
    }
    errno = 0;
    v = strtol(level, &end, 10);
    if (!*level || *end || errno || v < 0 || v > 1000000) {
        cm_http_respond_text(req, 400, "Invalid level '%s'.\n", level);
        goto out;
    }
    if (cm_duration_parse(duration, &secs) != 0) {
        cm_http_respond_text(req, 400, "Invalid duration '%s'.\n", duration);
        goto out;
    }
    if (cm_agent_op_set_logging_level(a->op, (unsigned)v, secs, why, sizeof why) != 0) {
        cm_http_respond_text(req, 400, "%s.\n", why);
        goto out;
    }
    cm_http_respond(req, 200, NULL, NULL, 0);
out:
    free(level);
    free(duration);
}

void cm_agent_op_prometheus(struct cm_http_request *req, void *arg)
{
    cm_prom_respond(req, cm_agent_metrics_json(arg));
}

void cm_agent_op_routes(struct cm_agent *a)
{
    if (!a->op) {
        struct cm_agent_op *op = cm_xcalloc(1, sizeof *op);
        op->agent = a;
        op->initial = CM_LOG_INFO;
        if (a->flags->logging_level)
            cm_log_parse_level(a->flags->logging_level, &op->initial);
        op->revert_timer = evtimer_new(a->base, revert_cb, op);
        op->wait_timer = evtimer_new(a->base, wait_cb, op);
        if (!op->revert_timer || !op->wait_timer)
            abort();
        a->op = op;
    }
    cm_http_server_route(a->http, "/api/v1", api_handler, a);
    cm_http_server_route(a->http, "/logging/toggle", toggle_handler, a);
}

void cm_agent_op_free(struct cm_agent_op *op)
{
    if (!op)
        return;
    agent_nested_free(op->agent);
    while (op->waiters) {
        struct waiter *w = op->waiters;
        op->waiters = w->next;
        cm_agent_op_reply_text(w->reply, w->arg, 503, "Agent is shutting down");
        free(w->container_id);
        free(w);
    }
    if (op->level != 0) {
        op->level = 0;
        apply_level(op);
    }
    event_free(op->revert_timer);
    event_free(op->wait_timer);
    free(op);
}
