/*
 * agent_executors.c: the executor lifecycle of the agent core (contract in agent_executors.h).
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_executors.h"

#include "agent_internal.h"
#include <signal.h>
#include <sys/wait.h>

#include "agent_ckpt.h"
#include "agent_link.h"
#include "agent_recover.h"
#include "agent_state.h"
#include "agent_updates.h"
#include "agent_xapi.h"
#include "containerizer/container_info.h"
#include "containerizer/user.h"
#include "executor_env.h"
#include "agent_auth.h"
#include "agent_nested.h"
#include "ids.h"
#include "log.h"
#include "paths.h"

/* Mesos still fills deprecated fields (ExecutorInfo.source, FrameworkInfo.role) for old
 * tooling, so we must read and write them. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define MOD "agent"
#define EXECUTOR_OVERHEAD_CPUS 0.1
#define EXECUTOR_OVERHEAD_MEM 32.0

extern char **environ;

static void fetch_aborted(struct cm_agent *a, struct agent_executor *e);
static void launch_executor(struct cm_agent *a, struct agent_executor *e, struct agent_task *t,
                            bool make_sandbox, struct cm_user *known, int known_rc);
static bool start_executor(struct cm_agent *a, struct agent_executor *e, struct agent_task *t);
static bool has_live_task(struct agent_executor *e);

void agent_exec_kill(struct cm_agent *a, struct agent_executor *e)
{
    if (e->launch_queued) {
        /* Not started yet: leaving the queue ends the executor, as a cancelled fetch does. */
        agent_state_launch_unqueue(a, e);
        fetch_aborted(a, e);
        return;
    }
    if (e->fetch) {
        /* Still fetching: there is no process yet, so stopping the fetch ends the executor. */
        CM_INFO(MOD, "Cancelling the fetch of executor '%s' of framework '%s'", e->id,
                e->framework->id);
        cm_fetch_cancel(e->fetch);
        e->fetch = NULL;
        fetch_aborted(a, e);
        return;
    }
    if (e->pid <= 0)
        return;
    int rc = cm_containerizer_kill(a->containerizer, e->container_id, SIGKILL);
    if (rc != 0)
        CM_WARN(MOD, "Failed to kill executor '%s' (pid %d): %s", e->id, (int)e->pid,
                cm_strerror(rc));
}

static void shutdown_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct agent_executor *e = arg;
    CM_INFO(MOD, "Killing executor '%s' of framework '%s' after the shutdown grace period", e->id,
            e->framework->id);
    agent_exec_kill(e->agent, e);
}

void agent_exec_shutdown(struct cm_agent *a, struct agent_executor *e)
{
    if (e->state == EXECUTOR_TERMINATED || e->state == EXECUTOR_TERMINATING)
        return;
    CM_INFO(MOD, "Shutting down executor '%s' of framework '%s'", e->id, e->framework->id);
    bool subscribed_once = e->state == EXECUTOR_RUNNING;
    e->state = EXECUTOR_TERMINATING;
    if (!agent_xapi_connected(e) && !subscribed_once) {
        /* Never subscribed: nothing runs a task yet, and nobody could hear a SHUTDOWN. */
        agent_exec_kill(a, e);
        return;
    }
    /* An executor that closed its own stream is usually finishing on its own (its tasks are
     * done): like Mesos, it gets the grace period to exit before the SIGKILL, so a clean exit
     * is reported as one. */
    agent_xapi_send_type(e, MESOS__V1__EXECUTOR__EVENT__TYPE__SHUTDOWN);
    if (!e->shutdown_timer)
        e->shutdown_timer = evtimer_new(a->base, shutdown_timer_cb, e);
    struct timeval tv = {(time_t)e->shutdown_grace,
                         (suseconds_t)((e->shutdown_grace - (time_t)e->shutdown_grace) * 1e6)};
    evtimer_add(e->shutdown_timer, &tv);
}

static void registration_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct agent_executor *e = arg;
    if (e->state != EXECUTOR_REGISTERING)
        return;
    char buf[64];
    cm_duration_format(e->agent->flags->executor_registration_timeout, buf, sizeof buf);
    CM_WARN(MOD, "Executor '%s' of framework '%s' did not register within %s; killing it", e->id,
            e->framework->id, buf);
    e->failure_reason = MESOS__V1__TASK_STATUS__REASON__REASON_EXECUTOR_REGISTRATION_TIMEOUT;
    free(e->failure_message);
    e->failure_message = cm_xasprintf("Executor did not register within %s", buf);
    e->state = EXECUTOR_TERMINATING;
    agent_exec_kill(e->agent, e);
}

