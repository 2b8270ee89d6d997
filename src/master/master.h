/*
 * master.h: the core of the cmesos master — frameworks, agents, offers and tasks, and the
 * transitions between their states. This is the master's contract with everything above it.
 *
 * All state lives in one struct cm_master created by cm_master_new; there is no global mutable
 * state, so one process (a test) can host several masters. Everything runs on the event loop
 * the master was created with. Time is read through m->clock (injectable); libevent timers in
 * cron.c only wake the loop, the logic they run asks the clock.
 *
 * Layers (docs/architecture.md, "The master's layers"). Calls go down only:
 *
 *   HTTP edge     master_http.c      server start, 307 to the leader, routes (master_http.h)
 *                 scheduler_http.c   /api/v1/scheduler: headers, streams
 *                 agent_link_http.c  /master/api/v1/agent: the agent link's streams
 *                 endpoints.c        /master/state and friends, /metrics/snapshot
 *                 operator_http.c    /api/v1 operator API, /roles, /weights, /teardown
 *   call layer    scheduler_calls.c  scheduler calls: decode, §2.1 decisions, handlers
 *                                    (scheduler_calls.h)
 *                 agent_link.c       agent link calls: decode, dispatch (agent_link.h)
 *                 operator*.c        operator calls, state builders, SUBSCRIBE (operator.h)
 *   core          master.c           lifecycle, sinks, timeouts, heartbeats
 *     (this       frameworks.c       subscribe, failover, update, removal
 *      header)    agents.c           registration, reconciliation, pings, partitions, removal
 *                 offers.c           allocation cycles and offers
 *                 tasks.c            tasks, status updates, RUN_TASK / KILL_TASK
 *                 validation.c       checks of calls and infos (pure)
 *                 agent_admin.c      operator actions on agents (deactivate, drain, gone)
 *                 observer.c         the one observer of changes (operator SUBSCRIBE)
 *                 cron.c             periodic timers
 *                 agent_streams.c    shared link streams (several agents on one stream)
 *                 master_auth.c      credentials, ACLs, identity binding, the HTTP guards
 *   seams         registrar.c (registry storage), contender.c (leadership), allocator/
 *
 * The core never calls up: no core file includes an edge header, and the only ways the core
 * reaches an edge are its observer (struct cm_master_observer) and a struct cm_sink — a
 * stream's send/end, or the bind_cb with which the edge learns which agent a stream it opened
 * belongs to. Tests use the same seam: a sink can be a callback that receives each event
 * message instead of an HTTP stream, and every transition is reachable through the functions
 * below taking decoded protobuf messages.
 *
 * Ownership: the master owns every framework, agent, task and offer; protobuf messages handed
 * in are copied when kept. Errors: functions return HTTP-like codes where they decide a
 * request's answer (documented per function), otherwise 0 / negative CM_E* codes with why.
 */
#ifndef CM_MASTER_H
#define CM_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acls.h"
#include "auth.h"
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
struct cm_files;
struct cm_http_client;
struct cm_master;

/* Where a stream's events go: an HTTP stream (production) or a callback (tests). This is the
 * core's only way up to the edges. */
typedef void (*cm_sink_cb)(void *arg, const ProtobufCMessage *msg);
typedef void (*cm_sink_end_cb)(void *arg);
/* The edge that opened a stream learns which object (a struct cm_agent) it now serves. */
typedef void (*cm_sink_bind_cb)(void *ref, void *obj);

