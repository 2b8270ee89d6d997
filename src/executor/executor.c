/* executor.c: the command executor's state machine on libcmexecutor (executor.h). */
#include "executor.h"
#include "framework_info.h"

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
#include "exec_internal.h"
#include "health.h"
#include "ids.h"
#include "log.h"
#include "pbjson.h"
#include "util.h"

#define MOD "executor"
#define SHUTDOWN_MARGIN 1.0 /* kept from the shutdown grace period for reporting */

struct cm_executor {
    struct event_base *base;
    const struct cm_exec_env *cfg;
    const struct cm_clock *clock;
    char *const *envp;
    cm_executor_exit_cb on_exit;
    void *exit_arg;
    double exit_delay;

    /* The link to the agent: keeps updates until acknowledged, re-subscribes. */
    struct cm_exec *lib;
    bool killing_capable; /* framework has TASK_KILLING_STATE */

    /* The task. */
    Mesos__V1__TaskInfo *task; /* owned copy */
    struct cm_command *command;
    bool task_exited;
    bool task_terminal; /* its terminal update exists */
    uint8_t terminal_uuid[16];
    bool terminal_acked;
    bool killing_sent;
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

/* ---- messages -------------------------------------------------------------------------- */

/* A status on the caller's stack: st points into the other members (and borrows task_id,
 * message and cfg's strings). */
struct status_parts {
    Mesos__V1__TaskID tid;
    Mesos__V1__ExecutorID eid;
    Mesos__V1__AgentID aid;
    Mesos__V1__ContainerStatus cs;
    Mesos__V1__TaskStatus st;
    uint8_t uuid[16];
};

static void status_fill(struct status_parts *p, const struct cm_exec_env *cfg, const char *task_id,
                        Mesos__V1__TaskState state, const char *message, double now,
                        uint32_t executor_pid)
{
    *p = (struct status_parts){.tid = MESOS__V1__TASK_ID__INIT,
                               .eid = MESOS__V1__EXECUTOR_ID__INIT,
                               .aid = MESOS__V1__AGENT_ID__INIT,
                               .cs = MESOS__V1__CONTAINER_STATUS__INIT,
                               .st = MESOS__V1__TASK_STATUS__INIT};
    p->tid.value = (char *)task_id;
    p->eid.value = cfg->executor_id;
    p->aid.value = cfg->agent_id;
    cm_uuid_random(p->uuid);
    p->st.task_id = &p->tid;
    p->st.state = state;
    p->st.message = (char *)message;
    p->st.has_source = 1;
    p->st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
    p->st.executor_id = &p->eid;
    p->st.agent_id = &p->aid;
    p->st.has_timestamp = 1;
    p->st.timestamp = now;
    p->st.has_uuid = 1;
    p->st.uuid.data = p->uuid;
    p->st.uuid.len = sizeof p->uuid;
    if (executor_pid) {
        p->cs.has_executor_pid = 1;
        p->cs.executor_pid = executor_pid;
        p->st.container_status = &p->cs;
    }
}

Mesos__V1__TaskStatus *cm_executor_status_new(const struct cm_exec_env *cfg, const char *task_id,
                                              Mesos__V1__TaskState state, const char *message,
                                              double now, uint32_t executor_pid)
{
    struct status_parts p;
    status_fill(&p, cfg, task_id, state, message, now, executor_pid);
    return cm_pb_dup(&p.st.base);
}

static const char *state_name(Mesos__V1__TaskState s)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&mesos__v1__task_state__descriptor, (int)s);
    return v ? v->name : "TASK_?";
}

/* ---- sending --------------------------------------------------------------------------- */

static void request_exit(struct cm_executor *ex, int code, double delay);

/* Creates one update of task_id and hands it to the library, which keeps it until the agent
 * acknowledges it. reason and healthy are set when non-negative. Every update of a task with
 * a check carries the last check status (Mesos: check_status is always present once a check
 * is defined). */
