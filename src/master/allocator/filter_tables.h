/*
 * filter_tables.h: the allocator's two private hash tables, kept apart from the DRF algorithm.
 *
 * - An intern table of resources (struct itab): offer filters usually refuse the same
 *   resources on many agents, so identical resources are stored once and reference-counted.
 *   cm_itab_intern returns the shared copy (refs + 1); cm_itab_release drops a reference and
 *   frees the copy at zero; cm_itab_cleanup frees everything regardless of references.
 * - A filter table per framework-role (struct ftab), open addressing keyed by the agent's
 *   serial number, each entry holding the expiry and the interned refused resources. Key 0 is
 *   an empty slot and UINT32_MAX a deleted one, so serials start at 1 and never reach it.
 *   cm_ftab_find returns the entry or NULL; cm_ftab_slot_for_insert returns a free slot for
 *   key (growing the table first when it is three quarters used): the caller fills it and
 *   counts it in n and used.
 *
 * Both tables are owned by the allocator that embeds them (zero-initialised is empty), are not
 * thread-safe, and abort on out-of-memory like the rest of the tree.
 */
#ifndef CM_ALLOCATOR_FILTER_TABLES_H
#define CM_ALLOCATOR_FILTER_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "resources.h"

#define FKEY_EMPTY 0u
#define FKEY_TOMB UINT32_MAX

struct ires {
    struct ires *next;
    uint64_t h;
    size_t refs;
    struct cm_resources r;
};

struct itab {
    struct ires **b;
    size_t cap, n;
};

struct fent {
    uint32_t key;    /* agent serial */
    uint32_t streak; /* decline back-off: identical declines in a row; 0 for a plain filter */
    double expiry;
    struct ires *res;
    uint32_t gen;    /* decline back-off: the framework-role's change_gen when installed */
    uint8_t backoff; /* the expiry is the back-off's, not the framework's own refuse_seconds */
};

struct ftab {
    struct fent *v;
    uint32_t cap, n, used;
};

struct ires *cm_itab_intern(struct itab *t, const struct cm_resources *r);
void cm_itab_release(struct itab *t, struct ires *e);
void cm_itab_cleanup(struct itab *t);

struct fent *cm_ftab_find(const struct ftab *t, uint32_t key);
struct fent *cm_ftab_slot_for_insert(struct ftab *t, uint32_t key);

#endif
