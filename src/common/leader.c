/*
 * leader.c: see leader.h.
 *
 * Both ZooKeeper implementations share one "group" reader: list the children of the path with
 * a watch, order the election nodes by sequence number, then read their data in that order
 * until one parses; that node leads. Parsed (and unparseable) nodes are cached by name, since
 * an election node's data never changes, and the cache is pruned to the current children, so
 * a change of membership costs one listing and usually no read. Replies that a newer listing
 * has made stale are recognised and dropped: "listing"/"relist" for the children, "awaiting"
 * for the one read a scan waits for.
 */
#include "leader.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "errors.h"
#include "log.h"
#include "pbjson.h"
#include "strmap.h"
#include "util.h"
#include "zk.h"

#define MOD "leader"
#define JSON_LABEL "json.info_"
#define LEGACY_LABEL "info_"

/* ---- helpers ------------------------------------------------------------------------------ */

Mesos__V1__MasterInfo *cm_leader_master_info_copy(const Mesos__V1__MasterInfo *mi)
{
    if (!mi)
        return NULL;
    size_t len = mesos__v1__master_info__get_packed_size(mi);
    uint8_t *buf = cm_xmalloc(len);
    mesos__v1__master_info__pack(mi, buf);
    Mesos__V1__MasterInfo *copy = mesos__v1__master_info__unpack(NULL, len, buf);
    free(buf);
    if (!copy)
        abort(); /* only on out-of-memory: we packed it ourselves */
    return copy;
}

static void master_info_free(Mesos__V1__MasterInfo *mi)
{
    if (mi)
        protobuf_c_message_free_unpacked(&mi->base, NULL);
}

Mesos__V1__MasterInfo *cm_leader_master_info_new(const char *id, const char *ip, uint16_t port,
                                                 const char *hostname, const char *version)
{
    Mesos__V1__MasterInfo mi = MESOS__V1__MASTER_INFO__INIT;
    Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;
    Mesos__V1__MasterInfo__Capability caps[3];
    Mesos__V1__MasterInfo__Capability *capv[3];
    static const Mesos__V1__MasterInfo__Capability__Type types[3] = {
        MESOS__V1__MASTER_INFO__CAPABILITY__TYPE__AGENT_UPDATE,
        MESOS__V1__MASTER_INFO__CAPABILITY__TYPE__AGENT_DRAINING,
        MESOS__V1__MASTER_INFO__CAPABILITY__TYPE__QUOTA_V2,
    };
    for (size_t i = 0; i < 3; i++) {
        mesos__v1__master_info__capability__init(&caps[i]);
        caps[i].has_type = 1;
        caps[i].type = types[i];
        capv[i] = &caps[i];
    }
    struct in_addr in = {0};
    if (ip && inet_pton(AF_INET, ip, &in) == 1)
        mi.ip = in.s_addr; /* network byte order kept in a host integer, as Mesos does */
    char pid[512];
    snprintf(pid, sizeof pid, "master@%s:%u", ip ? ip : "", (unsigned)port);
    mi.id = (char *)(id ? id : "");
    mi.port = port;
    mi.pid = pid;
    mi.hostname = (char *)(hostname ? hostname : ip ? ip : "");
    mi.version = (char *)(version ? version : CMESOS_VERSION);
    addr.hostname = mi.hostname;
    addr.ip = (char *)(ip ? ip : "");
    addr.port = port;
    mi.address = &addr;
    mi.n_capabilities = 3;
    mi.capabilities = capv;
    return cm_leader_master_info_copy(&mi);
}

