/* default_executor.c: task groups in nested containers (default_executor.h). */
#include "default_executor.h"
#include "framework_info.h"

#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "codec.h"
#include "command.h"
#include "errors.h"
#include "exec_internal.h"
#include "health.h"
#include "http_client.h"
#include "ids.h"
#include "log.h"
#include "pbjson.h"
#include "util.h"

/* WAIT_NESTED_CONTAINER and KILL_NESTED_CONTAINER are what Mesos's default executor still
 * sends, and LAUNCH_NESTED_CONTAINER is the fallback for agents without LAUNCH_CONTAINER; the
 * proto marks their fields deprecated. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define MOD "default-executor"
#define DEFAULT_GRACE 3.0
#define RETRY_DELAY 1.0
#define CALL_TIMEOUT 30.0
#define SHUTDOWN_ACK_WAIT 60.0 /* Mesos waits this long for the last acknowledgements */
#define MAX_REPLY (4u << 20)

enum req_kind { REQ_LAUNCH, REQ_LAUNCH_OLD, REQ_WAIT, REQ_KILL_TERM, REQ_KILL_KILL };

struct dtask;

/* One group of tasks launched together. */
struct group {
    struct group *next;
    size_t n, answered; /* launches answered so far */
};

struct dtask {
    struct dtask *next;
    struct cm_defexec *d;
    struct group *group;
    Mesos__V1__TaskInfo *task; /* owned copy */
    char container_id[40];
    char *launch_error;
    bool launch_answered, launched, waiting, killing, killing_group, completion_killed;
    bool unhealthy;
    double grace; /* of the kill in progress */
    struct event *escalate_timer, *completion_timer, *rewait_timer;
    struct cm_check_spec health_spec;
    struct cm_checker *health;
    struct cm_health_policy health_policy;
    /* TaskInfo.check: only reported; every update of the task carries the last result. */
    struct cm_check_spec check_spec;
    struct cm_checker *check;
    Mesos__V1__CheckStatusInfo *check_status;
};

/* An agent call in flight: what to do with its answer. */
struct req {
    struct req *next;
    struct cm_defexec *d;
    enum req_kind kind;
    char *task_id;
    char container_id[40];
};

struct cm_defexec {
    struct event_base *base;
    const struct cm_exec_env *env;
    const struct cm_clock *clock;
    char *const *envp;
    struct cm_defexec_agent agent;
    cm_defexec_exit_cb on_exit;
    void *exit_arg;

    struct cm_exec *lib;
    struct cm_http_client *http;          /* the agent operator calls, when agent is ours */
    Mesos__V1__ContainerID *container_id; /* the executor's own (from SUBSCRIBED) */
    bool killing_capable, subscribed;
    struct dtask *tasks;
    struct group *groups;
    struct req *reqs;
    struct http_reply *hreplies; /* HTTP calls in flight (freed if cancelled) */
    bool shutting_down, exiting, finishing;
    int exit_code;
    struct event *exit_timer, *finish_timer;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static void add_timer(struct event *ev, double secs)
{
    if (secs < 0)
        secs = 0;
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - floor(secs)) * 1e6)};
    evtimer_add(ev, &tv);
}

static double duration_secs(const Mesos__V1__DurationInfo *d)
{
    double s = (double)d->nanoseconds / 1e9;
    return s > 0 ? s : 0;
}

static const char *tid(const struct dtask *t)
{
    return t->task->task_id->value;
}

static struct dtask *task_find(struct cm_defexec *d, const char *id)
{
    for (struct dtask *t = d->tasks; t; t = t->next)
        if (strcmp(tid(t), id) == 0)
            return t;
    return NULL;
}

static size_t live_tasks(const struct cm_defexec *d)
{
    size_t n = 0;
    for (const struct dtask *t = d->tasks; t; t = t->next)
        n++;
    return n;
}

size_t cm_defexec_active_tasks(const struct cm_defexec *d)
{
    return live_tasks(d);
}

/* ---- status updates ----------------------------------------------------------------------- */

static void send_status(struct cm_defexec *d, const char *task_id, Mesos__V1__TaskState state,
                        const char *message, int reason, int healthy)
{
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    Mesos__V1__TaskID id = MESOS__V1__TASK_ID__INIT;
    id.value = (char *)task_id;
    st.task_id = &id;
    st.state = state;
    st.message = (char *)message;
    if (reason >= 0) {
        st.has_reason = 1;
        st.reason = (Mesos__V1__TaskStatus__Reason)reason;
    }
    if (healthy >= 0) {
        st.has_healthy = 1;
        st.healthy = healthy != 0;
    }
    for (const struct dtask *t = d->tasks; t; t = t->next)
        if (strcmp(t->task->task_id->value, task_id) == 0 && t->check_status)
            st.check_status = t->check_status;
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&mesos__v1__task_state__descriptor, (int)state);
    CM_INFO(MOD, "Sending %s for task '%s'%s%s", v ? v->name : "TASK_?", task_id,
            message ? ": " : "", message ? message : "");
    char why[256];
    if (cm_exec_update(d->lib, &st, NULL, why, sizeof why) != 0)
        CM_ERROR(MOD, "Cannot send the update of task '%s': %s", task_id, why);
}

