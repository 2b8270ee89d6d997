/*
 * isolators.h: the containerizer's isolator table (internal to src/agent/containerizer).
 *
 * Each isolator names the cgroup controllers and namespaces it needs and has optional hooks:
 * prepare (set the container's limits in its cgroups; also serves updates) and usage (fill the
 * statistics from what the cgroups measured). The hooks read the per-container record below,
 * which the containerizer owns. Stateless; any thread.
 */
#ifndef CM_AGENT_ISOLATORS_H
#define CM_AGENT_ISOLATORS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cgroups.h"
#include "containerizer.h"

#define MB (1024.0 * 1024.0)

struct event;

/* A container as the containerizer tracks it. */
struct container {
    struct cm_containerizer *c;
    char *id;
    pid_t pid;
    bool alive; /* the leader has not been reaped */
    double cpus, mem_mb;
    /* An asynchronous launch until its report is read: the status pipe and its event. */
    int status_fd;
    struct event *status_ev;
    char *argv0;
    char *launch_error;  /* why the exec failed, once known */
    bool reapply_limits; /* updated while the child was setting up its cgroups */
    char *pool;          /* the pool entry (cgpool.h) the launch took, until it joined */
    bool pids_preset;    /* in the launch child: pids.max came with the pool entry */
};

/* What the isolators' hooks see. */
struct iso_ctx {
    const struct cm_cgroups *cg;
    const struct cm_containerizer_options *opts;
};

/* An isolator: the cgroup controllers and namespaces it needs, and optional hooks. */
struct isolator {
    const char *name;
    unsigned cgroups;          /* CM_CG_BIT mask */
    unsigned long clone_flags; /* CLONE_NEW* */
    int (*prepare)(const struct iso_ctx *x, const char *id, const struct container *ct, char *why,
                   size_t whylen);
    /* update is prepare with new limits: the same hook serves both. */
    void (*usage)(const struct iso_ctx *x, const struct container *ct,
                  const struct cm_cgroups_usage *u, json_t *stats);
};

/* Looks an isolator up by its --isolation name; NULL when unknown. */
const struct isolator *cm_isolator_find(const char *name);

#endif
