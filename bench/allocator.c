/*
 * bench/allocator.c: allocation cycle time in the shape of Mesos's DeclineOffers benchmark.
 *
 * For each cell of {1k, 10k} agents x {1, 100, 1000} frameworks (all frameworks in role "*",
 * as in Mesos's benchmark), every agent has "cpus:16;mem:65536;disk:1000000;ports:[31000-32000]"
 * and every offer is declined with refuse_seconds = 1e9 (capped at 365 days). Cycles run until
 * one makes no offer (every framework has filtered every agent: the steady state), then
 * STEADY_CYCLES more. Declines happen between cycles and are not timed; the clock advances one
 * allocation interval (1 s) per cycle.
 *
 * Printed per cell: the first cycle, the median of the cycles that made offers (the transient
 * while filters accumulate), the median of the steady-state cycles, the number of cycles and of
 * offers. Usage: bench-allocator [max_agents] (default 10000).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator/allocator.h"

#define STEADY_CYCLES 20

struct pending {
    size_t fw, agent;
    struct cm_resources res;
};

struct bench {
    struct pending *p;
    size_t n, cap;
    size_t nfw;
    char **fw_ids, **agent_ids;
};

static void on_offer(void *arg, const char *framework_id, const char *role, const char *agent_id,
                     const struct cm_resources *resources)
{
    struct bench *b = arg;
    (void)role;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->p = realloc(b->p, b->cap * sizeof *b->p);
        if (!b->p)
            abort();
        for (size_t i = b->n; i < b->cap; i++)
            cm_resources_init(&b->p[i].res);
    }
    struct pending *p = &b->p[b->n++];
    p->fw = strtoul(framework_id + 3, NULL, 10); /* "fw-N" */
    p->agent = strtoul(agent_id + 6, NULL, 10);  /* "agent-N" */
    cm_resources_clear(&p->res);
    cm_resources_add(&p->res, resources);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static double median(double *v, size_t n)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void run_cell(size_t nagents, size_t nfw)
{
    struct cm_fake_clock clock;
    cm_fake_clock_init(&clock, 1e9);
    struct bench b = {0};
    struct cm_allocator *a = cm_allocator_new(&clock.clock, on_offer, &b);
    struct cm_resources total;
    char why[256];
    cm_resources_init(&total);
    if (cm_resources_parse(&total, "cpus:16;mem:65536;disk:1000000;ports:[31000-32000]", NULL, why,
                           sizeof why) != 0) {
        fprintf(stderr, "parse: %s\n", why);
        exit(1);
    }
    b.agent_ids = calloc(nagents, sizeof *b.agent_ids);
    b.fw_ids = calloc(nfw, sizeof *b.fw_ids);
    for (size_t i = 0; i < nagents; i++) {
        if (asprintf(&b.agent_ids[i], "agent-%zu", i) < 0 ||
            cm_allocator_add_agent(a, b.agent_ids[i], &total) != 0)
            abort();
    }
    const char *roles[] = {"*"};
    for (size_t i = 0; i < nfw; i++) {
        if (asprintf(&b.fw_ids[i], "fw-%zu", i) < 0 ||
            cm_allocator_add_framework(a, b.fw_ids[i], roles, 1, NULL, 0) != 0)
            abort();
    }

    size_t cap = 1024, ncycles = 0, offers = 0, nbusy = 0, nsteady = 0;
    double *busy = malloc(cap * sizeof *busy), *steady = malloc(STEADY_CYCLES * sizeof *steady);
    double first = 0, decline_secs = 0, t_start = cm_monotonic_secs();
    for (;;) {
        double t0 = cm_monotonic_secs();
        size_t n = cm_allocator_run(a);
        double ms = (cm_monotonic_secs() - t0) * 1000;
        if (ncycles++ == 0)
            first = ms;
        offers += n;
        if (n) {
            if (nbusy == cap) {
                cap *= 2;
                busy = realloc(busy, cap * sizeof *busy);
            }
            busy[nbusy++] = ms;
        } else {
            steady[nsteady++] = ms;
            if (nsteady == STEADY_CYCLES)
                break;
        }
        double d0 = cm_monotonic_secs();
        for (size_t i = 0; i < b.n; i++)
            cm_allocator_recover(a, b.fw_ids[b.p[i].fw], "*", b.agent_ids[b.p[i].agent],
                                 &b.p[i].res, 1e9);
        decline_secs += cm_monotonic_secs() - d0;
        b.n = 0;
        cm_fake_clock_advance(&clock, 1.0);
    }
    struct cm_allocator_stats st;
    cm_allocator_stats(a, &st);
    printf("%6zu %10zu %14.2f %18.2f %17.3f %7zu %9zu %9zu %9.1f %8.1f\n", nagents, nfw, first,
           median(busy, nbusy), median(steady, nsteady), ncycles, offers, st.active_filters,
           decline_secs, cm_monotonic_secs() - t_start);
    fflush(stdout);

    cm_allocator_free(a);
    for (size_t i = 0; i < b.cap; i++)
        cm_resources_cleanup(&b.p[i].res);
    free(b.p);
    for (size_t i = 0; i < nagents; i++)
        free(b.agent_ids[i]);
    for (size_t i = 0; i < nfw; i++)
        free(b.fw_ids[i]);
    free(b.agent_ids);
    free(b.fw_ids);
    free(busy);
    free(steady);
    cm_resources_cleanup(&total);
}

int main(int argc, char **argv)
{
    size_t max_agents = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
    static const size_t agents[] = {1000, 10000};
    static const size_t frameworks[] = {1, 100, 1000};
    printf("DeclineOffers shape: all frameworks in role \"*\", agents "
           "cpus:16;mem:65536;disk:1000000;ports:[31000-32000], every offer declined for 365 "
           "days.\n");
    printf("first_cycle_ms: cycle 1; transient_median_ms: median of cycles that made offers; "
           "steady_median_ms: median of %d cycles after the first offerless one.\n",
           STEADY_CYCLES);
    printf("%6s %10s %14s %18s %17s %7s %9s %9s %9s %8s\n", "agents", "frameworks",
           "first_cycle_ms", "transient_median_ms", "steady_median_ms", "cycles", "offers",
           "filters", "decline_s", "total_s");
    for (size_t i = 0; i < sizeof agents / sizeof agents[0]; i++) {
        if (agents[i] > max_agents)
            continue;
        for (size_t j = 0; j < sizeof frameworks / sizeof frameworks[0]; j++)
            run_cell(agents[i], frameworks[j]);
    }
    return 0;
}
