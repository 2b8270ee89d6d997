/*
 * itest_registry_zk: the zk registry storage without ZooKeeper's 1 MiB znode cap, on a real
 * ZooKeeper server (harness_zk). 50,000 agents are admitted in one burst (about 15 MB of
 * registry, stored as content-named chunks plus a manifest), read back by a second registrar
 * (a new leader), whose fencing leaves the first one deposed: its next write is refused, not
 * applied. The new leader's next admission rewrites only what changed. A registry written in
 * the old single-znode format (the packed registry as the znode's data) is still read.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "harness.h"
#include "harness_zk.h"
#include "registrar.h"
#include "resources.h"
#include "strmap.h"
#include "zk.h"
#include "zk_url.h"

#define NAGENTS 50000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_until(struct event_base *base, const bool *flag, double secs)
{
    double deadline = now_s() + secs;
    while (!*flag && now_s() < deadline) {
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        if (!*flag) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return *flag ? 0 : -1;
}

struct waitc {
    bool done;
    int err;
    int count, want;
    char why[512];
};

static void recovered(void *arg, int err, const char *why)
{
    struct waitc *w = arg;
    w->err = err;
    snprintf(w->why, sizeof w->why, "%s", why ? why : "");
    w->done = true;
}

static void op_done(void *arg, int err)
{
    struct waitc *w = arg;
    if (err && !w->err)
        w->err = err;
    if (++w->count >= w->want)
        w->done = true;
}

static struct cm_registrar *registrar_at(struct event_base *base, const char *url_text)
{
    struct cm_zk_url url;
    char why[256];
    if (cm_zk_url_parse(url_text, &url, why, sizeof why) != 0) {
        fprintf(stderr, "%s\n", why);
        return NULL;
    }
    struct cm_registry_storage *s = NULL;
    int rc = cm_registry_storage_zk_new(base, &url, 10, &s, why, sizeof why);
    cm_zk_url_cleanup(&url);
    if (rc) {
        fprintf(stderr, "%s\n", why);
        return NULL;
    }
    struct cm_registrar *r = cm_registrar_new(s);
    struct waitc w = {0};
    cm_registrar_recover(r, recovered, &w);
    if (run_until(base, &w.done, 60) != 0 || w.err) {
        fprintf(stderr, "registry recovery failed: %d %s\n", w.err, w.why);
        cm_registrar_free(r);
        return NULL;
    }
    return r;
}

/* An AgentInfo of about 300 bytes packed, as a real agent's. */
static Mesos__V1__AgentInfo *agent_info(int i, struct cm_resources *res)
{
    static char ids[64], host[64];
    static Mesos__V1__AgentInfo info;
    static Mesos__V1__AgentID id;
    mesos__v1__agent_info__init(&info);
    mesos__v1__agent_id__init(&id);
    snprintf(ids, sizeof ids, "9b1f0c3e-5d2a-4e7b-8c6d-2f4a1b3c5d7e-S%d", i);
    snprintf(host, sizeof host, "node-%05d.rack-%03d.example.com", i, i % 200);
    id.value = ids;
    info.id = &id;
    info.hostname = host;
    info.has_port = 1;
    info.port = 5051;
    static Mesos__V1__Resource **rv;
    static size_t rn;
    if (!rv)
        cm_resources_to_proto(res, NULL, &rv, &rn);
    info.resources = rv;
    info.n_resources = rn;
    return &info;
}

static void admit_many(struct event_base *base, struct cm_registrar *r, int from, int n,
                       struct waitc *w)
{
    struct cm_resources res;
    char why[256];
    cm_resources_init(&res);
    REQUIRE(cm_resources_parse(&res, "cpus:16;mem:65536;disk:1000000;ports:[31000-32000]", NULL,
                               why, sizeof why) == 0);
    memset(w, 0, sizeof *w);
    w->want = n;
    cm_registrar_hold(r);
    for (int i = from; i < from + n; i++)
        cm_registrar_admit(r, agent_info(i, &res), op_done, w);
    cm_registrar_release(r);
    run_until(base, &w->done, 120);
    cm_resources_cleanup(&res);
}

