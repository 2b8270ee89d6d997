/*
 * recover.h: reads the agent's checkpoints (layout in paths.h, format in checkpoint.h) back
 * into plain records after a restart. The agent (agent.c) then rebuilds its frameworks,
 * executors and tasks from them, re-attaches surviving containers and replays each task's
 * status update stream into the status update manager.
 *
 * Errors: a missing file where a crash between two checkpoint steps can leave one (a
 * framework, executor or task directory without its .info) is not an error: the entry is
 * skipped with a warning. A corrupt or unreadable file is an error: with strict the whole
 * read fails with why naming the file and what to do; without strict the broken entry (the
 * framework, executor or task owning the file) is skipped with an error log, counted in
 * errors, and everything else is recovered. A truncated tail of a task.updates file (a torn
 * append) is tolerated in both modes.
 *
 * Ownership: cm_recover_state_cleanup frees everything. Single-threaded, blocking I/O.
 */
#ifndef CM_AGENT_RECOVER_H
#define CM_AGENT_RECOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "checkpoint.h"
#include "detect.h"
#include "mesos/v1/mesos.pb-c.h"
#include "resources.h"

struct cm_rec_task {
    char *id;
    Mesos__V1__TaskInfo *info;
    struct cm_ckpt_stream stream;
    char *updates_path;
};

struct cm_rec_executor {
    char *id;
    Mesos__V1__ExecutorInfo *info;
    char *container_id; /* NULL if no run was checkpointed */
    pid_t pid;          /* 0 if the executor was never forked (no forked.pid) */
    unsigned long long start_time;
    struct cm_rec_task *tasks;
    size_t ntasks;
};

struct cm_rec_framework {
    char *id;
    Mesos__V1__FrameworkInfo *info;
    struct cm_rec_executor *executors;
    size_t nexecutors;
};

struct cm_rec_state {
    char *agent_id; /* NULL: nothing to recover (a new agent) */
    Mesos__V1__AgentInfo *agent_info;
    struct cm_rec_framework *frameworks;
    size_t nframeworks;
    size_t errors; /* entries skipped because of errors (non-strict) */
};

/* Reads <work_dir>/meta. Returns 0 (out filled; agent_id NULL when there is no
 * meta/slaves/latest), or with strict a negative error and why. */
int cm_recover_read(const char *work_dir, bool strict, struct cm_rec_state *out, char *why,
                    size_t whylen);
void cm_recover_state_cleanup(struct cm_rec_state *s);

/* Compares the checkpointed agent info with the agent's current resources and attributes
 * (Mesos's "equal" reconfiguration policy for those fields). Returns 0 or CM_EINVAL with why
 * saying what changed. */
int cm_recover_check_agent_info(const Mesos__V1__AgentInfo *old, const struct cm_resources *total,
                                const struct cm_attributes *attrs, char *why, size_t whylen);

#endif
