/*
 * agent_recover.h: recovery after an agent restart. recover.h reads the checkpoints back into
 * records; this module rebuilds frameworks, executors and tasks from them, re-attaches the
 * executors that survived (a pidfd watches each, since they are not our children), replays
 * each task's status update stream into the status update manager, fails the tasks of
 * executors that died while the agent was down, and holds registration back until the
 * survivors re-subscribed or --executor_reregistration_timeout passed.
 *
 * --recover=cleanup kills the leftover executors and starts as a new agent instead.
 * Errors: agent_recover_state returns 0 or an error with why (bad flags, or with --strict a
 * corrupt checkpoint). Threading: the agent's loop only.
 */
#ifndef CM_AGENT_AGENT_RECOVER_H
#define CM_AGENT_AGENT_RECOVER_H

#include "agent_internal.h"

/* Ends the recovery wait (every survivor re-subscribed or the timeout passed) and starts
 * registering. No-op when not recovering. */
void agent_recover_done(struct cm_agent *a);

/* Recovers from <work_dir>/meta at start-up (see above). Returns 0, or CM_EINVAL for bad
 * recovery flags or a changed agent info, or an error of recover.h, with why. */
int agent_recover_state(struct cm_agent *a, char *why, size_t whylen);

#endif
