/*
 * provisioner.h: container images for the Mesos containerizer, on the agent's loop (Mesos's
 * provisioner with the docker store, the filesystem/linux isolator's rootfs and the
 * docker/runtime isolator's launch info).
 *
 * A task whose ContainerInfo is type MESOS with mesos.image (type DOCKER: a Docker/OCI
 * image) is provisioned before its executor starts:
 *   cm_provisioner_pull   makes sure the image is in the store (store.h). An image whose
 *                         record is in the store (from this run or an earlier one) is ready
 *                         at once (1); else a pull runs in an offload child (offload.h: the
 *                         extraction never blocks the loop) and done hears the result on the
 *                         loop: 0 or the error with why ("Failed to find image ..."). Pulls
 *                         of one image share one child.
 *   cm_provisioner_prepare builds the launch's rootfs spec (rootfs.h: layers, sandbox at
 *                         /mnt/mesos/sandbox, ContainerInfo.volumes) and the environment the
 *                         command executor needs to enter it (cm_provisioner_env).
 * Loaded images are cached by name (one small record read per name per agent run).
 *
 * Image GC (--image_gc_config, Mesos's ImageGcConfig: image_disk_headroom,
 * image_disk_watch_interval, excluded_images): every interval, when the store's file system
 * has less free space than the headroom fraction, the records of images no live container
 * uses (and not excluded) are removed with every layer no remaining image uses, in an offload
 * child. cm_provisioner_gc runs one collection now (tests, operators).
 *
 * Single-threaded (the agent's loop). Ownership: the provisioner owns its cache and jobs;
 * done's arg is the caller's, and arg_free (may be NULL) frees it after done or when the
 * provisioner is freed first.
 */
#ifndef CM_AGENT_PROVISIONER_H
#define CM_AGENT_PROVISIONER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesos/v1/mesos.pb-c.h"
#include "rootfs.h"

struct event_base;
struct cm_provisioner;

struct cm_provisioner_options {
    struct event_base *base;
    const char *work_dir;        /* the rootfs mount point is <work_dir>/provisioner/mnt */
    const char *store_dir;       /* NULL = <work_dir>/store/docker */
    const char *registry_dir;    /* --docker_registry: a local directory */
    const char *gc_config;       /* --image_gc_config JSON (inline or a file path), or NULL */
    uint64_t rootfs_tmpfs_bytes; /* cap of each container's writable layer; 0 = 1 GiB */
};

typedef void (*cm_provisioner_done_fn)(void *arg, int rc, const char *why);
/* The images live containers use (for GC): call fn for each name. */
typedef void (*cm_provisioner_each_fn)(void *ctx, const char *image);
typedef void (*cm_provisioner_in_use_fn)(void *arg, cm_provisioner_each_fn fn, void *ctx);

/* Validates the options (registry_dir must be an absolute local directory: URLs of remote
 * registries are refused, as there is no registry puller) and makes the store. */
int cm_provisioner_new(const struct cm_provisioner_options *opts, cm_provisioner_in_use_fn in_use,
                       void *in_use_arg, struct cm_provisioner **out, char *why, size_t whylen);
void cm_provisioner_free(struct cm_provisioner *p);

/* The image name a ContainerInfo asks for (MESOS with mesos.image.docker.name), or NULL. */
const char *cm_provisioner_image_name(const Mesos__V1__ContainerInfo *ci);

/* 1: ready now (done is not called, arg_free is called). 0: pulling; done(arg, rc, why) runs
 * on the loop later, then arg_free(arg). <0: cannot start (why). */
int cm_provisioner_pull(struct cm_provisioner *p, const char *image, cm_provisioner_done_fn done,
                        void *arg, void (*arg_free)(void *), char *why, size_t whylen);

/* What a launch needs: the rootfs spec (for cm_launch_spec.rootfs) and the environment to
 * add for the executor. */
struct cm_provisioner_launch {
    struct cm_rootfs_spec *rootfs;
    char **env; /* "NAME=value", NULL-terminated: MESOS_ROOTFS, MESOS_SANDBOX_DIRECTORY,
                   MESOS_WORKING_DIRECTORY, MESOS_TASK_ENVIRONMENT, MESOS_TASK_COMMAND */
};

/* Builds the launch of a pulled image for a command task: ci (its ContainerInfo), cmd (the
 * task's CommandInfo), sandbox (host path). Errors: image not pulled, bad volumes, a
 * command the docker/runtime rule refuses. */
int cm_provisioner_prepare(struct cm_provisioner *p, const Mesos__V1__ContainerInfo *ci,
                           const Mesos__V1__CommandInfo *cmd, const char *sandbox,
                           struct cm_provisioner_launch **out, char *why, size_t whylen);
void cm_provisioner_launch_free(struct cm_provisioner_launch *l);

/* Returns env (NULL-terminated, malloc'd strings, as cm_executor_env_build makes) with the
 * launch's variables appended (env is consumed). */
char **cm_provisioner_env(const struct cm_provisioner_launch *l, char **env);

/* Starts a collection now (in an offload child). Returns 0, or CM_ESTATE when one is running
 * or pulls are in flight. done (may be NULL) hears the result. */
int cm_provisioner_gc(struct cm_provisioner *p, void (*done)(void *arg, int rc), void *arg);

/* Store directory in use. */
const char *cm_provisioner_store_dir(const struct cm_provisioner *p);

#endif
