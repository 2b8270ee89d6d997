/*
 * user_cache.h: users resolved recently for --switch_user, so that a burst of launches as one
 * user does not go through the user and group databases (NSS: /etc/nsswitch.conf, /etc/passwd,
 * /etc/group, ...) for every executor: about fifteen system calls and two file parses each.
 *
 * An entry is reused for at most `ttl` seconds after the lookup that filled it; failures are
 * never kept (a user created a moment ago is found at once, a missing one is reported every
 * time). A change to a known user (removed, uid or groups changed) is therefore seen at most
 * `ttl` seconds late. The cache holds at most CM_USER_CACHE_MAX users; when it is full the
 * expired entries go, and if none has expired, all do.
 *
 * Ownership: the cache owns its entries; a lookup fills *out with copies the caller releases
 * with cm_user_cleanup, exactly as after cm_user_lookup.
 * Errors: those of the lookup function, with its why.
 * Threading: one thread (the agent's loop).
 */
#ifndef CM_USER_CACHE_H
#define CM_USER_CACHE_H

#include <stddef.h>

#include "clock.h"
#include "containerizer/user.h"

#define CM_USER_CACHE_MAX 64

/* cm_user_lookup's signature; tests substitute a counting fake. */
typedef int (*cm_user_lookup_fn)(const char *name, struct cm_user *out, char *why, size_t whylen);

struct cm_user_cache;

/* clock and lookup are borrowed (lookup NULL = cm_user_lookup); ttl <= 0 turns caching off.
 * Aborts on OOM. */
struct cm_user_cache *cm_user_cache_new(const struct cm_clock *clock, double ttl,
                                        cm_user_lookup_fn lookup);
void cm_user_cache_free(struct cm_user_cache *c); /* NULL is a no-op */

/* Resolves name as cm_user_lookup does, from the cache while its entry is fresh. A NULL cache
 * calls cm_user_lookup directly. */
int cm_user_cache_lookup(struct cm_user_cache *c, const char *name, struct cm_user *out, char *why,
                         size_t whylen);

/* Users held now (for tests). */
size_t cm_user_cache_size(const struct cm_user_cache *c);

#endif
