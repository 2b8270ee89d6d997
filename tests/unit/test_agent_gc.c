/* Sandbox GC with a fake clock and a fake disk: removal after the delay, unschedule,
 * re-schedule, age-based pruning under disk pressure, and no symlink following. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "gc.h"
#include "test.h"

static char root[256];

static double fake_usage = 0.0;
static int usage_calls = 0;
static double usage_fn(void *arg, const char *path)
{
    (void)arg;
    (void)path;
    usage_calls++;
    return fake_usage;
}

static char *mkdir_tree(const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", root, name) < 0)
        abort();
    mkdir(p, 0755);
    char *f = NULL;
    if (asprintf(&f, "%s/stdout", p) < 0)
        abort();
    FILE *fp = fopen(f, "w");
    if (fp) {
        fputs("x\n", fp);
        fclose(fp);
    }
    free(f);
    if (asprintf(&f, "%s/nested", p) < 0)
        abort();
    mkdir(f, 0755);
    free(f);
    return p;
}

static bool exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static struct cm_gc *make(struct cm_fake_clock *fc, double delay)
{
    struct cm_gc_config cfg = {
        .delay = delay,
        .headroom = 0.1,
        .disk_watch_interval = 60,
        .work_dir = root,
        .usage = usage_fn,
    };
    return cm_gc_new(NULL, &fc->clock, &cfg);
}

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/cm_gc_XXXXXX");
    REQUIRE(mkdtemp(root) != NULL);
}

static void test_max_age(void)
{
    double week = 7 * 86400.0;
    CHECK(cm_gc_max_age(week, 0.1, 0.0) == week * 0.9);
    CHECK(cm_gc_max_age(week, 0.1, 0.5) > week * 0.39 &&
          cm_gc_max_age(week, 0.1, 0.5) < week * 0.41);
    CHECK(cm_gc_max_age(week, 0.1, 0.9) == 0);
    CHECK(cm_gc_max_age(week, 0.1, 0.99) == 0);
    CHECK(cm_gc_max_age(100, 0, 0) == 100);
    double u = cm_gc_statvfs_usage(NULL, "/");
    CHECK(u >= 0 && u <= 1);
}

static void test_delay(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 1000);
    struct cm_gc *gc = make(&fc, 100);
    char *a = mkdir_tree("a"), *b = mkdir_tree("b");
    cm_gc_schedule(gc, 100, a);
    cm_fake_clock_advance(&fc, 10);
    cm_gc_schedule(gc, 100, b);
    CHECK_INT(cm_gc_pending(gc), 2);
    CHECK(cm_gc_removal_time(gc, a) == 1100);
    CHECK(cm_gc_removal_time(gc, b) == 1110);
    CHECK(cm_gc_removal_time(gc, "/nope") < 0);

    cm_fake_clock_advance(&fc, 89); /* t = 1099 */
    CHECK_INT(cm_gc_run(gc), 0);
    CHECK(exists(a));
    cm_fake_clock_advance(&fc, 1); /* t = 1100: a is due */
    CHECK_INT(cm_gc_run(gc), 1);
    CHECK(!exists(a));
    CHECK(exists(b));
    CHECK_INT(cm_gc_pending(gc), 1);
    cm_fake_clock_advance(&fc, 50);
    CHECK_INT(cm_gc_run(gc), 1);
    CHECK(!exists(b));
    CHECK(cm_gc_metrics(gc)->path_removals_succeeded == 2);
    CHECK(cm_gc_metrics(gc)->path_removals_failed == 0);
    /* Removing a path that is already gone counts as done. */
    cm_gc_schedule(gc, 0, a);
    CHECK_INT(cm_gc_run(gc), 1);
    CHECK(cm_gc_metrics(gc)->path_removals_succeeded == 3);
    free(a);
    free(b);
    cm_gc_free(gc);
}

static void test_unschedule_and_reschedule(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 0);
    struct cm_gc *gc = make(&fc, 100);
    char *a = mkdir_tree("u1"), *b = mkdir_tree("u2");
    cm_gc_schedule(gc, 100, a);
    cm_gc_schedule(gc, 100, b);
    CHECK(cm_gc_unschedule(gc, a));
    CHECK(!cm_gc_unschedule(gc, a));
    cm_fake_clock_advance(&fc, 50);
    cm_gc_schedule(gc, 100, b); /* replaces: now due at 150 */
    CHECK_INT(cm_gc_pending(gc), 1);
    cm_fake_clock_advance(&fc, 60);
    CHECK_INT(cm_gc_run(gc), 0);
    cm_fake_clock_advance(&fc, 40);
    CHECK_INT(cm_gc_run(gc), 1);
    CHECK(exists(a));
    CHECK(!exists(b));
    cm_gc_remove_tree(a);
    free(a);
    free(b);
    cm_gc_free(gc);
}