/* ---- exiting ------------------------------------------------------------------------------ */

static void on_exit_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_defexec *d = arg;
    d->on_exit(d->exit_arg, d->exit_code);
}

static void request_exit(struct cm_defexec *d, int code)
{
    if (d->exiting)
        return;
    d->exiting = true;
    d->exit_code = code;
    CM_INFO(MOD, "Exiting with code %d", code);
    add_timer(d->exit_timer, 0);
}

/* No container is left: exit once every update is acknowledged (Mesos's _shutdown). */
static void finish(struct cm_defexec *d)
{
    if (cm_exec_unacknowledged_updates(d->lib) == 0) {
        request_exit(d, 0);
        return;
    }
    if (!d->finishing) {
        d->finishing = true;
        CM_INFO(MOD, "Waiting up to %.0f s for the last acknowledgements", SHUTDOWN_ACK_WAIT);
        add_timer(d->finish_timer, SHUTDOWN_ACK_WAIT);
    }
}

static void on_finish_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    request_exit(arg, 0);
}

/* ---- agent calls -------------------------------------------------------------------------- */

struct http_reply {
    struct http_reply *next, **prev;
    cm_defexec_reply_cb reply;
    void *arg;
};

static void on_http_done(void *arg, int err, const char *errmsg,
                         const struct cm_http_response *resp)
{
    struct http_reply *h = arg;
    (void)errmsg;
    *h->prev = h->next;
    if (h->next)
        h->next->prev = h->prev;
    if (err || !resp)
        h->reply(h->arg, err ? err : CM_EHTTP, 0, NULL, 0);
    else
        h->reply(h->arg, 0, resp->status, (const uint8_t *)resp->body, resp->body_len);
    free(h);
}

/* The real agent: POST /api/v1 with the executor's token. */
static int http_agent_call(void *ctx, const Mesos__V1__Agent__Call *call, double timeout,
                           cm_defexec_reply_cb reply, void *reply_arg)
{
    struct cm_defexec *d = ctx;
    uint8_t *body;
    size_t len;
    int rc = cm_pb_encode(&call->base, CM_MEDIA_PROTOBUF, &body, &len);
    if (rc)
        return rc;
    if (!d->http && !(d->http = cm_http_client_new(d->base))) {
        free(body);
        return -ENOMEM;
    }
    char url[300];
    snprintf(url, sizeof url, "%s://%s/api/v1", d->env->https ? "https" : "http",
             d->env->agent_endpoint);
    char *authz = d->env->authentication_token
                      ? cm_xasprintf("Authorization: Bearer %s", d->env->authentication_token)
                      : NULL;
    const char *headers[] = {"Content-Type: application/x-protobuf",
                             "Accept: application/x-protobuf", authz, NULL};
    struct http_reply *h = calloc(1, sizeof *h);
    if (!h)
        abort();
    h->reply = reply;
    h->arg = reply_arg;
    struct cm_http_request_opts o = {.method = "POST",
                                     .url = url,
                                     .headers = headers,
                                     .body = body,
                                     .body_len = len,
                                     .timeout_secs = timeout,
                                     .max_body = MAX_REPLY,
                                     .on_done = on_http_done,
                                     .arg = h};
    rc = cm_http_client_start(d->http, &o, NULL);
    free(body);
    free(authz);
    if (rc) {
        free(h);
        return rc;
    }
    h->next = d->hreplies;
    if (h->next)
        h->next->prev = &h->next;
    h->prev = &d->hreplies;
    d->hreplies = h;
    return 0;
}

static void on_reply(void *arg, int err, long status, const uint8_t *body, size_t len);

static int agent_call(struct cm_defexec *d, struct dtask *t, enum req_kind kind,
                      const Mesos__V1__Agent__Call *call, double timeout)
{
    struct req *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->d = d;
    r->kind = kind;
    r->task_id = cm_xstrdup(tid(t));
    snprintf(r->container_id, sizeof r->container_id, "%s", t->container_id);
    int rc = d->agent.call(d->agent.ctx, call, timeout, on_reply, r);
    if (rc) {
        free(r->task_id);
        free(r);
        return rc;
    }
    r->next = d->reqs;
    d->reqs = r;
    return 0;
}

static void container_id_init(struct cm_defexec *d, const struct dtask *t,
                              Mesos__V1__ContainerID *cid)
{
    mesos__v1__container_id__init(cid);
    cid->value = (char *)t->container_id;
    cid->parent = d->container_id;
}

