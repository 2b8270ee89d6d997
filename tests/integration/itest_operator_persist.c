/*
 * itest_operator_persist: what the operator set survives a master restart (kill -9, same
 * --work_dir, so the file registry is read back) — weights set with PUT /master/weights and
 * UPDATE_WEIGHTS come back in GET_WEIGHTS and /master/weights, and an agent deactivated with
 * DEACTIVATE_AGENT re-registers deactivated (GET_AGENTS says so).
 */
#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const JSON_HDRS[] = {"Content-Type: application/json",
                                        "Accept: application/json", NULL};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* POSTs a JSON operator call; returns the parsed body (or NULL) and the status. */
static json_t *op_json(int port, const char *body, int *status)
{
    struct itest_http_resp r;
    *status = -1;
    if (itest_http(port, "POST", "/api/v1", JSON_HDRS, body, strlen(body), &r, ITEST_WAIT_MS) != 0)
        return NULL;
    *status = r.status;
    json_t *j = r.body_len ? json_loadb((const char *)r.body, r.body_len, 0, NULL) : NULL;
    if (r.status != 200)
        fprintf(stderr, "operator call %s -> %d %.*s\n", body, r.status, (int)r.body_len,
                (const char *)r.body);
    itest_http_resp_cleanup(&r);
    return j;
}

/* The weight GET_WEIGHTS gives role (0 when absent or on error). */
static double get_weight(int port, const char *role)
{
    int status;
    json_t *j = op_json(port, "{\"type\":\"GET_WEIGHTS\"}", &status);
    double w = 0;
    json_t *arr = json_object_get(json_object_get(j, "get_weights"), "weight_infos");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        const char *r = json_string_value(json_object_get(e, "role"));
        if (r && strcmp(r, role) == 0)
            w = json_number_value(json_object_get(e, "weight"));
    }
    json_decref(j);
    return w;
}

/* 1 when GET_AGENTS lists agent_id with deactivated == want, polling up to ms. */
static int agent_deactivated_is(int port, const char *agent_id, int want, int ms)
{
    for (int waited = 0; waited <= ms; waited += 200) {
        int status;
        json_t *j = op_json(port, "{\"type\":\"GET_AGENTS\"}", &status);
        json_t *agents = json_object_get(json_object_get(j, "get_agents"), "agents");
        int found = 0;
        for (size_t i = 0; i < json_array_size(agents); i++) {
            json_t *a = json_array_get(agents, i);
            const char *id = json_string_value(
                json_object_get(json_object_get(json_object_get(a, "agent_info"), "id"), "value"));
            if (id && strcmp(id, agent_id) == 0 &&
                json_is_true(json_object_get(a, "deactivated")) == (want != 0))
                found = 1;
        }
        json_decref(j);
        if (found)
            return 1;
        sleep_ms(200);
    }
    return 0;
}

static void test_weights_and_deactivation_survive_restart(void)
{
    struct itest_cluster c;
    const char *flags[] = {"--agent_reregister_timeout=20secs", "--weights=other=4", NULL};
    struct itest_cluster_opts o = {.master_flags = flags};
    REQUIRE(itest_cluster_start(&c, &o) == 0);

    /* PUT /master/weights and UPDATE_WEIGHTS, both answered after the registry write. */
    const char *put = "[{\"role\":\"web\",\"weight\":2.5}]";
    struct itest_http_resp r;
    REQUIRE(itest_http(c.master_port, "PUT", "/master/weights", JSON_HDRS, put, strlen(put), &r,
                       ITEST_WAIT_MS) == 0);
    CHECK_INT(r.status, 200);
    itest_http_resp_cleanup(&r);
    int status;
    json_decref(op_json(c.master_port,
                        "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":[{"
                        "\"role\":\"batch\",\"weight\":0.5}]}}",
                        &status));
    CHECK_INT(status, 200);
    CHECK(get_weight(c.master_port, "web") == 2.5);
    char body[600];
    snprintf(
        body, sizeof body,
        "{\"type\":\"DEACTIVATE_AGENT\",\"deactivate_agent\":{\"agent_id\":{\"value\":\"%s\"}}}",
        c.agent_id);
    json_decref(op_json(c.master_port, body, &status));
    CHECK_INT(status, 200);
    CHECK(agent_deactivated_is(c.master_port, c.agent_id, 1, 2000));

    /* kill -9 the master and bring it back on the same port and work dir. */
    CHECK_INT(itest_proc_signal(&c.master, SIGKILL), 0);
    int st = 0;
    CHECK_INT(itest_proc_wait(&c.master, 5000, &st), 0);
    REQUIRE(itest_cluster_restart_master(&c, flags) == 0);

    CHECK(get_weight(c.master_port, "web") == 2.5);
    CHECK(get_weight(c.master_port, "batch") == 0.5);
    CHECK(get_weight(c.master_port, "other") == 4); /* --weights, never updated */
    json_t *w = itest_get_json(c.master_port, "/master/weights");
    CHECK(json_is_array(w) && json_array_size(w) == 3);
    json_decref(w);
    /* The agent re-registers (same id) and is still deactivated. */
    CHECK(agent_deactivated_is(c.master_port, c.agent_id, 1, ITEST_WAIT_MS));
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_weights_and_deactivation_survive_restart))
