/*
 * bench-state_stall: how long /master/state (and /master/slaves, /master/frameworks) take at
 * scale, and how long the master's event loop stalls while it serves them.
 *
 * One process hosts a real master (its HTTP edge on 127.0.0.1, an ephemeral port, the
 * in-memory registry) filled through the core seam: A agents registered with REGISTER calls
 * (callback sinks instead of streams), F frameworks subscribed, and T tasks spread over the
 * agents and frameworks (cm_master_add_task + a TASK_RUNNING status each, so every task has a
 * status history). A client thread GETs each endpoint over a socket and reads the whole body;
 * meanwhile a loop probe (loop_probe.h, 1 ms timer) on the master's loop records how late its
 * timer fires: the longest stall is the longest time the master could not serve anyone else.
 * Each endpoint is fetched streamed (the default) and in one piece (?jsonp=cb, the one-piece
 * builder), and the two bodies are compared byte for byte.
 *
 * Usage: bench-state_stall [agents] [tasks] [frameworks] [--churn] [--only=PATH]  (defaults
 * 10000 100000 10). --repeat=N serves the measured endpoint(s) N times (for profiling and for
 * a less noisy figure: compare the lowest). --churn removes frameworks and agents while each body
 * is written (see on_churn); --only measures one endpoint; --streamed skips the one-piece replies.
 * "master CPU" is the CPU time of the master's thread while a reply is served (its loop: the
 * serving and the probe), which the machine's load does not inflate as it does the wall-clock time.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent_link.h"
#include "clock.h"
#include "log.h"
#include "loop_probe.h"
#include "master.h"
#include "master_http.h"
#include "registrar.h"
#include "scheduler_calls.h"

#include "http_fetch.h"
#include "master_fill.h"

static void die(const char *what)
{
    fprintf(stderr, "bench-state_stall: %s\n", what);
    exit(1);
}

/* ---- the client ---- */

/* Fetches path while the loop runs; fills *f (bench_fetch_cleanup frees it) and *st. */
static void fetch(struct cm_master *m, struct cm_loop_probe *probe, const char *path,
                  struct bench_fetch *f, struct cm_loop_probe_stats *st)
{
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n", path);
    memset(f, 0, sizeof *f);
    f->port = m->port;
    f->request = req;
    bench_fetch_run(m->base, probe, f, st);
    f->request = NULL;
}

/* --churn: while a body is written, the state it describes goes away under it: every 2 ms
 * one framework is torn down (its tasks killed and completed) and one agent removed. The body
 * must still be complete JSON (and, under ASan, nothing may be touched after it is freed). */
struct churn {
    struct cm_master *m;
    struct event *ev;
    size_t fws, agents;
};

static void on_churn(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct churn *c = arg;
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &c->m->frameworks);
    if (cm_strmap_iter_next(&it)) {
        cm_master_remove_framework(c->m, it.cur->value);
        c->fws++;
    }
    cm_strmap_iter_init(&it, &c->m->agents);
    if (cm_strmap_iter_next(&it)) {
        cm_master_remove_agent(c->m, it.cur->value);
        c->agents++;
    }
}

static void churn_fetch(struct cm_master *m, struct cm_loop_probe *probe, const char *path)
{
    struct churn c = {.m = m};
    c.ev = event_new(m->base, -1, EV_PERSIST, on_churn, &c);
    struct timeval tv = {0, 2000};
    event_add(c.ev, &tv);
    struct bench_fetch f;
    struct cm_loop_probe_stats st;
    fetch(m, probe, path, &f, &st);
    event_free(c.ev);
    json_error_t err;
    json_t *j = json_loadb(f.body, f.len, 0, &err);
    printf("%-20s with churn: %4d %6.1f MB in %7.1f ms while %zu frameworks and %zu agents went "
           "away; body is JSON: %s\n",
           path, f.status, (double)f.len / 1e6, f.secs * 1e3, c.fws, c.agents,
           j ? "yes" : err.text);
    json_decref(j);
    bench_fetch_cleanup(&f);
}