bool cm_leader_znode_sequence(const char *name, uint64_t *seq, bool *legacy)
{
    const char *digits;
    bool leg;
    if (strncmp(name, JSON_LABEL, strlen(JSON_LABEL)) == 0) {
        digits = name + strlen(JSON_LABEL);
        leg = false;
    } else if (strncmp(name, LEGACY_LABEL, strlen(LEGACY_LABEL)) == 0) {
        digits = name + strlen(LEGACY_LABEL);
        leg = true;
    } else {
        return false;
    }
    size_t n = strlen(digits);
    if (n == 0 || n > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (digits[i] < '0' || digits[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(digits[i] - '0');
    }
    if (seq)
        *seq = v;
    if (legacy)
        *legacy = leg;
    return true;
}

int cm_leader_znode_parse(bool legacy, const char *data, size_t len, Mesos__V1__MasterInfo **out,
                          char *why, size_t whylen)
{
    *out = NULL;
    if (!data || len == 0)
        return cm_fail(CM_EPARSE, why, whylen, "empty data");
    /* A znode is written by whoever holds the ZooKeeper ACL: decode it like any other input,
     * with the required-field and enum checks. */
    ProtobufCMessage *msg = NULL;
    int rc = cm_pb_decode(&mesos__v1__master_info__descriptor,
                          legacy ? CM_MEDIA_PROTOBUF : CM_MEDIA_JSON, data, len, &msg, why, whylen);
    if (rc)
        return rc;
    *out = (Mesos__V1__MasterInfo *)msg;
    return 0;
}

/* ---- the group reader --------------------------------------------------------------------- */

struct node_info {
    bool valid;
    Mesos__V1__MasterInfo *mi;
};

struct cand {
    uint64_t seq;
    bool legacy;
    char *name;
};

struct group {
    struct event_base *base;
    struct cm_zk *zk;
    char *path;
    void (*hook)(void *owner); /* after each completed scan; may free the owner */
    void *owner;
    struct cm_strmap cache; /* child name -> struct node_info */
    int listing, relist;
    struct cand *cands;
    size_t n_cands, pos;
    char *awaiting;   /* the child whose data the scan waits for */
    const char *own;  /* contender: its node's name (owned by the contender) */
    bool own_present; /* ... seen in the last listing */
    char *leader;     /* the leading child's name, or NULL */
    Mesos__V1__MasterInfo *leader_mi;
    struct event *retry;
};

static void g_list(struct group *g);

static void g_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    g_list(arg);
}

static void g_retry_later(struct group *g)
{
    struct timeval tv = {1, 0};
    evtimer_add(g->retry, &tv);
}

static void g_init(struct group *g, struct event_base *base, const char *path, void (*hook)(void *),
                   void *owner)
{
    memset(g, 0, sizeof *g);
    g->base = base;
    g->path = cm_xstrdup(path);
    g->hook = hook;
    g->owner = owner;
    cm_strmap_init(&g->cache);
    g->retry = evtimer_new(base, g_on_retry, g);
    if (!g->retry)
        abort();
}

static void g_free_cands(struct group *g)
{
    for (size_t i = 0; i < g->n_cands; i++)
        free(g->cands[i].name);
    free(g->cands);
    g->cands = NULL;
    g->n_cands = g->pos = 0;
}

/* Takes void * so that it can free the values of the node cache. */
static void node_info_free(void *p)
{
    struct node_info *ni = p;
    if (!ni)
        return;
    master_info_free(ni->mi);
    free(ni);
}

/* Forgets everything in flight (the session that carried it is gone). */
static void g_reset(struct group *g)
{
    g->listing = g->relist = 0;
    free(g->awaiting);
    g->awaiting = NULL;
    g_free_cands(g);
    g->own_present = false;
    free(g->leader);
    g->leader = NULL;
    master_info_free(g->leader_mi);
    g->leader_mi = NULL;
    if (g->retry)
        evtimer_del(g->retry);
}

static void g_cleanup(struct group *g)
{
    g_reset(g);
    cm_strmap_cleanup_values(&g->cache, node_info_free);
    if (g->retry)
        event_free(g->retry);
    g->retry = NULL;
    free(g->path);
    g->path = NULL;
}

static void g_watch(struct cm_zk *zk, int type, const char *path, void *arg)
{
    (void)zk;
    (void)type;
    (void)path;
    g_list(arg);
}

static void g_listed(struct cm_zk *zk, const struct cm_zk_result *res, void *arg);

static void g_list(struct group *g)
{
    if (g->listing) {
        g->relist = 1;
        return;
    }
    g->listing = 1;
    g->relist = 0;
    evtimer_del(g->retry);
    cm_zk_children(g->zk, g->path, g_watch, g, g_listed, g);
}

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return (int)x->legacy - (int)y->legacy;
}

