/*
 * cgroups.h: Linux control groups for executor containers (v1 and v2).
 *
 * Detection runs once at agent start (cm_cgroups_detect): it parses the mount table text
 * (/proc/self/mountinfo, or a text the caller passes so tests can feed fake tables) and decides
 * between cgroup v1 (one mount per controller or controller group under the hierarchy root,
 * e.g. <root>/cpu,cpuacct, <root>/memory) and v2 (a cgroup2 mount exactly at the root with
 * cgroup.controllers). When the v1 controllers are mounted, v1 wins even if a hybrid cgroup2
 * mount (e.g. <root>/unified) is also present. The result says which of cpu, memory, pids and
 * freezer are usable and, in `missing`, a text naming what is not. Nothing per launch rescans
 * the mount table: every later call only builds paths from the detected bases.
 *
 * A container's cgroup is <base>/<cgroups_root>/<container_id>, where <base> is the
 * controller's mount point (v1) or the cgroup2 root (v2), optionally nested under the agent's
 * own cgroup (options.self_cgroup). In v1 there is one such directory per mounted controller
 * (co-mounted controllers share one); in v2 there is one directory and the needed controllers
 * are enabled in every ancestor's cgroup.subtree_control from the base down.
 *
 * Every component that comes from outside (container id, each component of cgroups_root) is
 * validated: non-empty, at most 255 bytes, not "." or "..", no '/', no control characters.
 *
 * Errors: 0, -errno from the file system (the why text names the file), CM_EINVAL for bad
 * ids, CM_ETOOBIG for over-long paths, CM_ESTATE when cgroups are not usable, CM_EPARSE for a
 * control file whose content cannot be read as expected.
 *
 * Threading: no global state; a struct cm_cgroups is read-only after detection. Emptying and
 * removing a cgroup come in two forms: single non-blocking steps (kill_step, remove_step)
 * that an event loop re-runs on a timer until they succeed (teardown.h), and kill_all and
 * destroy, which loop over the steps and sleep in between (bounded, about a second) for
 * callers that have no loop (tests, tools, shutdown). A daemon's loop uses the steps.
 */
#ifndef CM_AGENT_CGROUPS_H
#define CM_AGENT_CGROUPS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum cm_cgroups_version {
    CM_CGROUPS_NONE = 0,
    CM_CGROUPS_V1 = 1,
    CM_CGROUPS_V2 = 2,
};

/* Controllers the module drives. cpuacct is a v1 helper for usage; in v2 cpu.stat covers it. */
enum cm_cgroups_ctl {
    CM_CG_CPU = 0,
    CM_CG_CPUACCT,
    CM_CG_MEMORY,
    CM_CG_PIDS,
    CM_CG_FREEZER,
    CM_CG_NCTL,
};

#define CM_CG_BIT(ctl) (1u << (ctl))
#define CM_CGROUPS_PATH_MAX 1024
#define CM_CGROUPS_ROOT_MAX 512

struct cm_cgroups_options {
    const char *root;         /* hierarchy root; NULL = "/sys/fs/cgroup" */
    const char *mountinfo;    /* mount table text; NULL = read /proc/self/mountinfo */
    const char *self_cgroup;  /* /proc/self/cgroup text to nest under; NULL = at the bases */
    const char *cgroups_root; /* e.g. "mesos" or "cmesos/agent1"; NULL = "mesos" */
    long user_hz;             /* cpuacct.stat tick rate; 0 = sysconf(_SC_CLK_TCK) */
};

/* Detection result. Plain data; embed or allocate it, nothing to free. */
struct cm_cgroups {
    enum cm_cgroups_version version;
    unsigned usable;  /* CM_CG_BIT(ctl) set for each usable controller */
    unsigned enabled; /* v2: controllers already in the base's cgroup.subtree_control */
    char root[CM_CGROUPS_PATH_MAX];
    char cgroups_root[CM_CGROUPS_ROOT_MAX];
    char base[CM_CG_NCTL][CM_CGROUPS_PATH_MAX]; /* per controller ("" = not usable) */
    char missing[256]; /* "" when cpu, memory, pids and freezer are all usable */
    long user_hz;
};

/* Detects the cgroup version and controllers. Returns 0 when at least one of cpu, memory,
 * pids is usable (cg->missing may still name the others), CM_ESTATE with why when cgroups
 * are unusable, CM_EINVAL for a bad cgroups_root. */
