/*
 * registrar.h: the master's registry seam.
 *
 * Admitted agents are recorded through a registry storage before the master acts on them
 * (design §3.10), so a later issue can persist the registry (file, replicated log) and
 * recover agents after a master failover without touching the master's logic. Storage is a
 * vtable chosen by name (--registry); "in_memory" keeps everything in the process.
 *
 * Operations complete through a callback, which the in-memory storage calls before
 * returning; a durable storage may call it later from the event loop. The callback gets 0 or
 * a negative error. Threading: the master's loop.
 */
#ifndef CM_REGISTRAR_H
#define CM_REGISTRAR_H

#include <stddef.h>

#include "mesos/v1/mesos.pb-c.h"

struct cm_registrar;

typedef void (*cm_registrar_done_cb)(void *arg, int err);

struct cm_registry_storage_ops {
    const char *name;
    /* Records (or replaces) an admitted agent. info is copied. */
    void (*admit)(struct cm_registrar *r, const Mesos__V1__AgentInfo *info, cm_registrar_done_cb cb,
                  void *arg);
    /* Forgets an agent (UNREGISTER / removal). */
    void (*remove)(struct cm_registrar *r, const char *agent_id, cm_registrar_done_cb cb,
                   void *arg);
    /* Number of agents recorded. */
    size_t (*count)(const struct cm_registrar *r);
    void (*destroy)(struct cm_registrar *r);
};

struct cm_registrar {
    const struct cm_registry_storage_ops *ops;
    void *state;
};

/* Creates the registrar for storage name ("in_memory"). Returns NULL for an unknown name. */
struct cm_registrar *cm_registrar_new(const char *name);
void cm_registrar_free(struct cm_registrar *r);

static inline void cm_registrar_admit(struct cm_registrar *r, const Mesos__V1__AgentInfo *info,
                                      cm_registrar_done_cb cb, void *arg)
{
    r->ops->admit(r, info, cb, arg);
}
static inline void cm_registrar_remove(struct cm_registrar *r, const char *agent_id,
                                       cm_registrar_done_cb cb, void *arg)
{
    r->ops->remove(r, agent_id, cb, arg);
}

#endif