static void send_wait(struct cm_defexec *d, struct dtask *t);
static void kill_task(struct cm_defexec *d, struct dtask *t, double grace);

static int send_kill(struct cm_defexec *d, struct dtask *t, int sig)
{
    Mesos__V1__Agent__Call call = MESOS__V1__AGENT__CALL__INIT;
    Mesos__V1__Agent__Call__KillNestedContainer k =
        MESOS__V1__AGENT__CALL__KILL_NESTED_CONTAINER__INIT;
    Mesos__V1__ContainerID cid;
    container_id_init(d, t, &cid);
    k.container_id = &cid;
    k.has_signal = 1;
    k.signal = sig;
    call.has_type = 1;
    call.type = MESOS__V1__AGENT__CALL__TYPE__KILL_NESTED_CONTAINER;
    call.kill_nested_container = &k;
    return agent_call(d, t, sig == SIGKILL ? REQ_KILL_KILL : REQ_KILL_TERM, &call, CALL_TIMEOUT);
}

/* Adds MESOS_ALLOCATION_ROLE (the role of the task's first resource, as Mesos does) to a copy
 * of the task's command. */
static Mesos__V1__CommandInfo *task_command(const Mesos__V1__TaskInfo *ti)
{
    Mesos__V1__CommandInfo empty = MESOS__V1__COMMAND_INFO__INIT;
    Mesos__V1__CommandInfo *c =
        (Mesos__V1__CommandInfo *)cm_pb_dup(ti->command ? &ti->command->base : &empty.base);
    const char *role = NULL;
    if (ti->n_resources && ti->resources[0]->allocation_info &&
        ti->resources[0]->allocation_info->role)
        role = ti->resources[0]->allocation_info->role;
    if (!role)
        return c;
    if (!c->environment) {
        c->environment = malloc(sizeof *c->environment);
        if (!c->environment)
            abort();
        mesos__v1__environment__init(c->environment);
    }
    Mesos__V1__Environment *e = c->environment;
    Mesos__V1__Environment__Variable **vars =
        realloc(e->variables, (e->n_variables + 1) * sizeof *vars);
    Mesos__V1__Environment__Variable *v = malloc(sizeof *v);
    if (!vars || !v)
        abort();
    mesos__v1__environment__variable__init(v);
    v->name = cm_xstrdup("MESOS_ALLOCATION_ROLE");
    v->value = cm_xstrdup(role);
    vars[e->n_variables++] = v;
    e->variables = vars;
    return c;
}

static int send_launch(struct cm_defexec *d, struct dtask *t, bool old)
{
    Mesos__V1__Agent__Call call = MESOS__V1__AGENT__CALL__INIT;
    Mesos__V1__Agent__Call__LaunchContainer l = MESOS__V1__AGENT__CALL__LAUNCH_CONTAINER__INIT;
    Mesos__V1__Agent__Call__LaunchNestedContainer ln =
        MESOS__V1__AGENT__CALL__LAUNCH_NESTED_CONTAINER__INIT;
    Mesos__V1__ContainerID cid;
    container_id_init(d, t, &cid);
    Mesos__V1__CommandInfo *cmd = task_command(t->task);
    size_t nl = t->task->n_limits;
    Mesos__V1__Agent__Call__LaunchContainer__LimitsEntry *entries =
        calloc(nl ? nl : 1, sizeof *entries);
    Mesos__V1__Agent__Call__LaunchContainer__LimitsEntry **limits =
        calloc(nl ? nl : 1, sizeof *limits);
    if (!entries || !limits)
        abort();
    for (size_t i = 0; i < nl; i++) {
        mesos__v1__agent__call__launch_container__limits_entry__init(&entries[i]);
        entries[i].key = t->task->limits[i]->key;
        entries[i].value = t->task->limits[i]->value;
        limits[i] = &entries[i];
    }
    call.has_type = 1;
    if (old) {
        ln.container_id = &cid;
        ln.command = cmd;
        ln.container = t->task->container;
        call.type = MESOS__V1__AGENT__CALL__TYPE__LAUNCH_NESTED_CONTAINER;
        call.launch_nested_container = &ln;
    } else {
        l.container_id = &cid;
        l.command = cmd;
        l.container = t->task->container;
        l.n_resources = t->task->n_resources;
        l.resources = t->task->resources;
        l.n_limits = t->task->n_limits;
        l.limits = limits;
        call.type = MESOS__V1__AGENT__CALL__TYPE__LAUNCH_CONTAINER;
        call.launch_container = &l;
    }
    int rc = agent_call(d, t, old ? REQ_LAUNCH_OLD : REQ_LAUNCH, &call, CALL_TIMEOUT);
    mesos__v1__command_info__free_unpacked(cmd, NULL);
    free(entries);
    free(limits);
    return rc;
}