static void g_set_cands(struct group *g, char *const *names, size_t n)
{
    g_free_cands(g);
    g->own_present = false;
    struct cm_strmap present;
    cm_strmap_init(&present);
    g->cands = cm_xcalloc(n ? n : 1, sizeof *g->cands);
    for (size_t i = 0; i < n; i++) {
        uint64_t seq;
        bool legacy;
        if (!cm_leader_znode_sequence(names[i], &seq, &legacy))
            continue; /* log_replicas and anything else that is not an election node */
        struct cand *c = &g->cands[g->n_cands++];
        c->seq = seq;
        c->legacy = legacy;
        c->name = cm_xstrdup(names[i]);
        cm_strmap_put(&present, c->name, c);
        if (g->own && strcmp(g->own, c->name) == 0)
            g->own_present = true;
    }
    qsort(g->cands, g->n_cands, sizeof *g->cands, cand_cmp);
    /* Keep the cache to the current members so it stays bounded by the group's size. */
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &g->cache); cm_strmap_iter_next(&it);) {
        if (!cm_strmap_get(&present, it.cur->key)) {
            node_info_free(it.cur->value);
            cm_strmap_iter_remove(&it);
        }
    }
    cm_strmap_cleanup(&present);
}

/* Records the scan's outcome and tells the owner; the last thing any handler does. */
static void g_set_leader(struct group *g, const char *name, const Mesos__V1__MasterInfo *mi)
{
    bool same = (!name && !g->leader) || (name && g->leader && strcmp(name, g->leader) == 0);
    if (!same) {
        free(g->leader);
        master_info_free(g->leader_mi);
        g->leader = name ? cm_xstrdup(name) : NULL;
        g->leader_mi = cm_leader_master_info_copy(mi);
    }
    g->hook(g->owner);
}

static void g_got(struct cm_zk *zk, const struct cm_zk_result *res, void *arg);

static void g_scan(struct group *g)
{
    while (g->pos < g->n_cands) {
        struct cand *c = &g->cands[g->pos];
        struct node_info *ni = cm_strmap_get(&g->cache, c->name);
        if (!ni) {
            free(g->awaiting);
            g->awaiting = cm_xstrdup(c->name);
            char *path = cm_xasprintf("%s/%s", g->path, c->name);
            cm_zk_get(g->zk, path, NULL, NULL, g_got, g);
            free(path);
            return;
        }
        if (ni->valid) {
            g_set_leader(g, c->name, ni->mi);
            return;
        }
        g->pos++;
    }
    g_set_leader(g, NULL, NULL);
}

static void g_exists_done(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    (void)zk;
    /* The path appeared between our listing and this check: list again. */
    if (res->rc == ZOK)
        g_list(arg);
}

static void g_listed(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    struct group *g = arg;
    g->listing = 0;
    if (g->relist) {
        g_list(g);
        return;
    }
    if (res->rc == ZNONODE) {
        /* No group yet: watch for the path to be created. */
        cm_zk_exists(zk, g->path, g_watch, g, g_exists_done, g);
        g_set_cands(g, NULL, 0);
    } else if (res->rc != ZOK) {
        CM_WARN(MOD, "Failed to list the children of %s: %s; retrying", g->path,
                cm_zk_strerror(res->rc));
        g_retry_later(g);
        return;
    } else {
        g_set_cands(g, res->children, res->n_children);
    }
    free(g->awaiting);
    g->awaiting = NULL;
    g->pos = 0;
    g_scan(g);
}

