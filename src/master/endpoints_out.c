/* endpoints_out.c: the read-only endpoints' objects written straight into the reply's buffer
 * (json_out.h), with no json_t tree: the same text, key for key and byte for byte, as the
 * jansson builders of endpoints.c dump (endpoints_json.h). HTTP edge: reads the core's state,
 * changes nothing.
 *
 * Where jansson would leave a member out (a string that is not UTF-8, a non-finite double) the
 * cm_json_out_k* helpers do too. The rare shapes whose jansson rules are awkward to follow
 * (a resource summary that must merge ranges or sets across roles, attributes with a repeated
 * name, custom executors) are built with jansson and their dump is copied in. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "endpoints_json.h"
#include "json_out.h"
#include "pbjson.h"
#include "util.h"

typedef struct cm_json_out W;

/* Members with literal keys, quoted at compile time (no escaping, no check of the key). */
#define KEY(w, lit) cm_json_out_keyq(w, "\"" lit "\":", sizeof(lit) + 2)
#define KSTR(w, lit, s) cm_json_out_kqstr(w, "\"" lit "\":", sizeof(lit) + 2, s)
#define KBOOL(w, lit, v) (KEY(w, lit), cm_json_out_bool(w, v))
#define KINT(w, lit, v) (KEY(w, lit), cm_json_out_int(w, v))
/* A non-finite double is left out, as jansson does. */
#define KREAL(w, lit, v)                                                                           \
    do {                                                                                           \
        double v_ = (v);                                                                           \
        if (isfinite(v_)) {                                                                        \
            KEY(w, lit);                                                                           \
            cm_json_out_real(w, v_);                                                               \
        }                                                                                          \
    } while (0)

static bool utf8(const char *s)
{
    return s && cm_json_utf8_valid(s, strlen(s));
}

/* A value built with jansson (consumed), copied in as a value; nothing if it failed. */
static void put_json(W *w, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!text)
        return;
    /* The comma a value gets after another one. */
    if (w->last && w->last != '{' && w->last != '[' && w->last != ':' && w->last != ',')
        cm_json_out_raw(w, ",", 1);
    cm_json_out_raws(w, text);
    free(text);
}

/* ---- resources ---- */

/* "[b-e, b-e]" into buf (cap bytes); the length, 0 if it does not fit. */
static size_t ranges_text(char *buf, size_t cap, const struct cm_resource *e)
{
    size_t n = 0;
    buf[n++] = '[';
    for (size_t k = 0; k < e->nranges; k++) {
        /* Two numbers of at most 20 digits, "-", ", " and "]". */
        if (n + 46 > cap)
            return 0;
        if (k) {
            buf[n++] = ',';
            buf[n++] = ' ';
        }
        n += cm_json_format_uint(buf + n, e->ranges[k].begin);
        buf[n++] = '-';
        n += cm_json_format_uint(buf + n, e->ranges[k].end);
    }
    buf[n++] = ']';
    return n;
}

static void resource_value(W *w, const struct cm_resource *e, int64_t scalar)
{
    switch (e->type) {
    case CM_VALUE_SCALAR: cm_json_out_real(w, cm_scalar_to_double(scalar)); return;
    case CM_VALUE_RANGES: {
        char buf[1024];
        size_t n = ranges_text(buf, sizeof buf, e);
        if (n) {
            cm_json_out_strn(w, buf, n);
            return;
        }
        struct cm_json_out t = CM_JSON_OUT_INIT;
        cm_json_out_raw(&t, "[", 1);
        for (size_t k = 0; k < e->nranges; k++) {
            int m = snprintf(buf, sizeof buf, "%s%llu-%llu", k ? ", " : "",
                             (unsigned long long)e->ranges[k].begin,
                             (unsigned long long)e->ranges[k].end);
            cm_json_out_raw(&t, buf, (size_t)m);
        }
        cm_json_out_raw(&t, "]", 1);
        cm_json_out_strn(w, t.data, t.len);
        cm_json_out_cleanup(&t);
        return;
    }
    case CM_VALUE_SET: {
        struct cm_json_out t = CM_JSON_OUT_INIT;
        cm_json_out_raw(&t, "{", 1);
        for (size_t k = 0; k < e->nitems; k++) {
            if (k)
                cm_json_out_raw(&t, ", ", 2);
            cm_json_out_raws(&t, e->items[k]);
        }
        cm_json_out_raw(&t, "}", 1);
        cm_json_out_strn(w, t.data, t.len);
        cm_json_out_cleanup(&t);
        return;
    }
    }
}

