/*
 * emu_internal.h: what emulator.c (agents, links, calls, controls) and emu_tasks.c (tasks and
 * their status updates) share. Not a public interface: see emulator.h.
 */
#ifndef CM_EMU_INTERNAL_H
#define CM_EMU_INTERNAL_H

#include <event2/event.h>
#include <event2/event_struct.h>

#include "cmesos/internal.pb-c.h"
#include "emu_arena.h"
#include "emu_http.h"
#include "emulator.h"
#include "recordio.h"
#include "strmap.h"

#define EMU_MAX_QUEUED 4 /* STARTING, RUNNING, a terminal state, and a spare */

#define EMU_MAX_HELD 4096
#define EMU_COMMON_TIMEOUTS 16
struct emu_held {
    uint8_t *data;
    size_t len;
};

struct emu_agent;

struct emu_task {
    struct cm_emu *e;
    struct emu_agent *agent;
    struct emu_task *prev, *next; /* the agent's tasks */
    char *key;                    /* "<framework id>\n<task id>" in e->tasks */
    char *framework_id, *task_id, *executor_id;
    bool custom_executor;
    uint8_t *info; /* the packed TaskInfo, for re-registration */
    size_t info_len;
    int state; /* latest state (the last queued) */
    int final_state;
    int nq;
    struct {
        int state;
        uint8_t uuid[16];
        double timestamp;
    } q[EMU_MAX_QUEUED];
    struct event run_timer, retry_timer;
    /* emu_tasks.c: the head update waits in the agent's list for this turn's STATUS_UPDATE */
    bool send_queued;
    struct emu_task *send_next;
    double retry_wait; /* the head update's next retry delay (doubles, as on a real agent) */
};

enum emu_agent_state {
    EMU_IDLE,       /* waiting to (re-)register */
    EMU_CONNECTING, /* REGISTER sent, no REGISTERED yet */
    EMU_REGISTERED,
    EMU_KILLED, /* silent until restarted */
};

struct emu_agent {
    struct cm_emu *e;
    int idx;
    char *id;
    char stream_id[64];
    enum emu_agent_state state;
    bool partitioned;
    bool queued; /* in the registration queue */
    bool ever_registered;
    int stream_status; /* HTTP status of the REGISTER answer */
    struct cm_emu_conn *stream;
    struct cm_recordio_decoder dec;
    struct emu_task *tasks;
    size_t ntasks;
    double backoff;
    double last_event;    /* monotonic time of the last event on the stream */
    double ping_interval; /* from REGISTERED */
    struct event timer;   /* back-off or partition end */
    const struct sockaddr_in *src;
    /* Shared streams (--agents_per_stream > 1, emu_streams.c): the agent's stream, whether it
     * waits for that stream to open before registering, and the events that came for it while
     * it was partitioned (replayed when the partition ends; past EMU_MAX_HELD the agent takes its
     * link as lost instead). */
    struct emu_group *group;
    bool wait_group;
    struct emu_held *held;
    size_t nheld;
    bool held_overflow;
    /* TASK_LAUNCH_ACKs of this loop turn: "<framework id>\n<task id>" */
    char **acks;
    size_t nacks, acks_cap;
    bool ack_dirty;
    struct emu_agent *ack_next;
    /* emu_tasks.c: tasks whose head update goes in this turn's STATUS_UPDATE call */
    struct emu_task *send_head;
    bool send_dirty;
    struct emu_agent *send_next;
};

struct emu_pool_conn {
    struct cm_emu *e;
    struct cm_emu_conn *conn;
    int status; /* of the response being read */
    /* For each request outstanding, oldest first: the agent whose shared-stream REGISTER it is,
     * or -1 (its answer only counts). A ring of `pipeline` entries. */
    int *fifo;
    size_t fhead, fn;
};

struct emu_call {
    struct emu_call *next;
    int reg_idx; /* a shared-stream REGISTER of this agent, or -1 */
    char sid[96];
    uint8_t *body;
    size_t len;
};

struct cm_emu {
    struct event_base *base;
    struct cm_emu_opts o;
    char *master_spec, *hostname_prefix, *resources_text, *attributes_text;
    struct cm_leader_detector *det;
    struct sockaddr_in master;
    char master_host[64]; /* "ip:port" of the leader, "" while none */
    struct emu_agent *agents;
    struct sockaddr_in *srcs;
    size_t nsrcs;
    struct emu_group *groups; /* --agents_per_stream > 1: agents [k*per, (k+1)*per) share one */
    size_t ngroups;
    /* Shared by every AgentInfo: the agents differ only in hostname, port and id. */
    Mesos__V1__Resource **res;
    size_t nres;
    Mesos__V1__Attribute **attrs;
    size_t nattrs;
    struct cm_strmap tasks;      /* key -> struct emu_task */
    struct cm_strmap frameworks; /* framework id -> packed FrameworkInfo (struct emu_fw) */
    /* registrations waiting for a slot (register_concurrency) */
    int *regq;
    size_t regq_head, regq_n;
    int reg_inflight;
    /* calls */
    struct emu_pool_conn *pool;
    struct emu_call *callq_head, *callq_tail;
    size_t callq_n;
    struct event *ack_flush;
    struct event *watchdog; /* every second: agents whose master went silent */
    struct emu_agent *ack_head;
    /* emu_tasks.c: agents with status updates to send at the end of this turn */
    struct event *send_flush;
    struct emu_agent *send_head;
    /* send_agent_updates' arrays, kept and grown (no allocation per call) */
    struct {
        Cmesos__Internal__AgentCall__StatusUpdate *su, **suv;
        Mesos__V1__TaskStatus *st;
        Mesos__V1__FrameworkID *fid;
        Mesos__V1__TaskID *tid;
        Mesos__V1__ExecutorID *eid;
        size_t cap;
    } upd;
    struct cm_emu_stats st;
    double t_start;
    int first_registered; /* agents registered at least once */
    /* Events from the master are decoded into this (reset after each): no malloc per field. */
    struct cm_emu_arena arena;
    uint64_t rng; /* emu_uuid's state (splitmix64), seeded from getrandom */
    /* emu_timer_add: libevent common timeouts by duration */
    struct {
        double secs;
        const struct timeval *tv;
    } common[EMU_COMMON_TIMEOUTS];
    int ncommon;
};

