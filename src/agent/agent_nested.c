/*
 * agent_nested.c: nested containers of the agent v1 operator API (contract in agent_nested.h).
 */
#include "agent_nested.h"

#include <dirent.h>
#include <event2/event.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_ckpt.h"
#include "agent_executors.h"
#include "checkpoint.h"
#include "codec.h"
#include "containerizer/cgroups.h"
#include "containerizer/container_info.h"
#include "containerizer/user.h"
#include "errors.h"
#include "ids.h"
#include "log.h"
#include "paths.h"
#include "pbjson.h"
#include "util.h"

#define MOD "agent"

struct nwaiter {
    enum cm_media media;
    bool container_api; /* WAIT_CONTAINER (Response.wait_container), not WAIT_NESTED_CONTAINER */
    cm_agent_op_reply_fn reply;
    void *arg;
    struct nwaiter *next;
};

struct nested {
    char *key;    /* "<parent>/<child>" */
    char *parent; /* the executor's container id */
    char *child;  /* ContainerID.value as the caller named it */
    char *cid;    /* the containerizer's id for it: "<parent>/mesos/<child>" (cgroups.h) */
    char *dir;    /* its sandbox */
    pid_t pid;    /* 0 once reaped */
    char *ckpt;   /* its checkpoint directory (agent_nested_ckpt_dir), or NULL */
    int pidfd;    /* recovered (not the agent's child): watched through this */
    struct event *pidfd_event;
    struct cm_agent *agent;
    bool exited;
    int status; /* wait status once exited; -1 = unknown (it ended while the agent was down) */
    double cpus, mem; /* its resources' cpus and mem (0: none given) */
    bool limited;     /* it hit its memory limit: TASK_FAILED, REASON_CONTAINER_LIMITATION_MEMORY */
    char *message;    /* the limitation's message, or NULL */
    struct nwaiter *waiters;
};

struct agent_nested_table {
    struct cm_strmap by_key; /* key -> struct nested */
    struct cm_strmap by_pid; /* "<pid>" -> struct nested (live) */
    size_t nwaiters;
};

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
    free(n->cid);
    free(n->ckpt);
    free(n->message);
    if (n->pidfd_event) {
        event_free(n->pidfd_event);
        close(n->pidfd);
    }
    free(n);
}

static void exited(struct cm_agent *a, struct nested *n, int status);

/* ---- checkpoints: <executor's meta run dir>/containers/<child>/{forked.pid,status} ---- */

static char *ckpt_dir(struct cm_agent *a, const struct agent_executor *e, const char *child)
{
    char *run = cm_paths_meta_run_dir(a->flags->work_dir, a->agent_id, e->framework->id, e->id,
                                      e->container_id);
    if (!run)
        return NULL;
    char *d = cm_xasprintf("%s/containers/%s", run, child);
    free(run);
    return d;
}

/* A checkpointing framework's nested container survives an agent restart: its leader's pid
 * and start time are written right after the launch (as the executor's are). */
static void ckpt_prepare(struct cm_agent *a, const struct agent_executor *e, struct nested *n)
{
    if (!a->agent_id || !agent_ckpt_enabled(e->framework))
        return;
    n->ckpt = ckpt_dir(a, e, n->child);
    int rc = n->ckpt ? cm_paths_mkdirs(n->ckpt, 0755) : CM_EINVAL;
    if (rc) {
        CM_WARN(MOD, "Failed to checkpoint nested container %s: %s", n->key, cm_strerror(rc));
        free(n->ckpt);
        n->ckpt = NULL;
    }
}

static void ckpt_launched(struct nested *n)
{
    if (!n->ckpt)
        return;
    unsigned long long start = 0;
    char *p = cm_xasprintf("%s/forked.pid", n->ckpt);
    int rc = cm_ckpt_proc_start_time(n->pid, &start);
    if (!rc)
        rc = cm_ckpt_write_pid(p, n->pid, start);
    if (!rc && (n->cpus > 0 || n->mem > 0)) {
        free(p);
        p = cm_xasprintf("%s/resources", n->ckpt);
        char *v = cm_xasprintf("cpus:%.17g;mem:%.17g", n->cpus, n->mem);
        rc = cm_ckpt_write_record(p, v, strlen(v));
        free(v);
    }
    if (rc)
        CM_WARN(MOD, "Failed to checkpoint nested container %s to %s: %s", n->key, p,
                cm_strerror(rc));
    free(p);
}

