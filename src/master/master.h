/*
 * master.h: the cmesos master — frameworks, agents, offers and tasks, and the APIs that drive
 * them (scheduler API, the agent link, read-only endpoints, metrics).
 *
 * All state lives in one struct cm_master created by cm_master_new; there is no global mutable
 * state, so one process (a test) can host several masters. Everything runs on the event loop
 * the master was created with. Time is read through m->clock (injectable); libevent timers in
 * cron.c only wake the loop, the logic they run asks the clock.
 *
 * Layers:
 *   master.c        state and the transitions (subscribe, offers, launch, updates, removal)
 *   calls.c         scheduler calls (validation §2.2, request decision §2.1, call handlers)
 *   sched_http.c    the HTTP edge of the scheduler API (streams, encoding)
 *   agent_api.c     the master<->agent link (notes/link.md)
 *   endpoints.c     /master/state and friends, /metrics/snapshot
 *   cron.c          periodic timers (allocation, heartbeats, pings, expiries)
 *   registrar.c     registry storage seam; contender.c leadership seam
 *
 * Testing without sockets: a framework or agent "sink" can be a callback that receives each
 * event message instead of an HTTP stream (struct cm_sink), and every transition is reachable
 * through the functions below taking decoded protobuf messages.
 *
 * Ownership: the master owns every framework, agent, task and offer; protobuf messages handed
 * in are copied when kept. Errors: functions return HTTP-like codes where they decide a request's
 * answer (documented per function), otherwise 0 / negative CM_E* codes.
 */
#ifndef CM_MASTER_H
#define CM_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "cmesos/internal.pb-c.h"
#include "http_server.h"
#include "master_flags.h"
#include "mesos/v1/mesos.pb-c.h"
#include "mesos/v1/scheduler/scheduler.pb-c.h"
#include "pbjson.h"
#include "resources.h"
#include "ring.h"
#include "strmap.h"
#include "util.h"

struct event_base;
struct event;
struct cm_allocator;
struct cm_registrar;
struct cm_contender;
struct cm_master;

/* Where a stream's events go: an HTTP stream (production) or a callback (tests). */
typedef void (*cm_sink_cb)(void *arg, const ProtobufCMessage *msg);
typedef void (*cm_sink_end_cb)(void *arg);

struct cm_sink {
    enum cm_media media; /* encoding for HTTP streams */
    struct cm_http_stream *stream;
    cm_sink_cb cb; /* tests: receives every message sent */
    cm_sink_end_cb end_cb;
    void *arg;
    void *ref; /* HTTP streams: the close callback's closure, freed when we end the stream */
};

#define CM_MASTER_NCALL_TYPES 18
#define CM_MASTER_NEVENT_TYPES 12

struct cm_offer {
    char *id;
    struct cm_framework *fw;
    struct cm_agent *agent;
    char *role;
    struct cm_resources resources;
    double created;
    struct cm_offer *prev, *next; /* master's list in creation order (= expiry order) */
    bool batched;                 /* queued in the framework's pending OFFERS event */
};

struct cm_task {
    char *id;
    struct cm_framework *fw;
    struct cm_agent *agent; /* NULL once the agent is removed */
    char *agent_id;
    char *role;
    Mesos__V1__TaskInfo *info; /* owned copy */
    int state;                 /* Mesos__V1__TaskState */
    int status_update_state;   /* state of the latest update forwarded; -1 if none */
    bool has_uuid;
    uint8_t uuid[16];                 /* uuid of the latest forwarded update (ack target) */
    Mesos__V1__TaskStatus **statuses; /* history (owned copies), bounded */
    size_t nstatuses;
    struct cm_resources resources;
    bool released;     /* resources went back to the allocator */
    bool kill_pending; /* KILL asked while the agent was disconnected */
    bool kill_asked;   /* the framework asked to kill it (a lost RUN_TASK is then not resent) */
    /* The master sent RUN_TASK (or tried to: the link may have been down) and the agent has not
     * yet proven it has the task: no TASK_LAUNCH_ACK and no status update from it. When the
     * agent re-registers without the task, the launch is sent again instead of the task being
     * declared lost (the RUN_TASK died with the link). */
    bool launch_unacked;
    double updated; /* timestamp of the latest status (for /master/tasks ordering) */
    /* Unreachable tasks (the agent was marked unreachable) live in their framework's
     * unreachable_tasks, oldest first, bounded by --max_unreachable_tasks_per_framework. */
    double unreachable_time;
    struct cm_task *uprev, *unext;
};

