/*
 * itest_zk: leader election and detection against a real ZooKeeper server (docs/wire-protocol.md
 * §8), driving src/common's contender/detector on an event loop in this process (and, for the kill
 * -9 case, in a forked child). Skips (77) when ZooKeeper is not installed.
 */
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_zk.h"
#include "leader.h"
#include "log.h"
#include "zk.h"

static struct event_base *base;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop in 20 ms slices until pred(arg) holds or timeout_ms passes. */
static bool run_until(bool (*pred)(void *), void *arg, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (pred && pred(arg))
            return true;
        if (now_ms() >= deadline)
            return false;
        struct timeval tv = {0, 20000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
}

static void run_for(int ms)
{
    run_until(NULL, NULL, ms);
}

/* ---- contenders and detectors with counters ---------------------------------------------- */

struct cont {
    struct cm_leader_contender *c;
    char id[64];
    int elected_events, lost_events;
    bool elected;
};

static void on_elected(void *arg, bool elected)
{
    struct cont *k = arg;
    k->elected = elected;
    if (elected)
        k->elected_events++;
    else
        k->lost_events++;
    fprintf(stderr, "[test] %s %s\n", k->id, elected ? "elected" : "lost leadership");
}

static int cont_start(struct cont *k, const struct cm_zk_url *url, double timeout, const char *id,
                      uint16_t port)
{
    memset(k, 0, sizeof *k);
    snprintf(k->id, sizeof k->id, "%s", id);
    Mesos__V1__MasterInfo *mi = cm_leader_master_info_new(id, "127.0.0.1", port, "localhost", NULL);
    k->c = cm_leader_contender_zk_new(base, url, timeout, mi, on_elected, k);
    protobuf_c_message_free_unpacked(&mi->base, NULL);
    if (!k->c)
        return -1;
    return cm_leader_contender_start(k->c);
}

static void cont_stop(struct cont *k)
{
    cm_leader_contender_free(k->c);
    k->c = NULL;
    k->elected = false;
}

struct det {
    struct cm_leader_detector *d;
    int changes;
    char leader[64]; /* "" = none */
};

static void on_detected(void *arg, const Mesos__V1__MasterInfo *mi)
{
    struct det *t = arg;
    t->changes++;
    snprintf(t->leader, sizeof t->leader, "%s", mi ? mi->id : "");
    fprintf(stderr, "[test] detector: leader %s\n", mi ? mi->id : "(none)");
}

static int det_start(struct det *t, const struct cm_zk_url *url, double timeout)
{
    memset(t, 0, sizeof *t);
    t->d = cm_leader_detector_zk_new(base, url, timeout, on_detected, t);
    if (!t->d)
        return -1;
    return cm_leader_detector_start(t->d);
}

struct world {
    struct cont *conts;
    size_t n;
    struct det *det;
    const char *want; /* detector's expected leader id, or NULL for any */
};

static int n_elected(const struct world *w, size_t *which)
{
    int n = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (w->conts[i].c && w->conts[i].elected) {
            n++;
            if (which)
                *which = i;
        }
    }
    return n;
}

/* Exactly one elected, and the detector (if any) names it. */
static bool one_leader(void *arg)
{
    struct world *w = arg;
    size_t i = 0;
    if (n_elected(w, &i) != 1)
        return false;
    if (w->det && strcmp(w->det->leader, w->conts[i].id) != 0)
        return false;
    return !w->want || strcmp(w->conts[i].id, w->want) == 0;
}

/* ---- a plain ZooKeeper client for looking at what the product wrote ------------------------ */

struct probe {
    struct cm_zk *zk;
    bool connected;
    bool done;
    int rc;
    char *data;
    size_t len;
    struct Stat stat;
    char **children;
    size_t n;
};

static void probe_session(struct cm_zk *zk, enum cm_zk_session_event ev, void *arg)
{
    (void)zk;
    struct probe *p = arg;
    p->connected = ev == CM_ZK_CONNECTED || ev == CM_ZK_RECONNECTED;
}

static bool probe_connected(void *arg)
{
    return ((struct probe *)arg)->connected;
}

static bool probe_done(void *arg)
{
    return ((struct probe *)arg)->done;
}

static void probe_reset(struct probe *p)
{
    free(p->data);
    p->data = NULL;
    for (size_t i = 0; i < p->n; i++)
        free(p->children[i]);
    free(p->children);
    p->children = NULL;
    p->n = 0;
    p->done = false;
    p->rc = 0;
    memset(&p->stat, 0, sizeof p->stat);
}

