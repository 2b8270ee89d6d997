/* Unit tests for the hierarchical DRF allocator: fake clock, no sockets. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "allocator/allocator.h"
#include "allocator_env.h"
#include "errors.h"
#include "test.h"

/* Runs a cycle after dropping the previous cycle's records; returns the offers made. */
static size_t run(struct env *e)
{
    return env_cycle(e, cm_allocator_run);
}

static int add_fw(struct env *e, const char *id, const char *role)
{
    const char *roles[] = {role};
    return cm_allocator_add_framework(e->a, id, roles, 1, NULL, 0);
}

static int allocate(struct env *e, const char *fw, const char *role, const char *agent,
                    const char *text)
{
    struct cm_resources r = res(text);
    int rc = cm_allocator_allocate(e->a, fw, role, agent, &r);
    cm_resources_cleanup(&r);
    return rc;
}

static int recover(struct env *e, const char *fw, const char *role, const char *agent,
                   const char *text, double refuse)
{
    struct cm_resources r = res(text);
    int rc = cm_allocator_recover(e->a, fw, role, agent, &r, refuse);
    cm_resources_cleanup(&r);
    return rc;
}

/* Gives back every offer of the last cycle, with a filter of refuse seconds. */
static void decline_all(struct env *e, double refuse)
{
    for (size_t i = 0; i < e->n; i++) {
        struct offer *o = &e->offers[i];
        cm_allocator_recover(e->a, o->fw, o->role, o->agent, &o->res, refuse);
    }
}

static double cpus(const struct cm_resources *r)
{
    return cm_scalar_to_double(cm_resources_scalar(r, "cpus"));
}

static void test_drf_order(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:10;mem:1000") == 0);
    REQUIRE(add_fw(&e, "f1", "*") == 0);
    REQUIRE(add_fw(&e, "f2", "*") == 0);
    const char *ids[4], *roles[4];
    CHECK_INT(cm_allocator_order(e.a, ids, roles, 4), 2);
    CHECK_STR(ids[0], "f1"); /* tie: insertion order */
    CHECK_STR(ids[1], "f2");
    CHECK_STR(roles[0], "*");
    REQUIRE(allocate(&e, "f1", "*", "a1", "cpus:2;mem:100") == 0);
    REQUIRE(allocate(&e, "f2", "*", "a1", "cpus:1;mem:300") == 0);
    /* f1: max(0.2, 0.1) = 0.2; f2: max(0.1, 0.3) = 0.3. */
    cm_allocator_order(e.a, ids, roles, 4);
    CHECK_STR(ids[0], "f1");
    CHECK_STR(ids[1], "f2");
    REQUIRE(allocate(&e, "f1", "*", "a1", "cpus:2") == 0);
    cm_allocator_order(e.a, ids, roles, 4);
    CHECK_STR(ids[0], "f2");
    CHECK_STR(ids[1], "f1");
    CHECK(fabs(cm_allocator_role_share(e.a, "*") - 0.5) < 1e-9);
    /* The next offer goes to the lowest share. */
    CHECK_INT(run(&e), 1);
    CHECK_STR(e.offers[0].fw, "f2");
    CHECK(fabs(cpus(&e.offers[0].res) - 5.0) < 1e-9);
    env_cleanup(&e);
}

static void test_weights(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:10;mem:1000") == 0);
    REQUIRE(add_fw(&e, "f1", "r1") == 0);
    REQUIRE(add_fw(&e, "f2", "r2") == 0);
    REQUIRE(allocate(&e, "f1", "r1", "a1", "cpus:4") == 0);
    REQUIRE(allocate(&e, "f2", "r2", "a1", "cpus:2") == 0);
    const char *ids[4];
    cm_allocator_order(e.a, ids, NULL, 4);
    CHECK_STR(ids[0], "f2");
    CHECK(cm_allocator_set_weight(e.a, "r1", 0) == CM_EINVAL);
    CHECK(cm_allocator_set_weight(e.a, "r1", -1) == CM_EINVAL);
    REQUIRE(cm_allocator_set_weight(e.a, "r1", 4.0) == 0);
    /* r1: 0.4 / 4 = 0.1 < r2: 0.2. */
    cm_allocator_order(e.a, ids, NULL, 4);
    CHECK_STR(ids[0], "f1");
    CHECK_STR(ids[1], "f2");
    /* The reported share is unweighted. */
    CHECK(fabs(cm_allocator_role_share(e.a, "r1") - 0.4) < 1e-9);
    CHECK(cm_allocator_role_share(e.a, "nope") == 0.0);
    /* A weight set before the role exists applies when it appears. */
    REQUIRE(cm_allocator_set_weight(e.a, "r3", 100.0) == 0);
    REQUIRE(add_fw(&e, "f3", "r3") == 0);
    REQUIRE(allocate(&e, "f3", "r3", "a1", "cpus:3") == 0);
    cm_allocator_order(e.a, ids, NULL, 4);
    CHECK_STR(ids[0], "f3");
    env_cleanup(&e);
}

