/*
 * default_executor.h: the default executor (mesos-default-executor), which runs task groups
 * (pods): Mesos's DefaultExecutor on libcmexecutor.
 *
 * What it does (Mesos's rules, src/launcher/default_executor.cpp):
 *  - LAUNCH_GROUP: every task of the group gets a nested container of the executor's own
 *    container (ContainerID{value: a fresh UUID, parent: SUBSCRIBED.container_id}). For each
 *    task it sends TASK_STARTING, then asks the agent's operator API (POST /api/v1, protobuf,
 *    "Authorization: Bearer <MESOS_EXECUTOR_AUTHENTICATION_TOKEN>") to LAUNCH_CONTAINER with the
 *    task's command, container, resources and limits (so each task gets its own limits); an
 *    agent that answers 501 or 400 to LAUNCH_CONTAINER is asked again with the older
 *    LAUNCH_NESTED_CONTAINER (no resources). When every launch of the group has answered, each
 *    launched task gets TASK_RUNNING and a symlink tasks/<task_id> -> containers/<container_id>
 *    in the sandbox, and every container of the group is waited on (WAIT_NESTED_CONTAINER, a
 *    long poll).
 *  - The wait's answer ends the task: exit status 0 TASK_FINISHED, else TASK_FAILED; a task
 *    being killed TASK_KILLED; max_completion_time reached TASK_FAILED with
 *    REASON_MAX_COMPLETION_TIME_REACHED; the agent's state, reason and message (a resource
 *    limitation, say) override; a 404 is TASK_FAILED with the launch error, or TASK_KILLED for a
 *    task being killed. A wait that broke or got 503 is retried every second.
 *  - When a task ends TASK_FAILED or TASK_KILLED (not during shutdown), every other task of its
 *    group is killed (Mesos's default executor always does this).
 *  - KILL: KILL_NESTED_CONTAINER with SIGTERM (TASK_KILLING first when the framework has
 *    TASK_KILLING_STATE), SIGKILL after the grace period: the KILL's kill policy, else the
 *    task's, else 3 s; a failed escalation is retried every second.
 *  - Health checks per task (TaskInfo.health_check, health.h's policy): HTTP and TCP probes run
 *    from the executor, which shares the tasks' network; COMMAND probes run in the executor's
 *    sandbox with the task's environment (Mesos runs them inside the task's container through
 *    LAUNCH_NESTED_CONTAINER_SESSION, which the agent does not offer). An unhealthy task is
 *    killed and its terminal update carries healthy=false.
 *  - LAUNCH (a single task) is not for this executor: it shuts down, as Mesos's does.
 *  - SHUTDOWN: kills every task; once no container is left it exits when every update is
 *    acknowledged (or after 60 s). It also exits once all tasks ended and all their updates are
 *    acknowledged.
 *  - The agent gone (libcmexecutor's rules) or ERROR: exit 1.
 * Not done: general checks (TaskInfo.check) are reported as a TASK_FAILED at launch naming
 * the field, MESOS_CONTAINER_IP is not set, and disk volumes are not mapped into the task
 * containers.
 *
 * The agent calls go through struct cm_defexec_agent (tests put a fake agent there); NULL means
 * HTTP POSTs to MESOS_AGENT_ENDPOINT.
 *
 * Ownership: the executor borrows base, env, clock and envp for its life; on_exit is called
 * once with the exit code and the caller breaks its loop and frees the executor. Threading:
 * the loop's thread only.
 */
#ifndef CM_DEFAULT_EXECUTOR_H
#define CM_DEFAULT_EXECUTOR_H

#include <stddef.h>
#include <stdint.h>

#include "cmesos/executor.h"
#include "mesos/v1/agent/agent.pb-c.h"

struct event_base;
struct cm_clock;
struct cm_defexec;

/* The answer to one agent call: err 0 with the HTTP status and body, or a negative error when
 * no answer came (status 0). body is valid during the call only. */
typedef void (*cm_defexec_reply_cb)(void *arg, int err, long status, const uint8_t *body,
                                    size_t len);

/* Sends one agent operator Call. timeout 0 = none (the wait's long poll). Returns 0 and calls
 * reply exactly once later (never from inside this call), or a negative error without calling
 * it. Pending replies are dropped when the executor is freed (the agent implementation must
 * not call them afterwards). */
struct cm_defexec_agent {
    int (*call)(void *ctx, const Mesos__V1__Agent__Call *call, double timeout,
                cm_defexec_reply_cb reply, void *reply_arg);
    void *ctx;
};

typedef void (*cm_defexec_exit_cb)(void *arg, int code);

struct cm_defexec_opts {
    struct event_base *base;              /* required */
    const struct cm_exec_env *env;        /* required */
    const struct cm_clock *clock;         /* required */
    char *const *envp;                    /* the tasks' base environment for command probes */
    const struct cm_defexec_agent *agent; /* NULL: HTTP to the agent (copied) */
    /* Tests: libcmexecutor's send hook (exec_internal.h) instead of HTTP for executor calls. */
    int (*send)(void *arg, const Mesos__V1__Executor__Call *call);
    void *send_arg;
    cm_defexec_exit_cb on_exit; /* required */
    void *exit_arg;
};

/* Returns a new executor, not yet subscribed; NULL when opts are incomplete. */
struct cm_defexec *cm_defexec_new(const struct cm_defexec_opts *opts);
/* Cancels calls in flight without callbacks. NULL is a no-op. */
void cm_defexec_free(struct cm_defexec *d);
/* Subscribes to the agent. Returns 0 or a negative error. */
int cm_defexec_start(struct cm_defexec *d);
/* Acts on one event as if it came from the agent (tests). */
void cm_defexec_handle_event(struct cm_defexec *d, const Mesos__V1__Executor__Event *event);
/* Like SHUTDOWN (SIGTERM to the executor). */
void cm_defexec_shutdown(struct cm_defexec *d);
/* Tasks whose container has not ended yet. */
size_t cm_defexec_active_tasks(const struct cm_defexec *d);

#endif
