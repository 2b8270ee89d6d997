/*
 * drf.h: the allocator's DRF sorter — shares, weights and the order a cycle visits
 * framework-roles in (private to src/master/allocator/).
 *
 * Every role keeps its child roles and its own framework-roles in arrays sorted by (weighted
 * dominant share, name / insertion order). cm_drf_resort recomputes every share and re-sorts
 * everything (the cluster total may have changed); cm_drf_account changes one framework-role's
 * allocation and, when asked, moves it and its ancestors to their new places (binary search +
 * memmove), which is what a cycle does after each offer. A role's own framework-roles compete
 * with its child roles as one more sibling whose share is their allocation (Mesos's "." leaf);
 * ties put them first. cm_drf_order_before compares two framework-roles in that order.
 *
 * Roles are created on first use (with their ancestors) and owned by the allocator's role map;
 * cm_drf_role_gc frees the ones left without framework-roles or children. Errors: none (out of
 * memory aborts, like the rest of the tree). Threading: the allocator's thread.
 */
#ifndef CM_ALLOCATOR_DRF_H
#define CM_ALLOCATOR_DRF_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

/* The DRF kinds (cpus, mem, disk, gpus) of r, summed over its scalar entries. */
void cm_drf_scalars(const struct cm_resources *r, int64_t out[K_N]);
/* Dominant share of al over the cluster total (0 when the total is empty). */
double cm_drf_dominant(const struct cm_allocator *a, const int64_t al[K_N]);

/* Recomputes all shares and re-sorts every role's arrays. */
void cm_drf_resort(struct cm_allocator *a);
/* Adds sign * al to f's allocation and its roles'. If sorted, keeps the arrays in order. */
void cm_drf_account(struct cm_allocator *a, struct fr *f, const int64_t al[K_N], int sign,
                    bool sorted);
/* True if f comes before g in a cycle's order. */
bool cm_drf_order_before(const struct fr *f, const struct fr *g);

/* The role called name, created (with its ancestors, weights from a->weights) if needed. */
struct role *cm_drf_role_get(struct cm_allocator *a, const char *name);
/* Frees r and its ancestors while they have no framework-roles and no children. */
void cm_drf_role_gc(struct cm_allocator *a, struct role *r);
/* Puts a new f (share 0 or its allocation's) into / takes it out of its role's array. */
void cm_drf_fr_insert(struct cm_allocator *a, struct fr *f);
void cm_drf_fr_remove(struct fr *f);

#endif
