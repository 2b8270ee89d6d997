/*
 * agent_exec_custom.c: tasks that run on an executor other than the agent's command executor —
 * a framework's custom executor (RUN_TASK with TaskInfo.executor) and the DEFAULT executor of a
 * task group (RUN_TASK_GROUP). Contract in agent_executors.h; the launch queue, the launch
 * itself, kills and exits are shared with the command executor in agent_executors.c.
 *
 * As in Mesos, the first task naming an executor id starts it; later ones join it while it
 * runs (LAUNCH / LAUNCH_GROUP at once when it is subscribed, else on its SUBSCRIBE), each
 * adding its resources to the container's limits; a task for an executor that is shutting down
 * or gone is dropped with REASON_EXECUTOR_TERMINATED.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_ckpt.h"
#include "framework_info.h"
#include "agent_executors.h"
#include "agent_link.h"
#include "agent_state.h"
#include "agent_updates.h"
#include "agent_xapi.h"
#include "ids.h"
#include "log.h"
#include "paths.h"

#define MOD "agent"

bool agent_exec_is_command(const struct agent_executor *e)
{
    const Mesos__V1__ExecutorInfo *i = e->info;
    /* The built-in executors (mesos-executor, and mesos-docker-executor for DOCKER tasks) are
     * named by the agent, and the name survives in checkpoints; they take one task by LAUNCH. */
    return i && i->has_type && i->type == MESOS__V1__EXECUTOR_INFO__TYPE__DEFAULT && i->name &&
           (strncmp(i->name, "Command Executor", 16) == 0 ||
            strncmp(i->name, "Docker Executor", 15) == 0);
}

static bool partition_aware(const Mesos__V1__FrameworkInfo *fi)
{
    return cm_framework_has_capability(
        fi, MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE);
}

static void fail_all(struct cm_agent *a, const char *fid, const Mesos__V1__TaskInfo *const *tasks,
                     size_t n, int state, int reason, const char *why)
{
    CM_WARN(MOD, "Refusing %zu task(s) of framework '%s': %s", n, fid, why);
    for (size_t i = 0; i < n; i++)
        agent_updates_generate(a, fid, NULL, tasks[i]->task_id->value, state, reason, why);
}

/* Runs tasks[0..n) on the executor ei (group: one LAUNCH_GROUP; else n is 1). The executor's
 * CommandInfo is set (validated by the caller). Failures fail every task. */
