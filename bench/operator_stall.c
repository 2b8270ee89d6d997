/*
 * bench-operator_stall: how long the operator API's large replies (GET_STATE in JSON and
 * protobuf, GET_TASKS, and SUBSCRIBE's SUBSCRIBED event) take at scale, and how long the
 * master's event loop stalls while it serves them.
 *
 * One process hosts a real master (its HTTP edge on 127.0.0.1, an ephemeral port, the
 * in-memory registry) filled through the core seam as bench-state_stall fills it: A agents,
 * F frameworks, T tasks each with a TASK_RUNNING status. A client thread POSTs the call to
 * /api/v1 over a socket and reads the whole reply (for SUBSCRIBE: the first record); meanwhile
 * a loop probe (loop_probe.h, 1 ms timer) on the master's loop records how late its timer
 * fires. Each call is served in slices (the default) and in one piece (the operator's
 * one_piece seam, the builders of operator_state.c at once), and the two bodies are compared
 * byte for byte. "master CPU" is the CPU time of the master's thread while the reply is
 * served.
 *
 * Usage: bench-operator_stall [agents] [tasks] [frameworks] [--sliced]  (defaults 10000 100000
 * 10; --sliced skips the one-piece replies).
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent_link.h"
#include "clock.h"
#include "log.h"
#include "loop_probe.h"
#include "master.h"
#include "master_http.h"
#include "operator.h"
#include "registrar.h"
#include "scheduler_calls.h"

#include "http_fetch.h"
#include "master_fill.h"

static void die(const char *what)
{
    fprintf(stderr, "bench-operator_stall: %s\n", what);
    exit(1);
}

/* ---- the client ---- */

/* What a call's reply came to. */
struct result {
    int status;
    uint64_t hash; /* FNV-1a of the de-chunked body (SUBSCRIBE: of the first record) */
    size_t len;
    double secs, cpu;
};

/* SUBSCRIBE: whether b[0, n) (raw, chunked) holds the whole first record. */
static bool have_record(const char *buf, size_t n)
{
    const char *h = memmem(buf, n, "\r\n\r\n", 4);
    if (!h)
        return false;
    size_t off = (size_t)(h + 4 - buf);
    char *copy = malloc(n - off + 1);
    memcpy(copy, buf + off, n - off);
    size_t k = bench_dechunk(copy, n - off);
    bool ok = false;
    char *nl = memchr(copy, '\n', k);
    if (nl)
        ok = (size_t)(nl + 1 - copy) + strtoull(copy, NULL, 10) <= k;
    free(copy);
    return ok;
}

/* POSTs body to /api/v1 asking for media while the loop runs (first_record: SUBSCRIBE, the
 * first RecordIO record only, as events may follow it); fills *r and *st. */
static void fetch(struct cm_master *m, struct cm_loop_probe *probe, const char *body,
                  const char *media, bool first_record, struct result *r,
                  struct cm_loop_probe_stats *st)
{
    char req[1024];
    snprintf(req, sizeof req,
             "POST /api/v1 HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
             "Content-Type: application/json\r\nAccept: %s\r\nContent-Length: %zu\r\n\r\n%s",
             media, strlen(body), body);
    struct bench_fetch f = {
        .port = m->port, .request = req, .enough = first_record ? have_record : NULL};
    bench_fetch_run(m->base, probe, &f, st);
    size_t blen = f.len;
    if (first_record) {
        char *nl = memchr(f.body, '\n', blen);
        size_t rlen = nl ? (size_t)(nl + 1 - f.body) + strtoull(f.body, NULL, 10) : 0;
        if (rlen && rlen <= blen)
            blen = rlen;
    }
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < blen; i++)
        h = (h ^ (uint8_t)f.body[i]) * 0x100000001b3ull;
    *r = (struct result){.status = f.status, .hash = h, .len = blen, .secs = f.secs, .cpu = f.cpu};
    bench_fetch_cleanup(&f);
    /* Let the loop close the connection (a SUBSCRIBE stream) before the next call. */
    struct timeval settle = {0, 50000};
    event_base_loopexit(m->base, &settle);
    event_base_dispatch(m->base);
}

