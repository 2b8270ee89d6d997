/* Unit tests for the allocator's decline back-off (allocator.h, "Declines and their
 * back-off"): fake clock, no sockets. The master re-offers what comes back a few milliseconds
 * later (a dirty cycle) and runs another dirty cycle at cm_allocator_next_wakeup; the tests do
 * the same by hand. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "allocator/allocator.h"
#include "allocator_env.h"
#include "errors.h"
#include "test.h"

static int add_fw(struct env *e, const char *id)
{
    const char *roles[] = {"*"};
    return cm_allocator_add_framework(e->a, id, roles, 1, NULL, 0);
}

/* Runs the master's dirty cycle; returns the offers made. */
static size_t run_dirty(struct env *e)
{
    return env_cycle(e, cm_allocator_run_dirty);
}

/* Declines every offer of the last cycle with refuse seconds (DECLINE). */
static void decline_all(struct env *e, double refuse)
{
    for (size_t i = 0; i < e->n; i++) {
        struct offer *o = &e->offers[i];
        cm_allocator_decline(e->a, o->fw, o->role, o->agent, &o->res, refuse);
    }
}

static double now(struct env *e)
{
    return cm_clock_now(&e->clock.clock);
}

/* Moves the clock to the next back-off expiry and runs the master's cycle for it, as long as
 * those cycles make no offer (a wakeup left by a filter that was since replaced finds
 * nothing to do). */
static size_t run_at_wakeup(struct env *e)
{
    for (int i = 0; i < 100; i++) {
        double at = cm_allocator_next_wakeup(e->a);
        if (!isfinite(at))
            return 0;
        if (at > now(e))
            e->clock.t = at; /* exactly: advancing by a difference may land a hair short */
        size_t n = run_dirty(e);
        if (n)
            return n;
    }
    return 0;
}

/* One framework, one agent; it declines everything with refuse 0: the first re-offer comes at
 * once, the next ones back off 20, 40, 80 ... ms up to the maximum, each ending with a wakeup
 * that re-offers without waiting for the periodic cycle. */
static void test_backoff_grows(void)
{
    struct env e;
    env_init(&e);
    cm_allocator_set_backoff(e.a, 0.02, 0.3);
    CHECK(isinf(cm_allocator_next_wakeup(e.a)));
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1") == 0);
    CHECK_INT(run_dirty(&e), 1);
    decline_all(&e, 0);
    CHECK_INT(run_dirty(&e), 1); /* the first re-offer: at once */
    CHECK_STR(e.offers[0].fw, "f1");
    CHECK(isinf(cm_allocator_next_wakeup(e.a)));
    double expect[] = {0.02, 0.04, 0.08, 0.16, 0.3, 0.3, 0.3};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        double t0 = now(&e);
        decline_all(&e, 0);
        CHECK_INT(run_dirty(&e), 0); /* backed off: not re-offered at once */
        double at = cm_allocator_next_wakeup(e.a);
        CHECK(fabs(at - t0 - expect[i]) < 1e-9);
        cm_fake_clock_advance(&e.clock, expect[i] / 2);
        CHECK_INT(run_dirty(&e), 0); /* still backed off */
        CHECK_INT(run_at_wakeup(&e), 1);
        CHECK_STR(e.offers[0].agent, "a1");
        CHECK(fabs(now(&e) - t0 - expect[i]) < 1e-9);
    }
    /* A full cycle honours it too. */
    decline_all(&e, 0);
    clear_offers(&e);
    CHECK_INT(cm_allocator_run(e.a), 0);
    cm_fake_clock_advance(&e.clock, 0.3);
    CHECK_INT(cm_allocator_run(e.a), 1);
    CHECK(isinf(cm_allocator_next_wakeup(e.a))); /* the full cycle took the wakeup */
    env_cleanup(&e);
}

/* Offers in 10 s of fake time to a framework that declines everything with refuse 0, the
 * master running a dirty cycle every 5 ms and at each wakeup. */
