/*
 * endpoints_json.h: what the read-only endpoints' files share (HTTP edge, internal).
 *
 * /master/state, /master/frameworks, /master/slaves, /master/tasks and /master/state-summary
 * are served in slices (json_stream.h, endpoints_stream.c): each agent, framework, task and
 * offer is written straight into the reply's buffer (json_out.h) by endpoints_out.c, a few at
 * a time, so a master with 10,000 agents and 100,000 tasks keeps serving its other connections
 * while it answers. The text is byte for byte what the jansson builders of endpoints.c dump;
 * those still answer a request with ?jsonp in one piece, and the tests compare the two. The
 * state may change between slices, so a streamed body is not a single snapshot: each agent,
 * framework and task is written as it is when its slice runs, and one that is gone by then is
 * left out.
 *
 * Builders return new references (caller decrefs); writers append to w. Threading: the
 * master's loop.
 */
#ifndef CM_ENDPOINTS_JSON_H
#define CM_ENDPOINTS_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "http_server.h"
#include "master.h"

struct cm_json_out;

/* endpoints.c */
json_t *cm_ep_state_head(struct cm_master *m, const char *principal);
/* /master/state-summary's head (hostname, cluster). */
json_t *cm_ep_summary_head(struct cm_master *m);
json_t *cm_ep_attributes_json(const Mesos__V1__AgentInfo *info);
/* An attribute's ranges "[1-2, 5-9]" or set "{a, b}" as the agent objects show it, cut to
 * len (at least 128) bytes with its NUL. */
void cm_ep_ranges_text(char *buf, size_t len, const Mesos__V1__Value__Ranges *r);
void cm_ep_set_text(char *buf, size_t len, const Mesos__V1__Value__Set *s);
bool cm_ep_view_framework(const struct cm_master *m, const char *principal,
                          const struct cm_framework *fw);
bool cm_ep_view_task(const struct cm_master *m, const char *principal, const struct cm_task *t);

/* endpoints_out.c: the objects of endpoints.c, written (one value each, with its comma). */
void cm_epw_task(struct cm_json_out *w, const struct cm_task *t);
void cm_epw_offer(struct cm_json_out *w, const struct cm_offer *o);
/* Prefetches what cm_epw_task will read of t: stage 0 the task, 1 what it points to, 2 what
 * those point to. Each stage reads what the one before fetched, so a caller walking a list
 * runs them some tasks apart (stage 0 furthest ahead). t must be valid (it is read). */
void cm_epw_task_prefetch(const struct cm_task *t, int stage);
/* The same for cm_epw_offer, and for cm_epw_agent (and cm_epw_summary_agent). */
void cm_epw_offer_prefetch(const struct cm_offer *o, int stage);
void cm_epw_agent_prefetch(const struct cm_agent *a, int stage);
void cm_epw_agent(struct cm_json_out *w, const struct cm_agent *a, bool full);
void cm_epw_summary_agent(struct cm_json_out *w, const struct cm_agent *a);
/* A framework's /master/state-summary entry in parts, so that its tasks are counted over
 * several slices: the head (the brace and the common members), then cm_epw_counts of the
 * framework's tasks and the closing brace, which the caller writes. */
void cm_epw_summary_framework_head(struct cm_json_out *w, const struct cm_framework *fw);
/* The count of tasks in each state and the distinct ids of the other side (the agents of a
 * framework's tasks: fw_side; the frameworks of an agent's), as first met; the ids are copied,
 * so tasks may go away between two cm_ep_counts_add. */
struct cm_ep_idblock;
struct cm_ep_counts {
    int64_t counts[16];
    const char **slot; /* open addressing over cap slots */
    uint64_t *hash;
    size_t cap, n;
    const char **order; /* the n ids, as first met */
    size_t order_cap;
    struct cm_ep_idblock *blocks;
};
void cm_ep_counts_init(struct cm_ep_counts *c);
void cm_ep_counts_add(struct cm_ep_counts *c, const struct cm_task *t, bool fw_side);
/* Writes the counts' members (the TASK_* counts, then "slave_ids" or "framework_ids"). */
void cm_epw_counts(struct cm_json_out *w, const struct cm_ep_counts *c, bool fw_side);
void cm_ep_counts_cleanup(struct cm_ep_counts *c);
/* A framework's object in three parts, around its active tasks and its offers, which the
 * caller writes in between: head is everything up to and with "tasks":[ ; mid is ] and the
 * members up to and with "offers":[ (its unreachable and completed tasks, bounded by the
 * master's flags); tail is ] and the rest, with the closing brace. principal (NULL:
 * anonymous) filters its tasks by --acls as the one-piece object does. */
