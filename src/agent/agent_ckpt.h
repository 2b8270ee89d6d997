/*
 * agent_ckpt.h: what the agent core checkpoints, and when (format in checkpoint.h, layout in
 * paths.h).
 *
 * The agent id and info are always written (a restart re-registers as the same agent); the
 * framework, executor and task infos, the executor's pid and each task's status update stream
 * only for frameworks with checkpoint: true, because only those are recovered. Every write is
 * temp + fsync + rename or an fsync'd append (checkpoint.c).
 *
 * Errors: a failed checkpoint is logged with the path and the error and the agent goes on:
 * Mesos does the same, since refusing the launch would not make the disk healthier.
 * Ownership: nothing is kept; all arguments are borrowed. Threading: the agent's loop only.
 */
#ifndef CM_AGENT_AGENT_CKPT_H
#define CM_AGENT_AGENT_CKPT_H

#include "agent_internal.h"

/* Whether the framework asked for checkpointing (FrameworkInfo.checkpoint). f may be NULL. */
bool agent_ckpt_enabled(const struct agent_framework *f);

/* The agent's info and meta/slaves/latest -> its id, written at every (re-)registration. */
void agent_ckpt_agent(struct cm_agent *a, const Mesos__V1__AgentInfo *info);

/* The framework, executor and task infos of a launch, before anything runs. */
void agent_ckpt_launch(struct cm_agent *a, struct agent_executor *e, struct agent_task *t);

/* The executor's pid with its start time, so recovery can tell a reused pid. */
void agent_ckpt_pid(struct cm_agent *a, struct agent_executor *e);

/* Appends status to the task's update stream; called before the executor is told
 * ACKNOWLEDGED, so an acknowledged update survives a crash. */
void agent_ckpt_update(struct cm_agent *a, struct agent_executor *e,
                       const Mesos__V1__TaskStatus *status);

/* Appends the framework's acknowledgement of uuid (16 bytes) to the task's stream. */
void agent_ckpt_ack(struct cm_agent *a, struct agent_executor *e, const char *tid,
                    const uint8_t *uuid);

/* Removes a checkpoint directory (a completed task, executor or framework). Takes path
 * (malloc'd, may be NULL: an id that made no valid path). */
void agent_ckpt_remove(char *path);

/* The framework's info (after UPDATE_FRAMEWORK), for a checkpointing framework. */
void agent_ckpt_framework(struct cm_agent *a, struct agent_framework *f);

#endif