static bool resource_empty(const struct cm_resource *e)
{
    return e->type == CM_VALUE_SCALAR   ? e->scalar == 0
           : e->type == CM_VALUE_RANGES ? e->nranges == 0
                                        : e->nitems == 0;
}

/* The names every summary has, in its order, and the class of any other name. */
enum { N_CPUS, N_GPUS, N_MEM, N_DISK, N_OTHER };

static int name_class(const char *name)
{
    switch (name[0]) {
    case 'c': return strcmp(name, "cpus") == 0 ? N_CPUS : N_OTHER;
    case 'g': return strcmp(name, "gpus") == 0 ? N_GPUS : N_OTHER;
    case 'm': return strcmp(name, "mem") == 0 ? N_MEM : N_OTHER;
    case 'd': return strcmp(name, "disk") == 0 ? N_DISK : N_OTHER;
    }
    return N_OTHER;
}

/* Whether s is UTF-8 (ASCII, the common case, without a length first). */
static bool utf8z(const char *s)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p >= 0x80)
            return cm_json_utf8_valid(p, strlen(p));
    return true;
}

/* Some entries of a resources object (at most SEL_MAX), classified for a summary. */
#define SEL_MAX 32
struct sel {
    const struct cm_resource *e[SEL_MAX];
    unsigned char cls[SEL_MAX];
    bool first[SEL_MAX]; /* the first entry with its name */
    size_t n;
};

/* Classifies s's entries; false when the summary cannot be written here (see summary()):
 * a name that is not valid text or is under several types (or several entries that are not
 * scalars), a set item that is not valid text. */
static bool sel_classify(struct sel *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct cm_resource *e = s->e[i];
        if (!e->name || !utf8z(e->name))
            return false;
        for (size_t k = 0; e->type == CM_VALUE_SET && k < e->nitems; k++)
            if (!utf8z(e->items[k]))
                return false;
        int c = name_class(e->name);
        s->cls[i] = (unsigned char)c;
        s->first[i] = true;
        for (size_t j = 0; j < i && s->first[i]; j++) {
            if (s->cls[j] != c || (c == N_OTHER && strcmp(s->e[j]->name, e->name) != 0))
                continue;
            if (s->e[j]->type != e->type || e->type != CM_VALUE_SCALAR)
                return false;
            s->first[i] = false;
        }
    }
    return true;
}

/* Writes the summary of the classified entries: cpus, gpus, mem and disk always (0.0 when
 * absent), then every other name where it first comes; a scalar's value summed over all its
 * entries (every role). */
static void sel_write(W *w, const struct sel *s)
{
    static const char *const keys[] = {"\"cpus\":", "\"gpus\":", "\"mem\":", "\"disk\":"};
    cm_json_out_obj_open(w);
    for (int c = 0; c < N_OTHER; c++) {
        cm_json_out_keyq(w, keys[c], strlen(keys[c]));
        const struct cm_resource *first = NULL;
        int64_t sum = 0;
        for (size_t i = 0; i < s->n; i++)
            if (s->cls[i] == c) {
                if (!first)
                    first = s->e[i];
                sum += s->e[i]->scalar;
            }
        if (first)
            resource_value(w, first, sum);
        else
            cm_json_out_raw(w, "0.0", 3);
    }
    for (size_t i = 0; i < s->n; i++) {
        if (s->cls[i] != N_OTHER || !s->first[i])
            continue;
        int64_t sum = s->e[i]->scalar;
        for (size_t j = i + 1; j < s->n; j++)
            if (s->cls[j] == N_OTHER && strcmp(s->e[j]->name, s->e[i]->name) == 0)
                sum += s->e[j]->scalar;
        cm_json_out_key(w, s->e[i]->name);
        resource_value(w, s->e[i], sum);
    }
    cm_json_out_obj_close(w);
}

/* cm_resources_summary_json, written. The rare shapes (an empty entry, too many entries, or
 * what sel_classify refuses: ranges or sets to merge across roles, names that are not text)
 * go through jansson. */
