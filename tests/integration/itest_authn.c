/*
 * itest_authn.c: authentication and authorization of the master, tried the way an attacker on
 * the same network would (issue "Trust"): anonymous agent registration, the hijack of a live
 * agent's id, the takeover of another framework's id, read-only endpoints without
 * credentials, and ACL denials. Each attack must fail, and the real clients must keep working.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

/* "Basic base64(principal:secret)" into out. */
static void basic(char *out, size_t len, const char *principal, const char *secret)
{
    char plain[256];
    snprintf(plain, sizeof plain, "%s:%s", principal, secret);
    char *b64 = itest_b64_encode((const uint8_t *)plain, strlen(plain));
    snprintf(out, len, "Basic %s", b64 ? b64 : "");
    free(b64);
}

/* A credentials file (JSON, Mesos's format) with fw1/fw2/agent/ops/guest in dir; flag gets
 * "--credentials=<path>". */
static void make_credentials(const char *dir, char *flag, size_t len)
{
    char path[400];
    snprintf(path, sizeof path, "%s/credentials", dir);
    write_text(path, "{\"credentials\": ["
                     "{\"principal\": \"fw1\", \"secret\": \"secret1\"},"
                     "{\"principal\": \"fw2\", \"secret\": \"secret2\"},"
                     "{\"principal\": \"agent\", \"secret\": \"agentpw\"},"
                     "{\"principal\": \"agent2\", \"secret\": \"agentpw2\"},"
                     "{\"principal\": \"ops\", \"secret\": \"opspw\"},"
                     "{\"principal\": \"guest\", \"secret\": \"guestpw\"}]}");
    snprintf(flag, len, "--credentials=%s", path);
}

/* A REGISTER call of the agent link in JSON (the master accepts JSON there too). */
static char *register_body(const char *agent_id)
{
    json_t *info = json_pack("{s:s, s:[{s:s, s:s, s:{s:f}}]}", "hostname", "intruder", "resources",
                             "name", "cpus", "type", "SCALAR", "scalar", "value", 8.0);
    json_t *call = json_pack("{s:s, s:{s:o}}", "type", "REGISTER", "register", "agent_info", info);
    if (agent_id) {
        json_object_set_new(call, "agent_id", json_pack("{s:s}", "value", agent_id));
        json_object_set_new(info, "id", json_pack("{s:s}", "value", agent_id));
    }
    char *text = json_dumps(call, JSON_COMPACT);
    json_decref(call);
    return text;
}

/* Opens a REGISTER stream with an optional Authorization value; returns the stream (check its
 * status) or NULL. */
static struct itest_stream *agent_register(int port, const char *agent_id, const char *auth)
{
    char *body = register_body(agent_id);
    char h_auth[600];
    snprintf(h_auth, sizeof h_auth, "Authorization: %s", auth ? auth : "");
    const char *headers[] = {"Content-Type: application/json", auth ? h_auth : NULL, NULL};
    struct itest_stream *s =
        itest_stream_open(port, "/master/api/v1/agent", headers, body, strlen(body), 10000);
    free(body);
    return s;
}

/* GET path with an optional Authorization value; returns the status and (on 200) the JSON. */
static int get_as(int port, const char *path, const char *auth, json_t **json, char *body,
                  size_t bodylen)
{
    char h_auth[600];
    snprintf(h_auth, sizeof h_auth, "Authorization: %s", auth ? auth : "");
    const char *headers[] = {auth ? h_auth : NULL, NULL};
    struct itest_http_resp r;
    if (json)
        *json = NULL;
    if (itest_http(port, "GET", path, headers, NULL, 0, &r, 10000) != 0)
        return -1;
    int status = r.status;
    if (body)
        snprintf(body, bodylen, "%s", r.body ? (const char *)r.body : "");
    if (status == 200 && json)
        *json = json_loads((const char *)r.body, 0, NULL);
    if (status == 401 && body) {
        char challenge[128] = "";
        itest_header(r.headers, "WWW-Authenticate", challenge, sizeof challenge);
        snprintf(body, bodylen, "%s", challenge);
    }
    itest_http_resp_cleanup(&r);
    return status;
}