static void test_hierarchy(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:10;mem:1000") == 0);
    REQUIRE(add_fw(&e, "web", "eng/web") == 0);
    REQUIRE(add_fw(&e, "db", "eng/db") == 0);
    REQUIRE(add_fw(&e, "ops", "ops") == 0);
    REQUIRE(allocate(&e, "web", "eng/web", "a1", "cpus:2") == 0);
    CHECK(fabs(cm_allocator_role_share(e.a, "eng") - 0.2) < 1e-9);
    CHECK(fabs(cm_allocator_role_share(e.a, "eng/web") - 0.2) < 1e-9);
    const char *ids[4], *roles[4];
    CHECK_INT(cm_allocator_order(e.a, ids, roles, 4), 3);
    /* ops (0) before eng (0.2); inside eng, db (0) before web (0.2). */
    CHECK_STR(ids[0], "ops");
    CHECK_STR(ids[1], "db");
    CHECK_STR(roles[1], "eng/db");
    CHECK_STR(ids[2], "web");
    REQUIRE(allocate(&e, "ops", "ops", "a1", "cpus:3") == 0);
    cm_allocator_order(e.a, ids, roles, 4);
    CHECK_STR(ids[0], "db");
    CHECK_STR(ids[1], "web");
    CHECK_STR(ids[2], "ops");
    env_cleanup(&e);
}

static void test_one_offer_per_agent(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024;ports:[31000-32000]") == 0);
    REQUIRE(add_agent(&e, "a2", "cpus:4;mem:1024") == 0);
    const char *roles[] = {"r1", "r2"};
    REQUIRE(cm_allocator_add_framework(e.a, "f1", roles, 2, NULL, 0) == 0);
    /* One offer per agent: the first framework-role takes everything allocatable. */
    CHECK_INT(run(&e), 2);
    CHECK(strcmp(e.offers[0].agent, e.offers[1].agent) != 0);
    struct cm_resources want = res("cpus:4;mem:1024;ports:[31000-32000]");
    size_t i = strcmp(e.offers[0].agent, "a1") == 0 ? 0 : 1;
    CHECK(cm_resources_equal(&e.offers[i].res, &want));
    cm_resources_cleanup(&want);
    /* A DRF tie between r1 and r2 goes by name, then r2 (lower share) gets the next agent. */
    CHECK_STR(e.offers[0].role, "r1");
    CHECK_STR(e.offers[1].role, "r2");
    CHECK(add_agent(&e, "a1", "cpus:1") == CM_EEXIST);
    CHECK(add_fw(&e, "f1", "*") == CM_EEXIST);
    env_cleanup(&e);
}

static void test_not_reoffered_until_recovered(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1", "*") == 0);
    REQUIRE(add_fw(&e, "f2", "*") == 0);
    CHECK_INT(run(&e), 1);
    CHECK_STR(e.offers[0].fw, "f1");
    struct cm_allocator_stats st;
    cm_allocator_stats(e.a, &st);
    CHECK(fabs(st.cpus_allocated - 4.0) < 1e-9);
    CHECK(fabs(st.cpus_total - 4.0) < 1e-9);
    CHECK_INT(st.agents, 1);
    CHECK_INT(st.frameworks, 2);
    struct cm_resources back;
    cm_resources_init(&back);
    cm_resources_add(&back, &e.offers[0].res);
    CHECK_INT(run(&e), 0);
    CHECK_INT(run(&e), 0);
    REQUIRE(cm_allocator_recover(e.a, "f1", "*", "a1", &back, 0) == 0);
    cm_resources_cleanup(&back);
    cm_allocator_stats(e.a, &st);
    CHECK(st.cpus_allocated == 0.0);
    CHECK_INT(run(&e), 1);
    env_cleanup(&e);
}

