/* The container teardown state machine with fake ops and a fake clock: kill rounds re-checked
 * with backoff until empty, EBUSY removals retried, the timeout, errors, one teardown per id,
 * done never called from inside start, and the same machine on a real libevent loop. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "containerizer/teardown.h"
#include "errors.h"
#include "test.h"

/* A fake container: `procs` processes that need `rounds_to_die` kill rounds to disappear,
 * and a cgroup that stays busy for `busy` removal attempts. */
struct fake {
    size_t procs;
    int rounds_to_die;
    int busy;
    int kill_rc;
    int kills, removes;
    int done_calls;
    int done_rc;
    char done_why[256];
    char done_id[64];
};

static int fake_kill(void *arg, const char *id, size_t *left, char *why, size_t whylen)
{
    (void)id;
    struct fake *f = arg;
    f->kills++;
    if (f->kill_rc)
        return cm_fail(f->kill_rc, why, whylen, "kill failed");
    if (f->rounds_to_die > 0 && --f->rounds_to_die == 0)
        f->procs = 0;
    *left = f->procs;
    return 0;
}

static int fake_remove(void *arg, const char *id, char *why, size_t whylen)
{
    (void)id;
    struct fake *f = arg;
    f->removes++;
    if (f->busy > 0) {
        f->busy--;
        return cm_fail(-EBUSY, why, whylen, "busy");
    }
    return 0;
}

static void done(void *arg, const char *id, int rc, const char *why)
{
    struct fake *f = arg;
    f->done_calls++;
    f->done_rc = rc;
    snprintf(f->done_why, sizeof f->done_why, "%s", why);
    snprintf(f->done_id, sizeof f->done_id, "%s", id);
}

static struct cm_teardowns *make(struct fake *f, struct cm_fake_clock *fc, struct event_base *b)
{
    struct cm_teardown_ops ops = {fake_kill, fake_remove, f};
    struct cm_teardown_config cfg = {.base = b,
                                     .clock = &fc->clock,
                                     .first_delay = 0.001,
                                     .max_delay = 0.008,
                                     .timeout = 1,
                                     .done = done,
                                     .done_arg = f};
    return cm_teardowns_new(&ops, &cfg);
}

static void test_empty_container_finishes_from_the_loop(void)
{
    struct fake f = {0};
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 100);
    struct cm_teardowns *t = make(&f, &fc, NULL);
    CHECK_INT(cm_teardowns_start(t, "c1"), 0);
    /* Killed and removed at once, but not reported from inside start. */
    CHECK_INT(f.kills, 1);
    CHECK_INT(f.removes, 1);
    CHECK_INT(f.done_calls, 0);
    CHECK(cm_teardowns_busy(t, "c1"));
    CHECK_INT(cm_teardowns_start(t, "c1"), CM_EEXIST);
    CHECK_INT(cm_teardowns_run_due(t), 0);
    CHECK_INT(f.done_calls, 1);
    CHECK_INT(f.done_rc, 0);
    CHECK_STR(f.done_id, "c1");
    CHECK_INT(cm_teardowns_count(t), 0);
    cm_teardowns_free(t);
}