static void probe_cb(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    (void)zk;
    struct probe *p = arg;
    p->done = true;
    p->rc = res->rc;
    if (res->data) {
        p->data = malloc(res->len + 1);
        memcpy(p->data, res->data, res->len);
        p->data[res->len] = '\0';
        p->len = res->len;
    }
    if (res->stat)
        p->stat = *res->stat;
    if (res->n_children) {
        p->children = calloc(res->n_children, sizeof *p->children);
        for (size_t i = 0; i < res->n_children; i++)
            p->children[i] = strdup(res->children[i]);
        p->n = res->n_children;
    }
}

static int probe_open(struct probe *p, const struct cm_zk_url *url)
{
    memset(p, 0, sizeof *p);
    p->zk = cm_zk_new(base, url, 5, probe_session, p);
    if (!p->zk || !run_until(probe_connected, p, 10000))
        return -1;
    return 0;
}

static void probe_close(struct probe *p)
{
    probe_reset(p);
    cm_zk_free(p->zk);
    p->zk = NULL;
}

static int probe_wait(struct probe *p)
{
    if (!run_until(probe_done, p, 10000)) {
        fprintf(stderr, "[test] ZooKeeper request timed out\n");
        return -ETIMEDOUT;
    }
    return p->rc;
}

static int probe_children(struct probe *p, const char *path)
{
    probe_reset(p);
    cm_zk_children(p->zk, path, NULL, NULL, probe_cb, p);
    return probe_wait(p);
}

static int probe_get(struct probe *p, const char *path)
{
    probe_reset(p);
    cm_zk_get(p->zk, path, NULL, NULL, probe_cb, p);
    return probe_wait(p);
}

static int probe_create(struct probe *p, const char *path, const void *data, size_t len)
{
    probe_reset(p);
    cm_zk_create(p->zk, path, data, len, 0, probe_cb, p);
    return probe_wait(p);
}

static int probe_ensure(struct probe *p, const char *path)
{
    probe_reset(p);
    cm_zk_ensure_path(p->zk, path, probe_cb, p);
    return probe_wait(p);
}

static int probe_delete(struct probe *p, const char *path)
{
    probe_reset(p);
    cm_zk_delete(p->zk, path, -1, probe_cb, p);
    return probe_wait(p);
}

static int start_zk(struct itest_zk *z, const char *path, struct cm_zk_url *url)
{
    memset(z, 0, sizeof *z);
    if (itest_zk_start(z) != 0)
        return -1;
    char text[256], why[256];
    itest_zk_url(z, path, text, sizeof text);
    if (cm_zk_url_parse(text, url, why, sizeof why) != 0) {
        fprintf(stderr, "[test] %s\n", why);
        return -1;
    }
    return 0;
}

/* ---- cases ------------------------------------------------------------------------------- */

static void test_elect_two_then_three(void)
{
    struct itest_zk z;
    struct cm_zk_url url;
    REQUIRE(start_zk(&z, "/mesos/elect", &url) == 0);
    struct cont k[3];
    struct det t;
    memset(k, 0, sizeof k);
    REQUIRE(det_start(&t, &url, 4) == 0);
    REQUIRE(cont_start(&k[0], &url, 4, "m0", 5050) == 0);
    REQUIRE(cont_start(&k[1], &url, 4, "m1", 5051) == 0);
    struct world w = {k, 2, &t, NULL};
    CHECK(run_until(one_leader, &w, 10000));
    run_for(500);
    size_t leader = 9;
    CHECK_INT(n_elected(&w, &leader), 1);
    REQUIRE(leader < 2);
    CHECK(strcmp(t.leader, k[leader].id) == 0);
    CHECK_INT(t.changes, 1);
    /* The standby knows who leads (for its 307 redirects). */
    const Mesos__V1__MasterInfo *seen = cm_leader_contender_leader(k[1 - leader].c);
    CHECK(seen && strcmp(seen->id, k[leader].id) == 0);

    REQUIRE(cont_start(&k[2], &url, 4, "m2", 5052) == 0);
    w.n = 3;
    run_for(1000);
    CHECK(cm_leader_contender_znode(k[2].c) != NULL);
    size_t again = 9;
    CHECK_INT(n_elected(&w, &again), 1);
    CHECK_INT(again, leader);
    CHECK_INT(t.changes, 1);
    CHECK_INT(k[2].elected_events, 0);

    /* Exactly three election nodes, nothing else; the leader's is the lowest. */
    struct probe p;
    REQUIRE(probe_open(&p, &url) == 0);
    CHECK_INT(probe_children(&p, "/mesos/elect"), ZOK);
    CHECK_INT(p.n, 3);
    char lowest[64] = "zzz";
    for (size_t i = 0; i < p.n; i++) {
        uint64_t seq;
        bool legacy = true;
        CHECK(strlen(p.children[i]) == strlen("json.info_") + 10);
        CHECK(cm_leader_znode_sequence(p.children[i], &seq, &legacy) && !legacy);
        if (strcmp(p.children[i], lowest) < 0)
            snprintf(lowest, sizeof lowest, "%s", p.children[i]);
    }
    const char *own = cm_leader_contender_znode(k[leader].c);
    REQUIRE(own);
    CHECK(strcmp(strrchr(own, '/') + 1, lowest) == 0);
    probe_close(&p);
    for (size_t i = 0; i < 3; i++)
        cont_stop(&k[i]);
    cm_leader_detector_free(t.d);
    cm_zk_url_cleanup(&url);
}

