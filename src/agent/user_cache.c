/*
 * user_cache.c: recently resolved users (contract in user_cache.h).
 */
#include "user_cache.h"

#include <stdlib.h>
#include <string.h>

#include "strmap.h"

struct entry {
    struct cm_user user;
    double expires;
};

struct cm_user_cache {
    const struct cm_clock *clock;
    double ttl;
    cm_user_lookup_fn lookup;
    struct cm_strmap users; /* name -> struct entry */
};

struct cm_user_cache *cm_user_cache_new(const struct cm_clock *clock, double ttl,
                                        cm_user_lookup_fn lookup)
{
    struct cm_user_cache *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->clock = clock;
    c->ttl = ttl;
    c->lookup = lookup ? lookup : cm_user_lookup;
    cm_strmap_init(&c->users);
    return c;
}

static void entry_free(void *arg)
{
    struct entry *e = arg;
    cm_user_cleanup(&e->user);
    free(e);
}

void cm_user_cache_free(struct cm_user_cache *c)
{
    if (!c)
        return;
    cm_strmap_cleanup_values(&c->users, entry_free);
    free(c);
}

size_t cm_user_cache_size(const struct cm_user_cache *c)
{
    return c ? cm_strmap_count(&c->users) : 0;
}

static void user_copy(const struct cm_user *from, struct cm_user *to)
{
    memset(to, 0, sizeof *to);
    to->uid = from->uid;
    to->gid = from->gid;
    to->name = strdup(from->name ? from->name : "");
    to->ngroups = from->ngroups;
    to->groups = malloc((from->ngroups ? from->ngroups : 1) * sizeof *to->groups);
    if (!to->name || !to->groups)
        abort();
    if (from->ngroups)
        memcpy(to->groups, from->groups, from->ngroups * sizeof *to->groups);
}

/* Makes room for one more entry: the expired ones go, and all of them if none had expired. */
static void make_room(struct cm_user_cache *c, double now)
{
    if (cm_strmap_count(&c->users) < CM_USER_CACHE_MAX)
        return;
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &c->users);
    const char *name;
    struct entry *e;
    while ((e = cm_strmap_iter_value(&it, &name)))
        if (e->expires <= now)
            entry_free(cm_strmap_remove(&c->users, name));
    if (cm_strmap_count(&c->users) >= CM_USER_CACHE_MAX)
        cm_strmap_cleanup_values(&c->users, entry_free);
}

int cm_user_cache_lookup(struct cm_user_cache *c, const char *name, struct cm_user *out, char *why,
                         size_t whylen)
{
    if (!c)
        return cm_user_lookup(name, out, why, whylen);
    if (c->ttl <= 0 || !name || !*name)
        return c->lookup(name, out, why, whylen);
    double now = cm_clock_now(c->clock);
    struct entry *e = cm_strmap_get(&c->users, name);
    /* Fresh: not expired, and filled no later than now (a wall clock set back does not keep
     * an entry alive). */
    if (e && e->expires > now && e->expires - c->ttl <= now) {
        user_copy(&e->user, out);
        return 0;
    }
    if (e)
        entry_free(cm_strmap_remove(&c->users, name));
    int rc = c->lookup(name, out, why, whylen);
    if (rc != 0)
        return rc;
    make_room(c, now);
    e = calloc(1, sizeof *e);
    if (!e)
        abort();
    user_copy(out, &e->user);
    e->expires = now + c->ttl;
    cm_strmap_put(&c->users, name, e);
    return 0;
}