static void run_on_executor(struct cm_agent *a, const Mesos__V1__FrameworkInfo *fi,
                            const Mesos__V1__ExecutorInfo *ei,
                            const Mesos__V1__TaskInfo *const *tasks, size_t n, bool group)
{
    const char *fid = fi->id->value;
    const int invalid = group ? MESOS__V1__TASK_STATUS__REASON__REASON_TASK_GROUP_INVALID
                              : MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID;
    const char *why = NULL;
    char whybuf[512];
    if (!ei->executor_id || cm_id_validate(ei->executor_id->value, &why) != 0) {
        snprintf(whybuf, sizeof whybuf, "Invalid executor id: %s", why ? why : "missing");
        fail_all(a, fid, tasks, n, MESOS__V1__TASK_STATE__TASK_ERROR, invalid, whybuf);
        return;
    }
    const char *eid = ei->executor_id->value;
    struct cm_resources exec_res, task_res;
    cm_resources_init(&exec_res);
    cm_resources_init(&task_res);
    int rc =
        cm_resources_from_proto(&exec_res, ei->resources, ei->n_resources, whybuf, sizeof whybuf);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = cm_resources_from_proto(&task_res, tasks[i]->resources, tasks[i]->n_resources, whybuf,
                                     sizeof whybuf);
    struct agent_framework *f = cm_strmap_get(&a->frameworks, fid);
    struct agent_executor *e = f ? cm_strmap_get(&f->executors, eid) : NULL;
    int state = MESOS__V1__TASK_STATE__TASK_ERROR, reason = invalid;
    if (rc == 0 && e && (e->state == EXECUTOR_TERMINATING || e->state == EXECUTOR_TERMINATED)) {
        rc = -1;
        state = partition_aware(fi) ? MESOS__V1__TASK_STATE__TASK_DROPPED
                                    : MESOS__V1__TASK_STATE__TASK_LOST;
        reason = MESOS__V1__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED;
        snprintf(whybuf, sizeof whybuf, "Executor '%s' is %s", eid,
                 e->state == EXECUTOR_TERMINATING ? "terminating" : "terminated");
    } else if (rc == 0 && e && agent_exec_is_command(e)) {
        rc = -1;
        snprintf(whybuf, sizeof whybuf,
                 "The executor id '%s' names the command executor of another task", eid);
    } else if (rc == 0 && e &&
               group != (e->info->has_type &&
                         e->info->type == MESOS__V1__EXECUTOR_INFO__TYPE__DEFAULT)) {
        rc = -1;
        snprintf(whybuf, sizeof whybuf, "Executor '%s' is not of the type the task needs", eid);
    }
    if (rc != 0) {
        cm_resources_cleanup(&exec_res);
        cm_resources_cleanup(&task_res);
        fail_all(a, fid, tasks, n, state, reason, whybuf);
        return;
    }
    if (!f) {
        f = agent_state_framework_new(a, fid, fi);
    } else {
        agent_pb_free(f->info);
        f->info = cm_pb_dup(&fi->base);
    }
    bool fresh = e == NULL;
    if (fresh) {
        e = agent_exec_new(a, f, eid);
        e->info = cm_pb_dup(&ei->base);
        if (!e->info->framework_id) {
            e->info->framework_id = cm_xcalloc(1, sizeof *e->info->framework_id);
            mesos__v1__framework_id__init(e->info->framework_id);
            e->info->framework_id->value = cm_xstrdup(fid);
        }
        cm_resources_add(&e->resources, &exec_res);
        cm_strmap_put(&f->executors, e->id, e);
    }
    cm_resources_add(&e->resources, &task_res);
    cm_resources_cleanup(&task_res);
    cm_resources_cleanup(&exec_res);

    unsigned g = group ? ++e->groups : 0;
    for (size_t i = 0; i < n; i++) {
        struct agent_task *t = cm_xcalloc(1, sizeof *t);
        t->executor = e;
        t->info = cm_pb_dup(&tasks[i]->base);
        t->state = MESOS__V1__TASK_STATE__TASK_STAGING;
        t->queued = true;
        t->group = g;
        cm_strmap_put(&e->tasks, t->info->task_id->value, t);
        cm_strmap_put(&f->task_index, t->info->task_id->value, e);
        if (agent_ckpt_enabled(f))
            agent_ckpt_launch(a, e, t);
    }
    if (!fresh) {
        CM_INFO(MOD, "%zu task(s) of framework '%s' join executor '%s'", n, fid, eid);
        if (e->pid > 0) {
            int urc = cm_containerizer_update(a->containerizer, e->container_id, &e->resources);
            if (urc != 0)
                CM_WARN(MOD, "Failed to update the limits of executor '%s': %s", eid,
                        cm_strerror(urc));
        }
        if (e->state == EXECUTOR_RUNNING && agent_xapi_connected(e))
            agent_xapi_send_launches(e);
        return; /* else queued: sent when the executor subscribes */
    }
    agent_state_sandbox_keep(a, fid, e->id);
    e->directory =
        cm_paths_sandbox_dir(a->flags->work_dir, a->agent_id, fid, e->id, e->container_id, &why);
    if (!e->directory) {
        snprintf(whybuf, sizeof whybuf, "Failed to create the sandbox: %s", why);
        struct cm_strmap_iter it;
        cm_strmap_iter_init(&it, &e->tasks);
        struct agent_task *t;
        while ((t = cm_strmap_iter_value(&it, NULL)))
            if (t->queued)
                agent_exec_launch_failed(a, e, t, whybuf);
        return;
    }
    CM_INFO(MOD, "Starting %s executor '%s' of framework '%s' for %zu task(s)",
            group ? "the default" : "custom", eid, fid, n);
    agent_exec_enqueue(a, e);
}