struct cm_sink {
    enum cm_media media; /* encoding for HTTP streams */
    struct cm_http_stream *stream;
    cm_sink_cb cb; /* tests: receives every message sent */
    cm_sink_end_cb end_cb;
    void *arg;
    void *ref; /* HTTP streams: the close callback's closure, freed when we end the stream */
    cm_sink_bind_cb bind_cb; /* optional: called with ref when a later event binds the stream */
    /* The principal the peer of this stream authenticated as ("" when it did not). */
    char principal[CM_AUTH_MAX_PRINCIPAL + 1];
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
    /* Custom executors on agents (executors.c): "<agent id> <executor id>" -> cm_executor. */
    struct cm_strmap executors;
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
    /* The principal that registered this agent id (--authenticate_agents), kept while the
     * master knows the agent: a REGISTER for this id by another principal is refused. */
    char *principal;
    /* Operator state (agent_admin.c): a deactivated agent is never offered; a draining one is
     * deactivated and its tasks killed; drain_state is a Mesos__V1__DrainState (0: none). */
    bool deactivated;
    int drain_state;
    bool drain_has_grace, drain_mark_gone;
    int64_t drain_grace_ns;
    /* Custom executors here (executors.c): "<framework id> <executor id>" -> cm_executor. */
    struct cm_strmap executors;
};

/* A custom executor the master placed on an agent (or learnt of from its re-registration).
 * It is indexed in both its framework's and its agent's executors; its resources count in
 * both used sums and in the allocator until the agent reports its exit (executors.c). */
struct cm_executor {
    char *id;
    struct cm_framework *fw;
    struct cm_agent *agent;
    char *role;                    /* the allocation role its resources came from */
    Mesos__V1__ExecutorInfo *info; /* owned copy, framework_id set */
    struct cm_resources resources;
};

/* Counters for /metrics/snapshot (docs/wire-protocol.md §7). */
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

/* What the core tells an observer (the operator API's SUBSCRIBE streams) about its changes. The
 * core calls these after a change is made, never from inside an iteration that the callback
 * could disturb; a callback must not change the master's state. Every member may be NULL. */
struct cm_master_observer {
    void *arg;
    void (*task_added)(void *arg, const struct cm_task *t);
    /* t changed state (t->state is the new state); st is the status that made it. */
    void (*task_updated)(void *arg, const struct cm_task *t, const Mesos__V1__TaskStatus *st);
    void (*agent_added)(void *arg, const struct cm_agent *a);
    void (*agent_removed)(void *arg, const char *agent_id);
    void (*framework_added)(void *arg, const struct cm_framework *fw);
    void (*framework_updated)(void *arg, const struct cm_framework *fw);
    void (*framework_removed)(void *arg, const struct cm_framework *fw);
    /* The master is being freed: the observer lets go of it (and frees arg if it owns it). */
    void (*destroy)(void *arg);
};

struct cm_master {
    struct event_base *base;
    /* Agent registrations waiting for the registry to record them (agents.c): a list, so that
     * an agent stream closing meanwhile can be detached from its registration. */
    struct reg_ctx *pending_registrations;
    const struct cm_master_flags *flags;
    const struct cm_clock *clock;
    struct cm_allocator *allocator;
    struct cm_registrar *registrar;
    struct cm_contender *contender;
    struct cm_http_server *http; /* created and bound by the HTTP edge; freed with the master */
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

    /* Authentication and authorization (master_auth.c, docs/security.md); NULL when unset. */
    struct cm_credentials *credentials;      /* --credentials: frameworks and agents */
    struct cm_credentials *http_credentials; /* --http_credentials, else --credentials */
    struct cm_acls *acls;                    /* --acls (NULL: everything allowed) */
    struct cm_master_observer observer;      /* observer.c; zeroed: nobody listens */
    struct event *drain_ev;                  /* agent_admin.c: deferred DRAINED checks */
    /* tasks.c: scheduler acknowledgements of this loop turn, agent id -> batch; sent as one
     * ACKNOWLEDGE event per agent when the turn's other work is done (ack_ev). */
    struct cm_strmap ack_batches;
    struct event *ack_ev;

    /* master_files.c: the /files table, the master's log attached as /master/log. */
    struct cm_files *files;
    /* webui.c: the client forwarding the web UI's agent requests; NULL until the first. */
    struct cm_http_client *webui_client;
    /* agent_streams.c: open shared link streams, Mesos-Stream-Id -> struct cm_agent_stream. */
    struct cm_strmap agent_streams;
    size_t agent_stream_max_agents; /* 0: CM_AGENT_STREAM_MAX_AGENTS (tests lower it) */
};

/* ---- lifecycle (master.c) ---- */

