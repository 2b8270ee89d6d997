/*
 * cmesos/executor.h: libcmexecutor, a C client for the Mesos v1 executor HTTP API, the
 * counterpart of libcmscheduler (cmesos/scheduler.h).
 *
 * An executor reads what the agent told it through its environment (cm_exec_env_from_env: the
 * variables of docs/wire-protocol.md §4.5), fills a struct cm_exec_config (the environment,
 * callbacks, a loop or none) and calls cm_exec_new() then cm_exec_start(). The library POSTs
 * SUBSCRIBE to <scheme>://<MESOS_AGENT_ENDPOINT>/api/v1/executor, decodes the RecordIO event
 * stream (protobuf) and hands each event to a callback. Calls (UPDATE, MESSAGE) are separate
 * POSTs. When MESOS_EXECUTOR_AUTHENTICATION_TOKEN was given, every request carries
 * "Authorization: Bearer <token>".
 *
 * What the library keeps for the executor (Mesos's executor rules):
 *  - Every status update sent with cm_exec_update() is kept, with its uuid, until the agent's
 *    ACKNOWLEDGED event names that uuid; updates are POSTed one at a time, in order.
 *  - Every task received in LAUNCH or LAUNCH_GROUP is kept until an update of it is
 *    acknowledged.
 *  - When the stream breaks, the library re-subscribes and the SUBSCRIBE carries those
 *    unacknowledged updates and tasks (what an agent restarted in recovery needs). With
 *    MESOS_CHECKPOINT=1 it retries with a randomised backoff (capped by
 *    MESOS_SUBSCRIPTION_BACKOFF_MAX) for up to MESOS_RECOVERY_TIMEOUT; without checkpointing
 *    an agent that went away is not coming back for this executor, so after the first
 *    subscription a broken stream is final (a fresh executor still retries for 10 s to reach
 *    its agent). When the library gives up it calls shutdown with CM_EXEC_SHUTDOWN_AGENT_GONE;
 *    the executor should then kill its tasks and exit (Mesos injects SHUTDOWN the same way).
 *  - An undecodable event closes the stream and counts as a disconnection (as in
 *    libcmscheduler), never a skipped event.
 * What it leaves to the executor: running tasks, deciding when to exit (usually once the
 * terminal updates of all its tasks are acknowledged, or on shutdown), and the contents of
 * updates beyond the fields it fills (cm_exec_update).
 *
 * Boundary: the shared library exports the functions declared here (CM_EXEC_EXPORT) and the
 * generated protobuf-c code of mesos/v1/mesos.proto and mesos/v1/executor/executor.proto; the
 * project's common code inside it is hidden (tests/exec_lib_exports.cmake). It never prints:
 * diagnostics go to the optional log callback.
 *
 * Messages cross the API two ways: as protobuf-c structs (the typed callbacks,
 * cm_exec_update, cm_exec_message), or as serialized v1 messages for language bindings
 * (callbacks.event_bytes receives every Event serialized; cm_exec_update_bytes and
 * cm_exec_call_bytes take a serialized TaskStatus or Call). Both can be used together.
 *
 * Threading. Two modes, chosen by cm_exec_config.base:
 *  - Caller's loop (base != NULL): the executor belongs to that libevent loop and its thread.
 *    Every function must be called on that thread (or before the loop runs); callbacks run
 *    there.
 *  - Library-owned loop (base == NULL, for bindings): the library creates its own loop;
 *    cm_exec_run() runs it in the calling thread (typically a thread the binding created for
 *    the purpose) until cm_exec_stop() and returns; every callback runs on that thread. In
 *    this mode cm_exec_update, cm_exec_update_bytes, cm_exec_message, cm_exec_call_bytes and
 *    cm_exec_stop may be called from ANY thread: off the loop thread they are validated,
 *    encoded and queued under a mutex, and the loop is woken through a pipe to send them (they
 *    return 0 once queued; the order of calls from one thread is kept). The other functions
 *    (new, free, start, run, and the accessors) belong to one thread at a time; cm_exec_free
 *    only after cm_exec_run returned.
 * Callbacks may make calls and may call cm_exec_stop; they must not call cm_exec_free.
 *
 * Ownership: pointers passed to a function are borrowed for that call only (everything is
 * copied or encoded before it returns). Pointers handed to a callback are valid only while it
 * runs. The environment struct is copied by cm_exec_new.
 *
 * Errors: functions return 0 or a negative code: -errno or one of the CM_EXEC_E* codes (the
 * project's CM_E* values); cm_exec_strerror() describes any. Functions taking why/whylen fill
 * it with a line naming the field or variable at fault.
 */
#ifndef CMESOS_EXECUTOR_H
#define CMESOS_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesos/v1/executor/executor.pb-c.h"
#include "mesos/v1/mesos.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CM_EXEC_EXPORT __attribute__((visibility("default")))
#else
#define CM_EXEC_EXPORT
#endif

struct event_base;
struct cm_exec;