/* The exit code the container's init wrote (containerizer.h, exit_status_path) as a wait
 * status, or -1 when there is none. */
static int ckpt_exit_status(const struct nested *n)
{
    if (!n->ckpt)
        return -1;
    char *p = cm_xasprintf("%s/exit_status", n->ckpt);
    uint8_t *data = NULL;
    size_t len = 0;
    int st = -1;
    if (cm_ckpt_read_file(p, 64, &data, &len) == 0 && len > 0 && len < 64) {
        char text[64], *end;
        memcpy(text, data, len);
        text[len] = '\0';
        long code = strtol(text, &end, 10);
        if (end != text && *end == '\n' && code >= 0 && code <= 255)
            st = (int)code << 8; /* what waitpid would have said of the init's exit */
    }
    free(data);
    free(p);
    return st;
}

static void pidfd_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct nested *n = arg;
    event_free(n->pidfd_event);
    n->pidfd_event = NULL;
    close(n->pidfd);
    n->pidfd = -1;
    /* Not the agent's child: its init wrote its exit code for us. */
    exited(n->agent, n, ckpt_exit_status(n));
}

/* Copies a record's payload (text) into arg (64 bytes). */
static int first_record(void *arg, const uint8_t *payload, size_t len)
{
    char *buf = arg;
    size_t n = len < 63 ? len : 63;
    memcpy(buf, payload, n);
    buf[n] = '\0';
    return 1;
}

/* One checkpointed nested container of a recovered executor. */
static void recover_one(struct cm_agent *a, struct agent_executor *e, const char *child)
{
    struct agent_nested_table *t = table(a);
    char *dir = ckpt_dir(a, e, child);
    if (!dir)
        return;
    struct nested *n = cm_xcalloc(1, sizeof *n);
    n->agent = a;
    n->pidfd = -1;
    n->key = cm_xasprintf("%s/%s", e->container_id, child);
    n->parent = cm_xstrdup(e->container_id);
    n->child = cm_xstrdup(child);
    n->cid = agent_nested_cid(n->parent, n->child);
    n->dir = cm_xasprintf("%s/containers/%s", e->directory, child);
    n->ckpt = dir;
    n->status = -1;
    char *pf = cm_xasprintf("%s/forked.pid", dir), *sf = cm_xasprintf("%s/status", dir);
    char why[256] = "";
    pid_t pid = 0;
    unsigned long long start = 0, now = 0;
    uint8_t *data = NULL;
    size_t len = 0;
    char buf[64] = "";
    size_t valid = 0;
    if (cm_ckpt_read_file(sf, 256, &data, &len) == 0 &&
        cm_ckpt_records_decode(data, len, first_record, buf, &valid, NULL, 0) >= 0 && buf[0]) {
        /* It exited before the agent died; its status was written then. */
        int st = -1, lim = 0;
        if (sscanf(buf, "%d %d", &st, &lim) >= 1)
            n->status = st;
        n->limited = lim == 1;
        if (n->limited)
            n->message = cm_xstrdup("Memory limit exceeded");
        n->exited = true;
    } else if (cm_ckpt_read_pid(pf, &pid, &start, why, sizeof why) == 0 && pid > 1 &&
               cm_ckpt_proc_start_time(pid, &now) == 0 && now == start &&
               (n->pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) >= 0) {
        n->pid = pid;
        n->pidfd_event = event_new(a->base, n->pidfd, EV_READ, pidfd_cb, n);
        if (!n->pidfd_event || event_add(n->pidfd_event, NULL) != 0)
            abort();
    } else {
        n->pidfd = -1;
        n->exited = true; /* gone while the agent was down: what its init wrote, if anything */
        n->status = ckpt_exit_status(n);
    }
    free(data);
    data = NULL;
    char *rf = cm_xasprintf("%s/resources", dir);
    char rbuf[64] = "";
    if (cm_ckpt_read_file(rf, 256, &data, &len) == 0 &&
        cm_ckpt_records_decode(data, len, first_record, rbuf, &valid, NULL, 0) >= 0 &&
        sscanf(rbuf, "cpus:%lg;mem:%lg", &n->cpus, &n->mem) != 2)
        n->cpus = n->mem = 0;
    free(rf);
    free(data);
    free(pf);
    free(sf);
    if (cm_strmap_get(&t->by_key, n->key) || cm_strmap_count(&t->by_key) >= CM_AGENT_NESTED_MAX) {
        nested_free(n);
        return;
    }
    cm_strmap_put(&t->by_key, n->key, n);
    CM_INFO(MOD, "Recovered nested container %s (%s)", n->key, n->exited ? "exited" : "running");
}