/* Creates a master on base with flags (kept by pointer) and the real clock. No socket is
 * opened here (the HTTP edge does that: cm_master_http_start). Returns NULL on failure (bad
 * --weights, unknown registry). */
struct cm_master *cm_master_new(struct event_base *base, const struct cm_master_flags *flags);
/* Same with an injected clock (tests). */
struct cm_master *cm_master_new_clock(struct event_base *base, const struct cm_master_flags *flags,
                                      const struct cm_clock *clock);
/* Starts serving once the edge has bound m->http to port: MasterInfo, leadership contention and
 * the timers. Returns 0 or -errno. */
int cm_master_run(struct cm_master *m, uint16_t port);
/* Ends every stream, frees m->http (if the edge created one) and everything else. NULL is a
 * no-op. */
void cm_master_free(struct cm_master *m);

/* ---- sinks and events (master.c) ---- */

/* Sends msg on sink, encoded for its media and framed with RecordIO. */
int cm_sink_send(const struct cm_sink *sink, const ProtobufCMessage *msg);
/* Ends the stream (or calls end_cb) and frees ref. */
void cm_sink_end(struct cm_sink *sink);
bool cm_sink_open(const struct cm_sink *s);
/* Sends an ERROR event with message on sink. */
void cm_sink_send_error(const struct cm_sink *sink, const char *message);
/* Sends one event (scheduler Event) to fw if connected; counts it. */
void cm_master_send_event(struct cm_master *m, struct cm_framework *fw,
                          const Mesos__V1__Scheduler__Event *ev);
/* Sends an event with only a type (HEARTBEAT) to fw. */
void cm_master_send_simple_event(struct cm_master *m, struct cm_framework *fw, int type);
/* Sends one AgentEvent to agent if connected (counted as dropped otherwise). */
void cm_master_send_agent(struct cm_master *m, struct cm_agent *agent,
                          const Cmesos__Internal__AgentEvent *ev);

struct cm_framework *cm_master_framework(struct cm_master *m, const char *id);
struct cm_agent *cm_master_agent(struct cm_master *m, const char *id);

/* ---- validation (validation.c) ---- */

/* §2.2 validation of a decoded call. Returns 0 or CM_EINVAL with why. */
int cm_master_validate_call(const Mesos__V1__Scheduler__Call *call, char *why, size_t whylen);
/* §2.5 FrameworkInfo validation. Returns 0 or CM_EINVAL with why. */
int cm_master_validate_framework_info(const struct cm_master *m,
                                      const Mesos__V1__FrameworkInfo *info, char *const *suppressed,
                                      size_t nsuppressed, char *why, size_t whylen);
/* Validates a REGISTER call of the agent link (400 material). Returns 0 or CM_EINVAL with why. */
int cm_master_agent_validate_register(const struct cm_master *m,
                                      const Cmesos__Internal__AgentCall *call, char *why,
                                      size_t whylen);

/* ---- frameworks (frameworks.c) ---- */

/* Removed framework ids kept (they may never subscribe again), FIFO-bounded. */
#define CM_MASTER_REMOVED_IDS_MAX 65536

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
/* A framework's stream went away (peer closed). */
void cm_master_framework_disconnected(struct cm_master *m, struct cm_framework *fw);
/* Removes a framework now: offers recovered, tasks killed on their agents, moved to completed. */
void cm_master_remove_framework(struct cm_master *m, struct cm_framework *fw);
/* Frees a framework (a void * for maps and rings of frameworks). */
void cm_framework_free(void *fw);

/* ---- agents (agents.c) ---- */

/* Registers or re-registers an agent with a REGISTER call on sink (the new stream, taken
 * over). The registry records the admission first; the agent gets REGISTERED, its reported
 * tasks are reconciled with the master's (lost launches are re-sent, see struct cm_task) and it
 * is offered. Returns 200 (and *agent_out once admitted; with a storage that answers later the
 * stream stays open and sink->bind_cb tells the edge the agent when it is), 400 (invalid), 403
 * (marked gone: SHUTDOWN is sent and the sink ended) or 503, with why. */
