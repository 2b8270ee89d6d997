/*
 * spawner.h: the launch helper, a small process that clones containers for the agent.
 *
 * Cloning the agent itself for every container costs what the agent has grown to: the kernel
 * copies its page tables, and the child then takes a copy-on-write fault for every page it
 * touches (about 40 % of the agent's own CPU per task, measured). So the containerizer forks
 * one helper at start-up, while the agent is still small (cm_containerizer_new, before any
 * framework, task or connection state exists), and asks it for each launch: the launch spec
 * (argv, envp, sandbox and stdio paths, user, limits) goes down a SOCK_SEQPACKET socket pair
 * as one record; the helper clones the container with CLONE_PARENT, so the container is the
 * agent's child exactly as before (the agent's SIGCHLD reaper, pidfds, kill and recovery do
 * not change), and answers {rc, pid, why} with the launch's status pipe attached
 * (SCM_RIGHTS). The child does what the in-agent spawn does (cm_launcher_spawn: join the
 * cgroups through the join callback, namespaces, sandbox, stdio, user, exec), in a copy of the
 * helper, and the agent watches the status pipe on its loop as before.
 *
 * The helper holds no state of its own: a copy of the containerizer as it was at fork time
 * (cgroup layout, isolators, runtime dir) is what the join callback reads. It dies with the
 * agent (PR_SET_PDEATHSIG), so after an agent kill -9 the restarted agent forks a new one and
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
 * for one record (spawn in-process). Blocking: the call waits for
 * the helper's answer (a clone of a small process, well under a millisecond). Single-threaded:
 * call from the loop's thread.
 */
#ifndef CM_AGENT_SPAWNER_H
#define CM_AGENT_SPAWNER_H

#include <stddef.h>
#include <sys/types.h>

#include "containerizer.h"

#define CM_SPAWNER_MAX_REQUEST (160 * 1024)

/* Limits the join callback applies, sent with each request. */
struct cm_spawn_limits {
    double cpus;
    double mem_mb;
};

/* Runs in the cloned child (a copy of the helper, async-signal-safe calls only): create, limit
 * and join the container's cgroups. arg is the one given to cm_spawner_new, as copied into the
 * helper at fork time. */
typedef int (*cm_spawner_join_fn)(void *arg, const char *container_id,
                                  const struct cm_spawn_limits *limits, char *why, size_t whylen);

struct cm_spawner;

/* Forks the helper. clone_flags: the namespaces every container gets (CLONE_NEW*). join may
 * be NULL (no cgroups). Returns 0 and *out, or -errno. */
int cm_spawner_new(unsigned long clone_flags, cm_spawner_join_fn join, void *join_arg,
                   struct cm_spawner **out);
/* Closes the socket; the helper exits at the EOF and is waited for. NULL is a no-op. */
void cm_spawner_free(struct cm_spawner *s);
/* The helper's pid (for the log and tests). */
pid_t cm_spawner_pid(const struct cm_spawner *s);
/* Whether the helper can take spec (no rootfs, not nested, small enough). */
int cm_spawner_accepts(const struct cm_launch_spec *spec);
/* Whether rc from cm_spawner_spawn means the helper is unusable. */
int cm_spawner_broken(int rc);
/* Asks the helper to launch spec. Returns 0 with *pid (the agent's child) and *status_fd (the
 * status pipe's non-blocking read end, see cm_launcher_read_status; the caller owns it), the
 * clone's error with why, or one of the errors above. */
int cm_spawner_spawn(struct cm_spawner *s, const struct cm_launch_spec *spec,
                     const struct cm_spawn_limits *limits, pid_t *pid, int *status_fd, char *why,
                     size_t whylen);

#endif
