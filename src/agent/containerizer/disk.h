/*
 * disk.h: measuring and enforcing each container's sandbox disk usage (Mesos's posix/disk
 * isolator, on for every container in cmesos).
 *
 * Every --container_disk_watch_interval one forked child (offload.h) walks the sandboxes of
 * all watched containers, du-style: no symlink is followed, no mount point is crossed, a file
 * with several hard links inside the sandboxes is counted once, and the usage is the
 * allocated blocks (st_blocks * 512, what `du` reports), so a sparse file costs what it
 * occupies. The child writes one result per container into a shared anonymous mapping made
 * before the fork; the loop reads them when the child has exited. The loop never walks a
 * directory: its cost per interval is one fork and one callback, whatever the sandboxes hold.
 * A measurement still running when the next interval comes is not doubled (the next starts
 * after it ends).
 *
 * Enforcement (--enforce_container_disk_quota, on by default in cmesos, off in Mesos): a
 * container whose usage is over its limit (the `disk` resource of its tasks; 0 = no limit) is
 * reported once to the exceeded callback, which kills it; cm_disk_watch_exceeded then gives
 * the TaskStatus message "Disk usage (52.4MB) exceeds quota (10MB)". Without enforcement the
 * usage is measured and reported only.
 *
 * Project quotas (XFS/ext4 prjquota) would be cheaper but need a file system mounted with
 * them; this walk works on every file system and is what runs here.
 *
 * Ownership: paths and ids are copied. Threading: the agent's loop only.
 */
#ifndef CM_AGENT_DISK_H
#define CM_AGENT_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct cm_disk_watch;

/* A container went over its limit (enforcement on): called once per container, on the loop. */
typedef void (*cm_disk_exceeded_fn)(void *arg, const char *container_id, uint64_t used,
                                    uint64_t limit);

/* interval in seconds (> 0). exceeded may be NULL (measure only). Never NULL. */
struct cm_disk_watch *cm_disk_watch_new(struct event_base *base, double interval, bool enforce,
                                        cm_disk_exceeded_fn exceeded, void *arg);
/* Stops the timer and drops a measurement in flight (its child finishes on its own and is
 * reaped by whoever reaps children). NULL is a no-op. */
void cm_disk_watch_free(struct cm_disk_watch *w);

/* Watches sandbox for container_id with limit_bytes (0 = measure only). Re-adding replaces. */
void cm_disk_watch_add(struct cm_disk_watch *w, const char *container_id, const char *sandbox,
                       uint64_t limit_bytes);
void cm_disk_watch_remove(struct cm_disk_watch *w, const char *container_id);

/* The last measurement: 0 with *used (0 before the first) and *limit, or -1 when the container
 * is not watched. */
int cm_disk_watch_usage(const struct cm_disk_watch *w, const char *container_id, uint64_t *used,
                        uint64_t *limit);
/* Whether container_id went over its limit, with the message for its TaskStatus. */
bool cm_disk_watch_exceeded(const struct cm_disk_watch *w, const char *container_id, char *message,
                            size_t len);
/* Starts a measurement now (tests; the timer does it otherwise). Returns 0 or -errno. */
int cm_disk_watch_measure_now(struct cm_disk_watch *w);
/* Measurements finished so far. */
uint64_t cm_disk_watch_rounds(const struct cm_disk_watch *w);

/* The du-style walk itself (blocking): allocated bytes under path. Returns 0 and *bytes, or
 * the first -errno (with *bytes what was counted up to then). */
int cm_disk_usage(const char *path, uint64_t *bytes);

#endif