void agent_exec_exited(struct cm_agent *a, struct agent_executor *e, int status)
{
    char key[32];
    snprintf(key, sizeof key, "%d", (int)e->pid);
    cm_strmap_remove(&a->executors_by_pid, key);
    if (a->docker && cm_docker_is_executor(e->info))
        cm_docker_container_exited(a->docker, e->container_id);
    /* The limitation a container hit only names why its live tasks fail: an executor whose
     * tasks all ended (the usual exit) is spared reading its cgroup's counters. Read before
     * the teardown below removes them. */
    char limit_msg[256];
    enum cm_limitation lim = has_live_task(e)
                                 ? cm_containerizer_limitation(a->containerizer, e->container_id,
                                                               limit_msg, sizeof limit_msg, NULL)
                                 : CM_LIMITATION_NONE;
    if (lim == CM_LIMITATION_MEMORY || lim == CM_LIMITATION_DISK) {
        e->failure_reason =
            lim == CM_LIMITATION_DISK
                ? MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_DISK
                : MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY;
        free(e->failure_message);
        e->failure_message = cm_xstrdup(limit_msg);
    }
    /* An exec that failed in the cloned child arrives as its exit: say what failed. */
    const char *launch_error = cm_containerizer_launch_error(a->containerizer, e->container_id);
    if (launch_error) {
        e->failure_reason = MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED;
        free(e->failure_message);
        e->failure_message = cm_xasprintf("Failed to launch the executor: %s", launch_error);
        a->metrics.container_launch_errors++;
    }
    cm_containerizer_reaped(a->containerizer, e->container_id);
    agent_nested_parent_exited(a, e->container_id);
    if (e->pidfd_event) {
        event_free(e->pidfd_event);
        e->pidfd_event = NULL;
        close(e->pidfd);
    }
    if (e->recovered && e->state == EXECUTOR_REGISTERING && a->awaiting_executors > 0 &&
        --a->awaiting_executors == 0)
        agent_recover_done(a);
    e->pid = 0;
    e->wait_status = status;
    e->state = EXECUTOR_TERMINATED;
    a->metrics.executors_terminated++;
    if (e->registration_timer)
        evtimer_del(e->registration_timer);
    if (e->shutdown_timer)
        evtimer_del(e->shutdown_timer);
    agent_xapi_disconnect(e);
    char how[128];
    if (status == -1)
        snprintf(how, sizeof how, "terminated (exit status unknown: not a child of this agent)");
    else if (WIFEXITED(status))
        snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "terminated with signal %s", strsignal(WTERMSIG(status)));
    else
        snprintf(how, sizeof how, "terminated (wait status %d)", status);
    CM_INFO(MOD, "Executor '%s' of framework '%s' %s", e->id, e->framework->id, how);

    char *msg =
        e->failure_message ? cm_xstrdup(e->failure_message) : cm_xasprintf("Executor %s", how);
    /* Collect first: agent_update does not change the table, but keep it obviously safe. */
    size_t n = cm_strmap_count(&e->tasks), k = 0;
    char **ids = cm_xcalloc(n + 1, sizeof *ids);
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &e->tasks);
    struct agent_task *t;
    while ((t = cm_strmap_iter_value(&it, NULL)))
        if (!cm_task_state_terminal(t->state))
            ids[k++] = t->info->task_id->value;
    for (size_t i = 0; i < k; i++)
        agent_updates_generate(a, e->framework->id, e, ids[i], MESOS__V1__TASK_STATE__TASK_FAILED,
                               e->failure_reason, msg);
    free(ids);
    free(msg);

    /* Like Mesos, only an executor the master knows is reported: the built-in executors of
     * command (and DOCKER) tasks are the agent's own, the master never stored them and their
     * tasks' terminal updates already said everything (no FAILURE event reaches the
     * scheduler for them). That is one call less per command task. */
    if (!agent_exec_is_command(e)) {
        Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
        Cmesos__Internal__AgentCall__ExitedExecutor ex =
            CMESOS__INTERNAL__AGENT_CALL__EXITED_EXECUTOR__INIT;
        Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
        Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
        fid.value = e->framework->id;
        eid.value = e->id;
        ex.framework_id = &fid;
        ex.executor_id = &eid;
        ex.has_status = 1;
        ex.status = status;
        call.has_type = 1;
        call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__EXITED_EXECUTOR;
        call.exited_executor = &ex;
        agent_link_send(a, &call);
    }

    if (e->framework->shutting_down)
        agent_state_complete_all_tasks(a, e);
    agent_state_maybe_remove_executor(a, e);
}

/* Children reaped per loop turn: when hundreds of short tasks end together, their exits (each an
 * update, a teardown and a GC schedule) are spread over turns like launches are. */
#define REAPS_PER_TURN 16

void agent_exec_sigchld(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_agent *a = arg;
    for (int reaped = 0;; reaped++) {
        if (reaped == REAPS_PER_TURN) {
            /* More may be waiting and SIGCHLD will not come again for them: continue on the
             * next turn. */
            if (!a->reap_timer)
                a->reap_timer = evtimer_new(a->base, agent_exec_sigchld, a);
            struct timeval zero = {0, 0};
            evtimer_add(a->reap_timer, &zero);
            break;
        }
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        char key[32];
        snprintf(key, sizeof key, "%d", (int)pid);
        struct agent_executor *e = cm_strmap_get(&a->executors_by_pid, key);
        if (e)
            agent_exec_exited(a, e, status);
        else if (agent_nested_reaped(a, pid, status))
            ; /* a nested container (agent_nested.h) */
        else if (a->fetcher)
            cm_fetcher_reaped(a->fetcher, pid, status); /* an extractor (tar, unzip, gzip) */
    }
}

