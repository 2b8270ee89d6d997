/* bench/registrar.c: the registrar alone, without a master: admits N agents in batches of B
 * (cm_registrar_hold/release around each batch, as one loop turn of registrations), then
 * refreshes every agent with the same AgentInfo (what a failover's re-registrations do), then
 * marks a batch unreachable and admits it back. Prints the time per store (mean, p50, p99, max),
 * stores per second and the registry's size. Not a test: prints figures.
 *
 * Usage: bench-registrar [--storage=in_memory|file] [--agents=N] [--batch=B] [--dir=DIR]
 *                        [--loop | --writer]
 * (file: DIR, default a new directory under /tmp, removed at the end).
 *
 * --loop drives the same work from an event loop as the master does: a 1 ms timer admits B new
 * agents per tick (hold/release around them) until N are in, then churns 200 single operations
 * (one per tick). It prints each operation's latency (queued -> callback), the stores, the
 * longest loop stall (the 1 ms tick's worst lateness: what a store costs everyone else on the
 * loop) and the process's CPU. --writer is --loop with the storage given the loop
 * (cm_registrar_set_loop), so the file storage writes through its writer child; without it the
 * stores run on the loop, as they did before the writer. */
#include <event2/event.h>
#include <sys/resource.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "registrar.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void recovered(void *arg, int err, const char *why)
{
    if (err) {
        fprintf(stderr, "recover: %s\n", why ? why : "failed");
        exit(1);
    }
    (void)arg;
}

static void done(void *arg, int err)
{
    if (err) {
        fprintf(stderr, "operation failed: %d\n", err);
        exit(1);
    }
    (*(size_t *)arg)++;
}

/* An AgentInfo shaped like an emulated agent's: hostname, port, cpus/mem/disk, an attribute. */
struct agent {
    Mesos__V1__AgentInfo info;
    Mesos__V1__AgentID id;
    Mesos__V1__Resource res[3], *resp[3];
    Mesos__V1__Value__Scalar sc[3];
    Mesos__V1__Attribute attr, *attrp;
    Mesos__V1__Value__Text text;
    char idbuf[64], host[64];
};

static void agent_init(struct agent *a, size_t i)
{
    static const char *names[3] = {"cpus", "mem", "disk"};
    static const double values[3] = {8, 16384, 100000};
    mesos__v1__agent_info__init(&a->info);
    mesos__v1__agent_id__init(&a->id);
    snprintf(a->idbuf, sizeof a->idbuf, "0b7c5e1e-4d2a-4f3e-9c61-2f1d8a9e7b10-S%zu", i);
    snprintf(a->host, sizeof a->host, "emu-%zu.example.org", i);
    a->id.value = a->idbuf;
    a->info.id = &a->id;
    a->info.hostname = a->host;
    a->info.has_port = 1;
    a->info.port = (int32_t)(10000 + i % 50000);
    for (int k = 0; k < 3; k++) {
        mesos__v1__resource__init(&a->res[k]);
        mesos__v1__value__scalar__init(&a->sc[k]);
        a->res[k].name = (char *)names[k];
        a->res[k].type = MESOS__V1__VALUE__TYPE__SCALAR;
        a->sc[k].value = values[k];
        a->res[k].scalar = &a->sc[k];
        a->resp[k] = &a->res[k];
    }
    a->info.resources = a->resp;
    a->info.n_resources = 3;
    mesos__v1__attribute__init(&a->attr);
    mesos__v1__value__text__init(&a->text);
    a->attr.name = "rack";
    a->attr.type = MESOS__V1__VALUE__TYPE__TEXT;
    a->text.value = "r1";
    a->attr.text = &a->text;
    a->attrp = &a->attr;
    a->info.attributes = &a->attrp;
    a->info.n_attributes = 1;
}

struct phase {
    const char *name;
    double *ms;
    size_t n, cap;
    double t0;
    uint64_t v0;
};

static void phase_begin(struct phase *p, const char *name, size_t cap, struct cm_registrar *r)
{
    struct cm_registrar_stats st;
    cm_registrar_stats(r, &st);
    p->name = name;
    p->ms = calloc(cap ? cap : 1, sizeof *p->ms);
    p->n = 0;
    p->cap = cap;
    p->t0 = cm_monotonic_secs();
    p->v0 = st.version;
}

