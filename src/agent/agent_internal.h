/*
 * agent_internal.h: struct cm_agent and its state records, shared by the agent core's files.
 * Not a public API (unit tests of the core include it to look at state).
 *
 * The core is split along its seams, one module per file, each with its header:
 *   agent.c            construction and teardown
 *   agent_link.c       master link: registration, events, calls (seam: struct cm_agent_link)
 *   agent_link_http.c  the HTTP transport of that link
 *   agent_executors.c  executors: RUN_TASK, launch, kill, shutdown, exit
 *   agent_xapi.c       the executor API and the executors' event streams
 *   agent_updates.c    status updates (agent side; status_update.c is the stream manager)
 *   agent_state.c      the records, sandboxes, completion bookkeeping
 *   agent_ckpt.c       what is checkpointed when (checkpoint.c is the format)
 *   agent_recover.c    recovery after a restart (recover.c reads the checkpoints)
 *   agent_http.c       /state, /flags, /health and the other read endpoints
 *   agent_auth.c       executor tokens, endpoint authentication, the agent's --credential
 */
#ifndef CM_AGENT_INTERNAL_H
#define CM_AGENT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "agent.h"
#include "agent_link.h"
#include "cmesos/internal.pb-c.h"
#include "mesos/v1/executor/executor.pb-c.h"
#include "containerizer/containerizer.h"
#include "containerizer/provisioner.h"
#include "containerizer/docker.h"
#include "detect.h"
#include "detector.h"
#include "errors.h"
#include "fetcher.h"
#include "files.h"
#include "gc.h"
#include "strmap.h"
#include "http_client.h"
#include "http_server.h"
#include "mesos/v1/mesos.pb-c.h"
#include "pbjson.h"
#include "resources.h"
#include "ring.h"
#include "status_update.h"
#include "user_cache.h"
#include "util.h"

#define CM_AGENT_MAX_COMPLETED_FRAMEWORKS 50
#define CM_AGENT_LINK_EVENTS_PER_TURN 32
#define CM_AGENT_LAUNCH_SPACING_MAX 0.05 /* seconds a clone waits for the previous exec */
#define CM_AGENT_MAX_COMPLETED_EXECUTORS 150
#define CM_AGENT_MAX_COMPLETED_TASKS 200
/* Seconds a --switch_user lookup is reused for the next launches as that user (user_cache.h). */
#define CM_AGENT_USER_CACHE_TTL 1.0
/* A task keeps its first (STARTING) and newest statuses, this many in all. */
#define CM_AGENT_MAX_STATUSES_PER_TASK 32
/* The longest a STATUS_UPDATE or TASK_LAUNCH_ACK call waits for the previous one of its kind
 * to be answered before it is sent anyway (seconds). */
#define CM_AGENT_CALL_HOLD_MAX 0.05
/* The largest RecordIO record accepted from the master (a RUN_TASK with a big TaskInfo). */
#define CM_AGENT_MAX_LINK_RECORD (16u * 1024u * 1024u)

struct agent_framework;
struct agent_executor;
struct agent_nested_table;
struct cm_stream_client;
struct cm_credentials;
struct cm_acls;

/* Unit tests: receives every event the agent sends an executor instead of an HTTP stream. */
typedef void (*cm_agent_exec_event_cb)(void *arg, const Mesos__V1__Executor__Event *ev);

/* An executor's subscription: an HTTP stream, or a test callback. Connected iff either is set. */
struct agent_exec_conn {
    struct cm_http_stream *stream;
    cm_agent_exec_event_cb cb;
    void *arg;
};

struct agent_task {
    struct agent_executor *executor;
    Mesos__V1__TaskInfo *info; /* owned */
    Mesos__V1__TaskState state;
    bool queued;    /* waiting for the executor to subscribe */
    unsigned group; /* task group number within its executor (LAUNCH_GROUP); 0: none */
    Mesos__V1__TaskStatus **statuses; /* owned copies, oldest first */
    size_t nstatuses;
};

