/* executor.c: the command executor's state machine and its link to the agent (executor.h). */
#include "executor.h"

#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "codec.h"
#include "command.h"
#include "errors.h"
#include "flags.h"
#include "health.h"
#include "http_client.h"
#include "ids.h"
#include "log.h"
#include "stream_client.h"
#include "tls.h"
#include "util.h"

#define MOD "executor"
#define MAX_EVENT_BYTES (16u << 20)  /* a LAUNCH carries one TaskInfo; 16 MiB is plenty */
#define FIRST_SUBSCRIBE_TIMEOUT 10.0 /* how long a fresh executor waits for its agent */
#define SHUTDOWN_MARGIN 1.0          /* kept from the shutdown grace period for reporting */
#define RESEND_DELAY 1.0             /* after a failed UPDATE POST */
#define POST_TIMEOUT 10.0

/* One status update the agent has not acknowledged yet. A command executor has one task and so
 * at most a handful of these; a list in creation order is the right structure. */
struct pending {
    struct pending *next;
    Mesos__V1__TaskStatus *status;
    bool sent; /* POSTed (202) or carried by a SUBSCRIBE */
};

struct cm_executor {
    struct event_base *base;
    const struct cm_executor_config *cfg;
    const struct cm_clock *clock;
    char *const *envp;
    cm_executor_send_cb send;
    void *send_arg;
    cm_executor_exit_cb on_exit;
    void *exit_arg;
    double exit_delay;

    /* Link to the agent: the SUBSCRIBE stream, and a client of our own for the POSTs. */
    struct cm_stream_client *link;
    struct cm_http_client *http;
    bool subscribed; /* SUBSCRIBED seen on the current stream */
    bool ever_subscribed;
    bool killing_capable; /* framework has TASK_KILLING_STATE */
    /* Updates are POSTed one at a time, in order, so the agent sees them in sequence. */
    bool post_busy;
    uint8_t post_uuid[16];
    struct event *resend_timer;

    /* The task. */
    Mesos__V1__TaskInfo *task; /* owned copy */
    bool task_acked;           /* some update of it was acknowledged */
    struct cm_command *command;
    bool task_exited;
    bool task_terminal; /* its terminal update exists */
    uint8_t terminal_uuid[16];
    bool killing_sent;
    struct pending *pending;
    /* Health check (TaskInfo.health_check): kills the task after enough failures. */
    struct cm_check_spec health_spec;
    struct cm_checker *health;
    struct cm_health_policy health_policy;
    bool health_killed; /* the kill came from the health check */
    char health_why[256];
    /* General check (TaskInfo.check): results only reported, never fatal. */
    struct cm_check_spec check_spec;
    struct cm_checker *check;
    Mesos__V1__CheckStatusInfo *check_status; /* the last one; carried by every update */
    /* TaskInfo.max_completion_time. */
    struct event *completion_timer;
    bool completion_killed;

    bool shutting_down;
    struct event *shutdown_timer;
    bool exiting;
    int exit_code;
    struct event *exit_timer;
};

/* ---- configuration --------------------------------------------------------------------- */

static const char *env_get(char *const *envp, const char *name)
{
    size_t len = strlen(name);
    for (char *const *p = envp; p && *p; p++)
        if (strncmp(*p, name, len) == 0 && (*p)[len] == '=')
            return *p + len + 1;
    return NULL;
}

static int env_duration(char *const *envp, const char *name, double dflt, double *out, char *why,
                        size_t whylen)
{
    const char *v = env_get(envp, name);
    *out = dflt;
    if (!v || !v[0])
        return 0;
    if (cm_duration_parse(v, out) != 0 || !isfinite(*out) || *out < 0)
        return cm_fail(CM_EINVAL, why, whylen, "%s: invalid duration '%s'", name, v);
    return 0;
}