int cm_master_register_agent(struct cm_master *m, const Cmesos__Internal__AgentCall *call,
                             const struct cm_sink *sink, const char *stream_id,
                             struct cm_agent **agent_out, char *why, size_t whylen);
/* The HTTP stream whose close-callback closure is ref went away before its REGISTER was
 * admitted: the pending registration forgets it (the agent is then admitted disconnected). */
void cm_master_agent_register_stream_closed(struct cm_master *m, void *ref);
/* The shared stream of a registration in flight closed (its sink's arg is arg): the
 * registration is detached the same way. Returns false when no registration had that sink. */
bool cm_master_agent_register_sink_closed(struct cm_master *m, const void *arg);
/* An agent's stream went away: non-checkpointing frameworks' tasks are lost; the agent has the
 * ping budget to come back. */
void cm_master_agent_disconnected(struct cm_master *m, struct cm_agent *agent);
/* Marks agent unreachable (missed pings, stream gone past the ping budget, or not back after a
 * master restart): recorded in the registry first, then its tasks become TASK_UNREACHABLE
 * (partition-aware frameworks, with unreachable_time) or TASK_LOST, FAILURE is sent to every
 * framework, its offers are rescinded and it is removed. */
void cm_master_mark_agent_unreachable(struct cm_master *m, struct cm_agent *agent, const char *why);
/* Removes an agent that said goodbye (UNREGISTER): its tasks are gone, offers rescinded. */
void cm_master_remove_agent(struct cm_master *m, struct cm_agent *a);
/* Sends PING to every connected agent; agents silent (or disconnected) past the ping budget are
 * marked unreachable, all of them with one registry store. */
void cm_master_ping_agents(struct cm_master *m);
/* Frees an agent's memory (it must be unlinked from every index first). */
void cm_agent_free(struct cm_agent *a);

/* ---- offers and allocation (offers.c) ---- */

/* Runs one allocation cycle now and sends the resulting OFFERS events. */
void cm_master_allocate(struct cm_master *m);
/* Asks for an allocation cycle soon (coalesced; runs on the loop). */
void cm_master_allocate_soon(struct cm_master *m);
/* Runs a cycle over the allocator's dirty agents only (event-driven allocation: cron.c calls
 * it at the end of the loop turn in which resources came back) and sends the OFFERS events. */
void cm_master_allocate_dirty(struct cm_master *m);
/* Removes an offer; recover=true gives its resources back (with filter refuse seconds),
 * rescind=true also sends RESCIND to the framework. */
void cm_master_remove_offer(struct cm_master *m, struct cm_offer *o, bool recover, bool rescind,
                            double refuse);
/* Removes an offer the framework declined (DECLINE): its resources go back with the
 * allocator's decline back-off (cm_allocator_decline). */
void cm_master_decline_offer(struct cm_master *m, struct cm_offer *o, double refuse);
/* Removes every offer of a map (a framework's or an agent's), recovering their resources. */
void cm_master_remove_offers_of(struct cm_master *m, struct cm_strmap *offers, bool rescind);
/* The allocator's offer callback (arg is the master). */
void cm_master_allocator_offer_cb(void *arg, const char *framework_id, const char *role,
                                  const char *agent_id, const struct cm_resources *res);
/* Gives back allocations parked during a cycle. */
void cm_master_run_parked_recoveries(struct cm_master *m);
/* Frees every offer without telling anyone (shutdown). */
void cm_master_free_offers(struct cm_master *m);
void cm_master_record_allocation_ms(struct cm_master *m, double ms);

/* ---- tasks (tasks.c) ---- */

/* Creates a task (STAGING) owned by fw on agent; info copied; resources copied. */
struct cm_task *cm_master_add_task(struct cm_master *m, struct cm_framework *fw,
                                   struct cm_agent *agent, const Mesos__V1__TaskInfo *info,
                                   const struct cm_resources *res, const char *role);
/* Sends t's RUN_TASK (its info, resources in its allocation role, its framework's info) to
 * its agent and marks the launch unacknowledged until the agent proves it has the task. */
