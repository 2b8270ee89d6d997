/*
 * itest_registry_file: the file registry written by its writer child (registrar_writer.h), as
 * the master uses it (the storage given an event loop), in-process with a real child and real
 * files in a temp dir:
 *   - a store completes only on the loop, after the bytes are in the file (each callback reads
 *     the file back and finds its agent there);
 *   - operations queued while a store is in flight go into the next store, in order;
 *   - a failed write fails the registrar with the same error as the synchronous storage;
 *   - a dead writer (killed idle, or killed with a store in flight) is reported: the store fails
 *     with -EPIPE, and so does every later one;
 *   - freeing the registrar with a store in flight waits for it: the file holds it, whole;
 *   - the master dying abruptly kills the writer: a store it had not finished leaves the file
 *     at the previous registry.
 */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmesos/registry.pb-c.h"
#include "errors.h"
#include "harness.h"
#include "registrar.h"
#include "registrar_writer.h"

static char g_path[600]; /* the registry file of the running case */

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
        struct timeval tv = {0, 100000}; /* the loop wakes up to look at the deadline */
        event_base_loopexit(base, &tv);
        event_base_loop(base, EVLOOP_ONCE);
    }
    return *flag ? 0 : -1;
}

/* Admitted agents in the file now (-1: unreadable). */
static int agents_in_file(const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char why[600];
    if (cm_registry_file_read(path, &data, &len, why, sizeof why) != 0)
        return -1;
    if (len == 0)
        return 0;
    Cmesos__Internal__Registry *reg = cmesos__internal__registry__unpack(NULL, len, data);
    free(data);
    if (!reg)
        return -1;
    int n = (int)reg->n_agents;
    cmesos__internal__registry__free_unpacked(reg, NULL);
    return n;
}

struct opc {
    int want, count;
    int errs[256];
    int seen_in_file[256]; /* agents in the file when callback i ran */
    bool done;
};

static void op_done(void *arg, int err)
{
    struct opc *c = arg;
    if (c->count < 256) {
        c->errs[c->count] = err;
        c->seen_in_file[c->count] = err ? -2 : agents_in_file(g_path);
    }
    if (++c->count >= c->want)
        c->done = true;
}

static void recovered(void *arg, int err, const char *why)
{
    (void)why;
    *(int *)arg = err;
}

static void admit(struct cm_registrar *r, int i, struct opc *c)
{
    Mesos__V1__AgentInfo info = MESOS__V1__AGENT_INFO__INIT;
    Mesos__V1__AgentID id = MESOS__V1__AGENT_ID__INIT;
    char ids[64], host[64];
    snprintf(ids, sizeof ids, "5e0c1d2a-7f3b-4c8e-9a61-0d2e4f6a8b1c-S%d", i);
    snprintf(host, sizeof host, "node-%d.example.org", i);
    id.value = ids;
    info.id = &id;
    info.hostname = host;
    cm_registrar_admit(r, &info, op_done, c);
}

/* A registrar over the file storage in dir, recovered; with base, given the loop (writer). */
static struct cm_registrar *open_registrar(const char *dir, struct event_base *base,
                                           struct cm_registry_storage **sout)
{
    char why[600];
    struct cm_registry_storage *s = NULL;
    if (cm_registry_storage_new("file", dir, &s, why, sizeof why) != 0) {
        fprintf(stderr, "%s\n", why);
        return NULL;
    }
    struct cm_registrar *r = cm_registrar_new(s);
    if (base)
        cm_registrar_set_loop(r, base);
    int err = 1;
    cm_registrar_recover(r, recovered, &err);
    if (err != 0) {
        cm_registrar_free(r);
        return NULL;
    }
    if (sout)
        *sout = s;
    return r;
}

static void test_store_durable_before_callback_and_coalesced(void)
{
    char dir[512];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(g_path, sizeof g_path, "%s/registry", dir);
    struct event_base *base = event_base_new();
    struct cm_registry_storage *s = NULL;
    struct cm_registrar *r = open_registrar(dir, base, &s);
    REQUIRE(r != NULL);
    REQUIRE(s->writer != NULL);
    CHECK(cm_reg_writer_pid(s->writer) > 0 && cm_reg_writer_pid(s->writer) != getpid());

    /* Store 1 (one agent) is issued at the release; 50 more are queued while it is in flight. */
    struct opc c = {.want = 51};
    cm_registrar_hold(r);
    admit(r, 0, &c);
    cm_registrar_release(r);
    CHECK(cm_reg_writer_busy(s->writer));
    for (int i = 1; i <= 50; i++)
        admit(r, i, &c);
    CHECK_INT(c.count, 0); /* nothing completes outside the loop */
    REQUIRE(run_until(base, &c.done, 20) == 0);
    CHECK_INT(c.count, 51);
    for (int i = 0; i < 51; i++)
        CHECK_INT(c.errs[i], 0);
    /* Durable before the callback: the first saw its agent in the file, the others all 51. */
    CHECK_INT(c.seen_in_file[0], 1);
    CHECK_INT(c.seen_in_file[1], 51);
    CHECK_INT(c.seen_in_file[50], 51);
    /* Two stores: the 50 queued behind the first went into one. */
    struct cm_registrar_stats st;
    cm_registrar_stats(r, &st);
    CHECK_INT(st.version, 2);
    CHECK(st.store_ms > 0);
    cm_registrar_free(r);

    /* A restarted master reads it back (synchronously, no loop). */
    r = open_registrar(dir, NULL, NULL);
    REQUIRE(r != NULL);
    CHECK_INT(cm_registrar_count_admitted(r), 51);
    cm_registrar_free(r);
    event_base_free(base);
}