static void test_decline_filter(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1", "*") == 0);
    CHECK_INT(run(&e), 1);
    decline_all(&e, 10.0);
    struct cm_allocator_stats st;
    cm_allocator_stats(e.a, &st);
    CHECK_INT(st.active_filters, 1);
    CHECK_INT(run(&e), 0);
    cm_fake_clock_advance(&e.clock, 9.0);
    CHECK_INT(run(&e), 0);
    cm_fake_clock_advance(&e.clock, 1.5);
    CHECK_INT(run(&e), 1);
    /* Another framework is not blocked by f1's filter. */
    decline_all(&e, 100.0);
    REQUIRE(add_fw(&e, "f2", "*") == 0);
    CHECK_INT(run(&e), 1);
    CHECK_STR(e.offers[0].fw, "f2");
    env_cleanup(&e);
}

static void test_filter_cap(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1", "*") == 0);
    CHECK_INT(run(&e), 1);
    decline_all(&e, 1e12);
    double year = 365.0 * 24 * 3600;
    cm_fake_clock_advance(&e.clock, year - 10);
    CHECK_INT(run(&e), 0);
    cm_fake_clock_advance(&e.clock, 20);
    CHECK_INT(run(&e), 1);
    env_cleanup(&e);
}

static void test_filter_superset(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1", "*") == 0);
    CHECK_INT(run(&e), 1);
    /* f1 launches a task with part of it and refuses the rest for long. */
    REQUIRE(recover(&e, "f1", "*", "a1", "cpus:3;mem:896", 1000) == 0);
    CHECK_INT(run(&e), 0);
    CHECK_INT(run(&e), 0);
    /* The task ends: the agent now has more than was filtered, so it is offered again. */
    REQUIRE(recover(&e, "f1", "*", "a1", "cpus:1;mem:128", 0) == 0);
    CHECK_INT(run(&e), 1);
    CHECK(fabs(cpus(&e.offers[0].res) - 4.0) < 1e-9);
    env_cleanup(&e);
}