int cm_cgroups_detect(const struct cm_cgroups_options *opts, struct cm_cgroups *cg, char *why,
                      size_t whylen);

/* Returns the controller's name ("cpu", "memory", ...). */
const char *cm_cgroups_ctl_name(enum cm_cgroups_ctl ctl);

/* Nested containers: the directory under a container's cgroup that holds its children's. */
#define CM_CGROUPS_NESTED_DIR "mesos"

/* Validates one externally supplied path component (a container id), or a nested container's
 * id "<parent id>/mesos/<child id>" (each part valid; any depth). A nested id's cgroup is
 * <base>/<cgroups_root>/<parent>/mesos/<child>, in its parent's subtree: the parent's limits
 * bound it, and killing or removing the parent (kill_step, remove_step, kill_all, destroy)
 * takes its nested children with it. v2 is not supported for nesting (the parent's processes
 * would have to leave its cgroup first: "no internal processes"); creating a nested cgroup
 * there fails with -ENOTSUP. */
int cm_cgroups_validate_id(const char *id, char *why, size_t whylen);
/* Validates a cgroups_root: valid components joined by single '/', no leading/trailing '/'. */
int cm_cgroups_validate_root(const char *root, char *why, size_t whylen);

/* Pure mappings, exported for tests and for the isolator's status output.
 * shares = max(2, 1024 * cpus); weight = 1 + ((shares - 2) * 9999) / 262142 (as runc);
 * quota = max(1000, cpus * period) microseconds. */
uint64_t cm_cgroups_cpu_shares(double cpus);
uint64_t cm_cgroups_cpu_weight(uint64_t shares);
uint64_t cm_cgroups_cfs_quota(double cpus, uint64_t period_us);

#define CM_CGROUPS_CFS_PERIOD_US 100000

/* Writes the container's directory for ctl into buf: <base>/<cgroups_root>/<id>, or
 * <base>/<cgroups_root> when id is NULL. */
int cm_cgroups_path(const struct cm_cgroups *cg, enum cm_cgroups_ctl ctl, const char *id, char *buf,
                    size_t len);

/* Creates the container's cgroup(s) (existing directories are fine, for recovery). v2 also
 * enables the usable controllers in each ancestor's cgroup.subtree_control. */
int cm_cgroups_create(const struct cm_cgroups *cg, const char *id, char *why, size_t whylen);

/* Renames the cgroup(s) of from to to, in every hierarchy (a pre-created cgroup taken for a
 * container: rename(2) of a cgroup directory within its parent keeps its settings and costs
 * none of mkdir's controller state allocation). Not for nested ids. 0, or -errno of the first
 * rename that failed (the hierarchies before it are renamed already). Safe in a freshly cloned
 * child (no allocation). */
int cm_cgroups_rename(const struct cm_cgroups *cg, const char *from, const char *to, char *why,
                      size_t whylen);

/* Limits; a zero field is left alone. */
struct cm_cgroups_limits {
    double cpus;        /* cpu shares / weight */
    int cfs_quota;      /* also a hard CFS quota of cpus * period */
    uint64_t mem_bytes; /* v1 limit_in_bytes + soft_limit_in_bytes; v2 memory.max */
    int limit_swap;     /* with mem_bytes: no swap beyond it (v1 memsw = limit; v2 swap.max 0) */
    uint64_t pids_max;  /* pids.max */
};
int cm_cgroups_set_limits(const struct cm_cgroups *cg, const char *id,
                          const struct cm_cgroups_limits *limits, char *why, size_t whylen);

/* Moves pid (and its threads; 0 = the caller) into the container's cgroup(s) via cgroup.procs. Safe
 * to call in a freshly forked child (no allocation). */
int cm_cgroups_add_pid(const struct cm_cgroups *cg, const char *id, pid_t pid, char *why,
                       size_t whylen);

/* v1, for a process that makes many containers' cgroups (the launch helper): fds[ctl] gets an
 * O_PATH descriptor of each usable controller's <base>/<cgroups_root> (-1 where it cannot be
 * opened, e.g. before the first container made it, and for every ctl on v2); returns how many
 * were opened. The _at calls take that array (or NULL) and name a container's directories and
 * files relative to it: a lookup of two components where the full path walks from "/" through
 * the mount point (about 2.5 us less per file on the test machine, 12 files per launch). They
 * behave exactly as the calls without _at otherwise (same results and messages, with full
 * paths); a nested id's directory is still made by path. Async-signal-safe like those. */