struct cm_fw_metrics {
    uint64_t calls, events;
    uint64_t call_types[CM_MASTER_NCALL_TYPES];
    uint64_t event_types[CM_MASTER_NEVENT_TYPES];
    uint64_t offers_sent, offers_accepted, offers_declined, offers_rescinded;
};

struct cm_framework {
    char *id;
    Mesos__V1__FrameworkInfo *info; /* owned copy, id set */
    char **roles;                   /* MULTI_ROLE: info.roles; else { role or "*" } */
    size_t nroles;
    char **suppressed;
    size_t nsuppressed;
    bool multi_role, partition_aware;
    bool connected, active, recovered, completed;
    struct cm_sink sink;
    char stream_id[37];
    double registered_time, reregistered_time, unregistered_time;
    double failover_deadline;       /* when disconnected: removal time */
    struct cm_strmap tasks;         /* task id -> cm_task (active) */
    struct cm_ring completed_tasks; /* cm_task, oldest first, --max_completed_tasks_per_framework */
    struct cm_strmap offers;        /* offer id -> cm_offer */
    struct cm_strmap unreachable_tasks; /* task id -> cm_task (agent unreachable) */
    struct cm_task *uhead, *utail;      /* same tasks, in the order they became unreachable */
    struct cm_offer **batch;            /* offers made this cycle, sent after it */
    size_t nbatch, batch_cap;
    bool in_batch_list;
    struct cm_resources used, offered;
    struct cm_fw_metrics metrics;
};

struct cm_agent {
    char *id;
    Mesos__V1__AgentInfo *info; /* owned copy, id set */
    char *pid, *ip, *hostname, *version;
    int port;
    int *capabilities;
    size_t ncapabilities;
    struct cm_resources total, used, offered;
    bool connected, active;
    struct cm_sink sink;
    char stream_id[37];
    double registered_time, reregistered_time, last_pong;
    double disconnected_time; /* when the stream closed (0 while connected) */
    /* "<framework id> <task id>" of non-checkpointing frameworks' tasks declared lost when the
     * stream closed: if the agent comes back still running them, they are killed. */
    struct cm_strmap lost_tasks;
    struct cm_strmap tasks;  /* "<framework id> <task id>" -> cm_task */
    struct cm_strmap offers; /* offer id -> cm_offer */
};

/* Counters for /metrics/snapshot (protocol doc §7). */
struct cm_master_metrics {
    uint64_t tasks_terminal[16];   /* by TaskState value: transitions into terminal states */
    int64_t task_gauge[16];        /* active tasks by TaskState value */
    struct cm_strmap task_reasons; /* "master/task_x/source_y/reason_z" -> uint64_t* */
    uint64_t messages_register_framework, messages_reregister_framework,
        messages_unregister_framework, messages_deactivate_framework, messages_launch_tasks,
        messages_decline_offers, messages_revive_offers, messages_suppress_offers,
        messages_kill_task, messages_status_update, messages_status_update_acknowledgement,
        messages_reconcile_tasks, messages_reconcile_operations, messages_resource_request,
        messages_framework_to_executor, messages_executor_to_framework, messages_exited_executor,
        messages_register_slave, messages_reregister_slave, messages_unregister_slave,
        messages_update_slave;
    uint64_t valid_status_updates, invalid_status_updates;
    uint64_t valid_status_update_acknowledgements, invalid_status_update_acknowledgements;
    uint64_t valid_framework_to_executor_messages, invalid_framework_to_executor_messages;
    uint64_t valid_executor_to_framework_messages, invalid_executor_to_framework_messages;
    uint64_t slave_registrations, slave_reregistrations, slave_removals,
        slave_removals_unregistered, slave_removals_unhealthy;
    uint64_t slave_unreachable_scheduled, slave_unreachable_completed, slave_unreachable_canceled,
        recovery_slave_removals;
    uint64_t dropped_messages;
    uint64_t allocation_runs;
    double alloc_ms[1024]; /* ring of recent allocation cycle durations */
    size_t alloc_n, alloc_head;
};

struct cm_pending_recover {
    char *fw, *role, *agent;
    struct cm_resources res;
};

struct reg_ctx;

struct cm_master {
    struct event_base *base;
    /* Agent registrations waiting for the registry to record them (agent_api.c): a list, so that
     * an agent stream closing meanwhile can be detached from its registration. */
    struct reg_ctx *pending_registrations;
    const struct cm_master_flags *flags;
    const struct cm_clock *clock;
    struct cm_allocator *allocator;
    struct cm_registrar *registrar;
    struct cm_contender *contender;
    struct cm_http_server *http;
    struct cm_cron *cron;