/* Builds the command executor's ExecutorInfo for a command task (docs/wire-protocol.md §4.6). */
static Mesos__V1__ExecutorInfo *
command_executor_info(struct cm_agent *a, const Mesos__V1__TaskInfo *task, const char *framework_id,
                      struct cm_resources *exec_resources, const char *alloc_role)
{
    Mesos__V1__ExecutorInfo *info = cm_xcalloc(1, sizeof *info);
    mesos__v1__executor_info__init(info);
    info->has_type = 1;
    info->type = MESOS__V1__EXECUTOR_INFO__TYPE__DEFAULT;
    info->executor_id = cm_xcalloc(1, sizeof *info->executor_id);
    mesos__v1__executor_id__init(info->executor_id);
    info->executor_id->value = cm_xstrdup(task->task_id->value);
    info->framework_id = cm_xcalloc(1, sizeof *info->framework_id);
    mesos__v1__framework_id__init(info->framework_id);
    info->framework_id->value = cm_xstrdup(framework_id);

    const Mesos__V1__CommandInfo *tc = task->command;
    char *shown;
    if (!tc->has_shell || tc->shell) {
        shown = cm_xstrdup(tc->value ? tc->value : "");
    } else {
        size_t cap = 3;
        for (size_t i = 0; i < tc->n_arguments; i++)
            cap += strlen(tc->arguments[i]) + 2;
        shown = cm_xcalloc(1, cap);
        strcat(shown, "[");
        for (size_t i = 0; i < tc->n_arguments; i++) {
            if (i)
                strcat(shown, ", ");
            strcat(shown, tc->arguments[i]);
        }
        strcat(shown, "]");
    }
    if (strlen(shown) > 15) {
        shown[12] = '\0';
        char *t = cm_xasprintf("%s...", shown);
        free(shown);
        shown = t;
    }
    info->name = cm_xasprintf("Command Executor (Task: %s) (Command: sh -c '%s')",
                              task->task_id->value, shown);
    free(shown);
    info->source = cm_xstrdup(task->task_id->value);

    Mesos__V1__CommandInfo *cmd = cm_xcalloc(1, sizeof *cmd);
    mesos__v1__command_info__init(cmd);
    cmd->value = cm_xasprintf("%s/mesos-executor", a->launcher_dir);
    cmd->has_shell = 1;
    cmd->shell = 0;
    cmd->n_arguments = 2;
    cmd->arguments = cm_xcalloc(2, sizeof *cmd->arguments);
    cmd->arguments[0] = cm_xstrdup("mesos-executor");
    cmd->arguments[1] = cm_xasprintf("--launcher_dir=%s", a->launcher_dir);
    if (tc->n_uris) {
        cmd->n_uris = tc->n_uris;
        cmd->uris = cm_xcalloc(tc->n_uris, sizeof *cmd->uris);
        for (size_t i = 0; i < tc->n_uris; i++)
            cmd->uris[i] = cm_pb_dup(&tc->uris[i]->base);
    }
    if (tc->environment)
        cmd->environment = cm_pb_dup(&tc->environment->base);
    if (tc->user)
        cmd->user = cm_xstrdup(tc->user);
    info->command = cmd;
    if (task->labels)
        info->labels = cm_pb_dup(&task->labels->base);
    if (task->discovery)
        info->discovery = cm_pb_dup(&task->discovery->base);

    Mesos__V1__Resource **pb = NULL;
    size_t npb = 0;
    cm_resources_to_proto(exec_resources, alloc_role, &pb, &npb);
    info->n_resources = npb;
    info->resources = cm_xcalloc(npb ? npb : 1, sizeof *info->resources);
    for (size_t i = 0; i < npb; i++)
        info->resources[i] = cm_pb_dup(&pb[i]->base);
    cm_resources_proto_free(pb, npb);
    return info;
}

static const char *task_allocation_role(const Mesos__V1__TaskInfo *task,
                                        const Mesos__V1__FrameworkInfo *fi)
{
    for (size_t i = 0; i < task->n_resources; i++)
        if (task->resources[i]->allocation_info && task->resources[i]->allocation_info->role)
            return task->resources[i]->allocation_info->role;
    if (fi->n_roles > 0)
        return fi->roles[0];
    return fi->role ? fi->role : "*";
}

void agent_exec_launch_failed(struct cm_agent *a, struct agent_executor *e, struct agent_task *t,
                              const char *message)
{
    const char *tid = t->info->task_id->value;
    CM_ERROR(MOD, "Task '%s' of framework '%s': %s", tid, e->framework->id, message);
    a->metrics.container_launch_errors++;
    t->queued = false;
    agent_updates_generate(a, e->framework->id, e, tid, MESOS__V1__TASK_STATE__TASK_FAILED,
                           MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED, message);
    e->state = EXECUTOR_TERMINATED;
    /* The task stays until its TASK_FAILED is acknowledged, then the executor completes. */
}

static struct agent_task *queued_task(struct agent_executor *e)
{
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &e->tasks);
    struct agent_task *t;
    while ((t = cm_strmap_iter_value(&it, NULL)))
        if (t->queued && !cm_task_state_terminal(t->state))
            return t;
    return NULL;
}

static void fetch_done(void *arg, int err, const char *message)
{
    struct agent_executor *e = arg;
    struct cm_agent *a = e->agent;
    e->fetch = NULL;
    struct agent_task *t = queued_task(e);
    if (!t) {
        fetch_aborted(a, e);
        return;
    }
    if (err) {
        agent_exec_launch_failed(a, e, t, message);
        return;
    }
    CM_INFO(MOD, "Fetched the URIs of executor '%s' of framework '%s'", e->id, e->framework->id);
    launch_executor(a, e, t, false, NULL, 0);
}