static void summary(W *w, const struct cm_resources *r)
{
    struct sel s;
    s.n = 0;
    bool simple = r->n <= SEL_MAX;
    for (size_t i = 0; simple && i < r->n; i++) {
        simple = !resource_empty(&r->v[i]);
        s.e[s.n++] = &r->v[i];
    }
    if (simple && sel_classify(&s)) {
        sel_write(w, &s);
        return;
    }
    put_json(w, cm_resources_summary_json(r));
}

/* The summary of r's unreserved part: what summary() of cm_resources_unreserved(r) writes,
 * without the copy. That copy leaves out empty entries and merges equal ones (same name, type
 * and the role "*"), which only matters here for scalars, whose summary sums them anyway;
 * ranges or sets under one name go to the copy's path. */
static void summary_unreserved(W *w, const struct cm_resources *r)
{
    struct sel s;
    s.n = 0;
    bool simple = true;
    for (size_t i = 0; simple && i < r->n; i++) {
        const struct cm_resource *e = &r->v[i];
        if (strcmp(e->role, "*") != 0 || resource_empty(e))
            continue;
        simple = s.n < SEL_MAX;
        if (simple)
            s.e[s.n++] = e;
    }
    if (simple && sel_classify(&s)) {
        sel_write(w, &s);
        return;
    }
    struct cm_resources unres;
    cm_resources_init(&unres);
    cm_resources_unreserved(r, &unres);
    summary(w, &unres);
    cm_resources_cleanup(&unres);
}

/* An array of r as Resource messages (the *_full members). */
static void resources_full(W *w, const struct cm_resources *r)
{
    Mesos__V1__Resource **v = NULL;
    size_t n = 0;
    cm_resources_to_proto(r, NULL, &v, &n);
    cm_json_out_arr_open(w);
    for (size_t k = 0; k < n; k++)
        cm_pbjson_write(w, &v[k]->base);
    cm_json_out_arr_close(w);
    cm_resources_proto_free(v, n);
}

/* ---- tasks and offers ---- */

/* A Labels message's "labels" array as a member (the callers check n_labels). */
static void labels(W *w, const Mesos__V1__Labels *l)
{
    if (!l->labels)
        return;
    KEY(w, "labels");
    cm_json_out_arr_open(w);
    for (size_t i = 0; i < l->n_labels; i++)
        cm_pbjson_write(w, l->labels[i] ? &l->labels[i]->base : NULL);
    cm_json_out_arr_close(w);
}

#define KMSG(w, lit, msg) (KEY(w, lit), cm_pbjson_write(w, msg))

static void status(W *w, const Mesos__V1__TaskStatus *st)
{
    cm_json_out_obj_open(w);
    KSTR(w, "state", cm_task_state_name(st->state));
    KREAL(w, "timestamp", st->has_timestamp ? st->timestamp : 0);
    if (st->has_healthy)
        KBOOL(w, "healthy", st->healthy);
    if (st->labels && st->labels->n_labels)
        labels(w, st->labels);
    if (st->container_status)
        KMSG(w, "container_status", &st->container_status->base);
    cm_json_out_obj_close(w);
}

void cm_epw_task(W *w, const struct cm_task *t)
{
    const Mesos__V1__TaskInfo *info = t->info;
    cm_json_out_obj_open(w);
    KSTR(w, "id", t->id);
    KSTR(w, "name", info && info->name ? info->name : "");
    KSTR(w, "framework_id", t->fw->id);
    KSTR(w, "executor_id",
         info && info->executor && info->executor->executor_id ? info->executor->executor_id->value
                                                               : "");
    KSTR(w, "slave_id", t->agent_id);
    KSTR(w, "state", cm_task_state_name(t->state));
    KEY(w, "resources");
    summary(w, &t->resources);
    KSTR(w, "role", t->role);
    KEY(w, "statuses");
    cm_json_out_arr_open(w);
    for (size_t i = 0; i < t->nstatuses; i++)
        status(w, t->statuses[i]);
    cm_json_out_arr_close(w);
    if (t->fw->info && t->fw->info->user)
        KSTR(w, "user", t->fw->info->user);
    if (info && info->labels && info->labels->n_labels)
        labels(w, info->labels);
    if (info && info->discovery)
        KMSG(w, "discovery", &info->discovery->base);
    if (info && info->container)
        KMSG(w, "container", &info->container->base);
    if (info && info->health_check)
        KMSG(w, "health_check", &info->health_check->base);
    cm_json_out_obj_close(w);
}

