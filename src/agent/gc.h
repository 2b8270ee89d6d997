/*
 * gc.h: the agent's garbage collector of finished sandboxes (Mesos's GarbageCollector).
 *
 * A path is scheduled for removal after a delay (--gc_delay, 1 week by default, from the time
 * its executor finished) and removed recursively (without following symlinks or crossing
 * mounts) when that time comes. Disk pressure makes it sooner: every --disk_watch_interval the
 * usage of the work_dir file system is measured and every path older than the allowed age
 *   max_age = gc_delay * max(0, 1 - gc_disk_headroom - usage)
 * is removed now (Mesos's prune: remaining time <= gc_delay - max_age). Re-scheduling a path
 * replaces its time; unscheduling (a new run of the same executor) keeps it.
 *
 * Time comes from the injectable clock. With an event base, one timer fires at the earliest
 * removal time and another watches the disk; with base NULL there are no timers and the
 * caller (a unit test) drives cm_gc_run / cm_gc_check_disk after advancing a fake clock.
 * Scheduled paths sit in a min-heap by removal time, indexed by path (O(log n) per change).
 *
 * Removal never blocks the loop: with an event base the paths that are due together are removed by
 * one forked child (offload.h) and the result (metrics, log) is taken when the child exits, so a
 * sandbox of a million files costs the loop one fork. Without a base (unit tests) it runs in place.
 * Removal never follows a symlink: every entry is opened beneath its parent's descriptor with
 * O_NOFOLLOW / AT_SYMLINK_NOFOLLOW, so a link a task left in its sandbox is removed as a link
 * and nothing outside the tree is touched; mounts inside the tree are not crossed. A removal
 * that is already running when its path is unscheduled completes. Single-threaded.
 */
#ifndef CM_AGENT_GC_H
#define CM_AGENT_GC_H

#include <stdbool.h>
#include <stddef.h>

#include "clock.h"

struct event_base;
struct cm_gc;

/* Fraction of the file system holding path that is used, in [0, 1]; negative on failure. */
typedef double (*cm_gc_disk_usage_fn)(void *arg, const char *path);

struct cm_gc_config {
    double delay;               /* --gc_delay, seconds */
    double headroom;            /* --gc_disk_headroom, [0, 1] */
    double disk_watch_interval; /* --disk_watch_interval, seconds; <= 0 = no disk watch */
    const char *work_dir;       /* the file system to watch (copied) */
    cm_gc_disk_usage_fn usage;  /* NULL = statvfs */
    void *usage_arg;
};

struct cm_gc_metrics {
    double path_removals_succeeded;
    double path_removals_failed;
};

/* base may be NULL (no timers). clock must outlive the collector. Never NULL. */
struct cm_gc *cm_gc_new(struct event_base *base, const struct cm_clock *clock,
                        const struct cm_gc_config *cfg);
/* Forgets every schedule (removes nothing). NULL is a no-op. */
void cm_gc_free(struct cm_gc *gc);

/* Schedules path for removal delay seconds from now (replacing an earlier schedule). */
void cm_gc_schedule(struct cm_gc *gc, double delay, const char *path);
/* Cancels the removal of path; true if it was scheduled. */
bool cm_gc_unschedule(struct cm_gc *gc, const char *path);
/* Removes every path whose time has come; returns how many removals were started (with a
 * base they finish in children; the metrics count them when they do). */
size_t cm_gc_run(struct cm_gc *gc);
/* Removes every path whose remaining time is <= d seconds; returns how many. */
size_t cm_gc_prune(struct cm_gc *gc, double d);
/* Measures disk usage and prunes by the allowed age; returns how many paths were removed. */
size_t cm_gc_check_disk(struct cm_gc *gc);

/* gc_delay * max(0, 1 - headroom - usage). */
double cm_gc_max_age(double delay, double headroom, double usage);
/* Default usage function: statvfs of path. */
double cm_gc_statvfs_usage(void *arg, const char *path);

size_t cm_gc_pending(const struct cm_gc *gc);
/* Removal time of path (seconds since the epoch) or a negative value if not scheduled. */
double cm_gc_removal_time(const struct cm_gc *gc, const char *path);
const struct cm_gc_metrics *cm_gc_metrics(const struct cm_gc *gc);

/* rm -rf path without following symlinks (path itself may be a symlink: the link is removed)
 * or crossing mounts. Blocking; cm_gc runs it in a child. Returns 0 (also when path is
 * absent) or the first -errno (-EXDEV for a mount inside the tree). */
int cm_gc_remove_tree(const char *path);

#endif