enum executor_state {
    EXECUTOR_REGISTERING,
    EXECUTOR_RUNNING,
    EXECUTOR_TERMINATING,
    EXECUTOR_TERMINATED,
};

struct agent_executor {
    struct agent_framework *framework;
    char *id;
    Mesos__V1__ExecutorInfo *info; /* owned */
    char container_id[37];
    char *directory;
    pid_t pid; /* 0 once reaped */
    int wait_status;
    enum executor_state state;
    struct agent_exec_conn conn; /* the SUBSCRIBE stream (agent_xapi.h) */
    int media;                   /* enum cm_media of the stream */
    struct cm_strmap tasks;      /* task id -> struct agent_task (queued and launched) */
    unsigned groups;             /* task groups given to it so far (agent_task.group) */
    struct cm_ring completed_tasks;
    struct cm_resources resources; /* executor + tasks */
    struct event *registration_timer;
    struct event *shutdown_timer;
    Mesos__V1__TaskStatus__Reason failure_reason; /* for tasks failed when it exits */
    char *failure_message;
    double shutdown_grace;
    struct cm_fetch *fetch; /* URIs being fetched before the launch, or NULL */
    /* Waiting in the agent's launch queue (a->launch_head): started one per loop turn. */
    bool launch_queued;
    struct agent_executor *launch_next;
    struct cm_agent *agent;
    /* Recovered after an agent restart: the leader is not our child, so its exit is seen
     * through a pidfd instead of SIGCHLD. */
    bool recovered;
    int pidfd; /* valid while pidfd_event is set */
    struct event *pidfd_event;
};

struct agent_framework {
    char *id;
    Mesos__V1__FrameworkInfo *info; /* owned */
    struct cm_strmap executors;     /* executor id -> struct agent_executor */
    struct cm_strmap task_index;    /* task id -> struct agent_executor (live tasks) */
    struct cm_ring completed_executors;
    bool shutting_down; /* SHUTDOWN_FRAMEWORK seen: nobody will acknowledge its updates */
};

struct cm_agent_metrics {
    double tasks_finished, tasks_failed, tasks_killed, tasks_lost, tasks_gone, tasks_error,
        tasks_dropped;
    double valid_status_updates, invalid_status_updates;
    double valid_framework_messages, invalid_framework_messages;
    double executors_terminated, container_launch_errors;
};

struct cm_agent {
    struct event_base *base;
    const struct cm_agent_flags *flags;
    const struct cm_clock *clock;
    double start_time;

    struct cm_http_server *http;
    struct cm_http_client *client;
    struct cm_containerizer *containerizer;
    struct cm_provisioner *provisioner; /* --image_providers=docker, else NULL */
    struct cm_docker *docker;           /* --containerizers has docker (containerizer/docker.h) */
    bool mesos_containerizer;           /* --containerizers has mesos */
    struct cm_sum *sum;
    struct cm_detector *detector;
    struct cm_fetcher *fetcher;
    struct cm_gc *gc;
    struct cm_files *files;
    struct cm_user_cache *users; /* --switch_user lookups (user_cache.h) */
    FILE *log_file;              /* --log_dir/mesos-agent.INFO, or NULL */

    char *bind_ip;
    char *ip; /* advertised */
    uint16_t port;
    char *hostname;
    char *pid; /* slave(1)@ip:port */
    char *launcher_dir;
    json_t *executor_env; /* --executor_environment_variables or NULL */
    struct cm_resources total;
    struct cm_attributes attributes;