static void test_revive_clears_filters(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_agent(&e, "a2", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1", "*") == 0);
    CHECK_INT(run(&e), 2);
    decline_all(&e, 1e9);
    CHECK_INT(run(&e), 0);
    CHECK_INT(run(&e), 0);
    REQUIRE(cm_allocator_revive(e.a, "f1", NULL, 0) == 0);
    struct cm_allocator_stats st;
    cm_allocator_stats(e.a, &st);
    CHECK_INT(st.active_filters, 0);
    CHECK_INT(run(&e), 2);
    CHECK(cm_allocator_revive(e.a, "nope", NULL, 0) == CM_ENOTFOUND);
    env_cleanup(&e);
}

static void test_suppress_revive(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    const char *roles[] = {"r1", "r2"};
    REQUIRE(cm_allocator_add_framework(e.a, "f1", roles, 2, roles, 1) == 0); /* r1 suppressed */
    CHECK_INT(run(&e), 1);
    CHECK_STR(e.offers[0].role, "r2");
    decline_all(&e, 0);
    REQUIRE(cm_allocator_suppress(e.a, "f1", NULL, 0) == 0);
    CHECK_INT(run(&e), 0);
    const char *r1[] = {"r1"};
    REQUIRE(cm_allocator_revive(e.a, "f1", r1, 1) == 0);
    CHECK_INT(run(&e), 1);
    CHECK_STR(e.offers[0].role, "r1");
    env_cleanup(&e);
}

static void test_inactive(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1", "*") == 0);
    REQUIRE(cm_allocator_activate_framework(e.a, "f1", false) == 0);
    CHECK_INT(run(&e), 0);
    REQUIRE(cm_allocator_activate_framework(e.a, "f1", true) == 0);
    CHECK_INT(run(&e), 1);
    decline_all(&e, 0);
    REQUIRE(cm_allocator_activate_agent(e.a, "a1", false) == 0);
    CHECK_INT(run(&e), 0);
    struct cm_allocator_stats st;
    cm_allocator_stats(e.a, &st);
    CHECK(st.cpus_total == 0.0);
    REQUIRE(cm_allocator_activate_agent(e.a, "a1", true) == 0);
    CHECK_INT(run(&e), 1);
    CHECK(cm_allocator_activate_agent(e.a, "zz", true) == CM_ENOTFOUND);
    CHECK(cm_allocator_activate_framework(e.a, "zz", true) == CM_ENOTFOUND);
    env_cleanup(&e);
}

static void test_reserved(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024;cpus(eng):2;mem(eng):256") == 0);
    REQUIRE(add_fw(&e, "ops", "ops") == 0);
    CHECK_INT(run(&e), 1);
    struct cm_resources unres = res("cpus:4;mem:1024");
    CHECK(cm_resources_equal(&e.offers[0].res, &unres));
    cm_resources_cleanup(&unres);
    /* The reservation waits for eng or its children. */
    CHECK_INT(run(&e), 0);
    REQUIRE(add_fw(&e, "web", "eng/web") == 0);
    CHECK_INT(run(&e), 1);
    CHECK_STR(e.offers[0].fw, "web");
    struct cm_resources resv = res("cpus(eng):2;mem(eng):256");
    CHECK(cm_resources_equal(&e.offers[0].res, &resv));
    cm_resources_cleanup(&resv);
    env_cleanup(&e);

    /* Two roles on one agent: each gets its part in the same cycle. */
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024;cpus(eng):2;mem(eng):256") == 0);
    REQUIRE(add_fw(&e, "aaa", "aaa") == 0);
    REQUIRE(add_fw(&e, "eng", "eng") == 0);
    CHECK_INT(run(&e), 2);
    /* aaa sorts first (name tie) and takes the unreserved part, then eng its reservation. */
    CHECK_STR(e.offers[0].fw, "aaa");
    CHECK(fabs(cpus(&e.offers[0].res) - 4.0) < 1e-9);
    CHECK_STR(e.offers[1].fw, "eng");
    CHECK(fabs(cpus(&e.offers[1].res) - 2.0) < 1e-9);
    env_cleanup(&e);
}

static void test_min_allocatable(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "tiny", "cpus:0.005;mem:16") == 0);
    REQUIRE(add_agent(&e, "cpuonly", "cpus:0.5;mem:8") == 0);
    REQUIRE(add_agent(&e, "memonly", "cpus:0.001;mem:64") == 0);
    REQUIRE(add_fw(&e, "f1", "*") == 0);
    CHECK_INT(run(&e), 2);
    for (size_t i = 0; i < e.n; i++)
        CHECK(strcmp(e.offers[i].agent, "tiny") != 0);
    env_cleanup(&e);

    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:1;mem:100") == 0);
    REQUIRE(add_fw(&e, "f1", "*") == 0);
    REQUIRE(allocate(&e, "f1", "*", "a1", "cpus:0.995;mem:80") == 0);
    CHECK_INT(run(&e), 0);
    REQUIRE(recover(&e, "f1", "*", "a1", "cpus:0.5", 0) == 0);
    CHECK_INT(run(&e), 1);
    env_cleanup(&e);
}