static void send_wait(struct cm_defexec *d, struct dtask *t)
{
    if (t->waiting || !d->subscribed)
        return;
    Mesos__V1__Agent__Call call = MESOS__V1__AGENT__CALL__INIT;
    Mesos__V1__Agent__Call__WaitNestedContainer w =
        MESOS__V1__AGENT__CALL__WAIT_NESTED_CONTAINER__INIT;
    Mesos__V1__ContainerID cid;
    container_id_init(d, t, &cid);
    w.container_id = &cid;
    call.has_type = 1;
    call.type = MESOS__V1__AGENT__CALL__TYPE__WAIT_NESTED_CONTAINER;
    call.wait_nested_container = &w;
    if (agent_call(d, t, REQ_WAIT, &call, 0) == 0)
        t->waiting = true;
    else
        add_timer(t->rewait_timer, RETRY_DELAY);
}

static void on_rewait(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dtask *t = arg;
    send_wait(t->d, t);
}

/* ---- the tasks ---------------------------------------------------------------------------- */

static void stop_checks(struct dtask *t)
{
    cm_checker_free(t->health);
    t->health = NULL;
    cm_checker_free(t->check);
    t->check = NULL;
    if (t->completion_timer)
        evtimer_del(t->completion_timer);
}

static void task_free(struct dtask *t)
{
    stop_checks(t);
    if (t->escalate_timer)
        event_free(t->escalate_timer);
    if (t->completion_timer)
        event_free(t->completion_timer);
    if (t->rewait_timer)
        event_free(t->rewait_timer);
    free(t->launch_error);
    if (t->check_status)
        mesos__v1__check_status_info__free_unpacked(t->check_status, NULL);
    mesos__v1__task_info__free_unpacked(t->task, NULL);
    free(t);
}

static void task_remove(struct cm_defexec *d, struct dtask *t)
{
    for (struct dtask **pp = &d->tasks; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    task_free(t);
}

static void on_escalate(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dtask *t = arg;
    CM_INFO(MOD, "Task '%s' did not end within %.3f s; sending SIGKILL", tid(t), t->grace);
    if (send_kill(t->d, t, SIGKILL) != 0)
        add_timer(t->escalate_timer, RETRY_DELAY);
}

static void kill_task(struct cm_defexec *d, struct dtask *t, double grace)
{
    if (!t->launched || t->killing)
        return;
    t->killing = true;
    t->grace = grace;
    stop_checks(t);
    CM_INFO(MOD, "Killing task '%s' (container %s) with SIGTERM, SIGKILL in %.3f s", tid(t),
            t->container_id, grace);
    add_timer(t->escalate_timer, grace);
    if (!t->completion_killed && d->killing_capable)
        send_status(d, tid(t), MESOS__V1__TASK_STATE__TASK_KILLING, NULL, -1, -1);
    if (send_kill(d, t, SIGTERM) != 0)
        CM_WARN(MOD, "Cannot send SIGTERM to task '%s'; SIGKILL follows", tid(t));
}

static double kill_grace(const struct dtask *t, const Mesos__V1__KillPolicy *policy)
{
    if (policy && policy->grace_period)
        return duration_secs(policy->grace_period);
    if (t->task->kill_policy && t->task->kill_policy->grace_period)
        return duration_secs(t->task->kill_policy->grace_period);
    return DEFAULT_GRACE;
}

static void on_completion_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dtask *t = arg;
    CM_WARN(MOD, "Task '%s' reached its maximum completion time; killing it", tid(t));
    t->completion_killed = true;
    kill_task(t->d, t, 0);
}

static void on_health(void *arg, const struct cm_check_result *r)
{
    struct dtask *t = arg;
    struct cm_defexec *d = t->d;
    bool healthy = false;
    if (t->killing)
        return;
    int act = cm_health_policy_result(&t->health_policy, r->ok, cm_clock_now(d->clock), &healthy);
    if (act & CM_HEALTH_REPORT) {
        char msg[320];
        snprintf(msg, sizeof msg, "Health check failed: %s", r->message);
        send_status(d, tid(t), MESOS__V1__TASK_STATE__TASK_RUNNING, healthy ? NULL : msg,
                    MESOS__V1__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
                    healthy);
    }
    if (act & CM_HEALTH_KILL) {
        t->unhealthy = true;
        kill_task(d, t, kill_grace(t, NULL)); /* frees the checker: nothing after this */
    }
}

/* A general check only reports: a TASK_RUNNING update whenever its result changes. */
static void on_check(void *arg, const struct cm_check_result *r)
{
    struct dtask *t = arg;
    if (t->killing)
        return;
    Mesos__V1__CheckStatusInfo *cs = cm_check_status_new(t->check_spec.type, r);
    if (t->check_status && cm_check_status_same(cs, t->check_status)) {
        mesos__v1__check_status_info__free_unpacked(cs, NULL);
        return;
    }
    if (t->check_status)
        mesos__v1__check_status_info__free_unpacked(t->check_status, NULL);
    t->check_status = cs;
    send_status(t->d, tid(t), MESOS__V1__TASK_STATE__TASK_RUNNING, NULL,
                MESOS__V1__TASK_STATUS__REASON__REASON_TASK_CHECK_STATUS_UPDATED, -1);
}