#define CM_EXEC_EINVAL (-10001) /* bad argument, configuration or message; see why */
#define CM_EXEC_EPARSE (-10002) /* serialized bytes that are not the expected message */
#define CM_EXEC_ESTATE (-10006) /* not started / already started / stopped */
#define CM_EXEC_EHTTP (-10007)  /* no answer from the agent */

/* What the agent told the executor through its environment (docs/wire-protocol.md §4.5).
 * Filled by cm_exec_env_from_env, freed by cm_exec_env_cleanup; all strings are owned. */
struct cm_exec_env {
    char *framework_id;      /* MESOS_FRAMEWORK_ID (required) */
    char *executor_id;       /* MESOS_EXECUTOR_ID (required) */
    char *agent_id;          /* MESOS_SLAVE_ID (required) */
    char *agent_endpoint;    /* MESOS_AGENT_ENDPOINT "ip:port" (required) */
    char *sandbox;           /* MESOS_SANDBOX, else MESOS_DIRECTORY, else NULL (= cwd) */
    bool checkpoint;         /* MESOS_CHECKPOINT == "1" */
    double shutdown_grace;   /* MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD, default 5 s */
    double recovery_timeout; /* MESOS_RECOVERY_TIMEOUT, default 15 min */
    double backoff_max;      /* MESOS_SUBSCRIPTION_BACKOFF_MAX, default 2 s */
    /* MESOS_EXECUTOR_AUTHENTICATION_TOKEN or NULL: sent as "Authorization: Bearer <token>".
     * It is the executor's secret: an executor should remove the variable from its own
     * environment before starting tasks (unsetenv), as Mesos's library does. */
    char *authentication_token;
    bool https; /* LIBPROCESS_SSL_ENABLED=true|1: the agent is reached over https */
};

/* Reads the environment from envp (a NULL-terminated "NAME=value" array, e.g. environ; NULL:
 * the process environment). Returns 0, or CM_EXEC_EINVAL with why naming the variable
 * ("MESOS_FRAMEWORK_ID is not set", "MESOS_RECOVERY_TIMEOUT: invalid duration 'x'"). On
 * failure nothing is held. */
CM_EXEC_EXPORT int cm_exec_env_from_env(struct cm_exec_env *env, char *const *envp, char *why,
                                        size_t whylen);
/* Frees the strings (the token is wiped first) and zeroes env. */
CM_EXEC_EXPORT void cm_exec_env_cleanup(struct cm_exec_env *env);

enum cm_exec_log_level {
    CM_EXEC_LOG_DEBUG = 0,
    CM_EXEC_LOG_INFO = 1,
    CM_EXEC_LOG_WARNING = 2,
    CM_EXEC_LOG_ERROR = 3,
};

/* Why shutdown was called. */
enum cm_exec_shutdown_reason {
    CM_EXEC_SHUTDOWN_REQUESTED = 0, /* the agent sent SHUTDOWN: kill tasks within the grace */
    CM_EXEC_SHUTDOWN_AGENT_GONE = 1 /* the library gave up on the agent (rules above) */
};

/* Event callbacks; each optional (NULL: the event is only bookkept). arg is the config's
 * callback_arg. */
struct cm_exec_callbacks {
    /* SUBSCRIBED (also after every re-subscription). */
    void (*subscribed)(struct cm_exec *ex, void *arg,
                       const Mesos__V1__Executor__Event__Subscribed *subscribed);
    /* LAUNCH: run this task. */
    void (*launch)(struct cm_exec *ex, void *arg, const Mesos__V1__TaskInfo *task);
    /* LAUNCH_GROUP: run these tasks together (a pod). */
    void (*launch_group)(struct cm_exec *ex, void *arg, const Mesos__V1__TaskGroupInfo *group);
    /* KILL: kill the task; kill_policy (may be NULL) overrides the task's. */
    void (*kill)(struct cm_exec *ex, void *arg, const Mesos__V1__TaskID *task_id,
                 const Mesos__V1__KillPolicy *kill_policy);
    /* ACKNOWLEDGED: the update with this uuid (16 bytes) reached the agent and is forgotten
     * by the library. Called only for updates the library still held. */
    void (*acknowledged)(struct cm_exec *ex, void *arg, const Mesos__V1__TaskID *task_id,
                         const uint8_t *uuid, size_t uuid_len);
    /* MESSAGE: opaque bytes from the scheduler (may contain NUL). */
    void (*message)(struct cm_exec *ex, void *arg, const uint8_t *data, size_t len);
    /* SHUTDOWN from the agent, or the agent is gone (reason). Called at most once. */
    void (*shutdown)(struct cm_exec *ex, void *arg, enum cm_exec_shutdown_reason reason);
    /* ERROR from the agent: the executor should exit. The library stops after this. */
    void (*error)(struct cm_exec *ex, void *arg, const char *message);
    /* The stream to the agent was lost; the library re-subscribes after retry_in seconds
     * (not called when it gives up: shutdown is, with CM_EXEC_SHUTDOWN_AGENT_GONE). */
    void (*disconnected)(struct cm_exec *ex, void *arg, const char *reason, double retry_in);
    /* Every event, serialized (a v1 mesos.v1.executor.Event), before the typed callback.
     * For bindings that decode themselves. HEARTBEATs included. */
    void (*event_bytes)(struct cm_exec *ex, void *arg, const uint8_t *event, size_t len);
};