static void test_remove(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_agent(&e, "a2", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1", "*") == 0);
    CHECK_INT(run(&e), 2);
    decline_all(&e, 1e9);
    REQUIRE(cm_allocator_remove_agent(e.a, "a1") == 0);
    CHECK(cm_allocator_remove_agent(e.a, "a1") == CM_ENOTFOUND);
    struct cm_allocator_stats st;
    cm_allocator_stats(e.a, &st);
    CHECK_INT(st.agents, 1);
    CHECK_INT(st.active_filters, 1);
    CHECK(fabs(st.cpus_total - 4.0) < 1e-9);
    /* A re-added agent of the same id starts without the old filters. */
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    CHECK_INT(run(&e), 1);
    CHECK_STR(e.offers[0].agent, "a1");
    decline_all(&e, 0);
    /* Recovering for a gone agent is quiet. */
    CHECK(recover(&e, "f1", "*", "gone", "cpus:1", 5) == 0);
    REQUIRE(cm_allocator_remove_framework(e.a, "f1") == 0);
    CHECK(cm_allocator_remove_framework(e.a, "f1") == CM_ENOTFOUND);
    cm_allocator_stats(e.a, &st);
    CHECK_INT(st.frameworks, 0);
    CHECK_INT(st.active_filters, 0);
    CHECK_INT(run(&e), 0);
    const char *ids[2];
    CHECK_INT(cm_allocator_order(e.a, ids, NULL, 2), 0);
    REQUIRE(add_fw(&e, "f2", "*") == 0);
    CHECK_INT(run(&e), 2);
    env_cleanup(&e);
}

static void test_update_framework(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1", "r1") == 0);
    CHECK_INT(run(&e), 1);
    CHECK_STR(e.offers[0].role, "r1");
    decline_all(&e, 1e9);
    CHECK_INT(run(&e), 0);
    const char *roles[] = {"r1", "r2"};
    REQUIRE(cm_allocator_update_framework(e.a, "f1", roles, 2, NULL, 0) == 0);
    CHECK_INT(run(&e), 1);
    CHECK_STR(e.offers[0].role, "r2");
    const char *ids[4];
    CHECK_INT(cm_allocator_order(e.a, ids, NULL, 4), 2);
    env_cleanup(&e);
}

/* Each cycle the single agent goes to the lowest share; the framework launches one task and
 * gives the rest back, so equal tasks alternate and unequal ones equalize dominant shares. */
static void test_drf_twenty_tasks(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:100;mem:100000") == 0);
    REQUIRE(add_fw(&e, "f1", "*") == 0);
    REQUIRE(add_fw(&e, "f2", "*") == 0);
    int tasks[2] = {0, 0};
    char last[64] = "";
    for (int t = 0; t < 20; t++) {
        REQUIRE(run(&e) == 1);
        struct offer *o = &e.offers[0];
        CHECK(strcmp(o->fw, last) != 0);
        snprintf(last, sizeof last, "%s", o->fw);
        tasks[o->fw[1] - '1']++;
        struct cm_resources task = res("cpus:1;mem:1000");
        cm_resources_subtract(&o->res, &task);
        cm_resources_cleanup(&task);
        REQUIRE(cm_allocator_recover(e.a, o->fw, o->role, o->agent, &o->res, 0) == 0);
    }
    CHECK_INT(tasks[0], 10);
    CHECK_INT(tasks[1], 10);
    env_cleanup(&e);

    /* f1 runs cpu-heavy tasks (dominant cpus), f2 memory-heavy ones (dominant mem). */
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:100;mem:100000") == 0);
    REQUIRE(add_fw(&e, "f1", "*") == 0);
    REQUIRE(add_fw(&e, "f2", "*") == 0);
    tasks[0] = tasks[1] = 0;
    for (int t = 0; t < 20; t++) {
        REQUIRE(run(&e) == 1);
        struct offer *o = &e.offers[0];
        int which = o->fw[1] - '1';
        tasks[which]++;
        struct cm_resources task = res(which == 0 ? "cpus:4;mem:100" : "cpus:1;mem:2000");
        cm_resources_subtract(&o->res, &task);
        cm_resources_cleanup(&task);
        REQUIRE(cm_allocator_recover(e.a, o->fw, o->role, o->agent, &o->res, 0) == 0);
    }
    /* Shares: f1 0.04 per task, f2 0.02 per task: f2 runs about twice as many. */
    CHECK(tasks[1] >= 13 && tasks[1] <= 14);
    CHECK_INT(tasks[0] + tasks[1], 20);
    env_cleanup(&e);
}

/* The skip cache must not hide an agent once something changes. */
static void test_skip_invalidation(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "a1", "cpus:4;mem:1024") == 0);
    REQUIRE(add_fw(&e, "f1", "*") == 0);
    REQUIRE(add_fw(&e, "f2", "*") == 0);
    CHECK_INT(run(&e), 1);
    decline_all(&e, 50);
    CHECK_INT(run(&e), 1);
    CHECK_STR(e.offers[0].fw, "f2");
    decline_all(&e, 1e9);
    CHECK_INT(run(&e), 0);
    CHECK_INT(run(&e), 0); /* skipped now */
    cm_fake_clock_advance(&e.clock, 51);
    CHECK_INT(run(&e), 1); /* f1's filter expired */
    CHECK_STR(e.offers[0].fw, "f1");
    decline_all(&e, 1e9);
    CHECK_INT(run(&e), 0);
    REQUIRE(add_fw(&e, "f3", "*") == 0);
    CHECK_INT(run(&e), 1);
    CHECK_STR(e.offers[0].fw, "f3");
    decline_all(&e, 1e9);
    CHECK_INT(run(&e), 0);
    REQUIRE(cm_allocator_activate_framework(e.a, "f3", false) == 0);
    REQUIRE(cm_allocator_revive(e.a, "f3", NULL, 0) == 0);
    CHECK_INT(run(&e), 0); /* revived but inactive */
    REQUIRE(cm_allocator_activate_framework(e.a, "f3", true) == 0);
    CHECK_INT(run(&e), 1);
    env_cleanup(&e);
}

