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

void agent_state_task_free(void *p);

void agent_state_task_add_status(struct agent_task *t, const Mesos__V1__TaskStatus *st);

void agent_state_sandbox_attach(struct cm_agent *a, struct agent_executor *e);

void agent_state_sandbox_gc(struct cm_agent *a, struct agent_executor *e);

void agent_state_sandbox_keep(struct cm_agent *a, const char *fid, const char *eid);

void agent_state_executor_free(void *p);

void agent_state_framework_free(void *p);

struct agent_framework *agent_state_framework_new(struct cm_agent *a, const char *fid,
                                                  const Mesos__V1__FrameworkInfo *fi);

void agent_state_framework_update(struct cm_agent *a, struct agent_framework *f,
                                  const Mesos__V1__FrameworkInfo *fi);

void agent_state_agent_info(struct cm_agent *a, Mesos__V1__AgentInfo *info, Mesos__V1__AgentID *id,
                            Mesos__V1__Resource ***res, size_t *nres);

void agent_state_maybe_remove_framework(struct cm_agent *a, struct agent_framework *f);

void agent_state_maybe_remove_executor(struct cm_agent *a, struct agent_executor *e);

void agent_state_complete_task(struct cm_agent *a, struct agent_framework *f, const char *task_id);

void agent_state_complete_all_tasks(struct cm_agent *a, struct agent_executor *e);

#endif
