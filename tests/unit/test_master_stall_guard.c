/* test_master_stall_guard: the leading master's stall guard (contender.h) on a fake clock. A gap
 * between loop ticks longer than the ZooKeeper session timeout no longer ends the master at
 * once: it holds off acting until the server confirms the session (a slow loop under CPU
 * starvation keeps its session, as the client's own thread pings), and gives up only when no
 * confirmation comes within 3 session timeouts. No sockets. */
#include "clock.h"
#include "contender.h"
#include "test.h"

#define SESSION 2.0

/* Ticks every 100 ms for secs: a healthy loop never trips the guard. */
static void run_healthy(struct cm_stall_guard *g, struct cm_fake_clock *fc, double secs)
{
    for (double t = 0; t < secs; t += 0.1) {
        cm_fake_clock_advance(fc, 0.1);
        CHECK(cm_stall_guard_check(g, cm_clock_now(&fc->clock)) == CM_STALL_NONE);
        cm_stall_guard_tick(g, cm_clock_now(&fc->clock));
    }
}

static void test_no_stall(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 1000);
    struct cm_stall_guard g;
    cm_stall_guard_init(&g, SESSION, cm_clock_now(&fc.clock));
    run_healthy(&g, &fc, 10);
    CHECK(!cm_stall_guard_checking(&g));
    /* A gap of exactly the session timeout is still within it. */
    cm_fake_clock_advance(&fc, SESSION);
    CHECK(cm_stall_guard_check(&g, cm_clock_now(&fc.clock)) == CM_STALL_NONE);
}

/* The 2.3 s gap of the failover benchmark under load 12: the guard asks once, waits, and acting
 * resumes when the server confirms the session. */
static void test_stall_confirmed(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 1000);
    struct cm_stall_guard g;
    cm_stall_guard_init(&g, SESSION, cm_clock_now(&fc.clock));
    run_healthy(&g, &fc, 1);
    cm_fake_clock_advance(&fc, 2.3);
    CHECK(cm_stall_guard_check(&g, cm_clock_now(&fc.clock)) == CM_STALL_CHECK);
    CHECK(cm_stall_guard_checking(&g));
    /* Ticks while the check is under way do not end it: only the server's answer does. */
    for (int i = 0; i < 5; i++) {
        cm_fake_clock_advance(&fc, 0.1);
        cm_stall_guard_tick(&g, cm_clock_now(&fc.clock));
        CHECK(cm_stall_guard_check(&g, cm_clock_now(&fc.clock)) == CM_STALL_WAIT);
    }
    CHECK(cm_stall_guard_confirmed(&g, cm_clock_now(&fc.clock), g.stalls));
    CHECK(!cm_stall_guard_checking(&g));
    run_healthy(&g, &fc, 3);
    /* A second stall is checked again. */
    cm_fake_clock_advance(&fc, 5);
    CHECK(cm_stall_guard_check(&g, cm_clock_now(&fc.clock)) == CM_STALL_CHECK);
}

/* SIGSTOP past the session: no confirmation comes (the session expired; the client will say so
 * too); the guard never lets the master act and gives up after 3 session timeouts. */
static void test_stall_unconfirmed(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 1000);
    struct cm_stall_guard g;
    cm_stall_guard_init(&g, SESSION, cm_clock_now(&fc.clock));
    cm_fake_clock_advance(&fc, 30);
    CHECK(cm_stall_guard_check(&g, cm_clock_now(&fc.clock)) == CM_STALL_CHECK);
    int waits = 0;
    enum cm_stall_verdict v;
    for (;;) {
        cm_fake_clock_advance(&fc, 0.1);
        cm_stall_guard_tick(&g, cm_clock_now(&fc.clock));
        v = cm_stall_guard_check(&g, cm_clock_now(&fc.clock));
        if (v != CM_STALL_WAIT)
            break;
        waits++;
    }
    CHECK(v == CM_STALL_GIVE_UP);
    /* 3 session timeouts of 0.1 s ticks (within rounding of the float clock) */
    CHECK(waits >= 59 && waits <= 60);
}

/* The loop stalls again while the check is out: the answer was possibly given before the
 * session expired during the second stall, so it does not count; a new request's does. */
static void test_stall_during_check(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 1000);
    struct cm_stall_guard g;
    cm_stall_guard_init(&g, SESSION, cm_clock_now(&fc.clock));
    cm_fake_clock_advance(&fc, 2.5);
    CHECK(cm_stall_guard_check(&g, cm_clock_now(&fc.clock)) == CM_STALL_CHECK);
    unsigned sent = g.stalls;
    /* Only the check's own sighting: the same gap is not counted twice by the next tick. */
    cm_fake_clock_advance(&fc, 0.1);
    cm_stall_guard_tick(&g, cm_clock_now(&fc.clock));
    CHECK(g.stalls == sent);
    cm_fake_clock_advance(&fc, 2.5); /* stalled again before the answer was handled */
    CHECK(!cm_stall_guard_confirmed(&g, cm_clock_now(&fc.clock), sent));
    CHECK(cm_stall_guard_checking(&g));
    CHECK(cm_stall_guard_check(&g, cm_clock_now(&fc.clock)) == CM_STALL_WAIT);
    sent = g.stalls; /* the next request */
    cm_fake_clock_advance(&fc, 0.05);
    CHECK(cm_stall_guard_confirmed(&g, cm_clock_now(&fc.clock), sent));
    CHECK(cm_stall_guard_check(&g, cm_clock_now(&fc.clock)) == CM_STALL_NONE);
}

TEST_MAIN(TEST(test_no_stall), TEST(test_stall_confirmed), TEST(test_stall_unconfirmed),
          TEST(test_stall_during_check))