static void launch_arm(struct cm_agent *a, double delay)
{
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - (time_t)delay) * 1e6)};
    evtimer_add(a->launch_timer, &tv);
}

static void launch_next_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_agent *a = arg;
    struct agent_executor *e = a->launch_head;
    if (!e)
        return;
    if (a->launch_inflight[0]) {
        double waited = cm_clock_now(a->clock) - a->launch_inflight_since;
        if (waited < CM_AGENT_LAUNCH_SPACING_MAX && waited >= 0) {
            launch_arm(a, CM_AGENT_LAUNCH_SPACING_MAX - waited);
            return;
        }
        a->launch_inflight[0] = '\0'; /* a slow child: do not hold the queue for it */
    }
    if (cm_containerizer_busy(a->containerizer, e->container_id)) {
        /* A recovered run whose earlier clone is still being torn down as an orphan: its id
         * frees up when that ends. */
        launch_arm(a, 0.01);
        return;
    }
    agent_state_launch_unqueue(a, e);
    struct agent_task *t = queued_task(e);
    if (!t) {
        fetch_aborted(a, e); /* its tasks were killed while it waited */
    } else {
        if (start_executor(a, e, t)) {
            snprintf(a->launch_inflight, sizeof a->launch_inflight, "%s", e->container_id);
            a->launch_inflight_since = cm_clock_now(a->clock);
        }
    }
    /* The next clone waits for this one's exec report (agent_exec_launched) or the cap. */
    if (a->launch_head)
        launch_arm(a, a->launch_inflight[0] ? CM_AGENT_LAUNCH_SPACING_MAX : 0);
}

void agent_exec_launched(void *arg, const char *container_id, pid_t pid, int rc, const char *why)
{
    (void)pid;
    (void)rc;
    (void)why; /* a failed exec is reported with the executor's exit */
    struct cm_agent *a = arg;
    if (!a->launch_inflight[0] || strcmp(a->launch_inflight, container_id) != 0)
        return;
    a->launch_inflight[0] = '\0';
    if (a->launch_head)
        launch_arm(a, 0);
}

void agent_exec_joined(void *arg, const char *container_id)
{
    /* Its cgroup.procs writes are over: the next clone no longer waits for them. */
    agent_exec_launched(arg, container_id, 0, 0, NULL);
}

void agent_exec_enqueue(struct cm_agent *a, struct agent_executor *e)
{
    if (!a->launch_timer)
        a->launch_timer = evtimer_new(a->base, launch_next_cb, a);
    e->launch_queued = true;
    e->launch_next = NULL;
    if (a->launch_tail)
        a->launch_tail->launch_next = e;
    else
        a->launch_head = e;
    a->launch_tail = e;
    if (!evtimer_pending(a->launch_timer, NULL))
        launch_arm(a, 0);
}

void agent_exec_start_unstarted(struct cm_agent *a, struct agent_executor *e)
{
    CM_INFO(MOD, "Starting executor '%s' of framework '%s': it was recorded but never started",
            e->id, e->framework->id);
    e->state = EXECUTOR_REGISTERING;
    agent_exec_enqueue(a, e);
}

/* --switch_user: who e runs as (CommandInfo.user, else FrameworkInfo.user). Returns 0 with *u
 * filled, 1 when nobody is switched to (the flag is off or no user is named), or an error
 * with why (unknown user, or another user while the agent is not root). */
static int executor_user(struct cm_agent *a, struct agent_executor *e, struct cm_user *u, char *why,
                         size_t whylen)
{
    if (!a->flags->switch_user)
        return 1;
    const char *user = e->info->command->user ? e->info->command->user : e->framework->info->user;
    if (!user || !*user)
        return 1;
    return cm_user_cache_lookup(a->users, user, u, why, whylen);
}

static void start_fetch(struct cm_agent *a, struct agent_executor *e, const struct cm_user *owner)
{
    const Mesos__V1__CommandInfo *c = e->info->command;
    const char *user = c->user ? c->user : e->framework->info->user;
    CM_INFO(MOD, "Fetching %zu URI(s) for executor '%s' of framework '%s' into %s", c->n_uris,
            e->id, e->framework->id, e->directory);
    e->fetch = cm_fetcher_fetch_as(a->fetcher, c->uris, c->n_uris, e->directory, user, owner,
                                   fetch_done, e);
}

/* The fetch was stopped (kill, framework shutdown): the executor ends without a process. */
static void fetch_aborted(struct cm_agent *a, struct agent_executor *e)
{
    e->state = EXECUTOR_TERMINATED;
    struct agent_task *t;
    while ((t = queued_task(e))) {
        t->queued = false;
        agent_updates_generate(a, e->framework->id, e, t->info->task_id->value,
                               MESOS__V1__TASK_STATE__TASK_KILLED,
                               MESOS__V1__TASK_STATUS__REASON__REASON_TASK_KILLED_DURING_LAUNCH,
                               "Task killed while its URIs were being fetched");
    }
    if (e->framework->shutting_down)
        agent_state_complete_all_tasks(a, e);
    agent_state_maybe_remove_executor(a, e);
}