/* Touches the cache lines cm_epw_task reads, a level of pointers per stage, so that the misses
 * of several tasks overlap instead of coming one after the other. */
#define PF(p) __builtin_prefetch(p)
void cm_epw_task_prefetch(const struct cm_task *t, int stage)
{
    switch (stage) {
    case 0:
        PF(t);
        PF(&t->resources); /* the second line */
        return;
    case 1:
        PF(t->id);
        PF(t->info);
        PF(t->agent_id);
        PF(t->role);
        PF(t->statuses);
        PF(t->resources.v);
        return;
    case 2:
        if (t->info) {
            PF(t->info->name);
            PF(t->info->executor);
            PF(t->info->labels);
        }
        for (size_t i = 0; i < t->nstatuses && i < 4; i++)
            PF(t->statuses[i]);
        for (size_t i = 0; i < t->resources.n && i < 4; i++) {
            PF(t->resources.v[i].name);
            PF(t->resources.v[i].role);
        }
        return;
    }
}

static void resources_prefetch(const struct cm_resources *r)
{
    for (size_t i = 0; i < r->n && i < 4; i++)
        PF(r->v[i].name);
}

void cm_epw_offer_prefetch(const struct cm_offer *o, int stage)
{
    switch (stage) {
    case 0: PF(o); return;
    case 1:
        PF(o->id);
        PF(o->role);
        PF(o->agent);
        PF(o->resources.v);
        return;
    case 2:
        PF(o->agent->id);
        resources_prefetch(&o->resources);
        return;
    }
}

void cm_epw_agent_prefetch(const struct cm_agent *a, int stage)
{
    switch (stage) {
    case 0:
        PF(a);
        PF(&a->total);
        PF(&a->offered);
        PF(&a->registered_time);
        return;
    case 1:
        PF(a->id);
        PF(a->info);
        PF(a->pid);
        PF(a->hostname);
        PF(a->version);
        PF(a->total.v);
        PF(a->used.v);
        PF(a->offered.v);
        return;
    case 2:
        if (a->info)
            PF(a->info->attributes);
        resources_prefetch(&a->total);
        resources_prefetch(&a->used);
        resources_prefetch(&a->offered);
        return;
    }
}

void cm_epw_offer(W *w, const struct cm_offer *o)
{
    cm_json_out_obj_open(w);
    KSTR(w, "id", o->id);
    KSTR(w, "framework_id", o->fw->id);
    if (utf8(o->role)) { /* json_pack fails on other text */
        KEY(w, "allocation_info");
        cm_json_out_obj_open(w);
        KSTR(w, "role", o->role);
        cm_json_out_obj_close(w);
    }
    KSTR(w, "slave_id", o->agent->id);
    KEY(w, "resources");
    summary(w, &o->resources);
    cm_json_out_obj_close(w);
}

/* ---- agents ---- */

static void attributes(W *w, const Mesos__V1__AgentInfo *info)
{
    /* A repeated name keeps its first place with the last value jansson accepted: rare, so
     * left to jansson. */
    for (size_t i = 0; info && i < info->n_attributes; i++)
        for (size_t j = 0; j < i; j++)
            if (info->attributes[i]->name && info->attributes[j]->name &&
                strcmp(info->attributes[i]->name, info->attributes[j]->name) == 0) {
                put_json(w, cm_ep_attributes_json(info));
                return;
            }
    char buf[4096];
    cm_json_out_obj_open(w);
    for (size_t i = 0; info && i < info->n_attributes; i++) {
        const Mesos__V1__Attribute *a = info->attributes[i];
        switch (a->type) {
        case MESOS__V1__VALUE__TYPE__SCALAR:
            cm_json_out_kreal(w, a->name, a->scalar ? a->scalar->value : 0);
            break;
        case MESOS__V1__VALUE__TYPE__RANGES:
            cm_ep_ranges_text(buf, sizeof buf, a->ranges);
            cm_json_out_kstr(w, a->name, buf);
            break;
        case MESOS__V1__VALUE__TYPE__SET:
            cm_ep_set_text(buf, sizeof buf, a->set);
            cm_json_out_kstr(w, a->name, buf);
            break;
        default:
            cm_json_out_kstr(w, a->name, a->text && a->text->value ? a->text->value : "");
            break;
        }
    }
    cm_json_out_obj_close(w);
}