    char id[37];
    char hostname[256];
    char ip[64]; /* advertised */
    uint16_t port;
    Mesos__V1__MasterInfo *info; /* owned */
    double start_time, elected_time;
    bool shutting_down;

    uint64_t next_framework, next_agent, next_offer;
    struct cm_strmap frameworks;   /* active (incl. disconnected and recovered) */
    struct cm_strmap completed;    /* id -> completed framework */
    struct cm_ring completed_list; /* same frameworks, oldest first, --max_completed_frameworks */
    struct cm_strmap agents;
    struct cm_strmap offers;
    struct cm_offer *offers_head, *offers_tail;
    struct cm_framework **batch_list; /* frameworks with offers queued this cycle */
    size_t nbatch_list, batch_list_cap;
    struct cm_pending_recover *pending; /* allocations to recover after the cycle */
    size_t npending, pending_cap;

    /* Registry recovery (master restart): admitted agents expected to re-register by
     * recovery_deadline (--agent_reregister_timeout); id -> (void *)1. */
    struct cm_strmap recovering_agents;
    double recovery_deadline;
    double next_registry_gc;
    bool registrar_failed; /* a registry store failed: the master cannot admit agents */
    /* Ids of removed frameworks (never allowed to subscribe again), FIFO-bounded. */
    struct cm_strmap removed_ids;
    struct cm_ring removed_ring; /* the same ids (owned strings), oldest first */

    struct cm_master_metrics metrics;
};

/* ---- lifecycle (master.c) ---- */

/* Creates a master on base with flags (kept by pointer) and the real clock. No socket is
 * opened until cm_master_start. Returns NULL on failure (bad --weights, unknown registry). */
struct cm_master *cm_master_new(struct event_base *base, const struct cm_master_flags *flags);
/* Same with an injected clock (tests). */
struct cm_master *cm_master_new_clock(struct event_base *base, const struct cm_master_flags *flags,
                                      const struct cm_clock *clock);
/* Binds the HTTP server, writes --port_file, starts the timers. Returns 0 or -errno. */
int cm_master_start(struct cm_master *m);
/* Ends every stream and frees everything. NULL is a no-op. */
void cm_master_free(struct cm_master *m);

/* ---- scheduler API (calls.c) ---- */

/* A scheduler API request reduced to what the decision needs (no HTTP objects). */
struct cm_sched_request {
    const char *method;
    const char *content_type; /* header or NULL */
    const char *accept;       /* header or NULL */
    const char *stream_id;    /* Mesos-Stream-Id header or NULL */
    const uint8_t *body;
    size_t body_len;
};

struct cm_sched_result {
    int code;                         /* HTTP status */
    char text[1024];                  /* error body (plain text) or Location for 307 */
    enum cm_media media;              /* SUBSCRIBE: negotiated event media */
    Mesos__V1__Scheduler__Call *call; /* SUBSCRIBE (code 200): the call, caller frees */
};

/* Runs protocol doc §2.1 for one request. For non-SUBSCRIBE calls that pass every check the
 * call is executed and 202 returned (events go to the streams). For a valid SUBSCRIBE it
 * returns 200 with res->call set: the caller opens the stream and calls cm_master_subscribe.
 * Errors: 307 (text = Location), 503, 405, 400, 415, 406, 403, 501, with res->text. */
void cm_master_scheduler_request(struct cm_master *m, const struct cm_sched_request *req,
                                 struct cm_sched_result *res);

/* §2.2 validation of a decoded call. Returns 0 or CM_EINVAL with why. */
int cm_master_validate_call(const Mesos__V1__Scheduler__Call *call, char *why, size_t whylen);
/* §2.5 FrameworkInfo validation. Returns 0 or CM_EINVAL with why. */
int cm_master_validate_framework_info(const struct cm_master *m,
                                      const Mesos__V1__FrameworkInfo *info, char *const *suppressed,
                                      size_t nsuppressed, char *why, size_t whylen);

/* Subscribes (or re-subscribes) with a validated SUBSCRIBE call on sink (taken over: on
 * failure an ERROR event is sent and the sink ended). stream_id is the new stream's id.
 * Returns the framework or NULL when the subscription was refused. */
struct cm_framework *cm_master_subscribe(struct cm_master *m,
                                         const Mesos__V1__Scheduler__Call *call,
                                         const struct cm_sink *sink, const char *stream_id);
/* UPDATE_FRAMEWORK (validated): new info (user/checkpoint kept), roles and suppressed roles;
 * offers for roles the framework left are rescinded. */
