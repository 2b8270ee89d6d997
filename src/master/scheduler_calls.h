/*
 * scheduler_calls.h: the scheduler API's call layer (docs/wire-protocol.md §2) — a request reduced
 * to its headers and body is decoded (codec.h: required fields and enums checked), validated and
 * answered; calls that pass are carried out through the core (master.h).
 *
 * Layer: above the core, below the HTTP edge (scheduler_http.c). Nothing here touches HTTP
 * objects, so tests drive the scheduler API without sockets. The core never includes this.
 * Threading: the master's loop.
 */
#ifndef CM_SCHEDULER_CALLS_H
#define CM_SCHEDULER_CALLS_H

#include "master.h"

/* A scheduler API request reduced to what the decision needs (no HTTP objects). */
struct cm_sched_request {
    const char *method;
    const char *content_type; /* header or NULL */
    const char *accept;       /* header or NULL */
    const char *stream_id;    /* Mesos-Stream-Id header or NULL */
    const uint8_t *body;
    size_t body_len;
    /* The principal the request authenticated as (HTTP Basic, checked by the edge), or NULL.
     * With framework authentication on, NULL is answered 401. */
    const char *principal;
};

struct cm_sched_result {
    int code;                         /* HTTP status */
    char text[1024];                  /* error body (plain text) or Location for 307 */
    enum cm_media media;              /* SUBSCRIBE: negotiated event media */
    Mesos__V1__Scheduler__Call *call; /* SUBSCRIBE (code 200): the call, caller frees */
};

/* Runs docs/wire-protocol.md §2.1 for one request. For non-SUBSCRIBE calls that pass every check
 * the call is executed and 202 returned (events go to the streams). For a valid SUBSCRIBE it
 * returns 200 with res->call set: the caller opens the stream and calls cm_master_subscribe.
 * Errors: 307 (text = Location), 503, 405, 400 (an undeclared value in a required enum names
 * the field), 415, 406, 401 (authentication on and no principal), 403, 501, with res->text.
 * 403 also answers: a SUBSCRIBE whose FrameworkInfo.principal is not the authenticated one, a
 * SUBSCRIBE for an existing framework id by another principal (the owner keeps its stream),
 * a register_frameworks ACL denial (naming the role), and a call whose authenticated principal
 * is not its framework's. */
void cm_master_scheduler_request(struct cm_master *m, const struct cm_sched_request *req,
                                 struct cm_sched_result *res);

#endif
