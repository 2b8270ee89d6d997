/*
 * executor.h: the built-in command executor (mesos-executor) as a library.
 *
 * It speaks the v1 executor API (docs/wire-protocol.md §4) to the agent that launched it: a
 * streaming SUBSCRIBE call whose RecordIO body carries Events, and UPDATE / MESSAGE calls as
 * separate POSTs, all protobuf. It runs the one task the agent LAUNCHes with the command runner
 * (command.h) and reports TASK_STARTING, TASK_RUNNING, then TASK_FINISHED / TASK_FAILED /
 * TASK_KILLED (TASK_KILLING first when the framework has TASK_KILLING_STATE). Every update is
 * kept until the agent's ACKNOWLEDGED event names its uuid; unacknowledged updates and the task
 * (if none of its updates was acknowledged) are resent in the SUBSCRIBE of a reconnection.
 * Once the terminal update is acknowledged the executor asks to exit with code 0.
 *
 * Watching the task (health.h): a TaskInfo.health_check is probed on the loop; each change of
 * health is a TASK_RUNNING update with `healthy` and REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
 * and consecutive_failures counted failures kill the task (KillPolicy grace), which ends
 * TASK_KILLED with healthy=false. A TaskInfo.check only reports: every update carries the last
 * `check_status`, and a changed result is a TASK_RUNNING update with
 * REASON_TASK_CHECK_STATUS_UPDATED. max_completion_time kills the task without grace; it ends
 * TASK_FAILED with REASON_MAX_COMPLETION_TIME_REACHED. An invalid health check, check or
 * max_completion_time fails the task at launch (TASK_FAILED naming the field).
 *
 * Disconnection: with MESOS_CHECKPOINT=1 the executor re-subscribes with a randomised backoff
 * (capped by MESOS_SUBSCRIPTION_BACKOFF_MAX) for up to MESOS_RECOVERY_TIMEOUT; otherwise the
 * agent is considered gone: the task's process group is killed and the executor exits 1.
 * The link to the agent is libcmexecutor (cmesos/executor.h, the cm_exec_core archive): it
 * keeps the updates until acknowledged, re-subscribes and applies those rules; this module
 * runs the task. An undecodable event closes the stream and counts as a disconnection (the
 * same rule as libcmscheduler's). The recovery deadline is measured on the executor's clock.
 *
 * Ownership: the executor borrows the event_base, the config, the clock and envp for its whole
 * life. Exiting is the caller's business: the executor calls on_exit once with the code, and
 * the caller breaks its loop and frees the executor. Threading: the loop's thread only.
 */
#ifndef CM_EXECUTOR_H
#define CM_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmesos/executor.h"
#include "mesos/v1/executor/executor.pb-c.h"
#include "mesos/v1/mesos.pb-c.h"

struct event_base;
struct cm_clock;
struct cm_executor;

/* The configuration is libcmexecutor's environment (struct cm_exec_env, read with
 * cm_exec_env_from_env from cmesos/executor.h). */

/* Builds one status update as the command executor sends it: task_id, state, message (may be
 * NULL), source SOURCE_EXECUTOR, executor_id and agent_id from cfg, timestamp now, a fresh
 * 16-byte uuid, and container_status.executor_pid when executor_pid != 0. The result is owned:
 * free it with mesos__v1__task_status__free_unpacked(status, NULL). */
Mesos__V1__TaskStatus *cm_executor_status_new(const struct cm_exec_env *cfg, const char *task_id,
                                              Mesos__V1__TaskState state, const char *message,
                                              double now, uint32_t executor_pid);

/* Sends a call instead of the HTTP POST (tests); returns 0 or a negative error. The same hook
 * as libcmexecutor's cm_exec_set_send_hook. */
typedef int (*cm_executor_send_cb)(void *arg, const Mesos__V1__Executor__Call *call);
/* The executor is done; the process should exit with code. Called at most once. */
typedef void (*cm_executor_exit_cb)(void *arg, int code);

struct cm_executor_opts {
    struct event_base *base;
    const struct cm_exec_env *cfg;
    const struct cm_clock *clock; /* timestamps and the recovery deadline */
    char *const *envp;            /* the task's base environment (usually environ) */
    cm_executor_send_cb send;     /* NULL = POST to the agent */
    void *send_arg;
    cm_executor_exit_cb on_exit; /* required */
    void *exit_arg;
    double exit_delay; /* seconds between the terminal acknowledgement and on_exit; <0 = 1 s */
};

/* Returns a new executor (not yet subscribed); NULL only if opts are incomplete. */
struct cm_executor *cm_executor_new(const struct cm_executor_opts *opts);
/* Cancels calls in flight, SIGKILLs a task still running. NULL is a no-op. */
void cm_executor_free(struct cm_executor *ex);

/* Opens the SUBSCRIBE stream to the agent. Returns 0 or a negative error. */
int cm_executor_start(struct cm_executor *ex);

/* Acts on one event from the agent (the stream decoder calls this; tests call it directly). */
void cm_executor_handle_event(struct cm_executor *ex, const Mesos__V1__Executor__Event *event);

/* The agent-independent shutdown path (SIGTERM to the executor): like a SHUTDOWN event. */
void cm_executor_shutdown(struct cm_executor *ex);

/* Packs the SUBSCRIBE call for the current state (with unacknowledged tasks and updates).
 * Returns 0 and a malloc'd buffer, or -ENOMEM. */
int cm_executor_pack_subscribe(struct cm_executor *ex, uint8_t **buf, size_t *len);

#endif
