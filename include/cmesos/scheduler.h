/*
 * cmesos/scheduler.h: libcmscheduler, a C client for the Mesos v1 scheduler HTTP API.
 *
 * A framework fills a struct cm_scheduler_config (master address, FrameworkInfo, callbacks) and
 * calls cm_scheduler_new() then cm_scheduler_start(). The library POSTs SUBSCRIBE to
 * http://<master>/api/v1/scheduler, follows 307 redirects to the leading master, decodes the
 * RecordIO event stream (JSON or protobuf) and hands each event to a callback. When the stream
 * ends, breaks, or stays silent for `heartbeat_misses` heartbeat intervals, it reconnects with a
 * jittered exponential backoff (1 s doubling to 15 s) and re-subscribes with the FrameworkID it
 * was given, which is how Mesos frameworks fail over. Calls (ACCEPT, DECLINE, KILL, ...) are
 * separate POSTs carrying the Mesos-Stream-Id of the current subscription.
 *
 * What it does not do: it never acknowledges status updates by itself (call
 * cm_scheduler_acknowledge for every update that carries a uuid), it keeps no offer or task
 * state, and it never prints: its diagnostics (subscription, redirects, reconnects, calls)
 * go to the optional log callback of each scheduler (none: silence). The few lines of the
 * ZooKeeper session code inside it are dropped rather than routed, because that code logs
 * without an instance to carry the callback. A zk:// master
 * is followed through ZooKeeper (the leader's json.info_ znode), with 307s still honoured.
 *
 * Boundary: the shared library exports the functions declared here (CM_SCHEDULER_EXPORT) and
 * the generated protobuf-c code of the two message headers this one includes (their *__INIT
 * macros name descriptors and default values; pack/unpack are there for frameworks that keep
 * messages); everything else in it, the project's common code and the internal messages
 * included, is hidden. tests/sched_lib_exports.cmake holds the library to this.
 *
 * Types: the API speaks the protobuf-c types generated from mesos/v1/mesos.proto and
 * mesos/v1/scheduler/scheduler.proto (Mesos__V1__Offer, Mesos__V1__TaskInfo, ...). Build them
 * with the *__INIT macros and pass pointers; the library never keeps them.
 *
 * Ownership: every pointer passed to a function is borrowed for the duration of that call only
 * (calls are encoded before the function returns). Every pointer handed to a callback is valid
 * only while the callback runs; copy what you need to keep.
 *
 * Threading: a scheduler belongs to one libevent event_base and to the thread that runs it.
 * Every function, including the calls, must be called from that thread (or before the loop
 * runs). Callbacks run on that thread. Callbacks may issue calls and may call
 * cm_scheduler_stop(); they must not call cm_scheduler_free().
 *
 * Errors: functions return 0 or a negative code: -errno, or one of the CM_SCHEDULER_E* codes
 * below (the same values as the project's CM_E* codes); cm_scheduler_strerror() describes any.
 */
#ifndef CMESOS_SCHEDULER_H
#define CMESOS_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "mesos/v1/mesos.pb-c.h"
#include "mesos/v1/scheduler/scheduler.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's public functions; the library is built with -fvisibility=hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define CM_SCHEDULER_EXPORT __attribute__((visibility("default")))
#else
#define CM_SCHEDULER_EXPORT
#endif

struct event_base;
struct cm_scheduler;

#define CM_SCHEDULER_EINVAL (-10001) /* bad argument or configuration; see the why text */
#define CM_SCHEDULER_EPARSE (-10002) /* an event could not be decoded */
#define CM_SCHEDULER_ESTATE (-10006) /* not subscribed / already started */
#define CM_SCHEDULER_EHTTP (-10007)  /* no answer from the master */
#define CM_SCHEDULER_EPROTO (-10008) /* the master broke the wire protocol */

/* How calls are encoded and which event encoding is asked for (Content-Type / Accept). */
enum cm_scheduler_content_type {
    CM_SCHEDULER_JSON = 0,     /* application/json */
    CM_SCHEDULER_PROTOBUF = 1, /* application/x-protobuf */
};

