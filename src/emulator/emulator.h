/*
 * emulator.h: N emulated agents in one process and one libevent loop, speaking the real
 * master<->agent link (docs/agent-link.md, proto/cmesos/internal.proto) to a real mesos-master.
 * The program around it is mesos-agent-emulator (main.c, docs/emulator.md).
 *
 * What each emulated agent does, as the real agent (src/agent/agent_link*.c) does it:
 *  - REGISTER on its own streaming POST (one TCP connection per agent: the link has one event
 *    stream per agent and the master ties every call to that stream's Mesos-Stream-Id), first
 *    without an id, later (re-registration) with its id and the tasks, executors and
 *    FrameworkInfos it holds. A lost stream is re-opened after a random delay in [0, backoff],
 *    the back-off doubling from `backoff` up to 60 s; REGISTERED resets it. No event from the
 *    master for 5 ping intervals means the link is dead: the agent drops it and registers again.
 *    With agents_per_stream > 1 agents share link streams instead (emu_streams.c, see the
 *    option below).
 *  - PING -> PONG.
 *  - RUN_TASK -> TASK_LAUNCH_ACK (the acks of one loop turn go together, per agent), then
 *    TASK_STARTING and TASK_RUNNING; after the task's run time a terminal update (TASK_FINISHED,
 *    or the state the task's label asks for). KILL_TASK -> TASK_KILLED. A duplicate RUN_TASK
 *    (re-sent after a re-registration) is only acknowledged again.
 *  - Status updates of one task go one at a time, in order, each resent every `update_retry`
 *    seconds until its ACKNOWLEDGE comes; after a re-registration the unacknowledged head of
 *    every task is resent at once. A task whose terminal update is acknowledged is forgotten;
 *    a task with a custom executor (TaskInfo.executor) then gets an EXITED_EXECUTOR for that
 *    executor once it has no task left (command executors get none, as in Mesos).
 *  - SHUTDOWN_FRAMEWORK drops the framework's tasks (the master has already forgotten them);
 *    SHUTDOWN_EXECUTOR kills that executor's tasks (TASK_KILLED); SHUTDOWN ends the agent (it
 *    stays down). FRAMEWORK_MESSAGE is counted and dropped (there is no executor to get it).
 *  Not emulated: executors (no processes run), resource usage, the agent's own HTTP endpoints,
 *  a KILL of a task the agent does not know (counted and ignored), checkpointing to disk (an
 *  emulated agent "restarts" with its memory intact, as a real agent recovering its checkpoint).
 *
 * Per-task controls through TaskInfo.labels: "emulator_run_time" (seconds, overrides the
 * distribution; a negative value runs until killed) and "emulator_final_state" (a TaskState
 * name such as TASK_FAILED, the terminal state sent when the run time ends).
 *
 * Calls other than REGISTER (PONG, STATUS_UPDATE, TASK_LAUNCH_ACK, EXITED_EXECUTOR) are
 * one-shot POSTs, as on the real link, but they share a small pool of keep-alive connections
 * (`call_connections`, each with at most `pipeline` requests outstanding) instead of one
 * connection per agent: the master ties a call to its agent by agent_id and Mesos-Stream-Id, not
 * by connection. So N agents hold N + call_connections sockets.
 *
 * Operator controls (cm_emu_command; main.c serves them on a control socket and runs timed
 * scripts of them): kill (drop the stream and stay silent; tasks keep "running"), restart
 * (re-register now, with the tasks), partition (stop reading the stream and drop every call for
 * a while, then resume and resend pending updates), heal (end a partition now), stats.
 *
 * Ownership: cm_emu_new copies opts. Threading: everything on the loop passed in. Errors: int 0
 * or negative codes (errors.h) with a why text.
 */
#ifndef CM_EMULATOR_H
#define CM_EMULATOR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct cm_emu;

/* How long a task runs before its terminal update. */
enum cm_emu_dist_kind {
    CM_EMU_DIST_FIXED,       /* a */
    CM_EMU_DIST_UNIFORM,     /* uniform in [a, b] */
    CM_EMU_DIST_EXPONENTIAL, /* exponential with mean a */
    CM_EMU_DIST_FOREVER,     /* until killed */
};
struct cm_emu_dist {
    enum cm_emu_dist_kind kind;
    double a, b;
};

/* Parses "fixed:5", "5" (fixed), "uniform:1,10", "exp:3" / "exponential:3", "forever".
 * Returns 0 or CM_EINVAL with why. */
int cm_emu_dist_parse(const char *text, struct cm_emu_dist *out, char *why, size_t whylen);

