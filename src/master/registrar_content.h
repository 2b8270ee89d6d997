/*
 * registrar_content.h: the registry's content as the registrar keeps it between stores —
 * admitted agents, unreachable and gone ones, role weights, agents' operator state — with every
 * top-level record of the packed registry (proto/cmesos/registry.proto) kept packed, so that a
 * store is a copy of the records plus the packing of what changed (registrar.h).
 *
 * Records are kept per repeated field (agents, unreachable, gone) in a stable order: a new one
 * last, a changed one in its place, so the assembled bytes change only where the content did
 * (the zk storage's chunks rely on it, registrar_chunks.h). The weights, few, are packed at
 * each assembly, by role. The assembled bytes are what packing the whole Registry message from
 * scratch with protobuf-c gives.
 *
 * The mutations apply one operation of the registrar's queue and say whether the content
 * changed (false: nothing to store; the registrar then completes the operation at once). They
 * never fail: every input was validated by the registrar's callers. Loading (cm_reg_content_load)
 * is the one place outside input arrives: the stored bytes are checked like any input (unknown
 * enums, missing ids, invalid weights refused with a why).
 *
 * Layer: used by registrar.c only; knows nothing of storages, queues or the master. Ownership:
 * the content owns its maps, records and buffer; pointers into it (AgentInfos, unreachable
 * entries, states) are valid until the next mutation or load. Threading: the caller's (the
 * master's loop).
 */
#ifndef CM_REGISTRAR_CONTENT_H
#define CM_REGISTRAR_CONTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesos/v1/mesos.pb-c.h"
#include "registrar.h"
#include "strmap.h"

/* A top-level record of the packed registry: its tag, length and body. */
struct cm_reg_rec {
    uint8_t *b;
    size_t len;
    struct cm_reg_rec *prev, *next;
};

/* The records of one repeated field of the registry, in the order they are stored. */
struct cm_reg_section {
    struct cm_reg_rec *head, *tail;
    size_t bytes;
};

struct cm_reg_content {
    struct cm_strmap admitted;    /* id -> Mesos__V1__AgentInfo* (owned) */
    struct cm_strmap arec;        /* id -> its agent record (owned), same keys as admitted */
    struct cm_strmap unreachable; /* id -> struct cm_reg_unreachable* */
    struct cm_strmap urec;        /* id -> struct cm_reg_rec* (owned), same keys as unreachable */
    struct cm_reg_unreachable *uhead, *utail;        /* in the order marked */
    struct cm_reg_section agents, unreach, gone_sec; /* fields 2, 3 and 4, in storage order */
    uint8_t *buf; /* the last registry assembled, reused (storages copy what they keep) */
    size_t buf_cap;
    struct cm_strmap gone;    /* id -> its gone record (owned) */
    struct cm_strmap weights; /* role -> double* */
    struct cm_strmap astate;  /* id -> struct cm_reg_agent_state* (admitted or unreachable) */
    uint64_t version;         /* of the registry last stored or loaded */
};

void cm_reg_content_init(struct cm_reg_content *c);
/* Frees everything (the buffer too); c may be initialised again. */
void cm_reg_content_cleanup(struct cm_reg_content *c);
/* Empties the registry (keeps the buffer and the version). */
void cm_reg_content_clear(struct cm_reg_content *c);

/* info packed (*packed, malloc'd, *len bytes) and unpacked again: a deep copy of a message that
 * was already checked. */
Mesos__V1__AgentInfo *cm_reg_info_pack_dup(const Mesos__V1__AgentInfo *info, uint8_t **packed,
                                           size_t *len);

/* ---- mutations: true when the content changed ---- */

/* Admits (or refreshes) id with *info and its packed bytes; an unreachable id becomes admitted.
 * Already admitted with the same bytes: false, nothing taken. Otherwise *info and *packed are
 * taken over (set to NULL). */
bool cm_reg_content_admit(struct cm_reg_content *c, const char *id, Mesos__V1__AgentInfo **info,
                          uint8_t **packed, size_t packed_len);
/* Moves id (admitted or not) to the end of the unreachable list with time. Always true. */
bool cm_reg_content_mark_unreachable(struct cm_reg_content *c, const char *id, double time);
/* Forgets id (admitted, unreachable, its state); false if it was neither. */
bool cm_reg_content_remove(struct cm_reg_content *c, const char *id);
/* Drops unreachable entries marked before now - max_age, then the oldest beyond max_count;
 * returns how many. */
size_t cm_reg_content_gc(struct cm_reg_content *c, double now, double max_age, size_t max_count);
/* Records id as gone at time (dropping it from the other lists); false if already gone. */
bool cm_reg_content_mark_gone(struct cm_reg_content *c, const char *id, double time);
/* Sets n role weights; false if every one was set to that value already. */
bool cm_reg_content_set_weights(struct cm_reg_content *c, char *const *roles, const double *weights,
                                size_t n);
/* Sets id's operator state (all zero clears it); false for an id neither admitted nor
 * unreachable, or a state equal to the stored one. */
bool cm_reg_content_set_state(struct cm_reg_content *c, const char *id,
                              const struct cm_reg_agent_state *st);

/* ---- queries ---- */

/* Returns true and the time when id is gone. */
bool cm_reg_content_gone(const struct cm_reg_content *c, const char *id, double *time);

/* ---- bytes ---- */

/* Where to assemble len bytes (e.g. a storage's shared buffer), or NULL for c's own buffer. */
typedef uint8_t *(*cm_reg_buf_fn)(void *arg, size_t len);
/* The registry to store, with version c->version + 1, assembled into dst(dst_arg, len) when dst
 * is given and returns a buffer, else into c's buffer (valid until the next assembly); *outlen
 * is its length. */
void cm_reg_content_assemble(struct cm_reg_content *c, cm_reg_buf_fn dst, void *dst_arg,
                             uint8_t **out, size_t *outlen);
/* Loads the packed registry data[0..len) into an empty content (len 0: nothing was stored yet,
 * the content stays empty). Returns 0, or CM_EPARSE with why (the content is then empty). */
int cm_reg_content_load(struct cm_reg_content *c, const uint8_t *data, size_t len, char *why,
                        size_t whylen);

#endif