void cm_epw_framework_head(struct cm_json_out *w, const struct cm_framework *fw);
void cm_epw_framework_mid(struct cm_json_out *w, const struct cm_master *m,
                          const struct cm_framework *fw, const char *principal);
void cm_epw_framework_tail(struct cm_json_out *w, const struct cm_framework *fw);

/* /master/tasks orders tasks as Mesos does: by the timestamp of each task's first status (the
 * oldest one kept; 0 when it has none, or NaN), a task without any status first in ascending
 * order. Mesos leaves ties unordered; here they go by framework id, task id, then where the
 * task is (ring: its index in its framework's completed tasks, -1 for an active or unreachable
 * task) and its address, so that the order is total and the streamed selection
 * (endpoints_tasks.c) picks exactly the tasks a full sort (the one-piece reply) does. */
struct cm_ep_task_key {
    bool has_status;
    double ts;
    const char *fw_id, *task_id; /* borrowed */
    long ring;
    uintptr_t addr;
};
void cm_ep_task_key_of(struct cm_ep_task_key *k, const struct cm_task *t, long ring);
/* Negative when a comes first in ascending order. */
int cm_ep_task_key_cmp(const struct cm_ep_task_key *a, const struct cm_ep_task_key *b);

/* What /master/tasks asked for (validated). */
struct cm_ep_tasks_query {
    const char *framework_id, *task_id; /* NULL: any */
    bool asc;                           /* order=asc; else descending (Mesos's default) */
    size_t offset, limit;
};

/* endpoints_stream.c: the values of a map listed as pointers with their entries' hashes, for a
 * walk spread over slices. A later slice uses a pointer as it is while the map's removal count
 * (strmap.h) has not moved since the listing (and the caller trusts that map to be the one
 * listed: it still holds the object that owns the map); otherwise each pointer is checked with
 * cm_strmap_holds (compared, never followed) and skipped when it is no longer there. */
struct cm_ep_ref {
    const void *p;
    uint64_t hash;
};
struct cm_ep_refs {
    struct cm_ep_ref *v;
    size_t n, cap, next;
    uint64_t removals; /* the map's when listed */
};
/* Lists map's values (only: the one with that key), in cm_strmap_iter's order. */
void cm_ep_refs_list(struct cm_ep_refs *l, const struct cm_strmap *map, const char *only);
void cm_ep_refs_clear(struct cm_ep_refs *l);
/* The next listed value still in map (trust false: map may not be the one listed, or may hold
 * another value under the key: checked one by one). NULL when the list is done. */
const void *cm_ep_refs_next(struct cm_ep_refs *l, const struct cm_strmap *map, bool trust);
/* The value d places after the next one, if there is one and it may be read now (trust, and
 * nothing removed since the listing): for prefetching. Else NULL. */
const void *cm_ep_refs_ahead(const struct cm_ep_refs *l, const struct cm_strmap *map, bool trust,
                             size_t d);

/* endpoints_stream.c. Each answers req in slices and returns true (taking *principal, which
 * is then NULL), or returns false when the request must be answered in one piece (?jsonp) and
 * leaves req and *principal to the caller. only (NULL: all) selects one framework / agent. */
bool cm_master_stream_state(struct cm_master *m, struct cm_http_request *req, char **principal);
bool cm_master_stream_frameworks(struct cm_master *m, struct cm_http_request *req, const char *only,
                                 char **principal);
bool cm_master_stream_slaves(struct cm_master *m, struct cm_http_request *req, const char *only);
/* /master/state-summary. */
bool cm_master_stream_summary(struct cm_master *m, struct cm_http_request *req, char **principal);

/* endpoints_tasks.c: /master/tasks in slices: the tasks are scanned a few at a time into a
 * bounded heap of the first offset + limit in the asked order, which is then sorted and
 * written, in slices too. Same contract as the above; q's strings are copied. */
bool cm_master_stream_tasks(struct cm_master *m, struct cm_http_request *req, char **principal,
                            const struct cm_ep_tasks_query *q);

#endif
