/*
 * spawner.h: the launch helper, a small process that clones containers for the agent.
 *
 * Cloning the agent itself for every container costs what the agent has grown to: the kernel
 * copies its page tables, and the child then takes a copy-on-write fault for every page it
 * touches (about 40 % of the agent's own CPU per task, measured). So the containerizer forks
 * one helper at start-up and has it exec mesos-launch-helper, a small statically linked
 * program (a dozen mappings to copy per clone where the agent has two hundred: its shared
 * libraries), and asks it for each launch: the launch spec
 * (argv, envp, sandbox and stdio paths, user, limits) goes down a SOCK_SEQPACKET socket pair
 * as one record; the helper clones the container with CLONE_PARENT, so the container is the
 * agent's child exactly as before (the agent's SIGCHLD reaper, pidfds, kill and recovery do
 * not change), and answers {rc, pid, why} with the launch's status pipe attached
 * (SCM_RIGHTS). The child does what the in-agent spawn does (cm_launcher_spawn: record, create,
 * limit and join its cgroups from the configuration below, then namespaces, sandbox, stdio,
 * user, exec), in a copy of the helper, and the agent watches the status pipe on its loop as
 * before.
 *
 * Where the program is missing the forked child serves itself (a fork of the agent while it is
 * still small, in cm_containerizer_new). The helper's only state is the configuration the
 * agent sends first (struct cm_spawn_config: cgroup layout, isolators, record log). It dies with
 * the agent (PR_SET_PDEATHSIG), so after an agent kill -9 the restarted agent forks a new one and
 * nothing of the old one is left; containers are never its children, so its death orphans
 * nothing. Not handled by the helper (the caller spawns in-process): container images
 * (rootfs), nested containers (entering a parent's namespaces) and specs over
 * CM_SPAWNER_MAX_REQUEST bytes.
 *
 * Errors: a failed clone in the helper comes back as the call's error with why ("Failed to
 * clone the executor: ..."). A broken helper: CM_ECLOSED when the request could not be sent
 * (nothing happened: the caller may spawn in-process), -ETIMEDOUT (no answer within 10 s) or
 * -ECONNRESET (it died) after it was sent (the launch failed; a child it may have cloned is in
 * the container's cgroups, which the caller destroys); either way the caller frees the spawner
 * (cm_spawner_broken) and spawns in-process from then on. CM_ETOOBIG: the spec is too large
 * for one record (spawn in-process). Blocking: the call waits for the helper's answer (a clone
 * of a small process into new namespaces: 0.9-1.2 ms p50 on the loaded 2-core test machine,
 * where cloning a grown agent blocked its loop 1.8-9.8 ms). Single-threaded: call from the
 * loop's thread.
 */
#ifndef CM_AGENT_SPAWNER_H
#define CM_AGENT_SPAWNER_H

#include <stddef.h>
#include <sys/types.h>

#include <stdint.h>

#include "cgroups.h"
#include "containerizer.h"

#define CM_SPAWNER_MAX_REQUEST (160 * 1024)
#define CM_SPAWNER_PROGRAM "mesos-launch-helper"

/* What every container gets, sent to the helper once at its start (plain data). The join
 * step, in the cloned child before anything else: append the record (records.h), then with
 * cgroups create the container's cgroups, set the limits of the selected isolators and join
 * them, exactly as the containerizer's in-agent spawn does. */
struct cm_spawn_config {
    unsigned long clone_flags; /* CLONE_NEW* */
    int join;                  /* 0: no join step at all */
    int use_cgroups;
    int limit_cpu, limit_mem, limit_pids; /* cgroups/cpu, cgroups/mem, cgroups/pids */
    int cfs_quota, limit_swap;
    uint64_t max_pids;
    struct cm_cgroups cg;
    char records_log[1024]; /* "" = no records */
};

/* Whether the helper clones each container straight into its cgroup (clone3 with
 * CLONE_INTO_CGROUP) instead of joining it in the child: cgroup v2 with the controller of
 * every configured limit usable, and kernel_ok (cm_launcher_clone_into_cgroup_usable). Then the
 * helper makes and limits the cgroup before the clone (the agent waits for that: one mkdir and
 * a write per limit, where v1 pays them in the child plus a cgroup.procs write per hierarchy,
 * each a migration under the kernel's threadgroup lock); the child still appends the record
 * and reports "joined". v1, and the agent's own in-process spawn, join after the clone. */
int cm_spawner_clone_into_cgroup(const struct cm_spawn_config *cfg, int kernel_ok);

/* Limits of one container, sent with each request. */
struct cm_spawn_limits {
    double cpus;
    double mem_mb;
};

struct cm_spawner;

/* Starts the helper: forks, and in the child execs program (the lean, statically linked
 * mesos-launch-helper; NULL or not executable = stay a fork of the caller), then sends cfg and
 * waits for the helper's greeting (at most 10 s). Returns 0 and *out, or a negative error. */
int cm_spawner_new(const struct cm_spawn_config *cfg, const char *program, struct cm_spawner **out);
/* The helper program's main loop on the socket sock (the protocol's far end). Returns the
 * process's exit code when the agent has gone. */
int cm_spawner_serve(int sock);
/* Whether the helper runs the lean program (1) or is a fork of the agent (0). */
int cm_spawner_lean(const struct cm_spawner *s);
/* Closes the socket; the helper exits at the EOF and is waited for. NULL is a no-op. */
void cm_spawner_free(struct cm_spawner *s);
/* The helper's pid (for the log and tests). */
pid_t cm_spawner_pid(const struct cm_spawner *s);
/* Whether the helper can take spec (no rootfs, not nested, small enough). */
int cm_spawner_accepts(const struct cm_launch_spec *spec);
/* Whether rc from cm_spawner_spawn means the helper is unusable. */
int cm_spawner_broken(int rc);
/* Asks the helper to launch spec; pool: a pool entry (cgpool.h) the child renames to the
 * container's cgroups instead of making them, or NULL. Returns 0 with *pid (the agent's child) and
 * *status_fd (the status pipe's non-blocking read end, see cm_launcher_read_status; the caller owns
 * it), the clone's error with why, or one of the errors above. */
int cm_spawner_spawn(struct cm_spawner *s, const struct cm_launch_spec *spec,
                     const struct cm_spawn_limits *limits, const char *pool, pid_t *pid,
                     int *status_fd, char *why, size_t whylen);

#endif
