/*
 * agent_state.c: the frameworks, executors and tasks of the agent core (contract in agent_state.h).
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_state.h"

#include "agent_internal.h"
#include "agent_ckpt.h"
#include "agent_executors.h"
#include "agent_xapi.h"
#include "log.h"
#include "paths.h"

#define MOD "agent"

void agent_state_task_free(void *p)
{
    struct agent_task *t = p;
    if (!t)
        return;
    agent_pb_free(t->info);
    for (size_t i = 0; i < t->nstatuses; i++)
        agent_pb_free(t->statuses[i]);
    free(t->statuses);
    free(t);
}

/* Appends a copy of st to the task's history, bounded by CM_AGENT_MAX_STATUSES_PER_TASK: the first
 * (STARTING) and the newest ones are kept. */
void agent_state_task_take_status(struct agent_task *t, Mesos__V1__TaskStatus *st)
{
    if (t->nstatuses == CM_AGENT_MAX_STATUSES_PER_TASK) {
        agent_pb_free(t->statuses[1]);
        memmove(&t->statuses[1], &t->statuses[2], (t->nstatuses - 2) * sizeof *t->statuses);
        t->nstatuses--;
    }
    /* Room for 4 at first (a task's usual STARTING, RUNNING and terminal), then doubling. */
    size_t n = t->nstatuses;
    if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
        t->statuses = realloc(t->statuses, (n ? 2 * n : 4) * sizeof *t->statuses);
        if (!t->statuses)
            abort();
    }
    t->statuses[t->nstatuses++] = st;
}

void agent_state_task_add_status(struct agent_task *t, const Mesos__V1__TaskStatus *st)
{
    agent_state_task_take_status(t, cm_pb_dup(&st->base));
}

static char *sandbox_virtual(const struct agent_executor *e, const char *run)
{
    return cm_xasprintf("/frameworks/%s/executors/%s/runs/%s", e->framework->id, e->id, run);
}

/* The sandbox is browsable under its real path and both virtual paths (docs/wire-protocol.md §4.6).
 */
void agent_state_sandbox_attach(struct cm_agent *a, struct agent_executor *e)
{
    if (!a->files || !e->directory)
        return;
    char *v1 = sandbox_virtual(e, e->container_id), *v2 = sandbox_virtual(e, "latest");
    cm_files_attach(a->files, e->directory, e->directory);
    cm_files_attach(a->files, e->directory, v1);
    cm_files_attach(a->files, e->directory, v2);
    free(v1);
    free(v2);
}

/* Only the attachments that still point at this run: a newer run of the same executor id
 * owns "latest" now. */
static void sandbox_detach(struct cm_agent *a, struct agent_executor *e)
{
    if (!a || !a->files || !e->directory || !e->framework)
        return;
    char *v1 = sandbox_virtual(e, e->container_id), *v2 = sandbox_virtual(e, "latest");
    cm_files_detach(a->files, e->directory, e->directory);
    cm_files_detach(a->files, v1, e->directory);
    cm_files_detach(a->files, v2, e->directory);
    free(v1);
    free(v2);
}

/* The whole executor directory (every run and runs/latest) goes after --gc_delay. */
void agent_state_sandbox_gc(struct cm_agent *a, struct agent_executor *e)
{
    if (!a->gc || !e->directory || !a->agent_id)
        return;
    char *dir =
        cm_paths_executor_dir(a->flags->work_dir, a->agent_id, e->framework->id, e->id, NULL);
    if (dir)
        cm_gc_schedule(a->gc, a->flags->gc_delay, dir);
    free(dir);
}

/* A new run of an executor id whose directory is waiting for GC keeps it. */
void agent_state_sandbox_keep(struct cm_agent *a, const char *fid, const char *eid)
{
    if (!a->gc || !a->agent_id)
        return;
    char *dir = cm_paths_executor_dir(a->flags->work_dir, a->agent_id, fid, eid, NULL);
    if (dir)
        cm_gc_unschedule(a->gc, dir);
    free(dir);
}