/* reserved_json of endpoints.c: role -> the summary (or the full array) of what is reserved
 * to it, roles in the order they first appear. */
static void reserved(W *w, const struct cm_resources *r, bool full)
{
    cm_json_out_obj_open(w);
    for (size_t i = 0; i < r->n; i++) {
        const char *role = r->v[i].role;
        if (strcmp(role, "*") == 0 || !utf8(role))
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(r->v[j].role, role) == 0;
        if (seen)
            continue;
        struct cm_resources part;
        cm_resources_init(&part);
        cm_resources_reserved_to(r, role, &part);
        cm_json_out_key(w, role);
        if (full)
            resources_full(w, &part);
        else
            summary(w, &part);
        cm_resources_cleanup(&part);
    }
    cm_json_out_obj_close(w);
}

/* The agent's members, without the braces (the summary adds its own after them). */
static void agent_members(W *w, const struct cm_agent *a, bool full)
{
    KSTR(w, "id", a->id);
    KSTR(w, "hostname", a->hostname);
    KINT(w, "port", a->port);
    KEY(w, "attributes");
    attributes(w, a->info);
    if (a->info && a->info->domain)
        KMSG(w, "domain", &a->info->domain->base);
    KSTR(w, "pid", a->pid);
    KREAL(w, "registered_time", a->registered_time);
    if (a->reregistered_time > 0)
        KREAL(w, "reregistered_time", a->reregistered_time);
    KEY(w, "resources");
    summary(w, &a->total);
    KEY(w, "used_resources");
    summary(w, &a->used);
    KEY(w, "offered_resources");
    summary(w, &a->offered);
    KEY(w, "reserved_resources");
    reserved(w, &a->total, false);
    KEY(w, "unreserved_resources");
    summary_unreserved(w, &a->total);
    if (full) {
        KEY(w, "reserved_resources_full");
        reserved(w, &a->total, true);
        struct cm_resources unres;
        cm_resources_init(&unres);
        cm_resources_unreserved(&a->total, &unres);
        KEY(w, "unreserved_resources_full");
        resources_full(w, &unres);
        cm_resources_cleanup(&unres);
        KEY(w, "used_resources_full");
        resources_full(w, &a->used);
        KEY(w, "offered_resources_full");
        resources_full(w, &a->offered);
    }
    KBOOL(w, "active", a->active);
    KBOOL(w, "deactivated", !a->active);
    KSTR(w, "version", a->version ? a->version : "");
    KEY(w, "capabilities");
    cm_json_out_arr_open(w);
    for (size_t i = 0; i < a->ncapabilities; i++)
        cm_json_out_str(w, cm_enum_name_or(&mesos__v1__agent_info__capability__type__descriptor,
                                           a->capabilities[i], "UNKNOWN"));
    cm_json_out_arr_close(w);
}

void cm_epw_agent(W *w, const struct cm_agent *a, bool full)
{
    cm_json_out_obj_open(w);
    agent_members(w, a, full);
    cm_json_out_obj_close(w);
}

/* The distinct ids met, in the order first met: an open-addressing set of copies (in blocks
 * that never move, so that tasks may go away meanwhile). */
struct cm_ep_idblock {
    struct cm_ep_idblock *next;
    size_t used, cap;
    char text[];
};

static const char *id_copy(struct cm_ep_counts *c, const char *s, size_t len)
{
    struct cm_ep_idblock *b = c->blocks;
    if (!b || b->cap - b->used < len + 1) {
        size_t cap = len + 1 > 8192 ? len + 1 : 8192;
        b = cm_xmalloc(sizeof *b + cap);
        b->next = c->blocks;
        b->used = 0;
        b->cap = cap;
        c->blocks = b;
    }
    char *d = b->text + b->used;
    memcpy(d, s, len + 1);
    b->used += len + 1;
    return d;
}

void cm_ep_counts_init(struct cm_ep_counts *c)
{
    memset(c, 0, sizeof *c);
}

void cm_ep_counts_cleanup(struct cm_ep_counts *c)
{
    free(c->slot);
    free(c->hash);
    free(c->order);
    while (c->blocks) {
        struct cm_ep_idblock *next = c->blocks->next;
        free(c->blocks);
        c->blocks = next;
    }
    memset(c, 0, sizeof *c);
}