static bool key_is(json_t *o, const char *key, json_type type)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_typeof(v) != type) {
        fprintf(stderr, "[test] key %s missing or of the wrong type\n", key);
        return false;
    }
    return true;
}

static void test_znode_json(void)
{
    struct itest_zk z;
    struct cm_zk_url url;
    REQUIRE(start_zk(&z, "/mesos", &url) == 0);
    struct cont k;
    REQUIRE(cont_start(&k, &url, 4, "6b9f1f3c-0000-4000-8000-000000000001", 5050) == 0);
    struct world w = {&k, 1, NULL, NULL};
    REQUIRE(run_until(one_leader, &w, 10000));
    const char *path = cm_leader_contender_znode(k.c);
    REQUIRE(path);
    CHECK(strncmp(path, "/mesos/json.info_", 17) == 0 && strlen(path) == 17 + 10);

    struct probe p;
    REQUIRE(probe_open(&p, &url) == 0);
    REQUIRE(probe_get(&p, path) == ZOK);
    CHECK(p.stat.ephemeralOwner != 0);
    fprintf(stderr, "[test] znode data: %s\n", p.data ? p.data : "(none)");
    json_error_t err;
    json_t *j = p.data ? json_loadb(p.data, p.len, 0, &err) : NULL;
    REQUIRE(j && json_is_object(j));
    /* Exactly the docs/wire-protocol.md §8 field names, with their types. */
    static const char *keys[] = {"address", "capabilities", "hostname", "id",
                                 "ip",      "pid",          "port",     "version"};
    CHECK_INT(json_object_size(j), 8);
    for (size_t i = 0; i < 8; i++)
        CHECK(json_object_get(j, keys[i]) != NULL);
    CHECK(key_is(j, "id", JSON_STRING));
    CHECK(key_is(j, "ip", JSON_INTEGER));
    CHECK(key_is(j, "port", JSON_INTEGER));
    CHECK(key_is(j, "pid", JSON_STRING));
    CHECK(key_is(j, "hostname", JSON_STRING));
    CHECK(key_is(j, "version", JSON_STRING));
    CHECK(key_is(j, "address", JSON_OBJECT));
    CHECK(key_is(j, "capabilities", JSON_ARRAY));
    CHECK_STR(json_string_value(json_object_get(j, "id")), "6b9f1f3c-0000-4000-8000-000000000001");
    CHECK_INT(json_integer_value(json_object_get(j, "ip")), 16777343); /* 127.0.0.1 */
    CHECK_INT(json_integer_value(json_object_get(j, "port")), 5050);
    CHECK_STR(json_string_value(json_object_get(j, "pid")), "master@127.0.0.1:5050");
    CHECK_STR(json_string_value(json_object_get(j, "hostname")), "localhost");
    CHECK_STR(json_string_value(json_object_get(j, "version")), CMESOS_VERSION);
    json_t *a = json_object_get(j, "address");
    CHECK_INT(json_object_size(a), 3);
    CHECK(key_is(a, "hostname", JSON_STRING));
    CHECK(key_is(a, "ip", JSON_STRING));
    CHECK(key_is(a, "port", JSON_INTEGER));
    CHECK_STR(json_string_value(json_object_get(a, "ip")), "127.0.0.1");
    CHECK_INT(json_integer_value(json_object_get(a, "port")), 5050);
    json_t *caps = json_object_get(j, "capabilities");
    static const char *types[] = {"AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"};
    CHECK_INT(json_array_size(caps), 3);
    for (size_t i = 0; i < 3 && i < json_array_size(caps); i++) {
        json_t *c = json_array_get(caps, i);
        CHECK(json_is_object(c) && json_object_size(c) == 1);
        CHECK_STR(json_string_value(json_object_get(c, "type")), types[i]);
    }
    json_decref(j);
    /* The group node is persistent with empty data. */
    REQUIRE(probe_get(&p, "/mesos") == ZOK);
    CHECK_INT(p.stat.ephemeralOwner, 0);
    CHECK_INT(p.stat.dataLength, 0);
    probe_close(&p);
    cont_stop(&k);
    cm_zk_url_cleanup(&url);
}