/* Adds timer ev for secs. The first EMU_COMMON_TIMEOUTS distinct durations use libevent common
 * timeouts (a queue per duration: O(1) add and delete instead of the timer heap's O(log n), for
 * the thousands of per-task timers of one duration: update retries, fixed run times); other
 * durations (e.g. exponential run times) use the heap. */
void emu_timer_add(struct cm_emu *e, struct event *ev, double secs);

/* A random (version 4) UUID for a status update: from the emulator's own generator, seeded
 * once, not a getrandom system call per update. Unique for the purpose (an update's id). */
void emu_uuid(struct cm_emu *e, uint8_t out[16]);

struct emu_fw {
    uint8_t *info;
    size_t len;
};

/* emulator.c */
void emu_send_call(struct emu_agent *a, Cmesos__Internal__AgentCall *call);
void emu_queue_launch_ack(struct emu_agent *a, const char *key);

/* emulator.c, for emu_streams.c */
void emu_agent_set_state(struct emu_agent *a, enum emu_agent_state s);
/* The link is lost: re-register after the back-off (a killed agent stays down). */
void emu_agent_lost(struct emu_agent *a);
/* SHUTDOWN from the master: the agent stops (until a restart). */
void emu_agent_shut_down(struct emu_agent *a);
void emu_regq_push(struct emu_agent *a);
void emu_regq_pump(struct cm_emu *e);
/* Acts on one event for a (its state already checked). Returns 0, or 2 for SHUTDOWN. */
int emu_agent_dispatch(struct emu_agent *a, const Cmesos__Internal__AgentEvent *ev);
/* Queues call (packed here) on the call connections with header Mesos-Stream-Id: sid;
 * reg_idx >= 0 marks a shared-stream REGISTER of that agent (a refusal is its failure). */
void emu_pool_send(struct cm_emu *e, const char *sid, const Cmesos__Internal__AgentCall *call,
                   int reg_idx);

/* emu_streams.c: shared streams */
void emu_groups_init(struct cm_emu *e, int per);
void emu_groups_free(struct cm_emu *e);
/* The stream a's REGISTER goes on: its id when open; else NULL, and the stream is being opened
 * (a->wait_group: the agent is queued to register once it is). */
const char *emu_group_ready(struct emu_agent *a);
/* Every shared stream is dropped (a leader change): nobody is told; agents re-register. */
void emu_groups_reset(struct cm_emu *e);
/* A shared stream silent for 5 ping intervals is dropped (its agents' links are lost). */
void emu_groups_watchdog(struct cm_emu *e, double now);
/* Agent a was killed: when every agent of its stream is, the stream is closed (the master then
 * sees every one of them disconnect, as when a process holding one stream dies). */
void emu_group_agent_killed(struct emu_agent *a);
/* The partition of a ended: replays the events held for it. */
void emu_group_replay(struct emu_agent *a);
void emu_group_drop_held(struct emu_agent *a);

/* emu_tasks.c */
void emu_task_run(struct emu_agent *a, const Cmesos__Internal__AgentEvent__RunTask *rt);
void emu_task_kill(struct emu_agent *a, const char *framework_id, const char *task_id);
void emu_task_acknowledge(struct emu_agent *a, const Cmesos__Internal__AgentEvent__Acknowledge *k);
void emu_task_shutdown_framework(struct emu_agent *a, const char *framework_id);
void emu_task_shutdown_executor(struct emu_agent *a, const char *framework_id,
                                const char *executor_id);
void emu_task_update_framework(struct cm_emu *e, const Mesos__V1__FrameworkInfo *fi);
/* Resends the unacknowledged head update of every task of a (after (re-)registration). */
void emu_task_resend_all(struct emu_agent *a);
/* Fills the re-registration report of a (arrays malloc'd; free with emu_task_report_free). */
struct emu_report {
    Mesos__V1__Task **tasks;
    Mesos__V1__Task *tv;
    Mesos__V1__TaskInfo **infos;
    Mesos__V1__ExecutorInfo **execs;
    Mesos__V1__FrameworkInfo **fws;
    Mesos__V1__FrameworkID *fids;
    Mesos__V1__ExecutorID *eids;
    Mesos__V1__AgentID aid;
    size_t ntasks, nexecs, nfws, ninfos;
};
void emu_task_report(struct emu_agent *a, struct emu_report *r);
void emu_task_report_free(struct emu_report *r);
/* Frees every task of a without sending anything. */
void emu_task_drop_all(struct emu_agent *a);
void emu_task_free_frameworks(struct cm_emu *e);
/* Frees the status-update flush event (emu_tasks.c). */
void emu_task_free_flush(struct cm_emu *e);

#endif
