/*
 * containerizer.h: how the agent starts, limits, measures and stops executor containers.
 *
 * A containerizer is one launcher plus an ordered table of isolators chosen by --isolation
 * from a static name table (Mesos's names: posix/cpu, posix/mem, posix/disk, cgroups/cpu,
 * cgroups/mem, cgroups/pids, namespaces/pid, namespaces/ipc, filesystem/linux; cmesos adds
 * namespaces/uts). Every isolator is a vtable of optional hooks (NULL = no-op): prepare
 * (before the clone: limits), update (resources changed), usage (statistics), limitation
 * (was a limit hit?). An isolator also names the cgroup controllers and the namespaces
 * it needs; the containerizer does the shared work once per container: the cloned child's
 * first act is to create the container's cgroups, set their limits and join them
 * (cm_cgroups_add_pid of itself), before its mounts and long before it execs the executor, so
 * no instruction of the executor runs unconfined (and the launch needs no parent/child
 * handshake). The child, not the agent, does it because in cgroup v1 the first cgroup.procs
 * write after a pause waits for an RCU grace period (cgroup_threadgroup_rwsem, 7-23 ms here)
 * while holding cgroup_mutex, and every mkdir/rmdir in any hierarchy waits for that mutex: on
 * the agent's loop that was the launch stall. At the end the containerizer kills what is left
 * and removes every cgroup (rmdir also takes cgroup_mutex, so with a loop it runs in a helper
 * process).
 *
 * Launchers: "posix" (fork + setsid + exec) and "linux" (clone into the selected new
 * namespaces). With a new pid namespace the linux launcher's child stays as the namespace's
 * init (pid 1): it mounts a fresh /proc (mount namespace with private propagation), starts the
 * executor as pid 2, reaps every process re-parented to it, and exits with the executor's
 * status (128 + signal when the executor was killed by a signal). Its exit makes the kernel
 * kill everything left in the namespace, so double-forked processes cannot escape.
 *
 * Defaults (options.isolation NULL or ""): "cgroups/cpu,cgroups/mem,cgroups/pids,
 * namespaces/pid" with the linux launcher when cgroups (v1 or v2) and namespaces are usable
 * (root), else "posix/cpu,posix/mem" with the posix launcher; cm_containerizer_describe says
 * what was chosen and why, for the agent's log. An explicit isolation that the machine cannot
 * provide is an error.
 *
 * cgroups are detected once (cm_containerizer_new); nothing per launch or per statistics
 * request scans the mount table. Orphans: each launched container id is recorded (in
 * <options.runtime_dir>.log, see records.h); cm_containerizer_new kills and removes the cgroups
 * of ids recorded by a previous run (so several agents with different work dirs can share one
 * cgroups_root without destroying each other's containers).
 *
 * Launch helper: with the agent's loop, containers are cloned by a small helper process forked
 * in cm_containerizer_new (spawner.h) rather than by the agent, so a launch does not copy the
 * grown agent's page tables nor take its copy-on-write faults. The helper clones with
 * CLONE_PARENT: every container is still the agent's child, and everything below holds as
 * before. Container images and nested containers are cloned from the agent; a helper that
 * breaks is dropped with a warning and launches go on without it.
 *
 * cgroup pool (cgpool.h, off unless options.cgroup_pool > 0: measured, it moves the mkdirs to
 * the janitor without shortening the launch here): with the loop and cgroups, the janitor
 * makes a few containers' cgroups ahead (pids.max set) and a launch's child renames one to its
 * container id instead of making them; what the pool holds at exit is removed, and a crashed
 * run's entries are orphans.
 *
 * Orphan records are one append-only log beside runtime_dir (records.h), not a file per
 * container: no inode is allocated or freed per task.
 *
 * The agent reaps children itself (SIGCHLD on its loop) and calls cm_containerizer_reaped;
 * the containerizer never waits for a child. Given the agent's loop (options.base) it never
 * waits at all: launches are asynchronous (the exec result is an event on the loop), teardown
 * (kill -> re-check on a backoff timer until the cgroups are empty -> rmdir) is a state
 * machine of non-blocking steps, and kills are a few system calls (cgroup kill step, process
 * group, pid namespace init), never a /proc scan. cm_containerizer_free drives the remaining
 * teardowns to their end (bounded, blocking: the daemon is exiting). Containers are indexed
 * by container id in a hash table. Single-threaded (the agent's loop).
 */