void agent_state_launch_unqueue(struct cm_agent *a, struct agent_executor *e)
{
    if (!e->launch_queued)
        return;
    struct agent_executor *prev = NULL;
    for (struct agent_executor *q = a->launch_head; q; prev = q, q = q->launch_next) {
        if (q != e)
            continue;
        if (prev)
            prev->launch_next = e->launch_next;
        else
            a->launch_head = e->launch_next;
        if (a->launch_tail == e)
            a->launch_tail = prev;
        break;
    }
    e->launch_queued = false;
    e->launch_next = NULL;
}

void agent_state_executor_free(void *p)
{
    struct agent_executor *e = p;
    if (!e)
        return;
    agent_xapi_disconnect(e);
    if (e->registration_timer)
        event_free(e->registration_timer);
    if (e->shutdown_timer)
        event_free(e->shutdown_timer);
    if (e->pidfd_event) {
        event_free(e->pidfd_event);
        close(e->pidfd);
    }
    cm_fetch_cancel(e->fetch);
    agent_state_launch_unqueue(e->agent, e);
    sandbox_detach(e->agent, e);
    cm_strmap_cleanup_values(&e->tasks, agent_state_task_free);
    cm_ring_cleanup(&e->completed_tasks);
    cm_resources_cleanup(&e->resources);
    agent_pb_free(e->info);
    free(e->id);
    free(e->directory);
    free(e->failure_message);
    free(e);
}

void agent_state_framework_free(void *p)
{
    struct agent_framework *f = p;
    if (!f)
        return;
    cm_strmap_cleanup_values(&f->executors, agent_state_executor_free);
    cm_strmap_cleanup(&f->task_index);
    cm_ring_cleanup(&f->completed_executors);
    agent_pb_free(f->info);
    free(f->id);
    free(f);
}

struct agent_framework *agent_state_framework_new(struct cm_agent *a, const char *fid,
                                                  const Mesos__V1__FrameworkInfo *fi)
{
    struct agent_framework *f = cm_xcalloc(1, sizeof *f);
    f->id = cm_xstrdup(fid);
    f->info = cm_pb_dup(&fi->base);
    cm_strmap_init(&f->executors);
    cm_strmap_init(&f->task_index);
    cm_ring_init(&f->completed_executors, CM_AGENT_MAX_COMPLETED_EXECUTORS,
                 agent_state_executor_free);
    cm_strmap_put(&a->frameworks, fid, f);
    return f;
}

/* UPDATE_FRAMEWORK from the master (the framework updated or re-subscribed): the new info
 * replaces ours, except user and checkpoint, which never change for a running framework (the
 * executors run as that user and were set up for that recovery mode); a checkpointing
 * framework's copy on disk is refreshed so a recovered agent reports the new info. */
void agent_state_framework_update(struct cm_agent *a, struct agent_framework *f,
                                  const Mesos__V1__FrameworkInfo *fi)
{
    Mesos__V1__FrameworkInfo *copy = (Mesos__V1__FrameworkInfo *)cm_pb_dup(&fi->base);
    free(copy->user);
    copy->user = f->info->user ? cm_xstrdup(f->info->user) : NULL;
    copy->has_checkpoint = f->info->has_checkpoint;
    copy->checkpoint = f->info->checkpoint;
    agent_pb_free(f->info);
    f->info = copy;
    CM_INFO(MOD, "Updated the info of framework %s (%s)", f->id, copy->name ? copy->name : "");
    if (a->agent_id && agent_ckpt_enabled(f))
        agent_ckpt_framework(a, f);
}

