/*
 * agent_executors.h: the executors' lifecycle in the agent core: RUN_TASK (validation, the
 * command executor's ExecutorInfo, sandbox, fetch, launch through the containerizer), KILL_TASK,
 * shutdown (SHUTDOWN event, then SIGKILL after the grace period), the registration timeout,
 * reaping (SIGCHLD or a recovered executor's pidfd) and what an exit means for its tasks.
 *
 * A RUN_TASK for a task the agent already holds is a re-send by the master (the link died
 * before our TASK_LAUNCH_ACK got through): it is ignored and acknowledged again.
 *
 * Ownership: messages handed in are borrowed and copied when kept. Errors are reported to the
 * framework as terminal status updates (TASK_ERROR, TASK_FAILED, TASK_LOST), never returned.
 * Threading: the agent's loop only.
 */
#ifndef CM_AGENT_AGENT_EXECUTORS_H
#define CM_AGENT_AGENT_EXECUTORS_H

#include "agent_internal.h"

/* Whether e is a command executor the agent generated for a command task (as opposed to a
 * framework's custom executor). */
bool agent_exec_is_command(const struct agent_executor *e);

/* SIGKILLs the executor's container, or cancels its fetch (its tasks are then killed). */
void agent_exec_kill(struct cm_agent *a, struct agent_executor *e);

/* Starts a recovered executor that was checkpointed but never cloned (agent_recover.c): it
 * joins the launch queue like a new one; its tasks are queued for its SUBSCRIBE. */
void agent_exec_start_unstarted(struct cm_agent *a, struct agent_executor *e);

/* The containerizer's launched callback (arg is the agent): the exec report of a container
 * frees the launch queue to clone the next executor. */
void agent_exec_launched(void *arg, const char *container_id, pid_t pid, int rc, const char *why);

/* The containerizer's joined callback: the cloned child has joined its cgroups, which is all
 * the next clone has to wait for (its mounts, sandbox and exec overlap with the next launch). */
void agent_exec_joined(void *arg, const char *container_id);

/* SHUTDOWN to the executor and SIGKILL after its grace period; an executor that never
 * subscribed is killed at once. No-op once terminating. */
void agent_exec_shutdown(struct cm_agent *a, struct agent_executor *e);

/* The executor's process ended (status: wait status, -1 if unknown): fails its live tasks,
 * tells the master (EXITED_EXECUTOR; not for a command executor, which the master does not
 * know, as in Mesos) and completes what can be completed. May free e. */
void agent_exec_exited(struct cm_agent *a, struct agent_executor *e, int status);

/* SIGCHLD handler: reaps children, executors and the fetcher's extractors. */
void agent_exec_sigchld(evutil_socket_t fd, short what, void *arg);

/* RUN_TASK: validates, records (and checkpoints) the task, builds its command executor and
 * starts fetch and launch; always answers with TASK_LAUNCH_ACK. A failure becomes a terminal
 * update (TASK_ERROR for a bad task, TASK_FAILED for a failed launch). */
void agent_exec_run_task(struct cm_agent *a, const Mesos__V1__FrameworkInfo *fi,
                         const Mesos__V1__TaskInfo *task);

/* RUN_TASK_GROUP (agent_exec_custom.c): the group's tasks go to the DEFAULT executor named in
 * it, which the agent starts as <launcher_dir>/mesos-default-executor (or reuses while it
 * runs); they are handed to it together as one LAUNCH_GROUP event, at once when it is
 * subscribed, else on its SUBSCRIBE. Every task is acknowledged with TASK_LAUNCH_ACK; a bad
 * group fails every task (TASK_ERROR, REASON_TASK_GROUP_INVALID). */
void agent_exec_run_task_group(struct cm_agent *a,
                               const Cmesos__Internal__AgentEvent__RunTaskGroup *rg);

/* ---- shared by agent_executors.c and agent_exec_custom.c (not for other modules) ---- */

/* A task with its own ExecutorInfo (a custom executor): starts the executor for its first task
 * (its CommandInfo, URIs, resources plus the task's as limits), later tasks join it (LAUNCH at
 * once when subscribed, else on SUBSCRIBE). */
void agent_exec_run_custom_task(struct cm_agent *a, const Mesos__V1__FrameworkInfo *fi,
                                const Mesos__V1__TaskInfo *task);
/* A new executor record of f (not yet indexed), REGISTERING, with a fresh container id. */
struct agent_executor *agent_exec_new(struct cm_agent *a, struct agent_framework *f,
                                      const char *id);
/* The executor could not be started (sandbox, fetch or launch): its task t fails. */
void agent_exec_launch_failed(struct cm_agent *a, struct agent_executor *e, struct agent_task *t,
                              const char *message);
/* Queues e to start on a later loop turn (see cm_agent.launch_head). */
void agent_exec_enqueue(struct cm_agent *a, struct agent_executor *e);

/* KILL_TASK: KILL to the task's executor; a queued task is killed at once (TASK_KILLED) and an
 * unknown one answered with TASK_LOST. */
void agent_exec_kill_task(struct cm_agent *a, const Cmesos__Internal__AgentEvent__KillTask *k);

/* SHUTDOWN_FRAMEWORK: shuts every executor of the framework down; its updates are no longer
 * retried. May free the framework. */
void agent_exec_shutdown_framework(struct cm_agent *a, const char *fid);

/* The argv of a CommandInfo, for an executor or a nested container (strings borrowed from c,
 * array malloc'd and NULL-terminated): shell (the default) runs value with /bin/sh -c;
 * otherwise value is the program and arguments[1..] its arguments (arguments[0] is its
 * argv[0], which the launch takes from value). */
char **agent_exec_command_argv(const Mesos__V1__CommandInfo *c);

#endif