/* Both ways of choosing (walking the order; picking among agents' unblocked framework-roles)
 * must agree on the hierarchical order, including a role's own frameworks vs its children. */
static void test_order_with_filters(void)
{
    struct env e;
    env_init(&e);
    REQUIRE(add_agent(&e, "big", "cpus:100;mem:100000") == 0);
    REQUIRE(add_fw(&e, "fA", "eng") == 0);
    REQUIRE(add_fw(&e, "fB", "eng/web") == 0);
    REQUIRE(add_fw(&e, "fC", "ops") == 0);
    REQUIRE(add_fw(&e, "fD", "*") == 0);
    REQUIRE(add_fw(&e, "fE", "eng/db") == 0);
    REQUIRE(allocate(&e, "fA", "eng", "big", "cpus:10") == 0);
    REQUIRE(allocate(&e, "fB", "eng/web", "big", "cpus:5") == 0);
    REQUIRE(allocate(&e, "fC", "ops", "big", "cpus:20") == 0);
    REQUIRE(allocate(&e, "fD", "*", "big", "cpus:64;mem:100000") == 0);
    REQUIRE(allocate(&e, "fE", "eng/db", "big", "cpus:1") == 0);
    REQUIRE(add_agent(&e, "x", "cpus:1;mem:1000") == 0);
    static const char *const want[] = {"fE", "fB", "fA", "fC", "fD"};
    const char *ids[8];
    REQUIRE(cm_allocator_order(e.a, ids, NULL, 8) == 5);
    for (int i = 0; i < 5; i++)
        CHECK_STR(ids[i], want[i]);
    for (int i = 0; i < 5; i++) {
        REQUIRE(run(&e) == 1);
        CHECK_STR(e.offers[0].fw, want[i]);
        CHECK_STR(e.offers[0].agent, "x");
        decline_all(&e, 1e9);
    }
    CHECK_INT(run(&e), 0);
    REQUIRE(cm_allocator_revive(e.a, "fC", NULL, 0) == 0);
    REQUIRE(cm_allocator_revive(e.a, "fA", NULL, 0) == 0);
    REQUIRE(run(&e) == 1);
    CHECK_STR(e.offers[0].fw, "fA");
    decline_all(&e, 1e9);
    REQUIRE(run(&e) == 1);
    CHECK_STR(e.offers[0].fw, "fC");
    decline_all(&e, 1e9);
    CHECK_INT(run(&e), 0);
    /* A child role (eng/web) with a lower share goes before the role's own framework. */
    REQUIRE(cm_allocator_revive(e.a, "fA", NULL, 0) == 0);
    REQUIRE(cm_allocator_revive(e.a, "fB", NULL, 0) == 0);
    REQUIRE(run(&e) == 1);
    CHECK_STR(e.offers[0].fw, "fB");
    decline_all(&e, 1e9);
    REQUIRE(run(&e) == 1);
    CHECK_STR(e.offers[0].fw, "fA");
    decline_all(&e, 1e9);
    CHECK_INT(run(&e), 0);
    env_cleanup(&e);
}

static void count_wake(void *arg)
{
    (*(int *)arg)++;
}

static size_t run_dirty(struct env *e)
{
    clear_offers(e);
    size_t n = cm_allocator_run_dirty(e->a);
    if (n != e->n)
        abort();
    return n;
}

/* Event-driven allocation: what comes back marks its agent dirty and wakes the master once;
 * a dirty cycle visits only the dirty agents and makes the choices a full cycle would. */