struct agent_executor *agent_exec_new(struct cm_agent *a, struct agent_framework *f, const char *id)
{
    struct agent_executor *e = cm_xcalloc(1, sizeof *e);
    e->agent = a;
    e->framework = f;
    e->id = cm_xstrdup(id);
    e->state = EXECUTOR_REGISTERING;
    e->failure_reason = MESOS__V1__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED;
    e->shutdown_grace = a->flags->executor_shutdown_grace_period;
    cm_strmap_init(&e->tasks);
    cm_ring_init(&e->completed_tasks, CM_AGENT_MAX_COMPLETED_TASKS, agent_state_task_free);
    cm_resources_init(&e->resources);
    cm_uuid_string(e->container_id);
    return e;
}

static void run_task(struct cm_agent *a, const Mesos__V1__FrameworkInfo *fi,
                     const Mesos__V1__TaskInfo *task)
{
    const char *why = NULL;
    const char *fid = fi->id && fi->id->value ? fi->id->value : "";
    const char *tid = task->task_id->value;
    char whybuf[1024];
    if (cm_id_validate(fid, &why) != 0 || cm_id_validate(tid, &why) != 0) {
        snprintf(whybuf, sizeof whybuf, "Invalid framework or task id: %s", why);
        agent_updates_generate(a, fid, NULL, tid, MESOS__V1__TASK_STATE__TASK_ERROR,
                               MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID, whybuf);
        return;
    }
    /* Never pretend: a container the agent cannot build is not run on the host instead. */
    bool docker_task = a->docker && task->container &&
                       task->container->type == MESOS__V1__CONTAINER_INFO__TYPE__DOCKER;
    int crc = 0;
    if (docker_task)
        crc = cm_docker_check_task(task, whybuf, sizeof whybuf);
    else if (!a->mesos_containerizer)
        crc = cm_fail(CM_EINVAL, whybuf, sizeof whybuf,
                      "The Mesos containerizer is not enabled on this agent "
                      "(--containerizers=%s); only DOCKER tasks run here",
                      a->flags->containerizers);
    if (crc != 0) {
        CM_WARN(MOD, "Task '%s' of framework '%s': %s", tid, fid, whybuf);
        a->metrics.container_launch_errors++;
        agent_updates_generate(a, fid, NULL, tid, MESOS__V1__TASK_STATE__TASK_FAILED,
                               MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED,
                               whybuf);
        return;
    }
    if ((!docker_task &&
         cm_container_info_check_images(task->container, "task", a->provisioner != NULL, whybuf,
                                        sizeof whybuf) != 0) ||
        (task->executor && cm_container_info_check(task->executor->container, "executor", whybuf,
                                                   sizeof whybuf) != 0)) {
        CM_WARN(MOD, "Task '%s' of framework '%s': %s", tid, fid, whybuf);
        a->metrics.container_launch_errors++;
        agent_updates_generate(a, fid, NULL, tid, MESOS__V1__TASK_STATE__TASK_FAILED,
                               MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED,
                               whybuf);
        return;
    }
    if (!task->command == !task->executor) {
        agent_updates_generate(a, fid, NULL, tid, MESOS__V1__TASK_STATE__TASK_ERROR,
                               MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID,
                               task->executor ? "Task has both 'command' and 'executor'"
                                              : "Task has neither 'command' nor 'executor'");
        return;
    }
    struct agent_framework *f = cm_strmap_get(&a->frameworks, fid);
    if (f && cm_strmap_get(&f->task_index, tid)) {
        /* The master re-sends a launch until we acknowledge it (a link that died under the
         * RUN_TASK or our ack): the task is ours already, so only the ack is repeated. A task
         * that completed is not matched: its terminal update told the master it is done, and
         * a framework may reuse the id of a finished task. */
        CM_INFO(MOD,
                "Task '%s' of framework '%s' is already known; acknowledging the re-sent "
                "RUN_TASK again",
                tid, fid);
        return;
    }
    if (task->executor) {
        agent_exec_run_custom_task(a, fi, task);
        return;
    }
    if (f && cm_strmap_get(&f->executors, tid)) {
        agent_updates_generate(a, fid, NULL, tid, MESOS__V1__TASK_STATE__TASK_ERROR,
                               MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID,
                               "An executor with the task's id is already running");
        return;
    }
    struct cm_resources task_res;
    cm_resources_init(&task_res);
    if (cm_resources_from_proto(&task_res, task->resources, task->n_resources, whybuf,
                                sizeof whybuf) != 0) {
        cm_resources_cleanup(&task_res);
        agent_updates_generate(a, fid, NULL, tid, MESOS__V1__TASK_STATE__TASK_ERROR,
                               MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID, whybuf);
        return;
    }
    if (!f) {
        f = agent_state_framework_new(a, fid, fi);
    } else {
        agent_pb_free(f->info);
        f->info = cm_pb_dup(&fi->base);
    }

    const char *role = task_allocation_role(task, fi);
    struct agent_executor *e = agent_exec_new(a, f, tid);

    /* The overhead goes to the container, not against the offer (deliberate overcommit). */
    struct cm_resources overhead;
    cm_resources_init(&overhead);
    char otext[64];
    snprintf(otext, sizeof otext, "cpus:%.1f;mem:%.0f", EXECUTOR_OVERHEAD_CPUS,
             EXECUTOR_OVERHEAD_MEM);
    cm_resources_parse(&overhead, otext, "*", NULL, 0);
    cm_resources_add(&e->resources, &task_res);
    cm_resources_add(&e->resources, &overhead);
    e->info = command_executor_info(a, task, fid, &e->resources, role);
    if (docker_task) {
        cm_docker_executor_command(a->docker, e->container_id, e->info->command);
        free(e->info->name);
        e->info->name = cm_xasprintf("Docker Executor (Task: %s)", tid);
    }
    cm_resources_cleanup(&overhead);
    cm_resources_cleanup(&task_res);

    struct agent_task *t = cm_xcalloc(1, sizeof *t);
    t->executor = e;
    t->info = cm_pb_dup(&task->base);
    t->state = MESOS__V1__TASK_STATE__TASK_STAGING;
    t->queued = true;
    cm_strmap_put(&e->tasks, tid, t);
    cm_strmap_put(&f->executors, e->id, e);
    cm_strmap_put(&f->task_index, tid, e);
    if (agent_ckpt_enabled(f))
        agent_ckpt_launch(a, e, t);

    agent_state_sandbox_keep(a, fid, e->id);
    /* The sandbox is named now and made by the launch queue: creating its directories costs
     * the file system's inode allocation, which a batch of RUN_TASKs must not pay in one go. */
    e->directory =
        cm_paths_sandbox_dir(a->flags->work_dir, a->agent_id, fid, e->id, e->container_id, &why);
    if (!e->directory) {
        snprintf(whybuf, sizeof whybuf, "Failed to create the sandbox: %s", why);
        agent_exec_launch_failed(a, e, t, whybuf);
        return;
    }
    agent_exec_enqueue(a, e);
}