/* What ZooKeeper holds: the chunk znodes' names (into *names) and the registry znode's size. */
struct listing {
    bool connected, done;
    int rc;
    struct cm_strmap *names;
    size_t data_len;
};

static void listing_session(struct cm_zk *zk, enum cm_zk_session_event ev, void *arg)
{
    (void)zk;
    struct listing *l = arg;
    if (ev == CM_ZK_CONNECTED || ev == CM_ZK_RECONNECTED)
        l->connected = true;
}

static void listing_children(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    (void)zk;
    struct listing *l = arg;
    l->rc = res->rc;
    for (size_t i = 0; res->rc == ZOK && i < res->n_children; i++)
        cm_strmap_put(l->names, res->children[i], (void *)1);
    l->done = true;
}

static void listing_data(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    (void)zk;
    struct listing *l = arg;
    l->rc = res->rc;
    l->data_len = res->rc == ZOK ? res->len : 0;
    l->done = true;
}

static int list_registry(struct event_base *base, const char *url_text, struct cm_strmap *names,
                         size_t *manifest_len)
{
    struct cm_zk_url url;
    char why[256];
    if (cm_zk_url_parse(url_text, &url, why, sizeof why) != 0)
        return -1;
    struct listing l = {.names = names};
    struct cm_zk *zk = cm_zk_new(base, &url, 5, listing_session, &l);
    int rc = -1;
    if (zk && run_until(base, &l.connected, 10) == 0) {
        char path[300];
        snprintf(path, sizeof path, "%s/registry_chunks", url.path);
        cm_zk_children(zk, path, NULL, NULL, listing_children, &l);
        if (run_until(base, &l.done, 10) == 0 && l.rc == ZOK) {
            l.done = false;
            snprintf(path, sizeof path, "%s/registry", url.path);
            cm_zk_get(zk, path, NULL, NULL, listing_data, &l);
            if (run_until(base, &l.done, 10) == 0 && l.rc == ZOK) {
                *manifest_len = l.data_len;
                rc = 0;
            }
        }
    }
    cm_zk_free(zk);
    cm_zk_url_cleanup(&url);
    return rc;
}

static void test_registry_50k(void)
{
    itest_zk_require();
    struct itest_zk z;
    memset(&z, 0, sizeof z);
    REQUIRE(itest_zk_start(&z) == 0);
    char url[256];
    itest_zk_url(&z, "/mesos", url, sizeof url);
    struct event_base *base = event_base_new();

    struct cm_registrar *a = registrar_at(base, url);
    REQUIRE(a != NULL);
    struct waitc w;
    double t0 = now_s();
    admit_many(base, a, 0, NAGENTS, &w);
    double stored = now_s() - t0;
    CHECK(w.done);
    CHECK_INT(w.err, 0);
    CHECK(cm_registrar_count_admitted(a) == NAGENTS);
    printf("stored %d agents in %.2f s\n", NAGENTS, stored);

    /* A new leader reads them back; its fencing write deposes a. */
    t0 = now_s();
    struct cm_registrar *b = registrar_at(base, url);
    REQUIRE(b != NULL);
    printf("read them back in %.2f s\n", now_s() - t0);
    CHECK(cm_registrar_count_admitted(b) == NAGENTS);
    const Mesos__V1__AgentInfo *one =
        cm_registrar_admitted(b, "9b1f0c3e-5d2a-4e7b-8c6d-2f4a1b3c5d7e-S31337");
    CHECK(one != NULL);
    if (one)
        CHECK_STR(one->hostname, "node-31337.rack-137.example.com");

    /* The deposed leader's write is refused. */
    admit_many(base, a, NAGENTS, 1, &w);
    CHECK(w.done);
    CHECK_INT(w.err, CM_ESTATE);
    CHECK(cm_registrar_failed(a));

    /* The new leader writes (only the changed chunks: the version's and the last agents') and a
     * third master sees it. */
    struct cm_strmap before, after;
    cm_strmap_init(&before);
    cm_strmap_init(&after);
    size_t manifest = 0;
    REQUIRE(list_registry(base, url, &before, &manifest) == 0);
    printf("%d agents: %zu chunks, manifest %zu bytes\n", NAGENTS, cm_strmap_count(&before),
           manifest);
    CHECK(manifest < 64 * 1024);
    t0 = now_s();
    admit_many(base, b, NAGENTS + 1, 1, &w);
    CHECK(w.done);
    CHECK_INT(w.err, 0);
    printf("one more admission stored in %.3f s\n", now_s() - t0);
    REQUIRE(list_registry(base, url, &after, &manifest) == 0);
    size_t fresh = 0;
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &after); cm_strmap_iter_next(&it);)
        fresh += cm_strmap_get(&before, it.cur->key) == NULL;
    printf("it created %zu new chunk znodes\n", fresh);
    CHECK(fresh >= 1);
    CHECK(fresh <= 3);
    cm_strmap_cleanup(&before);
    cm_strmap_cleanup(&after);
    struct cm_registrar *c = registrar_at(base, url);
    REQUIRE(c != NULL);
    CHECK(cm_registrar_count_admitted(c) == NAGENTS + 1);
    CHECK(cm_registrar_admitted(c, "9b1f0c3e-5d2a-4e7b-8c6d-2f4a1b3c5d7e-S50001") != NULL);
    CHECK(cm_registrar_admitted(c, "9b1f0c3e-5d2a-4e7b-8c6d-2f4a1b3c5d7e-S50000") == NULL);

    cm_registrar_free(a);
    cm_registrar_free(b);
    cm_registrar_free(c);
    event_base_free(base);
}

