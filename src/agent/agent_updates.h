/*
 * agent_updates.h: the agent side of status updates: every update, from an executor or made
 * by the agent (SOURCE_AGENT), gets its agent and executor ids and a timestamp, is checkpointed
 * for a checkpointing framework before the executor is told ACKNOWLEDGED, is recorded in the
 * task's history and is queued in the status update manager (status_update.h), which sends
 * it to the master through the master link (agent_link.h) and retries it until acknowledged.
 *
 * Ownership: agent_updates_handle takes the status it is given, even on failure.
 * Threading: the agent's loop only.
 */
#ifndef CM_AGENT_AGENT_UPDATES_H
#define CM_AGENT_AGENT_UPDATES_H

#include "agent_internal.h"

/* The status update manager's send callback: the update is held (copied) and the updates of
 * one loop turn go to the master as one STATUS_UPDATE call once the turn's other callbacks ran
 * (a lone update in the single form `status_update`, several in `status_updates`); while the
 * transport has the previous STATUS_UPDATE call in flight they wait for its end, at most
 * CM_AGENT_CALL_HOLD_MAX (agent_link.h). Without an event loop it is sent at once. */
void agent_updates_send(void *arg, const char *framework_id, const char *executor_id,
                        const Mesos__V1__TaskStatus *status, Mesos__V1__TaskState latest_state);

/* Sends the held updates now (tests; the end of the loop turn does it otherwise). */
void agent_updates_flush(struct cm_agent *a);

/* A STATUS_UPDATE call the transport had in flight ended (cm_agent_link_call_done): the
 * updates held for it go at the end of this loop turn. */
void agent_updates_call_done(struct cm_agent *a);

/* Completes status (ids, timestamp, a memory limitation's reason), checkpoints it, records
 * it on the task and queues it. Takes status. Returns 0 or CM_EEXIST for a duplicate uuid. */
int agent_updates_handle(struct cm_agent *a, const char *framework_id, struct agent_executor *e,
                         Mesos__V1__TaskStatus *status);

/* Makes and handles an update from the agent itself (SOURCE_AGENT, a new uuid). e may be
 * NULL for a task the agent never took. */
void agent_updates_generate(struct cm_agent *a, const char *framework_id, struct agent_executor *e,
                            const char *task_id, Mesos__V1__TaskState state,
                            Mesos__V1__TaskStatus__Reason reason, const char *message);

#endif
