/* endpoints_stream.c: /master/state, /master/frameworks and /master/slaves written in slices
 * (endpoints_json.h, json_stream.h). HTTP edge: reads the core's state, changes nothing.
 *
 * A body is a short program of segments: literal text, the agents, the active frameworks, the
 * completed frameworks. The agents (and a framework's tasks and offers, below) are listed when
 * their segment starts, in the order the one-piece builders walk them, as pointers with their
 * map entry's hash. A later slice uses such a pointer as it is while the map's removal count
 * (strmap.h) has not moved since, which is the common case; once it has, each pointer is
 * checked against the map (cm_strmap_holds: compared, never followed) and skipped if it is
 * gone. The frameworks (few) are listed by id and looked up again. A framework is written in
 * parts (endpoints_out.c): its head goes out, then its active tasks (listed when the
 * framework's turn comes, a few per piece), then the text between (its unreachable and
 * completed tasks: bounded by the master's flags), then its offers the same way as its tasks,
 * then the rest; the text between and the rest are written when its turn comes, so the object
 * still closes if it goes away meanwhile. Commas come from the writer (json_out.h). */
#include <stdlib.h>
#include <string.h>

#include "idlist.h"
#include "endpoints_json.h"
#include "json_out.h"
#include "json_stream.h"
#include "util.h"

/* Per piece: enough to amortise the lookups, small enough for the slice budget. */
#define AGENTS_PER_PIECE 4
#define TASKS_PER_PIECE 32
#define COUNTS_PER_PIECE 512 /* tasks of a framework counted per piece (state-summary) */
#define PF_STEP 4            /* tasks between two stages of prefetching (cm_epw_task_prefetch) */

/* Ids copied into one buffer. */
static void ids_of_map(struct cm_idlist *l, const struct cm_strmap *map, const char *only)
{
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, map); cm_strmap_iter_next(&it);)
        if (!only || strcmp(only, it.cur->key) == 0)
            cm_idlist_add(l, it.cur->key);
}

void cm_ep_refs_list(struct cm_ep_refs *l, const struct cm_strmap *map, const char *only)
{
    l->n = l->next = 0;
    l->removals = map->removals;
    if (l->cap < map->count) {
        free(l->v);
        l->cap = map->count;
        l->v = cm_xmalloc(l->cap * sizeof *l->v);
    }
    /* The walk of cm_strmap_iter (bucket by bucket, each chain in order), with the entries
     * of the buckets a few ahead prefetched: the entries are scattered, the buckets not. */
    for (size_t i = 0; i < map->nbuckets; i++) {
        if (i + 8 < map->nbuckets)
            __builtin_prefetch(map->buckets[i + 8]);
        for (const struct cm_strmap_entry *e = map->buckets[i]; e; e = e->next)
            if (!only || strcmp(only, e->key) == 0)
                l->v[l->n++] = (struct cm_ep_ref){e->value, e->hash};
    }
}