static void g_got(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    (void)zk;
    struct group *g = arg;
    const char *slash = strrchr(res->path, '/');
    const char *name = slash ? slash + 1 : res->path;
    if (res->rc == ZOK && !cm_strmap_get(&g->cache, name)) {
        bool legacy = false;
        cm_leader_znode_sequence(name, NULL, &legacy);
        struct node_info *ni = cm_xcalloc(1, sizeof *ni);
        char why[256] = "";
        if (cm_leader_znode_parse(legacy, res->data, res->len, &ni->mi, why, sizeof why) == 0)
            ni->valid = true;
        else
            CM_WARN(MOD, "Ignoring znode %s: its data is not a valid %s MasterInfo (%s)", res->path,
                    legacy ? "protobuf" : "JSON", why);
        cm_strmap_put(&g->cache, name, ni);
    }
    if (!g->awaiting || strcmp(g->awaiting, name) != 0)
        return; /* a reply that a newer listing made stale */
    free(g->awaiting);
    g->awaiting = NULL;
    if (g->listing)
        return; /* the listing under way scans again */
    if (res->rc == ZNONODE)
        return; /* it went away: the children watch lists again */
    if (res->rc != ZOK) {
        CM_WARN(MOD, "Failed to read %s: %s; retrying", res->path, cm_zk_strerror(res->rc));
        g_retry_later(g);
        return;
    }
    g_scan(g);
}

/* ---- contenders --------------------------------------------------------------------------- */

struct contender_ops {
    const char *name;
    int (*start)(struct cm_leader_contender *c);
    void (*destroy)(struct cm_leader_contender *c);
};

struct cm_leader_contender {
    const struct contender_ops *ops;
    struct event_base *base;
    cm_leader_contender_cb cb;
    void *arg;
    bool started, elected;
    Mesos__V1__MasterInfo *self;
    struct event *timer; /* standalone: the first report; ZooKeeper: retry the create */
    /* ZooKeeper */
    struct cm_zk *zk;
    struct group g;
    char *data; /* our MasterInfo as JSON */
    char *own;  /* our node's name */
    char *own_path;
    bool creating, create_unknown;
};

static struct cm_leader_contender *contender_alloc(struct event_base *base,
                                                   const Mesos__V1__MasterInfo *self,
                                                   cm_leader_contender_cb cb, void *arg,
                                                   event_callback_fn timer_fn)
{
    struct cm_leader_contender *c = cm_xcalloc(1, sizeof *c);
    c->base = base;
    c->cb = cb;
    c->arg = arg;
    c->self = cm_leader_master_info_copy(self);
    c->timer = evtimer_new(base, timer_fn, c);
    if (!c->timer)
        abort();
    return c;
}

static void contender_free_common(struct cm_leader_contender *c)
{
    if (c->timer)
        event_free(c->timer);
    master_info_free(c->self);
    free(c);
}

/* standalone */

static void sa_elect(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_leader_contender *c = arg;
    c->elected = true;
    CM_INFO(MOD, "Elected as the leading master (standalone)");
    c->cb(c->arg, true);
}

static int sa_start(struct cm_leader_contender *c)
{
    struct timeval tv = {0, 0};
    evtimer_add(c->timer, &tv);
    return 0;
}

static void sa_destroy(struct cm_leader_contender *c)
{
    contender_free_common(c);
}

static const struct contender_ops standalone_contender_ops = {
    .name = "standalone",
    .start = sa_start,
    .destroy = sa_destroy,
};

struct cm_leader_contender *cm_leader_contender_standalone_new(struct event_base *base,
                                                               const Mesos__V1__MasterInfo *self,
                                                               cm_leader_contender_cb cb, void *arg)
{
    struct cm_leader_contender *c = contender_alloc(base, self, cb, arg, sa_elect);
    c->ops = &standalone_contender_ops;
    return c;
}

/* ZooKeeper */

static void zc_created(struct cm_zk *zk, const struct cm_zk_result *res, void *arg);

static void zc_create(struct cm_leader_contender *c)
{
    if (c->creating || c->own)
        return;
    c->creating = true;
    cm_zk_ensure_path(c->zk, c->g.path, NULL, NULL);
    char *prefix = cm_xasprintf("%s/%s", c->g.path, JSON_LABEL);
    cm_zk_create(c->zk, prefix, c->data, strlen(c->data), CM_ZK_EPHEMERAL | CM_ZK_SEQUENTIAL,
                 zc_created, c);
    free(prefix);
}

static void zc_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    zc_create(arg);
}

static void zc_forget_own(struct cm_leader_contender *c)
{
    free(c->own);
    free(c->own_path);
    c->own = c->own_path = NULL;
    c->g.own = NULL;
}