int cm_cgroups_open_roots(const struct cm_cgroups *cg, int fds[CM_CG_NCTL]);
void cm_cgroups_close_roots(int fds[CM_CG_NCTL]);
int cm_cgroups_create_at(const struct cm_cgroups *cg, const int *fds, const char *id, char *why,
                         size_t whylen);
int cm_cgroups_set_limits_at(const struct cm_cgroups *cg, const int *fds, const char *id,
                             const struct cm_cgroups_limits *limits, char *why, size_t whylen);
int cm_cgroups_add_pid_at(const struct cm_cgroups *cg, const int *fds, const char *id, pid_t pid,
                          char *why, size_t whylen);

/* Usage. `have` has CM_CG_BIT(ctl) set for each controller whose fields were read. */
struct cm_cgroups_usage {
    unsigned have;
    double cpus_user_time_secs;
    double cpus_system_time_secs;
    uint64_t cpus_nr_periods;
    uint64_t cpus_nr_throttled;
    double cpus_throttled_time_secs;
    uint64_t mem_total_bytes; /* v1 memory.usage_in_bytes, v2 memory.current */
    uint64_t mem_rss_bytes;   /* v1 rss, v2 anon */
    uint64_t mem_cache_bytes; /* v1 cache, v2 file */
    uint64_t pids_current;
};
int cm_cgroups_usage(const struct cm_cgroups *cg, const char *id, struct cm_cgroups_usage *u,
                     char *why, size_t whylen);

/* OOM state. oomed is the verdict: the kernel OOM-killed something (oom_kill > 0), the group
 * is under OOM now (v1 under_oom), or, on v1 kernels without the oom_kill counter,
 * memory.failcnt > 0. */
struct cm_cgroups_oom {
    int oomed;
    uint64_t oom_kill;
    int under_oom;
    uint64_t failcnt;
};
int cm_cgroups_oom(const struct cm_cgroups *cg, const char *id, struct cm_cgroups_oom *o, char *why,
                   size_t whylen);

/* One kill round that never waits: v2 cgroup.kill when present; otherwise freeze (without
 * waiting for FROZEN), SIGKILL each pid in cgroup.procs, thaw. *left is the number of live
 * (non-zombie) processes listed at this round, 0 when the container is empty or its cgroup
 * does not exist; the killed stay listed until the kernel has torn them down, so call again
 * later until *left is 0. */
int cm_cgroups_kill_step(const struct cm_cgroups *cg, const char *id, size_t *left, char *why,
                         size_t whylen);
/* One attempt at removing the container's directories: 0 when all are gone (missing is
 * fine), -EBUSY when one still has processes (try later), another -errno to give up. */
int cm_cgroups_remove_step(const struct cm_cgroups *cg, const char *id, char *why, size_t whylen);

/* Blocking: kills every process of the container: v2 cgroup.kill when present; otherwise freeze,
 * SIGKILL each pid in cgroup.procs, thaw, repeated until empty (zombies count as gone).
 * Returns 0 when empty, -ETIMEDOUT if processes remain after about a second. */
int cm_cgroups_kill_all(const struct cm_cgroups *cg, const char *id, char *why, size_t whylen);

/* Blocking: removes the container's directories (rmdir, retried briefly on EBUSY). Missing
 * is fine. */
int cm_cgroups_destroy(const struct cm_cgroups *cg, const char *id, char *why, size_t whylen);

/* Lists container ids (sub-directories with valid names) under <cgroups_root> across all
 * controllers, deduplicated. *ids is a NULL-terminated array; free with cm_cgroups_list_free. */
int cm_cgroups_list(const struct cm_cgroups *cg, char ***ids, size_t *n, char *why, size_t whylen);
void cm_cgroups_list_free(char **ids);

/* Callback: non-zero when the agent knows (recovered) the container id. */
typedef int (*cm_cgroups_known_fn)(void *arg, const char *container_id);

/* Blocking: kills and destroys every listed container that known() rejects (known NULL = all).
 * *cleaned counts them. Keeps going past failures; returns the first error. */
int cm_cgroups_clean_orphans(const struct cm_cgroups *cg, cm_cgroups_known_fn known, void *arg,
                             size_t *cleaned, char *why, size_t whylen);

#endif