#ifndef CM_AGENT_CONTAINERIZER_H
#define CM_AGENT_CONTAINERIZER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "resources.h"

#define CM_CONTAINERIZER_DEFAULT_MAX_PIDS 4096

struct event_base;
struct cm_clock;
struct cm_user;
struct cm_rootfs_spec;

/* An asynchronous launch's exec result: rc 0 once the executor's execve succeeded (or, under
 * a pid namespace, once the init started it), else the failure with why. Called on the loop
 * (or from cm_containerizer_launch_error, _update or _reaped when they find the report
 * first). pid is the leader the launch returned. */
typedef void (*cm_containerizer_launched_fn)(void *arg, const char *container_id, pid_t pid, int rc,
                                             const char *why);
/* A container's teardown finished: rc 0 (processes gone, cgroups removed) or the error. */
typedef void (*cm_containerizer_destroyed_fn)(void *arg, const char *container_id, int rc,
                                              const char *why);

struct cm_containerizer_options {
    const char *isolation;         /* NULL or "" = the best default the machine allows */
    const char *launcher;          /* "linux", "posix", NULL = linux iff namespaces/cgroups */
    const char *cgroups_hierarchy; /* NULL = "/sys/fs/cgroup" */
    const char *cgroups_root;      /* NULL = "mesos" */
    bool cgroups_enable_cfs;       /* hard CFS quota of cpus * period */
    bool cgroups_limit_swap;       /* v1 memsw / v2 memory.swap.max limited too */
    uint64_t cgroups_max_pids;     /* pids.max per container; 0 = default (4096) */
    const char *runtime_dir;       /* records of launched ids for orphan cleanup; NULL = none */
    /* With a base: the launch helper program (spawner.h); NULL = mesos-launch-helper beside the
     * running program. Missing or "": the helper is a fork of the agent. */
    const char *launch_helper;
    bool no_launch_helper; /* clone every container from the agent itself (measurements) */
    int cgroup_pool;       /* pool cgroups made ahead (cgpool.h); 0 = none (the default) */
    const char *mountinfo; /* tests: mount table text instead of /proc/self/mountinfo */
    /* The agent recovers containers from its checkpoints: orphans are cleaned only by
     * cm_containerizer_recover, after the surviving containers are re-attached. */
    bool defer_orphan_cleanup;
    /* The agent's loop. With it, nothing the containerizer does waits: launches return once
     * the child is cloned (the exec result arrives later, see launched), teardowns and orphan
     * cleanups are timer-driven state machines (teardown.h), and the posix launcher's session
     * sweep runs off the loop (sweeper.h). NULL: the old blocking behaviour (tests, tools). */
    struct event_base *base;
    const struct cm_clock *clock;            /* NULL = the real clock */
    cm_containerizer_launched_fn launched;   /* may be NULL */
    cm_containerizer_destroyed_fn destroyed; /* may be NULL */
    void *cb_arg;
    /* Disk (disk.h): with a base and an interval > 0, every launched container's sandbox (its
     * cwd) is measured that often, whatever --isolation says (posix/disk is accepted and
     * implied), and reported as disk_used_bytes / disk_limit_bytes (the `disk` resource) in
     * the statistics. With enforce_disk_quota a container over its limit is killed and
     * cm_containerizer_limitation reports CM_LIMITATION_DISK. Recovered containers are
     * measured once the agent hands their sandboxes over (cm_containerizer_watch_disk). */
    double disk_watch_interval;
    bool enforce_disk_quota;
    /* An asynchronous launch's child has joined its cgroups (it has not exec'd yet): from now
     * on a clone() no longer waits for its cgroup.procs writes (the kernel's threadgroup lock
     * on cgroup v1). Called on the loop at most once per launch, before launched, and only
     * when the launch joins cgroups. May be NULL. */
    void (*joined)(void *arg, const char *container_id);
};