enum cm_scheduler_log_level {
    CM_SCHEDULER_LOG_DEBUG = 0,
    CM_SCHEDULER_LOG_INFO = 1,
    CM_SCHEDULER_LOG_WARNING = 2,
    CM_SCHEDULER_LOG_ERROR = 3,
};

/* Receives the library's diagnostics (connection attempts, redirects, failures). message is
 * valid during the call only. */
typedef void (*cm_scheduler_log_cb)(void *arg, enum cm_scheduler_log_level level,
                                    const char *message);

/*
 * Completion of one call. err is 0 when the master answered (status is then its HTTP status:
 * 202 for success, 200 for UPDATE_FRAMEWORK) or a negative code when no answer came
 * (connection refused, timeout). body is the master's (error) text, NUL-terminated, or "".
 * type names the call. Everything is valid during the callback only.
 */
typedef void (*cm_scheduler_call_cb)(struct cm_scheduler *sched, void *arg,
                                     Mesos__V1__Scheduler__Call__Type type, int err, long status,
                                     const char *body);

/*
 * Event callbacks. Each is optional (NULL: the event is dropped). `arg` is the config's
 * callback_arg. Event pointers are valid during the callback only.
 */
struct cm_scheduler_callbacks {
    /* SUBSCRIBED: the framework is registered; framework_id is remembered for failover. */
    void (*subscribed)(struct cm_scheduler *sched, void *arg,
                       const Mesos__V1__Scheduler__Event__Subscribed *subscribed);
    /* OFFERS: answer each offer with accept or decline (or let it be rescinded). */
    void (*offers)(struct cm_scheduler *sched, void *arg, Mesos__V1__Offer *const *offers,
                   size_t n_offers);
    /* RESCIND: the offer is no longer valid. */
    void (*rescind)(struct cm_scheduler *sched, void *arg, const Mesos__V1__OfferID *offer_id);
    /* UPDATE: a task status. If status->has_uuid, acknowledge it with cm_scheduler_acknowledge
     * (after acting on it); updates without a uuid must not be acknowledged. */
    void (*update)(struct cm_scheduler *sched, void *arg, const Mesos__V1__TaskStatus *status);
    /* MESSAGE: opaque data from an executor. */
    void (*message)(struct cm_scheduler *sched, void *arg,
                    const Mesos__V1__Scheduler__Event__Message *message);
    /* FAILURE: an agent was lost (only agent_id) or an executor exited (all fields). */
    void (*failure)(struct cm_scheduler *sched, void *arg,
                    const Mesos__V1__Scheduler__Event__Failure *failure);
    /* ERROR: the master refused or removed the framework ("Framework has been removed",
     * "Framework failed over", a validation error). The library does not reconnect after an
     * ERROR event; the scheduler is stopped when this returns. Also used for fatal local
     * conditions (SUBSCRIBE answered with a 4xx status). */
    void (*error)(struct cm_scheduler *sched, void *arg, const char *message);
    /* HEARTBEAT: the master is alive (the library's watchdog already noted it). */
    void (*heartbeat)(struct cm_scheduler *sched, void *arg);
    /* The subscription was lost (or could not be made); the library will retry after `delay`
     * seconds. Offers received so far are void. */
    void (*disconnected)(struct cm_scheduler *sched, void *arg, const char *reason, double delay);
    /* Any other event (INVERSE_OFFERS, RESCIND_INVERSE_OFFER, UPDATE_OPERATION_STATUS). */
    void (*other)(struct cm_scheduler *sched, void *arg, const Mesos__V1__Scheduler__Event *event);
    /* Completion of calls made without a per-call callback, when they failed (no answer, or a
     * status other than 2xx). */
    cm_scheduler_call_cb call_failed;
};