/* The same failure (the temp file's path is a directory) through the synchronous storage and
 * through the writer: the same error, the registrar failed, later operations failing too. */
static void test_write_error_surfaces_as_before(void)
{
    char dir[512], tmp[700];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(g_path, sizeof g_path, "%s/registry", dir);
    snprintf(tmp, sizeof tmp, "%s/registry.tmp", dir);
    REQUIRE(mkdir(tmp, 0700) == 0);
    int errs[2][2];
    for (int mode = 0; mode < 2; mode++) {
        struct event_base *base = mode ? event_base_new() : NULL;
        struct cm_registry_storage *s = NULL;
        struct cm_registrar *r = open_registrar(dir, base, &s);
        REQUIRE(r != NULL);
        CHECK((s->writer != NULL) == (mode == 1));
        struct opc c = {.want = 1};
        cm_registrar_hold(r);
        admit(r, 0, &c);
        cm_registrar_release(r);
        if (base)
            REQUIRE(run_until(base, &c.done, 10) == 0);
        CHECK_INT(c.count, 1);
        CHECK(cm_registrar_failed(r));
        admit(r, 1, &c); /* after the failure: fails at once */
        CHECK_INT(c.count, 2);
        errs[mode][0] = c.errs[0];
        errs[mode][1] = c.errs[1];
        cm_registrar_free(r);
        if (base)
            event_base_free(base);
    }
    CHECK_INT(errs[0][0], -EISDIR);
    CHECK_INT(errs[1][0], errs[0][0]);
    CHECK_INT(errs[1][1], errs[0][1]);
    CHECK(errs[1][1] < 0);
}

static void test_writer_killed_idle(void)
{
    char dir[512];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(g_path, sizeof g_path, "%s/registry", dir);
    struct event_base *base = event_base_new();
    struct cm_registry_storage *s = NULL;
    struct cm_registrar *r = open_registrar(dir, base, &s);
    REQUIRE(r != NULL && s->writer != NULL);
    struct opc c = {.want = 1};
    admit(r, 0, &c);
    REQUIRE(run_until(base, &c.done, 10) == 0);
    CHECK_INT(c.errs[0], 0);

    REQUIRE(kill(cm_reg_writer_pid(s->writer), SIGKILL) == 0);
    /* Seen on the loop with no store in flight. */
    double deadline = now_s() + 5;
    while (!cm_reg_writer_dead(s->writer) && now_s() < deadline)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    CHECK(cm_reg_writer_dead(s->writer));
    struct opc d = {.want = 1};
    admit(r, 1, &d);
    REQUIRE(run_until(base, &d.done, 5) == 0);
    CHECK_INT(d.errs[0], -EPIPE);
    CHECK(cm_registrar_failed(r));
    cm_registrar_free(r);
    CHECK_INT(agents_in_file(g_path), 1); /* what was acknowledged is still there */
    event_base_free(base);
}

static void test_writer_killed_in_flight(void)
{
    char dir[512];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(g_path, sizeof g_path, "%s/registry", dir);
    struct event_base *base = event_base_new();
    struct cm_registry_storage *s = NULL;
    struct cm_registrar *r = open_registrar(dir, base, &s);
    REQUIRE(r != NULL && s->writer != NULL);
    pid_t pid = cm_reg_writer_pid(s->writer);
    REQUIRE(kill(pid, SIGSTOP) == 0); /* the store below stays in flight */
    struct opc c = {.want = 2};
    cm_registrar_hold(r);
    admit(r, 0, &c);
    cm_registrar_release(r);
    admit(r, 1, &c); /* queued behind it */
    itest_loop_for(base, 0.1);
    CHECK_INT(c.count, 0);
    REQUIRE(kill(pid, SIGKILL) == 0);
    REQUIRE(run_until(base, &c.done, 5) == 0);
    CHECK_INT(c.errs[0], -EPIPE);
    CHECK(c.errs[1] < 0);
    CHECK(cm_registrar_failed(r));
    cm_registrar_free(r);
    event_base_free(base);
}