struct put {
    bool connected, done;
    int rc;
};

static void put_session(struct cm_zk *zk, enum cm_zk_session_event ev, void *arg)
{
    (void)zk;
    struct put *p = arg;
    if (ev == CM_ZK_CONNECTED || ev == CM_ZK_RECONNECTED)
        p->connected = true;
}

static void put_done(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    (void)zk;
    struct put *p = arg;
    p->done = true;
    p->rc = res->rc;
}

/* A registry in the single-znode format of earlier masters is read as before. */
static void test_registry_legacy(void)
{
    itest_zk_require();
    struct itest_zk z;
    memset(&z, 0, sizeof z);
    REQUIRE(itest_zk_start(&z) == 0);
    char url_text[256];
    itest_zk_url(&z, "/old", url_text, sizeof url_text);
    struct event_base *base = event_base_new();

    /* The old format's bytes: a packed registry of 3 agents (the in-memory storage's copy). */
    struct cm_registry_storage *mem = NULL;
    char why[256];
    REQUIRE(cm_registry_storage_new("in_memory", NULL, &mem, why, sizeof why) == 0);
    struct cm_registrar *r = cm_registrar_new(mem);
    struct waitc w = {0};
    cm_registrar_recover(r, recovered, &w);
    REQUIRE(run_until(base, &w.done, 5) == 0 && w.err == 0);
    admit_many(base, r, 0, 3, &w);
    CHECK_INT(w.err, 0);
    REQUIRE(mem->mem_len > 0);

    struct cm_zk_url url;
    REQUIRE(cm_zk_url_parse(url_text, &url, why, sizeof why) == 0);
    struct put p = {0};
    struct cm_zk *zk = cm_zk_new(base, &url, 5, put_session, &p);
    REQUIRE(zk != NULL);
    REQUIRE(run_until(base, &p.connected, 10) == 0);
    cm_zk_ensure_path(zk, "/old", put_done, &p);
    REQUIRE(run_until(base, &p.done, 10) == 0 && p.rc == ZOK);
    p.done = false;
    cm_zk_create(zk, "/old/registry", mem->mem, mem->mem_len, 0, put_done, &p);
    REQUIRE(run_until(base, &p.done, 10) == 0 && p.rc == ZOK);
    cm_zk_free(zk);
    cm_zk_url_cleanup(&url);
    cm_registrar_free(r);

    struct cm_registrar *b = registrar_at(base, url_text);
    REQUIRE(b != NULL);
    CHECK(cm_registrar_count_admitted(b) == 3);
    CHECK(cm_registrar_admitted(b, "9b1f0c3e-5d2a-4e7b-8c6d-2f4a1b3c5d7e-S2") != NULL);
    cm_registrar_free(b);
    event_base_free(base);
}

ITEST_MAIN(TEST(test_registry_50k), TEST(test_registry_legacy))
