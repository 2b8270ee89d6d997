/* test_master_registrar: the registrar's stores are assembled from records kept packed
 * (registrar.c), so these tests hold the assembled bytes against what protobuf-c packs from
 * scratch and against a model of the registry kept here, after thousands of random operations
 * (admit, re-admit, unreachable, remove, gone, operator state, GC, weights). A re-admission
 * with the same AgentInfo stores nothing; one that changes it does. A registry of 50,000
 * agents changes few chunks of the zk storage per admission (registrar_chunks.h). In-memory
 * storage, no loop, no sockets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cmesos/registry.pb-c.h"
#include "codec.h"
#include "errors.h"
#include "registrar.h"
#include "registrar_chunks.h"
#include "test.h"

enum { NONE, ADMITTED, UNREACHABLE, GONE };

#define NIDS 300

struct model {
    int status[NIDS];
    int host[NIDS]; /* the hostname's variant */
    double time[NIDS];
    unsigned long long seq[NIDS]; /* unreachable: the order they were marked */
    struct cm_reg_agent_state st[NIDS];
    double weight[4];
    unsigned long long next_seq;
};

static void recovered(void *arg, int err, const char *why)
{
    (void)why;
    *(int *)arg = err;
}

static void done(void *arg, int err)
{
    *(int *)arg = err;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

struct agent_buf {
    Mesos__V1__AgentInfo info;
    Mesos__V1__AgentID id;
    Mesos__V1__Resource res, *resp;
    Mesos__V1__Value__Scalar sc;
    char idbuf[32], host[48];
};

static const Mesos__V1__AgentInfo *agent(struct agent_buf *b, int i, int variant)
{
    mesos__v1__agent_info__init(&b->info);
    mesos__v1__agent_id__init(&b->id);
    mesos__v1__resource__init(&b->res);
    mesos__v1__value__scalar__init(&b->sc);
    snprintf(b->idbuf, sizeof b->idbuf, "agent-%d", i);
    snprintf(b->host, sizeof b->host, "host-%d-v%d", i, variant);
    b->id.value = b->idbuf;
    b->info.id = &b->id;
    b->info.hostname = b->host;
    b->info.has_port = 1;
    b->info.port = 5051 + i;
    b->res.name = "cpus";
    b->res.type = MESOS__V1__VALUE__TYPE__SCALAR;
    b->sc.value = 1 + variant;
    b->res.scalar = &b->sc;
    b->resp = &b->res;
    b->info.resources = &b->resp;
    b->info.n_resources = 1;
    return &b->info;
}

static const char *roles[4] = {"a", "b", "c", "d"};

static bool state_same(const struct cm_reg_agent_state *a, const struct cm_reg_agent_state *b)
{
    return a->deactivated == b->deactivated && a->drain_state == b->drain_state &&
           a->has_grace == b->has_grace && (!a->has_grace || a->grace_ns == b->grace_ns) &&
           a->mark_gone == b->mark_gone;
}

static int id_of(const char *s)
{
    int i = -1;
    if (sscanf(s, "agent-%d", &i) != 1 || i < 0 || i >= NIDS)
        return -1;
    return i;
}

static struct cm_reg_agent_state state_of(const Mesos__V1__DrainInfo *di, protobuf_c_boolean d)
{
    struct cm_reg_agent_state st = {.deactivated = d};
    if (di) {
        st.drain_state = (int)di->state;
        if (di->config && di->config->max_grace_period) {
            st.has_grace = true;
            st.grace_ns = di->config->max_grace_period->nanoseconds;
        }
        st.mark_gone = di->config && di->config->has_mark_gone && di->config->mark_gone;
    }
    return st;
}

/* The stored bytes: protobuf-c packs what they decode to into the same bytes (they are what a
 * from-scratch pack gives), and they hold exactly the model's registry. */
static void check_stored(const struct cm_registry_storage *s, const struct model *m,
                         uint64_t version)
{
    ProtobufCMessage *msg = NULL;
    char why[256];
    REQUIRE(cm_pb_unpack(&cmesos__internal__registry__descriptor, s->mem, s->mem_len, &msg, why,
                         sizeof why) == 0);
    Cmesos__Internal__Registry *reg = (Cmesos__Internal__Registry *)msg;
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *again = malloc(len ? len : 1);
    protobuf_c_message_pack(msg, again);
    CHECK(len == s->mem_len && memcmp(again, s->mem, len) == 0);
    free(again);
    CHECK(reg->has_version && reg->version == version);

    int seen[NIDS] = {0};
    size_t want_admitted = 0, want_unreachable = 0, want_gone = 0;
    for (int i = 0; i < NIDS; i++) {
        want_admitted += m->status[i] == ADMITTED;
        want_unreachable += m->status[i] == UNREACHABLE;
        want_gone += m->status[i] == GONE;
    }
    CHECK_INT(reg->n_agents, want_admitted);
    CHECK_INT(reg->n_unreachable, want_unreachable);
    CHECK_INT(reg->n_gone, want_gone);
    for (size_t k = 0; k < reg->n_agents; k++) {
        const Mesos__V1__AgentInfo *info = reg->agents[k]->info;
        int i = id_of(info->id->value);
        REQUIRE(i >= 0);
        CHECK(m->status[i] == ADMITTED && !seen[i]);
        seen[i] = 1;
        char host[48];
        snprintf(host, sizeof host, "host-%d-v%d", i, m->host[i]);
        CHECK_STR(info->hostname, host);
        struct cm_reg_agent_state st =
            state_of(reg->agents[k]->drain_info, reg->agents[k]->deactivated);
        CHECK(state_same(&st, &m->st[i]));
    }
    unsigned long long last = 0;
    for (size_t k = 0; k < reg->n_unreachable; k++) {
        const Cmesos__Internal__Registry__UnreachableAgent *u = reg->unreachable[k];
        int i = id_of(u->id->value);
        REQUIRE(i >= 0);
        CHECK(m->status[i] == UNREACHABLE && !seen[i]);
        seen[i] = 1;
        CHECK(m->seq[i] > last); /* oldest first */
        last = m->seq[i];
        CHECK(u->timestamp->nanoseconds == (int64_t)(m->time[i] * 1e9));
        struct cm_reg_agent_state st = state_of(u->drain_info, u->deactivated);
        CHECK(state_same(&st, &m->st[i]));
    }
    for (size_t k = 0; k < reg->n_gone; k++) {
        int i = id_of(reg->gone[k]->id->value);
        REQUIRE(i >= 0);
        CHECK(m->status[i] == GONE && !seen[i]);
        seen[i] = 1;
        CHECK(reg->gone[k]->timestamp->nanoseconds == (int64_t)(m->time[i] * 1e9));
    }
    size_t nw = 0;
    for (int w = 0; w < 4; w++)
        nw += m->weight[w] > 0;
    CHECK_INT(reg->n_weights, nw);
    for (size_t k = 0; k < reg->n_weights; k++) {
        const Mesos__V1__WeightInfo *wi = reg->weights[k]->info;
        int w = wi->role[0] - 'a';
        REQUIRE(w >= 0 && w < 4);
        CHECK(wi->weight == m->weight[w]);
    }
    protobuf_c_message_free_unpacked(msg, NULL);
}

static struct cm_registrar *registrar_from(const uint8_t *data, size_t len,
                                           struct cm_registry_storage **sp)
{
    char why[256];
    if (cm_registry_storage_new("in_memory", NULL, sp, why, sizeof why) != 0)
        abort(); /* in_memory always exists */
    if (len) {
        (*sp)->mem = malloc(len);
        memcpy((*sp)->mem, data, len);
        (*sp)->mem_len = len;
    }
    struct cm_registrar *r = cm_registrar_new(*sp);
    int err = 1;
    cm_registrar_recover(r, recovered, &err);
    CHECK_INT(err, 0);
    return r;
}

/* One random operation on r and on the model. */
static void random_op(struct cm_registrar *r, struct model *m, double now)
{
    int i = (int)rnd(NIDS), err = 1;
    char id[32];
    snprintf(id, sizeof id, "agent-%d", i);
    struct agent_buf b;
    unsigned what = rnd(100);
    if (what < 40) {
        if (m->status[i] == GONE)
            return; /* the master refuses those before the registrar */
        int variant = rnd(4) == 0 ? (int)rnd(3) : m->host[i];
        cm_registrar_admit(r, agent(&b, i, variant), done, &err);
        m->status[i] = ADMITTED;
        m->host[i] = variant;
    } else if (what < 60) {
        if (m->status[i] == GONE)
            return; /* a gone agent is never connected, so never found unreachable */
        cm_registrar_mark_unreachable(r, id, now, done, &err);
        m->status[i] = UNREACHABLE;
        m->time[i] = now;
        m->seq[i] = ++m->next_seq;
    } else if (what < 68) {
        cm_registrar_remove(r, id, done, &err);
        if (m->status[i] == ADMITTED || m->status[i] == UNREACHABLE) {
            m->status[i] = NONE;
            memset(&m->st[i], 0, sizeof m->st[i]);
        }
    } else if (what < 72) {
        cm_registrar_mark_gone(r, id, now, done, &err);
        if (m->status[i] != GONE) {
            m->status[i] = GONE;
            m->time[i] = now;
            memset(&m->st[i], 0, sizeof m->st[i]);
        }
    } else if (what < 92) {
        struct cm_reg_agent_state st = {0};
        st.deactivated = rnd(2);
        st.drain_state = (int)rnd(3);
        if (st.drain_state) {
            st.deactivated = true;
            st.has_grace = rnd(2);
            st.grace_ns = st.has_grace ? (int64_t)rnd(1000) * 1000000 : 0;
            st.mark_gone = rnd(2);
        }
        cm_registrar_set_agent_state(r, id, &st, done, &err);
        if (m->status[i] == ADMITTED || m->status[i] == UNREACHABLE)
            m->st[i] = st;
    } else if (what < 95) {
        size_t pruned = 0;
        double max_age = 50 + rnd(100);
        size_t max_count = 20 + rnd(60);
        cm_registrar_gc(r, now, max_age, max_count, &pruned, done, &err);
        /* The model: oldest first while too old or too many. */
        size_t count = 0, n = 0;
        for (int k = 0; k < NIDS; k++)
            count += m->status[k] == UNREACHABLE;
        for (;;) {
            int oldest = -1;
            for (int k = 0; k < NIDS; k++)
                if (m->status[k] == UNREACHABLE && (oldest < 0 || m->seq[k] < m->seq[oldest]))
                    oldest = k;
            if (oldest < 0 || !(m->time[oldest] < now - max_age || count > max_count))
                break;
            m->status[oldest] = NONE;
            memset(&m->st[oldest], 0, sizeof m->st[oldest]);
            count--;
            n++;
        }
        CHECK_INT(pruned, n);
    } else {
        int w = (int)rnd(4);
        double v = 0.5 + rnd(4);
        const char *role = roles[w];
        cm_registrar_update_weights(r, &role, &v, 1, done, &err);
        m->weight[w] = v;
    }
    CHECK_INT(err, 0);
}

static void test_random_operations_match_a_full_pack(void)
{
    struct model m;
    memset(&m, 0, sizeof m);
    struct cm_registry_storage *s = NULL;
    struct cm_registrar *r = registrar_from(NULL, 0, &s);
    double now = 1000;
    for (int step = 1; step <= 4000; step++) {
        now += 0.5;
        random_op(r, &m, now);
        if (step % 97 == 0 || step == 4000) {
            struct cm_registrar_stats st;
            cm_registrar_stats(r, &st);
            REQUIRE(st.version > 0);
            check_stored(s, &m, st.version);
            CHECK_INT(st.size_bytes, s->mem_len);
        }
        if (step % 1000 == 0) {
            /* A new registrar (a restarted master) reads it back; the same operation on both
             * stores the same bytes (same order, same records). */
            struct cm_registry_storage *s2 = NULL;
            struct cm_registrar *r2 = registrar_from(s->mem, s->mem_len, &s2);
            struct model m2 = m;
            uint64_t saved = rng_state;
            for (int k = 0; k < 5; k++)
                random_op(r2, &m2, now + 1);
            rng_state = saved;
            for (int k = 0; k < 5; k++)
                random_op(r, &m, now + 1);
            CHECK(s->mem_len == s2->mem_len && memcmp(s->mem, s2->mem, s->mem_len) == 0);
            CHECK_INT(cm_registrar_count_admitted(r2), cm_registrar_count_admitted(r));
            CHECK_INT(cm_registrar_count_unreachable(r2), cm_registrar_count_unreachable(r));
            cm_registrar_free(r2);
        }
    }
    cm_registrar_free(r);
}

static void test_same_info_stores_nothing(void)
{
    struct cm_registry_storage *s = NULL;
    struct cm_registrar *r = registrar_from(NULL, 0, &s);
    struct agent_buf b;
    int err = 1;
    for (int i = 0; i < 10; i++)
        cm_registrar_admit(r, agent(&b, i, 0), NULL, NULL);
    struct cm_registrar_stats st;
    cm_registrar_stats(r, &st);
    CHECK_INT(st.version, 10);
    /* Re-registration with the same AgentInfo: answered at once, no store. */
    cm_registrar_admit(r, agent(&b, 3, 0), done, &err);
    CHECK_INT(err, 0);
    cm_registrar_stats(r, &st);
    CHECK_INT(st.version, 10);
    /* A changed AgentInfo is stored, in the agent's place. */
    err = 1;
    cm_registrar_admit(r, agent(&b, 3, 1), done, &err);
    CHECK_INT(err, 0);
    cm_registrar_stats(r, &st);
    CHECK_INT(st.version, 11);
    CHECK_STR(cm_registrar_admitted(r, "agent-3")->hostname, "host-3-v1");
    /* An unreachable agent coming back with its old AgentInfo is stored (admitted again). */
    cm_registrar_mark_unreachable(r, "agent-4", 5.0, NULL, NULL);
    err = 1;
    cm_registrar_admit(r, agent(&b, 4, 0), done, &err);
    CHECK_INT(err, 0);
    cm_registrar_stats(r, &st);
    CHECK_INT(st.version, 13);
    CHECK(!cm_registrar_unreachable(r, "agent-4", NULL));
    CHECK(cm_registrar_admitted(r, "agent-4") != NULL);
    /* After a restart too: the recovered registry knows the agents' AgentInfos. */
    struct cm_registry_storage *s2 = NULL;
    struct cm_registrar *r2 = registrar_from(s->mem, s->mem_len, &s2);
    err = 1;
    cm_registrar_admit(r2, agent(&b, 3, 1), done, &err);
    CHECK_INT(err, 0);
    cm_registrar_stats(r2, &st);
    CHECK_INT(st.version, 13);
    cm_registrar_admit(r2, agent(&b, 3, 2), NULL, NULL);
    cm_registrar_stats(r2, &st);
    CHECK_INT(st.version, 14);
    cm_registrar_free(r2);
    cm_registrar_free(r);
}

/* A chunked (zk) store changes few chunks per admission at 50,000 agents: records keep their
 * place, new agents go last, and the version (which every store changes) is a chunk of its
 * own. */
static void test_admission_changes_few_chunks(void)
{
    enum { N = 50000 };
    struct cm_registry_storage *s = NULL;
    struct cm_registrar *r = registrar_from(NULL, 0, &s);
    struct agent_buf b;
    cm_registrar_hold(r);
    for (int i = 0; i < N; i++)
        cm_registrar_admit(r, agent(&b, i, 0), NULL, NULL);
    cm_registrar_release(r);
    CHECK_INT(cm_registrar_count_admitted(r), N);
    struct cm_reg_chunk *c0 = NULL, *c1 = NULL;
    size_t n0 = 0, n1 = 0;
    uint8_t *before = malloc(s->mem_len);
    size_t before_len = s->mem_len;
    memcpy(before, s->mem, before_len);
    double t0 = cm_monotonic_secs();
    cm_reg_chunks_split(before, before_len, &c0, &n0);
    double split_ms = (cm_monotonic_secs() - t0) * 1000.0;
    size_t manifest_len = 0;
    free(cm_reg_manifest_format(c0, n0, before_len, &manifest_len));
    printf("# %d agents: registry %zu bytes, %zu chunks, manifest %zu bytes, split and named in "
           "%.1f ms\n",
           N, before_len, n0, manifest_len, split_ms);
    CHECK(manifest_len < 64 * 1024);
    /* One agent in the middle changes, one goes unreachable, one new one comes. */
    cm_registrar_hold(r);
    agent(&b, N / 2, 1);
    cm_registrar_admit(r, &b.info, NULL, NULL);
    cm_registrar_mark_unreachable(r, "agent-1234", 7.0, NULL, NULL);
    cm_registrar_admit(r, agent(&b, N, 0), NULL, NULL);
    cm_registrar_release(r);
    t0 = cm_monotonic_secs();
    cm_reg_chunks_split(s->mem, s->mem_len, &c1, &n1);
    split_ms = (cm_monotonic_secs() - t0) * 1000.0;
    struct cm_reg_chunk *c2 = NULL;
    size_t n2 = 0;
    t0 = cm_monotonic_secs();
    cm_reg_chunks_resplit(before, before_len, c0, n0, s->mem, s->mem_len, &c2, &n2);
    printf("# the store after them: split in %.1f ms, split with the previous registry at hand in "
           "%.1f ms\n",
           split_ms, (cm_monotonic_secs() - t0) * 1000.0);
    CHECK_INT(n2, n1);
    free(c2);
    /* The version (field 1, varint), which every store changes, is a chunk of its own. */
    REQUIRE(n1 > 1);
    CHECK(s->mem[0] == 0x08);
    CHECK(c1[0].len >= 2 && c1[0].len <= 11);
    size_t fresh = 0, fresh_bytes = 0;
    for (size_t i = 0; i < n1; i++) {
        bool known = false;
        for (size_t j = 0; j < n0 && !known; j++)
            known = strcmp(c1[i].name, c0[j].name) == 0;
        if (!known) {
            fresh++;
            fresh_bytes += c1[i].len;
        }
    }
    printf("# after 3 operations: %zu new chunks of %zu, %zu bytes to write\n", fresh, n1,
           fresh_bytes);
    CHECK(fresh >= 2); /* at least the version and what changed */
    CHECK(fresh <= 8); /* version, and about two per operation */
    CHECK(fresh_bytes < 8 * CM_REG_CHUNK_MAX);
    CHECK(fresh_bytes < s->mem_len / 10);
    /* A burst of registrations (appended): the split reuses all but the last chunks. */
    free(before);
    before_len = s->mem_len;
    before = malloc(before_len);
    memcpy(before, s->mem, before_len);
    cm_registrar_hold(r);
    for (int i = N + 1; i < N + 101; i++)
        cm_registrar_admit(r, agent(&b, i, 0), NULL, NULL);
    cm_registrar_release(r);
    free(c0);
    c0 = c1;
    n0 = n1;
    t0 = cm_monotonic_secs();
    cm_reg_chunks_split(s->mem, s->mem_len, &c1, &n1);
    split_ms = (cm_monotonic_secs() - t0) * 1000.0;
    t0 = cm_monotonic_secs();
    cm_reg_chunks_resplit(before, before_len, c0, n0, s->mem, s->mem_len, &c2, &n2);
    printf("# 100 more agents: split in %.1f ms, with the previous registry at hand in %.1f ms\n",
           split_ms, (cm_monotonic_secs() - t0) * 1000.0);
    CHECK_INT(n2, n1);
    free(c2);
    free(c0);
    free(c1);
    free(before);
    cm_registrar_free(r);
}

/* A valid covering: contiguous chunks of at most CM_REG_CHUNK_MAX bytes named by their bytes. */
static bool covers(const uint8_t *data, size_t len, const struct cm_reg_chunk *c, size_t n)
{
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        char name[CM_REG_CHUNK_NAME];
        if (c[i].off != off || c[i].len == 0 || c[i].len > CM_REG_CHUNK_MAX)
            return false;
        cm_reg_chunk_name(data + c[i].off, c[i].len, name);
        if (strcmp(name, c[i].name) != 0)
            return false;
        off += c[i].len;
    }
    return off == len;
}