void cm_ep_refs_clear(struct cm_ep_refs *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

const void *cm_ep_refs_next(struct cm_ep_refs *l, const struct cm_strmap *map, bool trust)
{
    bool fast = trust && map->removals == l->removals;
    while (l->next < l->n) {
        const struct cm_ep_ref *r = &l->v[l->next++];
        if (fast || cm_strmap_holds(map, r->hash, r->p))
            return r->p;
    }
    return NULL;
}

const void *cm_ep_refs_ahead(const struct cm_ep_refs *l, const struct cm_strmap *map, bool trust,
                             size_t d)
{
    if (!trust || map->removals != l->removals || l->next + d >= l->n)
        return NULL;
    return l->v[l->next + d].p;
}

enum seg_kind {
    SEG_TEXT,
    SEG_AGENTS,
    SEG_FRAMEWORKS,
    SEG_COMPLETED,
    SEG_SUMMARY_AGENTS,     /* /master/state-summary's entries */
    SEG_SUMMARY_FRAMEWORKS, /* one framework per piece */
};

struct seg {
    enum seg_kind kind;
    char *text; /* SEG_TEXT, owned */
};

struct body {
    struct cm_master *m;
    char *principal;
    bool full; /* agents with the *_full resources (/master/slaves) */
    struct seg segs[8];
    size_t nsegs, cur;
    bool seg_started;
    struct cm_idlist ids;     /* of the current frameworks segment */
    struct cm_ep_refs agents; /* of the current agents segment */
    /* The framework being written: its id, and the framework and the removal counts of the
     * master's framework maps when its turn came (while they hold, fw_p is still it). */
    char *fw_id;
    struct cm_framework *fw_p;
    uint64_t fw_removals, completed_removals;
    struct cm_json_out fw_mid, fw_tail; /* its text between tasks and offers, and after */
    struct cm_ep_refs tasks, offers;
    bool fw_in_offers;
    struct cm_ep_counts counts; /* /master/state-summary: the framework's tasks counted so far */
};

static void body_free(void *arg)
{
    struct body *b = arg;
    for (size_t i = 0; i < b->nsegs; i++)
        free(b->segs[i].text);
    cm_idlist_clear(&b->ids);
    cm_ep_refs_clear(&b->agents);
    cm_ep_refs_clear(&b->tasks);
    cm_ep_refs_clear(&b->offers);
    cm_ep_counts_cleanup(&b->counts);
    cm_json_out_cleanup(&b->fw_mid);
    cm_json_out_cleanup(&b->fw_tail);
    free(b->fw_id);
    free(b->principal);
    free(b);
}

static void seg_text(struct body *b, const char *text)
{
    b->segs[b->nsegs++] = (struct seg){SEG_TEXT, cm_xstrdup(text)};
}

static void seg(struct body *b, enum seg_kind kind)
{
    b->segs[b->nsegs++] = (struct seg){kind, NULL};
}

static struct cm_framework *lookup_fw(struct body *b, const char *id)
{
    const struct cm_strmap *map =
        b->segs[b->cur].kind == SEG_COMPLETED ? &b->m->completed : &b->m->frameworks;
    return cm_strmap_get(map, id);
}

/* Starts the next framework of the segment: writes its head, up to its tasks. False when
 * the segment has no more frameworks. */
static bool fw_begin(struct body *b, struct cm_json_out *out)
{
    const char *id;
    while ((id = cm_idlist_next(&b->ids))) {
        struct cm_framework *fw = lookup_fw(b, id);
        if (!fw || !cm_ep_view_framework(b->m, b->principal, fw))
            continue;
        cm_epw_framework_head(out, fw);
        /* The rest of its object as it is now (the object closes even if it goes away). */
        cm_json_out_reset(&b->fw_mid);
        b->fw_mid.last = '[';
        cm_epw_framework_mid(&b->fw_mid, b->m, fw, b->principal);
        cm_json_out_reset(&b->fw_tail);
        b->fw_tail.last = '[';
        cm_epw_framework_tail(&b->fw_tail, fw);
        b->fw_id = cm_xstrdup(id);
        b->fw_p = fw;
        b->fw_removals = b->m->frameworks.removals;
        b->completed_removals = b->m->completed.removals;
        cm_ep_refs_list(&b->tasks, &fw->tasks, NULL);
        cm_ep_refs_list(&b->offers, &fw->offers, NULL);
        b->fw_in_offers = false;
        return true;
    }
    return false;
}

/* The framework being written if it is still there (NULL if not); *trust tells whether it is
 * surely the one whose tasks and offers were listed (else they are checked one by one). */
static struct cm_framework *fw_now(struct body *b, bool *trust)
{
    *trust = b->m->frameworks.removals == b->fw_removals &&
             b->m->completed.removals == b->completed_removals;
    if (*trust)
        return b->fw_p;
    /* A framework went away (maybe this one, maybe another, maybe one with its id came). */
    struct cm_framework *fw = lookup_fw(b, b->fw_id);
    return fw == b->fw_p ? fw : NULL;
}

/* Writes some of the current framework's tasks, then of its offers; finishes it when they
 * are done (or when the framework went away meanwhile: its object still closes). */
static void fw_more(struct body *b, struct cm_json_out *out)
{
    bool trust;
    struct cm_framework *fw = fw_now(b, &trust);
    const void *p;
    if (!b->fw_in_offers) {
        for (int n = 0; fw && n < TASKS_PER_PIECE; n++) {
            /* Three stages of prefetching, the first PF_STEP * 3 tasks ahead. */
            for (int st = 0; st < 3; st++) {
                const void *ahead =
                    cm_ep_refs_ahead(&b->tasks, &fw->tasks, trust, (size_t)(3 - st) * PF_STEP);
                if (ahead)
                    cm_epw_task_prefetch(ahead, st);
            }
            if (!(p = cm_ep_refs_next(&b->tasks, &fw->tasks, trust)))
                break;
            const struct cm_task *t = p;
            if (cm_ep_view_task(b->m, b->principal, t))
                cm_epw_task(out, t);
        }
        if (fw && b->tasks.next < b->tasks.n)
            return;
        cm_json_out_raw(out, b->fw_mid.data, b->fw_mid.len);
        b->fw_in_offers = true;
        return;
    }
    for (int n = 0; fw && n < TASKS_PER_PIECE; n++) {
        for (int st = 0; st < 3; st++) {
            const void *ahead =
                cm_ep_refs_ahead(&b->offers, &fw->offers, trust, (size_t)(3 - st) * PF_STEP);
            if (ahead)
                cm_epw_offer_prefetch(ahead, st);
        }
        if (!(p = cm_ep_refs_next(&b->offers, &fw->offers, trust)))
            break;
        cm_epw_offer(out, p);
    }
    if (fw && b->offers.next < b->offers.n)
        return;
    cm_json_out_raw(out, b->fw_tail.data, b->fw_tail.len);
    free(b->fw_id);
    b->fw_id = NULL;
    b->fw_p = NULL;
}

/* /master/state-summary's next framework: its head now, its tasks counted over the next
 * pieces (summary_fw_more). False when the segment has no more frameworks. */
static bool summary_fw_begin(struct body *b, struct cm_json_out *out)
{
    const char *id;
    while ((id = cm_idlist_next(&b->ids))) {
        struct cm_framework *fw = cm_strmap_get(&b->m->frameworks, id);
        if (!fw || !cm_ep_view_framework(b->m, b->principal, fw))
            continue;
        cm_epw_summary_framework_head(out, fw);
        b->fw_id = cm_xstrdup(id);
        b->fw_p = fw;
        b->fw_removals = b->m->frameworks.removals;
        b->completed_removals = b->m->completed.removals;
        cm_ep_refs_list(&b->tasks, &fw->tasks, NULL);
        cm_ep_counts_cleanup(&b->counts);
        return true;
    }
    return false;
}

/* Counts some of the current framework's tasks; writes the counts and closes its object once
 * they are all counted (or once it went away: the object still closes). */
static void summary_fw_more(struct body *b, struct cm_json_out *out)
{
    bool trust;
    struct cm_framework *fw = fw_now(b, &trust);
    for (int n = 0; fw && n < COUNTS_PER_PIECE; n++) {
        for (int st = 0; st < 2; st++) {
            const struct cm_task *ahead =
                cm_ep_refs_ahead(&b->tasks, &fw->tasks, trust, (size_t)(2 - st) * PF_STEP);
            if (ahead && st == 0)
                __builtin_prefetch(ahead);
            else if (ahead)
                __builtin_prefetch(ahead->agent_id);
        }
        const struct cm_task *t = cm_ep_refs_next(&b->tasks, &fw->tasks, trust);
        if (!t)
            break;
        cm_ep_counts_add(&b->counts, t, true);
    }
    if (fw && b->tasks.next < b->tasks.n)
        return;
    cm_epw_counts(out, &b->counts, true);
    cm_json_out_obj_close(out);
    cm_ep_counts_cleanup(&b->counts);
    free(b->fw_id);
    b->fw_id = NULL;
    b->fw_p = NULL;
}

static void seg_start(struct body *b, const char *only)
{
    struct seg *s = &b->segs[b->cur];
    if (s->kind == SEG_TEXT)
        return;
    cm_idlist_clear(&b->ids);
    if (s->kind == SEG_AGENTS || s->kind == SEG_SUMMARY_AGENTS) {
        cm_ep_refs_list(&b->agents, &b->m->agents, only);
    } else if (s->kind == SEG_FRAMEWORKS || s->kind == SEG_SUMMARY_FRAMEWORKS) {
        ids_of_map(&b->ids, &b->m->frameworks, only);
    } else if (s->kind == SEG_COMPLETED) {
        for (size_t i = 0; i < cm_ring_count(&b->m->completed_list); i++) {
            const struct cm_framework *fw = cm_ring_at(&b->m->completed_list, i);
            if (!only || strcmp(only, fw->id) == 0)
                cm_idlist_add(&b->ids, fw->id);
        }
    }
}

struct body_prog {
    struct body *b;
    char *only;
};

static bool produce(void *arg, struct cm_json_out *out)
{
    struct body_prog *p = arg;
    struct body *b = p->b;
    if (b->cur >= b->nsegs)
        return false;
    struct seg *s = &b->segs[b->cur];
    if (!b->seg_started) {
        seg_start(b, p->only);
        b->seg_started = true;
    }
    bool done = false;
    switch (s->kind) {
    case SEG_TEXT:
        cm_json_out_raws(out, s->text);
        done = true;
        break;
    case SEG_AGENTS:
    case SEG_SUMMARY_AGENTS:
        for (int n = 0; n < AGENTS_PER_PIECE; n++) {
            for (int st = 0; st < 3; st++) {
                const void *ahead =
                    cm_ep_refs_ahead(&b->agents, &b->m->agents, true, (size_t)(3 - st));
                if (ahead)
                    cm_epw_agent_prefetch(ahead, st);
            }
            const struct cm_agent *a = cm_ep_refs_next(&b->agents, &b->m->agents, true);
            if (!a) {
                done = true;
                break;
            }
            if (s->kind == SEG_AGENTS)
                cm_epw_agent(out, a, b->full);
            else
                cm_epw_summary_agent(out, a);
        }
        break;
    case SEG_SUMMARY_FRAMEWORKS:
        if (b->fw_id)
            summary_fw_more(b, out);
        else if (!summary_fw_begin(b, out))
            done = true;
        break;
    case SEG_FRAMEWORKS:
    case SEG_COMPLETED:
        if (b->fw_id)
            fw_more(b, out);
        else if (!fw_begin(b, out))
            done = true;
        break;
    }
    if (done) {
        b->cur++;
        b->seg_started = false;
    }
    return b->cur < b->nsegs;
}

static void prog_free(void *arg)
{
    struct body_prog *p = arg;
    body_free(p->b);
    free(p->only);
    free(p);
}

static bool wants_jsonp(struct cm_http_request *req)
{
    char *cb = cm_http_request_query_param(req, "jsonp");
    bool yes = cb != NULL;
    free(cb);
    return yes;
}

static struct body_prog *prog_new(struct cm_master *m, char **principal, const char *only)
{
    struct body_prog *p = cm_xcalloc(1, sizeof *p);
    p->b = cm_xcalloc(1, sizeof *p->b);
    p->b->m = m;
    if (principal) {
        p->b->principal = *principal;
        *principal = NULL;
    }
    p->only = only ? cm_xstrdup(only) : NULL;
    return p;
}

static void start(struct cm_master *m, struct cm_http_request *req, struct body_prog *p)
{
    cm_json_stream_start(m->base, req, "application/json", produce, p, prog_free);
}

bool cm_master_stream_state(struct cm_master *m, struct cm_http_request *req, char **principal)
{
    if (wants_jsonp(req))
        return false;
    struct body_prog *p = prog_new(m, principal, NULL);
    struct body *b = p->b;
    /* The head object's text without its closing brace; it always has keys. */
    json_t *hj = cm_ep_state_head(m, b->principal);
    char *head = json_dumps(hj, JSON_COMPACT);
    json_decref(hj);
    if (!head) {
        prog_free(p);
        cm_http_respond_text(req, 500, "Failed to encode the JSON response");
        return true;
    }
    head[strlen(head) - 1] = '\0';
    char *first = cm_xasprintf("%s,\"slaves\":[", head);
    free(head);
    seg_text(b, first);
    free(first);
    seg(b, SEG_AGENTS);
    seg_text(b, "],\"recovered_slaves\":[],\"frameworks\":[");
    seg(b, SEG_FRAMEWORKS);
    seg_text(b, "],\"completed_frameworks\":[");
    seg(b, SEG_COMPLETED);
    seg_text(b, "],\"orphan_tasks\":[],\"unregistered_frameworks\":[]}");
    start(m, req, p);
    return true;
}

bool cm_master_stream_frameworks(struct cm_master *m, struct cm_http_request *req, const char *only,
                                 char **principal)
{
    if (wants_jsonp(req))
        return false;
    struct body_prog *p = prog_new(m, principal, only);
    seg_text(p->b, "{\"frameworks\":[");
    seg(p->b, SEG_FRAMEWORKS);
    seg_text(p->b, "],\"completed_frameworks\":[");
    seg(p->b, SEG_COMPLETED);
    seg_text(p->b, "],\"unregistered_frameworks\":[]}");
    start(m, req, p);
    return true;
}

bool cm_master_stream_slaves(struct cm_master *m, struct cm_http_request *req, const char *only)
{
    if (wants_jsonp(req))
        return false;
    struct body_prog *p = prog_new(m, NULL, only);
    p->b->full = true;
    seg_text(p->b, "{\"slaves\":[");
    seg(p->b, SEG_AGENTS);
    seg_text(p->b, "],\"recovered_slaves\":[]}");
    start(m, req, p);
    return true;
}

bool cm_master_stream_summary(struct cm_master *m, struct cm_http_request *req, char **principal)
{
    if (wants_jsonp(req))
        return false;
    struct body_prog *p = prog_new(m, principal, NULL);
    json_t *hj = cm_ep_summary_head(m);
    char *head = json_dumps(hj, JSON_COMPACT);
    json_decref(hj);
    if (!head) {
        prog_free(p);
        cm_http_respond_text(req, 500, "Failed to encode the JSON response");
        return true;
    }
    head[strlen(head) - 1] = '\0'; /* it always has "hostname" */
    char *first = cm_xasprintf("%s,\"slaves\":[", head);
    free(head);
    seg_text(p->b, first);
    free(first);
    seg(p->b, SEG_SUMMARY_AGENTS);
    seg_text(p->b, "],\"frameworks\":[");
    seg(p->b, SEG_SUMMARY_FRAMEWORKS);
    seg_text(p->b, "]}");
    start(m, req, p);
    return true;
}
