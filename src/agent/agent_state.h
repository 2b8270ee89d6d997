/*
 * agent_state.h: the records of the agent core (struct agent_framework, agent_executor,
 * agent_task in agent_internal.h): creation, freeing, the sandbox attachments (/files and GC),
 * the bounded status history of a task and the completion bookkeeping that moves finished
 * tasks, executors and frameworks into the bounded "completed" rings (50 / 150 / 200).
 *
 * Ownership: the agent owns frameworks (a->frameworks), a framework its executors, an executor
 * its tasks; the _free functions free a record and everything under it. Completion never
 * frees: the record moves into its parent's ring, whose free function runs when it falls out.
 * Threading: the agent's loop only.
 */
#ifndef CM_AGENT_AGENT_STATE_H
#define CM_AGENT_AGENT_STATE_H

#include "agent_internal.h"

/* Frees a task record (ring and map free function). */
void agent_state_task_free(void *p);

/* Appends a copy of st to the task's history, keeping the first and the newest ones
 * (CM_AGENT_MAX_STATUSES_PER_TASK in all). */
void agent_state_task_add_status(struct agent_task *t, const Mesos__V1__TaskStatus *st);
/* The same, taking st itself (freed with the task or when it is dropped from the history). */
void agent_state_task_take_status(struct agent_task *t, Mesos__V1__TaskStatus *st);

/* Makes the executor's sandbox browsable in /files under its real and virtual paths. */
void agent_state_sandbox_attach(struct cm_agent *a, struct agent_executor *e);

/* Schedules the executor's whole directory for removal after --gc_delay. */
void agent_state_sandbox_gc(struct cm_agent *a, struct agent_executor *e);

/* A new run of an executor id keeps its directory out of GC. */
void agent_state_sandbox_keep(struct cm_agent *a, const char *fid, const char *eid);

/* Takes e out of the agent's launch queue if it is there. */
void agent_state_launch_unqueue(struct cm_agent *a, struct agent_executor *e);

/* Frees an executor record: ends its stream, timers, fetch, launch-queue place and /files
 * attachments. */
void agent_state_executor_free(void *p);

/* Frees a framework record and its executors. */
void agent_state_framework_free(void *p);

/* Creates the framework record with a copy of fi and adds it to a->frameworks. */
struct agent_framework *agent_state_framework_new(struct cm_agent *a, const char *fid,
                                                  const Mesos__V1__FrameworkInfo *fi);

/* UPDATE_FRAMEWORK: a copy of fi replaces the info, keeping user and checkpoint. */
void agent_state_framework_update(struct cm_agent *a, struct agent_framework *f,
                                  const Mesos__V1__FrameworkInfo *fi);

/* Fills info (and id, when registered) from the agent; *res / *nres are allocated for the
 * resources and freed by the caller with cm_resources_proto_free. Borrowed strings. */
void agent_state_agent_info(struct cm_agent *a, Mesos__V1__AgentInfo *info, Mesos__V1__AgentID *id,
                            Mesos__V1__Resource ***res, size_t *nres);

/* A framework without executors moves to the completed ring (its checkpoints go). */
void agent_state_maybe_remove_framework(struct cm_agent *a, struct agent_framework *f);

/* A terminated executor without tasks moves to the completed ring; may complete f too. */
void agent_state_maybe_remove_executor(struct cm_agent *a, struct agent_executor *e);

/* A task whose terminal update was acknowledged: it moves to its executor's completed tasks
 * and forgets its update stream and checkpoints. May free the executor and framework. */
void agent_state_complete_task(struct cm_agent *a, struct agent_framework *f, const char *task_id);

/* The framework is gone: every task of e completes now, with its pending updates dropped. */
void agent_state_complete_all_tasks(struct cm_agent *a, struct agent_executor *e);

#endif