static void phase_end(struct phase *p, struct cm_registrar *r)
{
    double secs = cm_monotonic_secs() - p->t0;
    struct cm_registrar_stats st;
    cm_registrar_stats(r, &st);
    qsort(p->ms, p->n, sizeof *p->ms, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < p->n; i++)
        sum += p->ms[i];
    size_t n = p->n ? p->n : 1;
    unsigned long long stores = (unsigned long long)(st.version - p->v0);
    printf("%-10s batches=%zu stores=%llu total=%.3fs per_batch_ms mean=%.3f p50=%.3f p99=%.3f "
           "max=%.3f stores_per_s=%.0f registry_bytes=%zu\n",
           p->name, p->n, stores, secs, sum / (double)n, p->ms[p->n / 2],
           p->ms[(size_t)((double)p->n * 0.99) < p->n ? (size_t)((double)p->n * 0.99) : n - 1],
           p->ms[n - 1], stores ? (double)stores / secs : 0.0, st.size_bytes);
    free(p->ms);
}

/* ---- --loop ---- */

/* The storage's store call, timed: how long the loop spends inside it (the whole write and its
 * two syncs on the loop; the hand-over to the writer child with --writer). */
static struct cm_registry_storage_ops g_timed_ops;
static const struct cm_registry_storage_ops *g_real_ops;
static double g_call_max_ms, g_call_sum_ms, g_call_cpu_max_ms, g_call_cpu_sum_ms;
static size_t g_calls;

static double thread_cpu_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void timed_store(struct cm_registry_storage *s, const uint8_t *data, size_t len,
                        cm_registrar_done_cb cb, void *arg)
{
    double t = cm_monotonic_secs(), c = thread_cpu_secs();
    g_real_ops->store(s, data, len, cb, arg);
    double ms = (cm_monotonic_secs() - t) * 1000.0, cms = (thread_cpu_secs() - c) * 1000.0;
    g_call_cpu_sum_ms += cms;
    if (cms > g_call_cpu_max_ms)
        g_call_cpu_max_ms = cms;
    g_call_sum_ms += ms;
    g_calls++;
    if (ms > g_call_max_ms)
        g_call_max_ms = ms;
}

static void time_stores(struct cm_registry_storage *s)
{
    g_real_ops = s->ops;
    g_timed_ops = *s->ops;
    g_timed_ops.store = timed_store;
    s->ops = &g_timed_ops;
}

struct lrun {
    struct cm_registrar *r;
    struct event_base *base;
    struct event *tick;
    struct agent *agents;
    size_t n, batch, next;          /* admissions submitted so far */
    size_t churn, churned;          /* churn operations submitted */
    double *t_sub, *lat;            /* per operation slot */
    size_t nslots, done, failed;    /* completions */
    double last_tick, max_stall_ms; /* the phase's worst tick lateness */
    bool phase_done;
};

struct lslot {
    struct lrun *run;
    size_t i;
};

static struct lslot *g_slots;

static void lop_done(void *arg, int err)
{
    struct lslot *sl = arg;
    struct lrun *run = sl->run;
    run->lat[sl->i] = (cm_monotonic_secs() - run->t_sub[sl->i]) * 1000.0;
    run->done++;
    if (err)
        run->failed++;
}

static double cpu_secs(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct lrun *run = arg;
    double now = cm_monotonic_secs();
    double late = (now - run->last_tick) * 1000.0 - 1.0;
    if (late > run->max_stall_ms)
        run->max_stall_ms = late;
    run->last_tick = now;
    if (run->next < run->n) {
        cm_registrar_hold(run->r);
        for (size_t k = 0; k < run->batch && run->next < run->n; k++, run->next++) {
            size_t i = run->next;
            run->t_sub[i] = cm_monotonic_secs();
            cm_registrar_admit(run->r, &run->agents[i].info, lop_done, &g_slots[i]);
        }
        cm_registrar_release(run->r);
    } else if (run->churned < run->churn) {
        size_t i = run->n + run->churned, k = (run->churned / 2 * 7919) % run->n;
        run->t_sub[i] = cm_monotonic_secs();
        if (run->churned % 2 == 0)
            cm_registrar_mark_unreachable(run->r, run->agents[k].idbuf, 1000.0 + (double)i,
                                          lop_done, &g_slots[i]);
        else
            cm_registrar_admit(run->r, &run->agents[k].info, lop_done, &g_slots[i]);
        run->churned++;
    }
}

