/*
 * contender.h: the master's leadership seam.
 *
 * The scheduler and state endpoints ask the contender whether this master leads, who leads
 * otherwise (for the 307 redirect) and whether the registry is still being recovered (503).
 * "standalone" always leads and never recovers; a ZooKeeper contender (later issue) plugs in
 * behind the same vtable. Threading: the master's loop.
 */
#ifndef CM_CONTENDER_H
#define CM_CONTENDER_H

#include <stdbool.h>
#include <stddef.h>

struct cm_contender;

struct cm_contender_ops {
    const char *name;
    bool (*is_leader)(const struct cm_contender *c);
    /* Fills "host:port" of the current leader; returns false when no leader is known. */
    bool (*leader)(const struct cm_contender *c, char *out, size_t len);
    bool (*recovering)(const struct cm_contender *c);
    void (*destroy)(struct cm_contender *c);
};

struct cm_contender {
    const struct cm_contender_ops *ops;
    char self[300]; /* "host:port" of this master */
};

/* The standalone contender: always the leader (self is "host:port"). */
struct cm_contender *cm_contender_standalone_new(const char *self);
void cm_contender_free(struct cm_contender *c);

#endif