int cm_executor_config_from_env(struct cm_executor_config *cfg, char *const *envp, char *why,
                                size_t whylen)
{
    static const char *const required[] = {"MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID",
                                           "MESOS_SLAVE_ID", "MESOS_AGENT_ENDPOINT"};
    const char *values[4];
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < 4; i++) {
        const char *idwhy;
        values[i] = env_get(envp, required[i]);
        if (!values[i] || !values[i][0])
            return cm_fail(CM_EINVAL, why, whylen, "%s is not set", required[i]);
        if (i < 3 && cm_id_validate(values[i], &idwhy) != 0)
            return cm_fail(CM_EINVAL, why, whylen, "%s '%s' is invalid: %s", required[i], values[i],
                           idwhy);
    }
    /* The endpoint becomes the authority of a URL: "host:port", nothing else. */
    const char *ep = values[3];
    if (!strchr(ep, ':') || strpbrk(ep, "/?#@ \t\r\n") || strlen(ep) > 255)
        return cm_fail(CM_EINVAL, why, whylen, "MESOS_AGENT_ENDPOINT '%s' is not 'ip:port'", ep);

    double grace, recovery, backoff;
    int rc = env_duration(envp, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", 5.0, &grace, why, whylen);
    if (!rc)
        rc = env_duration(envp, "MESOS_RECOVERY_TIMEOUT", 15 * 60.0, &recovery, why, whylen);
    if (!rc)
        rc = env_duration(envp, "MESOS_SUBSCRIPTION_BACKOFF_MAX", 2.0, &backoff, why, whylen);
    if (rc)
        return rc;
    const char *ckpt = env_get(envp, "MESOS_CHECKPOINT");
    const char *sandbox = env_get(envp, "MESOS_SANDBOX");
    if (!sandbox || !sandbox[0])
        sandbox = env_get(envp, "MESOS_DIRECTORY");

    cfg->framework_id = cm_xstrdup(values[0]);
    cfg->executor_id = cm_xstrdup(values[1]);
    cfg->agent_id = cm_xstrdup(values[2]);
    cfg->agent_endpoint = cm_xstrdup(ep);
    cfg->sandbox = sandbox && sandbox[0] ? cm_xstrdup(sandbox) : NULL;
    cfg->checkpoint = ckpt && strcmp(ckpt, "1") == 0;
    cfg->shutdown_grace = grace;
    cfg->recovery_timeout = recovery;
    cfg->backoff_max = backoff;
    const char *token = env_get(envp, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN");
    cfg->authentication_token = token && token[0] ? cm_xstrdup(token) : NULL;
    return 0;
}

void cm_executor_config_cleanup(struct cm_executor_config *cfg)
{
    free(cfg->framework_id);
    free(cfg->executor_id);
    free(cfg->agent_id);
    free(cfg->agent_endpoint);
    free(cfg->sandbox);
    if (cfg->authentication_token) {
        memset(cfg->authentication_token, 0, strlen(cfg->authentication_token));
        free(cfg->authentication_token);
    }
    memset(cfg, 0, sizeof *cfg);
}

/* ---- messages -------------------------------------------------------------------------- */

/* An owned deep copy of m (pack + unpack), so every copy is freed one way. */
static ProtobufCMessage *message_copy(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
    free(buf);
    return copy;
}

Mesos__V1__TaskStatus *cm_executor_status_new(const struct cm_executor_config *cfg,
                                              const char *task_id, Mesos__V1__TaskState state,
                                              const char *message, double now,
                                              uint32_t executor_pid)
{
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__ContainerStatus cs = MESOS__V1__CONTAINER_STATUS__INIT;
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    uint8_t uuid[16];

    tid.value = (char *)task_id;
    eid.value = cfg->executor_id;
    aid.value = cfg->agent_id;
    cm_uuid_random(uuid);
    st.task_id = &tid;
    st.state = state;
    st.message = (char *)message;
    st.has_source = 1;
    st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
    st.executor_id = &eid;
    st.agent_id = &aid;
    st.has_timestamp = 1;
    st.timestamp = now;
    st.has_uuid = 1;
    st.uuid.data = uuid;
    st.uuid.len = sizeof uuid;
    if (executor_pid) {
        cs.has_executor_pid = 1;
        cs.executor_pid = executor_pid;
        st.container_status = &cs;
    }
    Mesos__V1__TaskStatus *copy = (Mesos__V1__TaskStatus *)message_copy(&st.base);
    if (!copy)
        abort(); /* we built it: only allocation can fail */
    return copy;
}

static const char *state_name(Mesos__V1__TaskState s)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&mesos__v1__task_state__descriptor, (int)s);
    return v ? v->name : "TASK_?";
}

/* ---- sending --------------------------------------------------------------------------- */

static void call_init(struct cm_executor *ex, Mesos__V1__Executor__Call *call,
                      Mesos__V1__ExecutorID *eid, Mesos__V1__FrameworkID *fid)
{
    mesos__v1__executor__call__init(call);
    mesos__v1__executor_id__init(eid);
    mesos__v1__framework_id__init(fid);
    eid->value = ex->cfg->executor_id;
    fid->value = ex->cfg->framework_id;
    call->executor_id = eid;
    call->framework_id = fid;
    call->has_type = 1;
}

static void build_url(struct cm_executor *ex, char *url, size_t len)
{
    snprintf(url, len, "%s://%s/api/v1/executor", cm_tls_scheme(), ex->cfg->agent_endpoint);
}

static const char *const proto_headers[] = {"Content-Type: application/x-protobuf",
                                            "Accept: application/x-protobuf", NULL};

static struct pending *pending_find(struct cm_executor *ex, const uint8_t *uuid, size_t len)
{
    if (len != 16)
        return NULL;
    for (struct pending *p = ex->pending; p; p = p->next)
        if (memcmp(p->status->uuid.data, uuid, 16) == 0)
            return p;
    return NULL;
}

static void pump(struct cm_executor *ex);

static void retry_later(struct cm_executor *ex)
{
    struct timeval tv = {(time_t)RESEND_DELAY, 0};
    evtimer_add(ex->resend_timer, &tv);
}