void agent_nested_recover(struct cm_agent *a, struct agent_executor *e)
{
    char *run = cm_paths_meta_run_dir(a->flags->work_dir, a->agent_id, e->framework->id, e->id,
                                      e->container_id);
    if (!run)
        return;
    char *cdir = cm_xasprintf("%s/containers", run);
    free(run);
    DIR *d = opendir(cdir);
    free(cdir);
    if (!d)
        return;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        const char *r = NULL;
        if (de->d_name[0] == '.' || cm_id_validate(de->d_name, &r) != 0)
            continue;
        recover_one(a, e, de->d_name);
    }
    closedir(d);
}

size_t agent_nested_live(struct cm_agent *a, const char ***ids, pid_t **pids)
{
    size_t cnt = a->nested ? cm_strmap_count(&a->nested->by_key) : 0, k = 0;
    *ids = cm_xcalloc(cnt + 1, sizeof **ids);
    *pids = cm_xcalloc(cnt + 1, sizeof **pids);
    if (!cnt)
        return 0;
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &a->nested->by_key);
    struct nested *n;
    while ((n = cm_strmap_iter_value(&it, NULL)))
        if (!n->exited && n->pid > 0) {
            (*ids)[k] = n->cid;
            (*pids)[k++] = n->pid;
        }
    return k;
}

/* The ContainerInfo checks of any container (container_info.h), except that a nested
 * container's linux_info may say share_cgroups: false, which is what it gets here (cgroups of
 * its own, in the parent's subtree; Mesos asks for it when tasks have limits of their own).
 * share_cgroups: true (the parent's cgroups only) is refused rather than quietly not done. */
static int container_check(const Mesos__V1__ContainerInfo *ci, char *why, size_t whylen)
{
    const Mesos__V1__LinuxInfo *li = ci ? ci->linux_info : NULL;
    if (li && li->has_share_cgroups && li->share_cgroups)
        return cm_fail(CM_EINVAL, why, whylen,
                       "The nested container's ContainerInfo cannot be honoured by this agent: "
                       "'linux_info.share_cgroups' true is not supported (each nested container "
                       "has cgroups of its own under its parent's)");
    if (!li || !li->has_share_cgroups)
        return cm_container_info_check(ci, "nested container", why, whylen);
    /* Only share_cgroups set: check the rest as if linux_info were absent. */
    Mesos__V1__LinuxInfo rest = *li;
    rest.has_share_cgroups = 0;
    if (protobuf_c_message_get_packed_size(&rest.base) != 0)
        return cm_container_info_check(ci, "nested container", why, whylen);
    Mesos__V1__ContainerInfo copy = *ci;
    copy.linux_info = NULL;
    return cm_container_info_check(&copy, "nested container", why, whylen);
}

/* What a LAUNCH_NESTED_CONTAINER or LAUNCH_CONTAINER (with a parent) asks for. */
struct launch_req {
    const Mesos__V1__ContainerID *id;
    const Mesos__V1__CommandInfo *command;
    const Mesos__V1__ContainerInfo *container;
    Mesos__V1__Resource *const *resources;
    size_t n_resources;
    bool is_launch_container; /* a duplicate is 202 Accepted, as Mesos answers */
    const char *what;         /* the call's field name for messages */
};

