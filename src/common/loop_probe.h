/*
 * loop_probe.h: measures how long an event loop stalls.
 *
 * A probe arms a periodic timer (1 ms by default) on any libevent base and, each time it
 * fires, records how late it fired against the monotonic clock: the lateness of a timer is
 * the time the loop spent not polling (a callback that ran too long, a blocking system call).
 * It keeps the longest lateness, counts stalls over a few fixed thresholds (1, 5, 10, 50 ms)
 * and keeps every lateness above the tick in a bounded sample so a caller can ask for
 * percentiles. It does not say which callback stalled; it says that one did, and by how much.
 *
 * On a shared machine a loop is also late when its thread is runnable but has no CPU. Where
 * the kernel reports it (/proc/thread-self/schedstat, kept open and read with one pread per
 * tick), the probe also keeps each lateness minus the time the thread spent waiting for a CPU
 * since the previous tick: the "self" figures, the part a change to the code can remove.
 *
 * The probe measures real elapsed time (cm_monotonic_secs), not the injectable clock: a stall
 * is a property of the machine, and a fake clock would hide it. Its own cost is one timer
 * callback per period. Owned by the caller; single-threaded (the loop's thread).
 */
#ifndef CM_LOOP_PROBE_H
#define CM_LOOP_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct cm_loop_probe;

#define CM_LOOP_PROBE_NTHRESH 4

/* What the probe saw since it started or was last reset. Times in seconds. */
struct cm_loop_probe_stats {
    uint64_t ticks;                           /* timer callbacks seen */
    double max_stall;                         /* the longest lateness */
    double thresholds[CM_LOOP_PROBE_NTHRESH]; /* 0.001, 0.005, 0.010, 0.050 */
    uint64_t over[CM_LOOP_PROBE_NTHRESH];     /* stalls longer than each threshold */
    double p50, p99;                          /* percentiles of the lateness of all ticks */
    /* The same without the time spent waiting for a CPU (have_self false: schedstat missing). */
    bool have_self;
    double max_self, p99_self;
    uint64_t over_self[CM_LOOP_PROBE_NTHRESH];
};

/* Starts a probe that ticks every period seconds (<= 0 means 1 ms). Returns NULL if the timer
 * could not be created. */
struct cm_loop_probe *cm_loop_probe_new(struct event_base *base, double period);
/* Stops the timer and frees the probe. NULL is a no-op. */
void cm_loop_probe_free(struct cm_loop_probe *p);
/* Forgets what was measured (e.g. after a warm-up). */
void cm_loop_probe_reset(struct cm_loop_probe *p);
/* Fills *st with the figures so far (sorts the sample; O(n log n) in the ticks kept). */
void cm_loop_probe_stats(struct cm_loop_probe *p, struct cm_loop_probe_stats *st);

/* Records one lateness, and the part of it not spent waiting for a CPU (self <= lateness;
 * negative = unknown), by hand; the timer callback uses it and unit tests feed it directly. */
void cm_loop_probe_record(struct cm_loop_probe *p, double lateness, double self);

#endif