void cm_master_send_run_task(struct cm_master *m, struct cm_task *t);
/* Sends one RUN_TASK_GROUP with tasks[0..n) (of one framework and agent, all on the DEFAULT
 * executor in tasks[0]->info->executor) and marks each launch unacknowledged.
 * cm_master_send_run_task sends a group task that way too (a group of one, on re-send). */
void cm_master_send_run_task_group(struct cm_master *m, struct cm_task **tasks, size_t n);
/* Sends KILL_TASK for t to its agent (kp may be NULL). */
void cm_master_send_kill(struct cm_master *m, struct cm_task *t, const Mesos__V1__KillPolicy *kp);
/* Relays a scheduler's acknowledgement of the update uuid (copied) of task_id to agent a.
 * With an event loop the acknowledgements of one loop turn are held and sent as one
 * ACKNOWLEDGE event per agent (`acknowledges`; a lone one in `acknowledge`) once the turn's
 * other callbacks ran; without a loop (tests) it is sent at once. One whose agent is gone or
 * disconnected by then is dropped (the agent retries the update). */
void cm_master_send_ack(struct cm_master *m, struct cm_agent *a, const char *framework_id,
                        const char *task_id, const uint8_t *uuid, size_t uuid_len);
/* Sends the held acknowledgements now (the end of the loop turn does it otherwise). */
void cm_master_flush_acks(struct cm_master *m);
/* Drops held acknowledgements and frees their event (cm_master_free). */
void cm_master_acks_free(struct cm_master *m);
/* Sends the KILL_TASKs remembered while agent was disconnected. */
void cm_master_send_pending_kills(struct cm_master *m, struct cm_agent *agent);
/* Applies a status (copied) to a task: state, history, terminal accounting. */
void cm_master_update_task(struct cm_master *m, struct cm_task *t, const Mesos__V1__TaskStatus *st,
                           int latest_state);
/* Moves a task to its framework's completed tasks (removed from every index). */
void cm_master_complete_task(struct cm_master *m, struct cm_task *t);
/* Sets a task (just added) to what an agent reported on re-registration: state, history,
 * status-update state and uuid. A terminal task is marked released (never allocated). */
void cm_master_restore_task(struct cm_master *m, struct cm_task *t, const Mesos__V1__Task *rep);
/* Sends a master-generated UPDATE (no uuid) to fw. */
void cm_master_send_master_update(struct cm_master *m, struct cm_framework *fw, const char *task_id,
                                  const char *agent_id, int state, int reason, const char *message);
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
/* Moves a task to its framework's unreachable tasks (resources released, indexes dropped). */
void cm_master_task_unreachable(struct cm_master *m, struct cm_task *t, double when);
/* Drops and frees one of fw's unreachable tasks (already removed from the map when
 * unlinked is true). */
void cm_master_forget_unreachable_task(struct cm_framework *fw, struct cm_task *t, bool unlinked);
/* Adjusts the active-task gauge of state by delta. */
void cm_master_task_gauge(struct cm_master *m, int state, int delta);
/* Frees a task (a void * for maps and rings of tasks). */
void cm_task_free(void *t);
/* Counts a task state transition for the per source/reason counters. */
void cm_master_count_status(struct cm_master *m, int state, int source, bool has_source, int reason,
                            bool has_reason);
/* The declared name of a task state, "TASK_UNKNOWN" for a value no TaskState declares. */
const char *cm_task_state_name(int state);
/* Maps a partition-aware state to TASK_LOST for frameworks that are not PARTITION_AWARE. */
int cm_master_task_state_for(const struct cm_framework *fw, int state);

/* ---- custom executors (executors.c) ---- */

/* The executor eid of framework fid on agent a, or NULL. */
struct cm_executor *cm_master_executor(const struct cm_agent *a, const char *fid, const char *eid);
/* Records a custom executor (info copied) with its resources (copied, allocated in role) as
 * used on fw and agent; the caller has already taken them out of an offer (or the allocator). */