/* What to start. Pointers are borrowed for the duration of the call. */
struct cm_launch_spec {
    const char *container_id;
    char *const *argv; /* argv[0] is the program path */
    char *const *envp;
    const char *cwd;         /* the sandbox */
    const char *stdout_path; /* opened O_APPEND|O_CREAT by the child; errors come back */
    const char *stderr_path;
    const struct cm_resources *resources; /* limits for isolators (may be NULL) */
    /* The child makes cwd (and missing parents, mode 0755) before it opens stdout/stderr, so
     * the file system's inode allocation is not paid on the caller's loop. Then, if link is
     * set, it points link at link_target through link_tmp (symlink, then rename over link),
     * e.g. the sandbox's runs/latest. A failure is a launch error naming the path. */
    bool create_cwd;
    const char *link;
    const char *link_tmp;
    const char *link_target;
    /* --switch_user (user.h): NULL = run as the agent's user. Else, after the cgroups, mounts,
     * stdio and chdir, the child chowns the sandbox (cwd) and its stdout/stderr files to
     * user's uid:gid and then sets groups, gid and uid before exec; a failure is a launch
     * error "Failed to switch to user '<name>': ...". */
    const struct cm_user *user;
    /* A container image's root filesystem (rootfs.h), or NULL. The child mounts it after the
     * sandbox exists and before stdio, inside its mount namespace (which filesystem/linux
     * provides; without one the launch fails). A failure is a launch error "Failed to
     * provision the container's root filesystem: ...". */
    const struct cm_rootfs_spec *rootfs;
    /* A nested container (Mesos's LAUNCH_CONTAINER with a parent): container_id is then
     * "<parent id>/mesos/<child id>" so its cgroups are created in the parent's subtree
     * (cgroups.h) with the limits from resources, and enter_pid is a process of the parent
     * container (its leader: the pid namespace's init under the linux launcher). Right after
     * joining its cgroups the child enters that process's network, UTS and IPC namespaces and
     * (when the launcher gives containers a mount namespace) a private copy of its mount
     * namespace, so it shares the parent's network and sees the parent's mounts; it keeps a
     * pid namespace of its own when namespaces/pid is on. A failure is a launch error "Failed
     * to enter the parent container's namespaces: ...". 0 = not nested. */
    pid_t enter_pid;
    /* With a pid namespace (the linux launcher's init), the file where the init writes its
     * exit code (decimal, newline) before it exits, so an agent that was restarted meanwhile
     * (and so is not its parent) still learns how the container ended. The child creates it
     * before any user switch; failing to is a launch error. NULL = none. */
    const char *exit_status_path;
};

struct cm_containerizer;

/* Builds a containerizer. Unknown isolator names fail with CM_EINVAL and why "Unknown or
 * unsupported isolator 'x'"; isolators the machine cannot provide fail with CM_ESTATE. */
int cm_containerizer_new(const struct cm_containerizer_options *opts, struct cm_containerizer **out,
                         char *why, size_t whylen);
/* Frees the table (does not kill anything). NULL is a no-op. */
void cm_containerizer_free(struct cm_containerizer *c);
/* A sentence for the log: launcher, isolators, cgroup version, and any fallback. */
const char *cm_containerizer_describe(const struct cm_containerizer *c);
/* The effective comma-separated isolation list. */
const char *cm_containerizer_isolation(const struct cm_containerizer *c);

/* Prepares (cgroups + limits), launches, places the child in its cgroups and lets it exec.
 * Without a base: returns 0 and *pid once the executable's execve has succeeded (or, under a
 * pid namespace, once the init has started it), or a negative error with why (the container
 * is cleaned up and forgotten; a child that was created is killed and left to the caller's
 * reaper). With a base: returns 0 and *pid as soon as the child is cloned; an exec failure
 * then ends the child (status 127), is logged, reported to options.launched, and kept for
 * cm_containerizer_launch_error; the caller's reaper sees the exit as usual. Errors before the
 * clone (cgroups, stdio files) are still returned by the call. */
int cm_containerizer_launch(struct cm_containerizer *c, const struct cm_launch_spec *spec,
                            pid_t *pid, char *why, size_t whylen);
/* Sends sig to the container's processes. Returns 0, CM_ENOTFOUND or -errno. */
int cm_containerizer_kill(struct cm_containerizer *c, const char *container_id, int sig);
/* Applies new limits (resources changed). */
int cm_containerizer_update(struct cm_containerizer *c, const char *container_id,
                            const struct cm_resources *resources);