static void on_post_done(void *arg, int err, const char *errmsg,
                         const struct cm_http_response *resp)
{
    struct cm_executor *ex = arg;
    struct pending *p = pending_find(ex, ex->post_uuid, 16);
    ex->post_busy = false;
    if (err || !resp || resp->status >= 500 || resp->status < 200) {
        CM_WARN(MOD, "UPDATE call failed: %s%s%s (status %ld); retrying",
                err ? cm_strerror(err) : "bad response", errmsg && errmsg[0] ? ": " : "",
                errmsg ? errmsg : "", resp ? resp->status : 0L);
        retry_later(ex);
        return;
    }
    /* A 4xx will not get better by repeating it; a re-subscription still carries the update. */
    if (resp->status != 202)
        CM_ERROR(MOD, "Agent refused an UPDATE with status %ld: %.*s", resp->status,
                 (int)(resp->body_len < 200 ? resp->body_len : 200), resp->body ? resp->body : "");
    if (p)
        p->sent = true;
    pump(ex);
}

/* Sends one UPDATE: to the test hook (synchronously), or as a POST answered later. */
static int post_update(struct cm_executor *ex, struct pending *p)
{
    Mesos__V1__Executor__Call call;
    Mesos__V1__ExecutorID eid;
    Mesos__V1__FrameworkID fid;
    Mesos__V1__Executor__Call__Update up = MESOS__V1__EXECUTOR__CALL__UPDATE__INIT;
    call_init(ex, &call, &eid, &fid);
    call.type = MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE;
    up.status = p->status;
    call.update = &up;
    if (ex->send) {
        int rc = ex->send(ex->send_arg, &call);
        p->sent = rc == 0;
        return rc;
    }
    uint8_t *body;
    size_t len;
    if (cm_pb_encode(&call.base, CM_MEDIA_PROTOBUF, &body, &len) != 0)
        abort(); /* protobuf is always a valid media type */
    char url[300];
    build_url(ex, url, sizeof url);
    /* The token (if the agent gave one) goes with every call: Mesos's executor library sends
     * it on SUBSCRIBE and on every other call alike. */
    char *authz = ex->cfg->authentication_token
                      ? cm_xasprintf("Authorization: Bearer %s", ex->cfg->authentication_token)
                      : NULL;
    const char *headers[] = {proto_headers[0], proto_headers[1], authz, NULL};
    struct cm_http_request_opts o = {.method = "POST",
                                     .url = url,
                                     .headers = headers,
                                     .body = body,
                                     .body_len = len,
                                     .timeout_secs = POST_TIMEOUT,
                                     .on_done = on_post_done,
                                     .arg = ex};
    int rc = cm_http_client_start(ex->http, &o, NULL);
    free(body);
    free(authz);
    if (rc) {
        CM_WARN(MOD, "Failed to start an UPDATE call: %s", cm_strerror(rc));
        return rc;
    }
    ex->post_busy = true;
    memcpy(ex->post_uuid, p->status->uuid.data, 16);
    return 0;
}

/* Sends the oldest unsent update unless one is in flight or the link is down (the SUBSCRIBE of
 * the reconnection then carries them all). */
static void pump(struct cm_executor *ex)
{
    while (ex->subscribed && !ex->post_busy) {
        struct pending *p = ex->pending;
        while (p && p->sent)
            p = p->next;
        if (!p)
            return;
        if (post_update(ex, p) != 0) {
            retry_later(ex);
            return;
        }
    }
}

static void on_resend_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

/* Creates, remembers and (when connected) sends one update of task_id. reason and healthy
 * are set when non-negative. Every update of a task with a check carries the last check status
 * (Mesos: check_status is always present once a check is defined). */
static void send_update_x(struct cm_executor *ex, const char *task_id, Mesos__V1__TaskState state,
                          const char *message, int reason, int healthy)
{
    bool running = state == MESOS__V1__TASK_STATE__TASK_RUNNING;
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    p->status = cm_executor_status_new(ex->cfg, task_id, state, message, cm_clock_now(ex->clock),
                                       running ? (uint32_t)getpid() : 0);
    if (reason >= 0) {
        p->status->has_reason = 1;
        p->status->reason = (Mesos__V1__TaskStatus__Reason)reason;
    }
    if (healthy >= 0) {
        p->status->has_healthy = 1;
        p->status->healthy = healthy != 0;
    }
    struct pending **tail = &ex->pending;
    while (*tail)
        tail = &(*tail)->next;
    *tail = p;
    bool ours = ex->task && strcmp(task_id, ex->task->task_id->value) == 0;
    if (ours && ex->check_status) {
        p->status->check_status =
            (Mesos__V1__CheckStatusInfo *)message_copy(&ex->check_status->base);
        if (!p->status->check_status)
            abort();
    }
    if (ours && cm_task_state_terminal(state)) {
        ex->task_terminal = true;
        memcpy(ex->terminal_uuid, p->status->uuid.data, 16);
    }
    CM_INFO(MOD, "Sending %s for task '%s'%s%s%s", state_name(state), task_id,
            healthy < 0 ? "" : (healthy ? " (healthy)" : " (unhealthy)"), message ? ": " : "",
            message ? message : "");
    pump(ex);
}

static void send_update(struct cm_executor *ex, const char *task_id, Mesos__V1__TaskState state,
                        const char *message)
{
    send_update_x(ex, task_id, state, message, -1, -1);
}

/* ---- exiting --------------------------------------------------------------------------- */

static void on_exit_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_executor *ex = arg;
    ex->on_exit(ex->exit_arg, ex->exit_code);
}