static void zc_created(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    struct cm_leader_contender *c = arg;
    c->creating = false;
    if (res->rc == ZOK && res->created) {
        const char *slash = strrchr(res->created, '/');
        c->own = cm_xstrdup(slash ? slash + 1 : res->created);
        c->own_path = cm_xstrdup(res->created);
        c->g.own = c->own;
        CM_INFO(MOD, "Contending for leadership with znode %s", c->own_path);
        g_list(&c->g);
        return;
    }
    if (res->rc == ZCONNECTIONLOSS || res->rc == ZOPERATIONTIMEOUT) {
        /* The node may exist without our knowing its name; it would lead in our name while we
         * do not act as leader. Only ending the session removes it. */
        CM_WARN(MOD,
                "Lost the connection while creating our znode under %s; the session will be "
                "ended so that no orphan node remains",
                c->g.path);
        c->create_unknown = true;
        if (cm_zk_connected(zk))
            cm_zk_restart(zk);
        return;
    }
    CM_ERROR(MOD, "Failed to create %s/%s*: %s; retrying in 1 s", c->g.path, JSON_LABEL,
             cm_zk_strerror(res->rc));
    struct timeval tv = {1, 0};
    evtimer_add(c->timer, &tv);
}

static void zc_hook(void *owner)
{
    struct cm_leader_contender *c = owner;
    if (c->own && !c->g.own_present) {
        CM_WARN(MOD, "Our znode %s was deleted; contending again", c->own_path);
        zc_forget_own(c);
        bool was = c->elected;
        c->elected = false;
        zc_create(c);
        if (was) {
            CM_WARN(MOD, "Lost leadership: our znode was deleted");
            c->cb(c->arg, false);
        }
        return;
    }
    bool now = c->own && c->g.leader && strcmp(c->g.leader, c->own) == 0;
    if (now == c->elected)
        return;
    c->elected = now;
    if (now)
        CM_INFO(MOD, "Elected as the leading master with znode %s", c->own_path);
    else
        CM_WARN(MOD, "Lost leadership to znode %s/%s", c->g.path,
                c->g.leader ? c->g.leader : "(none)");
    c->cb(c->arg, now);
}

static void zc_session(struct cm_zk *zk, enum cm_zk_session_event ev, void *arg)
{
    struct cm_leader_contender *c = arg;
    if (!c->started)
        return;
    switch (ev) {
    case CM_ZK_CONNECTED:
        c->create_unknown = false;
        zc_create(c);
        break;
    case CM_ZK_RECONNECTED:
        if (c->create_unknown) {
            cm_zk_restart(zk);
            return;
        }
        if (!c->own && !c->creating)
            zc_create(c);
        else
            g_list(&c->g);
        break;
    case CM_ZK_DISCONNECTED: break;
    case CM_ZK_EXPIRED:
        c->create_unknown = false;
        c->creating = false;
        zc_forget_own(c);
        g_reset(&c->g);
        evtimer_del(c->timer);
        if (c->elected) {
            c->elected = false;
            CM_WARN(MOD, "Lost leadership: the ZooKeeper session expired");
            c->cb(c->arg, false);
        }
        break;
    }
}

static int zc_start(struct cm_leader_contender *c)
{
    /* The session may already be up: it started connecting in _new. */
    if (cm_zk_connected(c->zk))
        zc_create(c);
    return 0;
}

static void zc_destroy(struct cm_leader_contender *c)
{
    /* Closing the session deletes our node at once; no callback reaches us afterwards. */
    cm_zk_free(c->zk);
    g_cleanup(&c->g);
    zc_forget_own(c);
    free(c->data);
    contender_free_common(c);
}

static const struct contender_ops zk_contender_ops = {
    .name = "zookeeper",
    .start = zc_start,
    .destroy = zc_destroy,
};

struct cm_leader_contender *cm_leader_contender_zk_new(struct event_base *base,
                                                       const struct cm_zk_url *url,
                                                       double session_timeout,
                                                       const Mesos__V1__MasterInfo *self,
                                                       cm_leader_contender_cb cb, void *arg)
{
    struct cm_leader_contender *c = contender_alloc(base, self, cb, arg, zc_retry);
    c->ops = &zk_contender_ops;
    c->data = cm_pbjson_to_text(&self->base);
    g_init(&c->g, base, url->path, zc_hook, c);
    c->g.zk = c->zk = cm_zk_new(base, url, session_timeout, zc_session, c);
    if (!c->zk) {
        CM_ERROR(MOD, "Failed to create a ZooKeeper client for %s", url->servers);
        zc_destroy(c);
        return NULL;
    }
    return c;
}