static void launch(struct cm_agent *a, const char *caller_cid, const struct launch_req *l,
                   cm_agent_op_reply_fn reply, void *arg)
{
    char key[600], why[512];
    int code = check_id(caller_cid, l->id, key, sizeof key, why, sizeof why);
    if (code) {
        cm_agent_op_reply_text(reply, arg, code, "%s", why);
        return;
    }
    struct agent_nested_table *t = table(a);
    if (cm_strmap_get(&t->by_key, key)) {
        if (l->is_launch_container) {
            reply(arg, 202, NULL, NULL, 0);
            return;
        }
        cm_agent_op_reply_text(reply, arg, 400, "Container %s already exists", key);
        return;
    }
    if (cm_strmap_count(&t->by_key) >= CM_AGENT_NESTED_MAX) {
        cm_agent_op_reply_text(reply, arg, 503, "Too many nested containers (%d)",
                               CM_AGENT_NESTED_MAX);
        return;
    }
    struct agent_executor *e = executor_of(a, l->id->parent->value);
    if (!e || e->pid <= 0 || e->state == EXECUTOR_TERMINATED) {
        cm_agent_op_reply_text(reply, arg, 404,
                               "Parent container %s cannot be found (or is not running)",
                               l->id->parent->value);
        return;
    }
    const Mesos__V1__CommandInfo *c = l->command;
    if (!c || (!c->value && (!c->has_shell || c->shell)) || !c->value) {
        cm_agent_op_reply_text(reply, arg, 400, "Expecting '%s.command.value' to be present",
                               l->what);
        return;
    }
    if (container_check(l->container, why, sizeof why) != 0) {
        cm_agent_op_reply_text(reply, arg, 400, "%s", why);
        return;
    }
    struct cm_resources res;
    cm_resources_init(&res);
    if (l->n_resources &&
        cm_resources_from_proto(&res, l->resources, l->n_resources, why, sizeof why) != 0) {
        cm_resources_cleanup(&res);
        cm_agent_op_reply_text(reply, arg, 400, "Invalid '%s.resources': %s", l->what, why);
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
            cm_resources_cleanup(&res);
            cm_agent_op_reply_text(reply, arg, 400, "Cannot run the nested container as '%s': %s",
                                   user, why);
            return;
        }
        switched = true;
    }
    struct nested *n = cm_xcalloc(1, sizeof *n);
    n->agent = a;
    n->pidfd = -1;
    n->key = cm_xstrdup(key);
    n->parent = cm_xstrdup(l->id->parent->value);
    n->child = cm_xstrdup(l->id->value);
    n->cid = agent_nested_cid(n->parent, n->child);
    n->dir = cm_xasprintf("%s/containers/%s", e->directory, n->child);
    n->cpus = cm_scalar_to_double(cm_resources_scalar(&res, "cpus"));
    n->mem = cm_scalar_to_double(cm_resources_scalar(&res, "mem"));
    ckpt_prepare(a, e, n);
    char *out = cm_xasprintf("%s/stdout", n->dir), *err = cm_xasprintf("%s/stderr", n->dir);
    char *exit_path = n->ckpt ? cm_xasprintf("%s/exit_status", n->ckpt) : NULL;
    char **argv = agent_exec_command_argv(c), **env = env_of(c, n->dir);
    struct cm_launch_spec spec = {
        .container_id = n->cid,
        .argv = argv,
        .envp = env,
        .cwd = n->dir,
        .stdout_path = out,
        .stderr_path = err,
        .resources = l->n_resources ? &res : NULL,
        .create_cwd = true,
        .user = switched ? &u : NULL,
        .enter_pid = e->pid,
        .exit_status_path = exit_path,
    };
    char lwhy[256] = "";
    int rc = cm_containerizer_launch(a->containerizer, &spec, &n->pid, lwhy, sizeof lwhy);
    free(argv);
    free_env(env);
    free(out);
    free(err);
    free(exit_path);
    cm_resources_cleanup(&res);
    if (switched)
        cm_user_cleanup(&u);
    if (rc != 0) {
        cm_agent_op_reply_text(reply, arg, 500, "Failed to launch nested container %s: %s", key,
                               *lwhy ? lwhy : cm_strerror(rc));
        if (n->ckpt)
            agent_ckpt_remove(cm_xstrdup(n->ckpt));
        nested_free(n);
        return;
    }
    char pk[32];
    snprintf(pk, sizeof pk, "%d", (int)n->pid);
    cm_strmap_put(&t->by_key, n->key, n);
    cm_strmap_put(&t->by_pid, pk, n);
    ckpt_launched(n);
    CM_INFO(MOD, "Launched nested container %s (pid %d) of executor '%s' in %s", key, (int)n->pid,
            e->id, n->dir);
    reply(arg, 200, NULL, NULL, 0);
}

void agent_nested_launch(struct cm_agent *a, const char *caller_cid,
                         const Mesos__V1__Agent__Call__LaunchNestedContainer *l,
                         cm_agent_op_reply_fn reply, void *arg)
{
    struct launch_req r = {.id = l->container_id,
                           .command = l->command,
                           .container = l->container,
                           .what = "launch_nested_container"};
    launch(a, caller_cid, &r, reply, arg);
}