static void test_kill_rounds_back_off_until_empty(void)
{
    struct fake f = {.procs = 3, .rounds_to_die = 4, .busy = 2};
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 100);
    struct cm_teardowns *t = make(&f, &fc, NULL);
    CHECK_INT(cm_teardowns_start(t, "c2"), 0);
    CHECK_INT(f.kills, 1);
    CHECK_INT(f.removes, 0);
    /* Nothing is due before the first delay has passed. */
    CHECK_INT(cm_teardowns_run_due(t), 0);
    cm_fake_clock_advance(&fc, 0.0005);
    CHECK_INT(cm_teardowns_run_due(t), 0);
    /* 1 ms, then 2 ms, then 4 ms: the delays double. */
    cm_fake_clock_advance(&fc, 0.0005);
    CHECK_INT(cm_teardowns_run_due(t), 1);
    CHECK_INT(f.kills, 2);
    cm_fake_clock_advance(&fc, 0.0015);
    CHECK_INT(cm_teardowns_run_due(t), 0);
    cm_fake_clock_advance(&fc, 0.0005);
    CHECK_INT(cm_teardowns_run_due(t), 1);
    CHECK_INT(f.kills, 3);
    cm_fake_clock_advance(&fc, 0.004);
    CHECK_INT(cm_teardowns_run_due(t), 1);
    /* Fourth round: empty, so the removal is tried at once; busy twice. */
    CHECK_INT(f.kills, 4);
    CHECK_INT(f.removes, 1);
    CHECK_INT(f.done_calls, 0);
    /* The removal's backoff starts again from the first delay. */
    cm_fake_clock_advance(&fc, 0.001);
    CHECK_INT(cm_teardowns_run_due(t), 1);
    CHECK_INT(f.removes, 2);
    cm_fake_clock_advance(&fc, 0.002);
    CHECK_INT(cm_teardowns_run_due(t), 1);
    CHECK_INT(f.removes, 3);
    CHECK_INT(f.done_calls, 1);
    CHECK_INT(f.done_rc, 0);
    cm_teardowns_free(t);
}

static void test_backoff_is_capped_and_times_out(void)
{
    struct fake f = {.procs = 1}; /* never dies */
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 0);
    struct cm_teardowns *t = make(&f, &fc, NULL);
    CHECK_INT(cm_teardowns_start(t, "stuck"), 0);
    int steps = 0;
    for (int i = 0; i < 2000 && f.done_calls == 0; i++) {
        cm_fake_clock_advance(&fc, 0.001);
        steps += (int)cm_teardowns_run_due(t);
    }
    CHECK_INT(f.done_calls, 1);
    CHECK_INT(f.done_rc, -ETIMEDOUT);
    CHECK(strstr(f.done_why, "still has 1 process") != NULL);
    /* 1 s at a cap of 8 ms is about 125 re-checks, not 1000. */
    CHECK(steps > 100 && steps < 140);
    CHECK_INT(f.removes, 0);
    cm_teardowns_free(t);
}

static void test_kill_error_is_reported(void)
{
    struct fake f = {.procs = 1, .kill_rc = -EPERM};
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 0);
    struct cm_teardowns *t = make(&f, &fc, NULL);
    CHECK_INT(cm_teardowns_start(t, "eperm"), 0);
    cm_teardowns_run_due(t);
    CHECK_INT(f.done_calls, 1);
    CHECK_INT(f.done_rc, -EPERM);
    CHECK_STR(f.done_why, "kill failed");
    cm_teardowns_free(t);
}

static void test_free_drops_without_done(void)
{
    struct fake f = {.procs = 1};
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 0);
    struct cm_teardowns *t = make(&f, &fc, NULL);
    CHECK_INT(cm_teardowns_start(t, "a"), 0);
    CHECK_INT(cm_teardowns_start(t, "b"), 0);
    CHECK_INT(cm_teardowns_count(t), 2);
    cm_teardowns_free(t);
    CHECK_INT(f.done_calls, 0);
}

/* On a real loop the timers drive it; the clock is only asked for the deadline. */
static void test_on_a_loop(void)
{
    struct event_base *base = event_base_new();
    REQUIRE(base != NULL);
    struct fake f = {.procs = 2, .rounds_to_die = 3, .busy = 1};
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 0);
    struct cm_teardowns *t = make(&f, &fc, base);
    CHECK_INT(cm_teardowns_start(t, "loop"), 0);
    for (int i = 0; i < 200 && f.done_calls == 0; i++)
        event_base_loop(base, EVLOOP_ONCE);
    CHECK_INT(f.done_calls, 1);
    CHECK_INT(f.done_rc, 0);
    CHECK_INT(f.kills, 3);
    CHECK_INT(f.removes, 2);
    cm_teardowns_free(t);
    event_base_free(base);
}

TEST_MAIN(TEST(test_empty_container_finishes_from_the_loop),
          TEST(test_kill_rounds_back_off_until_empty), TEST(test_backoff_is_capped_and_times_out),
          TEST(test_kill_error_is_reported), TEST(test_free_drops_without_done),
          TEST(test_on_a_loop))
