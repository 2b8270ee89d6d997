/*
 * harness_agent.h: agent restart helpers for the recovery tests (itest_agent_recovery*.c) and
 * the chaos driver: start the cluster's agent with extra flags on a fixed port and work dir,
 * kill -9 it (the agent process only, so its executors survive), restart it, and wait until
 * the master lists it active again with a given id.
 *
 * Use with itest_cluster_start(..., {.no_agent = 1}): c->agent, c->agent_port, c->agent_work
 * and c->agent_id are filled here. Every agent run logs to <dir>/agent-<n>.log.
 */
#ifndef CM_ITEST_HARNESS_AGENT_H
#define CM_ITEST_HARNESS_AGENT_H

#include "harness.h"

/* Spawns the agent (port c->agent_port, or 0 the first time) with resources (NULL = the
 * cluster default) and extra_flags (NULL-terminated or NULL); waits for its port file.
 * Returns 0 or a negative error. */
int itest_agent_spawn(struct itest_cluster *c, const char *resources,
                      const char *const *extra_flags);
/* Waits until the master lists exactly one active agent; if c->agent_id is set it must be
 * that id, else it is filled in. Returns 0 or -ETIMEDOUT / CM_ECLOSED (the agent exited). */
int itest_agent_wait_registered(struct itest_cluster *c, int timeout_ms);
/* SIGKILL of the agent process alone, then reaps it. */
void itest_agent_kill9(struct itest_cluster *c);
/* Path of the log of the current agent run. */
const char *itest_agent_log(const struct itest_cluster *c);

#endif
