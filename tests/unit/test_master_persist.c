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

#include "agent_link.h"
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

/* ---- a whole master restart over a file registry ---- */

struct sinkcap {
    size_t n;
};

static void sink_cb(void *arg, const ProtobufCMessage *msg)
{
    (void)msg;
    ((struct sinkcap *)arg)->n++;
}

static void sink_end(void *arg)
{
    (void)arg;
}

struct fixture {
    struct cm_master_flags flags;
    struct cm_fake_clock clock;
    struct cm_master *m;
    struct cm_operator *op;
    struct sinkcap cap[2];
};

static struct fixture *fixture_new(const char *dir)
{
    struct fixture *f = calloc(1, sizeof *f);
    cm_master_flags_init(&f->flags);
    f->flags.work_dir = (char *)dir;
    f->flags.registry_storage = "file";
    f->flags.weights = "web=2,other=4";
    f->flags.agent_reregister_timeout = 5;
    cm_fake_clock_init(&f->clock, 1000.0);
    f->m = cm_master_new_clock(NULL, &f->flags, &f->clock.clock);
    if (f->m)
        f->op = cm_operator_new(f->m);
    return f;
}

static void fixture_free(struct fixture *f)
{
    cm_master_free(f->m);
    free(f);
}

static struct cm_agent *register_agent(struct fixture *f, int i, const char *id)
{
    char json[2048], idpart[300] = "", infoid[300] = "";
    if (id) {
        snprintf(idpart, sizeof idpart, "\"agent_id\":{\"value\":\"%s\"},", id);
        snprintf(infoid, sizeof infoid, "\"id\":{\"value\":\"%s\"},", id);
    }
    snprintf(json, sizeof json,
             "{\"type\":\"REGISTER\",%s\"register\":{\"agent_info\":{%s\"hostname\":\"a%d\","
             "\"port\":5051,\"resources\":["
             "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}}]},"
             "\"pid\":\"slave(1)@10.0.0.2:5051\",\"address_ip\":\"10.0.0.2\"}}",
             idpart, infoid, i);
    Cmesos__Internal__AgentCall *call = NULL;
    char why[256], sid[32];
    if (cm_pbjson_from_text(&cmesos__internal__agent_call__descriptor, json, strlen(json),
                            (ProtobufCMessage **)&call, why, sizeof why) != 0) {
        fprintf(stderr, "agent call JSON: %s\n", why);
        return NULL;
    }
    snprintf(sid, sizeof sid, "agent-stream-%d", i);
    struct cm_sink s = {.cb = sink_cb, .end_cb = sink_end, .arg = &f->cap[i]};
    s.media = CM_MEDIA_PROTOBUF;
    struct cm_agent *a = NULL;
    int code = cm_master_agent_call(f->m, call, &s, sid, &a, why, sizeof why);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    if (code != 200)
        fprintf(stderr, "register failed %d: %s\n", code, why);
    return code == 200 ? a : NULL;
}

/* An operator call in JSON; returns the status and (for 200 with a body) the decoded JSON. */
static int op_call(struct fixture *f, const char *body, json_t **out)
{
    struct cm_operator_request req = {.method = "POST",
                                      .content_type = "application/json",
                                      .accept = "application/json",
                                      .body = (const uint8_t *)body,
                                      .body_len = strlen(body)};
    struct cm_operator_result res;
    cm_operator_request(f->op, &req, &res);
    if (out)
        *out = res.code == 200 && res.body
                   ? json_loadb((const char *)res.body, res.body_len, 0, NULL)
                   : NULL;
    if (res.code != 200)
        fprintf(stderr, "(%s -> %d %s)\n", body, res.code, res.text);
    cm_operator_result_cleanup(&res);
    return res.code;
}

/* The weight GET_WEIGHTS reports for role (0 when absent). */
static double weight_of(json_t *j, const char *role)
{
    json_t *arr = json_object_get(json_object_get(j, "get_weights"), "weight_infos");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *w = json_array_get(arr, i);
        if (strcmp(json_string_value(json_object_get(w, "role")), role) == 0)
            return json_number_value(json_object_get(w, "weight"));
    }
    return 0;
}