static size_t array_size_of(json_t *o, const char *key)
{
    json_t *a = o ? json_object_get(o, key) : NULL;
    return json_is_array(a) ? json_array_size(a) : 0;
}

/* ---- the agent link ------------------------------------------------------------------------ */

/* --authenticate_agents: an anonymous REGISTER (or one with a wrong secret) is refused with 401
 * and admits nothing; the agent with valid credentials registers; its id is then bound to it
 * (another principal: 403; a second stream while the first is live: 409, the first kept). */
static void test_agent_register_needs_credentials(void)
{
    char dir[256], creds[450];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    make_credentials(dir, creds, sizeof creds);
    const char *flags[] = {"--authenticate_agents", creds, NULL};
    struct itest_cluster c;
    struct itest_cluster_opts o = {.master_flags = flags, .no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);

    struct itest_stream *s = agent_register(c.master_port, NULL, NULL);
    REQUIRE(s);
    CHECK_INT(itest_stream_status(s), 401);
    char challenge[128] = "";
    itest_header(itest_stream_headers(s), "WWW-Authenticate", challenge, sizeof challenge);
    CHECK(strstr(challenge, "Basic realm=") != NULL);
    itest_stream_free(s);

    char bad[300];
    basic(bad, sizeof bad, "agent", "wrong");
    s = agent_register(c.master_port, NULL, bad);
    REQUIRE(s);
    CHECK_INT(itest_stream_status(s), 401);
    itest_stream_free(s);

    json_t *st = itest_get_json(c.master_port, "/master/slaves");
    CHECK_INT(array_size_of(st, "slaves"), 0);
    json_decref(st);

    /* The real agent (valid credentials) is admitted. */
    char good[300];
    basic(good, sizeof good, "agent", "agentpw");
    struct itest_stream *real = agent_register(c.master_port, NULL, good);
    REQUIRE(real);
    CHECK_INT(itest_stream_status(real), 200);
    uint8_t *rec = NULL;
    size_t len = 0;
    CHECK_INT(itest_stream_next(real, 10000, &rec, &len), 0); /* REGISTERED */
    free(rec);
    st = itest_get_json(c.master_port, "/master/slaves");
    REQUIRE(array_size_of(st, "slaves") == 1);
    char id[256];
    snprintf(
        id, sizeof id, "%s",
        json_string_value(json_object_get(json_array_get(json_object_get(st, "slaves"), 0), "id")));
    json_decref(st);

    /* Another principal claims the id: 403. */
    char other[300];
    basic(other, sizeof other, "agent2", "agentpw2");
    s = agent_register(c.master_port, id, other);
    REQUIRE(s);
    CHECK_INT(itest_stream_status(s), 403);
    CHECK(strstr(itest_stream_body(s), "another principal") != NULL);
    itest_stream_free(s);

    /* The same principal from a second connection while the first stream is live: 409. */
    s = agent_register(c.master_port, id, good);
    REQUIRE(s);
    CHECK_INT(itest_stream_status(s), 409);
    itest_stream_free(s);

    /* The real agent's stream is still open and the agent still active. */
    st = itest_get_json(c.master_port, "/master/slaves");
    json_t *a = json_array_get(json_object_get(st, "slaves"), 0);
    CHECK(json_is_true(json_object_get(a, "active")));
    CHECK_STR(json_string_value(json_object_get(a, "hostname")), "intruder");
    json_decref(st);
    char *log = itest_read_file(c.master.log, NULL);
    CHECK(log && strstr(log, "disconnected") == NULL);
    free(log);
    itest_stream_free(real);
    itest_cluster_stop(&c);
}

/* Without agent authentication, a REGISTER carrying a live agent's id (public in /state) from
 * another connection is refused with 409, and the real agent keeps its stream and its tasks'
 * path: Mesos would replace the agent's link; cmesos keeps the live one. */