int cm_leader_contender_start(struct cm_leader_contender *c)
{
    if (c->started)
        return CM_ESTATE;
    c->started = true;
    return c->ops->start(c);
}

bool cm_leader_contender_elected(const struct cm_leader_contender *c)
{
    return c->elected;
}

const Mesos__V1__MasterInfo *cm_leader_contender_leader(const struct cm_leader_contender *c)
{
    if (c->ops == &standalone_contender_ops)
        return c->elected ? c->self : NULL;
    return c->g.leader_mi;
}

const char *cm_leader_contender_znode(const struct cm_leader_contender *c)
{
    return c->own_path;
}

struct cm_zk *cm_leader_contender_zk(const struct cm_leader_contender *c)
{
    return c->zk;
}

void cm_leader_contender_free(struct cm_leader_contender *c)
{
    if (c)
        c->ops->destroy(c);
}

/* ---- detectors ---------------------------------------------------------------------------- */

struct detector_ops {
    const char *name;
    int (*start)(struct cm_leader_detector *d);
    void (*destroy)(struct cm_leader_detector *d);
};

struct cm_leader_detector {
    const struct detector_ops *ops;
    struct event_base *base;
    cm_leader_detector_cb cb;
    void *arg;
    bool started;
    Mesos__V1__MasterInfo *leader; /* what we last reported */
    char *leader_name;             /* ZooKeeper: its node's name */
    struct event *timer;           /* standalone: the first report */
    struct cm_zk *zk;
    struct group g;
};

static void detector_free_common(struct cm_leader_detector *d)
{
    if (d->timer)
        event_free(d->timer);
    master_info_free(d->leader);
    free(d->leader_name);
    free(d);
}

/* standalone */

static void sd_report(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_leader_detector *d = arg;
    d->cb(d->arg, d->leader);
}

static int sd_start(struct cm_leader_detector *d)
{
    struct timeval tv = {0, 0};
    evtimer_add(d->timer, &tv);
    return 0;
}

static void sd_destroy(struct cm_leader_detector *d)
{
    detector_free_common(d);
}

static const struct detector_ops standalone_detector_ops = {
    .name = "standalone",
    .start = sd_start,
    .destroy = sd_destroy,
};

struct cm_leader_detector *cm_leader_detector_standalone_new(struct event_base *base,
                                                             const Mesos__V1__MasterInfo *leader,
                                                             cm_leader_detector_cb cb, void *arg)
{
    struct cm_leader_detector *d = cm_xcalloc(1, sizeof *d);
    d->ops = &standalone_detector_ops;
    d->base = base;
    d->cb = cb;
    d->arg = arg;
    d->leader = cm_leader_master_info_copy(leader);
    d->timer = evtimer_new(base, sd_report, d);
    if (!d->timer)
        abort();
    return d;
}

/* ZooKeeper */

static void zd_hook(void *owner)
{
    struct cm_leader_detector *d = owner;
    const char *now = d->g.leader;
    if ((!now && !d->leader_name) || (now && d->leader_name && strcmp(now, d->leader_name) == 0))
        return;
    free(d->leader_name);
    master_info_free(d->leader);
    d->leader_name = now ? cm_xstrdup(now) : NULL;
    d->leader = cm_leader_master_info_copy(d->g.leader_mi);
    if (d->leader)
        CM_INFO(MOD, "Detected the leading master %s (%s) at %s/%s", d->leader->id,
                d->leader->pid ? d->leader->pid : "", d->g.path, now);
    else
        CM_INFO(MOD, "No leading master under %s", d->g.path);
    d->cb(d->arg, d->leader);
}