static void test_failover_on_close(void)
{
    struct itest_zk z;
    struct cm_zk_url url;
    REQUIRE(start_zk(&z, "/mesos", &url) == 0);
    struct cont k[2];
    struct det t;
    memset(k, 0, sizeof k);
    REQUIRE(det_start(&t, &url, 2) == 0);
    REQUIRE(cont_start(&k[0], &url, 2, "a", 5050) == 0);
    struct world w0 = {k, 1, &t, "a"};
    REQUIRE(run_until(one_leader, &w0, 10000));
    REQUIRE(cont_start(&k[1], &url, 2, "b", 5051) == 0);
    run_for(500);
    struct world w = {k, 2, &t, "a"};
    CHECK(one_leader(&w));
    long long t0 = now_ms();
    cont_stop(&k[0]); /* closes the session: the node goes at once */
    w.want = "b";
    CHECK(run_until(one_leader, &w, 4000));
    long long took = now_ms() - t0;
    fprintf(stderr, "[test] failover after a closed session took %lld ms\n", took);
    CHECK(took < 2000);
    CHECK_INT(k[1].elected_events, 1);
    CHECK_STR(t.leader, "b");
    /* The last contender leaves: the detector reports no leader. */
    cont_stop(&k[1]);
    run_for(1000);
    CHECK_STR(t.leader, "");
    cm_leader_detector_free(t.d);
    cm_zk_url_cleanup(&url);
}

/* The leader runs in a child process that is killed with SIGKILL: its session ends only by
 * expiry on the server, after the session timeout. */
static void test_failover_on_kill(void)
{
    struct itest_zk z;
    struct cm_zk_url url;
    REQUIRE(start_zk(&z, "/mesos", &url) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        /* No ZooKeeper threads exist in the parent at this point, so the fork is clean. */
        event_base_free(base);
        base = event_base_new();
        struct cont k;
        if (cont_start(&k, &url, 2, "child", 5050) != 0)
            _exit(2);
        event_base_dispatch(base);
        _exit(3);
    }
    struct det t;
    struct cont k;
    REQUIRE(det_start(&t, &url, 2) == 0);
    bool child_leads = false;
    for (int i = 0; i < 500 && !child_leads; i++) {
        run_for(20);
        child_leads = strcmp(t.leader, "child") == 0;
    }
    CHECK(child_leads);
    if (!child_leads) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        cm_leader_detector_free(t.d);
        cm_zk_url_cleanup(&url);
        return;
    }
    REQUIRE(cont_start(&k, &url, 2, "b", 5051) == 0);
    run_for(500);
    CHECK(!k.elected);
    long long t0 = now_ms();
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    struct world w = {&k, 1, &t, "b"};
    CHECK(run_until(one_leader, &w, 8000));
    long long took = now_ms() - t0;
    fprintf(stderr, "[test] failover after kill -9 of the leader took %lld ms (session 2 s)\n",
            took);
    CHECK(took < 2 * 2000 + 1000);
    CHECK_STR(t.leader, "b");
    cont_stop(&k);
    cm_leader_detector_free(t.d);
    cm_zk_url_cleanup(&url);
}

static bool file_has(const char *path, const char *needle)
{
    char *text = itest_read_file(path, NULL);
    bool found = text && strstr(text, needle);
    free(text);
    return found;
}