/* The launch queue's step for e: starts the executor, whose child makes the sandbox; or, when
 * there are URIs, makes the sandbox and fetches them (the executor starts when they are in).
 * Returns true when a clone happened. */
/* Who waits for an image pull: found again by ids, since the executor may be gone by then. */
struct image_wait {
    struct cm_agent *a;
    char *fid, *eid;
    char container_id[37];
};

static void image_wait_free(void *arg)
{
    struct image_wait *w = arg;
    free(w->fid);
    free(w->eid);
    free(w);
}

static void image_pulled(void *arg, int rc, const char *why)
{
    struct image_wait *w = arg;
    struct cm_agent *a = w->a;
    struct agent_framework *f = cm_strmap_get(&a->frameworks, w->fid);
    struct agent_executor *e = f ? cm_strmap_get(&f->executors, w->eid) : NULL;
    if (!e || strcmp(e->container_id, w->container_id) != 0 || e->state != EXECUTOR_REGISTERING)
        return; /* killed or shut down while the image was pulled */
    struct agent_task *t = queued_task(e);
    if (!t)
        return;
    if (rc) {
        char msg[1200];
        snprintf(msg, sizeof msg, "Failed to launch container: %s", why);
        agent_exec_launch_failed(a, e, t, msg);
        return;
    }
    start_executor(a, e, t);
}

/* Container images: true when e must wait for its image (pulling, or it failed and t with
 * it); false when the image is in the store or there is none. */
static bool image_pending(struct cm_agent *a, struct agent_executor *e, struct agent_task *t)
{
    const char *image = cm_provisioner_image_name(t->info->container);
    if (!image || !a->provisioner)
        return false;
    struct image_wait *w = cm_xcalloc(1, sizeof *w);
    w->a = a;
    w->fid = cm_xstrdup(e->framework->id);
    w->eid = cm_xstrdup(e->id);
    memcpy(w->container_id, e->container_id, sizeof w->container_id);
    char why[512] = "", msg[600];
    int rc = cm_provisioner_pull(a->provisioner, image, image_pulled, w, image_wait_free, why,
                                 sizeof why);
    if (rc == 1)
        return false;
    if (rc < 0) {
        snprintf(msg, sizeof msg, "Failed to launch container: %s", why);
        agent_exec_launch_failed(a, e, t, msg);
    }
    return true;
}

static bool start_executor(struct cm_agent *a, struct agent_executor *e, struct agent_task *t)
{
    if (image_pending(a, e, t))
        return false;
    struct cm_user user;
    char uwhy[256];
    int urc = executor_user(a, e, &user, uwhy, sizeof uwhy);
    if (urc < 0) {
        char msg[320];
        snprintf(msg, sizeof msg, "Failed to launch the executor: %s", uwhy);
        agent_exec_launch_failed(a, e, t, msg);
        return false;
    }
    if (e->info->command->n_uris == 0 || !a->fetcher) {
        agent_state_sandbox_attach(a, e);
        launch_executor(a, e, t, true, &user, urc); /* takes the user over */
        return e->pid > 0;
    }
    const char *why = NULL;
    char whybuf[256];
    char *dir = NULL;
    int rc = cm_paths_create_sandbox(a->flags->work_dir, a->agent_id, e->framework->id, e->id,
                                     e->container_id, &dir, &why);
    if (rc != 0) {
        snprintf(whybuf, sizeof whybuf, "Failed to create the sandbox: %s",
                 rc == CM_EINVAL ? why : cm_strerror(rc));
        agent_exec_launch_failed(a, e, t, whybuf);
        if (urc == 0)
            cm_user_cleanup(&user);
        return false;
    }
    free(e->directory);
    e->directory = dir;
    if (urc == 0 && chown(dir, user.uid, user.gid) != 0) {
        snprintf(whybuf, sizeof whybuf, "Failed to chown the sandbox to user '%s': %s", user.name,
                 strerror(errno));
        cm_user_cleanup(&user);
        agent_exec_launch_failed(a, e, t, whybuf);
        return false;
    }
    agent_state_sandbox_attach(a, e);
    /* The task stays STAGING while its URIs are fetched; the executor starts after. */
    start_fetch(a, e, urc == 0 ? &user : NULL);
    if (urc == 0)
        cm_user_cleanup(&user);
    return false;
}