void agent_state_agent_info(struct cm_agent *a, Mesos__V1__AgentInfo *info, Mesos__V1__AgentID *id,
                            Mesos__V1__Resource ***res, size_t *nres)
{
    mesos__v1__agent_info__init(info);
    info->hostname = a->hostname;
    info->has_port = 1;
    info->port = a->port;
    cm_resources_to_proto(&a->total, NULL, res, nres);
    info->resources = *res;
    info->n_resources = *nres;
    info->attributes = a->attributes.v;
    info->n_attributes = a->attributes.n;
    if (a->agent_id) {
        mesos__v1__agent_id__init(id);
        id->value = a->agent_id;
        info->id = id;
    }
}

void agent_state_maybe_remove_framework(struct cm_agent *a, struct agent_framework *f)
{
    if (cm_strmap_count(&f->executors) != 0)
        return;
    CM_INFO(MOD, "Framework '%s' has no executors left; moving it to completed", f->id);
    if (a->agent_id)
        agent_ckpt_remove(cm_paths_meta_framework_dir(a->flags->work_dir, a->agent_id, f->id));
    cm_strmap_remove(&a->frameworks, f->id);
    cm_ring_push(&a->completed_frameworks, f);
}

void agent_state_maybe_remove_executor(struct cm_agent *a, struct agent_executor *e)
{
    if (e->state != EXECUTOR_TERMINATED || cm_strmap_count(&e->tasks) != 0)
        return;
    struct agent_framework *f = e->framework;
    agent_xapi_disconnect(e);
    cm_strmap_remove(&f->executors, e->id);
    /* Only a checkpointing framework's executors have anything under meta/ (every checkpoint
     * write is gated as this is, and checkpoint never changes for a running framework). */
    if (a->agent_id && agent_ckpt_enabled(f))
        agent_ckpt_remove(
            cm_paths_meta_executor_dir(a->flags->work_dir, a->agent_id, f->id, e->id));
    agent_state_sandbox_gc(a, e);
    cm_ring_push(&f->completed_executors, e);
    agent_state_maybe_remove_framework(a, f);
}

void agent_state_complete_task(struct cm_agent *a, struct agent_framework *f, const char *task_id)
{
    struct agent_executor *e = cm_strmap_get(&f->task_index, task_id);
    if (!e)
        return;
    struct agent_task *t = cm_strmap_remove(&e->tasks, task_id);
    cm_strmap_remove(&f->task_index, task_id);
    cm_sum_remove_task(a->sum, f->id, task_id);
    if (a->agent_id && agent_ckpt_enabled(f))
        agent_ckpt_remove(cm_paths_meta_task_dir(a->flags->work_dir, a->agent_id, f->id, e->id,
                                                 e->container_id, task_id));
    if (t && !agent_exec_is_command(e) && e->state != EXECUTOR_TERMINATED) {
        /* A custom or default executor outlives the task: its container's limits shrink back
         * to what is left (as Mesos updates the container when a task completes). */
        struct cm_resources tr;
        cm_resources_init(&tr);
        char w[128];
        if (cm_resources_from_proto(&tr, t->info->resources, t->info->n_resources, w, sizeof w) ==
                0 &&
            cm_resources_contains(&e->resources, &tr)) {
            cm_resources_subtract(&e->resources, &tr);
            if (e->pid > 0)
                cm_containerizer_update(a->containerizer, e->container_id, &e->resources);
        }
        cm_resources_cleanup(&tr);
    }
    if (t)
        cm_ring_push(&e->completed_tasks, t);
    agent_state_maybe_remove_executor(a, e);
}

/* The framework is gone: its updates will never be acknowledged, so stop retrying them and
 * complete the executor's tasks agent_now (Mesos cleans the framework's streams likewise). */
void agent_state_complete_all_tasks(struct cm_agent *a, struct agent_executor *e)
{
    struct agent_framework *f = e->framework;
    cm_sum_drop_framework(a->sum, f->id);
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &e->tasks);
    struct agent_task *t;
    const char *tid;
    while ((t = cm_strmap_iter_value(&it, &tid))) {
        cm_strmap_remove(&f->task_index, tid);
        cm_strmap_remove(&e->tasks, tid);
        cm_ring_push(&e->completed_tasks, t);
    }
}