struct cm_scheduler_config {
    /* "host:port", "http://host:port" or "https://host:port" (a path, if any, is replaced by
     * /api/v1/scheduler), or "zk://[user:pass@]host:port[,...]/path" to follow the leading
     * master through ZooKeeper. Required. Copied. */
    const char *master;
    /* The framework to subscribe. Required; user and name must be set. Deep-copied. Set
     * framework_info->id to resume an existing framework (failover). */
    const Mesos__V1__FrameworkInfo *framework_info;
    enum cm_scheduler_content_type content_type;
    /* Loop to run on (not owned). NULL: the library creates one, owns it, and
     * cm_scheduler_run() runs it. */
    struct event_base *base;
    struct cm_scheduler_callbacks callbacks; /* copied */
    void *callback_arg;
    cm_scheduler_log_cb log; /* every line the library produces; NULL: silent */
    void *log_arg;
    /* Heartbeats that may be missed before the connection is considered dead (0 => 5). */
    unsigned heartbeat_misses;
    /* Reconnect backoff: first delay and cap in seconds (0 => 1 and 15). Each delay is
     * jittered to between half and all of min(initial * 2^attempt, max). */
    double backoff_initial;
    double backoff_max;
    /* Timeout for one non-SUBSCRIBE call in seconds (0 => 30). */
    double call_timeout;
};

/* Creates a scheduler (not yet connected). Returns NULL and fills why (if non-NULL) when the
 * config is invalid (missing master or framework_info, bad address or zk:// URL). */
CM_SCHEDULER_EXPORT struct cm_scheduler *cm_scheduler_new(const struct cm_scheduler_config *config,
                                                          char *why, size_t whylen);
/* Cancels every request in flight (no further callbacks), frees the library-owned event base
 * if any. NULL is a no-op. Not from a callback. */
CM_SCHEDULER_EXPORT void cm_scheduler_free(struct cm_scheduler *sched);

/* Starts subscribing (the first attempt is made at once, on the loop). Returns 0, or
 * CM_SCHEDULER_ESTATE if already started. */
CM_SCHEDULER_EXPORT int cm_scheduler_start(struct cm_scheduler *sched);
/* Closes the subscription and stops reconnecting. Calls already sent still complete and
 * report through their callbacks. May be called from a callback. */
CM_SCHEDULER_EXPORT void cm_scheduler_stop(struct cm_scheduler *sched);
/* Library-owned base only: runs the loop until cm_scheduler_stop() was called and every call
 * in flight completed. Returns 0, or CM_SCHEDULER_ESTATE when the base is the caller's. */
CM_SCHEDULER_EXPORT int cm_scheduler_run(struct cm_scheduler *sched);

/* Authenticates the framework with HTTP Basic (Mesos's framework authentication over the v1
 * API, the master's --authenticate_frameworks / --authenticate_http_frameworks): SUBSCRIBE and
 * every later call carry "Authorization: Basic base64(principal:secret)". Set it before
 * cm_scheduler_start (later, it applies to the next attempt and the next calls); principal
 * NULL removes it. Both strings are copied. The master usually expects
 * framework_info->principal to be the same principal. A SUBSCRIBE the master refuses (401,
 * wrong credential) is reported through the error callback like any other 4xx.
 * (A setter rather than fields of struct cm_scheduler_config, so that frameworks built against
 * an older header, whose config struct is shorter, keep working with this library.)
 * Returns 0, or CM_SCHEDULER_EINVAL when principal is empty or has ':' or a control byte, or
 * secret is NULL or has a control byte. */
CM_SCHEDULER_EXPORT int cm_scheduler_set_credential(struct cm_scheduler *sched,
                                                    const char *principal, const char *secret);

/* The loop the scheduler runs on (its own or the caller's). */
CM_SCHEDULER_EXPORT struct event_base *cm_scheduler_base(const struct cm_scheduler *sched);
/* 1 while a subscription is established (SUBSCRIBED received and stream open). */
CM_SCHEDULER_EXPORT int cm_scheduler_subscribed(const struct cm_scheduler *sched);
/* The FrameworkID assigned by the master, or NULL before the first SUBSCRIBED. Valid until
 * the next event or free. */
CM_SCHEDULER_EXPORT const char *cm_scheduler_framework_id(const struct cm_scheduler *sched);
/* Number of non-SUBSCRIBE calls waiting for their answer. */
CM_SCHEDULER_EXPORT size_t cm_scheduler_pending_calls(const struct cm_scheduler *sched);
/* Text for any error code returned by this library. Never NULL. */
CM_SCHEDULER_EXPORT const char *cm_scheduler_strerror(int err);

/*
 * Calls. Each returns 0 once the call is encoded and sent, CM_SCHEDULER_ESTATE when not
 * subscribed, CM_SCHEDULER_EINVAL for missing arguments; the master's answer arrives later through
 * callbacks.call_failed (only on failure). framework_id and Mesos-Stream-Id are filled in by
 * the library.
 */

