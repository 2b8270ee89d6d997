/*
 * operator.h: the master's v1 operator API (POST /api/v1 and /master/api/v1; docs/operator-api.md,
 * docs/wire-protocol.md §5) and the legacy operator endpoints (/master/roles, /master/weights,
 * /master/teardown, /logging/toggle).
 *
 * Three parts, one prefix (cm_operator_):
 *   operator.c         the call layer: a request reduced to headers and body is checked in the
 *                      scheduler API's order (405, 400 no Content-Type, 415, 400 decode naming the
 *                      field or the unknown call type, 400 validation, 406 Accept) and answered
 *                      from the core (master.h), or 501 for capabilities cmesos does not have.
 *   operator_state.c   builders of the mesos.v1.master response messages from the core's state
 *                      (tasks, agents, frameworks, executors, roles).
 *   operator_stream.c  the large GET_* replies and SUBSCRIBED written in slices (below), so
 *                      that serving them never stalls the master's loop.
 *   operator_events.c  SUBSCRIBE: the subscribers' streams, fed by the core's observer seam
 *                      (struct cm_master_observer) and a heartbeat timer.
 *   operator_http.c    the HTTP edge: routes, streams, the legacy endpoints.
 * The core never includes this header; it reaches the subscribers only through its observer.
 *
 * Ownership: cm_operator_new installs the operator as the master's observer; the master frees it
 * (observer destroy) in cm_master_free, after which every subscriber's stream has been ended.
 * Built messages are heap messages: free with protobuf_c_message_free_unpacked(msg, NULL).
 * Threading: the master's loop.
 *
 * Authorization: cm_operator_authorize (operator.c) is the one place a call's principal is
 * checked against --acls (teardown_frameworks, mark/drain/deactivate/reactivate_agents,
 * set_log_level, view_flags, access_mesos_logs, view_roles, update_weights; the state calls
 * need view_frameworks and view_tasks for every object, where Mesos filters per object).
 */
#ifndef CM_OPERATOR_H
#define CM_OPERATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master.h"
#include "mesos/v1/master/master.pb-c.h"

struct cm_operator_subscriber;

/* The operator API's state, shared by the operator*.c files (others use the functions). */
struct cm_operator {
    struct cm_master *m;
    struct cm_strmap weights; /* role -> double* (malloc'd) */
    uint32_t log_level;       /* current verbosity (0: the start level) */
    int base_log_level;       /* enum cm_log_level from --logging_level */
    double log_revert_at;     /* clock time to go back to 0; 0 = never */
    struct event *log_ev, *hb_ev;
    struct cm_operator_subscriber *subs; /* doubly linked */
    size_t nsubs;
    /* Serve GET_STATE & co. and SUBSCRIBED in one piece (the builders above at once), not in
     * slices: for benchmarks that compare the two; false unless set. */
    bool one_piece;
};

/* Heartbeat interval of SUBSCRIBE streams (Mesos: 15 s). */
#define CM_OPERATOR_HEARTBEAT_SECS 15.0
/* Mesos's --max_operator_event_stream_subscribers default; one more is answered 503. */
#define CM_OPERATOR_MAX_SUBSCRIBERS 1000
/* READ_FILE returns at most this many bytes per call (Mesos: 16 pages). */
#define CM_OPERATOR_READ_MAX (16 * 4096)

/* An operator API request reduced to what the decision needs (no HTTP objects). */
struct cm_operator_request {
    const char *method;
    const char *content_type; /* header or NULL */
    const char *accept;       /* header or NULL */
    const char *principal;    /* authenticated principal or NULL (for cm_operator_authorize) */
    const uint8_t *body;
    size_t body_len;
    /* The caller can serve the large GET_* replies in slices (cm_operator_snap_*): they are
     * then answered with snap set and no body. */
    bool sliced;
};

struct cm_operator_result {
    int code;            /* HTTP status */
    char text[1024];     /* error body (plain text) */
    enum cm_media media; /* the response's (or the SUBSCRIBE stream's) encoding */
    uint8_t *body;       /* encoded Response for GET_* calls (owned; cm_operator_result_cleanup) */
    size_t body_len;
    bool subscribe; /* 200 for SUBSCRIBE: the caller opens the stream (cm_operator_subscribe) */
    int snap;       /* 200 for a GET_* reply to write in slices: its enum cm_operator_snap_kind */
};

