/* The shared string-keyed hash table: put/get/replace/remove, growth, and removal while
 * iterating. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"
#include "test.h"

static void test_put_get_remove(void)
{
    struct cm_strmap m;
    cm_strmap_init(&m);
    static int vals[1000];
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK(cm_strmap_put(&m, key, &vals[i]) == NULL);
    }
    CHECK_INT(cm_strmap_count(&m), 1000);
    CHECK(cm_strmap_get(&m, "k500") == &vals[500]);
    CHECK(cm_strmap_put(&m, "k500", &vals[1]) == &vals[500]);
    CHECK(cm_strmap_remove(&m, "k1") == &vals[1]);
    CHECK(cm_strmap_get(&m, "k1") == NULL);
    /* Delete while iterating: every even key. */
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &m);
    const char *k;
    int seen = 0;
    while (cm_strmap_iter_value(&it, &k)) {
        seen++;
        if ((atoi(k + 1) % 2) == 0)
            cm_strmap_remove(&m, k);
    }
    CHECK_INT(seen, 999);
    CHECK_INT(cm_strmap_count(&m), 499);
    cm_strmap_cleanup(&m);
}

static void test_iter_remove_and_edges(void)
{
    /* A zero-filled struct is an empty map; NULL keys find nothing. */
    struct cm_strmap m;
    memset(&m, 0, sizeof m);
    CHECK(cm_strmap_get(&m, "x") == NULL);
    CHECK(cm_strmap_get(&m, NULL) == NULL);
    CHECK(cm_strmap_remove(&m, "x") == NULL);
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &m);
    CHECK(!cm_strmap_iter_next(&it));

    static int vals[100];
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "task-%d", i);
        CHECK(cm_strmap_put(&m, key, &vals[i]) == NULL);
    }
    CHECK(cm_strmap_remove(&m, NULL) == NULL);
    /* Remove every odd value through the iterator; the walk still sees all 100. */
    int seen = 0;
    for (cm_strmap_iter_init(&it, &m); cm_strmap_iter_next(&it);) {
        int i = (int)((int *)it.cur->value - vals);
        snprintf(key, sizeof key, "task-%d", i);
        CHECK_STR(it.cur->key, key);
        seen++;
        if (i % 2)
            cm_strmap_iter_remove(&it);
    }
    CHECK_INT(seen, 100);
    CHECK_INT(cm_strmap_count(&m), 50);
    CHECK(cm_strmap_get(&m, "task-3") == NULL);
    CHECK(cm_strmap_get(&m, "task-4") == &vals[4]);
    cm_strmap_cleanup(&m);
    CHECK_INT(cm_strmap_count(&m), 0);
    CHECK(cm_strmap_get(&m, "task-4") == NULL);
}

/* The removal count and cm_strmap_holds: what a walk spread over loop turns relies on. */
static void test_removals_and_holds(void)
{
    struct cm_strmap m;
    cm_strmap_init(&m);
    static int vals[40];
    char key[32];
    CHECK(!cm_strmap_holds(&m, 0, &vals[0]));
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "agent-%d", i);
        cm_strmap_put(&m, key, &vals[i]);
    }
    /* Inserting (and growing) removes nothing. */
    CHECK_INT(m.removals, 0);
    uint64_t hash[40];
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m); cm_strmap_iter_next(&it);)
        hash[(int *)it.cur->value - vals] = it.cur->hash;
    for (int i = 0; i < 40; i++)
        CHECK(cm_strmap_holds(&m, hash[i], &vals[i]));
    /* A value under another key's hash, or a pointer the map never held, is not held. */
    CHECK(!cm_strmap_holds(&m, hash[1], &vals[2]));
    CHECK(!cm_strmap_holds(&m, hash[1], &hash[1]));
    CHECK(cm_strmap_remove(&m, "agent-7") == &vals[7]);
    CHECK_INT(m.removals, 1);
    CHECK(!cm_strmap_holds(&m, hash[7], &vals[7]));
    CHECK(cm_strmap_remove(&m, "agent-7") == NULL); /* absent: nothing removed */
    CHECK_INT(m.removals, 1);
    /* Replacing a value counts: the old one is no longer in the map. */
    static int other;
    CHECK(cm_strmap_put(&m, "agent-8", &other) == &vals[8]);
    CHECK_INT(m.removals, 2);
    CHECK(!cm_strmap_holds(&m, hash[8], &vals[8]));
    CHECK(cm_strmap_holds(&m, hash[8], &other));
    for (cm_strmap_iter_init(&it, &m); cm_strmap_iter_next(&it);)
        if (it.cur->value == &vals[9])
            cm_strmap_iter_remove(&it);
    CHECK_INT(m.removals, 3);
    /* Emptying counts and keeps the count, so a map emptied and refilled never shows an old
     * count again. */
    cm_strmap_cleanup(&m);
    CHECK(m.removals > 3);
    CHECK(!cm_strmap_holds(&m, hash[0], &vals[0]));
    cm_strmap_cleanup(&m);
}

TEST_MAIN(TEST(test_put_get_remove), TEST(test_iter_remove_and_edges),
          TEST(test_removals_and_holds))
