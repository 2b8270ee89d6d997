/* The agent's cache of --switch_user lookups (src/agent/user_cache.h): reuse within the ttl,
 * a fresh lookup after it, failures never kept, copies the caller owns, the size bound, and a
 * wall clock set back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "test.h"
#include "user_cache.h"

static int lookups;
static gid_t next_gid = 100;

/* alice and u<N> exist; anyone else does not. Each answer carries the current next_gid. */
static int fake_lookup(const char *name, struct cm_user *out, char *why, size_t whylen)
{
    lookups++;
    memset(out, 0, sizeof *out);
    if (strcmp(name, "alice") != 0 && name[0] != 'u') {
        snprintf(why, whylen, "User '%s' does not exist on this agent", name);
        return CM_ENOTFOUND;
    }
    out->name = strdup(name);
    out->uid = 1000;
    out->gid = next_gid;
    out->ngroups = 2;
    out->groups = malloc(2 * sizeof *out->groups);
    out->groups[0] = next_gid;
    out->groups[1] = 7;
    return 0;
}

static void test_reuse_within_ttl(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 1000.0);
    struct cm_user_cache *c = cm_user_cache_new(&fc.clock, 1.0, fake_lookup);
    lookups = 0;
    next_gid = 100;
    char why[128];
    struct cm_user u;
    CHECK_INT(cm_user_cache_lookup(c, "alice", &u, why, sizeof why), 0);
    CHECK_INT(lookups, 1);
    CHECK_STR(u.name, "alice");
    CHECK_INT(u.gid, 100);
    cm_user_cleanup(&u);
    /* Within the ttl: from the cache, an equal copy the caller owns. */
    next_gid = 200;
    cm_fake_clock_advance(&fc, 0.9);
    CHECK_INT(cm_user_cache_lookup(c, "alice", &u, why, sizeof why), 0);
    CHECK_INT(lookups, 1);
    CHECK_STR(u.name, "alice");
    CHECK_INT(u.uid, 1000);
    CHECK_INT(u.gid, 100);
    CHECK_INT(u.ngroups, 2);
    CHECK_INT(u.groups[1], 7);
    struct cm_user u2;
    CHECK_INT(cm_user_cache_lookup(c, "alice", &u2, why, sizeof why), 0);
    CHECK(u2.name != u.name && u2.groups != u.groups);
    cm_user_cleanup(&u);
    cm_user_cleanup(&u2);
    /* Past the ttl: looked up again, and the change is seen. */
    cm_fake_clock_advance(&fc, 0.2);
    CHECK_INT(cm_user_cache_lookup(c, "alice", &u, why, sizeof why), 0);
    CHECK_INT(lookups, 2);
    CHECK_INT(u.gid, 200);
    cm_user_cleanup(&u);
    CHECK_INT(cm_user_cache_size(c), 1);
    cm_user_cache_free(c);
}

static void test_failures_not_kept(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 5.0);
    struct cm_user_cache *c = cm_user_cache_new(&fc.clock, 10.0, fake_lookup);
    lookups = 0;
    char why[128] = "";
    struct cm_user u;
    CHECK_INT(cm_user_cache_lookup(c, "bob", &u, why, sizeof why), CM_ENOTFOUND);
    CHECK(strstr(why, "'bob' does not exist") != NULL);
    CHECK_INT(cm_user_cache_lookup(c, "bob", &u, why, sizeof why), CM_ENOTFOUND);
    CHECK_INT(lookups, 2);
    CHECK_INT(cm_user_cache_size(c), 0);
    cm_user_cache_free(c);
}

static void test_clock_set_back(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 1000.0);
    struct cm_user_cache *c = cm_user_cache_new(&fc.clock, 1.0, fake_lookup);
    lookups = 0;
    char why[128];
    struct cm_user u;
    CHECK_INT(cm_user_cache_lookup(c, "alice", &u, why, sizeof why), 0);
    cm_user_cleanup(&u);
    fc.t = 500.0; /* the wall clock went back: the entry is not trusted for 500 s more */
    CHECK_INT(cm_user_cache_lookup(c, "alice", &u, why, sizeof why), 0);
    cm_user_cleanup(&u);
    CHECK_INT(lookups, 2);
    cm_user_cache_free(c);
}

static void test_bounded(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 0.0);
    struct cm_user_cache *c = cm_user_cache_new(&fc.clock, 100.0, fake_lookup);
    char why[128], name[16];
    struct cm_user u;
    for (int i = 0; i < 3 * CM_USER_CACHE_MAX; i++) {
        snprintf(name, sizeof name, "u%d", i);
        CHECK_INT(cm_user_cache_lookup(c, name, &u, why, sizeof why), 0);
        CHECK_STR(u.name, name);
        cm_user_cleanup(&u);
        CHECK(cm_user_cache_size(c) <= CM_USER_CACHE_MAX);
    }
    /* Expired entries make room before fresh ones are dropped. */
    cm_fake_clock_advance(&fc, 200.0);
    CHECK_INT(cm_user_cache_lookup(c, "alice", &u, why, sizeof why), 0);
    cm_user_cleanup(&u);
    CHECK_INT(cm_user_cache_size(c), 1);
    cm_user_cache_free(c);
    cm_user_cache_free(NULL);
}

static void test_off(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 0.0);
    struct cm_user_cache *c = cm_user_cache_new(&fc.clock, 0, fake_lookup);
    lookups = 0;
    char why[128];
    struct cm_user u;
    for (int i = 0; i < 3; i++) {
        CHECK_INT(cm_user_cache_lookup(c, "alice", &u, why, sizeof why), 0);
        cm_user_cleanup(&u);
    }
    CHECK_INT(lookups, 3);
    cm_user_cache_free(c);
}

TEST_MAIN(TEST(test_reuse_within_ttl), TEST(test_failures_not_kept), TEST(test_clock_set_back),
          TEST(test_bounded), TEST(test_off))
