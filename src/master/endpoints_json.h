/*
 * endpoints_json.h: what the read-only endpoints' files share (HTTP edge, internal): the JSON
 * builders of endpoints.c for the streaming handlers of endpoints_stream.c.
 *
 * /master/state, /master/frameworks, /master/slaves, /master/tasks and /master/state-summary
 * are served in slices
 * (json_stream.h): the body is the same JSON the one-piece builders make, written a few
 * agents or tasks, or one framework's head, at a time, so a master with 10,000 agents and
 * 100,000 tasks keeps serving its other connections while it answers. The state may change
 * between slices, so the body is not a single snapshot: each agent, framework and task is
 * written as it is when its slice runs, and one that is gone by then is left out. A request
 * with ?jsonp is answered in one piece (as before).
 *
 * Builders return new references (caller decrefs). Threading: the master's loop.
 */
#ifndef CM_ENDPOINTS_JSON_H
#define CM_ENDPOINTS_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "http_server.h"
#include "master.h"

/* endpoints.c */
json_t *cm_ep_state_head(struct cm_master *m, const char *principal);
json_t *cm_ep_agent_json(const struct cm_agent *a, bool full);
json_t *cm_ep_task_json(const struct cm_task *t);
json_t *cm_ep_offer_json(const struct cm_offer *o);
/* /master/state-summary: its head (hostname, cluster), an agent's and a framework's entry. */
json_t *cm_ep_summary_head(struct cm_master *m);
json_t *cm_ep_summary_agent(struct cm_agent *a);
json_t *cm_ep_summary_framework(struct cm_framework *fw);
/* Stands for a framework's offers in its object when it is streamed (see below). */
#define CM_EP_OFFERS_MARKER "\001cm-stream-offers"
/* A framework's object with "tasks" set to the string tasks_marker and "offers" to
 * CM_EP_OFFERS_MARKER (tasks_marker NULL: its tasks and offers). */
json_t *cm_ep_framework_json(const struct cm_master *m, const struct cm_framework *fw,
                             const char *principal, const char *tasks_marker);
bool cm_ep_view_framework(const struct cm_master *m, const char *principal,
                          const struct cm_framework *fw);
bool cm_ep_view_task(const struct cm_master *m, const char *principal, const struct cm_task *t);

/* A task picked for /master/tasks and where it was: ring is its index in its framework's
 * completed tasks, -1 for an active task. */
struct cm_ep_task_ref {
    const struct cm_task *t;
    long ring;
    double updated; /* t->updated, the sort key (kept here: sorting 100,000 is then local) */
};

/* endpoints_stream.c. Each answers req in slices and returns true (taking *principal, which
 * is then NULL), or returns false when the request must be answered in one piece (?jsonp) and
 * leaves req and *principal to the caller. only (NULL: all) selects one framework / agent. */
bool cm_master_stream_state(struct cm_master *m, struct cm_http_request *req, char **principal);
bool cm_master_stream_frameworks(struct cm_master *m, struct cm_http_request *req, const char *only,
                                 char **principal);
bool cm_master_stream_slaves(struct cm_master *m, struct cm_http_request *req, const char *only);
/* /master/state-summary. */
bool cm_master_stream_summary(struct cm_master *m, struct cm_http_request *req, char **principal);
/* /master/tasks: the n tasks picked (in their order); each is written if it is still where it
 * was picked from when its slice runs. False for ?jsonp (req untouched). */
bool cm_master_stream_tasks(struct cm_master *m, struct cm_http_request *req,
                            const struct cm_ep_task_ref *tasks, size_t n);

#endif