static void test_agent_id_hijack_keeps_real_agent(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_stream *s = agent_register(c.master_port, c.agent_id, NULL);
    REQUIRE(s);
    CHECK_INT(itest_stream_status(s), 409);
    CHECK(strstr(itest_stream_body(s), "connected on another stream") != NULL);
    itest_stream_free(s);

    json_t *st = itest_get_json(c.master_port, "/master/slaves");
    json_t *a = json_array_get(json_object_get(st, "slaves"), 0);
    CHECK(json_is_true(json_object_get(a, "active")));
    CHECK(json_object_get(a, "hostname") &&
          strcmp(json_string_value(json_object_get(a, "hostname")), "intruder") != 0);
    json_decref(st);

    /* The real agent still runs a framework's task. */
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw);
    struct itest_offers offers;
    REQUIRE(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &offers) == 0);
    struct itest_task t = {.id = "after-hijack", .command = "true", .cpus = 0.1, .mem = 32};
    CHECK_INT(itest_fw_accept(fw, offers.idv, offers.n, offers.agent_id, &t, 1, -1), 202);
    CHECK_INT(itest_fw_wait_state(fw, "after-hijack", MESOS__V1__TASK_STATE__TASK_FINISHED,
                                  ITEST_WAIT_MS, NULL),
              0);
    char *log = itest_read_file(c.master.log, NULL);
    CHECK(log && strstr(log, "re-registered on a new stream") == NULL);
    free(log);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* ---- the scheduler API --------------------------------------------------------------------- */

/* --authenticate_http_frameworks: the owner (fw1) runs a task; an anonymous SUBSCRIBE with its
 * id gets 401, fw2 with its own credentials gets 403 (whether it claims fw1 or itself), an
 * anonymous call on the owner's stream id gets 401; the owner keeps its stream and its task. */