static void zd_session(struct cm_zk *zk, enum cm_zk_session_event ev, void *arg)
{
    (void)zk;
    struct cm_leader_detector *d = arg;
    if (!d->started)
        return;
    switch (ev) {
    case CM_ZK_CONNECTED:
    case CM_ZK_RECONNECTED: g_list(&d->g); break;
    case CM_ZK_DISCONNECTED: break;
    case CM_ZK_EXPIRED:
        g_reset(&d->g);
        if (d->leader_name) {
            free(d->leader_name);
            master_info_free(d->leader);
            d->leader_name = NULL;
            d->leader = NULL;
            CM_WARN(MOD, "The ZooKeeper session expired; no leading master known");
            d->cb(d->arg, NULL);
        }
        break;
    }
}

static int zd_start(struct cm_leader_detector *d)
{
    if (cm_zk_connected(d->zk))
        g_list(&d->g);
    return 0;
}

static void zd_destroy(struct cm_leader_detector *d)
{
    cm_zk_free(d->zk);
    g_cleanup(&d->g);
    detector_free_common(d);
}

static const struct detector_ops zk_detector_ops = {
    .name = "zookeeper",
    .start = zd_start,
    .destroy = zd_destroy,
};

struct cm_leader_detector *cm_leader_detector_zk_new(struct event_base *base,
                                                     const struct cm_zk_url *url,
                                                     double session_timeout,
                                                     cm_leader_detector_cb cb, void *arg)
{
    struct cm_leader_detector *d = cm_xcalloc(1, sizeof *d);
    d->ops = &zk_detector_ops;
    d->base = base;
    d->cb = cb;
    d->arg = arg;
    g_init(&d->g, base, url->path, zd_hook, d);
    d->g.zk = d->zk = cm_zk_new(base, url, session_timeout, zd_session, d);
    if (!d->zk) {
        CM_ERROR(MOD, "Failed to create a ZooKeeper client for %s", url->servers);
        zd_destroy(d);
        return NULL;
    }
    return d;
}

struct cm_leader_detector *cm_leader_detector_new(struct event_base *base, const char *spec,
                                                  double session_timeout, cm_leader_detector_cb cb,
                                                  void *arg, char *why, size_t whylen)
{
    if (!spec || !*spec) {
        cm_fail(CM_EINVAL, why, whylen, "Missing master address (host:port or zk://...)");
        return NULL;
    }
    if (cm_zk_url_is_zk(spec)) {
        struct cm_zk_url url;
        if (cm_zk_url_parse_flag(spec, &url, why, whylen) != 0)
            return NULL;
        struct cm_leader_detector *d =
            cm_leader_detector_zk_new(base, &url, session_timeout, cb, arg);
        if (!d)
            cm_fail(CM_EINVAL, why, whylen, "Failed to create a ZooKeeper client for '%s'",
                    url.servers);
        cm_zk_url_cleanup(&url);
        return d;
    }
    const char *hp = spec;
    if (strncmp(hp, "http://", 7) == 0)
        hp += 7;
    else if (strncmp(hp, "https://", 8) == 0)
        hp += 8;
    if (strncmp(hp, "master@", 7) == 0)
        hp += 7;
    size_t len = strcspn(hp, "/");
    const char *colon = memrchr(hp, ':', len);
    char *end = NULL;
    unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (!colon || colon == hp || end != hp + len || colon + 1 == end || port == 0 || port > 65535 ||
        len >= 256) {
        cm_fail(CM_EINVAL, why, whylen,
                "Invalid master '%s': expected host:port, zk://host:port/path or file:///path",
                spec);
        return NULL;
    }
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)(colon - hp), hp);
    Mesos__V1__MasterInfo *mi = cm_leader_master_info_new("", host, (uint16_t)port, host, NULL);
    struct cm_leader_detector *d = cm_leader_detector_standalone_new(base, mi, cb, arg);
    master_info_free(mi);
    return d;
}

int cm_leader_detector_start(struct cm_leader_detector *d)
{
    if (d->started)
        return CM_ESTATE;
    d->started = true;
    return d->ops->start(d);
}

const Mesos__V1__MasterInfo *cm_leader_detector_leader(const struct cm_leader_detector *d)
{
    return d->leader;
}

void cm_leader_detector_free(struct cm_leader_detector *d)
{
    if (d)
        d->ops->destroy(d);
}