struct cm_executor *cm_master_add_executor(struct cm_master *m, struct cm_framework *fw,
                                           struct cm_agent *agent,
                                           const Mesos__V1__ExecutorInfo *info,
                                           const struct cm_resources *res, const char *role);
/* The agent reported the executor's exit: its resources go back to the allocator (unless
 * recover is false: the allocator forgets the framework or agent anyway) and it is freed. */
void cm_master_remove_executor(struct cm_master *m, struct cm_executor *e, bool recover);
/* EXITED_EXECUTOR from agent a: removes the executor if the master knows it. */
void cm_master_executor_exited(struct cm_master *m, struct cm_agent *a, const char *fid,
                               const char *eid);
/* Removes every executor of fw (framework removal), resources recovered. */
void cm_master_remove_framework_executors(struct cm_master *m, struct cm_framework *fw);
/* Re-registration of a: the custom executors it reports are adopted (their resources
 * allocated again); for a known agent, executors it no longer reports are removed. */
void cm_master_reconcile_executors(struct cm_master *m, struct cm_agent *a,
                                   const Cmesos__Internal__AgentCall__Register *reg, bool known);
/* Frees the executors of an agent or a framework being freed (unlinked from the other side
 * first; no allocator calls). */
void cm_master_executors_free_agent(struct cm_agent *a);
void cm_master_executors_free_framework(struct cm_framework *fw);
/* Whether an ExecutorInfo reported by an agent is one it generated for a command task (those
 * are the agent's business: the master neither accounts nor lists them, as Mesos). */
bool cm_master_executor_is_command(const Mesos__V1__ExecutorInfo *info);
/* The executor as /master/state lists it in frameworks[].executors (Mesos's shape: the
 * ExecutorInfo's fields, resources as a name -> value object, and slave_id). New reference. */
json_t *cm_master_executor_json(const struct cm_executor *e);

/* ---- time, registry and heartbeats (master.c) ---- */

/* Applies every time-based rule due at the clock's now: offer timeouts, failover timeouts. */
void cm_master_check_timeouts(struct cm_master *m);
/* Sends HEARTBEAT to every connected framework. */
void cm_master_heartbeat(struct cm_master *m);
/* Prunes the registry's unreachable list (--registry_max_agent_age/_count); on a timer. */
void cm_master_registry_gc(struct cm_master *m);
/* A registry operation failed: logs, and stops the event loop (main exits non-zero). */
void cm_master_registrar_failed(struct cm_master *m);
/* True while agent id is expected to re-register after a master restart. */
bool cm_master_agent_recovering(const struct cm_master *m, const char *id);

/* ---- authentication and authorization (master_auth.c) ---- */

/* Loads --credentials, --http_credentials and --acls into m. Returns 0 or an error with why
 * naming the flag and the problem (file, line or field). */
int cm_master_auth_init(struct cm_master *m, char *why, size_t whylen);
void cm_master_auth_cleanup(struct cm_master *m);
/* Whether the scheduler API needs credentials (--authenticate_http_frameworks, or
 * --authenticate_frameworks: cmesos frameworks all speak HTTP). */
bool cm_master_auth_frameworks(const struct cm_master *m);
/* The roles a FrameworkInfo asks for (MULTI_ROLE: roles; else role or "*"): at most max
 * pointers into info stored in out; returns how many. */
size_t cm_master_framework_info_roles(const Mesos__V1__FrameworkInfo *info, const char **out,
                                      size_t max);
/* Decides whether a REGISTER for agent_id (NULL: a new agent) by principal (NULL or "": not
 * authenticated) may go ahead, before its stream opens: 401 when --authenticate_agents and no
 * principal; 403 when the id is bound to another principal or register_agents denies it; 409
 * when the agent is connected on a live stream (the live agent keeps it; a restarted agent's
 * old stream closes and its retry succeeds). Returns 0 when it may, else the code with why. */
int cm_master_agent_register_check(struct cm_master *m, const char *agent_id, const char *principal,
                                   char *why, size_t whylen);
/* ---- observer (observer.c) ---- */

/* Installs obs (copied) as the master's one observer, replacing any earlier one (whose destroy
 * is not called). NULL removes it. */