/* Sends any call (type and body set by the caller; framework_id is overwritten). cb (optional)
 * receives the completion, success or not, instead of call_failed. */
CM_SCHEDULER_EXPORT int cm_scheduler_call(struct cm_scheduler *sched,
                                          Mesos__V1__Scheduler__Call *call, cm_scheduler_call_cb cb,
                                          void *cb_arg);

/* ACCEPT: apply operations to the offers; unused resources are declined with filters (NULL:
 * the master's default, refuse for 5 s). */
CM_SCHEDULER_EXPORT int cm_scheduler_accept(struct cm_scheduler *sched,
                                            Mesos__V1__OfferID *const *offer_ids,
                                            size_t n_offer_ids,
                                            Mesos__V1__Offer__Operation *const *operations,
                                            size_t n_operations, const Mesos__V1__Filters *filters);
/* ACCEPT with one LAUNCH operation of tasks (each with agent_id set to the offers' agent). */
CM_SCHEDULER_EXPORT int
cm_scheduler_accept_launch(struct cm_scheduler *sched, Mesos__V1__OfferID *const *offer_ids,
                           size_t n_offer_ids, Mesos__V1__TaskInfo *const *tasks, size_t n_tasks,
                           const Mesos__V1__Filters *filters);
/* DECLINE offers; filters as for accept. */
CM_SCHEDULER_EXPORT int cm_scheduler_decline(struct cm_scheduler *sched,
                                             Mesos__V1__OfferID *const *offer_ids,
                                             size_t n_offer_ids, const Mesos__V1__Filters *filters);
/* REVIVE / SUPPRESS offers for roles (n_roles 0: every role of the framework). */
CM_SCHEDULER_EXPORT int cm_scheduler_revive(struct cm_scheduler *sched, const char *const *roles,
                                            size_t n_roles);
CM_SCHEDULER_EXPORT int cm_scheduler_suppress(struct cm_scheduler *sched, const char *const *roles,
                                              size_t n_roles);
/* KILL a task; agent_id may be NULL. */
CM_SCHEDULER_EXPORT int cm_scheduler_kill(struct cm_scheduler *sched, const char *task_id,
                                          const char *agent_id);
/* ACKNOWLEDGE a status update: agent_id and task_id from the status, uuid its 16 bytes. */
CM_SCHEDULER_EXPORT int cm_scheduler_acknowledge(struct cm_scheduler *sched, const char *agent_id,
                                                 const char *task_id, const uint8_t *uuid,
                                                 size_t uuid_len);
/* Convenience: acknowledges status if it carries a uuid; returns 0 without a call if not. */
CM_SCHEDULER_EXPORT int cm_scheduler_acknowledge_status(struct cm_scheduler *sched,
                                                        const Mesos__V1__TaskStatus *status);
/* RECONCILE: explicit for the listed tasks (agent ids may be NULL entries or the array NULL),
 * implicit (every task the master knows) when n_tasks is 0. */
CM_SCHEDULER_EXPORT int cm_scheduler_reconcile(struct cm_scheduler *sched,
                                               const char *const *task_ids,
                                               const char *const *agent_ids, size_t n_tasks);
/* SHUTDOWN an executor on an agent. */
CM_SCHEDULER_EXPORT int cm_scheduler_shutdown(struct cm_scheduler *sched, const char *executor_id,
                                              const char *agent_id);
/* MESSAGE: data (len bytes) to an executor, at most once. */
CM_SCHEDULER_EXPORT int cm_scheduler_message(struct cm_scheduler *sched, const char *agent_id,
                                             const char *executor_id, const void *data, size_t len);
/* TEARDOWN the framework: the master kills its tasks and closes the stream. cb (optional)
 * reports the answer. The scheduler stops by itself once the master accepted the teardown
 * (or closed the stream after it), so cm_scheduler_run() then returns. */
CM_SCHEDULER_EXPORT int cm_scheduler_teardown(struct cm_scheduler *sched, cm_scheduler_call_cb cb,
                                              void *cb_arg);

#ifdef __cplusplus
}
#endif

#endif