struct cm_exec_config {
    const struct cm_exec_env *env; /* required; deep-copied */
    /* The caller's loop (not owned), or NULL: the library owns one (see Threading). */
    struct event_base *base;
    struct cm_exec_callbacks callbacks; /* copied */
    void *callback_arg;
    /* Every diagnostic line of the library; NULL: silent. May be called on the loop thread
     * only. */
    void (*log)(void *arg, enum cm_exec_log_level level, const char *message);
    void *log_arg;
};

/* Creates an executor (not yet subscribed). Returns NULL with why filled when the config is
 * incomplete (no env, an env without ids or endpoint) or resources ran out. */
CM_EXEC_EXPORT struct cm_exec *cm_exec_new(const struct cm_exec_config *config, char *why,
                                           size_t whylen);
/* Cancels everything in flight without callbacks, frees the library-owned loop if any. NULL
 * is a no-op. Not from a callback; in library-owned mode only after cm_exec_run returned. */
CM_EXEC_EXPORT void cm_exec_free(struct cm_exec *ex);

/* Starts subscribing (the first attempt is made from the loop). Returns 0, or CM_EXEC_ESTATE
 * if already started or stopped. */
CM_EXEC_EXPORT int cm_exec_start(struct cm_exec *ex);
/* Library-owned loop only: runs it in the calling thread until cm_exec_stop (from any thread
 * or a callback) and returns 0 once no call is in flight any more (at most 2 s after the
 * stop; calls queued before the stop are made first). Updates never sent by then stay
 * unsent. CM_EXEC_ESTATE with the caller's loop, or while already running. */
CM_EXEC_EXPORT int cm_exec_run(struct cm_exec *ex);
/* Closes the subscription, stops re-subscribing; cm_exec_run returns. Any thread in
 * library-owned mode; idempotent. */
CM_EXEC_EXPORT void cm_exec_stop(struct cm_exec *ex);

/*
 * Calls. Each returns 0 once the call is accepted (kept and sent or queued), CM_EXEC_EINVAL
 * (why filled) for a bad argument, CM_EXEC_ESTATE after stop.
 */

/* UPDATE: a status update of one of the executor's tasks. status->task_id and status->state
 * are required; TASK_STAGING is refused (Mesos: an executor may not send it). The library
 * fills what is missing: uuid (a random 16 bytes), timestamp (now), source
 * (SOURCE_EXECUTOR), executor_id and agent_id; a uuid given must be 16 bytes. When uuid_out
 * is non-NULL the 16 bytes of the update's uuid are copied there (to match the
 * acknowledged callback). The update is kept until acknowledged. */
CM_EXEC_EXPORT int cm_exec_update(struct cm_exec *ex, const Mesos__V1__TaskStatus *status,
                                  uint8_t *uuid_out, char *why, size_t whylen);
/* The same with a serialized mesos.v1.TaskStatus (CM_EXEC_EPARSE when it does not decode). */
CM_EXEC_EXPORT int cm_exec_update_bytes(struct cm_exec *ex, const uint8_t *status, size_t len,
                                        uint8_t *uuid_out, char *why, size_t whylen);
/* MESSAGE: len bytes to the scheduler, at most once (not kept, not retried). */
CM_EXEC_EXPORT int cm_exec_message(struct cm_exec *ex, const void *data, size_t len, char *why,
                                   size_t whylen);
/* A serialized mesos.v1.executor.Call of type UPDATE or MESSAGE (framework_id and
 * executor_id are filled in; others are refused with CM_EXEC_EINVAL: SUBSCRIBE is the
 * library's). UPDATE goes through cm_exec_update's rules. */
CM_EXEC_EXPORT int cm_exec_call_bytes(struct cm_exec *ex, const uint8_t *call, size_t len,
                                      char *why, size_t whylen);

/* Accessors (loop thread, or any thread while the loop is not running). */
/* The loop the executor runs on (its own or the caller's). */
CM_EXEC_EXPORT struct event_base *cm_exec_base(const struct cm_exec *ex);
/* 1 while subscribed (SUBSCRIBED received on the open stream). */
CM_EXEC_EXPORT int cm_exec_subscribed(const struct cm_exec *ex);
/* Updates not yet acknowledged, and tasks with no acknowledged update. */
CM_EXEC_EXPORT size_t cm_exec_unacknowledged_updates(const struct cm_exec *ex);
CM_EXEC_EXPORT size_t cm_exec_unacknowledged_tasks(const struct cm_exec *ex);
/* The copied environment. */
CM_EXEC_EXPORT const struct cm_exec_env *cm_exec_env(const struct cm_exec *ex);
/* Text for any error code returned by this library. Never NULL. */
CM_EXEC_EXPORT const char *cm_exec_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