/* Creates the operator API's state for m and installs it as m's observer (see above). Reads
 * --weights and --logging_level from m->flags. Never NULL. */
struct cm_operator *cm_operator_new(struct cm_master *m);
/* The operator installed on m, or NULL. */
struct cm_operator *cm_operator_of(struct cm_master *m);

/* Answers one request (docs/operator-api.md for each call's code). Leadership (307/503) is the
 * edge's: cm_master_http_redirect runs before this. */
void cm_operator_request(struct cm_operator *op, const struct cm_operator_request *req,
                         struct cm_operator_result *res);
void cm_operator_result_cleanup(struct cm_operator_result *res);

/* Checks that principal may make call; 0, or 403 with why. The only such check (see above). */
int cm_operator_authorize(struct cm_operator *op, const char *principal,
                          const Mesos__V1__Master__Call *call, char *why, size_t whylen);

/* ---- weights and logging (operator.c) ---- */

/* Sets the weights (validated: role valid and set, weight > 0, no duplicates) for the
 * allocator and GET_WEIGHTS, after storing them in the registry (the master acts only once they
 * are stored). Returns 200, 400 with why, or 503 when the store failed (nothing applied). With
 * an asynchronous storage (zk) the store may still be in flight on return: 200 is answered and
 * the weights are applied when it completes (a failed store then fails the registrar). */
int cm_operator_update_weights(struct cm_operator *op, Mesos__V1__WeightInfo *const *w, size_t n,
                               char *why, size_t whylen);
/* Takes the weights recovered from the registry into GET_WEIGHTS / roles (stored weights win
 * over --weights for their roles). Idempotent; called before serving weights and roles. */
void cm_operator_sync_weights(struct cm_operator *op);
/* SET_LOGGING_LEVEL / /logging/toggle: verbosity level (0 = the --logging_level set at start,
 * >= 1 = DEBUG, Mesos's glog verbosity) for secs seconds, then back to 0. */
void cm_operator_set_logging(struct cm_operator *op, uint32_t level, double secs);
uint32_t cm_operator_logging_level(const struct cm_operator *op);
/* Reverts the logging level when its duration has passed at the master's clock (the timer
 * calls it; tests call it after advancing a fake clock). */
void cm_operator_tick(struct cm_operator *op);

/* ---- state builders (operator_state.c) ---- */

Mesos__V1__Task *cm_operator_task(const struct cm_task *t);
Mesos__V1__Master__Response__GetAgents__Agent *cm_operator_agent(const struct cm_agent *a);
Mesos__V1__Master__Response__GetFrameworks__Framework *
cm_operator_framework(const struct cm_framework *fw);
/* The same without its offers (the sliced replies add them a few at a time). */
Mesos__V1__Master__Response__GetFrameworks__Framework *
cm_operator_framework_head(const struct cm_framework *fw);
Mesos__V1__Offer *cm_operator_offer(const struct cm_offer *of);
Mesos__V1__Master__Response__GetTasks *cm_operator_get_tasks(struct cm_master *m);
Mesos__V1__Master__Response__GetAgents *cm_operator_get_agents(struct cm_master *m);
Mesos__V1__Master__Response__GetFrameworks *cm_operator_get_frameworks(struct cm_master *m);
Mesos__V1__Master__Response__GetExecutors *cm_operator_get_executors(struct cm_master *m);
Mesos__V1__Master__Response__GetState *cm_operator_get_state(struct cm_master *m);
/* Roles known to the master: those of active frameworks and those with a weight. */
Mesos__V1__Master__Response__GetRoles *cm_operator_get_roles(struct cm_operator *op);
Mesos__V1__Master__Response__GetWeights *cm_operator_get_weights(struct cm_operator *op);
/* A heap message of type desc, initialised (for builders). */
void *cm_operator_msg_new(const ProtobufCMessageDescriptor *desc);

/* ---- large replies in slices (operator_stream.c) ---- */