    /* Master link (agent_link.h). */
    struct cm_agent_link link;
    bool link_open;
    char *agent_id; /* NULL until first registered */
    char *master_hostname;
    bool registered;
    double last_event;
    /* Events from the master past the per-turn budget (CM_AGENT_LINK_EVENTS_PER_TURN), oldest
     * first, handled on the next turns in order: a burst of 500 RUN_TASKs arrives in one read,
     * and handling it whole would hold the loop for tens of milliseconds. */
    Cmesos__Internal__AgentEvent **link_backlog;
    size_t link_backlog_head, link_backlog_n, link_backlog_cap;
    unsigned link_turn_budget;
    struct event *link_turn_timer;
    /* Launch acks of this turn (framework id and task id, two strings each), sent as one call
     * on the next turn (agent_link_launch_ack). */
    char *(*acks_pending)[2];
    size_t acks_n, acks_cap;
    struct event *acks_timer;
    /* Status updates of this turn (agent_updates_send), owned copies, sent as one STATUS_UPDATE
     * call once the turn's other callbacks ran (updates_ev). */
    Cmesos__Internal__AgentCall__StatusUpdate **updates_pending;
    size_t updates_n, updates_cap;
    struct event *updates_ev;
    /* Calls of each kind the transport has in flight (cm_agent_link_call_started/_done): while
     * a STATUS_UPDATE (TASK_LAUNCH_ACK) call is in flight the next ones are held, at most
     * CM_AGENT_CALL_HOLD_MAX seconds (the hold timers), and leave together when it ends. */
    unsigned updates_inflight, acks_inflight;
    struct event *updates_hold_timer, *acks_hold_timer;
    double ping_interval;
    double backoff;
    struct event *register_timer;
    /* The HTTP transport's state (agent_link_http.c): the REGISTER stream, created on the
     * first open, and the encoded REGISTER its attempts send. */
    struct cm_stream_client *link_stream;
    uint8_t *link_register;
    size_t link_register_len;

    struct cm_strmap frameworks; /* framework id -> struct agent_framework */
    struct cm_ring completed_frameworks;
    struct cm_strmap executors_by_pid; /* "<pid>" -> struct agent_executor */

    struct event *sigchld_event;
    struct event *tick_timer;
    /* Recovery: registration waits until the recovered executors re-subscribed or
     * --executor_reregistration_timeout passed. */
    bool recovering;
    size_t awaiting_executors;
    struct event *reregister_timer;
    /* Executors ready to start, oldest first. One is started per loop turn (a zero timeout
     * timer, so the loop polls its sockets between two launches): a batch of RUN_TASKs does
     * not hold the loop for the whole batch. */
    struct agent_executor *launch_head, *launch_tail;
    struct event *launch_timer;
    struct event *reap_timer; /* continues reaping past REAPS_PER_TURN on the next turn */
    /* The container cloned last, until its exec report arrives (agent_exec_launched). The
     * next clone waits for it, up to CM_AGENT_LAUNCH_SPACING_MAX: on cgroup v1 a child moving
     * itself into its cgroups holds the kernel's threadgroup lock, and a clone() issued
     * meanwhile blocks the loop for up to a grace period or more. */
    char launch_inflight[37];
    double launch_inflight_since;
    struct cm_agent_metrics metrics;
    /* Authentication (agent_auth.h). */
    char *jwt_key; /* --jwt_secret_key's contents, or NULL */
    size_t jwt_key_len;
    struct cm_credentials *http_credentials; /* --http_credentials, or NULL */
    char *master_authorization;              /* "Basic ..." from --credential, or NULL */
    struct cm_acls *acls;                    /* --acls (NULL: everything allowed) */
    struct cm_agent_op *op;                  /* the operator API's state (agent_operator.h) */
    struct agent_nested_table *nested;       /* nested containers (agent_nested.h), or NULL */
};

static inline void agent_pb_free(void *m)
{
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

static inline double agent_now(const struct cm_agent *a)
{
    return cm_clock_now(a->clock);
}

/* agent_http.c */
void cm_agent_http_routes(struct cm_agent *agent);
/* The /metrics/snapshot object (caller decrefs); also GET_METRICS and /metrics. */
json_t *cm_agent_metrics_json(struct cm_agent *agent);
/* agent_xapi.c, routed by agent_http.c */
void cm_agent_executor_api(struct cm_http_request *req, void *arg);

#endif
