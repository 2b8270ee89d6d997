/*
 * registrar.h: the master's registry — which agents are admitted, unreachable or gone — kept
 * durable through a storage so that a restarted master knows which agents to wait for
 * (docs/wire-protocol.md §11.2, docs/architecture.md) — and what the operator set that must
 * survive a failover: role weights and each agent's deactivated / drain state (Mesos keeps both
 * in its registry too). Later issues add maintenance and quota (proto/cmesos/registry.proto keeps
 * field numbers free for them).
 *
 * Two layers (the storages in registrar_storage.c, with the file storage's writer child in
 * registrar_writer.h; the registrar's queue in registrar.c, over the registry's content kept as
 * packed records in registrar_content.h):
 *   - a storage (vtable) that fetches and stores the whole packed registry: "in_memory" keeps
 *     the bytes in the process (tests), "file" writes <work_dir>/registry (temp file, fsync,
 *     rename, fsync of the directory), framed with a magic, a format number, the length and a
 *     CRC-32 so a truncated or corrupt file is reported instead of half-read. ZooKeeper comes
 *     behind the same vtable (cm_registry_storage_zk_new); that is why both calls complete through
 *     callbacks (in_memory calls them before returning, zk later from the loop; file before
 *     returning until the storage is given a loop, then later from the loop: its stores are
 *     written by a writer child so that the loop never waits for the two syncs,
 *     registrar_writer.h; its fetch, once at start, stays a read on the caller's thread).
 *   - the registrar, which owns the registry's current content and serialises operations: each
 *     operation is queued, applied in order, the new registry is stored, and only then is the
 *     operation's callback run — the master acts on an admission or removal only in that
 *     callback ("written before the master acts"). Each top-level record (one agent, one
 *     unreachable or gone entry) is kept packed, in a stable order (new ones last, a changed
 *     one in its place), so a store packs only what changed and copies the rest; an operation
 *     that changes nothing — notably an admission with the AgentInfo already stored, which is
 *     what re-registrations after a failover are — completes at once without a store. If a
 *     store fails the registrar becomes failed: that operation and every later one complete
 *     with the error (Mesos aborts the master in that case; the master logs and stops serving
 *     agents).
 *
 * Layer: a seam of the master's core (master.h); it knows nothing of the master and includes
 * no edge header. cm_registrar_hold/release let the core batch a burst into one store.
 *
 * Ownership: AgentInfos passed in are copied. Query results are borrowed from the registrar
 * and valid until the next operation is applied. Threading: the master's event loop.
 */
#ifndef CM_REGISTRAR_H
#define CM_REGISTRAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesos/v1/mesos.pb-c.h"
#include "strmap.h"
#include "zk_url.h"

struct event_base;

struct cm_registrar;
struct cm_registry_storage;

typedef void (*cm_registrar_done_cb)(void *arg, int err);
typedef void (*cm_registry_fetch_cb)(void *arg, int err, const uint8_t *data, size_t len,
                                     const char *why);

struct cm_registry_storage_ops {
    const char *name;
    /* Reads the stored bytes; calls cb with len 0 when nothing was stored yet, or with an error
     * and a why text naming what is wrong (e.g. the corrupt file). */
    void (*fetch)(struct cm_registry_storage *s, cm_registry_fetch_cb cb, void *arg);
    /* Replaces the stored bytes; cb(arg, 0) once they are durable, or a negative error. data
     * is borrowed for the call only (a storage that answers later keeps its own copy). */
    void (*store)(struct cm_registry_storage *s, const uint8_t *data, size_t len,
                  cm_registrar_done_cb cb, void *arg);
    void (*destroy)(struct cm_registry_storage *s);
    /* Optional (NULL: nothing to do): the storage is given the master's loop
     * (cm_registrar_set_loop). The file storage then writes through a writer child
     * (registrar_writer.h) and its stores complete later, on the loop. */
    void (*attach)(struct cm_registry_storage *s, struct event_base *base);
    /* Optional (NULL, or NULL returned: the registrar uses its own buffer): a buffer of at least
     * len bytes that the storage owns, for the registrar to assemble the next store into, so
     * that store() need not copy it (the file storage's writer: its shared memfd). Valid until
     * the next call; asked for only when no store is in flight. */
    uint8_t *(*buffer)(struct cm_registry_storage *s, size_t len);
};

struct cm_registry_zk;
struct cm_reg_writer;

struct cm_registry_storage {
    const struct cm_registry_storage_ops *ops;
    char *path; /* file storage: the registry file; zk storage: the znode */
    uint8_t *mem;
    size_t mem_len;
    struct cm_registry_zk *zk;    /* zk storage */
    struct cm_reg_writer *writer; /* file storage given a loop: its writer child */
    cm_registrar_done_cb wcb;     /* file storage: the store in flight in the writer */
    void *warg;
};

