/*
 * rootfs.h: assembling a container's root filesystem from image layers (Mesos's
 * filesystem/linux isolator with the overlay backend), inside the container's new mount
 * namespace.
 *
 * The agent builds a spec (cm_rootfs_spec_new, on its loop: strings only, no file system
 * work); the launch child, already in its own private mount namespace and before it execs the
 * executor, calls cm_rootfs_mount, which:
 *   1. mounts a tmpfs on spec->base (one directory shared by every container: each mounts it
 *      in its own namespace, so nothing is left on disk and nothing needs removing after);
 *   2. mounts overlayfs on base/rootfs with the layers as lowerdirs and base/upper +
 *      base/work on that tmpfs; where overlayfs cannot be mounted (no overlay, too many
 *      layers for one mount's options) it copies the layers into base/rootfs instead,
 *      bottom first, applying their whiteouts (the copy fallback);
 *   3. inside the rootfs (paths resolved with openat2 RESOLVE_IN_ROOT, so a symlink in the
 *      image can never point a mount at the host): binds the sandbox at /mnt/mesos/sandbox,
 *      binds each volume (read-only ones remounted so), mounts /proc, a tmpfs /dev with
 *      null, zero, full, random, urandom and tty, /dev/pts-less /dev/shm, and sysfs read-only.
 * The executor then runs on the host side with the rootfs at spec->rootfs; the command
 * executor enters it for the task (MESOS_ROOTFS, see src/executor/command.c).
 *
 * Writes of the task outside the sandbox and volumes land in the tmpfs (charged to the
 * container's memory cgroup, capped at spec->tmpfs_bytes) and vanish with the container.
 * Mesos keeps the upper layer on disk under --work_dir/provisioner until the container is
 * destroyed; cmesos trades that for no cleanup and no disk use.
 *
 * cm_rootfs_mount allocates nothing and calls only system calls, so it may run in a child
 * cloned from a multi-threaded process. Ownership: the spec owns its strings.
 */
#ifndef CM_AGENT_ROOTFS_H
#define CM_AGENT_ROOTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CM_ROOTFS_SANDBOX "/mnt/mesos/sandbox"
#define CM_ROOTFS_MAX_VOLUMES 64

struct cm_rootfs_volume {
    char *host;      /* absolute host path */
    char *container; /* path inside the rootfs (absolute, resolved in the root) */
    bool readonly;
    bool create_host; /* a sandbox-relative host path is made (a directory) when missing */
};

struct cm_rootfs_spec {
    char *base;         /* tmpfs mount point */
    char *rootfs;       /* base/rootfs: where the executor finds the container's root */
    char *upper, *work; /* base/upper, base/work */
    char *overlay_opts; /* NULL when the layers do not fit one mount's options */
    char **layers;      /* bottom first (the copy fallback), NULL-terminated */
    char *sandbox;      /* host path of the sandbox */
    struct cm_rootfs_volume volumes[CM_ROOTFS_MAX_VOLUMES];
    size_t n_volumes;
    uint64_t tmpfs_bytes; /* 0 = the kernel's default (half of RAM) */
    char tmpfs_opts[64];
};

/* Builds a spec: base (e.g. <work_dir>/provisioner/mnt), layer directories bottom first
 * (n), the host sandbox. Volumes are added with cm_rootfs_spec_add_volume. Never fails
 * (allocation aborts). */
struct cm_rootfs_spec *cm_rootfs_spec_new(const char *base, char *const *layers, size_t n,
                                          const char *sandbox, uint64_t tmpfs_bytes);
/* Adds a volume: host_path absolute or relative to the sandbox; container_path absolute
 * (inside the rootfs) or relative to the sandbox inside. Returns 0 or CM_EINVAL with why
 * ("'volumes[0].container_path' ... '..'"), CM_ETOOBIG past CM_ROOTFS_MAX_VOLUMES. index
 * names the volume in why. */
int cm_rootfs_spec_add_volume(struct cm_rootfs_spec *s, size_t index, const char *host_path,
                              const char *container_path, bool readonly, char *why, size_t whylen);
void cm_rootfs_spec_free(struct cm_rootfs_spec *s);

/* In the launch child (own mount namespace, /proc mounted): builds the rootfs as described
 * above. Returns 0 or an errno value with why (a static-size buffer, filled without
 * allocation: "mount overlay on <path>: ..."). */
int cm_rootfs_mount(const struct cm_rootfs_spec *s, char *why, size_t whylen);

#endif