static size_t storm(double backoff_max)
{
    struct env e;
    env_init(&e);
    cm_allocator_set_backoff(e.a, 0.02, backoff_max);
    if (add_agent(&e, "a1", "cpus:4;mem:1024") != 0 || add_fw(&e, "f1") != 0)
        abort();
    size_t offers = run_dirty(&e);
    double end = now(&e) + 10.0;
    while (now(&e) < end) {
        decline_all(&e, 0);
        double next = now(&e) + 0.005, wake = cm_allocator_next_wakeup(e.a);
        cm_fake_clock_advance(&e.clock, (wake < next ? wake : next) - now(&e));
        offers += run_dirty(&e);
    }
    env_cleanup(&e);
    return offers;
}

static void test_storm_bounded(void)
{
    size_t off = storm(0), on = storm(1.0);
    /* Without the back-off: one offer per 5 ms cycle. With it: about one per second once the
     * back-off reached the maximum (0 + 20 + 40 + ... + 640 ms, then 1 s steps). */
    CHECK(off >= 1900);
    CHECK(on >= 10 && on <= 20);
    fprintf(stderr, "offers in 10 s: %zu without the back-off, %zu with it\n", off, on);
}

/* Backed-off framework f1 does not slow f2 down: what f1 declines goes to f2 at once, and
 * what f2 declines for the first time comes back to f2 at once. */
static void test_others_fast(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1") == 0);
    REQUIRE(add_fw(&e, "f2") == 0);
    CHECK_INT(run_dirty(&e), 1);
    CHECK_STR(e.offers[0].fw, "f1"); /* equal shares: insertion order */
    decline_all(&e, 0);
    CHECK_INT(run_dirty(&e), 1);
    CHECK_STR(e.offers[0].fw, "f1"); /* first decline: re-offered at once, f1 still first */
    decline_all(&e, 0);
    CHECK_INT(run_dirty(&e), 1);
    CHECK_STR(e.offers[0].fw, "f2"); /* f1 backs off; f2 gets it in the same cycle */
    decline_all(&e, 0);
    CHECK_INT(run_dirty(&e), 1);
    CHECK_STR(e.offers[0].fw, "f2"); /* f2's first decline: at once */
    decline_all(&e, 0);
    CHECK_INT(run_dirty(&e), 0); /* both backed off now */
    CHECK_INT(run_at_wakeup(&e), 1);
    CHECK_STR(e.offers[0].fw, "f1");
    env_cleanup(&e);
}

/* f1, offered e->offers, declines them until it is backed off, takes the re-offer at the
 * wakeup and declines it again: a back-off filter (40 ms or more) is then in force. */
static void back_off(struct env *e)
{
    for (int i = 0; i < 3; i++) {
        decline_all(e, 0);
        if (run_dirty(e) == 0)
            break;
    }
    if (run_at_wakeup(e) != 1)
        abort();
    decline_all(e, 0);
}

/* A change takes the back-off back to its first step (20 ms), not to an immediate re-offer:
 * other resources declined (a task ended on the agent), something of the framework coming back
 * other than by decline. REVIVE, and a decline after a quiet spell, start it over at once. */