/* Creates a storage by name: "in_memory", or "file" (needs work_dir; the directory is created
 * when missing). Returns 0 and *out, or CM_EINVAL with why. */
int cm_registry_storage_new(const char *name, const char *work_dir,
                            struct cm_registry_storage **out, char *why, size_t whylen);
void cm_registry_storage_free(struct cm_registry_storage *s);

/* The "zk" storage (--registry=zk): the packed registry is the data of the persistent znode
 * <url path>/registry, written with versioned compare-and-set (zoo_set with the version this
 * master last read or wrote). "registry" sorts after "json.info_", so detectors that take the
 * first child as the leader are not misled. fetch() reads the node (creating it empty when
 * missing) and then rewrites it with its own version: this fencing write bumps the version, so
 * a previous leader that still believes it leads loses its next write. A write that finds
 * another version (ZBADVERSION) completes with CM_ESTATE ("lost a race to another master"):
 * the registrar fails and the master steps down, never overwriting. A write whose outcome is
 * unknown (connection lost, session expired) is settled by reading the node back on the next
 * connection. ZooKeeper's jute.maxbuffer (1 MiB) bounds one znode, not the registry: one larger
 * than CM_REG_INLINE_MAX is split over content-named chunk znodes under <path>/registry_chunks
 * and the registry znode holds their manifest (registrar_chunks.h); the compare-and-set is on
 * the manifest, so the fencing above still holds. Smaller registries are stored inline, in the
 * single-znode format older masters wrote and read. Its own ZooKeeper session (base's loop) is
 * separate from the leader election's. */
int cm_registry_storage_zk_new(struct event_base *base, const struct cm_zk_url *url,
                               double session_timeout, struct cm_registry_storage **out, char *why,
                               size_t whylen);

/* Writes/reads the framed file format directly (exported for tests and tools). */
int cm_registry_file_write(const char *path, const uint8_t *data, size_t len, char *why,
                           size_t whylen);
/* cm_registry_file_write after creating path's directory when it is missing (what a store of
 * the file storage does, on the loop or in its writer child). */
int cm_registry_file_store(const char *path, const uint8_t *data, size_t len, char *why,
                           size_t whylen);
/* *data is malloc'ed (NULL with *len 0 when the file does not exist). */
int cm_registry_file_read(const char *path, uint8_t **data, size_t *len, char *why, size_t whylen);

/* An unreachable agent, in the order it was marked. */
struct cm_reg_unreachable {
    char *id;
    double time; /* seconds since the epoch */
    struct cm_reg_unreachable *prev, *next;
};

/* An agent's operator state (DEACTIVATE_AGENT, DRAIN_AGENT), kept with the agent's entry while it
 * is admitted or unreachable and dropped when it is removed, marked gone or garbage collected.
 * All fields zero: nothing set (no entry is kept). */
struct cm_reg_agent_state {
    bool deactivated;
    int drain_state; /* Mesos__V1__DrainState: 0 not draining, DRAINING, DRAINED */
    bool has_grace;  /* the drain's max_grace_period is set */
    int64_t grace_ns;
    bool mark_gone;
};

struct cm_registrar_stats {
    double fetch_ms, store_ms; /* durations of the last fetch / store */
    size_t size_bytes;         /* packed size of the registry last stored or fetched */
    uint64_t version;          /* registry version (bumped by every store) */
};

/* Creates the registrar over storage (taken over). */
struct cm_registrar *cm_registrar_new(struct cm_registry_storage *storage);
void cm_registrar_free(struct cm_registrar *r);

/* Fetches and parses the registry; cb(arg, 0) with the registry loaded, or an error with why
 * (corrupt or unreadable storage). Operations queued before it completes wait for it. */
void cm_registrar_recover(struct cm_registrar *r, void (*cb)(void *arg, int err, const char *why),
                          void *arg);

/* Operations (queued; cb may be NULL). */
/* Records (or refreshes) an admitted agent; an unreachable agent becomes admitted again. */
void cm_registrar_admit(struct cm_registrar *r, const Mesos__V1__AgentInfo *info,
                        cm_registrar_done_cb cb, void *arg);
/* Moves an admitted agent to the unreachable list with time. */
void cm_registrar_mark_unreachable(struct cm_registrar *r, const char *agent_id, double time,
                                   cm_registrar_done_cb cb, void *arg);
/* Records agent_id as gone (the operator's MARK_AGENT_GONE) at time: it leaves the admitted and
 * unreachable lists and may never be admitted again. Already gone: nothing is stored. */
void cm_registrar_mark_gone(struct cm_registrar *r, const char *agent_id, double time,
                            cm_registrar_done_cb cb, void *arg);