void cm_master_set_observer(struct cm_master *m, const struct cm_master_observer *obs);
/* Called by the core where the change happens; each is a no-op without an observer. */
void cm_master_notify_task_added(struct cm_master *m, const struct cm_task *t);
void cm_master_notify_task_updated(struct cm_master *m, const struct cm_task *t,
                                   const Mesos__V1__TaskStatus *st);
void cm_master_notify_agent_added(struct cm_master *m, const struct cm_agent *a);
void cm_master_notify_agent_removed(struct cm_master *m, const char *agent_id);
void cm_master_notify_framework_added(struct cm_master *m, const struct cm_framework *fw);
void cm_master_notify_framework_updated(struct cm_master *m, const struct cm_framework *fw);
void cm_master_notify_framework_removed(struct cm_master *m, const struct cm_framework *fw);
/* Calls the observer's destroy (cm_master_free does) and forgets it. */
void cm_master_observer_destroy(struct cm_master *m);

/* ---- operator actions on agents (agent_admin.c) ---- */

/* Each returns an HTTP-like code for the operator API: 200, 400 (bad argument) or 404 (no
 * such agent) with why. */

/* Stops offering agent id's resources (outstanding offers are rescinded); its tasks keep
 * running. Survives the agent's re-registration. */
int cm_master_deactivate_agent(struct cm_master *m, const char *id, char *why, size_t whylen);
/* Undoes deactivation and draining: the agent is offered again. */
int cm_master_reactivate_agent(struct cm_master *m, const char *id, char *why, size_t whylen);
/* DRAIN_AGENT: deactivates the agent and kills every task on it (the task's grace period,
 * capped by grace_ns when has_grace); the agent is DRAINING until none of its tasks is live,
 * then DRAINED, and then marked gone if mark_gone. Draining again replaces the settings. */
int cm_master_drain_agent(struct cm_master *m, const char *id, bool has_grace, int64_t grace_ns,
                          bool mark_gone, char *why, size_t whylen);
/* MARK_AGENT_GONE: recorded in the registry first (the id is refused forever, across master
 * restarts), then the agent is told to shut down, its live tasks become TASK_GONE_BY_OPERATOR
 * (TASK_LOST for frameworks that are not PARTITION_AWARE), frameworks get FAILURE and the agent
 * is removed. An agent known only to the registry (unreachable or not yet re-registered) is
 * recorded gone too. Marking a gone agent again answers 200. */
int cm_master_mark_agent_gone(struct cm_master *m, const char *id, char *why, size_t whylen);
/* Moves a DRAINING agent whose tasks are all terminal to DRAINED (and marks it gone when the
 * drain asked for it). Called by the core after task updates (deferred to the loop) and by
 * tests. */
void cm_master_check_drained(struct cm_master *m, const char *id);
/* A task of a draining agent reached a terminal state: checks the agents soon (from the loop;
 * at once when the master has no loop, as in unit tests). */
void cm_master_drain_progress(struct cm_master *m, struct cm_agent *a);
/* A registered agent comes back with the deactivated / drain state the registry holds for it
 * (after a master restart). */
void cm_master_restore_agent_state(struct cm_master *m, struct cm_agent *a);
/* After the registry is recovered: the allocator gets the stored weights (over --weights). */
void cm_master_apply_stored_weights(struct cm_master *m);
/* Frees what agent_admin.c holds (cm_master_free calls it). */
void cm_master_admin_free(struct cm_master *m);

/* ---- shared link streams (agent_streams.c) ---- */

