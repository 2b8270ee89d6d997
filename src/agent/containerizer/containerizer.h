/*
 * containerizer.h: how the agent starts, limits and stops executor containers.
 *
 * A containerizer is one launcher (creates the process tree: fork+exec into a new session for
 * the "posix" launcher; clone+namespaces later for "linux") plus an ordered table of
 * isolators chosen by --isolation from a static name table. Every isolator is a vtable of
 * optional hooks (NULL = no-op): recover, prepare (before the fork), isolate (after the fork,
 * before exec is released), update (resources changed), usage (statistics), status, cleanup
 * (after the container's last process is gone). Today only "posix/cpu" and "posix/mem" exist
 * and they do nothing (Mesos's posix isolators only report usage); cgroups and namespaces come
 * in later issues behind the same seam without touching the agent.
 *
 * The agent reaps children itself (SIGCHLD on its loop) and calls cm_containerizer_reaped;
 * the containerizer never waits. Containers are indexed by container id in a hash table.
 * Single-threaded (the agent's loop).
 */
#ifndef CM_AGENT_CONTAINERIZER_H
#define CM_AGENT_CONTAINERIZER_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "resources.h"

/* What to start. Pointers are borrowed for the duration of the call. */
struct cm_launch_spec {
    const char *container_id;
    char *const *argv; /* argv[0] is the program path */
    char *const *envp;
    const char *cwd;         /* the sandbox */
    const char *stdout_path; /* opened O_APPEND|O_CREAT in the parent, so errors are ours */
    const char *stderr_path;
    const struct cm_resources *resources; /* limits for isolators (may be NULL) */
};

struct cm_isolator_ops {
    const char *name;
    int (*recover)(void *self);
    int (*prepare)(void *self, const struct cm_launch_spec *spec);
    int (*isolate)(void *self, const char *container_id, pid_t pid);
    int (*update)(void *self, const char *container_id, const struct cm_resources *resources);
    int (*usage)(void *self, const char *container_id, json_t *statistics);
    int (*status)(void *self, const char *container_id, json_t *status);
    int (*cleanup)(void *self, const char *container_id);
    void *(*create)(void); /* per-containerizer state; NULL = none */
    void (*destroy)(void *self);
};

struct cm_launcher_ops {
    const char *name;
    /* Starts the process tree; *pid is the leader (also its process group id). */
    int (*fork)(const struct cm_launch_spec *spec, pid_t *pid);
    /* Sends sig to every process of the container. leader_alive false means the leader was
     * reaped already, so its pid may belong to someone else now: only the group is signalled. */
    int (*kill)(pid_t pid, int sig, int leader_alive);
};

struct cm_containerizer;

/* The "posix" launcher: fork + setsid + exec. */
extern const struct cm_launcher_ops cm_launcher_posix;

/* Builds a containerizer for a comma-separated --isolation list (NULL = "posix/cpu,posix/mem").
 * Unknown names fail with CM_EINVAL and why "Unknown or unsupported isolator 'x'". */
int cm_containerizer_new(const char *isolation, struct cm_containerizer **out, char *why,
                         size_t whylen);
/* Frees the table (does not kill anything). NULL is a no-op. */
void cm_containerizer_free(struct cm_containerizer *c);

/* Runs prepare, the launcher, then isolate. Returns 0 and *pid, or a negative error (the
 * container is cleaned up and forgotten on failure). */
int cm_containerizer_launch(struct cm_containerizer *c, const struct cm_launch_spec *spec,
                            pid_t *pid);
/* Sends sig to the container's process group. Returns 0, CM_ENOTFOUND or -errno. */
int cm_containerizer_kill(struct cm_containerizer *c, const char *container_id, int sig);
/* The leader was reaped: SIGKILL whatever is left of the group, run cleanup, forget it. */
void cm_containerizer_reaped(struct cm_containerizer *c, const char *container_id);
/* Number of live containers. */
size_t cm_containerizer_count(const struct cm_containerizer *c);

#endif
