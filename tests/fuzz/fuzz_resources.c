/* fuzz_resources.c: the --resources parser (Mesos's text form and the JSON array form) and the
 * resource arithmetic on whatever it accepts.
 *
 * Input: byte 0 picks the default role (bit 0) and the arithmetic (bit 1); the rest is split at
 * the first NUL into two resource texts a and b. Properties: accepted bags are normal (named,
 * positive scalars, ordered ranges); the text form and the protobuf form read back to the same
 * bag; a + b contains a and b; a - a is empty; when a contains b, (a - b) + b == a; refusals
 * say why. */
#include <math.h>

#include "errors.h"
#include "fuzz.h"
#include "resources.h"

static void check_normal(const struct cm_resources *res)
{
    for (size_t i = 0; i < res->n; i++) {
        const struct cm_resource *e = &res->v[i];
        FUZZ_ASSERT(e->name != NULL && e->name[0] != '\0');
        FUZZ_ASSERT(e->role != NULL && e->role[0] != '\0');
        if (e->type == CM_VALUE_SCALAR)
            FUZZ_ASSERT(e->scalar > 0);
        if (e->type == CM_VALUE_RANGES)
            FUZZ_ASSERT(e->nranges > 0);
        if (e->type == CM_VALUE_SET)
            FUZZ_ASSERT(e->nitems > 0);
        for (size_t j = 0; j < e->nranges; j++) {
            FUZZ_ASSERT(e->ranges[j].begin <= e->ranges[j].end);
            /* sorted and merged: a gap of at least one between neighbours */
            if (j)
                FUZZ_ASSERT(e->ranges[j - 1].end != UINT64_MAX &&
                            e->ranges[j - 1].end + 1 < e->ranges[j].begin);
        }
        for (size_t j = 1; j < e->nitems; j++)
            FUZZ_ASSERT(strcmp(e->items[j - 1], e->items[j]) < 0);
    }
}

static int parse(const char *text, const char *role, struct cm_resources *out)
{
    char why[512];
    why[0] = '\0';
    cm_resources_init(out);
    int rc = cm_resources_parse(out, text, role, why, sizeof why);
    if (rc != 0) {
        FUZZ_ASSERT(rc == CM_EINVAL);
        FUZZ_ASSERT(why[0] != '\0');
        return rc;
    }
    check_normal(out);
    json_decref(cm_resources_summary_json(out));
    return 0;
}

static void round_trips(const struct cm_resources *a)
{
    char why[512];
    /* protobuf form */
    Mesos__V1__Resource **pv = NULL;
    size_t pn = 0;
    cm_resources_to_proto(a, "r", &pv, &pn);
    struct cm_resources back;
    cm_resources_init(&back);
    int rc = cm_resources_from_proto(&back, pv, pn, why, sizeof why);
    if (rc)
        fprintf(stderr, "protobuf form does not read back: %s\n", why);
    FUZZ_ASSERT(rc == 0);
    FUZZ_ASSERT(cm_resources_equal(&back, a));
    cm_resources_proto_free(pv, pn);
    cm_resources_cleanup(&back);
}

static bool scalars_small(const struct cm_resources *r)
{
    /* Sums of two parsed bags must not overflow fixed point; parse bounds each scalar. */
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].type == CM_VALUE_SCALAR && r->v[i].scalar > INT64_MAX / 4)
            return false;
    return true;
}

static void arithmetic(const struct cm_resources *a, const struct cm_resources *b)
{
    struct cm_resources sum, t;
    cm_resources_init(&sum);
    cm_resources_init(&t);

    cm_resources_copy(&sum, a);
    cm_resources_add(&sum, b);
    check_normal(&sum);
    FUZZ_ASSERT(cm_resources_contains(&sum, a));
    FUZZ_ASSERT(cm_resources_contains(&sum, b));

    cm_resources_copy(&t, a);
    cm_resources_subtract(&t, a);
    FUZZ_ASSERT(cm_resources_empty(&t));

    cm_resources_clear(&t);
    cm_resources_copy(&t, a);
    cm_resources_subtract(&t, b);
    check_normal(&t);
    FUZZ_ASSERT(cm_resources_contains(a, &t));
    if (cm_resources_contains(a, b)) {
        cm_resources_add(&t, b);
        FUZZ_ASSERT(cm_resources_equal(&t, a));
    }

    /* Splitting by reservation loses nothing. */
    struct cm_resources un, alloc;
    cm_resources_init(&un);
    cm_resources_init(&alloc);
    cm_resources_unreserved(&sum, &un);
    cm_resources_allocatable_to(&sum, "role/x", &alloc);
    FUZZ_ASSERT(cm_resources_contains(&alloc, &un));
    FUZZ_ASSERT(cm_resources_contains(&sum, &alloc));
    cm_resources_cleanup(&un);
    cm_resources_cleanup(&alloc);

    cm_resources_cleanup(&sum);
    cm_resources_cleanup(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *role = data[0] & 1 ? "role/x" : NULL;
    bool arith = data[0] & 2;
    char *text = fuzz_strndup(data + 1, size - 1);
    const char *second = "";
    size_t alen = strlen(text);
    if (alen < size - 1)
        second = text + alen + 1;

    struct cm_resources a, b;
    int ra = parse(text, role, &a);
    int rb = arith ? parse(second, role, &b) : -1;
    if (ra == 0) {
        round_trips(&a);
        char *fmt = cm_resources_format(&a);
        FUZZ_ASSERT(fmt != NULL);
        free(fmt);
    }
    if (ra == 0 && rb == 0 && scalars_small(&a) && scalars_small(&b)) {
        arithmetic(&a, &b);
        arithmetic(&b, &a);
    }
    cm_resources_cleanup(&a);
    if (arith)
        cm_resources_cleanup(&b);
    free(text);
    return 0;
}