void agent_nested_launch_container(struct cm_agent *a, const char *caller_cid,
                                   const Mesos__V1__Agent__Call__LaunchContainer *l,
                                   cm_agent_op_reply_fn reply, void *arg)
{
    if (!l->container_id->parent) {
        cm_agent_op_reply_text(reply, arg, 501,
                               "cmesos has no standalone containers (LAUNCH_CONTAINER needs "
                               "'launch_container.container_id.parent')");
        return;
    }
    struct launch_req r = {.id = l->container_id,
                           .command = l->command,
                           .container = l->container,
                           .resources = l->resources,
                           .n_resources = l->n_resources,
                           .is_launch_container = true,
                           .what = "launch_container"};
    launch(a, caller_cid, &r, reply, arg);
}

char *agent_nested_cid(const char *parent_cid, const char *child)
{
    return cm_xasprintf("%s/" CM_CGROUPS_NESTED_DIR "/%s", parent_cid, child);
}

static void answer(struct nested *n, struct nwaiter *w)
{
    Mesos__V1__Agent__Response resp = MESOS__V1__AGENT__RESPONSE__INIT;
    Mesos__V1__Agent__Response__WaitNestedContainer wn =
        MESOS__V1__AGENT__RESPONSE__WAIT_NESTED_CONTAINER__INIT;
    resp.has_type = 1;
    if (n->status >= 0) {
        wn.has_exit_status = 1;
        wn.exit_status = n->status;
    }
    if (n->limited) {
        wn.has_state = 1;
        wn.state = MESOS__V1__TASK_STATE__TASK_FAILED;
        wn.has_reason = 1;
        wn.reason = MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY;
        wn.message = n->message;
    }
    /* WAIT_CONTAINER's answer has the same fields under their own message. */
    Mesos__V1__Agent__Response__WaitContainer wc = MESOS__V1__AGENT__RESPONSE__WAIT_CONTAINER__INIT;
    if (w->container_api) {
        wc.has_exit_status = wn.has_exit_status;
        wc.exit_status = wn.exit_status;
        wc.has_state = wn.has_state;
        wc.state = wn.state;
        wc.has_reason = wn.has_reason;
        wc.reason = wn.reason;
        wc.message = wn.message;
        resp.type = MESOS__V1__AGENT__RESPONSE__TYPE__WAIT_CONTAINER;
        resp.wait_container = &wc;
    } else {
        resp.type = MESOS__V1__AGENT__RESPONSE__TYPE__WAIT_NESTED_CONTAINER;
        resp.wait_nested_container = &wn;
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
        cm_agent_op_reply_text(reply, arg, code, "%s", why);
        return NULL;
    }
    struct nested *n = a->nested ? cm_strmap_get(&a->nested->by_key, key) : NULL;
    if (!n)
        cm_agent_op_reply_text(reply, arg, 404, "Container %s cannot be found", key);
    return n;
}

static void wait_for(struct cm_agent *a, const char *caller_cid, const Mesos__V1__ContainerID *id,
                     bool container_api, enum cm_media media, cm_agent_op_reply_fn reply, void *arg)
{
    struct nested *n = lookup(a, caller_cid, id, reply, arg);
    if (!n)
        return;
    struct nwaiter w0 = {
        .media = media, .container_api = container_api, .reply = reply, .arg = arg};
    if (n->exited) {
        answer(n, &w0);
        return;
    }
    if (a->nested->nwaiters >= CM_AGENT_NESTED_MAX_WAITERS) {
        cm_agent_op_reply_text(reply, arg, 503,
                               "Too many WAIT_NESTED_CONTAINER calls are waiting (%d)",
                               CM_AGENT_NESTED_MAX_WAITERS);
        return;
    }
    struct nwaiter *w = cm_xcalloc(1, sizeof *w);
    *w = w0;
    w->next = n->waiters;
    n->waiters = w;
    a->nested->nwaiters++;
}

void agent_nested_wait(struct cm_agent *a, const char *caller_cid, const Mesos__V1__ContainerID *id,
                       enum cm_media media, cm_agent_op_reply_fn reply, void *arg)
{
    wait_for(a, caller_cid, id, false, media, reply, arg);
}

