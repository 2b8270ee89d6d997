/*
 * cgpool.h: a small pool of container cgroups made ahead of the launches that take them.
 *
 * A container's cgroups cost one mkdir per hierarchy (four on this machine's cgroup v1: cpu,
 * cpuacct, memory, pids), each allocating the controllers' state, and the launch child makes
 * them while the agent's launch queue waits for it to join. The pool moves that off the launch
 * path: the cgroup janitor (janitor.h), off the loop, makes entries named
 * ".pool-<agent pid>-<random>-<n>" under the cgroups root, with pids.max already set; a launch
 * takes one and its child renames it to the container's id in each hierarchy (rename(2) of a
 * cgroup directory within its parent: no controller state is allocated) before setting the
 * other limits and joining. Removal is unchanged (rmdir by the janitor after the teardown):
 * a cgroup is never reused by a second container, whose statistics (cpuacct, memory peak and
 * OOM counts, throttling) would then start from the first one's.
 *
 * Each entry is recorded (records.h) before it is made, so a restart cleans the entries of a
 * run that died as orphans; an entry a launch took is forgotten once its child has joined
 * (cm_cgpool_used); one a failed launch took is removed like a container (the caller starts a
 * teardown of its name). Entries left at exit are the caller's to remove (cm_cgpool_drain).
 *
 * Off by default (cm_containerizer_options.cgroup_pool): measured with `bench-launch --async`
 * on this machine (cgroup v1, 2 cores), launch -> joined did not get shorter (4.3 ms p50 with
 * and without) and the CPU only moved from the launch child to the janitor, plus a rename per
 * hierarchy. It stays for machines where mkdir is dearer (many memory cgroups, v2's
 * subtree_control walk). Single-threaded (the loop).
 */
#ifndef CM_AGENT_CGPOOL_H
#define CM_AGENT_CGPOOL_H

#include <stddef.h>
#include <stdint.h>

struct cm_janitor;
struct cm_records;
struct cm_cgpool;

/* target: entries kept ready. pids_max: written into each entry (0 = left alone). */
struct cm_cgpool *cm_cgpool_new(struct cm_janitor *janitor, struct cm_records *records,
                                size_t target, uint64_t pids_max);
void cm_cgpool_free(struct cm_cgpool *p);
/* Whether name is one of this pool's entries (by its prefix). */
int cm_cgpool_owns(const struct cm_cgpool *p, const char *name);
/* Asks the janitor for entries up to the target. */
void cm_cgpool_refill(struct cm_cgpool *p);
/* A ready entry's name (malloc'd, the caller's), or NULL when none is ready. Refills. */
char *cm_cgpool_take(struct cm_cgpool *p);
/* The janitor's answer for an entry it was asked to make. */
void cm_cgpool_created(struct cm_cgpool *p, const char *name, int rc, const char *why);
/* A launch renamed the entry: forget its record. */
void cm_cgpool_used(struct cm_cgpool *p, const char *name);
/* Takes every ready entry out (the caller removes them); returns how many went to fn. */
size_t cm_cgpool_drain(struct cm_cgpool *p, void (*fn)(void *arg, const char *name), void *arg);
/* Ready entries; creations asked and not answered. */
size_t cm_cgpool_ready(const struct cm_cgpool *p);
size_t cm_cgpool_pending(const struct cm_cgpool *p);

#endif