static void send_update_x(struct cm_executor *ex, const char *task_id, Mesos__V1__TaskState state,
                          const char *message, int reason, int healthy)
{
    bool running = state == MESOS__V1__TASK_STATE__TASK_RUNNING;
    /* Built on the stack: the library keeps its own copy (cm_exec_update). */
    struct status_parts parts;
    status_fill(&parts, ex->cfg, task_id, state, message, cm_clock_now(ex->clock),
                running ? (uint32_t)getpid() : 0);
    Mesos__V1__TaskStatus *st = &parts.st;
    if (reason >= 0) {
        st->has_reason = 1;
        st->reason = (Mesos__V1__TaskStatus__Reason)reason;
    }
    if (healthy >= 0) {
        st->has_healthy = 1;
        st->healthy = healthy != 0;
    }
    bool ours = ex->task && strcmp(task_id, ex->task->task_id->value) == 0;
    if (ours && ex->check_status)
        st->check_status = ex->check_status; /* borrowed: the library copies the status */
    CM_INFO(MOD, "Sending %s for task '%s'%s%s%s", state_name(state), task_id,
            healthy < 0 ? "" : (healthy ? " (healthy)" : " (unhealthy)"), message ? ": " : "",
            message ? message : "");
    char why[256];
    uint8_t uuid[16];
    int rc = cm_exec_update(ex->lib, st, uuid, why, sizeof why);
    if (rc) {
        /* Only an invalid task id or a stopped link get here; nothing can carry it. */
        CM_ERROR(MOD, "Cannot send the update of task '%s': %s", task_id, why);
        return;
    }
    if (ours && cm_task_state_terminal(state)) {
        ex->task_terminal = true;
        ex->terminal_acked = false;
        memcpy(ex->terminal_uuid, uuid, 16);
    }
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

/* A general check only reports: a TASK_RUNNING update whenever its result changes. */
static void on_check_result(void *arg, const struct cm_check_result *r)
{
    struct cm_executor *ex = arg;
    if (!task_running(ex) || cm_command_kill_requested(ex->command))
        return;
    Mesos__V1__CheckStatusInfo *cs = cm_check_status_new(ex->check_spec.type, r);
    if (ex->check_status && cm_check_status_same(cs, ex->check_status)) {
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
    ex->task = (Mesos__V1__TaskInfo *)cm_pb_dup(&t->base);
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
        ex->check_status = cm_check_status_new(ex->check_spec.type, NULL);
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
    if (!task_running(ex) && (!ex->task_terminal || ex->terminal_acked)) {
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

/* ---- events (libcmexecutor's callbacks) ---------------------------------------------------- */

static void lib_log(void *arg, enum cm_exec_log_level level, const char *message)
{
    (void)arg;
    cm_log((enum cm_log_level)level, MOD, "%s", message);
}

static void on_subscribed(struct cm_exec *lib, void *arg,
                          const Mesos__V1__Executor__Event__Subscribed *s)
{
    (void)lib;
    struct cm_executor *ex = arg;
    ex->killing_capable = cm_framework_has_capability(
        s ? s->framework_info : NULL,
        MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE);
}

static void on_launch(struct cm_exec *lib, void *arg, const Mesos__V1__TaskInfo *task)
{
    (void)lib;
    struct cm_executor *ex = arg;
    if (!ex->exiting)
        launch(ex, task);
}

static void on_launch_group(struct cm_exec *lib, void *arg, const Mesos__V1__TaskGroupInfo *g)
{
    (void)lib;
    struct cm_executor *ex = arg;
    if (ex->exiting)
        return;
    for (size_t i = 0; i < g->n_tasks; i++)
        if (g->tasks[i]->task_id && g->tasks[i]->task_id->value)
            send_update(ex, g->tasks[i]->task_id->value, MESOS__V1__TASK_STATE__TASK_FAILED,
                        "LAUNCH_GROUP is not supported by the command executor");
}

static void on_kill(struct cm_exec *lib, void *arg, const Mesos__V1__TaskID *task_id,
                    const Mesos__V1__KillPolicy *policy)
{
    (void)lib;
    struct cm_executor *ex = arg;
    if (ex->exiting)
        return;
    if (!ex->task || strcmp(task_id->value, ex->task->task_id->value) != 0) {
        CM_WARN(MOD, "KILL for unknown task '%s' ignored", task_id->value);
        return;
    }
    kill_task(ex, kill_grace(ex, policy));
}

static void on_acknowledged(struct cm_exec *lib, void *arg, const Mesos__V1__TaskID *task_id,
                            const uint8_t *uuid, size_t len)
{
    (void)lib;
    struct cm_executor *ex = arg;
    bool ours = ex->task && strcmp(task_id->value, ex->task->task_id->value) == 0;
    if (ours && ex->task_terminal && len == 16 && memcmp(uuid, ex->terminal_uuid, 16) == 0) {
        ex->terminal_acked = true;
        CM_INFO(MOD, "Terminal update of task '%s' acknowledged", task_id->value);
        request_exit(ex, 0, ex->exit_delay);
    }
}

static void on_message(struct cm_exec *lib, void *arg, const uint8_t *data, size_t len)
{
    (void)lib;
    (void)arg;
    (void)data;
    CM_INFO(MOD, "Received a framework MESSAGE of %zu bytes", len);
}

static void on_error(struct cm_exec *lib, void *arg, const char *message)
{
    (void)lib;
    (void)message; /* the library logged it */
    struct cm_executor *ex = arg;
    if (task_running(ex))
        cm_command_kill(ex->command, 0);
    request_exit(ex, 1, 0);
}

static void on_lib_shutdown(struct cm_exec *lib, void *arg, enum cm_exec_shutdown_reason reason)
{
    (void)lib;
    struct cm_executor *ex = arg;
    if (reason == CM_EXEC_SHUTDOWN_REQUESTED) {
        if (!ex->exiting)
            cm_executor_shutdown(ex);
        return;
    }
    /* The agent is gone for good: take the task down with it. */
    CM_ERROR(MOD, "Agent %s is gone; killing the task and exiting", ex->cfg->agent_endpoint);
    if (task_running(ex))
        cm_command_kill(ex->command, 0);
    request_exit(ex, ex->shutting_down && !task_running(ex) ? 0 : 1, 0);
}

static void on_disconnected(struct cm_exec *lib, void *arg, const char *reason, double retry_in)
{
    (void)lib;
    (void)arg;
    CM_INFO(MOD, "Re-subscribing in %.2f s (%s)", retry_in, reason);
}

void cm_executor_handle_event(struct cm_executor *ex, const Mesos__V1__Executor__Event *ev)
{
    cm_exec_handle_event(ex->lib, ev);
}

int cm_executor_pack_subscribe(struct cm_executor *ex, uint8_t **buf, size_t *len)
{
    return cm_exec_pack_subscribe(ex->lib, buf, len);
}

int cm_executor_start(struct cm_executor *ex)
{
    return cm_exec_start(ex->lib);
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
    ex->on_exit = opts->on_exit;
    ex->exit_arg = opts->exit_arg;
    ex->exit_delay = opts->exit_delay < 0 ? 1.0 : opts->exit_delay;
    struct cm_exec_config lc = {.env = opts->cfg,
                                .base = opts->base,
                                .callbacks = {.subscribed = on_subscribed,
                                              .launch = on_launch,
                                              .launch_group = on_launch_group,
                                              .kill = on_kill,
                                              .acknowledged = on_acknowledged,
                                              .message = on_message,
                                              .shutdown = on_lib_shutdown,
                                              .error = on_error,
                                              .disconnected = on_disconnected},
                                .callback_arg = ex,
                                .log = lib_log};
    char why[256];
    ex->lib = cm_exec_new(&lc, why, sizeof why);
    if (!ex->lib) {
        CM_ERROR(MOD, "Cannot create the agent link: %s", why);
        free(ex);
        return NULL;
    }
    cm_exec_set_clock(ex->lib, opts->clock);
    if (opts->send)
        cm_exec_set_send_hook(ex->lib, opts->send, opts->send_arg);
    ex->shutdown_timer = evtimer_new(ex->base, on_shutdown_timer, ex);
    ex->exit_timer = evtimer_new(ex->base, on_exit_timer, ex);
    if (!ex->shutdown_timer || !ex->exit_timer)
        abort();
    return ex;
}

void cm_executor_free(struct cm_executor *ex)
{
    if (!ex)
        return;
    /* Freeing the library cancels the stream and the POSTs without callbacks. */
    cm_exec_free(ex->lib);
    cm_checker_free(ex->health);
    cm_checker_free(ex->check);
    if (ex->check_status)
        mesos__v1__check_status_info__free_unpacked(ex->check_status, NULL);
    if (ex->completion_timer)
        event_free(ex->completion_timer);
    cm_command_free(ex->command);
    if (ex->task)
        mesos__v1__task_info__free_unpacked(ex->task, NULL);
    event_free(ex->shutdown_timer);
    event_free(ex->exit_timer);
    free(ex);
}