/* Why an asynchronous launch failed ("Failed to execute '/x': No such file or directory"), or
 * NULL (it succeeded, is still pending, or the container is unknown). Reads a report that
 * arrived but was not handled yet, so call it from the reaper before cm_containerizer_reaped.
 * The text lives until cm_containerizer_reaped. */
const char *cm_containerizer_launch_error(struct cm_containerizer *c, const char *container_id);
/* The leader was reaped: forget the container and tear it down. Without a base the teardown
 * (kill whatever is left, remove the cgroups) happens in the call; with a base it is started
 * and runs on timers (options.destroyed hears the end); the id cannot be launched again until
 * it is done. */
void cm_containerizer_reaped(struct cm_containerizer *c, const char *container_id);
/* Agent recovery: re-attaches the containers of ids[i] whose leaders pids[i] survived the
 * agent's restart (their cgroups and runtime records are kept and they are killed, updated and
 * reaped like launched ones; the agent watches the leader with a pidfd since it is no longer
 * its child), then cleans every other recorded container as an orphan (kills it and removes
 * its cgroups). Call once, after cm_containerizer_new with defer_orphan_cleanup. */
void cm_containerizer_recover(struct cm_containerizer *c, const char *const *ids, const pid_t *pids,
                              size_t n);
/* Agent recovery: measures (and, with enforcement, limits) the disk of a re-attached
 * container's sandbox like a launched one's (its `disk` resource from resources). No-op
 * without a disk watch or for an unknown container. */
void cm_containerizer_watch_disk(struct cm_containerizer *c, const char *container_id,
                                 const char *sandbox, const struct cm_resources *resources);
/* Number of live containers. */
size_t cm_containerizer_count(const struct cm_containerizer *c);
/* Number of teardowns (reaped containers and orphans) still in progress. */
size_t cm_containerizer_tearing_down(const struct cm_containerizer *c);
/* Whether container_id is live or still being torn down: a launch with it would fail with
 * CM_EEXIST until this turns false. */
bool cm_containerizer_busy(const struct cm_containerizer *c, const char *container_id);

/* Fills statistics (a JSON object) with Mesos ResourceStatistics fields: timestamp,
 * cpus_limit, mem_limit_bytes and what the isolators measure (cpus_user_time_secs,
 * cpus_system_time_secs, cpus_nr_periods, cpus_nr_throttled, cpus_throttled_time_secs,
 * mem_total_bytes, mem_rss_bytes, mem_cache_bytes, processes...). now is the timestamp. */
int cm_containerizer_usage(struct cm_containerizer *c, const char *container_id, double now,
                           json_t *statistics);

/* A limit the container hit, as reported in a TaskStatus. */
enum cm_limitation {
    CM_LIMITATION_NONE = 0,
    CM_LIMITATION_MEMORY, /* REASON_CONTAINER_LIMITATION_MEMORY */
    CM_LIMITATION_DISK, /* REASON_CONTAINER_LIMITATION_DISK: "Disk usage (..) exceeds quota (..)" */
};
/* Returns the limitation the container hit (checked on demand, e.g. when a task or the
 * executor dies) and a message naming the limit, e.g. "Memory limit exceeded: Requested:
 * 64MB Maximum Used: 64MB". *mem_limit_mb is the limit in MB (for TaskStatus.limitation). */
enum cm_limitation cm_containerizer_limitation(struct cm_containerizer *c, const char *container_id,
                                               char *message, size_t len, double *mem_limit_mb);

/* The launch helper's pid (spawner.h), or 0 when containers are cloned from the agent itself
 * (no loop, the helper could not start, or it broke and was dropped). */
pid_t cm_containerizer_helper_pid(const struct cm_containerizer *c);

/* Pool cgroups (cgpool.h) ready for the next launches; 0 without a pool. */
size_t cm_containerizer_pool_ready(const struct cm_containerizer *c);

/* ---- seams (used by the isolator table and the launchers; also by tests) ---- */