/* Every RUN_TASK is acknowledged once it is safe with us: recorded (and for a checkpointing
 * framework checkpointed) before any process starts, or answered with a terminal update, or
 * recognised as a re-send of a task we hold. */
void agent_exec_run_task(struct cm_agent *a, const Mesos__V1__FrameworkInfo *fi,
                         const Mesos__V1__TaskInfo *task)
{
    run_task(a, fi, task);
    agent_link_launch_ack(a, fi->id && fi->id->value ? fi->id->value : "", task->task_id->value);
}

char **agent_exec_command_argv(const Mesos__V1__CommandInfo *c)
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

/* Starts the executor of e in its sandbox; a failure fails t. make_sandbox: the sandbox does
 * not exist yet and the executor's child makes it (and points runs/latest at it). known: the
 * user executor_user found just before (known_rc its result; with 0 the user is taken over
 * and cleaned up here), so the password and group files are not read twice per task; NULL:
 * look it up here. */
static void launch_executor(struct cm_agent *a, struct agent_executor *e, struct agent_task *t,
                            bool make_sandbox, struct cm_user *known, int known_rc)
{
    const Mesos__V1__FrameworkInfo *fi = e->framework->info;
    const char *fid = e->framework->id;
    const char *tid = t->info->task_id->value;
    char whybuf[512];
    int rc;
    char **env = NULL;
    char *out_path = NULL, *err_path = NULL;
    struct cm_executor_env_params ep = {
        .framework_id = fid,
        .executor_id = e->id,
        .agent_id = a->agent_id,
        .agent_ip = a->ip,
        .agent_port = a->port,
        .directory = e->directory,
        .sandbox = e->directory,
        .checkpoint = fi->has_checkpoint && fi->checkpoint,
        .shutdown_grace_period = e->shutdown_grace,
        .recovery_timeout = a->flags->recovery_timeout,
        .subscription_backoff_max = a->flags->executor_reregistration_timeout,
        .env_flag = a->executor_env,
        .inherited = environ,
        .custom = !agent_exec_is_command(e),
        .command_env = agent_exec_is_command(e) ? NULL : e->info->command->environment,
    };
    char *token = agent_auth_executor_token(a, e);
    ep.auth_token = token;
    env = cm_executor_env_build(&ep);
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    out_path = cm_xasprintf("%s/stdout", e->directory);
    err_path = cm_xasprintf("%s/stderr", e->directory);
    char **argv = agent_exec_command_argv(e->info->command);
    struct cm_launch_spec spec = {
        .container_id = e->container_id,
        .argv = argv,
        .envp = env,
        .cwd = e->directory,
        .stdout_path = out_path,
        .stderr_path = err_path,
        .resources = &e->resources,
    };
    char *exec_dir = NULL, *link = NULL, *link_tmp = NULL;
    if (make_sandbox) {
        const char *pwhy = NULL;
        exec_dir = cm_paths_executor_dir(a->flags->work_dir, a->agent_id, fid, e->id, &pwhy);
        spec.create_cwd = true;
        if (exec_dir) {
            link = cm_xasprintf("%s/runs/latest", exec_dir);
            link_tmp = cm_xasprintf("%s/runs/.latest.tmp", exec_dir);
            spec.link = link;
            spec.link_tmp = link_tmp;
            spec.link_target = e->container_id;
        }
    }
    struct cm_user user;
    char uwhy[256] = "";
    int urc = known ? known_rc : executor_user(a, e, &user, uwhy, sizeof uwhy);
    if (known && urc == 0)
        user = *known;
    if (urc < 0) {
        free(exec_dir);
        free(link);
        free(link_tmp);
        snprintf(whybuf, sizeof whybuf, "Failed to launch the executor: %s", uwhy);
        goto fail;
    }
    if (urc == 0)
        spec.user = &user;
    struct cm_provisioner_launch *image = NULL;
    if (a->provisioner && cm_provisioner_image_name(t->info->container)) {
        char iwhy[400] = "";
        if (urc == 0 && user.uid != 0) {
            /* The executor enters the rootfs for its task, which needs root. */
            snprintf(iwhy, sizeof iwhy,
                     "a container image cannot run as user '%s' (--switch_user): cmesos runs "
                     "image tasks as root",
                     user.name);
            rc = CM_EINVAL;
        } else {
            rc = cm_provisioner_prepare(a->provisioner, t->info->container, t->info->command,
                                        e->directory, &image, iwhy, sizeof iwhy);
        }
        if (rc != 0) {
            if (urc == 0)
                cm_user_cleanup(&user);
            free(exec_dir);
            free(link);
            free(link_tmp);
            snprintf(whybuf, sizeof whybuf, "Failed to launch container: %s", iwhy);
            goto fail;
        }
        env = cm_provisioner_env(image, env);
        spec.envp = env;
        spec.rootfs = image->rootfs;
    }
    char lwhy[300] = "";
    rc = cm_containerizer_launch(a->containerizer, &spec, &e->pid, lwhy, sizeof lwhy);
    cm_provisioner_launch_free(image);
    if (urc == 0)
        cm_user_cleanup(&user);
    free(exec_dir);
    free(link);
    free(link_tmp);
    if (rc != 0) {
        snprintf(whybuf, sizeof whybuf, "Failed to launch the executor: %s",
                 *lwhy ? lwhy : cm_strerror(rc));
        goto fail;
    }
    free(argv);
    cm_executor_env_free(env);
    free(out_path);
    free(err_path);
    char key[32];
    snprintf(key, sizeof key, "%d", (int)e->pid);
    cm_strmap_put(&a->executors_by_pid, key, e);
    if (agent_ckpt_enabled(e->framework))
        agent_ckpt_pid(a, e);
    e->registration_timer = evtimer_new(a->base, registration_timeout_cb, e);
    double rt = a->flags->executor_registration_timeout;
    struct timeval tv = {(time_t)rt, (suseconds_t)((rt - (time_t)rt) * 1e6)};
    evtimer_add(e->registration_timer, &tv);
    CM_INFO(MOD, "Launched executor '%s' of framework '%s' (pid %d) in container %s at %s", e->id,
            fid, (int)e->pid, e->container_id, e->directory);
    return;

fail:
    CM_ERROR(MOD, "Task '%s' of framework '%s': %s", tid, fid, whybuf);
    a->metrics.container_launch_errors++;
    free(argv);
    cm_executor_env_free(env);
    free(out_path);
    free(err_path);
    t->queued = false;
    agent_updates_generate(a, fid, e, tid, MESOS__V1__TASK_STATE__TASK_FAILED,
                           MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED, whybuf);
    e->state = EXECUTOR_TERMINATED;
    /* The task stays until its TASK_FAILED is acknowledged, then the executor completes. */
}