void cm_master_apply_framework_info(struct cm_master *m, struct cm_framework *fw,
                                    const Mesos__V1__FrameworkInfo *info, char *const *suppressed,
                                    size_t nsuppressed);
/* Sends AgentEvent UPDATE_FRAMEWORK with fw's current info to every connected agent that holds
 * one of its active tasks (each agent once); called after UPDATE_FRAMEWORK and re-subscribe. */
void cm_master_send_framework_update(struct cm_master *m, struct cm_framework *fw);
/* Re-creates a framework known only from an agent's re-registration (master failover): it is
 * inactive and "recovered" until its scheduler subscribes again. */
struct cm_framework *cm_master_recover_framework(struct cm_master *m,
                                                 const Mesos__V1__FrameworkInfo *info);
/* Sends t's RUN_TASK (its info, resources in its allocation role, its framework's info) to
 * its agent and marks the launch unacknowledged until the agent proves it has the task. */
void cm_master_send_run_task(struct cm_master *m, struct cm_task *t);
/* Sends the KILL_TASKs remembered while agent was disconnected. */
void cm_master_send_pending_kills(struct cm_master *m, struct cm_agent *agent);
/* A framework's stream went away (peer closed). */
void cm_master_framework_disconnected(struct cm_master *m, struct cm_framework *fw);

/* ---- the agent link (agent_api.c) ---- */

/* Decodes an agent link request body of media (JSON or protobuf) with every required field
 * and enum checked (codec.h). Returns 0 and *out (caller frees), or 415 (other media) / 400
 * with why naming the field; *out is then NULL. */
int cm_master_agent_decode(enum cm_media media, const uint8_t *body, size_t len,
                           Cmesos__Internal__AgentCall **out, char *why, size_t whylen);
/* Handles a decoded AgentCall. For REGISTER, sink is the new stream (taken over on success)
 * and *agent_out receives the agent; the answer is 200. Other calls: 202, or 400/403 with why.
 * stream_id: for REGISTER the new stream's id, otherwise the request's Mesos-Stream-Id. */
/* Validates a REGISTER call (400 material). Returns 0 or CM_EINVAL with why. */
int cm_master_agent_validate_register(const struct cm_master *m,
                                      const Cmesos__Internal__AgentCall *call, char *why,
                                      size_t whylen);
int cm_master_agent_call(struct cm_master *m, const Cmesos__Internal__AgentCall *call,
                         const struct cm_sink *sink, const char *stream_id,
                         struct cm_agent **agent_out, char *why, size_t whylen);
void cm_master_agent_disconnected(struct cm_master *m, struct cm_agent *agent);
/* The HTTP stream whose close-callback closure is ref went away before its REGISTER was
 * admitted: the pending registration forgets it (the agent is then admitted disconnected). */
void cm_master_agent_register_stream_closed(struct cm_master *m, void *ref);
/* Defined by the HTTP layer (sched_http.c): binds a registration stream's closure to the agent
 * once a registration that waited for the registry completes. */
void cm_master_stream_ref_attach(void *ref, struct cm_agent *agent);
/* Frees an agent's memory (it must be unlinked from every index first). */
void cm_agent_free(struct cm_agent *a);

/* ---- allocation and time (master.c) ---- */

/* Runs one allocation cycle now and sends the resulting OFFERS events. */
void cm_master_allocate(struct cm_master *m);
/* Asks for an allocation cycle soon (coalesced; runs on the loop). */
void cm_master_allocate_soon(struct cm_master *m);
/* Applies every time-based rule due at the clock's now: offer timeouts, failover timeouts. */
void cm_master_check_timeouts(struct cm_master *m);
/* Sends HEARTBEAT to every connected framework / PING to every connected agent. */
void cm_master_heartbeat(struct cm_master *m);
void cm_master_ping_agents(struct cm_master *m);

/* ---- internals shared by the master's files ---- */

struct cm_framework *cm_master_framework(struct cm_master *m, const char *id);
struct cm_agent *cm_master_agent(struct cm_master *m, const char *id);
/* Sends one event (scheduler Event) to fw if connected; counts it. */
void cm_master_send_event(struct cm_master *m, struct cm_framework *fw,
                          const Mesos__V1__Scheduler__Event *ev);
/* Sends one AgentEvent to agent if connected. */
void cm_master_send_agent(struct cm_master *m, struct cm_agent *agent,
                          const Cmesos__Internal__AgentEvent *ev);
/* Sends msg on sink, encoded for its media and framed with RecordIO. */
int cm_sink_send(const struct cm_sink *sink, const ProtobufCMessage *msg);
void cm_sink_end(struct cm_sink *sink);