/* Asks the caller to exit with code after delay seconds; the first request wins. */
static void request_exit(struct cm_executor *ex, int code, double delay)
{
    if (ex->exiting)
        return;
    ex->exiting = true;
    ex->exit_code = code;
    CM_INFO(MOD, "Exiting with code %d in %.1f s", code, delay);
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - floor(delay)) * 1e6)};
    evtimer_add(ex->exit_timer, &tv);
}

/* ---- the task -------------------------------------------------------------------------- */

static double duration_secs(const Mesos__V1__DurationInfo *d)
{
    double s = (double)d->nanoseconds / 1e9;
    return s > 0 ? s : 0;
}

/* The grace period of a kill: the KILL's own policy, else the task's, else 3 s. */
static double kill_grace(const struct cm_executor *ex, const Mesos__V1__KillPolicy *policy)
{
    if (policy && policy->grace_period)
        return duration_secs(policy->grace_period);
    if (ex->task && ex->task->kill_policy && ex->task->kill_policy->grace_period)
        return duration_secs(ex->task->kill_policy->grace_period);
    return CM_COMMAND_DEFAULT_GRACE;
}

static bool task_running(const struct cm_executor *ex)
{
    return ex->command && !ex->task_exited;
}

/* Ends health checking, checking and the completion deadline (the task is being killed or
 * has ended). Safe from a checker's own callback. */
static void stop_checks(struct cm_executor *ex)
{
    cm_checker_free(ex->health);
    ex->health = NULL;
    cm_checker_free(ex->check);
    ex->check = NULL;
    if (ex->completion_timer)
        evtimer_del(ex->completion_timer);
}

static void kill_task(struct cm_executor *ex, double grace)
{
    if (!task_running(ex))
        return;
    stop_checks(ex);
    if (ex->killing_capable && !ex->killing_sent) {
        ex->killing_sent = true;
        send_update(ex, ex->task->task_id->value, MESOS__V1__TASK_STATE__TASK_KILLING, NULL);
    }
    CM_INFO(MOD, "Killing task '%s' (pid %d) with a grace period of %.3f s",
            ex->task->task_id->value, (int)cm_command_pid(ex->command), grace);
    cm_command_kill(ex->command, grace);
}

static void on_task_exit(void *arg, int wait_status)
{
    struct cm_executor *ex = arg;
    char msg[320];
    Mesos__V1__TaskState state;
    int reason = -1, healthy = -1;
    ex->task_exited = true;
    stop_checks(ex);
    cm_command_describe_exit(wait_status, msg, sizeof msg);
    if (cm_command_kill_requested(ex->command) && ex->completion_killed) {
        /* Mesos reports a task that ran out of time as failed, not killed. */
        state = MESOS__V1__TASK_STATE__TASK_FAILED;
        reason = MESOS__V1__TASK_STATUS__REASON__REASON_MAX_COMPLETION_TIME_REACHED;
        snprintf(msg, sizeof msg, "Task exceeded its maximum completion time of %gs",
                 duration_secs(ex->task->max_completion_time));
    } else if (cm_command_kill_requested(ex->command) && ex->health_killed) {
        state = MESOS__V1__TASK_STATE__TASK_KILLED;
        healthy = 0;
        snprintf(msg, sizeof msg, "%s", ex->health_why);
    } else if (cm_command_kill_requested(ex->command))
        state = MESOS__V1__TASK_STATE__TASK_KILLED;
    else if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
        state = MESOS__V1__TASK_STATE__TASK_FINISHED;
    else
        state = MESOS__V1__TASK_STATE__TASK_FAILED;
    send_update_x(ex, ex->task->task_id->value, state, msg, reason, healthy);
}

static void on_health_result(void *arg, const struct cm_check_result *r)
{
    struct cm_executor *ex = arg;
    bool healthy = false;
    if (!task_running(ex) || cm_command_kill_requested(ex->command))
        return;
    const char *id = ex->task->task_id->value;
    int act = cm_health_policy_result(&ex->health_policy, r->ok, cm_clock_now(ex->clock), &healthy);
    if (!r->ok)
        CM_WARN(MOD, "Health check of task '%s' failed (%u consecutive): %s", id,
                ex->health_policy.failures, r->message);
    if (act & CM_HEALTH_REPORT) {
        char msg[320];
        snprintf(msg, sizeof msg, "Health check failed: %s", r->message);
        send_update_x(ex, id, MESOS__V1__TASK_STATE__TASK_RUNNING, healthy ? NULL : msg,
                      MESOS__V1__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
                      healthy);
    }
    if (act & CM_HEALTH_KILL) {
        snprintf(ex->health_why, sizeof ex->health_why,
                 "Task killed after its health check failed %u consecutive time%s: %.160s",
                 ex->health_policy.failures, ex->health_policy.failures == 1 ? "" : "s",
                 r->message);
        ex->health_killed = true;
        kill_task(ex, kill_grace(ex, NULL)); /* frees the checker: nothing after this */
    }
}

/* The CheckStatusInfo of a result: the type always, the outcome when there is one (a command
 * that timed out or an HTTP call without a response has none, as in Mesos). */
