/*
 * clock.h: the injectable clock.
 *
 * Every decision that depends on time (filters, offer timeouts, failover timeouts, retries)
 * reads it through a struct cm_clock, so unit tests substitute a fake clock and advance it
 * instead of sleeping (Mesos's Clock::advance). Timers that wake the event loop are still
 * libevent timers; the logic they run asks the clock what time it is.
 */
#ifndef CM_CLOCK_H
#define CM_CLOCK_H

struct cm_clock {
    /* Seconds since the epoch. */
    double (*now)(const struct cm_clock *self);
};

/* The real wall clock (CLOCK_REALTIME). Immutable; shared by everyone. */
extern const struct cm_clock cm_clock_real;

static inline double cm_clock_now(const struct cm_clock *c)
{
    return c->now(c);
}

/* A clock that only moves when told to. Embed it; pass &fake.clock where a clock is wanted. */
struct cm_fake_clock {
    struct cm_clock clock;
    double t;
};

void cm_fake_clock_init(struct cm_fake_clock *fc, double start);
void cm_fake_clock_advance(struct cm_fake_clock *fc, double secs);

/* Monotonic seconds for measuring durations (benchmarks, latencies); not injectable. */
double cm_monotonic_secs(void);

#endif
