/*
 * loop_probe.c: a periodic timer whose lateness is the loop's stall.
 */
#include "loop_probe.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"

/* Enough for ten minutes of 1 ms ticks; older samples are overwritten, the maxima are kept. */
#define SAMPLE_MAX (600u * 1000u)

static const double thresholds[CM_LOOP_PROBE_NTHRESH] = {0.001, 0.005, 0.010, 0.050};

struct cm_loop_probe {
    struct event *timer;
    double period;
    double expected; /* monotonic time the next tick is due */
    uint64_t ticks;
    double max_stall;
    uint64_t over[CM_LOOP_PROBE_NTHRESH];
    double *sample; /* ring of latenesses */
    size_t nsample, next;
    int schedstat; /* /proc/thread-self/schedstat, or -1 */
    double runq;   /* its run-queue wait at the previous tick */
    bool have_self;
    double max_self;
    uint64_t over_self[CM_LOOP_PROBE_NTHRESH];
    double *sample_self;
};

/* Seconds this thread has waited for a CPU so far, or a negative value. */
static double runq_wait(int fd)
{
    char buf[96];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *sp = strchr(buf, ' ');
    return sp ? (double)strtoull(sp + 1, NULL, 10) / 1e9 : -1;
}

void cm_loop_probe_record(struct cm_loop_probe *p, double lateness, double self)
{
    if (lateness < 0)
        lateness = 0;
    if (self >= 0) {
        if (self > lateness)
            self = lateness;
        p->have_self = true;
        if (self > p->max_self)
            p->max_self = self;
        for (int i = 0; i < CM_LOOP_PROBE_NTHRESH; i++)
            if (self > thresholds[i])
                p->over_self[i]++;
    }
    p->sample_self[p->next] = self >= 0 ? self : 0;
    p->ticks++;
    if (lateness > p->max_stall)
        p->max_stall = lateness;
    for (int i = 0; i < CM_LOOP_PROBE_NTHRESH; i++)
        if (lateness > thresholds[i])
            p->over[i]++;
    p->sample[p->next] = lateness;
    p->next = (p->next + 1) % SAMPLE_MAX;
    if (p->nsample < SAMPLE_MAX)
        p->nsample++;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_loop_probe *p = arg;
    double now = cm_monotonic_secs(), self = -1;
    if (p->schedstat >= 0) {
        /* The wait for a CPU since the previous tick is not the loop's doing. */
        double runq = runq_wait(p->schedstat);
        if (runq >= 0 && p->runq >= 0) {
            self = (now - p->expected) - (runq - p->runq);
            if (self < 0)
                self = 0;
        }
        p->runq = runq;
    }
    cm_loop_probe_record(p, now - p->expected, self);
    /* Re-armed from now, not from the due time: after a stall the probe measures the next
     * period afresh instead of firing a burst of catch-up ticks that would read as on time. */
    p->expected = now + p->period;
    struct timeval tv = {(time_t)p->period, (suseconds_t)((p->period - (time_t)p->period) * 1e6)};
    evtimer_add(p->timer, &tv);
}

struct cm_loop_probe *cm_loop_probe_new(struct event_base *base, double period)
{
    struct cm_loop_probe *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    p->sample = calloc(SAMPLE_MAX, sizeof *p->sample);
    if (!p->sample)
        abort();
    p->sample_self = calloc(SAMPLE_MAX, sizeof *p->sample_self);
    if (!p->sample_self)
        abort();
    p->period = period > 0 ? period : 0.001;
    p->schedstat = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    p->runq = p->schedstat >= 0 ? runq_wait(p->schedstat) : -1;
    p->timer = evtimer_new(base, tick_cb, p);
    if (!p->timer) {
        if (p->schedstat >= 0)
            close(p->schedstat);
        free(p->sample);
        free(p->sample_self);
        free(p);
        return NULL;
    }
    p->expected = cm_monotonic_secs() + p->period;
    struct timeval tv = {(time_t)p->period, (suseconds_t)((p->period - (time_t)p->period) * 1e6)};
    evtimer_add(p->timer, &tv);
    return p;
}

void cm_loop_probe_free(struct cm_loop_probe *p)
{
    if (!p)
        return;
    event_free(p->timer);
    if (p->schedstat >= 0)
        close(p->schedstat);
    free(p->sample);
    free(p->sample_self);
    free(p);
}

void cm_loop_probe_reset(struct cm_loop_probe *p)
{
    p->ticks = 0;
    p->max_stall = 0;
    memset(p->over, 0, sizeof p->over);
    p->nsample = p->next = 0;
    p->have_self = false;
    p->max_self = 0;
    memset(p->over_self, 0, sizeof p->over_self);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double q)
{
    if (!n)
        return 0;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i];
}

void cm_loop_probe_stats(struct cm_loop_probe *p, struct cm_loop_probe_stats *st)
{
    memset(st, 0, sizeof *st);
    st->ticks = p->ticks;
    st->max_stall = p->max_stall;
    memcpy(st->thresholds, thresholds, sizeof thresholds);
    memcpy(st->over, p->over, sizeof p->over);
    if (!p->nsample)
        return;
    double *copy = malloc(p->nsample * sizeof *copy);
    if (!copy)
        abort();
    memcpy(copy, p->sample, p->nsample * sizeof *copy);
    qsort(copy, p->nsample, sizeof *copy, cmp_double);
    st->p50 = pct(copy, p->nsample, 0.50);
    st->p99 = pct(copy, p->nsample, 0.99);
    st->have_self = p->have_self;
    if (p->have_self) {
        st->max_self = p->max_self;
        memcpy(st->over_self, p->over_self, sizeof p->over_self);
        memcpy(copy, p->sample_self, p->nsample * sizeof *copy);
        qsort(copy, p->nsample, sizeof *copy, cmp_double);
        st->p99_self = pct(copy, p->nsample, 0.99);
    }
    free(copy);
}
