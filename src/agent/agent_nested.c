/*
 * agent_nested.c: nested containers of the agent v1 operator API (contract in agent_nested.h).
 */
#include "agent_nested.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "codec.h"
#include "containerizer/container_info.h"
#include "containerizer/user.h"
#include "errors.h"
#include "ids.h"
#include "log.h"
#include "pbjson.h"
#include "util.h"

#define MOD "agent"
#define TEXT "text/plain; charset=utf-8"

struct nwaiter {
    enum cm_media media;
    cm_agent_op_reply_fn reply;
    void *arg;
    struct nwaiter *next;
};

struct nested {
    char *key;    /* "<parent>/<child>" */
    char *parent; /* the executor's container id */
    char *child;  /* ContainerID.value as the caller named it */
    char cid[37]; /* the containerizer's id for it */
    char *dir;    /* its sandbox */
    pid_t pid;    /* 0 once reaped */
    bool exited;
    int status; /* wait status once exited */
    struct nwaiter *waiters;
};

struct agent_nested_table {
    struct cm_strmap by_key; /* key -> struct nested */
    struct cm_strmap by_pid; /* "<pid>" -> struct nested (live) */
    size_t nwaiters;
};

static void text(cm_agent_op_reply_fn reply, void *arg, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void text(cm_agent_op_reply_fn reply, void *arg, int code, const char *fmt, ...)
{
    char buf[768];
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

static struct agent_nested_table *table(struct cm_agent *a)
{
    if (!a->nested)
        a->nested = cm_xcalloc(1, sizeof *a->nested);
    return a->nested;
}

/* The live executor whose container is cid, or NULL. */
static struct agent_executor *executor_of(struct cm_agent *a, const char *cid)
{
    struct cm_strmap_iter fit;
    cm_strmap_iter_init(&fit, &a->frameworks);
    struct agent_framework *f;
    while ((f = cm_strmap_iter_value(&fit, NULL))) {
        struct cm_strmap_iter eit;
        cm_strmap_iter_init(&eit, &f->executors);
        struct agent_executor *e;
        while ((e = cm_strmap_iter_value(&eit, NULL)))
            if (strcmp(e->container_id, cid) == 0)
                return e;
    }
    return NULL;
}

/* Checks a ContainerID naming a nested container and builds its key. Returns 0, or the HTTP
 * code with why. */
static int check_id(const char *caller_cid, const Mesos__V1__ContainerID *id, char *key,
                    size_t keylen, char *why, size_t whylen)
{
    const char *r = NULL;
    if (!id->parent)
        return cm_fail(400, why, whylen, "Expecting 'container_id.parent' to be present");
    if (id->parent->parent)
        return cm_fail(400, why, whylen,
                       "Only containers nested directly under an executor's container are "
                       "supported");
    if (cm_id_validate(id->value, &r) != 0)
        return cm_fail(400, why, whylen, "'container_id.value' is invalid: %s", r);
    if (cm_id_validate(id->parent->value, &r) != 0)
        return cm_fail(400, why, whylen, "'container_id.parent.value' is invalid: %s", r);
    if (caller_cid && strcmp(caller_cid, id->parent->value) != 0)
        return cm_fail(403, why, whylen,
                       "The executor's token only allows containers nested under its own "
                       "container %s",
                       caller_cid);
    snprintf(key, keylen, "%s/%s", id->parent->value, id->value);
    return 0;
}

static char **argv_of(const Mesos__V1__CommandInfo *c)
{
    if (!c->has_shell || c->shell) {
        char **v = cm_xcalloc(4, sizeof *v);
        v[0] = "/bin/sh";
        v[1] = "-c";
        v[2] = c->value;
        return v;
    }
    size_t n = c->n_arguments > 1 ? c->n_arguments : 1;
    char **v = cm_xcalloc(n + 1, sizeof *v);
    v[0] = c->value;
    for (size_t i = 1; i < c->n_arguments; i++)
        v[i] = c->arguments[i];
    return v;
}

static char **env_of(const Mesos__V1__CommandInfo *c, const char *sandbox)
{
    size_t n = c->environment ? c->environment->n_variables : 0, k = 0;
    char **v = cm_xcalloc(n + 3, sizeof *v);
    v[k++] = cm_xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    v[k++] = cm_xasprintf("MESOS_SANDBOX=%s", sandbox);
    for (size_t i = 0; i < n; i++) {
        const Mesos__V1__Environment__Variable *ev = c->environment->variables[i];
        if (ev->name && ev->name[0] && !strchr(ev->name, '=') && ev->value &&
            (!ev->has_type || ev->type == MESOS__V1__ENVIRONMENT__VARIABLE__TYPE__VALUE))
            v[k++] = cm_xasprintf("%s=%s", ev->name, ev->value);
    }
    return v;
}

static void free_env(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

static void nested_free(void *p)
{
    struct nested *n = p;
    free(n->key);
    free(n->parent);
    free(n->child);
    free(n->dir);
    free(n);
}

void agent_nested_launch(struct cm_agent *a, const char *caller_cid,
                         const Mesos__V1__Agent__Call__LaunchNestedContainer *l,
                         cm_agent_op_reply_fn reply, void *arg)
{
    char key[600], why[512];
    int code = check_id(caller_cid, l->container_id, key, sizeof key, why, sizeof why);
    if (code) {
        text(reply, arg, code, "%s", why);
        return;
    }
    struct agent_nested_table *t = table(a);
    if (cm_strmap_get(&t->by_key, key)) {
        text(reply, arg, 400, "Container %s already exists", key);
        return;
    }
    if (cm_strmap_count(&t->by_key) >= CM_AGENT_NESTED_MAX) {
        text(reply, arg, 503, "Too many nested containers (%d)", CM_AGENT_NESTED_MAX);
        return;
    }
    struct agent_executor *e = executor_of(a, l->container_id->parent->value);
    if (!e || e->pid <= 0 || e->state == EXECUTOR_TERMINATED) {
        text(reply, arg, 404, "Parent container %s cannot be found (or is not running)",
             l->container_id->parent->value);
        return;
    }
    const Mesos__V1__CommandInfo *c = l->command;
    if (!c || (!c->value && (!c->has_shell || c->shell)) || !c->value) {
        text(reply, arg, 400, "Expecting 'launch_nested_container.command.value' to be present");
        return;
    }
    if (cm_container_info_check(l->container, "nested container", why, sizeof why) != 0) {
        text(reply, arg, 400, "%s", why);
        return;
    }
    const char *user = c->user && c->user[0] ? c->user : NULL;
    if (!user && e->info && e->info->command && e->info->command->user)
        user = e->info->command->user;
    if (!user && e->framework->info)
        user = e->framework->info->user;
    struct cm_user u;
    bool switched = false;
    if (a->flags->switch_user && user && *user) {
        if (cm_user_lookup(user, &u, why, sizeof why) != 0) {
            text(reply, arg, 400, "Cannot run the nested container as '%s': %s", user, why);
            return;
        }
        switched = true;
    }
    struct nested *n = cm_xcalloc(1, sizeof *n);
    n->key = cm_xstrdup(key);
    n->parent = cm_xstrdup(l->container_id->parent->value);
    n->child = cm_xstrdup(l->container_id->value);
    cm_uuid_string(n->cid);
    n->dir = cm_xasprintf("%s/containers/%s", e->directory, n->child);
    char *out = cm_xasprintf("%s/stdout", n->dir), *err = cm_xasprintf("%s/stderr", n->dir);
    char **argv = argv_of(c), **env = env_of(c, n->dir);
    struct cm_launch_spec spec = {
        .container_id = n->cid,
        .argv = argv,
        .envp = env,
        .cwd = n->dir,
        .stdout_path = out,
        .stderr_path = err,
        .resources = NULL,
        .create_cwd = true,
        .user = switched ? &u : NULL,
    };
    char lwhy[256] = "";
    int rc = cm_containerizer_launch(a->containerizer, &spec, &n->pid, lwhy, sizeof lwhy);
    free(argv);
    free_env(env);
    free(out);
    free(err);
    if (switched)
        cm_user_cleanup(&u);
    if (rc != 0) {
        text(reply, arg, 500, "Failed to launch nested container %s: %s", key,
             *lwhy ? lwhy : cm_strerror(rc));
        nested_free(n);
        return;
    }
    char pk[32];
    snprintf(pk, sizeof pk, "%d", (int)n->pid);
    cm_strmap_put(&t->by_key, n->key, n);
    cm_strmap_put(&t->by_pid, pk, n);
    CM_INFO(MOD, "Launched nested container %s (pid %d) of executor '%s' in %s", key, (int)n->pid,
            e->id, n->dir);
    reply(arg, 200, NULL, NULL, 0);
}

static void answer(struct nested *n, struct nwaiter *w)
{
    Mesos__V1__Agent__Response resp = MESOS__V1__AGENT__RESPONSE__INIT;
    Mesos__V1__Agent__Response__WaitNestedContainer wn =
        MESOS__V1__AGENT__RESPONSE__WAIT_NESTED_CONTAINER__INIT;
    resp.has_type = 1;
    resp.type = MESOS__V1__AGENT__RESPONSE__TYPE__WAIT_NESTED_CONTAINER;
    resp.wait_nested_container = &wn;
    if (n->status >= 0) {
        wn.has_exit_status = 1;
        wn.exit_status = n->status;
    }
    uint8_t *body = NULL;
    size_t len = 0;
    cm_pb_encode(&resp.base, w->media, &body, &len);
    w->reply(w->arg, 200, cm_media_name(w->media), body, len);
    free(body);
}

static struct nested *lookup(struct cm_agent *a, const char *caller_cid,
                             const Mesos__V1__ContainerID *id, cm_agent_op_reply_fn reply,
                             void *arg)
{
    char key[600], why[512];
    int code = check_id(caller_cid, id, key, sizeof key, why, sizeof why);
    if (code) {
        text(reply, arg, code, "%s", why);
        return NULL;
    }
    struct nested *n = a->nested ? cm_strmap_get(&a->nested->by_key, key) : NULL;
    if (!n)
        text(reply, arg, 404, "Container %s cannot be found", key);
    return n;
}

void agent_nested_wait(struct cm_agent *a, const char *caller_cid, const Mesos__V1__ContainerID *id,
                       enum cm_media media, cm_agent_op_reply_fn reply, void *arg)
{
    struct nested *n = lookup(a, caller_cid, id, reply, arg);
    if (!n)
        return;
    struct nwaiter w0 = {.media = media, .reply = reply, .arg = arg};
    if (n->exited) {
        answer(n, &w0);
        return;
    }
    if (a->nested->nwaiters >= CM_AGENT_NESTED_MAX_WAITERS) {
        text(reply, arg, 503, "Too many WAIT_NESTED_CONTAINER calls are waiting (%d)",
             CM_AGENT_NESTED_MAX_WAITERS);
        return;
    }
    struct nwaiter *w = cm_xcalloc(1, sizeof *w);
    *w = w0;
    w->next = n->waiters;
    n->waiters = w;
    a->nested->nwaiters++;
}

void agent_nested_kill(struct cm_agent *a, const char *caller_cid, const Mesos__V1__ContainerID *id,
                       bool has_signal, int signal, cm_agent_op_reply_fn reply, void *arg)
{
    if (has_signal && (signal <= 0 || signal >= NSIG)) {
        text(reply, arg, 400, "Invalid signal %d", signal);
        return;
    }
    struct nested *n = lookup(a, caller_cid, id, reply, arg);
    if (!n)
        return;
    if (n->exited) {
        text(reply, arg, 404, "Container %s has already exited", n->key);
        return;
    }
    int rc = cm_containerizer_kill(a->containerizer, n->cid, has_signal ? signal : SIGKILL);
    if (rc != 0) {
        text(reply, arg, 500, "Failed to kill container %s: %s", n->key, cm_strerror(rc));
        return;
    }
    CM_INFO(MOD, "Sent signal %d to nested container %s", has_signal ? signal : SIGKILL, n->key);
    reply(arg, 200, NULL, NULL, 0);
}

void agent_nested_remove(struct cm_agent *a, const char *caller_cid,
                         const Mesos__V1__ContainerID *id, cm_agent_op_reply_fn reply, void *arg)
{
    struct nested *n = lookup(a, caller_cid, id, reply, arg);
    if (!n)
        return;
    if (!n->exited) {
        text(reply, arg, 400, "Container %s is still running", n->key);
        return;
    }
    cm_strmap_remove(&a->nested->by_key, n->key);
    nested_free(n);
    reply(arg, 200, NULL, NULL, 0);
}

bool agent_nested_reaped(struct cm_agent *a, pid_t pid, int status)
{
    if (!a->nested)
        return false;
    char pk[32];
    snprintf(pk, sizeof pk, "%d", (int)pid);
    struct nested *n = cm_strmap_remove(&a->nested->by_pid, pk);
    if (!n)
        return false;
    const char *lerr = cm_containerizer_launch_error(a->containerizer, n->cid);
    if (lerr)
        CM_WARN(MOD, "Nested container %s failed to start: %s", n->key, lerr);
    cm_containerizer_reaped(a->containerizer, n->cid);
    n->pid = 0;
    n->exited = true;
    n->status = status;
    CM_INFO(MOD, "Nested container %s exited (wait status %d)", n->key, status);
    while (n->waiters) {
        struct nwaiter *w = n->waiters;
        n->waiters = w->next;
        a->nested->nwaiters--;
        answer(n, w);
        free(w);
    }
    /* Its parent is gone too: nobody can wait for or remove it any more. */
    const struct agent_executor *pe = executor_of(a, n->parent);
    if (!pe || pe->state == EXECUTOR_TERMINATED) {
        cm_strmap_remove(&a->nested->by_key, n->key);
        nested_free(n);
    }
    return true;
}

void agent_nested_parent_exited(struct cm_agent *a, const char *parent_cid)
{
    if (!a->nested)
        return;
    size_t cnt = cm_strmap_count(&a->nested->by_key), k = 0;
    struct nested **gone = cm_xcalloc(cnt + 1, sizeof *gone);
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &a->nested->by_key);
    struct nested *n;
    while ((n = cm_strmap_iter_value(&it, NULL))) {
        if (strcmp(n->parent, parent_cid) != 0)
            continue;
        if (n->exited && !n->waiters) {
            gone[k++] = n; /* nobody can ask about it once its parent is gone */
        } else if (!n->exited) {
            CM_INFO(MOD, "Killing nested container %s: its executor's container exited", n->key);
            cm_containerizer_kill(a->containerizer, n->cid, SIGKILL);
        }
    }
    for (size_t i = 0; i < k; i++) {
        cm_strmap_remove(&a->nested->by_key, gone[i]->key);
        nested_free(gone[i]);
    }
    free(gone);
}

void agent_nested_free(struct cm_agent *a)
{
    struct agent_nested_table *t = a->nested;
    if (!t)
        return;
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &t->by_key);
    struct nested *n;
    while ((n = cm_strmap_iter_value(&it, NULL)))
        while (n->waiters) {
            struct nwaiter *w = n->waiters;
            n->waiters = w->next;
            text(w->reply, w->arg, 503, "Agent is shutting down");
            free(w);
        }
    cm_strmap_cleanup(&t->by_pid);
    cm_strmap_cleanup_values(&t->by_key, nested_free);
    free(t);
    a->nested = NULL;
}