/* A sample from d (seconds; < 0 for "forever"), from the emulator's random stream. */
double cm_emu_dist_sample(const struct cm_emu_dist *d);

struct cm_emu_opts {
    const char *master; /* "host:port", "zk://..." or "file://..." (leader.h). Required. */
    int agents;         /* emulated agents (>= 1) */
    int first_index;    /* agent i is "<hostname_prefix>-<first_index + i>" */
    const char *hostname_prefix;
    const char *resources;  /* each agent's resources, Mesos text form */
    const char *attributes; /* "rack:r1;zone:a" or NULL */
    struct cm_emu_dist run_time;
    double update_retry;      /* seconds between resends of an unacknowledged update */
    double backoff;           /* first re-registration back-off, seconds */
    int register_concurrency; /* registrations in flight at once */
    int call_connections;     /* keep-alive connections shared by the calls */
    int pipeline;             /* requests outstanding per call connection */
    const char *source_ips;   /* comma-separated local IPv4 addresses to spread agents over */
    double zk_session_timeout;
    /* Agents per link stream (0 or 1: a stream each, as real agents). Above 1, agents
     * [k*n, (k+1)*n) share one stream (OPEN_STREAM, docs/agent-link.md "Shared streams"): their
     * REGISTERs are calls naming it, its events name their agent, one PONG call answers a PING
     * for all of them. At most 10,000 (the master's bound per stream). */
    int agents_per_stream;
};

/* Creates the emulator on base. Returns NULL with why (bad resources, master spec, source IP). */
struct cm_emu *cm_emu_new(struct event_base *base, const struct cm_emu_opts *opts, char *why,
                          size_t whylen);

/* Starts leader detection; every agent registers once a leader is known. Returns 0 or error. */
int cm_emu_start(struct cm_emu *e);

/* Closes every stream and connection and frees everything. NULL: no-op. */
void cm_emu_free(struct cm_emu *e);

/* Counters, cumulative unless said otherwise. */
struct cm_emu_stats {
    int agents;
    int registered;             /* now: REGISTERED on the current stream */
    int killed;                 /* now: killed (silent) or shut down by the master */
    int partitioned;            /* now */
    uint64_t registrations;     /* REGISTERED events */
    uint64_t register_failures; /* streams refused or lost before REGISTERED */
    uint64_t stream_losses;     /* registered streams that ended */
    uint64_t tasks_active;      /* now: tasks held (not yet forgotten) */
    uint64_t tasks_launched;    /* RUN_TASKs taken (duplicates not counted) */
    uint64_t tasks_terminal;    /* terminal updates acknowledged */
    uint64_t tasks_killed;      /* KILL_TASKs obeyed */
    uint64_t run_task_duplicates;
    uint64_t kill_unknown;
    uint64_t updates_sent; /* status updates sent, retries included (one call per agent and turn) */
    uint64_t update_retries;
    uint64_t acks; /* ACKNOWLEDGE events that matched */
    uint64_t pings, pongs;
    uint64_t launch_ack_calls;
    uint64_t calls_ok;      /* 2xx */
    uint64_t calls_failed;  /* other statuses or connection failures */
    uint64_t calls_dropped; /* not sent: no stream, partitioned, or killed */
    uint64_t shutdowns;     /* SHUTDOWN events */
    uint64_t leader_changes;
    uint64_t silent_masters;    /* streams dropped after 5 ping intervals without an event */
    double first_register_secs; /* from start until the last agent first registered (0: not yet) */
    int shared_streams;         /* now: shared streams open */
    uint64_t shared_stream_losses; /* shared streams that ended (each loses all its agents) */
    uint64_t links_closed;         /* LINK_CLOSED events (one agent's link on a shared stream) */
};
void cm_emu_stats(const struct cm_emu *e, struct cm_emu_stats *out);

/* The stats as one line of JSON (malloc'd). */
char *cm_emu_stats_json(const struct cm_emu *e);

/* Runs one operator command, writing a one-line answer (no newline) into out:
 *   kill <agents>            drop the streams and stop answering
 *   restart <agents>         re-register now with the tasks (a killed agent comes back)
 *   partition <agents> <secs> stop reading and answering for secs, then resume
 *   heal <agents>            end a partition now
 *   stats                    the counters as JSON
 * <agents> is an index "7", a range "0-99" (inclusive) or "all". Returns 0 ("ok ...") or
 * CM_EINVAL ("error: ..." in out). */
int cm_emu_command(struct cm_emu *e, const char *line, char *out, size_t outlen);

#endif