/* Shutdown with a store in flight (the master's cm_master_free): abort, free; free waits. */
static void test_free_waits_for_store(void)
{
    char dir[512];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(g_path, sizeof g_path, "%s/registry", dir);
    struct event_base *base = event_base_new();
    struct cm_registry_storage *s = NULL;
    struct cm_registrar *r = open_registrar(dir, base, &s);
    REQUIRE(r != NULL && s->writer != NULL);
    struct opc c = {.want = 2000};
    cm_registrar_hold(r);
    for (int i = 0; i < 2000; i++)
        admit(r, i, &c);
    cm_registrar_release(r);
    CHECK(cm_reg_writer_busy(s->writer));
    cm_registrar_abort(r, CM_ECLOSED);
    CHECK_INT(c.count, 2000);
    CHECK_INT(c.errs[0], CM_ECLOSED);
    cm_registrar_free(r);
    /* The writer had the store: it finished it before exiting, whole. */
    CHECK_INT(agents_in_file(g_path), 2000);
    struct stat st;
    CHECK(stat(g_path, &st) == 0);
    event_base_free(base);
}

/* True while pid runs (a zombie nobody reaped yet counts as gone). */
static bool running(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* The shared buffer follows the registry's size: it grows, shrinks (the memory given back) and
 * grows past its old mapping again, and every store reads back whole. */
static void test_registry_grows_and_shrinks(void)
{
    char dir[512];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(g_path, sizeof g_path, "%s/registry", dir);
    struct event_base *base = event_base_new();
    struct cm_registry_storage *s = NULL;
    struct cm_registrar *r = open_registrar(dir, base, &s);
    REQUIRE(r != NULL && s->writer != NULL);
    const int steps[][2] = {{0, 2000}, {-1, 1990}, {2000, 6000}, {-1, 4000}, {6000, 6001}};
    int expect = 0;
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        struct opc c = {0};
        cm_registrar_hold(r);
        if (steps[k][0] >= 0) {
            c.want = steps[k][1] - steps[k][0];
            for (int i = steps[k][0]; i < steps[k][1]; i++)
                admit(r, i, &c);
            expect += c.want;
        } else {
            /* Remove all but the last ten admitted. */
            int n = 0;
            char ids[64];
            for (int i = 0; i < 6001; i++) {
                snprintf(ids, sizeof ids, "5e0c1d2a-7f3b-4c8e-9a61-0d2e4f6a8b1c-S%d", i);
                if (cm_registrar_admitted(r, ids) && n < steps[k][1]) {
                    cm_registrar_remove(r, ids, op_done, &c);
                    n++;
                }
            }
            c.want = n;
            expect -= n;
        }
        cm_registrar_release(r);
        REQUIRE(run_until(base, &c.done, 20) == 0);
        for (int i = 0; i < c.count && i < 256; i++)
            CHECK_INT(c.errs[i], 0);
        CHECK_INT(agents_in_file(g_path), expect);
    }
    CHECK_INT(expect, 11);
    cm_registrar_free(r);
    event_base_free(base);
}

/* A "master" process that stores one agent, then issues a second store its (stopped) writer
 * cannot finish, and is killed: the writer dies with it and the file keeps the first store. */
static void test_master_killed_writer_follows(void)
{
    char dir[512];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(g_path, sizeof g_path, "%s/registry", dir);
    int pfd[2];
    REQUIRE(pipe(pfd) == 0);
    pid_t m = fork();
    REQUIRE(m >= 0);
    if (m == 0) {
        close(pfd[0]);
        struct event_base *base = event_base_new();
        struct cm_registry_storage *s = NULL;
        struct cm_registrar *r = open_registrar(dir, base, &s);
        if (!r || !s->writer)
            _exit(1);
        struct opc c = {.want = 1};
        admit(r, 0, &c);
        if (run_until(base, &c.done, 10) != 0 || c.errs[0] != 0)
            _exit(1);
        pid_t w = cm_reg_writer_pid(s->writer);
        kill(w, SIGSTOP);
        struct opc d = {.want = 1};
        cm_registrar_hold(r);
        admit(r, 1, &d);
        cm_registrar_release(r);
        if (write(pfd[1], &w, sizeof w) != (ssize_t)sizeof w)
            _exit(1);
        pause();
        _exit(0);
    }
    close(pfd[1]);
    pid_t w = 0;
    ssize_t n = read(pfd[0], &w, sizeof w);
    close(pfd[0]);
    REQUIRE(n == (ssize_t)sizeof w && w > 0);
    kill(m, SIGKILL);
    int status = 0;
    waitpid(m, &status, 0);
    /* PR_SET_PDEATHSIG: the stopped writer is killed too (SIGKILL ends a stopped process). */
    double deadline = now_s() + 5;
    while (running(w) && now_s() < deadline) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    CHECK(!running(w));
    CHECK_INT(agents_in_file(g_path), 1);
}

ITEST_MAIN(TEST(test_store_durable_before_callback_and_coalesced),
           TEST(test_write_error_surfaces_as_before), TEST(test_writer_killed_idle),
           TEST(test_writer_killed_in_flight), TEST(test_free_waits_for_store),
           TEST(test_master_killed_writer_follows), TEST(test_registry_grows_and_shrinks))