void agent_exec_run_custom_task(struct cm_agent *a, const Mesos__V1__FrameworkInfo *fi,
                                const Mesos__V1__TaskInfo *task)
{
    const Mesos__V1__ExecutorInfo *ei = task->executor;
    if (!ei->command || (!ei->command->value && (!ei->command->has_shell || ei->command->shell))) {
        agent_updates_generate(a, fi->id->value, NULL, task->task_id->value,
                               MESOS__V1__TASK_STATE__TASK_ERROR,
                               MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID,
                               "'ExecutorInfo.command' with a value is required");
        return;
    }
    run_on_executor(a, fi, ei, &task, 1, false);
}

/* The DEFAULT executor's ExecutorInfo as the agent runs it: the framework's, with the command
 * set to mesos-default-executor from --launcher_dir (as Mesos's agent fills it in). */
static Mesos__V1__ExecutorInfo *default_executor_info(struct cm_agent *a,
                                                      const Mesos__V1__ExecutorInfo *ei)
{
    Mesos__V1__ExecutorInfo *info = cm_pb_dup(&ei->base);
    Mesos__V1__CommandInfo *cmd = cm_xcalloc(1, sizeof *cmd);
    mesos__v1__command_info__init(cmd);
    cmd->value = cm_xasprintf("%s/mesos-default-executor", a->launcher_dir);
    cmd->has_shell = 1;
    cmd->shell = 0;
    cmd->n_arguments = 2;
    cmd->arguments = cm_xcalloc(2, sizeof *cmd->arguments);
    cmd->arguments[0] = cm_xstrdup("mesos-default-executor");
    cmd->arguments[1] = cm_xasprintf("--launcher_dir=%s", a->launcher_dir);
    agent_pb_free(info->command);
    info->command = cmd;
    return info;
}

void agent_exec_run_task_group(struct cm_agent *a,
                               const Cmesos__Internal__AgentEvent__RunTaskGroup *rg)
{
    const Mesos__V1__FrameworkInfo *fi = rg->framework_info;
    const char *fid = fi->id && fi->id->value ? fi->id->value : "";
    const Mesos__V1__TaskGroupInfo *g = rg->task_group;
    const char *why = NULL;
    char whybuf[512];
    /* Tasks the agent already holds are re-sends (acknowledged again only). */
    struct agent_framework *f = cm_strmap_get(&a->frameworks, fid);
    const Mesos__V1__TaskInfo **todo = cm_xcalloc(g->n_tasks + 1, sizeof *todo);
    size_t n = 0;
    int bad = 0;
    whybuf[0] = '\0';
    if (cm_id_validate(fid, &why) != 0) {
        bad = 1;
        snprintf(whybuf, sizeof whybuf, "Invalid framework id: %s", why);
    }
    for (size_t i = 0; i < g->n_tasks; i++) {
        const Mesos__V1__TaskInfo *t = g->tasks[i];
        if (!bad && cm_id_validate(t->task_id->value, &why) != 0) {
            bad = 1;
            snprintf(whybuf, sizeof whybuf, "Invalid task id: %s", why);
        } else if (!bad && (t->executor || !t->command)) {
            bad = 1;
            snprintf(whybuf, sizeof whybuf,
                     "Task '%s' of a task group needs 'command' and no 'executor'",
                     t->task_id->value);
        }
        if (f && cm_strmap_get(&f->task_index, t->task_id->value))
            continue;
        todo[n++] = t;
    }
    if (bad || !rg->executor->has_type ||
        rg->executor->type != MESOS__V1__EXECUTOR_INFO__TYPE__DEFAULT) {
        if (!bad)
            snprintf(whybuf, sizeof whybuf, "A task group needs a DEFAULT executor");
        fail_all(a, fid, todo, n, MESOS__V1__TASK_STATE__TASK_ERROR,
                 MESOS__V1__TASK_STATUS__REASON__REASON_TASK_GROUP_INVALID, whybuf);
    } else if (n > 0) {
        Mesos__V1__ExecutorInfo *info = default_executor_info(a, rg->executor);
        run_on_executor(a, fi, info, todo, n, true);
        agent_pb_free(info);
    }
    free(todo);
    for (size_t i = 0; i < g->n_tasks; i++)
        agent_link_launch_ack(a, fid, g->tasks[i]->task_id->value);
}