static void test_malformed_ignored(void)
{
    struct itest_zk z;
    struct cm_zk_url url, legacy_url;
    REQUIRE(start_zk(&z, "/mesos/bad", &url) == 0);
    char text[256], why[256];
    REQUIRE(cm_zk_url_parse(itest_zk_url(&z, "/mesos/legacy", text, sizeof text), &legacy_url, why,
                            sizeof why) == 0);
    struct probe p;
    REQUIRE(probe_open(&p, &url) == 0);
    REQUIRE(probe_ensure(&p, "/mesos/bad") == ZOK);
    /* Lower sequence numbers than any contender will get, with data that does not parse. */
    CHECK_INT(probe_create(&p, "/mesos/bad/json.info_0000000000", "not json{", 9), ZOK);
    CHECK_INT(probe_create(&p, "/mesos/bad/info_0000000001", "\xff\xfe\x01garbage", 10), ZOK);
    CHECK_INT(probe_create(&p, "/mesos/bad/json.info_0000000002", "{\"foo\":1}", 9), ZOK);
    CHECK_INT(probe_create(&p, "/mesos/bad/json.info_0000000003", NULL, 0), ZOK);
    CHECK_INT(probe_create(&p, "/mesos/bad/json.info_garbage", "x", 1), ZOK);
    CHECK_INT(probe_create(&p, "/mesos/bad/log_replicas", NULL, 0), ZOK);

    char logpath[300];
    snprintf(logpath, sizeof logpath, "%s/test.log", z.dir);
    FILE *log = fopen(logpath, "w");
    REQUIRE(log);
    setvbuf(log, NULL, _IOLBF, 0);
    cm_log_set_file(log);
    struct cont k;
    struct det t;
    REQUIRE(det_start(&t, &url, 4) == 0);
    REQUIRE(cont_start(&k, &url, 4, "good", 5050) == 0);
    struct world w = {&k, 1, &t, "good"};
    bool ok = run_until(one_leader, &w, 10000);
    cm_log_set_file(NULL);
    fclose(log);
    CHECK(ok);
    CHECK(file_has(logpath, "Ignoring znode /mesos/bad/json.info_0000000000"));
    CHECK(file_has(logpath, "Ignoring znode /mesos/bad/info_0000000001"));
    CHECK(file_has(logpath, "Ignoring znode /mesos/bad/json.info_0000000002"));
    CHECK(file_has(logpath, "Ignoring znode /mesos/bad/json.info_0000000003"));
    if (cm_test_failures)
        itest_dump_file("test log", logpath, 4000);
    cont_stop(&k);
    cm_leader_detector_free(t.d);

    /* A valid legacy (binary, pre-0.24) node with the lowest sequence leads. */
    REQUIRE(probe_ensure(&p, "/mesos/legacy") == ZOK);
    Mesos__V1__MasterInfo *old =
        cm_leader_master_info_new("legacy-master", "127.0.0.1", 5049, NULL, "0.23.0");
    uint8_t buf[512];
    size_t n = mesos__v1__master_info__pack(old, buf);
    protobuf_c_message_free_unpacked(&old->base, NULL);
    CHECK_INT(probe_create(&p, "/mesos/legacy/info_0000000000", buf, n), ZOK);
    REQUIRE(det_start(&t, &legacy_url, 4) == 0);
    REQUIRE(cont_start(&k, &legacy_url, 4, "new", 5050) == 0);
    run_until(NULL, NULL, 1500);
    CHECK_STR(t.leader, "legacy-master");
    CHECK(!k.elected);
    CHECK_INT(probe_delete(&p, "/mesos/legacy/info_0000000000"), ZOK);
    struct world w2 = {&k, 1, &t, "new"};
    CHECK(run_until(one_leader, &w2, 5000));
    cont_stop(&k);
    cm_leader_detector_free(t.d);
    probe_close(&p);
    cm_zk_url_cleanup(&url);
    cm_zk_url_cleanup(&legacy_url);
}