/* Removes an offer; recover=true gives its resources back (with filter refuse seconds),
 * rescind=true also sends RESCIND to the framework. */
void cm_master_remove_offer(struct cm_master *m, struct cm_offer *o, bool recover, bool rescind,
                            double refuse);
/* Removes a framework now: offers recovered, tasks killed on their agents, moved to completed. */
void cm_master_remove_framework(struct cm_master *m, struct cm_framework *fw);
/* Applies a status (copied) to a task: state, history, terminal accounting. */
void cm_master_update_task(struct cm_master *m, struct cm_task *t, const Mesos__V1__TaskStatus *st,
                           int latest_state);
/* Moves a task to its framework's completed tasks (removed from every index). */
void cm_master_complete_task(struct cm_master *m, struct cm_task *t);
/* Creates a task (STAGING) owned by fw on agent; info copied; resources copied. */
struct cm_task *cm_master_add_task(struct cm_master *m, struct cm_framework *fw,
                                   struct cm_agent *agent, const Mesos__V1__TaskInfo *info,
                                   const struct cm_resources *res, const char *role);
/* Sets a task (just added) to what an agent reported on re-registration: state, history,
 * status-update state and uuid. A terminal task is marked released (never allocated). */
void cm_master_restore_task(struct cm_master *m, struct cm_task *t, const Mesos__V1__Task *rep);
/* Same with unreachable_time (seconds; < 0: none) and an optional reason. */
void cm_master_send_master_update_ex(struct cm_master *m, struct cm_framework *fw,
                                     const char *task_id, const char *agent_id, int state,
                                     int reason, const char *message, double unreachable_time);
/* Moves t (of fw) to state on the master's own authority (source MASTER, reason, now,
 * unreachable_time in seconds when >= 0) and sends fw the matching UPDATE naming agent_id and
 * carrying message. */
void cm_master_transition_task(struct cm_master *m, struct cm_framework *fw, struct cm_task *t,
                               const char *agent_id, int state, int reason, const char *message,
                               double unreachable_time);
/* Marks agent unreachable (missed pings, stream gone past the ping budget, or not back after a
 * master restart): recorded in the registry first, then its tasks become TASK_UNREACHABLE
 * (partition-aware frameworks, with unreachable_time) or TASK_LOST, FAILURE is sent to every
 * framework, its offers are rescinded and it is removed. */
void cm_master_mark_agent_unreachable(struct cm_master *m, struct cm_agent *agent, const char *why);
/* Moves a task to its framework's unreachable tasks (resources released, indexes dropped). */
void cm_master_task_unreachable(struct cm_master *m, struct cm_task *t, double when);
/* Drops and frees one of fw's unreachable tasks (already removed from the map when
 * unlinked is true). */
void cm_master_forget_unreachable_task(struct cm_framework *fw, struct cm_task *t, bool unlinked);
/* Prunes the registry's unreachable list (--registry_max_agent_age/_count); on a timer. */
void cm_master_registry_gc(struct cm_master *m);
/* A registry operation failed: logs, and stops the event loop (main exits non-zero). */
void cm_master_registrar_failed(struct cm_master *m);
/* True while agent id is expected to re-register after a master restart. */
bool cm_master_agent_recovering(const struct cm_master *m, const char *id);
/* Sends a master-generated UPDATE (no uuid) to fw. */
void cm_master_send_master_update(struct cm_master *m, struct cm_framework *fw, const char *task_id,
                                  const char *agent_id, int state, int reason, const char *message);
/* Counts a task state transition for the per source/reason counters. */
void cm_master_count_status(struct cm_master *m, int state, int source, bool has_source, int reason,
                            bool has_reason);
/* Task state helpers. */
const char *cm_task_state_name(int state);
/* Maps a partition-aware state to TASK_LOST for frameworks that are not PARTITION_AWARE. */
int cm_master_task_state_for(const struct cm_framework *fw, int state);

/* ---- endpoints (endpoints.c) ---- */
void cm_master_routes(struct cm_master *m);
/* The API routes (sched_http.c); called by cm_master_routes. */
void cm_master_sched_http_routes(struct cm_master *m);
void cm_master_record_allocation_ms(struct cm_master *m, double ms);
/* The /metrics/snapshot object (caller decrefs). */
json_t *cm_master_metrics_json(struct cm_master *m);

/* ---- cron (cron.c) ---- */
struct cm_cron *cm_cron_new(struct cm_master *m);
void cm_cron_free(struct cm_cron *c);
void cm_cron_allocate_soon(struct cm_cron *c);

#endif