static uint64_t id_hash(const char *s, size_t *len)
{
    uint64_t h = 1469598103934665603ULL;
    const char *p = s;
    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    *len = (size_t)(p - s);
    return h;
}

static void id_place(struct cm_ep_counts *c, const char *s, uint64_t h)
{
    size_t i = h & (c->cap - 1);
    while (c->slot[i])
        i = (i + 1) & (c->cap - 1);
    c->slot[i] = s;
    c->hash[i] = h;
}

/* Adds a copy of s unless an equal id is in. */
static void id_add(struct cm_ep_counts *c, const char *s)
{
    size_t len;
    uint64_t h = id_hash(s, &len);
    for (size_t i = c->cap ? h & (c->cap - 1) : 0; c->cap && c->slot[i]; i = (i + 1) & (c->cap - 1))
        if (c->hash[i] == h && strcmp(c->slot[i], s) == 0)
            return;
    if ((c->n + 1) * 2 > c->cap) {
        /* Twice the slots, refilled from the order list (which holds every id). */
        size_t cap = c->cap ? c->cap * 2 : 32;
        free(c->slot);
        free(c->hash);
        c->slot = cm_xcalloc(cap, sizeof *c->slot);
        c->hash = cm_xmalloc(cap * sizeof *c->hash);
        c->cap = cap;
        for (size_t k = 0; k < c->n; k++) {
            size_t l;
            id_place(c, c->order[k], id_hash(c->order[k], &l));
        }
    }
    const char *copy = id_copy(c, s, len);
    id_place(c, copy, h);
    if (c->n == c->order_cap) {
        c->order_cap = c->order_cap ? c->order_cap * 2 : 16;
        c->order = cm_xrealloc(c->order, c->order_cap * sizeof *c->order);
    }
    c->order[c->n++] = copy;
}

void cm_ep_counts_add(struct cm_ep_counts *c, const struct cm_task *t, bool fw_side)
{
    if (t->state >= 0 && t->state < 16)
        c->counts[t->state]++;
    const char *other = fw_side ? t->agent_id : t->fw->id;
    if (other && utf8z(other))
        id_add(c, other);
}

void cm_epw_counts(W *w, const struct cm_ep_counts *c, bool fw_side)
{
    static const int states[] = {
        MESOS__V1__TASK_STATE__TASK_STAGING,  MESOS__V1__TASK_STATE__TASK_STARTING,
        MESOS__V1__TASK_STATE__TASK_RUNNING,  MESOS__V1__TASK_STATE__TASK_KILLING,
        MESOS__V1__TASK_STATE__TASK_FINISHED, MESOS__V1__TASK_STATE__TASK_KILLED,
        MESOS__V1__TASK_STATE__TASK_FAILED,   MESOS__V1__TASK_STATE__TASK_LOST,
        MESOS__V1__TASK_STATE__TASK_ERROR,    MESOS__V1__TASK_STATE__TASK_UNREACHABLE};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        cm_json_out_kint(w, cm_task_state_name(states[i]), c->counts[states[i]]);
    if (fw_side)
        KEY(w, "slave_ids");
    else
        KEY(w, "framework_ids");
    cm_json_out_arr_open(w);
    for (size_t i = 0; i < c->n; i++)
        cm_json_out_str(w, c->order[i]);
    cm_json_out_arr_close(w);
}

/* task_counts of endpoints.c: the count of tasks in each state, then the ids of the other side
 * (frameworks of an agent's tasks, agents of a framework's), each once, as first met. */
static void task_counts(W *w, const struct cm_strmap *tasks, bool fw_side)
{
    struct cm_ep_counts c;
    cm_ep_counts_init(&c);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, tasks); cm_strmap_iter_next(&it);)
        cm_ep_counts_add(&c, it.cur->value, fw_side);
    cm_epw_counts(w, &c, fw_side);
    cm_ep_counts_cleanup(&c);
}

void cm_epw_summary_agent(W *w, const struct cm_agent *a)
{
    cm_json_out_obj_open(w);
    agent_members(w, a, false);
    task_counts(w, &a->tasks, false);
    cm_json_out_obj_close(w);
}

/* ---- frameworks ---- */