/* A shared stream (docs/agent-link.md, "Shared streams") carries the events of several agents
 * of one process (the emulator's), as libprocess shares one socket between all processes of
 * two OS processes. OPEN_STREAM opens it; an agent joins it with a REGISTER naming it
 * (Register.stream_id), which is admitted exactly as a REGISTER on a stream of its own would be
 * (same validation, principal binding, ACL, registry admission) and then gets a sink of its own
 * (a->sink) that writes to the shared stream, each event naming the agent (AgentEvent.agent_id).
 * Ending an agent's sink sends it LINK_CLOSED; the end of the shared stream disconnects every
 * agent on it, as a broken link of each. A PING goes once per stream (no agent_id: every
 * agent on it) and a PONG call lists the agents that answer. Bounds: at most
 * CM_AGENT_STREAM_MAX_AGENTS agents (admitted or in admission) per stream; a tag <= 64 bytes.
 * Ownership: the master owns each cm_agent_stream (in m->agent_streams) from open to close; an
 * agent's sink on it owns a small member record, freed when that sink ends. */
#define CM_AGENT_STREAM_MAX_AGENTS 10000
#define CM_AGENT_STREAM_MAX_TAG 64
struct cm_agent_stream;

/* OPEN_STREAM: takes over sink (the new HTTP stream, or a test's callback; its principal is
 * the opener's) as shared stream stream_id. Returns the stream (owned by m). */
struct cm_agent_stream *cm_master_open_agent_stream(struct cm_master *m, const struct cm_sink *sink,
                                                    const char *stream_id);
/* The shared stream went away (its peer closed, or the server dropped it): every agent on it
 * is disconnected (cm_master_agent_disconnected) and registrations in flight on it are detached
 * as for a closed stream of their own; ss is freed. The edge frees the sink's ref itself. */
void cm_master_agent_stream_closed(struct cm_master *m, struct cm_agent_stream *ss);
/* REGISTER with Register.stream_id, by principal (NULL or "": not authenticated). Returns 202
 * (admitted or in admission: REGISTERED follows on the shared stream), 400 (invalid call, an
 * unknown or closed stream id, a tag over 64 bytes), 401/403 (authentication; a principal
 * other than the stream's; register_agents ACL; an id bound to another principal), 409 (the
 * agent is connected; the stream is full) or 503, with why. */
int cm_master_register_agent_shared(struct cm_master *m, const Cmesos__Internal__AgentCall *call,
                                    const char *principal, char *why, size_t whylen);
/* PONG with pong_agent_ids on shared stream stream_id: each listed agent connected on that
 * stream counts as answering; others are ignored (they may have moved meanwhile). Returns 202,
 * or 400 (no or unknown stream id, more ids than a stream carries) with why. */
int cm_master_agent_stream_pongs(struct cm_master *m, const Cmesos__Internal__AgentCall *call,
                                 const char *stream_id, char *why, size_t whylen);
/* The shared stream an agent's sink writes to, or NULL (its own stream, or none). */
struct cm_agent_stream *cm_master_sink_agent_stream(const struct cm_sink *sink);
/* Called once a->sink is set by an admitted registration: a member sink learns its agent. */
void cm_master_agent_stream_bind(struct cm_agent *a);
/* Lets go of an agent's sink without ending it (its stream is already gone): a member record
 * is unlinked and freed, nothing is sent. Clears the sink. */
void cm_master_agent_sink_release(struct cm_sink *sink);
/* Marks ss to be pinged by cm_master_agent_streams_ping (once, however many agents ask). */
void cm_master_agent_stream_ping_due(struct cm_agent_stream *ss);
/* Sends one PING (no agent_id) on every shared stream marked due. */
void cm_master_agent_streams_ping(struct cm_master *m);
/* Counts: open shared streams, and agents on them (admitted or in admission). */
void cm_master_agent_streams_count(const struct cm_master *m, size_t *streams, size_t *agents);
/* Ends every shared stream without callbacks and frees them (cm_master_free). */
void cm_master_agent_streams_free(struct cm_master *m);

/* ---- cron (cron.c) ---- */
struct cm_cron *cm_cron_new(struct cm_master *m);
void cm_cron_free(struct cm_cron *c);
void cm_cron_allocate_soon(struct cm_cron *c);
/* (Re)installs cron's wake callback on the allocator: resources that come back are offered
 * after CM_CRON_REOFFER_DELAY (coalesced), not at the next --allocation_interval tick. */
void cm_cron_attach_wake(struct cm_cron *c);
#define CM_CRON_REOFFER_DELAY 0.0

#endif