static Mesos__V1__CheckStatusInfo *check_status_new(int type, const struct cm_check_result *r)
{
    Mesos__V1__CheckStatusInfo cs = MESOS__V1__CHECK_STATUS_INFO__INIT;
    Mesos__V1__CheckStatusInfo__Command cmd = MESOS__V1__CHECK_STATUS_INFO__COMMAND__INIT;
    Mesos__V1__CheckStatusInfo__Http http = MESOS__V1__CHECK_STATUS_INFO__HTTP__INIT;
    Mesos__V1__CheckStatusInfo__Tcp tcp = MESOS__V1__CHECK_STATUS_INFO__TCP__INIT;
    cs.has_type = 1;
    cs.type = (Mesos__V1__CheckInfo__Type)type;
    if (type == CM_CHECK_COMMAND) {
        cs.command = &cmd;
        if (r && r->has_exit_code) {
            cmd.has_exit_code = 1;
            cmd.exit_code = r->exit_code;
        }
    } else if (type == CM_CHECK_HTTP) {
        cs.http = &http;
        if (r && r->status_code) {
            http.has_status_code = 1;
            http.status_code = r->status_code;
        }
    } else {
        cs.tcp = &tcp;
        if (r) {
            tcp.has_succeeded = 1;
            tcp.succeeded = r->tcp_succeeded;
        }
    }
    Mesos__V1__CheckStatusInfo *copy = (Mesos__V1__CheckStatusInfo *)message_copy(&cs.base);
    if (!copy)
        abort();
    return copy;
}

static bool same_message(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t la = protobuf_c_message_get_packed_size(a), lb = protobuf_c_message_get_packed_size(b);
    if (la != lb)
        return false;
    uint8_t *ba = malloc(la ? la : 1), *bb = malloc(lb ? lb : 1);
    if (!ba || !bb)
        abort();
    protobuf_c_message_pack(a, ba);
    protobuf_c_message_pack(b, bb);
    bool same = memcmp(ba, bb, la) == 0;
    free(ba);
    free(bb);
    return same;
}

/* A general check only reports: a TASK_RUNNING update whenever its result changes. */
static void on_check_result(void *arg, const struct cm_check_result *r)
{
    struct cm_executor *ex = arg;
    if (!task_running(ex) || cm_command_kill_requested(ex->command))
        return;
    Mesos__V1__CheckStatusInfo *cs = check_status_new(ex->check_spec.type, r);
    if (ex->check_status && same_message(&cs->base, &ex->check_status->base)) {
        mesos__v1__check_status_info__free_unpacked(cs, NULL);
        return;
    }
    if (ex->check_status)
        mesos__v1__check_status_info__free_unpacked(ex->check_status, NULL);
    ex->check_status = cs;
    send_update_x(ex, ex->task->task_id->value, MESOS__V1__TASK_STATE__TASK_RUNNING, NULL,
                  MESOS__V1__TASK_STATUS__REASON__REASON_TASK_CHECK_STATUS_UPDATED, -1);
}

static void on_completion_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_executor *ex = arg;
    if (!task_running(ex) || cm_command_kill_requested(ex->command))
        return;
    CM_WARN(MOD, "Task '%s' reached its maximum completion time; killing it",
            ex->task->task_id->value);
    ex->completion_killed = true;
    kill_task(ex, 0); /* Mesos kills it without a grace period */
}