static void fw_common(W *w, const struct cm_framework *fw)
{
    const Mesos__V1__FrameworkInfo *info = fw->info;
    KSTR(w, "id", fw->id);
    KSTR(w, "name", info && info->name ? info->name : "");
    KEY(w, "used_resources");
    summary(w, &fw->used);
    KEY(w, "offered_resources");
    summary(w, &fw->offered);
    KEY(w, "capabilities");
    cm_json_out_arr_open(w);
    for (size_t i = 0; info && i < info->n_capabilities; i++)
        if (info->capabilities[i]->has_type)
            cm_json_out_str(
                w, cm_enum_name_or(&mesos__v1__framework_info__capability__type__descriptor,
                                   info->capabilities[i]->type, "UNKNOWN"));
    cm_json_out_arr_close(w);
    KSTR(w, "hostname", info && info->hostname ? info->hostname : "");
    KSTR(w, "webui_url", info && info->webui_url ? info->webui_url : "");
    KBOOL(w, "active", fw->active);
    KBOOL(w, "connected", fw->connected);
    KBOOL(w, "recovered", fw->recovered);
}

void cm_epw_summary_framework_head(W *w, const struct cm_framework *fw)
{
    cm_json_out_obj_open(w);
    fw_common(w, fw);
}

void cm_epw_framework_head(W *w, const struct cm_framework *fw)
{
    const Mesos__V1__FrameworkInfo *info = fw->info;
    cm_json_out_obj_open(w);
    fw_common(w, fw);
    KSTR(w, "user", info && info->user ? info->user : "");
    KREAL(w, "failover_timeout", info && info->has_failover_timeout ? info->failover_timeout : 0);
    KBOOL(w, "checkpoint", info && info->has_checkpoint && info->checkpoint);
    KREAL(w, "registered_time", fw->registered_time);
    KREAL(w, "unregistered_time", fw->unregistered_time);
    if (fw->reregistered_time > 0)
        KREAL(w, "reregistered_time", fw->reregistered_time);
    if (info && info->principal)
        KSTR(w, "principal", info->principal);
    struct cm_resources total;
    cm_resources_init(&total);
    cm_resources_copy(&total, &fw->used);
    cm_resources_add(&total, &fw->offered);
    KEY(w, "resources");
    summary(w, &total);
    cm_resources_cleanup(&total);
    if (fw->multi_role) {
        KEY(w, "roles");
        cm_json_out_arr_open(w);
        for (size_t i = 0; i < fw->nroles; i++)
            if (utf8(fw->roles[i]))
                cm_json_out_str(w, fw->roles[i]);
        cm_json_out_arr_close(w);
    } else {
        KSTR(w, "role", fw->nroles ? fw->roles[0] : "*");
    }
    KEY(w, "tasks");
    cm_json_out_arr_open(w);
}

void cm_epw_framework_mid(W *w, const struct cm_master *m, const struct cm_framework *fw,
                          const char *principal)
{
    cm_json_out_arr_close(w);
    KEY(w, "unreachable_tasks");
    cm_json_out_arr_open(w);
    for (const struct cm_task *t = fw->uhead; t; t = t->unext)
        if (cm_ep_view_task(m, principal, t))
            cm_epw_task(w, t);
    cm_json_out_arr_close(w);
    KEY(w, "completed_tasks");
    cm_json_out_arr_open(w);
    for (size_t i = 0; i < cm_ring_count(&fw->completed_tasks); i++)
        if (cm_ep_view_task(m, principal, cm_ring_at(&fw->completed_tasks, i)))
            cm_epw_task(w, cm_ring_at(&fw->completed_tasks, i));
    cm_json_out_arr_close(w);
    KEY(w, "offers");
    cm_json_out_arr_open(w);
}

void cm_epw_framework_tail(W *w, const struct cm_framework *fw)
{
    const Mesos__V1__FrameworkInfo *info = fw->info;
    cm_json_out_arr_close(w);
    KEY(w, "executors");
    cm_json_out_arr_open(w);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &fw->executors); cm_strmap_iter_next(&it);)
        put_json(w, cm_master_executor_json(it.cur->value));
    cm_json_out_arr_close(w);
    if (info && info->labels && info->labels->n_labels)
        labels(w, info->labels);
    KEY(w, "offer_constraints");
    cm_json_out_raw(w, "{}", 2);
    cm_json_out_obj_close(w);
}