/* Creates, limits and joins the container's cgroups from the calling (freshly cloned)
 * process. Runs in the child before any other step; returns 0 or a negative error with why.
 * It runs in a copy of the agent, never on the agent's loop: cgroup mkdir and the first
 * cgroup.procs write after a pause wait for the kernel (see cm_containerizer_launch). */
typedef int (*cm_launch_join_fn)(const void *arg, char *why, size_t whylen);

/* Launch context handed to launchers: the namespaces to create and how the child joins its
 * cgroups (created and limited by the containerizer before the clone). */
struct cm_launch_ctx {
    unsigned long clone_flags; /* CLONE_NEW* */
    cm_launch_join_fn join;    /* NULL = none */
    const void *join_arg;
    /* NULL: the spawn waits for the exec. Else the spawn returns once the child is cloned and
     * hands over the status pipe's non-blocking read end here (the caller owns it). */
    int *status_fd;
    /* 1: every signal disposition of the caller is SIG_DFL already (the launch helper never
     * sets one), so the child skips resetting them (one sigaction per signal). */
    int signals_default;
    /* 1: clone3 with CLONE_INTO_CGROUP into cgroup_fd (a cgroup v2 directory, made and limited
     * by the caller): the child starts in its cgroup, and ctx->join need not join it. */
    int into_cgroup;
    int cgroup_fd;
};

struct cm_launcher_ops {
    const char *name;
    /* Starts the process tree, joined to its cgroups before anything else, and waits for the
     * exec (or, with ctx->status_fd, returns at once; see cm_launch_ctx). *pid is the leader
     * (also its session and process group id). */
    int (*fork)(const struct cm_launch_spec *spec, const struct cm_launch_ctx *ctx, pid_t *pid,
                char *why, size_t whylen);
    /* Sends sig to the container's process group (and to the leader while leader_alive, for
     * the window before its setsid). A couple of system calls, no /proc scan. leader_alive
     * false means the leader was reaped already, so its pid may belong to someone else now:
     * only the group is signalled. */
    int (*kill)(pid_t pid, int sig, int leader_alive);
};

/* The spawn both launchers share: clone (with ctx->clone_flags; 0 = a plain fork); the child
 * first joins its cgroups (ctx->join), then sets up mounts, opens stdout/stderr, sets its
 * session and cwd and execs; the parent waits for the exec or hands the status pipe over (a
 * CLOEXEC pipe reports the step and error of a failure, e.g. "Failed to open <path>: ..."). */
int cm_launcher_spawn(const struct cm_launch_spec *spec, const struct cm_launch_ctx *ctx,
                      pid_t *pid, char *why, size_t whylen);

/* Reads a status pipe handed over by an asynchronous spawn: 0 on EOF (the exec happened),
 * -EAGAIN when the child has not got there yet, CM_LAUNCH_JOINED when the child reports that
 * it has joined its cgroups (ctx->join returned 0; read again for the exec's report), else
 * the failure with why naming the step ("Failed to execute '/x': No such file or
 * directory"). */
#define CM_LAUNCH_JOINED 1
int cm_launcher_read_status(int fd, const char *argv0, char *why, size_t whylen);

/* Sends sig to every process whose session is one of sids[0..n), in one scan of the pid list
 * of /proc (slow: run it off the loop, e.g. through the sweeper, sweeper.h). The sids must be
 * those of reaped leaders: a sid that is the pid of a live process (checked at the start and
 * before each signal) was reused and is skipped (posix_launcher.c explains why that is sound).
 * Returns how many processes were signalled, or -ENOMEM. */
int cm_launcher_kill_sessions(const pid_t *sids, size_t n, int sig);
/* The same for one session. */
int cm_launcher_kill_session(pid_t sid, int sig);

extern const struct cm_launcher_ops cm_launcher_posix;
extern const struct cm_launcher_ops cm_launcher_linux;

/* Whether this process may create pid+mount namespaces (probes once with a short-lived
 * child). */
bool cm_launcher_linux_usable(void);

/* Whether the kernel has clone3 with CLONE_INTO_CGROUP (Linux 5.7): probed with a call that
 * fails before any process is made (a bad cgroup descriptor answers EBADF only where the flag
 * is known). */
bool cm_launcher_clone_into_cgroup_usable(void);

#endif