/* The zk storage splits a store with the previous registry at hand (cm_reg_chunks_resplit):
 * after any operations the result is the full split's, and on bytes that are not a registry
 * it is still a valid covering. */
static void test_resplit_equals_split(void)
{
    enum { N = 20000 };
    struct cm_registry_storage *s = NULL;
    struct cm_registrar *r = registrar_from(NULL, 0, &s);
    struct agent_buf b;
    cm_registrar_hold(r);
    for (int i = 0; i < N; i++)
        cm_registrar_admit(r, agent(&b, i, 0), NULL, NULL);
    cm_registrar_release(r);
    size_t plen = s->mem_len, pn = 0;
    uint8_t *prev = malloc(plen);
    memcpy(prev, s->mem, plen);
    struct cm_reg_chunk *pc = NULL;
    cm_reg_chunks_split(prev, plen, &pc, &pn);
    int next = N, equal = 0;
    for (int round = 0; round < 40; round++) {
        cm_registrar_hold(r);
        unsigned k = 1 + rnd(3);
        for (unsigned i = 0; i < k; i++) {
            int a = (int)rnd(N);
            char id[32];
            snprintf(id, sizeof id, "agent-%d", a);
            switch (rnd(4)) {
            case 0: cm_registrar_admit(r, agent(&b, next++, 0), NULL, NULL); break;
            case 1: cm_registrar_admit(r, agent(&b, a, 1 + (int)rnd(2)), NULL, NULL); break;
            case 2: cm_registrar_mark_unreachable(r, id, 9.0 + round, NULL, NULL); break;
            default: cm_registrar_remove(r, id, NULL, NULL); break;
            }
        }
        cm_registrar_release(r);
        struct cm_reg_chunk *full = NULL, *re = NULL;
        size_t nf = 0, nr = 0;
        cm_reg_chunks_split(s->mem, s->mem_len, &full, &nf);
        cm_reg_chunks_resplit(prev, plen, pc, pn, s->mem, s->mem_len, &re, &nr);
        CHECK(covers(s->mem, s->mem_len, re, nr));
        bool same = nf == nr;
        for (size_t i = 0; same && i < nf; i++)
            same = full[i].off == re[i].off && full[i].len == re[i].len &&
                   strcmp(full[i].name, re[i].name) == 0;
        CHECK(same);
        equal += same;
        free(full);
        free(pc);
        free(prev);
        pc = re;
        pn = nr;
        plen = s->mem_len;
        prev = malloc(plen);
        memcpy(prev, s->mem, plen);
    }
    CHECK_INT(equal, 40);
    /* Bytes that are not a registry (a few flipped in the middle): still a valid covering. */
    for (int round = 0; round < 20; round++) {
        uint8_t *bad = malloc(plen);
        memcpy(bad, prev, plen);
        for (int i = 0; i < 1 + round % 4; i++)
            bad[plen / 3 + rnd((unsigned)(plen / 3))] ^= (uint8_t)(1 + rnd(255));
        if (round % 5 == 0)
            bad[0] ^= 0x10;
        struct cm_reg_chunk *re = NULL;
        size_t nr = 0;
        cm_reg_chunks_resplit(prev, plen, pc, pn, bad, plen - (size_t)round, &re, &nr);
        CHECK(covers(bad, plen - (size_t)round, re, nr));
        free(re);
        free(bad);
    }
    free(pc);
    free(prev);
    cm_registrar_free(r);
}

