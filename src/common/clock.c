#include "clock.h"

#include <time.h>

static double real_now(const struct cm_clock *self)
{
    (void)self;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const struct cm_clock cm_clock_real = {real_now};

static double fake_now(const struct cm_clock *self)
{
    const struct cm_fake_clock *fc = (const struct cm_fake_clock *)self;
    return fc->t;
}

void cm_fake_clock_init(struct cm_fake_clock *fc, double start)
{
    fc->clock.now = fake_now;
    fc->t = start;
}

void cm_fake_clock_advance(struct cm_fake_clock *fc, double secs)
{
    fc->t += secs;
}

double cm_monotonic_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