/* Forgets an agent entirely (UNREGISTER). */
void cm_registrar_remove(struct cm_registrar *r, const char *agent_id, cm_registrar_done_cb cb,
                         void *arg);
/* Drops unreachable entries marked before now - max_age, then the oldest ones beyond
 * max_count (--registry_max_agent_age / --registry_max_agent_count). *pruned (if not NULL) gets
 * the number dropped when cb runs. */
void cm_registrar_gc(struct cm_registrar *r, double now, double max_age, size_t max_count,
                     size_t *pruned, cm_registrar_done_cb cb, void *arg);

/* Sets the weights of n roles (roles[i] -> weights[i]; roles already validated by the caller,
 * weights > 0): new roles are added, known ones updated, others kept (as Mesos's UpdateWeights).
 * Nothing changed: nothing is stored. */
void cm_registrar_update_weights(struct cm_registrar *r, const char *const *roles,
                                 const double *weights, size_t n, cm_registrar_done_cb cb,
                                 void *arg);
/* Records agent_id's operator state (st copied; all zero clears it). Only admitted or unreachable
 * agents keep a state: for any other agent, or a state equal to the stored one, nothing is
 * stored and cb gets 0. */
void cm_registrar_set_agent_state(struct cm_registrar *r, const char *agent_id,
                                  const struct cm_reg_agent_state *st, cm_registrar_done_cb cb,
                                  void *arg);

/* Completes (cb(arg, 0)) once every operation queued before it is stored, or with the error
 * that failed the registrar; stores nothing itself. For an answer that must not go out before
 * the registry holds what the request changed (the operator API's calls, as in Mesos), now that
 * stores complete later (zk, and the file storage's writer). */
void cm_registrar_flush(struct cm_registrar *r, cm_registrar_done_cb cb, void *arg);

/* Holds the queue: operations queued until the matching cm_registrar_release are applied
 * together and stored once. The master holds around a burst (hundreds of agents marked
 * unreachable in one timer tick): with the file storage every store rewrites the whole registry
 * and fsyncs twice, so one store per agent cost O(n^2) bytes and 2n fsyncs — tens of seconds
 * for 500 agents, during which the loop could not even see SIGTERM. Holds nest. */
void cm_registrar_hold(struct cm_registrar *r);
/* Ends a hold; the last release stores what was queued (callbacks run as usual). */
void cm_registrar_release(struct cm_registrar *r);
/* Gives the registrar base's loop (the master's): from then on an operation is not stored at
 * once but at the end of the loop turn, together with every other operation queued in that
 * turn (a burst of agents registering: one store of the registry instead of one per agent,
 * each of which packs and writes all of it). Without a loop (tests), operations are stored at
 * once, as before. The storage is given the loop too (its attach op): the file storage forks
 * its writer child here, so call this early, while the process is small (the master does, before
 * recovering the registry). Operations queued while a store is in flight wait for it and then
 * go together into the next store. */
void cm_registrar_set_loop(struct cm_registrar *r, struct event_base *base);

/* Shutdown with operations still waiting for an asynchronous storage: completes every queued
 * operation with err (their callbacks run now, while their streams still exist) and fails the
 * registrar. The pending store's callback must not come afterwards (free the registrar next). */
void cm_registrar_abort(struct cm_registrar *r, int err);

/* Queries (the registry as of the operations applied so far). */
bool cm_registrar_recovered(const struct cm_registrar *r);
bool cm_registrar_failed(const struct cm_registrar *r);
const Mesos__V1__AgentInfo *cm_registrar_admitted(const struct cm_registrar *r, const char *id);
/* Returns true and the time when id is unreachable. */
bool cm_registrar_unreachable(const struct cm_registrar *r, const char *id, double *time);
bool cm_registrar_gone(const struct cm_registrar *r, const char *id, double *time);
size_t cm_registrar_count_admitted(const struct cm_registrar *r);
size_t cm_registrar_count_unreachable(const struct cm_registrar *r);
size_t cm_registrar_queued(const struct cm_registrar *r);
/* The admitted agents (id -> Mesos__V1__AgentInfo*), for the master's recovery. */
const struct cm_strmap *cm_registrar_admitted_map(const struct cm_registrar *r);
/* Oldest unreachable entry (walk with ->next). */
const struct cm_reg_unreachable *cm_registrar_unreachable_list(const struct cm_registrar *r);
void cm_registrar_stats(const struct cm_registrar *r, struct cm_registrar_stats *out);
/* The stored weights: role -> const double*. */
const struct cm_strmap *cm_registrar_weights(const struct cm_registrar *r);
/* agent_id's stored operator state, or NULL when nothing is set. */
const struct cm_reg_agent_state *cm_registrar_agent_state(const struct cm_registrar *r,
                                                          const char *agent_id);

#endif