void agent_nested_wait_container(struct cm_agent *a, const char *caller_cid,
                                 const Mesos__V1__ContainerID *id, enum cm_media media,
                                 cm_agent_op_reply_fn reply, void *arg)
{
    wait_for(a, caller_cid, id, true, media, reply, arg);
}

void agent_nested_kill(struct cm_agent *a, const char *caller_cid, const Mesos__V1__ContainerID *id,
                       bool has_signal, int signal, cm_agent_op_reply_fn reply, void *arg)
{
    if (has_signal && (signal <= 0 || signal >= NSIG)) {
        cm_agent_op_reply_text(reply, arg, 400, "Invalid signal %d", signal);
        return;
    }
    struct nested *n = lookup(a, caller_cid, id, reply, arg);
    if (!n)
        return;
    if (n->exited) {
        cm_agent_op_reply_text(reply, arg, 404, "Container %s has already exited", n->key);
        return;
    }
    int rc = cm_containerizer_kill(a->containerizer, n->cid, has_signal ? signal : SIGKILL);
    if (rc != 0) {
        cm_agent_op_reply_text(reply, arg, 500, "Failed to kill container %s: %s", n->key,
                               cm_strerror(rc));
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
        cm_agent_op_reply_text(reply, arg, 400, "Container %s is still running", n->key);
        return;
    }
    cm_strmap_remove(&a->nested->by_key, n->key);
    if (n->ckpt)
        agent_ckpt_remove(cm_xstrdup(n->ckpt));
    nested_free(n);
    reply(arg, 200, NULL, NULL, 0);
}

/* The container's leader is gone (reaped, or seen through its pidfd): record how, tear the
 * container down, answer its waiters. */
static void exited(struct cm_agent *a, struct nested *n, int status)
{
    const char *lerr = cm_containerizer_launch_error(a->containerizer, n->cid);
    if (lerr)
        CM_WARN(MOD, "Nested container %s failed to start: %s", n->key, lerr);
    char msg[256] = "";
    if (cm_containerizer_limitation(a->containerizer, n->cid, msg, sizeof msg, NULL) ==
        CM_LIMITATION_MEMORY) {
        n->limited = true;
        free(n->message);
        n->message = cm_xstrdup(msg);
    }
    cm_containerizer_reaped(a->containerizer, n->cid);
    n->pid = 0;
    n->exited = true;
    n->status = status;
    if (n->ckpt) {
        char *p = cm_xasprintf("%s/status", n->ckpt);
        char *v = cm_xasprintf("%d %d", status, n->limited ? 1 : 0);
        if (cm_ckpt_write_record(p, v, strlen(v)) != 0)
            CM_WARN(MOD, "Failed to checkpoint the exit of nested container %s to %s", n->key, p);
        free(p);
        free(v);
    }
    CM_INFO(MOD, "Nested container %s exited (wait status %d)%s%s", n->key, status,
            n->limited ? ": " : "", n->limited ? n->message : "");
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
    exited(a, n, status);
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
            cm_agent_op_reply_text(w->reply, w->arg, 503, "Agent is shutting down");
            free(w);
        }
    cm_strmap_cleanup(&t->by_pid);
    cm_strmap_cleanup_values(&t->by_key, nested_free);
    free(t);
    a->nested = NULL;
}

void agent_nested_usage_json(struct cm_agent *a, json_t *entries, double now)
{
    if (!a->nested || !json_is_array(entries))
        return;
    size_t count = json_array_size(entries);
    for (size_t i = 0; i < count; i++) {
        json_t *pe = json_array_get(entries, i);
        const char *parent = json_string_value(json_object_get(pe, "container_id"));
        if (!parent)
            continue;
        struct cm_strmap_iter it;
        cm_strmap_iter_init(&it, &a->nested->by_key);
        struct nested *n;
        while ((n = cm_strmap_iter_value(&it, NULL))) {
            if (n->exited || n->pid <= 0 || strcmp(n->parent, parent) != 0)
                continue;
            json_t *stats = json_object();
            if (cm_containerizer_usage(a->containerizer, n->cid, now, stats) != 0) {
                json_decref(stats);
                continue;
            }
            json_t *o = json_object();
            static const char *const copied[] = {"framework_id", "executor_id", "executor_name",
                                                 "source"};
            for (size_t k = 0; k < sizeof copied / sizeof copied[0]; k++) {
                json_t *v = json_object_get(pe, copied[k]);
                if (v)
                    json_object_set(o, copied[k], v);
            }
            /* Mesos's stringified nested ContainerID: "<parent>.<child>". */
            char *flat = cm_xasprintf("%s.%s", n->parent, n->child);
            json_object_set_new(o, "container_id", json_string(flat));
            free(flat);
            json_object_set_new(o, "status",
                                json_pack("{s:{s:s, s:{s:s}}, s:I}", "container_id", "value",
                                          n->child, "parent", "value", n->parent, "executor_pid",
                                          (json_int_t)n->pid));
            json_object_set_new(o, "statistics", stats);
            json_array_append_new(entries, o);
        }
    }
}