/* Validates the task's health check, check and max_completion_time. */
static int validate_checks(struct cm_executor *ex, char *why, size_t whylen)
{
    char inner[300];
    const Mesos__V1__TaskInfo *t = ex->task;
    if (t->health_check &&
        cm_health_spec_from_health_check(t->health_check, &ex->health_spec, inner, sizeof inner))
        return cm_fail(CM_EINVAL, why, whylen, "Invalid health check: %s", inner);
    if (t->check && cm_health_spec_from_check(t->check, &ex->check_spec, inner, sizeof inner))
        return cm_fail(CM_EINVAL, why, whylen, "Invalid check: %s", inner);
    if (t->max_completion_time && t->max_completion_time->nanoseconds < 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Invalid max_completion_time: it must not be negative");
    return 0;
}

/* Starts what watches the running task. envp is the task's environment (copied). */
static void start_checks(struct cm_executor *ex, char *const *envp)
{
    const Mesos__V1__TaskInfo *t = ex->task;
    if (t->check) {
        ex->check =
            cm_checker_new(ex->base, &ex->check_spec, envp, ex->cfg->sandbox, on_check_result, ex);
        if (!ex->check)
            abort();
    }
    if (t->health_check) {
        cm_health_policy_init(&ex->health_policy, &ex->health_spec, cm_clock_now(ex->clock));
        ex->health = cm_checker_new(ex->base, &ex->health_spec, envp, ex->cfg->sandbox,
                                    on_health_result, ex);
        if (!ex->health)
            abort();
    }
    if (t->max_completion_time) {
        double secs = duration_secs(t->max_completion_time);
        struct timeval tv = {(time_t)secs, (suseconds_t)((secs - floor(secs)) * 1e6)};
        ex->completion_timer = evtimer_new(ex->base, on_completion_timer, ex);
        if (!ex->completion_timer)
            abort();
        evtimer_add(ex->completion_timer, &tv);
    }
}

static void launch(struct cm_executor *ex, const Mesos__V1__TaskInfo *t)
{
    char why[512];
    const char *idwhy;
    if (!t || !t->task_id || !t->task_id->value) {
        CM_WARN(MOD, "Ignoring a LAUNCH without task.task_id");
        return;
    }
    const char *id = t->task_id->value;
    if (ex->task && strcmp(id, ex->task->task_id->value) == 0) {
        CM_WARN(MOD, "Ignoring a repeated LAUNCH of task '%s'", id);
        return;
    }
    if (ex->task) {
        send_update(ex, id, MESOS__V1__TASK_STATE__TASK_FAILED,
                    "Attempted to run multiple tasks using a \"command\" executor");
        return;
    }
    ex->task = (Mesos__V1__TaskInfo *)message_copy(&t->base);
    if (!ex->task)
        abort();
    CM_INFO(MOD, "Received LAUNCH for task '%s'", id);
    if (cm_id_validate(id, &idwhy) != 0) {
        snprintf(why, sizeof why, "Invalid task_id: %s", idwhy);
        send_update(ex, id, MESOS__V1__TASK_STATE__TASK_FAILED, why);
        return;
    }
    if (!t->command) {
        send_update(ex, id, MESOS__V1__TASK_STATE__TASK_FAILED,
                    "The command executor needs a task with 'command' set");
        return;
    }
    /* Mesos's master refuses these with TASK_ERROR; a task that gets here fails cleanly. */
    if (validate_checks(ex, why, sizeof why) != 0) {
        send_update(ex, id, MESOS__V1__TASK_STATE__TASK_FAILED, why);
        return;
    }
    if (ex->shutting_down) {
        send_update(ex, id, MESOS__V1__TASK_STATE__TASK_KILLED, "The executor is shutting down");
        return;
    }
    /* From now on every update carries the check status; the first has no result yet. */
    if (t->check)
        ex->check_status = check_status_new(ex->check_spec.type, NULL);
    send_update(ex, id, MESOS__V1__TASK_STATE__TASK_STARTING, NULL);
    char **envp = NULL;
    int rc = cm_command_envp(ex->envp, t->command->environment, &envp, why, sizeof why);
    if (!rc)
        rc = cm_command_start(ex->base, t->command, envp, ex->cfg->sandbox, on_task_exit, ex,
                              &ex->command, why, sizeof why);
    if (rc) {
        cm_command_strv_free(envp);
        send_update(ex, id, MESOS__V1__TASK_STATE__TASK_FAILED, why);
        return;
    }
    CM_INFO(MOD, "Started task '%s' as pid %d", id, (int)cm_command_pid(ex->command));
    send_update(ex, id, MESOS__V1__TASK_STATE__TASK_RUNNING, NULL);
    start_checks(ex, envp);
    cm_command_strv_free(envp);
}

static void on_shutdown_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_executor *ex = arg;
    CM_WARN(MOD, "Shutdown grace period over; exiting");
    if (task_running(ex))
        cm_command_kill(ex->command, 0);
    request_exit(ex, 0, 0);
}

void cm_executor_shutdown(struct cm_executor *ex)
{
    if (ex->shutting_down)
        return;
    ex->shutting_down = true;
    CM_INFO(MOD, "Shutting down");
    if (!task_running(ex) && (!ex->task_terminal || !pending_find(ex, ex->terminal_uuid, 16))) {
        request_exit(ex, 0, 0);
        return;
    }
    /* Leave a margin of the agent's grace period for the terminal update to get out. */
    double bound = ex->cfg->shutdown_grace - SHUTDOWN_MARGIN;
    double grace = kill_grace(ex, NULL);
    kill_task(ex, grace < bound ? grace : (bound > 0 ? bound : 0));
    double limit = ex->cfg->shutdown_grace > 1.0 ? ex->cfg->shutdown_grace : 1.0;
    struct timeval tv = {(time_t)limit, (suseconds_t)((limit - floor(limit)) * 1e6)};
    evtimer_add(ex->shutdown_timer, &tv);
}

/* ---- events ---------------------------------------------------------------------------- */

static void on_subscribed(struct cm_executor *ex, const Mesos__V1__Executor__Event__Subscribed *s)
{
    ex->subscribed = true;
    ex->ever_subscribed = true;
    ex->killing_capable = false;
    const Mesos__V1__FrameworkInfo *fi = s ? s->framework_info : NULL;
    for (size_t i = 0; fi && i < fi->n_capabilities; i++)
        if (fi->capabilities[i]->has_type &&
            fi->capabilities[i]->type ==
                MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE)
            ex->killing_capable = true;
    CM_INFO(MOD, "Subscribed to agent %s", ex->cfg->agent_endpoint);
    pump(ex);
}

