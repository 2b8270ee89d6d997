/* contender.c: see contender.h. */
#include "contender.h"

#include <stdio.h>
#include <stdlib.h>

static bool sa_is_leader(const struct cm_contender *c)
{
    (void)c;
    return true;
}

static bool sa_leader(const struct cm_contender *c, char *out, size_t len)
{
    snprintf(out, len, "%s", c->self);
    return true;
}

static bool sa_recovering(const struct cm_contender *c)
{
    (void)c;
    return false;
}

static void sa_destroy(struct cm_contender *c)
{
    free(c);
}

static const struct cm_contender_ops standalone_ops = {
    .name = "standalone",
    .is_leader = sa_is_leader,
    .leader = sa_leader,
    .recovering = sa_recovering,
    .destroy = sa_destroy,
};

struct cm_contender *cm_contender_standalone_new(const char *self)
{
    struct cm_contender *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->ops = &standalone_ops;
    snprintf(c->self, sizeof c->self, "%s", self);
    return c;
}

void cm_contender_free(struct cm_contender *c)
{
    if (c)
        c->ops->destroy(c);
}