/* cm_registrar_flush completes after everything queued before it, in order, stores nothing
 * itself, and carries the error of a failed registrar. */
struct order {
    int seq[8], err[8], n;
};

static void ordered(void *arg, int err)
{
    struct order *o = arg;
    if (o->n < 8)
        o->err[o->n++] = err;
}

static void flag_a(void *arg, int err)
{
    struct order *o = arg;
    if (o->n < 8)
        o->seq[o->n] = 'a';
    ordered(arg, err);
}

static void flag_f(void *arg, int err)
{
    struct order *o = arg;
    if (o->n < 8)
        o->seq[o->n] = 'f';
    ordered(arg, err);
}

static void test_flush_completes_after_what_was_queued(void)
{
    struct cm_registry_storage *s = NULL;
    struct cm_registrar *r = registrar_from(NULL, 0, &s);
    struct agent_buf b;
    struct order o = {0};
    /* Nothing queued: at once, no store. */
    cm_registrar_flush(r, flag_f, &o);
    CHECK_INT(o.n, 1);
    CHECK_INT(o.err[0], 0);
    struct cm_registrar_stats st;
    cm_registrar_stats(r, &st);
    CHECK_INT(st.version, 0);
    /* Held: the flush waits behind the admissions and completes with their store. */
    memset(&o, 0, sizeof o);
    cm_registrar_hold(r);
    cm_registrar_admit(r, agent(&b, 1, 0), flag_a, &o);
    cm_registrar_flush(r, flag_f, &o);
    cm_registrar_admit(r, agent(&b, 2, 0), flag_a, &o);
    CHECK_INT(o.n, 0);
    cm_registrar_release(r);
    CHECK_INT(o.n, 3);
    CHECK_INT(o.seq[0], 'a');
    CHECK_INT(o.seq[1], 'f');
    CHECK_INT(o.seq[2], 'a');
    CHECK_INT(o.err[0] | o.err[1] | o.err[2], 0);
    cm_registrar_stats(r, &st);
    CHECK_INT(st.version, 1);
    /* A failed registrar: the flush gets its error. */
    cm_registrar_abort(r, CM_ECLOSED);
    memset(&o, 0, sizeof o);
    cm_registrar_flush(r, flag_f, &o);
    CHECK_INT(o.n, 1);
    CHECK_INT(o.err[0], CM_ECLOSED);
    cm_registrar_free(r);
}

TEST_MAIN(TEST(test_random_operations_match_a_full_pack), TEST(test_same_info_stores_nothing),
          TEST(test_admission_changes_few_chunks), TEST(test_resplit_equals_split),
          TEST(test_flush_completes_after_what_was_queued))