static void test_framework_takeover_refused(void)
{
    char dir[256], creds[450];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    make_credentials(dir, creds, sizeof creds);
    const char *flags[] = {"--authenticate_http_frameworks", creds, NULL};
    struct itest_cluster c;
    struct itest_cluster_opts o = {.master_flags = flags};
    REQUIRE(itest_cluster_start(&c, &o) == 0);

    char auth1[300], auth2[300];
    basic(auth1, sizeof auth1, "fw1", "secret1");
    basic(auth2, sizeof auth2, "fw2", "secret2");

    /* Without credentials nobody subscribes. */
    struct itest_fw *anon = itest_fw_open(c.master_port, ITEST_JSON, NULL);
    REQUIRE(anon);
    CHECK_INT(anon->http_status, 401);
    itest_fw_free(anon);

    /* The owner, with valid credentials, runs a long task. */
    struct itest_fw_opts oo = {.name = "owner", .principal = "fw1", .authorization = auth1};
    struct itest_fw *owner = itest_fw_start(c.master_port, ITEST_PROTOBUF, &oo);
    REQUIRE(owner);
    struct itest_offers offers;
    REQUIRE(itest_fw_wait_offer(owner, 0.1, 32, ITEST_WAIT_MS, &offers) == 0);
    struct itest_task t = {.id = "precious", .command = "sleep 60", .cpus = 0.1, .mem = 32};
    REQUIRE(itest_fw_accept(owner, offers.idv, offers.n, offers.agent_id, &t, 1, -1) == 202);
    REQUIRE(itest_fw_wait_state(owner, "precious", MESOS__V1__TASK_STATE__TASK_RUNNING,
                                ITEST_WAIT_MS, NULL) == 0);

    /* Anonymous SUBSCRIBE with the owner's id. */
    struct itest_fw_opts ao = {
        .name = "intruder", .framework_id = owner->framework_id, .principal = "fw1"};
    struct itest_fw *intruder = itest_fw_open(c.master_port, ITEST_JSON, &ao);
    REQUIRE(intruder);
    CHECK_INT(intruder->http_status, 401);
    itest_fw_free(intruder);

    /* fw2's own credentials, claiming fw1's principal: 403. */
    ao.authorization = auth2;
    intruder = itest_fw_open(c.master_port, ITEST_JSON, &ao);
    REQUIRE(intruder);
    CHECK_INT(intruder->http_status, 403);
    CHECK(strstr(intruder->last_body, "does not match") != NULL);
    itest_fw_free(intruder);

    /* fw2 as itself, with fw1's framework id: 403. */
    ao.principal = "fw2";
    intruder = itest_fw_open(c.master_port, ITEST_JSON, &ao);
    REQUIRE(intruder);
    CHECK_INT(intruder->http_status, 403);
    CHECK(strstr(intruder->last_body, "another principal") != NULL);
    itest_fw_free(intruder);

    /* A call on the owner's stream id without credentials, and one with fw2's: refused. */
    char kill[512];
    snprintf(kill, sizeof kill, "{\"type\":\"TEARDOWN\",\"framework_id\":{\"value\":\"%s\"}}",
             owner->framework_id);
    char h_sid[300], h_auth[400];
    snprintf(h_sid, sizeof h_sid, "Mesos-Stream-Id: %s", owner->stream_id);
    const char *hdr_anon[] = {"Content-Type: application/json", h_sid, NULL};
    struct itest_http_resp r;
    REQUIRE(itest_http(c.master_port, "POST", "/api/v1/scheduler", hdr_anon, kill, strlen(kill), &r,
                       10000) == 0);
    CHECK_INT(r.status, 401);
    itest_http_resp_cleanup(&r);
    snprintf(h_auth, sizeof h_auth, "Authorization: %s", auth2);
    const char *hdr_fw2[] = {"Content-Type: application/json", h_sid, h_auth, NULL};
    REQUIRE(itest_http(c.master_port, "POST", "/api/v1/scheduler", hdr_fw2, kill, strlen(kill), &r,
                       10000) == 0);
    CHECK_INT(r.status, 403);
    itest_http_resp_cleanup(&r);

    /* The owner still has its stream (no ERROR) and its task. */
    CHECK_INT(itest_fw_reconcile(owner, "precious", NULL), 202);
    struct itest_event ev;
    CHECK_INT(itest_fw_wait(owner, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, "precious",
                            ITEST_WAIT_MS, &ev),
              0);
    CHECK_INT(ev.status.state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK(!owner->closed);
    CHECK_INT(itest_fw_kill(owner, "precious", offers.agent_id), 202);
    CHECK_INT(itest_fw_wait_state(owner, "precious", MESOS__V1__TASK_STATE__TASK_KILLED,
                                  ITEST_WAIT_MS, NULL),
              0);
    itest_fw_free(owner);
    itest_cluster_stop(&c);
}

/* Without framework authentication Mesos lets any SUBSCRIBE with a framework's id fail the
 * framework over; cmesos does too, but the id stays bound to the principal in FrameworkInfo:
 * a SUBSCRIBE claiming another principal (or none) for an existing id is refused with 403. */
static void test_unauthenticated_principal_binding(void)
{
    struct itest_cluster c;
    struct itest_cluster_opts o = {.no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    struct itest_fw_opts oo = {.name = "owner", .principal = "fw1"};
    struct itest_fw *owner = itest_fw_start(c.master_port, ITEST_JSON, &oo);
    REQUIRE(owner);
    struct itest_fw_opts ao = {.name = "intruder", .framework_id = owner->framework_id};
    struct itest_fw *intruder = itest_fw_open(c.master_port, ITEST_JSON, &ao);
    REQUIRE(intruder);
    CHECK_INT(intruder->http_status, 403);
    itest_fw_free(intruder);
    CHECK_INT(itest_fw_reconcile(owner, NULL, NULL), 202);
    CHECK(!owner->closed);
    itest_fw_free(owner);
    itest_cluster_stop(&c);
}

/* ---- endpoints and ACLs ---------------------------------------------------------------------- */

/* --authenticate_http_readonly: state endpoints need credentials (401 with the read-only
 * realm); with --acls, view_frameworks filters what guest sees, get_endpoints and view_flags
 * deny guest /metrics/snapshot and /flags with 403 naming the action; /health stays open. */
static void test_readonly_endpoints_and_views(void)
{
    char dir[256], creds[450], acls[1200];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    make_credentials(dir, creds, sizeof creds);
    snprintf(acls, sizeof acls, "%s",
             "--acls={\"view_frameworks\": [{\"principals\": {\"values\": [\"guest\"]}, "
             "\"users\": {\"type\": \"NONE\"}}],"
             "\"get_endpoints\": [{\"principals\": {\"values\": [\"guest\"]}, "
             "\"paths\": {\"values\": [\"/metrics/snapshot\"]}, \"x\": 1}]}");
    /* A typo in the ACLs (unknown field "x") stops the master with a message naming it. */
    const char *bad_flags[] = {"--authenticate_http_readonly", creds, acls, NULL};
    struct itest_cluster c;
    struct itest_cluster_opts o = {.master_flags = bad_flags, .no_agent = 1};
    CHECK(itest_cluster_start(&c, &o) != 0);
    char *log = itest_read_file(c.master.log, NULL);
    CHECK(log && strstr(log, "get_endpoints[0].x") != NULL);
    free(log);
    itest_cluster_stop(&c);

    snprintf(acls, sizeof acls, "%s",
             "--acls={\"view_frameworks\": [{\"principals\": {\"values\": [\"guest\"]}, "
             "\"users\": {\"type\": \"NONE\"}}],"
             "\"get_endpoints\": [{\"principals\": {\"values\": [\"guest\"]}, "
             "\"paths\": {\"type\": \"NONE\"}}],"
             "\"view_flags\": [{\"principals\": {\"values\": [\"guest\"]}, "
             "\"flags\": {\"type\": \"NONE\"}}]}");
    const char *flags[] = {"--authenticate_http_readonly", creds, acls, NULL};
    o.master_flags = flags;
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    int port = c.master_port;
    struct itest_fw *fw = itest_fw_start(port, ITEST_JSON, NULL);
    REQUIRE(fw);

    static const char *const guarded[] = {
        "/master/state",  "/master/state-summary", "/master/frameworks", "/master/tasks",
        "/master/slaves", "/master/flags",         "/metrics/snapshot",  "/master/state.json"};
    char body[1024];
    for (size_t i = 0; i < sizeof guarded / sizeof guarded[0]; i++) {
        int st = get_as(port, guarded[i], NULL, NULL, body, sizeof body);
        if (st != 401)
            fprintf(stderr, "%s answered %d without credentials\n", guarded[i], st);
        CHECK_INT(st, 401);
        CHECK(strstr(body, "mesos-master-readonly") != NULL);
    }
    char wrong[300], ops[300], guest[300];
    basic(wrong, sizeof wrong, "ops", "nope");
    basic(ops, sizeof ops, "ops", "opspw");
    basic(guest, sizeof guest, "guest", "guestpw");
    CHECK_INT(get_as(port, "/master/state", wrong, NULL, NULL, 0), 401);
    CHECK_INT(get_as(port, "/master/health", NULL, NULL, NULL, 0), 200);

    json_t *j = NULL;
    CHECK_INT(get_as(port, "/master/frameworks", ops, &j, NULL, 0), 200);
    CHECK_INT(array_size_of(j, "frameworks"), 1);
    json_decref(j);
    CHECK_INT(get_as(port, "/master/frameworks", guest, &j, NULL, 0), 200);
    CHECK_INT(array_size_of(j, "frameworks"), 0);
    json_decref(j);
    CHECK_INT(get_as(port, "/master/state", guest, &j, NULL, 0), 200);
    CHECK_INT(array_size_of(j, "frameworks"), 0);
    CHECK(j && json_object_get(j, "flags") == NULL);
    json_decref(j);
    CHECK_INT(get_as(port, "/master/state", ops, &j, NULL, 0), 200);
    CHECK_INT(array_size_of(j, "frameworks"), 1);
    CHECK(j && json_object_get(j, "flags") != NULL);
    json_decref(j);

    CHECK_INT(get_as(port, "/metrics/snapshot", guest, NULL, body, sizeof body), 403);
    CHECK(strstr(body, "get_endpoints") != NULL);
    CHECK_INT(get_as(port, "/metrics/snapshot", ops, &j, NULL, 0), 200);
    json_decref(j);
    CHECK_INT(get_as(port, "/master/flags", guest, NULL, body, sizeof body), 403);
    CHECK(strstr(body, "view_flags") != NULL);
    CHECK_INT(get_as(port, "/master/flags", ops, &j, NULL, 0), 200);
    json_decref(j);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* register_frameworks by role: fw2 may not register in role "*": 403 naming the action and the
 * role; fw1 may. Without authentication, the principal is FrameworkInfo's (as in Mesos). */
static void test_acl_register_frameworks(void)
{
    const char *flags[] = {
        "--acls={\"register_frameworks\": ["
        "{\"principals\": {\"values\": [\"fw1\"]}, \"roles\": {\"type\": \"ANY\"}},"
        "{\"principals\": {\"type\": \"ANY\"}, \"roles\": {\"type\": \"NONE\"}}]}",
        NULL};
    struct itest_cluster c;
    struct itest_cluster_opts o = {.master_flags = flags, .no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    struct itest_fw_opts o2 = {.principal = "fw2"};
    struct itest_fw *fw = itest_fw_open(c.master_port, ITEST_JSON, &o2);
    REQUIRE(fw);
    CHECK_INT(fw->http_status, 403);
    CHECK(strstr(fw->last_body, "register_frameworks") != NULL);
    CHECK(strstr(fw->last_body, "'*'") != NULL);
    itest_fw_free(fw);
    fw = itest_fw_open(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw);
    CHECK_INT(fw->http_status, 403);
    itest_fw_free(fw);
    struct itest_fw_opts o1 = {.principal = "fw1"};
    fw = itest_fw_start(c.master_port, ITEST_JSON, &o1);
    CHECK(fw != NULL);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* Bad authentication flags stop the master with a message naming them. */
static void test_bad_flags(void)
{
    char dir[256];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    char bin[512];
    const char *master = itest_bin("mesos-master", bin, sizeof bin);
    struct {
        const char *flag, *flag2, *expect;
    } cases[] = {
        {"--authorizers=ranger", NULL, "only the 'local' authorizer"},
        {"--authenticate_agents", NULL, "needs --credentials"},
        {"--http_authenticators=jwt", NULL, "only 'basic'"},
        {"--credentials=/nonexistent/creds", NULL, "/nonexistent/creds"},
        {"--acls={\"register_framework\": []}", NULL, "register_framework"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char work[300];
        snprintf(work, sizeof work, "--work_dir=%s", dir);
        char *argv[] = {(char *)master, "--ip=127.0.0.1",      "--port=0",
                        work,           (char *)cases[i].flag, NULL};
        int status = 0;
        char *out = NULL;
        CHECK_INT(itest_run(argv, 10000, &status, &out), 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        if (!out || !strstr(out, cases[i].expect))
            fprintf(stderr, "%s: expected '%s' in: %s\n", cases[i].flag, cases[i].expect,
                    out ? out : "(none)");
        CHECK(out && strstr(out, cases[i].expect) != NULL);
        free(out);
    }
}

ITEST_MAIN(TEST(test_agent_register_needs_credentials), TEST(test_agent_id_hijack_keeps_real_agent),
           TEST(test_framework_takeover_refused), TEST(test_unauthenticated_principal_binding),
           TEST(test_readonly_endpoints_and_views), TEST(test_acl_register_frameworks),
           TEST(test_bad_flags))