void agent_nested_recovered_limits(struct cm_agent *a)
{
    if (!a->nested)
        return;
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &a->nested->by_key);
    struct nested *n;
    while ((n = cm_strmap_iter_value(&it, NULL))) {
        if (n->exited || (n->cpus <= 0 && n->mem <= 0))
            continue;
        char text[128], why[256] = "";
        snprintf(text, sizeof text, "cpus:%.17g;mem:%.17g", n->cpus, n->mem);
        struct cm_resources r;
        cm_resources_init(&r);
        if (cm_resources_parse(&r, text, NULL, why, sizeof why) == 0)
            cm_containerizer_update(a->containerizer, n->cid, &r);
        else
            CM_WARN(MOD, "Nested container %s: checkpointed resources '%s': %s", n->key, text, why);
        cm_resources_cleanup(&r);
    }
}

void agent_nested_op_containers(struct cm_agent *a, struct cm_agent_op_arena *ar,
                                Mesos__V1__Agent__Response *resp, double now)
{
    Mesos__V1__Agent__Response__GetContainers *g = resp->get_containers;
    if (!a->nested || !g)
        return;
    size_t count = g->n_containers, live = 0;
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &a->nested->by_key);
    struct nested *n;
    while ((n = cm_strmap_iter_value(&it, NULL)))
        live += !n->exited && n->pid > 0;
    if (!live)
        return;
    Mesos__V1__Agent__Response__GetContainers__Container **v =
        cm_agent_op_alloc(ar, (count + live) * sizeof *v);
    memcpy(v, g->containers, count * sizeof *v);
    size_t k = count;
    for (size_t i = 0; i < count; i++) {
        const Mesos__V1__Agent__Response__GetContainers__Container *pe = g->containers[i];
        if (!pe->container_id || !pe->container_id->value)
            continue;
        cm_strmap_iter_init(&it, &a->nested->by_key);
        while ((n = cm_strmap_iter_value(&it, NULL))) {
            if (n->exited || n->pid <= 0 || strcmp(n->parent, pe->container_id->value) != 0 ||
                k == count + live)
                continue;
            Mesos__V1__Agent__Response__GetContainers__Container *x =
                cm_agent_op_alloc(ar, sizeof *x);
            mesos__v1__agent__response__get_containers__container__init(x);
            x->framework_id = pe->framework_id;
            x->executor_id = pe->executor_id;
            x->executor_name = pe->executor_name;
            Mesos__V1__ContainerID *cid = cm_agent_op_alloc(ar, sizeof *cid);
            mesos__v1__container_id__init(cid);
            cid->value = n->child;
            cid->parent = pe->container_id;
            x->container_id = cid;
            Mesos__V1__ContainerStatus *st = cm_agent_op_alloc(ar, sizeof *st);
            mesos__v1__container_status__init(st);
            st->container_id = cid;
            st->has_executor_pid = 1;
            st->executor_pid = (uint32_t)n->pid;
            x->container_status = st;
            json_t *stats = json_object();
            ProtobufCMessage *msg = NULL;
            char why[256];
            if (cm_containerizer_usage(a->containerizer, n->cid, now, stats) == 0 &&
                cm_pbjson_from_json(&mesos__v1__resource_statistics__descriptor, stats, &msg, why,
                                    sizeof why) == 0) {
                cm_agent_op_keep_msg(ar, msg);
                x->resource_statistics = (Mesos__V1__ResourceStatistics *)msg;
            }
            json_decref(stats);
            v[k++] = x;
        }
    }
    g->containers = v;
    g->n_containers = k;
}