static void test_master_restart_keeps_weights_and_agent_state(void)
{
    char tmpl[] = "/tmp/cm_test_persist_XXXXXX";
    char *dir = mkdtemp(tmpl);
    REQUIRE(dir != NULL);
    struct fixture *f = fixture_new(dir);
    REQUIRE(f->m && f->op);
    struct cm_agent *a0 = register_agent(f, 0, NULL), *a1 = register_agent(f, 1, NULL);
    REQUIRE(a0 && a1);
    char id0[128], id1[128], why[256], body[512];
    snprintf(id0, sizeof id0, "%s", a0->id);
    snprintf(id1, sizeof id1, "%s", a1->id);
    CHECK_INT(op_call(f,
                      "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":["
                      "{\"role\":\"web\",\"weight\":3.5},{\"role\":\"batch\",\"weight\":0.25}]}}",
                      NULL),
              200);
    /* Stored before the master acted: the registry has them when the call returns. */
    const double *sw = cm_strmap_get(cm_registrar_weights(f->m->registrar), "web");
    REQUIRE(sw != NULL);
    CHECK(*sw == 3.5);
    CHECK_INT(cm_master_deactivate_agent(f->m, id0, why, sizeof why), 200);
    CHECK_INT(cm_master_drain_agent(f->m, id1, true, 5000000000LL, false, why, sizeof why), 200);
    /* No tasks: drained at once, and the registry says so. */
    const struct cm_reg_agent_state *st = cm_registrar_agent_state(f->m->registrar, id1);
    REQUIRE(st != NULL);
    CHECK_INT(st->drain_state, MESOS__V1__DRAIN_STATE__DRAINED);
    fixture_free(f);

    /* Restart: the weights are back before any agent returns; agents come back as they were. */
    f = fixture_new(dir);
    REQUIRE(f->m && f->op);
    json_t *j = NULL;
    CHECK_INT(op_call(f, "{\"type\":\"GET_WEIGHTS\"}", &j), 200);
    REQUIRE(j != NULL);
    CHECK(weight_of(j, "web") == 3.5);    /* stored, over --weights web=2 */
    CHECK(weight_of(j, "batch") == 0.25); /* stored */
    CHECK(weight_of(j, "other") == 4);    /* --weights, never updated */
    json_decref(j);
    a0 = register_agent(f, 0, id0);
    a1 = register_agent(f, 1, id1);
    REQUIRE(a0 && a1);
    CHECK(a0->deactivated);
    CHECK_INT(a0->drain_state, 0);
    CHECK(a1->deactivated);
    CHECK_INT(a1->drain_state, MESOS__V1__DRAIN_STATE__DRAINED);
    CHECK(a1->drain_has_grace && a1->drain_grace_ns == 5000000000LL);
    snprintf(body, sizeof body, "{\"type\":\"GET_AGENTS\"}");
    CHECK_INT(op_call(f, body, &j), 200);
    REQUIRE(j != NULL);
    json_t *agents = json_object_get(json_object_get(j, "get_agents"), "agents");
    CHECK_INT(json_array_size(agents), 2);
    for (size_t i = 0; i < json_array_size(agents); i++)
        CHECK(json_is_true(json_object_get(json_array_get(agents, i), "deactivated")));
    json_decref(j);
    /* Reactivation is stored too: a third start sees agent 0 active. */
    CHECK_INT(cm_master_reactivate_agent(f->m, id0, why, sizeof why), 200);
    CHECK(cm_registrar_agent_state(f->m->registrar, id0) == NULL);
    fixture_free(f);
    f = fixture_new(dir);
    REQUIRE(f->m);
    a0 = register_agent(f, 0, id0);
    REQUIRE(a0 != NULL);
    CHECK(!a0->deactivated);
    fixture_free(f);
    char path[600];
    snprintf(path, sizeof path, "%s/registry", dir);
    unlink(path);
    rmdir(dir);
}

/* A storage whose stores fail (a full disk, a lost ZooKeeper race). */
static void failing_fetch(struct cm_registry_storage *s, cm_registry_fetch_cb cb, void *arg)
{
    (void)s;
    cb(arg, 0, NULL, 0, NULL);
}

static void failing_store(struct cm_registry_storage *s, const uint8_t *data, size_t len,
                          cm_registrar_done_cb cb, void *arg)
{
    (void)s;
    (void)data;
    (void)len;
    cb(arg, -28 /* ENOSPC */);
}

static void failing_destroy(struct cm_registry_storage *s)
{
    free(s);
}

static const struct cm_registry_storage_ops failing_ops = {
    .name = "failing", .fetch = failing_fetch, .store = failing_store, .destroy = failing_destroy};

static void test_weights_not_applied_when_store_fails(void)
{
    char tmpl[] = "/tmp/cm_test_persist_XXXXXX";
    char *dir = mkdtemp(tmpl);
    REQUIRE(dir != NULL);
    struct fixture *f = fixture_new(dir);
    REQUIRE(f->m && f->op);
    struct cm_registry_storage *s = calloc(1, sizeof *s);
    s->ops = &failing_ops;
    cm_registrar_free(f->m->registrar);
    f->m->registrar = cm_registrar_new(s);
    char why[600];
    cm_registrar_recover(f->m->registrar, recovered_cb, why);
    CHECK_STR(why, "0 ");
    CHECK_INT(op_call(f,
                      "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":["
                      "{\"role\":\"web\",\"weight\":9}]}}",
                      NULL),
              503);
    CHECK(f->m->registrar_failed);
    json_t *j = NULL;
    CHECK_INT(op_call(f, "{\"type\":\"GET_WEIGHTS\"}", &j), 200);
    CHECK(weight_of(j, "web") == 2); /* still --weights */
    json_decref(j);
    fixture_free(f);
    char path[600];
    snprintf(path, sizeof path, "%s/registry", dir);
    unlink(path);
    rmdir(dir);
}

TEST_MAIN(TEST(test_registrar_store_and_recover), TEST(test_registrar_rejects_bad_state),
          TEST(test_master_restart_keeps_weights_and_agent_state),
          TEST(test_weights_not_applied_when_store_fails))