static void lphase_print(const char *name, struct lrun *run, size_t from, size_t to, double secs,
                         double cpu, uint64_t stores)
{
    size_t m = to - from;
    double *v = malloc((m ? m : 1) * sizeof *v);
    memcpy(v, run->lat + from, m * sizeof *v);
    qsort(v, m, sizeof *v, cmp_double);
    printf("%-6s ops=%zu stores=%llu total=%.3fs op_latency_ms p50=%.2f p99=%.2f max=%.2f "
           "store_call_ms mean=%.2f max=%.2f (cpu mean=%.2f max=%.2f) loop_stall_max_ms=%.2f "
           "cpu_s=%.3f "
           "cpu_ms_per_store=%.2f\n",
           name, m, (unsigned long long)stores, secs, m ? v[m / 2] : 0,
           m ? v[(size_t)((double)m * 0.99)] : 0, m ? v[m - 1] : 0,
           g_calls ? g_call_sum_ms / (double)g_calls : 0.0, g_call_max_ms,
           g_calls ? g_call_cpu_sum_ms / (double)g_calls : 0.0, g_call_cpu_max_ms,
           run->max_stall_ms, cpu, stores ? cpu * 1000.0 / (double)stores : 0.0);
    free(v);
}

static int run_loop(struct cm_registrar *r, struct agent *agents, size_t n, size_t batch,
                    bool writer)
{
    const size_t churn_total = 200;
    struct lrun run = {
        .r = r, .agents = agents, .n = n, .batch = batch}; /* churn: 0 until its phase */
    run.base = event_base_new();
    if (writer)
        cm_registrar_set_loop(r, run.base);
    run.nslots = n + churn_total;
    run.t_sub = calloc(run.nslots, sizeof *run.t_sub);
    run.lat = calloc(run.nslots, sizeof *run.lat);
    g_slots = calloc(run.nslots, sizeof *g_slots);
    for (size_t i = 0; i < run.nslots; i++)
        g_slots[i] = (struct lslot){&run, i};
    run.tick = event_new(run.base, -1, EV_PERSIST, on_tick, &run);
    struct timeval ms = {0, 1000};
    event_add(run.tick, &ms);
    struct cm_registrar_stats st;
    const char *names[2] = {"admit", "churn"};
    size_t ends[2] = {n, n + churn_total};
    size_t from = 0;
    for (int ph = 0; ph < 2; ph++) {
        cm_registrar_stats(r, &st);
        uint64_t v0 = st.version;
        double t0 = cm_monotonic_secs(), c0 = cpu_secs();
        run.last_tick = t0;
        run.max_stall_ms = 0;
        g_call_max_ms = g_call_sum_ms = g_call_cpu_max_ms = g_call_cpu_sum_ms = 0;
        g_calls = 0;
        if (ph == 1)
            run.churn = churn_total; /* starts now (admissions all completed) */
        while (run.done < ends[ph])
            event_base_loop(run.base, EVLOOP_ONCE);
        cm_registrar_stats(r, &st);
        lphase_print(names[ph], &run, from, ends[ph], cm_monotonic_secs() - t0, cpu_secs() - c0,
                     st.version - v0);
        from = ends[ph];
    }
    event_free(run.tick);
    int rc = run.failed ? 1 : 0;
    if (rc)
        fprintf(stderr, "%zu operations failed\n", run.failed);
    free(run.t_sub);
    free(run.lat);
    free(g_slots);
    /* The registrar (and its writer) before the loop they watch. */
    cm_registrar_free(r);
    event_base_free(run.base);
    return rc;
}