static void test_change_first_step(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_agent(&e, "a2", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1") == 0);
    REQUIRE(cm_allocator_activate_agent(e.a, "a2", false) == 0);
    CHECK_INT(run_dirty(&e), 1);
    /* 1. A task of f1 on a1 (1 cpu) ends while f1 is backed off there: the agent's free
     * resources grow beyond the filter, so f1 is offered them at once (a recovery, not a
     * decline); declining them is a changed decline: 20 ms, then the streak goes on. */
    struct cm_resources task = res("cpus:1;mem:24"), rest = res("cpus:3;mem:1000");
    clear_offers(&e); /* f1 launches a task of 1 cpu and declines the rest */
    cm_allocator_decline(e.a, "f1", "*", "a1", &rest, 0);
    CHECK_INT(run_dirty(&e), 1); /* the 3 cpus, at once: no recent decline on a1 */
    back_off(&e);                /* on the 3 cpus */
    CHECK_INT(run_dirty(&e), 0);
    cm_allocator_recover(e.a, "f1", "*", "a1", &task, 0); /* the task finished */
    CHECK_INT(run_dirty(&e), 1);
    CHECK(fabs(cm_scalar_to_double(cm_resources_scalar(&e.offers[0].res, "cpus")) - 4) < 1e-9);
    double t0 = now(&e);
    decline_all(&e, 0);
    CHECK_INT(run_dirty(&e), 0); /* changed: the first step, not at once */
    CHECK_INT(run_at_wakeup(&e), 1);
    CHECK(fabs(now(&e) - t0 - 0.02) < 1e-9);
    t0 = now(&e);
    decline_all(&e, 0); /* the same again: the streak goes on (40 ms) */
    CHECK_INT(run_dirty(&e), 0);
    CHECK_INT(run_at_wakeup(&e), 1);
    CHECK(fabs(now(&e) - t0 - 0.04) < 1e-9);
    /* 2. Something of f1 comes back elsewhere (a task on a2 finished): the next decline on a1
     * is at the first step again (a2 stays inactive: never offered). */
    REQUIRE(cm_allocator_allocate(e.a, "f1", "*", "a2", &task) == 0);
    cm_allocator_recover(e.a, "f1", "*", "a2", &task, 3600);
    t0 = now(&e);
    decline_all(&e, 0);
    CHECK_INT(run_dirty(&e), 0);
    CHECK_INT(run_at_wakeup(&e), 1);
    CHECK(fabs(now(&e) - t0 - 0.02) < 1e-9);
    CHECK_STR(e.offers[0].agent, "a1");
    /* 3. REVIVE lifts the filter in force and the record. */
    back_off(&e);
    CHECK_INT(run_dirty(&e), 0);
    REQUIRE(cm_allocator_revive(e.a, "f1", NULL, 0) == 0);
    CHECK_INT(run_dirty(&e), 1); /* at once */
    decline_all(&e, 0);
    CHECK_INT(run_dirty(&e), 1); /* streak 1: at once */
    CHECK_STR(e.offers[0].agent, "a1");
    /* 4. A quiet spell: f1 holds the offer longer than backoff_max (1 s) past its last
     * decline's filter; declining it is a first decline again. */
    cm_fake_clock_advance(&e.clock, 1.5);
    decline_all(&e, 0);
    CHECK_INT(run_dirty(&e), 1); /* at once */
    cm_resources_cleanup(&task);
    cm_resources_cleanup(&rest);
    env_cleanup(&e);
}

/* Offers in 10 s of fake time on one agent to a framework that declines every offer with
 * refuse 0 rtt seconds after it was made, while one of its tasks ends there every 5 ms
 * (bench-tasks after its launches). The master runs a dirty cycle every half millisecond. */
#define STORM_PENDING 4096
static size_t storm_with_ends(double rtt)
{
    struct env e;
    env_init(&e);
    if (add_agent(&e, "a1", "cpus:64;mem:65536") != 0 || add_fw(&e, "f1") != 0)
        abort();
    struct cm_resources task = res("cpus:0.01;mem:1");
    for (int i = 0; i < 2000; i++) /* 2,000 tasks of f1 running on a1 */
        if (cm_allocator_allocate(e.a, "f1", "*", "a1", &task) != 0)
            abort();
    /* the offers not yet declined, oldest first, with when they were made */
    static struct cm_resources pending[STORM_PENDING];
    static double made[STORM_PENDING];
    size_t head = 0, tail = 0, offers = 0;
    double start = now(&e);
    for (int step = 0; step <= 20000; step++) {
        e.clock.t = start + step * 0.0005;
        while (head < tail && made[head % STORM_PENDING] + rtt <= now(&e) + 1e-9) {
            struct cm_resources *r = &pending[head++ % STORM_PENDING];
            cm_allocator_decline(e.a, "f1", "*", "a1", r, 0);
            cm_resources_cleanup(r);
        }
        if (step % 10 == 9)
            cm_allocator_recover(e.a, "f1", "*", "a1", &task, 0);
        offers += run_dirty(&e);
        for (size_t i = 0; i < e.n && tail - head < STORM_PENDING; i++) {
            cm_resources_init(&pending[tail % STORM_PENDING]);
            cm_resources_add(&pending[tail % STORM_PENDING], &e.offers[i].res);
            made[tail++ % STORM_PENDING] = now(&e);
        }
    }
    while (head < tail)
        cm_resources_cleanup(&pending[head++ % STORM_PENDING]);
    cm_resources_cleanup(&task);
    env_cleanup(&e);
    return offers;
}

static void test_storm_with_ends_bounded(void)
{
    /* 2,000 task ends: one offer each (the recovered task grows the free resources beyond
     * the filter, or lifts it), and between them the declines back off: a changed decline
     * waits 20 ms. Declined 8 ms after the offer (more than the 5 ms between ends) it is
     * about 1.5 per end: a decline of the small offer replaces the filter of the big one,
     * whose resources then go out with it (one filter per agent). */
    for (double rtt = 0.0005; rtt < 0.01; rtt *= 4) {
        size_t n = storm_with_ends(rtt);
        fprintf(stderr, "offers in 10 s, a task ending every 5 ms, declined after %.1f ms: %zu\n",
                rtt * 1e3, n);
        CHECK(n >= 2000 && n <= 4500);
    }
}

/* A decline with a filter of its own (refuse_seconds > 0) after a change starts the streak
 * over: its filter bounds the re-offers already, the back-off's first step is not added. */
static void test_change_with_own_filter(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1") == 0);
    CHECK_INT(run_dirty(&e), 1);
    struct cm_resources task = res("cpus:1;mem:24"), rest = res("cpus:3;mem:1000");
    clear_offers(&e); /* f1 launches a task of 1 cpu and declines the rest */
    cm_allocator_decline(e.a, "f1", "*", "a1", &rest, 0);
    CHECK_INT(run_dirty(&e), 1);
    back_off(&e);
    cm_allocator_recover(e.a, "f1", "*", "a1", &task, 0); /* the task finished */
    CHECK_INT(run_dirty(&e), 1);
    decline_all(&e, 0.001); /* streak 1: its own 1 ms filter, no back-off of 20 ms */
    CHECK_INT(run_dirty(&e), 0);
    cm_fake_clock_advance(&e.clock, 0.002);
    clear_offers(&e);
    CHECK_INT(cm_allocator_run(e.a), 1);
    cm_resources_cleanup(&task);
    cm_resources_cleanup(&rest);
    env_cleanup(&e);
}

static double cpus_of(const struct offer *o)
{
    return cm_scalar_to_double(cm_resources_scalar(&o->res, "cpus"));
}

/* bench-reoffer's task rounds: f1 launches a task from the whole agent (the unused rest comes
 * back and is offered to f1, which holds it); when the task ends f1 is offered its resources,
 * declines both offers with refuse 0 and is offered the whole agent again. That second
 * decline is a changed one: a 20 ms back-off filter on the task's resources. In the next
 * round the agent's free resources are only ever inside it (the rest is held), so without a
 * lift the ended task's resources would wait for it. A recovery lifts it; a filter of f1's own
 * (refuse_seconds) is not lifted; after a lift a decline still backs off. */
static void test_recovery_lifts_backoff(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1") == 0);
    CHECK_INT(run_dirty(&e), 1);
    struct cm_resources task = res("cpus:0.1;mem:32"), rest = res("cpus:3.9;mem:992");
    for (int round = 0; round < 4; round++) {
        clear_offers(&e); /* f1 accepts the whole agent: the task, and the rest comes back */
        cm_allocator_recover(e.a, "f1", "*", "a1", &rest, 0);
        CHECK_INT(run_dirty(&e), 1); /* the rest, held by f1 */
        cm_fake_clock_advance(&e.clock, 0.005);
        cm_allocator_recover(e.a, "f1", "*", "a1", &task, 0); /* the task finished */
        if (round == 3) {
            /* round 2 declined the task's resources with a filter of its own (10 s) */
            CHECK_INT(run_dirty(&e), 0);
            CHECK_INT(run_at_wakeup(&e), 0);
            break;
        }
        CHECK_INT(run_dirty(&e), 1); /* at once */
        CHECK(fabs(cpus_of(&e.offers[0]) - 0.1) < 1e-9);
        cm_allocator_decline(e.a, "f1", "*", "a1", &rest, 0);
        cm_allocator_decline(e.a, "f1", "*", "a1", &task, round == 2 ? 10 : 0);
        CHECK_INT(run_dirty(&e), 1); /* the whole agent: wider than the filter */
        CHECK(fabs(cpus_of(&e.offers[0]) - 4) < 1e-9);
        if (round == 1) {
            /* The lift kept the record: declining the whole agent now backs off (20 ms). */
            double t0 = now(&e);
            decline_all(&e, 0);
            CHECK_INT(run_dirty(&e), 0);
            CHECK_INT(run_at_wakeup(&e), 1);
            CHECK(fabs(now(&e) - t0 - 0.02) < 1e-9);
            CHECK(fabs(cpus_of(&e.offers[0]) - 4) < 1e-9);
        }
    }
    cm_resources_cleanup(&task);
    cm_resources_cleanup(&rest);
    env_cleanup(&e);
    /* Backed off on the whole agent, which is then taken (tasks learned from the agent) and
     * comes back (they finished): inside the filter, lifted, offered at once; the next decline
     * is a changed one (20 ms). */
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1") == 0);
    CHECK_INT(run_dirty(&e), 1);
    struct cm_resources whole = res("cpus:4;mem:1024");
    decline_all(&e, 0);
    CHECK_INT(run_dirty(&e), 1);
    decline_all(&e, 0);
    CHECK_INT(run_dirty(&e), 0); /* backed off, 20 ms */
    REQUIRE(cm_allocator_allocate(e.a, "f1", "*", "a1", &whole) == 0);
    cm_fake_clock_advance(&e.clock, 0.005);
    cm_allocator_recover(e.a, "f1", "*", "a1", &whole, 0);
    CHECK_INT(run_dirty(&e), 1); /* at once */
    double t0 = now(&e);
    decline_all(&e, 0);
    CHECK_INT(run_dirty(&e), 0);
    CHECK_INT(run_at_wakeup(&e), 1);
    CHECK(fabs(now(&e) - t0 - 0.02) < 1e-9);
    cm_resources_cleanup(&whole);
    env_cleanup(&e);
}

/* Resources coming back other than by DECLINE (finished tasks, rescinded offers) never back
 * off; a refuse_seconds longer than the back-off is the framework's filter, ended by the
 * periodic cycle as before; a removed agent takes its wakeups along; max 0 turns it off. */
static void test_edges(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1") == 0);
    CHECK_INT(run_dirty(&e), 1);
    for (int i = 0; i < 5; i++) {
        cm_allocator_recover(e.a, "f1", "*", "a1", &e.offers[0].res, 0);
        CHECK_INT(run_dirty(&e), 1);
    }
    CHECK(isinf(cm_allocator_next_wakeup(e.a)));
    /* refuse 5 s: a plain filter, no wakeup, even as the streak grows. */
    decline_all(&e, 5);
    CHECK_INT(run_dirty(&e), 0);
    CHECK(isinf(cm_allocator_next_wakeup(e.a)));
    cm_fake_clock_advance(&e.clock, 5);
    clear_offers(&e);
    CHECK_INT(cm_allocator_run(e.a), 1);
    decline_all(&e, 0.001); /* streak 2: the 20 ms back-off is longer than 1 ms */
    CHECK_INT(run_dirty(&e), 0);
    CHECK(isfinite(cm_allocator_next_wakeup(e.a)));
    REQUIRE(cm_allocator_remove_agent(e.a, "a1") == 0);
    CHECK(isinf(cm_allocator_next_wakeup(e.a)));
    /* Turned off: declines with refuse 0 are re-offered at once, every time. */
    cm_allocator_set_backoff(e.a, 0.02, 0);
    REQUIRE(add_agent(&e, "a3", "cpus:4;mem:1024") == 0);
    CHECK_INT(run_dirty(&e), 1);
    for (int i = 0; i < 5; i++) {
        decline_all(&e, 0);
        CHECK_INT(run_dirty(&e), 1);
    }
    /* Bad bounds are ignored; unknown ids and NULLs are refused or quiet as for recover. */
    cm_allocator_set_backoff(e.a, -1, 1);
    cm_allocator_set_backoff(e.a, 0.02, NAN);
    decline_all(&e, 0);
    CHECK_INT(run_dirty(&e), 1); /* still off */
    struct cm_resources r = res("cpus:1");
    CHECK_INT(cm_allocator_decline(e.a, NULL, "*", "a3", &r, 0), CM_EINVAL);
    CHECK_INT(cm_allocator_decline(e.a, "nope", "*", "nope", &r, 0), 0);
    cm_resources_cleanup(&r);
    env_cleanup(&e);
}

TEST_MAIN(TEST(test_backoff_grows), TEST(test_storm_bounded), TEST(test_others_fast),
          TEST(test_storm_with_ends_bounded), TEST(test_change_first_step),
          TEST(test_change_with_own_filter), TEST(test_recovery_lifts_backoff), TEST(test_edges))