static void report(const char *label, const char *mode, const struct result *f,
                   const struct cm_loop_probe_stats *st, const char *same)
{
    printf("%-20s %-9s: %4d %6.1f MB in %7.1f ms (master CPU %6.1f ms), loop stall max %7.1f ms "
           "(self %7.1f), p99 %5.1f ms%s%s\n",
           label, mode, f->status, (double)f->len / 1e6, f->secs * 1e3, f->cpu * 1e3,
           st->max_stall * 1e3, st->have_self ? st->max_self * 1e3 : -1.0, st->p99 * 1e3,
           same ? "  identical: " : "", same ? same : "");
    fflush(stdout);
}

struct call {
    const char *label, *body, *media;
    bool first_record;
    struct result sliced;
};

/* Serves every call sliced, then (unless sliced_only) every call in one piece, the heaviest
 * last: a one-piece reply of seconds delays the master's own timers (and a slow one may let
 * the next calls find another state). */
static void measure_all(struct cm_master *m, struct cm_loop_probe *probe, struct call *calls,
                        size_t n, bool sliced_only)
{
    struct cm_operator *op = cm_operator_of(m);
    struct cm_loop_probe_stats st;
    op->one_piece = false;
    for (size_t i = 0; i < n; i++) {
        struct result *f = &calls[i].sliced;
        fetch(m, probe, calls[i].body, calls[i].media, calls[i].first_record, f, &st);
        report(calls[i].label, "sliced", f, &st, NULL);
    }
    if (sliced_only)
        return;
    op->one_piece = true;
    for (size_t i = 0; i < n; i++) {
        struct result f;
        fetch(m, probe, calls[i].body, calls[i].media, calls[i].first_record, &f, &st);
        bool same = f.len == calls[i].sliced.len && f.hash == calls[i].sliced.hash;
        report(calls[i].label, "one piece", &f, &st, same ? "yes" : "NO");
    }
    op->one_piece = false;
}

int main(int argc, char **argv)
{
    int nagents = argc > 1 ? atoi(argv[1]) : 10000;
    int ntasks = argc > 2 ? atoi(argv[2]) : 100000;
    int nfw = argc > 3 ? atoi(argv[3]) : 10;
    bool sliced_only = argc > 4 && strcmp(argv[4], "--sliced") == 0;
    if (nagents <= 0 || ntasks < 0 || nfw <= 0) {
        fprintf(stderr, "usage: %s [agents] [tasks] [frameworks] [--sliced]\n", argv[0]);
        return 2;
    }
    cm_log_set_level(CM_LOG_WARNING);
    char dir[] = "/tmp/bench-opstate-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp");
    char workdir[300];
    snprintf(workdir, sizeof workdir, "--work_dir=%s", dir);
    char *fargv[] = {"mesos-master", "--ip=127.0.0.1", "--port=0", workdir, "--registry=in_memory",
                     "--allocation_interval=1000secs",
                     /* The agents are callback sinks that never answer a ping. */
                     "--agent_ping_timeout=1hrs", NULL};
    struct cm_master_flags flags;
    char why[512];
    cm_master_flags_init(&flags);
    if (cm_master_flags_parse(&flags, 7, fargv, why, sizeof why))
        die(why);
    struct event_base *base = event_base_new();
    struct cm_master *m = cm_master_new(base, &flags);
    if (!m || cm_master_http_start(m) != 0)
        die("master start");
    fill_cluster(m, base, "bench-operator_stall", nagents, nfw, ntasks);
    struct cm_loop_probe *probe = cm_loop_probe_new(base, 0.001);
    const char *json = "application/json", *pb = "application/x-protobuf";
    struct call calls[] = {
        {"GET_AGENTS json", "{\"type\":\"GET_AGENTS\"}", json, false, {0}},
        {"GET_TASKS protobuf", "{\"type\":\"GET_TASKS\"}", pb, false, {0}},
        {"GET_STATE protobuf", "{\"type\":\"GET_STATE\"}", pb, false, {0}},
        {"SUBSCRIBE protobuf", "{\"type\":\"SUBSCRIBE\"}", pb, true, {0}},
        {"GET_STATE json", "{\"type\":\"GET_STATE\"}", json, false, {0}},
        {"SUBSCRIBE json", "{\"type\":\"SUBSCRIBE\"}", json, true, {0}},
    };
    measure_all(m, probe, calls, sizeof calls / sizeof calls[0], sliced_only);
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