static void test_zk_restart_keeps_leader(void)
{
    struct itest_zk z;
    struct cm_zk_url url;
    REQUIRE(start_zk(&z, "/mesos", &url) == 0);
    struct cont k[2];
    struct det t;
    memset(k, 0, sizeof k);
    const double timeout = 10; /* the server is down for ~2-4 s (a JVM start) */
    REQUIRE(det_start(&t, &url, timeout) == 0);
    REQUIRE(cont_start(&k[0], &url, timeout, "a", 5050) == 0);
    struct world w0 = {k, 1, &t, "a"};
    REQUIRE(run_until(one_leader, &w0, 10000));
    REQUIRE(cont_start(&k[1], &url, timeout, "b", 5051) == 0);
    run_for(500);
    REQUIRE(cm_leader_contender_znode(k[1].c));
    char znode_a[128], znode_b[128];
    snprintf(znode_a, sizeof znode_a, "%s", cm_leader_contender_znode(k[0].c));
    snprintf(znode_b, sizeof znode_b, "%s", cm_leader_contender_znode(k[1].c));

    long long t0 = now_ms();
    itest_zk_kill(&z);
    run_for(300);
    REQUIRE(itest_zk_start(&z) == 0);
    fprintf(stderr, "[test] ZooKeeper was down for %lld ms\n", now_ms() - t0);
    /* The three clients reconnect to their sessions (an attempt made while the server was
     * still loading waits out the client's connect timeout, 2/3 of the session timeout). */
    bool back = false;
    for (int i = 0; i < 600 && !back; i++) {
        run_for(20);
        back = itest_zk_sessions(&z) >= 3;
    }
    CHECK(back);
    fprintf(stderr, "[test] all sessions back %lld ms after the kill\n", now_ms() - t0);
    run_for(500);

    struct world w = {k, 2, &t, "a"};
    CHECK(one_leader(&w));
    CHECK_INT(k[0].lost_events, 0);
    CHECK_INT(k[0].elected_events, 1);
    CHECK_INT(k[1].elected_events, 0);
    CHECK_INT(t.changes, 1);
    CHECK_STR(cm_leader_contender_znode(k[0].c), znode_a);
    CHECK_STR(cm_leader_contender_znode(k[1].c), znode_b);
    struct probe p;
    REQUIRE(probe_open(&p, &url) == 0);
    CHECK_INT(probe_children(&p, "/mesos"), ZOK);
    CHECK_INT(p.n, 2);
    probe_close(&p);

    /* The sessions and watches are alive after the restart: failover still works. */
    cont_stop(&k[0]);
    w.want = "b";
    CHECK(run_until(one_leader, &w, 5000));
    cont_stop(&k[1]);
    cm_leader_detector_free(t.d);
    cm_zk_url_cleanup(&url);
}

/* Freeing a session with requests still in flight: each round issues creates and frees the
 * session at once. cm_zk_free waits for their answers before closing, so every node exists
 * afterwards and nothing of the requests leaks (the ZooKeeper client itself loses requests
 * closed under it; LeakSanitizer in the ASan build reports them). A callback called after the
 * free would be a use after free (ASan). */
static int free_cb_calls;
static void count_cb(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    (void)zk;
    (void)res;
    (void)arg;
    free_cb_calls++;
}

static void test_free_with_requests_in_flight(void)
{
    struct itest_zk z;
    struct cm_zk_url url;
    REQUIRE(start_zk(&z, "/inflight", &url) == 0);
    enum { ROUNDS = 10, PER = 20 };
    for (int r = 0; r < ROUNDS; r++) {
        struct probe p;
        REQUIRE(probe_open(&p, &url) == 0);
        for (int i = 0; i < PER; i++) {
            char path[96];
            snprintf(path, sizeof path, "/inflight/r%d/n%d", r, i);
            cm_zk_ensure_path(p.zk, path, count_cb, NULL);
        }
        cm_zk_free(p.zk); /* no loop turn since the requests were made */
    }
    CHECK_INT(free_cb_calls, 0);
    struct probe p;
    REQUIRE(probe_open(&p, &url) == 0);
    for (int r = 0; r < ROUNDS; r++) {
        char path[96];
        snprintf(path, sizeof path, "/inflight/r%d", r);
        CHECK_INT(probe_children(&p, path), ZOK);
        CHECK_INT(p.n, PER);
    }
    probe_close(&p);
    cm_zk_url_cleanup(&url);
}

static void setup(void)
{
    itest_zk_require();
    base = event_base_new();
}

static void test_setup(void)
{
    setup();
    CHECK(base != NULL);
}

ITEST_MAIN(TEST(test_setup), TEST(test_elect_two_then_three), TEST(test_znode_json),
           TEST(test_failover_on_close), TEST(test_failover_on_kill), TEST(test_malformed_ignored),
           TEST(test_zk_restart_keeps_leader), TEST(test_free_with_requests_in_flight))