int main(int argc, char **argv)
{
    bool loop = false, writer = false;
    const char *storage = "in_memory", *dir = NULL;
    size_t n = 10000, batch = 100;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--storage=", 10) == 0)
            storage = argv[i] + 10;
        else if (strncmp(argv[i], "--agents=", 9) == 0)
            n = strtoul(argv[i] + 9, NULL, 10);
        else if (strncmp(argv[i], "--batch=", 8) == 0)
            batch = strtoul(argv[i] + 8, NULL, 10);
        else if (strncmp(argv[i], "--dir=", 6) == 0)
            dir = argv[i] + 6;
        else if (strcmp(argv[i], "--loop") == 0)
            loop = true;
        else if (strcmp(argv[i], "--writer") == 0)
            loop = writer = true;
        else {
            fprintf(stderr,
                    "usage: %s [--storage=in_memory|file] [--agents=N] [--batch=B] [--dir=DIR] "
                    "[--loop|--writer]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n == 0 || batch == 0) {
        fprintf(stderr, "--agents and --batch must be positive\n");
        return 2;
    }
    char tmpl[] = "/tmp/bench-registrar-XXXXXX";
    bool own_dir = false;
    if (strcmp(storage, "file") == 0 && !dir) {
        if (!mkdtemp(tmpl)) {
            perror("mkdtemp");
            return 1;
        }
        dir = tmpl;
        own_dir = true;
    }
    char why[1024];
    struct cm_registry_storage *s = NULL;
    if (cm_registry_storage_new(storage, dir, &s, why, sizeof why) != 0) {
        fprintf(stderr, "%s\n", why);
        return 2;
    }
    struct cm_registrar *r = cm_registrar_new(s);
    cm_registrar_recover(r, recovered, NULL);
    struct agent *agents = calloc(n, sizeof *agents);
    if (!agents)
        return 1;
    for (size_t i = 0; i < n; i++)
        agent_init(&agents[i], i);
    printf("# storage=%s agents=%zu batch=%zu mode=%s load=", storage, n, batch,
           writer ? "loop+writer"
           : loop ? "loop"
                  : "direct");
    fflush(stdout);
    if (system("cut -d' ' -f1-3 /proc/loadavg") != 0)
        printf("?\n");
    if (loop) {
        time_stores(s);
        int lrc = run_loop(r, agents, n, batch, writer);
        free(agents);
        if (own_dir) {
            char path[512];
            snprintf(path, sizeof path, "%s/registry", dir);
            unlink(path);
            rmdir(dir);
        }
        return lrc;
    }
    size_t completed = 0, nb = (n + batch - 1) / batch;
    struct phase p;

    /* 1. Registration: every batch of B new agents is one store. */
    phase_begin(&p, "admit", nb, r);
    for (size_t b = 0; b < nb; b++) {
        double t = cm_monotonic_secs();
        cm_registrar_hold(r);
        for (size_t i = b * batch; i < n && i < (b + 1) * batch; i++)
            cm_registrar_admit(r, &agents[i].info, done, &completed);
        cm_registrar_release(r);
        p.ms[p.n++] = (cm_monotonic_secs() - t) * 1000.0;
    }
    phase_end(&p, r);

    /* 2. Re-registration with the same AgentInfo (a failover): what the registry already
     * holds. */
    phase_begin(&p, "readmit", nb, r);
    for (size_t b = 0; b < nb; b++) {
        double t = cm_monotonic_secs();
        cm_registrar_hold(r);
        for (size_t i = b * batch; i < n && i < (b + 1) * batch; i++)
            cm_registrar_admit(r, &agents[i].info, done, &completed);
        cm_registrar_release(r);
        p.ms[p.n++] = (cm_monotonic_secs() - t) * 1000.0;
    }
    phase_end(&p, r);

    /* 3. Churn: one agent at a time goes unreachable and comes back (two stores each). */
    size_t churn = n < 100 ? n : 100;
    phase_begin(&p, "churn", 2 * churn, r);
    for (size_t i = 0; i < churn; i++) {
        size_t k = (i * 7919) % n;
        double t = cm_monotonic_secs();
        cm_registrar_mark_unreachable(r, agents[k].idbuf, 1000.0 + (double)i, done, &completed);
        p.ms[p.n++] = (cm_monotonic_secs() - t) * 1000.0;
        t = cm_monotonic_secs();
        cm_registrar_admit(r, &agents[k].info, done, &completed);
        p.ms[p.n++] = (cm_monotonic_secs() - t) * 1000.0;
    }
    phase_end(&p, r);

    size_t expect = 2 * n + 2 * churn;
    int rc = 0;
    if (completed != expect || cm_registrar_count_admitted(r) != n) {
        fprintf(stderr, "completed %zu of %zu operations, %zu admitted\n", completed, expect,
                cm_registrar_count_admitted(r));
        rc = 1;
    }
    cm_registrar_free(r);
    free(agents);
    if (own_dir) {
        char path[512];
        snprintf(path, sizeof path, "%s/registry", dir);
        unlink(path);
        rmdir(dir);
    }
    return rc;
}