static void on_acknowledged(struct cm_executor *ex,
                            const Mesos__V1__Executor__Event__Acknowledged *a)
{
    if (!a || !a->task_id || !a->task_id->value)
        return;
    struct pending *p = pending_find(ex, a->uuid.data, a->uuid.len);
    if (!p) {
        CM_WARN(MOD, "ACKNOWLEDGED for an unknown update of task '%s'", a->task_id->value);
        return;
    }
    for (struct pending **pp = &ex->pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    bool ours = ex->task && strcmp(a->task_id->value, ex->task->task_id->value) == 0;
    bool terminal = ours && ex->task_terminal && memcmp(a->uuid.data, ex->terminal_uuid, 16) == 0;
    mesos__v1__task_status__free_unpacked(p->status, NULL);
    free(p);
    if (ours)
        ex->task_acked = true;
    if (terminal) {
        CM_INFO(MOD, "Terminal update of task '%s' acknowledged", a->task_id->value);
        request_exit(ex, 0, ex->exit_delay);
    }
}

void cm_executor_handle_event(struct cm_executor *ex, const Mesos__V1__Executor__Event *ev)
{
    if (ex->exiting && ev->type != MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED)
        return;
    switch (ev->type) {
    case MESOS__V1__EXECUTOR__EVENT__TYPE__SUBSCRIBED: on_subscribed(ex, ev->subscribed); break;
    case MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH:
        if (ev->launch)
            launch(ex, ev->launch->task);
        break;
    case MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH_GROUP: {
        const Mesos__V1__TaskGroupInfo *g = ev->launch_group ? ev->launch_group->task_group : NULL;
        for (size_t i = 0; g && i < g->n_tasks; i++)
            if (g->tasks[i]->task_id && g->tasks[i]->task_id->value)
                send_update(ex, g->tasks[i]->task_id->value, MESOS__V1__TASK_STATE__TASK_FAILED,
                            "LAUNCH_GROUP is not supported by the command executor");
        break;
    }
    case MESOS__V1__EXECUTOR__EVENT__TYPE__KILL: {
        const Mesos__V1__Executor__Event__Kill *k = ev->kill;
        if (!k || !k->task_id || !k->task_id->value)
            break;
        if (!ex->task || strcmp(k->task_id->value, ex->task->task_id->value) != 0) {
            CM_WARN(MOD, "KILL for unknown task '%s' ignored", k->task_id->value);
            break;
        }
        kill_task(ex, kill_grace(ex, k->kill_policy));
        break;
    }
    case MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED:
        on_acknowledged(ex, ev->acknowledged);
        break;
    case MESOS__V1__EXECUTOR__EVENT__TYPE__MESSAGE:
        CM_INFO(MOD, "Received a framework MESSAGE of %zu bytes",
                ev->message ? ev->message->data.len : (size_t)0);
        break;
    case MESOS__V1__EXECUTOR__EVENT__TYPE__ERROR:
        CM_ERROR(MOD, "Agent sent ERROR: %s",
                 ev->error && ev->error->message ? ev->error->message : "(no message)");
        if (task_running(ex))
            cm_command_kill(ex->command, 0);
        request_exit(ex, 1, 0);
        break;
    case MESOS__V1__EXECUTOR__EVENT__TYPE__SHUTDOWN: cm_executor_shutdown(ex); break;
    case MESOS__V1__EXECUTOR__EVENT__TYPE__HEARTBEAT: break;
    default: CM_WARN(MOD, "Ignoring event of unknown type %d", (int)ev->type); break;
    }
}

/* ---- the subscription ------------------------------------------------------------------ */

int cm_executor_pack_subscribe(struct cm_executor *ex, uint8_t **buf, size_t *len)
{
    Mesos__V1__Executor__Call call;
    Mesos__V1__ExecutorID eid;
    Mesos__V1__FrameworkID fid;
    Mesos__V1__Executor__Call__Subscribe sub = MESOS__V1__EXECUTOR__CALL__SUBSCRIBE__INIT;
    Mesos__V1__TaskInfo *tasks[1];
    size_t n = 0;
    for (struct pending *p = ex->pending; p; p = p->next)
        n++;
    Mesos__V1__Executor__Call__Update *ups = calloc(n ? n : 1, sizeof *ups);
    Mesos__V1__Executor__Call__Update **upp = calloc(n ? n : 1, sizeof *upp);
    if (!ups || !upp) {
        free(ups);
        free(upp);
        return -ENOMEM;
    }
    size_t i = 0;
    for (struct pending *p = ex->pending; p; p = p->next, i++) {
        mesos__v1__executor__call__update__init(&ups[i]);
        ups[i].status = p->status;
        upp[i] = &ups[i];
    }
    sub.n_unacknowledged_updates = n;
    sub.unacknowledged_updates = upp;
    if (ex->task && !ex->task_acked) {
        tasks[0] = ex->task;
        sub.n_unacknowledged_tasks = 1;
        sub.unacknowledged_tasks = tasks;
    }
    call_init(ex, &call, &eid, &fid);
    call.type = MESOS__V1__EXECUTOR__CALL__TYPE__SUBSCRIBE;
    call.subscribe = &sub;
    int rc = cm_pb_encode(&call.base, CM_MEDIA_PROTOBUF, buf, len);
    free(ups);
    free(upp);
    return rc;
}

/* ---- link to the agent (the common stream client) ---------------------------------------- */

static int build_subscribe(void *arg, uint8_t **body, size_t *len)
{
    struct cm_executor *ex = arg;
    int rc = cm_executor_pack_subscribe(ex, body, len);
    if (rc)
        return rc;
    /* The body carries every unacknowledged update; none needs a POST of its own. */
    for (struct pending *p = ex->pending; p; p = p->next)
        p->sent = true;
    return 0;
}

static void on_stream_event(void *arg, const ProtobufCMessage *msg)
{
    cm_executor_handle_event(arg, (const Mesos__V1__Executor__Event *)msg);
}

/* The stream broke or could not be opened: retry, or give up and take the task down. */
static enum cm_stream_decision on_stream_lost(void *arg, const struct cm_stream_loss *loss)
{
    struct cm_executor *ex = arg;
    ex->subscribed = false;
    if (ex->exiting)
        return CM_STREAM_STOP;
    CM_WARN(MOD, "Subscription to the agent ended: %s", loss->reason);
    if (ex->shutting_down && !task_running(ex)) {
        request_exit(ex, 0, 0);
        return CM_STREAM_STOP;
    }
    /* Without checkpointing, an agent that went away will not come back for this executor
     * (Mesos's rule); a fresh executor still gets a moment to reach its agent. */
    bool may_retry = ex->cfg->checkpoint || !ex->ever_subscribed;
    double limit = ex->cfg->checkpoint ? ex->cfg->recovery_timeout : FIRST_SUBSCRIBE_TIMEOUT;
    if (!may_retry || loss->down_for >= limit) {
        CM_ERROR(MOD, "Agent %s is gone (disconnected for %.1f s); killing the task and exiting",
                 ex->cfg->agent_endpoint, loss->down_for);
        if (task_running(ex))
            cm_command_kill(ex->command, 0);
        request_exit(ex, 1, 0);
        return CM_STREAM_STOP;
    }
    return CM_STREAM_RETRY;
}

int cm_executor_start(struct cm_executor *ex)
{
    if (!ex->http) {
        ex->http = cm_http_client_new(ex->base);
        if (!ex->http)
            return -ENOMEM;
    }
    if (!ex->link) {
        char url[300], why[256];
        build_url(ex, url, sizeof url);
        double cap = ex->cfg->backoff_max > 0.1 ? ex->cfg->backoff_max : 0.1;
        struct cm_stream_client_opts o = {
            .base = ex->base,
            .http = ex->http,
            .clock = ex->clock,
            .module = MOD,
            .url = url,
            .media = CM_MEDIA_PROTOBUF,
            .event_desc = &mesos__v1__executor__event__descriptor,
            .max_record = MAX_EVENT_BYTES,
            .backoff_initial = 0.1,
            .backoff_max = cap,
            .body = build_subscribe,
            .on_event = on_stream_event,
            .on_lost = on_stream_lost,
            .arg = ex,
        };
        char *bearer = ex->cfg->authentication_token
                           ? cm_xasprintf("Bearer %s", ex->cfg->authentication_token)
                           : NULL;
        o.authorization = bearer;
        ex->link = cm_stream_client_new(&o, why, sizeof why);
        free(bearer);
        if (!ex->link) {
            CM_ERROR(MOD, "Cannot create the link to the agent: %s", why);
            return CM_EINVAL;
        }
    }
    return cm_stream_client_start(ex->link);
}

/* ---- life cycle ------------------------------------------------------------------------ */

struct cm_executor *cm_executor_new(const struct cm_executor_opts *opts)
{
    if (!opts->base || !opts->cfg || !opts->clock || !opts->on_exit)
        return NULL;
    struct cm_executor *ex = calloc(1, sizeof *ex);
    if (!ex)
        abort();
    ex->base = opts->base;
    ex->cfg = opts->cfg;
    ex->clock = opts->clock;
    ex->envp = opts->envp;
    ex->send = opts->send;
    ex->send_arg = opts->send_arg;
    ex->on_exit = opts->on_exit;
    ex->exit_arg = opts->exit_arg;
    ex->exit_delay = opts->exit_delay < 0 ? 1.0 : opts->exit_delay;
    ex->resend_timer = evtimer_new(ex->base, on_resend_timer, ex);
    ex->shutdown_timer = evtimer_new(ex->base, on_shutdown_timer, ex);
    ex->exit_timer = evtimer_new(ex->base, on_exit_timer, ex);
    if (!ex->resend_timer || !ex->shutdown_timer || !ex->exit_timer)
        abort();
    return ex;
}

void cm_executor_free(struct cm_executor *ex)
{
    if (!ex)
        return;
    /* Freeing the clients cancels the stream and the POSTs without callbacks. */
    cm_stream_client_free(ex->link);
    cm_http_client_free(ex->http);
    cm_checker_free(ex->health);
    cm_checker_free(ex->check);
    if (ex->check_status)
        mesos__v1__check_status_info__free_unpacked(ex->check_status, NULL);
    if (ex->completion_timer)
        event_free(ex->completion_timer);
    cm_command_free(ex->command);
    while (ex->pending) {
        struct pending *next = ex->pending->next;
        mesos__v1__task_status__free_unpacked(ex->pending->status, NULL);
        free(ex->pending);
        ex->pending = next;
    }
    if (ex->task)
        mesos__v1__task_info__free_unpacked(ex->task, NULL);
    event_free(ex->resend_timer);
    event_free(ex->shutdown_timer);
    event_free(ex->exit_timer);
    free(ex);
}