/* Symlink tasks/<task_id> -> <sandbox>/containers/<container_id> (Mesos's layout). */
static void link_sandbox(struct cm_defexec *d, const struct dtask *t)
{
    const char *sb = d->env->sandbox ? d->env->sandbox : ".";
    char dir[4096], target[4096], link[4096];
    snprintf(dir, sizeof dir, "%s/tasks", sb);
    snprintf(target, sizeof target, "%s/containers/%s", sb, t->container_id);
    snprintf(link, sizeof link, "%s/tasks/%s", sb, tid(t));
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        CM_WARN(MOD, "Cannot create %s: %s", dir, strerror(errno));
    else if (symlink(target, link) != 0 && errno != EEXIST)
        CM_WARN(MOD, "Cannot link %s: %s", link, strerror(errno));
}

/* Every launch of the group answered: report RUNNING for the launched tasks, start their
 * watchers, and wait on every container of the group. */
static void group_launched(struct cm_defexec *d, struct group *g)
{
    for (struct dtask *t = d->tasks; t; t = t->next) {
        if (t->group != g)
            continue;
        if (t->launched && !d->shutting_down) {
            link_sandbox(d, t);
            send_status(d, tid(t), MESOS__V1__TASK_STATE__TASK_RUNNING, NULL, -1, -1);
            char **envp = NULL;
            char why[256];
            if ((t->task->health_check || t->task->check) &&
                cm_command_envp(d->envp, t->task->command ? t->task->command->environment : NULL,
                                &envp, why, sizeof why) != 0)
                envp = NULL;
            if (t->task->health_check) {
                cm_health_policy_init(&t->health_policy, &t->health_spec, cm_clock_now(d->clock));
                t->health = cm_checker_new(d->base, &t->health_spec, envp ? envp : d->envp,
                                           d->env->sandbox, on_health, t);
            }
            if (t->task->check)
                t->check = cm_checker_new(d->base, &t->check_spec, envp ? envp : d->envp,
                                          d->env->sandbox, on_check, t);
            cm_command_strv_free(envp);
            if (t->task->max_completion_time && t->task->max_completion_time->nanoseconds > 0)
                add_timer(t->completion_timer, duration_secs(t->task->max_completion_time));
        }
    }
    for (struct dtask *t = d->tasks; t; t = t->next)
        if (t->group == g)
            send_wait(d, t);
}

/* Kills the other tasks of t's group (Mesos: when one task fails or is killed). */
static void kill_group(struct cm_defexec *d, struct dtask *t)
{
    CM_INFO(MOD, "Task '%s' ended; killing the rest of its task group", tid(t));
    t->killing_group = true;
    for (struct dtask *o = d->tasks; o; o = o->next) {
        if (o == t || o->group != t->group)
            continue;
        o->killing_group = true;
        if (!o->killing)
            kill_task(d, o, kill_grace(o, NULL));
    }
}

/* The wait answered: the task has ended. */
static void task_ended(struct cm_defexec *d, struct dtask *t, long status, const uint8_t *body,
                       size_t len)
{
    Mesos__V1__TaskState state = MESOS__V1__TASK_STATE__TASK_FAILED;
    int reason = -1;
    char msg[512] = "";
    stop_checks(t);
    if (t->escalate_timer)
        evtimer_del(t->escalate_timer);
    if (status == 404) {
        if (t->killing)
            state = MESOS__V1__TASK_STATE__TASK_KILLED;
        else
            snprintf(msg, sizeof msg, "%s",
                     t->launch_error ? t->launch_error
                                     : "Unable to retrieve command's termination information");
    } else {
        ProtobufCMessage *m = NULL;
        char why[256];
        const Mesos__V1__Agent__Response__WaitNestedContainer *w = NULL;
        if (cm_pb_decode(&mesos__v1__agent__response__descriptor, CM_MEDIA_PROTOBUF, body, len, &m,
                         why, sizeof why) == 0)
            w = ((Mesos__V1__Agent__Response *)m)->wait_nested_container;
        if (!w || !w->has_exit_status) {
            snprintf(msg, sizeof msg, "%s",
                     t->launch_error ? t->launch_error : "Command terminated with unknown status");
        } else {
            int ws = w->exit_status;
            if (t->completion_killed) {
                reason = MESOS__V1__TASK_STATUS__REASON__REASON_MAX_COMPLETION_TIME_REACHED;
            } else if (t->killing) {
                state = MESOS__V1__TASK_STATE__TASK_KILLED;
            } else if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
                state = MESOS__V1__TASK_STATE__TASK_FINISHED;
            }
            cm_command_describe_exit(ws, msg, sizeof msg);
        }
        if (w && w->has_state && cm_task_state_terminal(w->state))
            state = w->state;
        if (w && w->has_reason)
            reason = w->reason;
        if (w && w->message) {
            size_t n = strlen(msg);
            snprintf(msg + n, sizeof msg - n, "%s%s", n ? ": " : "", w->message);
        }
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
    }
    send_status(d, tid(t), state, msg[0] ? msg : NULL, reason, t->unhealthy ? 0 : -1);
    if (!d->shutting_down && !t->killing_group &&
        (state == MESOS__V1__TASK_STATE__TASK_FAILED ||
         state == MESOS__V1__TASK_STATE__TASK_KILLED))
        kill_group(d, t);
    task_remove(d, t);
    if (!d->tasks)
        finish(d);
}

