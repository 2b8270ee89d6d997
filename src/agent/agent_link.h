/*
 * agent_link.h: the agent core's link to the master, and the seam tests use instead of it.
 *
 * The core registers (REGISTER, with what it runs so a re-registering agent keeps its tasks),
 * handles the master's events (REGISTERED, PING, RUN_TASK, KILL_TASK, ACKNOWLEDGE,
 * SHUTDOWN_FRAMEWORK, SHUTDOWN_EXECUTOR, FRAMEWORK_MESSAGE, UPDATE_FRAMEWORK, SHUTDOWN),
 * sends its calls (STATUS_UPDATE, PONG, EXITED_EXECUTOR, EXECUTOR_MESSAGE, TASK_LAUNCH_ACK),
 * backs off and re-registers when the link ends, and watches for a silent master (no event in
 * five ping intervals).
 *
 * How bytes move is a transport, struct cm_agent_link, the way struct cm_sink serves the
 * master: the HTTP transport (agent_link_http.c: REGISTER through the shared stream client,
 * stream_client.h, whose response is the RecordIO event stream, and one POST per call) in the
 * daemon, a capture in unit tests. A transport hands each decoded event to
 * cm_agent_link_event and reports the end of the link with cm_agent_link_lost (and a 403 to a
 * call with cm_agent_link_forgotten); it never changes agent state itself, and it never
 * retries on its own: every re-registration is the core's, on the core's timer, so one
 * backoff rule holds whatever the transport.
 *
 * An undecodable event (bad framing, a record over CM_AGENT_MAX_LINK_RECORD, or one that
 * cm_pb_decode refuses: unparseable, a required field missing, an unknown value of a required
 * enum) gets the one policy of every event stream (stream_client.h): the stream is dropped and
 * the agent registers again, so it never skips an event the master believes it delivered.
 *
 * Ownership: calls and events are borrowed for the duration of a call. Threading: the agent's
 * loop only.
 */
#ifndef CM_AGENT_LINK_H
#define CM_AGENT_LINK_H

#include <event2/util.h>
#include <stddef.h>
#include <stdint.h>

#include "cmesos/internal.pb-c.h"

struct cm_agent;

struct cm_agent_link {
    /* Opens the link to leader ("host:port") with reg (a REGISTER call). Returns 0 when the
     * attempt started (its outcome arrives as events or cm_agent_link_lost), or an error with
     * why; the core then backs off and tries again. */
    int (*open)(void *arg, const char *leader, const Cmesos__Internal__AgentCall *reg, char *why,
                size_t whylen);
    /* Sends one call on the open link. Returns 0 or an error (the call is dropped). */
    int (*send)(void *arg, const Cmesos__Internal__AgentCall *call);
    /* Drops the open link without reporting it lost. */
    void (*close)(void *arg);
    void *arg;
};

/* ---- the seam: what a transport (or a test) calls ---- */

/* Handles one event from the master. Returns non-zero when the link must be dropped (the
 * master told the agent to SHUT DOWN). Events before REGISTERED are dropped. */
int cm_agent_link_event(struct cm_agent *a, const Cmesos__Internal__AgentEvent *ev);
/* Decodes one RecordIO record of the event stream as the HTTP transport's stream client does
 * (cm_pb_decode of an AgentEvent in protobuf) and handles it, for transports that receive raw
 * records and for tests and fuzzing. Returns cm_agent_link_event's answer, or non-zero for an
 * undecodable record (drop the link, the policy above); either way the transport then drops
 * the link and reports it lost. */
int cm_agent_link_record(struct cm_agent *a, const uint8_t *data, size_t len);
/* The link ended; reason may be NULL. The core backs off and registers again. */
void cm_agent_link_lost(struct cm_agent *a, const char *reason);
/* A transport whose calls end later (the HTTP transport: one POST each) reports each
 * STATUS_UPDATE and TASK_LAUNCH_ACK call it starts and, exactly once, its end (answered or
 * failed; type is the call's type, other types are ignored). While one call of a kind is in
 * flight the core holds the next ones of that kind, up to CM_AGENT_CALL_HOLD_MAX seconds, and
 * sends them as one call when it ends: under load, a call per round trip to the master instead
 * of one per loop turn; with nothing in flight nothing waits. A transport that never reports
 * (the tests' capture) gets every call at once. */
void cm_agent_link_call_started(struct cm_agent *a, int type);
void cm_agent_link_call_done(struct cm_agent *a, int type);
/* The master answered a call with 403 (it forgot this agent): register again now. */
void cm_agent_link_forgotten(struct cm_agent *a);
/* The once-a-second work: status update retries (read from the injectable clock) and the
 * silent-master watchdog. The daemon runs it from a timer; tests call it after advancing
 * their fake clock. */
void cm_agent_tick(struct cm_agent *a);

/* ---- inside the agent core ---- */

/* Starts (re-)registering after delay seconds. */
void agent_link_schedule(struct cm_agent *a, double delay);
/* Random delay in [0, backoff], then the back-off doubles up to one minute. */
void agent_link_reconnect_later(struct cm_agent *a);
/* Builds REGISTER and opens the link, unless it is open or recovery holds registration. */
void agent_link_start(struct cm_agent *a);
/* Sends call (agent_id is filled in) when registered; otherwise drops it. */
void agent_link_send(struct cm_agent *a, Cmesos__Internal__AgentCall *call);
/* Sends TASK_LAUNCH_ACK for the task. */
void agent_link_launch_ack(struct cm_agent *a, const char *framework_id, const char *task_id);

/* Frees the events still waiting for their turn, the launch acks not sent yet (cm_agent_free)
 * and their timers. */
void agent_link_backlog_free(struct cm_agent *a);
/* Detector callback: a new leading master (or none). */
void agent_link_leader_changed(void *arg, const char *leader);
/* libevent callbacks of the register and tick timers. */
void agent_link_register_timer_cb(evutil_socket_t fd, short what, void *arg);
void agent_link_tick_cb(evutil_socket_t fd, short what, void *arg);

/* The HTTP transport of the daemon; its state lives in struct cm_agent (link_stream, the
 * REGISTER it sends). cleanup frees that state (nothing when the transport was never opened);
 * cm_agent_free calls it before freeing the HTTP client the stream client borrows. */
void agent_link_http_init(struct cm_agent *a, struct cm_agent_link *out);
void agent_link_http_cleanup(struct cm_agent *a);

#endif