/* A GET_STATE, GET_TASKS, GET_AGENTS, GET_FRAMEWORKS or GET_EXECUTORS Response, or SUBSCRIBE's
 * SUBSCRIBED Event, written a little at a time so that no loop turn stalls the master: first
 * the objects are collected (a few per call, each built by the builders above and encoded at
 * once; ids are kept between calls and looked up again, so removed objects are left out and
 * objects added after the start are not in it), then the encoded bytes are handed out in
 * pieces. When the state does not change meanwhile the bytes are those of the one-piece
 * builder's message encoded by cm_pb_encode (with recordio, those of cm_stream_frame), byte
 * for byte. Authorization is the caller's (cm_operator_authorize, as for the one-piece
 * replies). Memory: the encoded reply, held until the snapshot is freed. Threading: the
 * master's loop. */
enum cm_operator_snap_kind {
    CM_OPERATOR_SNAP_NONE,
    CM_OPERATOR_SNAP_STATE,
    CM_OPERATOR_SNAP_TASKS,
    CM_OPERATOR_SNAP_AGENTS,
    CM_OPERATOR_SNAP_FRAMEWORKS,
    CM_OPERATOR_SNAP_EXECUTORS,
    CM_OPERATOR_SNAP_SUBSCRIBED, /* the SUBSCRIBED event (heartbeat interval included) */
};
struct cm_operator_snap;
struct cm_json_out;

/* A snapshot of kind in media (JSON, else protobuf), RecordIO-framed when recordio. Never NULL;
 * nothing is read from m before the first cm_operator_snap_produce. */
struct cm_operator_snap *cm_operator_snap_new(struct cm_master *m, enum cm_operator_snap_kind kind,
                                              enum cm_media media, bool recordio);
/* Does one bounded piece of work: collects a few objects (nothing appended), or appends up to
 * 64 KiB of the output to out (raw bytes; protobuf bytes too). Returns true while there is more
 * to do, false once the whole output was appended. A cm_json_stream_produce (json_stream.h). */
bool cm_operator_snap_produce(void *arg, struct cm_json_out *out);
/* Whether collecting is over; the output's total size then (0 before). */
bool cm_operator_snap_collected(const struct cm_operator_snap *s);
size_t cm_operator_snap_size(const struct cm_operator_snap *s);
/* Frees a snapshot (arg: struct cm_operator_snap *; NULL is a no-op). */
void cm_operator_snap_free(void *arg);

/* ---- SUBSCRIBE (operator_events.c) ---- */

/* Adds a subscriber on sink (taken over: its ref is freed by cm_sink_end when the operator ends
 * the stream, so an HTTP edge's close-callback closure goes there) and sends it
 * SUBSCRIBED with the full state. On an HTTP stream (with the master's loop) the record is
 * written in slices (operator_stream.c) and the events of the meantime are held and sent right
 * after it (a subscriber that would hold more than CM_HTTP_STREAM_CAP_DEFAULT bytes of them is
 * dropped); a callback sink gets it at once. Returns the subscriber, or NULL when the stream is
 * already gone. */
struct cm_operator_subscriber *cm_operator_subscribe(struct cm_operator *op,
                                                     const struct cm_sink *sink);
/* The subscriber's stream closed (the peer went away, or it was cut off for not reading; the
 * HTTP layer frees the stream): forget it. Valid even after the operator was freed, for a
 * subscriber that was cut off just before (it is then only freed). */
void cm_operator_unsubscribe(struct cm_operator *op, struct cm_operator_subscriber *s);
size_t cm_operator_subscribers(const struct cm_operator *op);
/* Sends HEARTBEAT to every subscriber (the timer calls it every CM_OPERATOR_HEARTBEAT_SECS). */
void cm_operator_heartbeat(struct cm_operator *op);
/* Sends ev to every subscriber; subscribers whose stream refuses it are dropped. */
void cm_operator_broadcast(struct cm_operator *op, const Mesos__V1__Master__Event *ev);
/* The observer callbacks, for cm_operator_new. */
void cm_operator_observe(struct cm_operator *op, struct cm_master_observer *obs);
/* Ends every subscriber's stream (shutdown). */
void cm_operator_end_subscribers(struct cm_operator *op);

/* ---- HTTP edge (operator_http.c) ---- */

/* Creates the operator (cm_operator_new) and installs /api/v1 (also /master/api/v1), /roles,
 * /weights, /teardown and /maintenance/... (each also under /master), /logging/toggle. */
void cm_master_operator_http_routes(struct cm_master *m); /* also in master_http.h */

#endif