static void handle_reply(struct cm_defexec *d, struct req *r, int err, long status,
                         const uint8_t *body, size_t len)
{
    struct dtask *t = task_find(d, r->task_id);
    if (!t || strcmp(t->container_id, r->container_id) != 0)
        return; /* the task ended meanwhile */
    switch (r->kind) {
    case REQ_LAUNCH:
    case REQ_LAUNCH_OLD:
        if (!err && r->kind == REQ_LAUNCH && (status == 501 || status == 400 || status == 404) &&
            send_launch(d, t, true) == 0) {
            CM_INFO(MOD, "Agent answered %ld to LAUNCH_CONTAINER; using LAUNCH_NESTED_CONTAINER",
                    status);
            return;
        }
        t->launch_answered = true;
        if (!err && status == 200) {
            t->launched = true;
        } else {
            char buf[300];
            if (err)
                snprintf(buf, sizeof buf, "Cannot reach the agent to launch the container: %s",
                         cm_strerror(err));
            else
                snprintf(buf, sizeof buf, "Agent refused to launch the container (%ld): %.*s",
                         status, (int)(len < 200 ? len : 200), body ? (const char *)body : "");
            t->launch_error = cm_xstrdup(buf);
            CM_ERROR(MOD, "Task '%s': %s", tid(t), buf);
        }
        if (++t->group->answered == t->group->n)
            group_launched(d, t->group);
        return;
    case REQ_WAIT:
        t->waiting = false;
        if (err || status == 503) {
            CM_WARN(MOD, "Waiting on container %s of task '%s' broke (%s); retrying in 1 s",
                    t->container_id, tid(t), err ? cm_strerror(err) : "503");
            add_timer(t->rewait_timer, RETRY_DELAY);
            return;
        }
        if (status != 200 && status != 404) {
            CM_ERROR(MOD, "Agent answered %ld waiting on container %s: %.*s; shutting down", status,
                     t->container_id, (int)(len < 200 ? len : 200), body ? (const char *)body : "");
            cm_defexec_shutdown(d);
            return;
        }
        task_ended(d, t, status, body, len);
        return;
    case REQ_KILL_TERM:
        if (err || status != 200)
            CM_WARN(MOD, "SIGTERM to container %s failed (%ld); SIGKILL follows", t->container_id,
                    status);
        return;
    case REQ_KILL_KILL:
        if (err || status != 200) {
            CM_WARN(MOD, "SIGKILL to container %s failed (%ld); retrying in 1 s", t->container_id,
                    status);
            add_timer(t->escalate_timer, RETRY_DELAY);
        }
        return;
    }
}

