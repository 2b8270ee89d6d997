/*
 * agent_ckpt.c: the checkpoint wrappers of the agent core (contract in agent_ckpt.h).
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_ckpt.h"

#include "agent_internal.h"
#include <fcntl.h>

#include "checkpoint.h"
#include "log.h"
#include "paths.h"

#define MOD "agent"

bool agent_ckpt_enabled(const struct agent_framework *f)
{
    return f && f->info && f->info->has_checkpoint && f->info->checkpoint;
}

static void ckpt_failed(int rc, const char *what, const char *path)
{
    CM_ERROR(MOD, "Failed to checkpoint %s to '%s': %s", what, path ? path : "(invalid id)",
             cm_strerror(rc));
}

static void ckpt_message(const char *path, const ProtobufCMessage *m, const char *what)
{
    int rc = path ? cm_ckpt_write_message(path, m) : CM_EINVAL;
    if (rc)
        ckpt_failed(rc, what, path);
}

static char *meta_task_file(const struct cm_agent *a, const struct agent_executor *e,
                            const char *tid, const char *file)
{
    char *d = cm_paths_meta_task_dir(a->flags->work_dir, a->agent_id, e->framework->id, e->id,
                                     e->container_id, tid);
    if (!d)
        return NULL;
    char *p = cm_xasprintf("%s/%s", d, file);
    free(d);
    return p;
}

/* The agent's id and info, so a restart re-registers as the same agent (always written,
 * like Mesos; the rest only for checkpointing frameworks). */
void agent_ckpt_agent(struct cm_agent *a, const Mesos__V1__AgentInfo *info)
{
    char *path = cm_paths_meta_agent_info(a->flags->work_dir, a->agent_id);
    ckpt_message(path, &info->base, "the agent info");
    free(path);
    char *latest = cm_paths_meta_latest(a->flags->work_dir);
    char *tmp = cm_xasprintf("%s.tmp", latest);
    unlink(tmp);
    if (symlink(a->agent_id, tmp) != 0 || rename(tmp, latest) != 0) {
        ckpt_failed(-errno, "the agent id", latest);
        unlink(tmp);
    } else {
        char *dir = cm_paths_meta_slaves_dir(a->flags->work_dir);
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
        free(dir);
    }
    free(tmp);
    free(latest);
}

/* Framework, executor and task infos, before anything is launched. */
void agent_ckpt_launch(struct cm_agent *a, struct agent_executor *e, struct agent_task *t)
{
    const char *wd = a->flags->work_dir, *fid = e->framework->id;
    char *d = cm_paths_meta_framework_dir(wd, a->agent_id, fid);
    char *path = d ? cm_xasprintf("%s/" CM_PATHS_FRAMEWORK_INFO, d) : NULL;
    ckpt_message(path, &e->framework->info->base, "the framework info");
    free(path);
    free(d);
    d = cm_paths_meta_executor_dir(wd, a->agent_id, fid, e->id);
    path = d ? cm_xasprintf("%s/" CM_PATHS_EXECUTOR_INFO, d) : NULL;
    ckpt_message(path, &e->info->base, "the executor info");
    free(path);
    free(d);
    path = meta_task_file(a, e, t->info->task_id->value, CM_PATHS_TASK_INFO);
    ckpt_message(path, &t->info->base, "the task info");
    free(path);
}

void agent_ckpt_pid(struct cm_agent *a, struct agent_executor *e)
{
    char *d = cm_paths_meta_run_dir(a->flags->work_dir, a->agent_id, e->framework->id, e->id,
                                    e->container_id);
    if (!d)
        return;
    char *path = cm_xasprintf("%s/" CM_PATHS_FORKED_PID, d);
    unsigned long long start = 0;
    int rc = cm_ckpt_proc_start_time(e->pid, &start);
    if (rc == 0)
        rc = cm_ckpt_write_pid(path, e->pid, start);
    if (rc)
        ckpt_failed(rc, "the executor's pid", path);
    free(path);
    free(d);
}

void agent_ckpt_update(struct cm_agent *a, struct agent_executor *e,
                       const Mesos__V1__TaskStatus *status)
{
    char *path = meta_task_file(a, e, status->task_id->value, CM_PATHS_TASK_UPDATES);
    int rc = path ? cm_ckpt_append_update(path, status) : CM_EINVAL;
    if (rc)
        ckpt_failed(rc, "a status update", path);
    free(path);
}

void agent_ckpt_ack(struct cm_agent *a, struct agent_executor *e, const char *tid,
                    const uint8_t *uuid)
{
    char *path = meta_task_file(a, e, tid, CM_PATHS_TASK_UPDATES);
    int rc = path ? cm_ckpt_append_ack(path, uuid) : CM_EINVAL;
    if (rc)
        ckpt_failed(rc, "an acknowledgement", path);
    free(path);
}

void agent_ckpt_remove(char *path)
{
    if (!path)
        return;
    int rc = cm_paths_rmtree(path);
    if (rc)
        CM_WARN(MOD, "Failed to remove checkpoint '%s': %s", path, cm_strerror(rc));
    free(path);
}

void agent_ckpt_framework(struct cm_agent *a, struct agent_framework *f)
{
    char *d = cm_paths_meta_framework_dir(a->flags->work_dir, a->agent_id, f->id);
    char *path = d ? cm_xasprintf("%s/" CM_PATHS_FRAMEWORK_INFO, d) : NULL;
    ckpt_message(path, &f->info->base, "the framework info");
    free(path);
    free(d);
}
