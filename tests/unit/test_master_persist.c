/* test_master_persist.c: what the operator sets that must survive a master restart — role
 * weights (UPDATE_WEIGHTS) and each agent's deactivated / drain state — through the registrar's
 * store and recover (in-memory storage handed to a new registrar), and through a whole master
 * restart over a file registry (agents come back deactivated / drained, GET_WEIGHTS answers the
 * stored weights). Fake clock, test sinks, no sockets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "errors.h"
#include "master.h"
#include "operator.h"
#include "pbjson.h"
#include "registrar.h"
#include "test.h"

static void recovered_cb(void *arg, int err, const char *why)
{
    char *out = arg;
    snprintf(out, 600, "%d %s", err, why ? why : "");
}

static void done_cb(void *arg, int err)
{
    *(int *)arg = err;
}

/* A registrar over an in-memory storage holding bytes (a copy), recovered; *sp (if not NULL)
 * gets the storage (owned by the registrar; its mem holds what was last stored). */
static struct cm_registrar *registrar_over(const uint8_t *bytes, size_t len, char *why,
                                           struct cm_registry_storage **sp)
{
    struct cm_registry_storage *s = NULL;
    if (cm_registry_storage_new("in_memory", NULL, &s, why, 600) != 0)
        return NULL;
    if (len) {
        s->mem = malloc(len);
        memcpy(s->mem, bytes, len);
        s->mem_len = len;
    }
    if (sp)
        *sp = s;
    struct cm_registrar *r = cm_registrar_new(s);
    cm_registrar_recover(r, recovered_cb, why);
    return r;
}

static void admit(struct cm_registrar *r, const char *id)
{
    Mesos__V1__AgentInfo info = MESOS__V1__AGENT_INFO__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = (char *)id;
    info.id = &aid;
    info.hostname = "h";
    cm_registrar_admit(r, &info, NULL, NULL);
}

static void test_registrar_store_and_recover(void)
{
    char why[600];
    struct cm_registry_storage *mem = NULL;
    struct cm_registrar *r = registrar_over(NULL, 0, why, &mem);
    REQUIRE(r != NULL);
    CHECK_STR(why, "0 ");
    admit(r, "A1");
    admit(r, "A2");
    admit(r, "A3");
    struct cm_registrar_stats st0, st1;
    cm_registrar_stats(r, &st0);

    const char *roles[] = {"web", "batch"};
    double w[] = {2.5, 0.5};
    int err = -1;
    cm_registrar_update_weights(r, roles, w, 2, done_cb, &err);
    CHECK_INT(err, 0);
    /* The same weights again change nothing: no store. */
    cm_registrar_stats(r, &st1);
    CHECK_INT(st1.version, st0.version + 1);
    err = -1;
    cm_registrar_update_weights(r, roles, w, 2, done_cb, &err);
    CHECK_INT(err, 0);
    cm_registrar_stats(r, &st0);
    CHECK_INT(st0.version, st1.version);
    /* Updating one role keeps the other (Mesos's UpdateWeights). */
    const char *web[] = {"web"};
    double w3[] = {3};
    cm_registrar_update_weights(r, web, w3, 1, NULL, NULL);

    struct cm_reg_agent_state deact = {.deactivated = true};
    struct cm_reg_agent_state drain = {.deactivated = true,
                                       .drain_state = MESOS__V1__DRAIN_STATE__DRAINING,
                                       .has_grace = true,
                                       .grace_ns = 7000000000LL,
                                       .mark_gone = true};
    cm_registrar_set_agent_state(r, "A1", &deact, NULL, NULL);
    cm_registrar_set_agent_state(r, "A2", &drain, NULL, NULL);
    cm_registrar_set_agent_state(r, "A3", &deact, NULL, NULL);
    /* An unknown agent keeps no state. */
    err = -1;
    cm_registrar_set_agent_state(r, "NOPE", &deact, done_cb, &err);
    CHECK_INT(err, 0);
    CHECK(cm_registrar_agent_state(r, "NOPE") == NULL);
    /* A2 becomes unreachable: its state goes with it. A3 is cleared (reactivated). */
    cm_registrar_mark_unreachable(r, "A2", 1500.0, NULL, NULL);
    struct cm_reg_agent_state none = {0};
    cm_registrar_set_agent_state(r, "A3", &none, NULL, NULL);
    CHECK(cm_registrar_agent_state(r, "A3") == NULL);
    CHECK(!cm_registrar_failed(r));

    /* A new registrar over the stored bytes (a restarted master). */
    REQUIRE(mem->mem_len > 0);
    struct cm_registrar *r2 = registrar_over(mem->mem, mem->mem_len, why, NULL);
    cm_registrar_free(r);
    REQUIRE(r2 != NULL);
    CHECK_STR(why, "0 ");
    const struct cm_strmap *ws = cm_registrar_weights(r2);
    CHECK_INT(cm_strmap_count(ws), 2);
    const double *v = cm_strmap_get(ws, "web");
    REQUIRE(v != NULL);
    CHECK(*v == 3);
    v = cm_strmap_get(ws, "batch");
    REQUIRE(v != NULL);
    CHECK(*v == 0.5);
    const struct cm_reg_agent_state *a1 = cm_registrar_agent_state(r2, "A1");
    REQUIRE(a1 != NULL);
    CHECK(a1->deactivated && a1->drain_state == 0 && !a1->has_grace && !a1->mark_gone);
    const struct cm_reg_agent_state *a2 = cm_registrar_agent_state(r2, "A2");
    REQUIRE(a2 != NULL);
    CHECK(cm_registrar_unreachable(r2, "A2", NULL));
    CHECK(a2->deactivated && a2->has_grace && a2->mark_gone);
    CHECK_INT(a2->drain_state, MESOS__V1__DRAIN_STATE__DRAINING);
    CHECK(a2->grace_ns == 7000000000LL);
    CHECK(cm_registrar_agent_state(r2, "A3") == NULL);

    /* Gone, removed and garbage-collected agents drop their state. */
    cm_registrar_mark_gone(r2, "A1", 1600.0, NULL, NULL);
    CHECK(cm_registrar_agent_state(r2, "A1") == NULL);
    size_t pruned = 0;
    cm_registrar_gc(r2, 1e9, 10, 100, &pruned, NULL, NULL);
    CHECK_INT(pruned, 1);
    CHECK(cm_registrar_agent_state(r2, "A2") == NULL);
    cm_registrar_free(r2);
}

/* A stored drain state that is not DRAINING / DRAINED is refused at recovery. */
static void test_registrar_rejects_bad_state(void)
{
    char why[600];
    struct cm_registry_storage *mem = NULL;
    struct cm_registrar *r = registrar_over(NULL, 0, why, &mem);
    REQUIRE(r != NULL);
    admit(r, "A1");
    struct cm_reg_agent_state bad = {.drain_state = 7};
    cm_registrar_set_agent_state(r, "A1", &bad, NULL, NULL);
    REQUIRE(mem->mem_len > 0);
    struct cm_registrar *r2 = registrar_over(mem->mem, mem->mem_len, why, NULL);
    CHECK(cm_registrar_failed(r2));
    CHECK(strncmp(why, "0 ", 2) != 0);
    cm_registrar_free(r2);
    cm_registrar_free(r);
}

TEST_MAIN(TEST(test_registrar_store_and_recover), TEST(test_registrar_rejects_bad_state))