static void test_dirty_set(void)
{
    struct env e;
    env_init(&e);
    int wakes = 0;
    cm_allocator_set_wake(e.a, count_wake, &wakes);
    char id[16];
    for (int i = 0; i < 8; i++) {
        snprintf(id, sizeof id, "a%d", i);
        REQUIRE(add_agent(&e, id, "cpus:4;mem:1024") == 0);
    }
    CHECK_INT(wakes, 1); /* the first added agent woke it; the rest joined the set */
    CHECK(cm_allocator_dirty(e.a));
    REQUIRE(add_fw(&e, "f1", "*") == 0);
    CHECK_INT(wakes, 1);
    CHECK_INT(run_dirty(&e), 8); /* all dirty: a full cycle */
    CHECK(!cm_allocator_dirty(e.a));
    /* f1 declines everything with refuse 0: each agent is dirty again, one wake. */
    decline_all(&e, 0);
    CHECK_INT(wakes, 2);
    CHECK_INT(run_dirty(&e), 8);
    /* Two agents' offers come back (one in two pieces): only those two are offered, each
     * as one offer of the whole agent. */
    struct offer keep[8];
    memcpy(keep, e.offers, sizeof keep);
    e.n = 0;
    REQUIRE(recover(&e, "f1", "*", "a3", "cpus:1;mem:24", 0) == 0);
    REQUIRE(recover(&e, "f1", "*", "a3", "cpus:3;mem:1000", 0) == 0);
    REQUIRE(recover(&e, "f1", "*", "a6", "cpus:4;mem:1024", 0) == 0);
    CHECK_INT(wakes, 3);
    CHECK_INT(run_dirty(&e), 2);
    CHECK_STR(e.offers[0].agent, "a3");
    CHECK_STR(e.offers[1].agent, "a6");
    CHECK(fabs(cpus(&e.offers[0].res) - 4.0) < 1e-9);
    for (int i = 0; i < 8; i++)
        cm_resources_cleanup(&keep[i].res);
    /* A decline with a long filter marks the agent dirty, but the cycle finds it filtered. */
    decline_all(&e, 1e9);
    CHECK_INT(wakes, 4);
    CHECK_INT(run_dirty(&e), 0);
    /* Nothing dirty: a dirty cycle does nothing and nothing wakes. */
    CHECK(!cm_allocator_dirty(e.a));
    CHECK_INT(run_dirty(&e), 0);
    /* REVIVE makes everything a candidate: all dirty. */
    REQUIRE(cm_allocator_revive(e.a, "f1", NULL, 0) == 0);
    CHECK_INT(wakes, 5);
    CHECK_INT(run_dirty(&e), 2);
    /* A removed agent leaves the set. */
    decline_all(&e, 0);
    REQUIRE(cm_allocator_remove_agent(e.a, "a3") == 0);
    CHECK_INT(run_dirty(&e), 1);
    CHECK_STR(e.offers[0].agent, "a6");
    /* A full cycle empties the set too. */
    decline_all(&e, 0);
    CHECK(cm_allocator_dirty(e.a));
    CHECK_INT(run(&e), 1);
    CHECK(!cm_allocator_dirty(e.a));
    /* Forgetting the set: the next return wakes again. */
    decline_all(&e, 0);
    CHECK_INT(wakes, 8);
    cm_allocator_forget_dirty(e.a);
    CHECK(!cm_allocator_dirty(e.a));
    CHECK_INT(run_dirty(&e), 0);
    CHECK_INT(run(&e), 1); /* the periodic cycle still finds it */
    decline_all(&e, 0);
    CHECK_INT(wakes, 9);
    CHECK_INT(run_dirty(&e), 1);
    /* Without a wake callback nothing is called. */
    cm_allocator_set_wake(e.a, NULL, NULL);
    decline_all(&e, 0);
    CHECK_INT(wakes, 9); /* unchanged: no callback */
    env_cleanup(&e);
}

TEST_MAIN(TEST(test_drf_order), TEST(test_weights), TEST(test_hierarchy),
          TEST(test_one_offer_per_agent), TEST(test_not_reoffered_until_recovered),
          TEST(test_decline_filter), TEST(test_filter_cap), TEST(test_filter_superset),
          TEST(test_revive_clears_filters), TEST(test_suppress_revive), TEST(test_inactive),
          TEST(test_reserved), TEST(test_min_allocatable), TEST(test_remove),
          TEST(test_update_framework), TEST(test_drf_twenty_tasks), TEST(test_skip_invalidation),
          TEST(test_order_with_filters), TEST(test_dirty_set))
