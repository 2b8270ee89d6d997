/*
 * resources.h: Mesos resource arithmetic.
 *
 * A struct cm_resources is a normalized bag: at most one entry per (name, type, role,
 * reservation kind, principal), scalars in fixed point with three decimals (milli-units, as
 * Mesos rounds every step to 0.001), ranges sorted and merged, sets sorted and unique, and no
 * empty entries (zero scalars, no ranges, no items are dropped). Arithmetic keeps that form.
 *
 * Roles: role "*" is unreserved; any other role is a reservation for that role, static unless
 * `dynamic` is set (then `principal` may be set). Resources offered to role R are those
 * unreserved or reserved to R (or an ancestor of R).
 *
 * Ownership: every struct cm_resources owns its entries and strings; _init/_cleanup embed it.
 * No function keeps a pointer to its arguments. Not thread-safe (no shared state at all).
 */
#ifndef CM_RESOURCES_H
#define CM_RESOURCES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesos/v1/mesos.pb-c.h"

enum cm_value_type { CM_VALUE_SCALAR = 0, CM_VALUE_RANGES = 1, CM_VALUE_SET = 2 };

struct cm_range {
    uint64_t begin, end; /* inclusive */
};

struct cm_resource {
    char *name;
    enum cm_value_type type;
    int64_t scalar; /* milli-units, >= 0 */
    struct cm_range *ranges;
    size_t nranges;
    char **items;
    size_t nitems;
    char *role; /* "*" when unreserved; never NULL */
    bool dynamic;
    char *principal; /* dynamic reservations only; may be NULL */
};

struct cm_resources {
    struct cm_resource *v;
    size_t n, cap;
};

/* Fixed-point conversion with Mesos's rounding to three decimals. */
int64_t cm_scalar_from_double(double value);
double cm_scalar_to_double(int64_t milli);

void cm_resources_init(struct cm_resources *r);
void cm_resources_cleanup(struct cm_resources *r);
void cm_resources_clear(struct cm_resources *r);
void cm_resources_copy(struct cm_resources *dst, const struct cm_resources *src);
void cm_resources_move(struct cm_resources *dst, struct cm_resources *src); /* src left empty */

/* Parses Mesos's text form "cpus:2;mem:1024;disk(role):10;ports:[31000-32000];x:{a,b}"
 * (';' separated, ranges "[b-e,b-e]", sets "{a,b}", scalar otherwise) or, when text starts
 * with '[', a JSON array of Resource objects. Unroled entries get default_role ("*" if NULL).
 * On error returns CM_EINVAL and why names the entry ("Bad value for resource 'cpus': ...").
 * r is appended to (it should usually start empty). */
int cm_resources_parse(struct cm_resources *r, const char *text, const char *default_role,
                       char *why, size_t whylen);

/* Converts and validates protobuf resources (pre- or post-refinement format accepted):
 * name non-empty, value matching type, scalars finite and >= 0, ranges begin <= end, a valid
 * role. Fails with CM_EINVAL and a reason naming the resource. r is appended to. */
int cm_resources_from_proto(struct cm_resources *r, Mesos__V1__Resource *const *v, size_t n,
                            char *why, size_t whylen);

/* Builds newly allocated protobuf resources in pre-refinement format (role "*" or the
 * reservation role, plus `reservation` for dynamic ones). If allocation_role is non-NULL each
 * carries allocation_info{role}. Free with cm_resources_proto_free. */
void cm_resources_to_proto(const struct cm_resources *r, const char *allocation_role,
                           Mesos__V1__Resource ***out, size_t *n);
void cm_resources_proto_free(Mesos__V1__Resource **v, size_t n);

/* dst += src. */
void cm_resources_add(struct cm_resources *dst, const struct cm_resources *src);
/* dst -= src, clamping at zero / removing what is absent. Callers that must not lose
 * resources check cm_resources_contains first. */
void cm_resources_subtract(struct cm_resources *dst, const struct cm_resources *src);
/* True if every part of b is in a. */
bool cm_resources_contains(const struct cm_resources *a, const struct cm_resources *b);
bool cm_resources_equal(const struct cm_resources *a, const struct cm_resources *b);
static inline bool cm_resources_empty(const struct cm_resources *r)
{
    return r->n == 0;
}

/* Sum of the scalar named name over all roles, in milli-units (0 if absent). */
int64_t cm_resources_scalar(const struct cm_resources *r, const char *name);

/* Into dst (appended), the part of r that may be offered to role: unreserved, or reserved to
 * role or to one of its ancestors. */
void cm_resources_allocatable_to(const struct cm_resources *r, const char *role,
                                 struct cm_resources *dst);
/* Into dst (appended), the unreserved part of r / the part reserved to exactly role. */
void cm_resources_unreserved(const struct cm_resources *r, struct cm_resources *dst);
void cm_resources_reserved_to(const struct cm_resources *r, const char *role,
                              struct cm_resources *dst);

/* Mesos's summary object: {"cpus":n,"gpus":n,"mem":n,"disk":n, other scalars, ranges as
 * "[31000-31005, 31010-31010]", sets as "{a, b}"}; cpus/gpus/mem/disk always present. */
json_t *cm_resources_summary_json(const struct cm_resources *r);

/* Text form for logs and flags, e.g. "cpus(*):2; mem(*):1024; ports(*):[31000-32000]".
 * Returns a malloc'd string. */
char *cm_resources_format(const struct cm_resources *r);

#endif