static void on_reply(void *arg, int err, long status, const uint8_t *body, size_t len)
{
    struct req *r = arg;
    struct cm_defexec *d = r->d;
    for (struct req **pp = &d->reqs; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    if (!d->exiting)
        handle_reply(d, r, err, status, body, len);
    free(r->task_id);
    free(r);
}

/* ---- events ------------------------------------------------------------------------------- */

static void launch_group(struct cm_defexec *d, const Mesos__V1__TaskGroupInfo *g)
{
    if (d->shutting_down) {
        CM_WARN(MOD, "Ignoring LAUNCH_GROUP: the executor is shutting down");
        return;
    }
    if (!d->container_id) {
        for (size_t i = 0; i < g->n_tasks; i++)
            send_status(d, g->tasks[i]->task_id->value, MESOS__V1__TASK_STATE__TASK_FAILED,
                        "The agent did not give the executor its container id (SUBSCRIBED."
                        "container_id): nested containers cannot be launched",
                        -1, -1);
        return;
    }
    struct group *grp = calloc(1, sizeof *grp);
    if (!grp)
        abort();
    grp->next = d->groups;
    d->groups = grp;
    /* Validate first: a task that cannot run fails, and with it its group (Mesos's master
     * would refuse such a group; one that gets here fails cleanly). */
    char why[300] = "";
    for (size_t i = 0; i < g->n_tasks && !why[0]; i++) {
        const Mesos__V1__TaskInfo *ti = g->tasks[i];
        struct cm_check_spec spec;
        char inner[256];
        const char *idwhy;
        if (cm_id_validate(ti->task_id->value, &idwhy) != 0)
            snprintf(why, sizeof why, "Invalid task_id '%s': %s", ti->task_id->value, idwhy);
        else if (task_find(d, ti->task_id->value))
            snprintf(why, sizeof why, "Task '%s' is already running", ti->task_id->value);
        else if (ti->health_check &&
                 cm_health_spec_from_health_check(ti->health_check, &spec, inner, sizeof inner))
            snprintf(why, sizeof why, "Invalid health check of task '%s': %s", ti->task_id->value,
                     inner);
        else if (ti->check && cm_health_spec_from_check(ti->check, &spec, inner, sizeof inner))
            snprintf(why, sizeof why, "Invalid check of task '%s': %s", ti->task_id->value, inner);
    }
    if (why[0]) {
        for (size_t i = 0; i < g->n_tasks; i++)
            send_status(d, g->tasks[i]->task_id->value, MESOS__V1__TASK_STATE__TASK_FAILED, why, -1,
                        -1);
        if (!d->tasks)
            finish(d);
        return;
    }
    for (size_t i = 0; i < g->n_tasks; i++) {
        struct dtask *t = calloc(1, sizeof *t);
        if (!t)
            abort();
        t->d = d;
        t->group = grp;
        t->task = (Mesos__V1__TaskInfo *)cm_pb_dup(&g->tasks[i]->base);
        cm_uuid_string(t->container_id);
        if (t->task->health_check)
            cm_health_spec_from_health_check(t->task->health_check, &t->health_spec, why,
                                             sizeof why);
        /* Every update carries the check status once a check is defined; none yet. */
        if (t->task->check) {
            cm_health_spec_from_check(t->task->check, &t->check_spec, why, sizeof why);
            t->check_status = cm_check_status_new(t->check_spec.type, NULL);
        }
        t->escalate_timer = evtimer_new(d->base, on_escalate, t);
        t->completion_timer = evtimer_new(d->base, on_completion_timer, t);
        t->rewait_timer = evtimer_new(d->base, on_rewait, t);
        if (!t->escalate_timer || !t->completion_timer || !t->rewait_timer)
            abort();
        struct dtask **tail = &d->tasks;
        while (*tail)
            tail = &(*tail)->next;
        *tail = t;
        grp->n++;
    }
    for (struct dtask *t = d->tasks; t; t = t->next) {
        if (t->group != grp)
            continue;
        send_status(d, tid(t), MESOS__V1__TASK_STATE__TASK_STARTING, NULL, -1, -1);
        int rc = send_launch(d, t, false);
        if (rc) {
            /* No answer will come: count it as answered with the error. */
            char buf[200];
            snprintf(buf, sizeof buf, "Cannot send LAUNCH_CONTAINER: %s", cm_strerror(rc));
            t->launch_error = cm_xstrdup(buf);
            t->launch_answered = true;
            if (++grp->answered == grp->n)
                group_launched(d, grp);
        }
    }
}

void cm_defexec_shutdown(struct cm_defexec *d)
{
    if (d->shutting_down)
        return;
    d->shutting_down = true;
    CM_INFO(MOD, "Shutting down");
    if (!d->tasks || !d->subscribed) {
        finish(d);
        return;
    }
    for (struct dtask *t = d->tasks; t; t = t->next)
        if (!t->killing)
            kill_task(d, t, kill_grace(t, NULL));
    /* Tasks whose launch never succeeded end through their wait (404). */
}

static void on_subscribed(struct cm_exec *lib, void *arg,
                          const Mesos__V1__Executor__Event__Subscribed *s)
{
    (void)lib;
    struct cm_defexec *d = arg;
    d->subscribed = true;
    d->killing_capable = cm_framework_has_capability(
        s ? s->framework_info : NULL,
        MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE);
    if (s && s->container_id && s->container_id->value) {
        if (d->container_id)
            mesos__v1__container_id__free_unpacked(d->container_id, NULL);
        d->container_id = (Mesos__V1__ContainerID *)cm_pb_dup(&s->container_id->base);
    }
    /* After an agent restart: wait on the containers again. */
    for (struct dtask *t = d->tasks; t; t = t->next)
        if (t->launch_answered)
            send_wait(d, t);
}

static void on_launch(struct cm_exec *lib, void *arg, const Mesos__V1__TaskInfo *task)
{
    (void)lib;
    struct cm_defexec *d = arg;
    CM_ERROR(MOD, "LAUNCH of task '%s' is not for the default executor; shutting down",
             task->task_id->value);
    cm_defexec_shutdown(d);
}

static void on_launch_group(struct cm_exec *lib, void *arg, const Mesos__V1__TaskGroupInfo *g)
{
    (void)lib;
    launch_group(arg, g);
}

static void on_kill(struct cm_exec *lib, void *arg, const Mesos__V1__TaskID *task_id,
                    const Mesos__V1__KillPolicy *policy)
{
    (void)lib;
    struct cm_defexec *d = arg;
    if (d->shutting_down)
        return;
    struct dtask *t = task_find(d, task_id->value);
    if (!t) {
        CM_WARN(MOD, "Ignoring KILL of task '%s': it is no longer active", task_id->value);
        return;
    }
    kill_task(d, t, kill_grace(t, policy));
}

static void on_acknowledged(struct cm_exec *lib, void *arg, const Mesos__V1__TaskID *task_id,
                            const uint8_t *uuid, size_t len)
{
    (void)task_id;
    (void)uuid;
    (void)len;
    struct cm_defexec *d = arg;
    if (!d->tasks && cm_exec_unacknowledged_updates(lib) == 0 && d->groups)
        request_exit(d, 0);
}

static void on_lib_shutdown(struct cm_exec *lib, void *arg, enum cm_exec_shutdown_reason reason)
{
    (void)lib;
    struct cm_defexec *d = arg;
    if (reason == CM_EXEC_SHUTDOWN_REQUESTED) {
        cm_defexec_shutdown(d);
        return;
    }
    CM_ERROR(MOD, "Agent %s is gone; exiting", d->env->agent_endpoint);
    request_exit(d, 1);
}

static void on_error(struct cm_exec *lib, void *arg, const char *message)
{
    (void)lib;
    (void)message;
    request_exit(arg, 1);
}

static void on_disconnected(struct cm_exec *lib, void *arg, const char *reason, double retry_in)
{
    (void)lib;
    struct cm_defexec *d = arg;
    d->subscribed = false;
    CM_INFO(MOD, "Re-subscribing in %.2f s (%s)", retry_in, reason);
}

static void lib_log(void *arg, enum cm_exec_log_level level, const char *message)
{
    (void)arg;
    cm_log((enum cm_log_level)level, MOD, "%s", message);
}

void cm_defexec_handle_event(struct cm_defexec *d, const Mesos__V1__Executor__Event *event)
{
    cm_exec_handle_event(d->lib, event);
}

int cm_defexec_start(struct cm_defexec *d)
{
    return cm_exec_start(d->lib);
}

/* ---- life cycle --------------------------------------------------------------------------- */

struct cm_defexec *cm_defexec_new(const struct cm_defexec_opts *o)
{
    if (!o->base || !o->env || !o->clock || !o->on_exit)
        return NULL;
    struct cm_defexec *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    d->base = o->base;
    d->env = o->env;
    d->clock = o->clock;
    d->envp = o->envp;
    d->on_exit = o->on_exit;
    d->exit_arg = o->exit_arg;
    if (o->agent)
        d->agent = *o->agent;
    else {
        d->agent.call = http_agent_call;
        d->agent.ctx = d;
    }
    struct cm_exec_config lc = {.env = o->env,
                                .base = o->base,
                                .callbacks = {.subscribed = on_subscribed,
                                              .launch = on_launch,
                                              .launch_group = on_launch_group,
                                              .kill = on_kill,
                                              .acknowledged = on_acknowledged,
                                              .shutdown = on_lib_shutdown,
                                              .error = on_error,
                                              .disconnected = on_disconnected},
                                .callback_arg = d,
                                .log = lib_log};
    char why[256];
    d->lib = cm_exec_new(&lc, why, sizeof why);
    if (!d->lib) {
        CM_ERROR(MOD, "Cannot create the agent link: %s", why);
        free(d);
        return NULL;
    }
    cm_exec_set_clock(d->lib, o->clock);
    if (o->send)
        cm_exec_set_send_hook(d->lib, o->send, o->send_arg);
    d->exit_timer = evtimer_new(d->base, on_exit_timer, d);
    d->finish_timer = evtimer_new(d->base, on_finish_timer, d);
    if (!d->exit_timer || !d->finish_timer)
        abort();
    return d;
}

void cm_defexec_free(struct cm_defexec *d)
{
    if (!d)
        return;
    cm_exec_free(d->lib);
    cm_http_client_free(d->http); /* cancels the agent calls: no reply runs */
    while (d->hreplies) {
        struct http_reply *next = d->hreplies->next;
        free(d->hreplies);
        d->hreplies = next;
    }
    while (d->reqs) {
        struct req *next = d->reqs->next;
        free(d->reqs->task_id);
        free(d->reqs);
        d->reqs = next;
    }
    while (d->tasks) {
        struct dtask *next = d->tasks->next;
        task_free(d->tasks);
        d->tasks = next;
    }
    while (d->groups) {
        struct group *next = d->groups->next;
        free(d->groups);
        d->groups = next;
    }
    if (d->container_id)
        mesos__v1__container_id__free_unpacked(d->container_id, NULL);
    event_free(d->exit_timer);
    event_free(d->finish_timer);
    free(d);
}