static void test_disk_pressure(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 0);
    double delay = 1000;
    struct cm_gc *gc = make(&fc, delay);
    char *old = mkdir_tree("old"), *mid = mkdir_tree("mid"), *fresh = mkdir_tree("fresh");
    cm_gc_schedule(gc, delay, old); /* finished at t=0 */
    cm_fake_clock_advance(&fc, 300);
    cm_gc_schedule(gc, delay, mid); /* t=300 */
    cm_fake_clock_advance(&fc, 500);
    cm_gc_schedule(gc, delay, fresh); /* t=800 */

    /* Plenty of space: max age 900, nothing is that old. */
    fake_usage = 0.0;
    CHECK_INT(cm_gc_check_disk(gc), 0);
    CHECK(usage_calls == 1);
    /* usage 0.5: max age = 1000 * 0.4 = 400 -> "old" (age 800) and "mid" (age 500) go. */
    fake_usage = 0.5;
    CHECK_INT(cm_gc_check_disk(gc), 2);
    CHECK(!exists(old));
    CHECK(!exists(mid));
    CHECK(exists(fresh));
    /* Past the watermark: everything scheduled goes now. */
    fake_usage = 0.95;
    CHECK_INT(cm_gc_check_disk(gc), 1);
    CHECK(!exists(fresh));
    CHECK_INT(cm_gc_pending(gc), 0);
    /* A failing measurement prunes nothing. */
    fake_usage = -1;
    char *x = mkdir_tree("x");
    cm_gc_schedule(gc, delay, x);
    CHECK_INT(cm_gc_check_disk(gc), 0);
    CHECK(exists(x));
    cm_gc_remove_tree(x);
    free(x);
    free(old);
    free(mid);
    free(fresh);
    cm_gc_free(gc);
}

static void test_many_in_order(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 0);
    struct cm_gc *gc = make(&fc, 100);
    char paths[64][300];
    /* Scheduled out of order; each one must go exactly at its time. */
    for (int i = 0; i < 64; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/none-%d", root, i);
        cm_gc_schedule(gc, (double)((i * 37) % 64) + 1, paths[i]);
    }
    for (int t = 1; t <= 64; t++) {
        cm_fake_clock_advance(&fc, 1);
        CHECK_INT(cm_gc_run(gc), 1);
        CHECK_INT(cm_gc_pending(gc), 64 - t);
    }
    cm_gc_free(gc);
}

static void test_no_symlink_following(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 0);
    struct cm_gc *gc = make(&fc, 1);
    char *victim = mkdir_tree("victim"), *sb = mkdir_tree("sb");
    char link[600];
    snprintf(link, sizeof link, "%s/link", sb);
    REQUIRE(symlink(victim, link) == 0);
    cm_gc_schedule(gc, 1, sb);
    cm_fake_clock_advance(&fc, 2);
    CHECK_INT(cm_gc_run(gc), 1);
    CHECK(!exists(sb));
    char f[600];
    snprintf(f, sizeof f, "%s/stdout", victim);
    CHECK(exists(f));
    free(victim);
    free(sb);
    cm_gc_free(gc);
}

/* With a loop the removal runs in a child: the loop only hears the result. A symlink inside
 * the tree and a scheduled path that is itself a symlink are removed as links. */
static void test_removal_in_child(void)
{
    struct event_base *base = event_base_new();
    REQUIRE(base != NULL);
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 0);
    struct cm_gc_config cfg = {.delay = 0, .work_dir = root, .usage = usage_fn};
    struct cm_gc *gc = cm_gc_new(base, &fc.clock, &cfg);
    char *victim = mkdir_tree("victim2"), *sb = mkdir_tree("sb2");
    char link[600], toplink[600], f[600];
    snprintf(link, sizeof link, "%s/nested/link", sb);
    REQUIRE(symlink(victim, link) == 0);
    snprintf(toplink, sizeof toplink, "%s/toplink", root);
    REQUIRE(symlink(victim, toplink) == 0);
    cm_gc_schedule(gc, 0, sb);
    cm_gc_schedule(gc, 0, toplink);
    CHECK_INT(cm_gc_run(gc), 2);
    const struct cm_gc_metrics *m = cm_gc_metrics(gc);
    for (int i = 0; i < 500 && m->path_removals_succeeded + m->path_removals_failed < 2; i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    CHECK(m->path_removals_succeeded == 2);
    CHECK(!exists(sb));
    CHECK(!exists(toplink));
    snprintf(f, sizeof f, "%s/stdout", victim);
    CHECK(exists(f));
    free(victim);
    free(sb);
    cm_gc_free(gc);
    event_base_free(base);
}

static void test_cleanup(void)
{
    CHECK_INT(cm_gc_remove_tree(root), 0);
    CHECK(!exists(root));
}

TEST_MAIN(TEST(setup), TEST(test_max_age), TEST(test_delay), TEST(test_unschedule_and_reschedule),
          TEST(test_disk_pressure), TEST(test_many_in_order), TEST(test_no_symlink_following),
          TEST(test_removal_in_child), TEST(test_cleanup))