static bool has_live_task(struct agent_executor *e)
{
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &e->tasks);
    struct agent_task *t;
    while ((t = cm_strmap_iter_value(&it, NULL)))
        if (!cm_task_state_terminal(t->state))
            return true;
    return false;
}

void agent_exec_kill_task(struct cm_agent *a, const Cmesos__Internal__AgentEvent__KillTask *k)
{
    const char *fid = k->framework_id->value;
    const char *tid = k->task_id->value;
    struct agent_framework *f = cm_strmap_get(&a->frameworks, fid);
    struct agent_executor *e = f ? cm_strmap_get(&f->task_index, tid) : NULL;
    struct agent_task *t = e ? cm_strmap_get(&e->tasks, tid) : NULL;
    if (!t) {
        agent_updates_generate(a, fid, NULL, tid, MESOS__V1__TASK_STATE__TASK_LOST,
                               MESOS__V1__TASK_STATUS__REASON__REASON_TASK_UNKNOWN,
                               "Task unknown to the agent");
        return;
    }
    if (cm_task_state_terminal(t->state)) {
        CM_INFO(MOD, "Ignoring kill of terminal task '%s' of framework '%s'", tid, fid);
        return;
    }
    if (t->queued) {
        t->queued = false;
        agent_updates_generate(a, fid, e, tid, MESOS__V1__TASK_STATE__TASK_KILLED,
                               MESOS__V1__TASK_STATUS__REASON__REASON_TASK_KILLED_DURING_LAUNCH,
                               "Task killed before it was launched");
        /* A command executor has nothing else to run; a custom one is shut down when it has
         * no other live task (Mesos does the same for an executor that never subscribed). */
        if (agent_exec_is_command(e) || !has_live_task(e))
            agent_exec_shutdown(a, e);
        return;
    }
    if (!agent_xapi_connected(e)) {
        CM_WARN(MOD, "Cannot kill task '%s': executor '%s' is not connected", tid, e->id);
        return;
    }
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Kill kill = MESOS__V1__EXECUTOR__EVENT__KILL__INIT;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__KILL;
    kill.task_id = k->task_id;
    kill.kill_policy = k->kill_policy ? k->kill_policy : t->info->kill_policy;
    ev.kill = &kill;
    CM_INFO(MOD, "Asking executor '%s' to kill task '%s'", e->id, tid);
    agent_xapi_send(e, &ev);
}

void agent_exec_shutdown_framework(struct cm_agent *a, const char *fid)
{
    struct agent_framework *f = cm_strmap_get(&a->frameworks, fid);
    if (!f)
        return;
    CM_INFO(MOD, "Shutting down framework '%s'", fid);
    f->shutting_down = true;
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &f->executors);
    struct agent_executor *e;
    while ((e = cm_strmap_iter_value(&it, NULL))) {
        if (e->state == EXECUTOR_TERMINATED) {
            /* Already exited; only unacknowledged updates kept it here. */
            agent_state_complete_all_tasks(a, e);
            agent_state_maybe_remove_executor(a, e); /* may free f when it was the last executor */
            if (!cm_strmap_get(&a->frameworks, fid))
                return;
        } else {
            agent_exec_shutdown(a, e);
        }
    }
}