/* streamed_only (--streamed): the streamed reply alone (for profiling it). */
static void measure(struct cm_master *m, struct cm_loop_probe *probe, const char *path,
                    bool streamed_only)
{
    struct bench_fetch a, b;
    struct cm_loop_probe_stats sa, sb;
    char jp[300];
    snprintf(jp, sizeof jp, "%s%sjsonp=cb", path, strchr(path, '?') ? "&" : "?");
    fetch(m, probe, path, &a, &sa);
    if (streamed_only) {
        printf("%-20s streamed : %4d %6.1f MB in %7.1f ms (master CPU %6.1f ms, sys %5.1f), loop "
               "stall max %6.1f ms (self %6.1f)\n",
               path, a.status, (double)a.len / 1e6, a.secs * 1e3, a.cpu * 1e3, a.sys * 1e3,
               sa.max_stall * 1e3, sa.have_self ? sa.max_self * 1e3 : -1.0);
        fflush(stdout);
        bench_fetch_cleanup(&a);
        return;
    }
    fetch(m, probe, jp, &b, &sb);
    bool same = b.len == a.len + 4 && memcmp(b.body + 3, a.body, a.len) == 0;
    printf("%-20s streamed : %4d %6.1f MB in %7.1f ms (master CPU %6.1f ms), loop stall max %6.1f "
           "ms (self %6.1f), p99 %5.1f ms, >50ms: %llu\n",
           path, a.status, (double)a.len / 1e6, a.secs * 1e3, a.cpu * 1e3, sa.max_stall * 1e3,
           sa.have_self ? sa.max_self * 1e3 : -1.0, sa.p99 * 1e3, (unsigned long long)sa.over[3]);
    printf("%-20s one piece: %4d %6.1f MB in %7.1f ms (master CPU %6.1f ms), loop stall max %6.1f "
           "ms (self %6.1f)    body identical: %s\n",
           path, b.status, (double)b.len / 1e6, b.secs * 1e3, b.cpu * 1e3, sb.max_stall * 1e3,
           sb.have_self ? sb.max_self * 1e3 : -1.0, same ? "yes" : "NO");
    bench_fetch_cleanup(&a);
    bench_fetch_cleanup(&b);
}

int main(int argc, char **argv)
{
    int nagents = argc > 1 ? atoi(argv[1]) : 10000;
    int ntasks = argc > 2 ? atoi(argv[2]) : 100000;
    int nfw = argc > 3 ? atoi(argv[3]) : 10;
    bool churn = false, streamed_only = false;
    int repeat = 1;
    const char *only = NULL; /* --only=PATH: that endpoint alone */
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--churn") == 0)
            churn = true;
        else if (strcmp(argv[i], "--streamed") == 0)
            streamed_only = true;
        else if (strncmp(argv[i], "--only=", 7) == 0)
            only = argv[i] + 7;
        else if (strncmp(argv[i], "--repeat=", 9) == 0)
            repeat = atoi(argv[i] + 9);
    }
    if (nagents <= 0 || ntasks < 0 || nfw <= 0 || repeat <= 0) {
        fprintf(stderr,
                "usage: %s [agents] [tasks] [frameworks] [--churn] [--only=PATH] [--streamed] "
                "[--repeat=N]\n",
                argv[0]);
        return 2;
    }
    cm_log_set_level(CM_LOG_WARNING);
    char dir[] = "/tmp/bench-state-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp");
    char workdir[300];
    snprintf(workdir, sizeof workdir, "--work_dir=%s", dir);
    char *fargv[] = {"mesos-master",
                     "--ip=127.0.0.1",
                     "--port=0",
                     workdir,
                     "--registry=in_memory",
                     "--allocation_interval=1000secs",
                     NULL};
    struct cm_master_flags flags;
    char why[512];
    cm_master_flags_init(&flags);
    if (cm_master_flags_parse(&flags, 6, fargv, why, sizeof why))
        die(why);
    struct event_base *base = event_base_new();
    struct cm_master *m = cm_master_new(base, &flags);
    if (!m || cm_master_http_start(m) != 0)
        die("master start");
    fill_cluster(m, base, "bench-state_stall", nagents, nfw, ntasks);
    struct cm_loop_probe *probe = cm_loop_probe_new(base, 0.001);
    if (churn && only) {
        churn_fetch(m, probe, only);
        goto done;
    }
    if (churn) {
        churn_fetch(m, probe, "/master/state");
        churn_fetch(m, probe, "/master/frameworks");
        churn_fetch(m, probe, "/master/state-summary");
        churn_fetch(m, probe, "/master/tasks?limit=1000000&order=asc");
        churn_fetch(m, probe, "/master/slaves");
        goto done;
    }
    for (int r = 0; r < repeat; r++) {
        if (only) {
            measure(m, probe, only, streamed_only);
            continue;
        }
        measure(m, probe, "/master/state", streamed_only);
        measure(m, probe, "/master/slaves", streamed_only);
        measure(m, probe, "/master/frameworks", streamed_only);
        measure(m, probe, "/master/state-summary", streamed_only);
        measure(m, probe, "/master/tasks", streamed_only);
        measure(m, probe, "/master/tasks?limit=1000000", streamed_only);
        measure(m, probe, "/master/tasks?order=asc&offset=1000&limit=500", streamed_only);
    }
done:
    cm_loop_probe_free(probe);
    cm_master_free(m);
    event_base_free(base);
    cm_master_flags_cleanup(&flags);
    char rm[400];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (system(rm) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
