/* test_master_auth.c: the master's authentication and authorization decisions without sockets —
 * flags, the scheduler call layer with and without an authenticated principal, the agent-id
 * binding, and the run_tasks ACL — with test sinks and a fake clock (docs/security.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_link.h"
#include "errors.h"
#include "master.h"
#include "pbjson.h"
#include "scheduler_calls.h"
#include "test.h"

/* ---- sinks ---- */

struct capture {
    ProtobufCMessage *msgs[64];
    size_t n;
    int ended;
};

static void cap_cb(void *arg, const ProtobufCMessage *msg)
{
    struct capture *c = arg;
    if (c->n < 64)
        c->msgs[c->n++] = cm_pb_dup(msg);
}

static void cap_end(void *arg)
{
    ((struct capture *)arg)->ended++;
}

static void cap_clear(struct capture *c)
{
    for (size_t i = 0; i < c->n; i++)
        protobuf_c_message_free_unpacked(c->msgs[i], NULL);
    c->n = 0;
}

static struct cm_sink cap_sink(struct capture *c, const char *principal)
{
    struct cm_sink s = {.cb = cap_cb, .end_cb = cap_end, .arg = c, .media = CM_MEDIA_PROTOBUF};
    if (principal)
        snprintf(s.principal, sizeof s.principal, "%s", principal);
    return s;
}

/* ---- fixture ---- */

struct fixture {
    struct cm_master_flags flags;
    struct cm_fake_clock clock;
    struct cm_master *m;
    char creds[64];
    struct capture fw_ev, fw2_ev, ag_ev, ag2_ev;
};

static struct fixture *fixture_new(bool auth_frameworks, bool auth_agents, const char *acls)
{
    struct fixture *f = calloc(1, sizeof *f);
    cm_master_flags_init(&f->flags);
    snprintf(f->creds, sizeof f->creds, "/tmp/test_master_auth.XXXXXX");
    int fd = mkstemp(f->creds);
    const char *text = "fw1 s1\nfw2 s2\nagent a1\nagent2 a2\n";
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    close(fd);
    f->flags.credentials = f->creds;
    f->flags.authenticate_http_frameworks = auth_frameworks;
    f->flags.authenticate_agents = auth_agents;
    f->flags.acls = (char *)acls;
    cm_fake_clock_init(&f->clock, 1000.0);
    f->m = cm_master_new_clock(NULL, &f->flags, &f->clock.clock);
    return f;
}

static void fixture_free(struct fixture *f)
{
    cm_master_free(f->m);
    unlink(f->creds);
    cap_clear(&f->fw_ev);
    cap_clear(&f->fw2_ev);
    cap_clear(&f->ag_ev);
    cap_clear(&f->ag2_ev);
    free(f);
}

static struct cm_sched_result request(struct fixture *f, const char *sid, const char *principal,
                                      const char *body)
{
    struct cm_sched_request req = {.method = "POST",
                                   .content_type = "application/json",
                                   .stream_id = sid,
                                   .body = (const uint8_t *)body,
                                   .body_len = strlen(body),
                                   .principal = principal};
    struct cm_sched_result res;
    cm_master_scheduler_request(f->m, &req, &res);
    return res;
}

/* SUBSCRIBE as principal with FrameworkInfo.principal claimed (NULL: none) and id (NULL: new).
 * Returns the code; on 200 the framework is subscribed on cap and *out set. */
static int subscribe(struct fixture *f, const char *principal, const char *claimed, const char *id,
                     struct capture *cap, const char *sid, struct cm_framework **out)
{
    char body[512], pfield[128] = "", idfield[160] = "";
    if (claimed)
        snprintf(pfield, sizeof pfield, ",\"principal\":\"%s\"", claimed);
    if (id)
        snprintf(idfield, sizeof idfield, ",\"id\":{\"value\":\"%s\"}", id);
    snprintf(body, sizeof body,
             "{\"type\":\"SUBSCRIBE\",%s%s%s\"subscribe\":{\"framework_info\":{\"user\":\"u\","
             "\"name\":\"fw\"%s%s}}}",
             id ? "\"framework_id\":{\"value\":\"" : "", id ? id : "", id ? "\"}," : "", pfield,
             idfield);
    struct cm_sched_result r = request(f, NULL, principal, body);
    if (r.code == 200 && r.call) {
        struct cm_sink s = cap_sink(cap, NULL);
        struct cm_framework *fw = cm_master_subscribe(f->m, r.call, &s, sid);
        if (out)
            *out = fw;
        protobuf_c_message_free_unpacked(&r.call->base, NULL);
    } else if (r.code >= 400) {
        fprintf(stderr, "subscribe: %d %s\n", r.code, r.text);
    }
    return r.code;
}

static int register_agent(struct fixture *f, const char *id, const char *principal,
                          struct capture *cap, struct cm_agent **out, char *why, size_t whylen)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"type\":\"REGISTER\",%s%s%s\"register\":{\"agent_info\":{\"hostname\":\"a1\","
             "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},"
             "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4096}}]}}}",
             id ? "\"agent_id\":{\"value\":\"" : "", id ? id : "", id ? "\"}," : "");
    Cmesos__Internal__AgentCall *call = NULL;
    if (cm_pbjson_from_text(&cmesos__internal__agent_call__descriptor, json, strlen(json),
                            (ProtobufCMessage **)&call, why, whylen) != 0)
        return -1;
    struct cm_sink s = cap_sink(cap, principal);
    int code = cm_master_agent_call(f->m, call, &s, "agent-stream", out, why, whylen);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    return code;
}

/* ---- cases ---- */

static void test_flags(void)
{
    struct {
        const char *argv[4];
        const char *expect; /* NULL: accepted */
    } cases[] = {
        {{"m", "--authenticators=crammd5", NULL}, NULL},
        {{"m", "--authenticators=basic", NULL}, NULL},
        {{"m", "--authenticators=kerberos", NULL}, "kerberos"},
        {{"m", "--authorizers=local", NULL}, NULL},
        {{"m", "--authorizers=ranger", NULL}, "only the 'local' authorizer"},
        {{"m", "--http_authenticators=jwt", NULL}, "only 'basic'"},
        {{"m", "--http_framework_authenticators=jwt", NULL}, "only 'basic'"},
        {{"m", "--authenticate", NULL}, "needs --credentials"},
        {{"m", "--authenticate_agents", NULL}, "needs --credentials"},
        {{"m", "--authenticate_http_readonly", NULL}, "--http_credentials"},
        {{"m", "--authenticate_http_readwrite", "--http_credentials=/x", NULL}, NULL},
        {{"m", "--authenticate_agents", "--credentials=/x", NULL}, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cm_master_flags fl;
        cm_master_flags_init(&fl);
        int argc = 0;
        while (cases[i].argv[argc])
            argc++;
        char why[512] = "";
        int rc = cm_master_flags_parse(&fl, argc, (char **)cases[i].argv, why, sizeof why);
        if (cases[i].expect) {
            CHECK_INT(rc, CM_EINVAL);
            if (!strstr(why, cases[i].expect))
                fprintf(stderr, "%s: '%s' lacks '%s'\n", cases[i].argv[1], why, cases[i].expect);
            CHECK(strstr(why, cases[i].expect) != NULL);
        } else {
            if (rc)
                fprintf(stderr, "%s: %s\n", cases[i].argv[1], why);
            CHECK_INT(rc, 0);
        }
        cm_master_flags_cleanup(&fl);
    }
    /* The alias sets the same flag. */
    struct cm_master_flags fl;
    cm_master_flags_init(&fl);
    char *argv[] = {"m", "--authenticate", "--credentials=/c", NULL};
    char why[256];
    CHECK_INT(cm_master_flags_parse(&fl, 3, argv, why, sizeof why), 0);
    CHECK(fl.authenticate_frameworks);
    cm_master_flags_cleanup(&fl);
}

static void test_bad_files_stop_the_master(void)
{
    struct cm_master_flags fl;
    cm_master_flags_init(&fl);
    struct cm_fake_clock clock;
    cm_fake_clock_init(&clock, 1.0);
    fl.credentials = "/nonexistent/credentials";
    CHECK(cm_master_new_clock(NULL, &fl, &clock.clock) == NULL);
    fl.credentials = NULL;
    fl.acls = "{\"run_tasks\": [{\"principals\": {}}]}";
    CHECK(cm_master_new_clock(NULL, &fl, &clock.clock) == NULL);
    fl.acls = "{\"permissive\": false}";
    struct cm_master *m = cm_master_new_clock(NULL, &fl, &clock.clock);
    CHECK(m && m->acls && !cm_acls_permissive(m->acls));
    cm_master_free(m);
}

static void test_scheduler_authentication(void)
{
    struct fixture *f = fixture_new(true, false, NULL);
    REQUIRE(f->m);
    struct cm_framework *fw = NULL;
    /* No principal: 401; a FrameworkInfo claiming another principal: 403. */
    CHECK_INT(subscribe(f, NULL, "fw1", NULL, &f->fw_ev, "s1", NULL), 401);
    CHECK_INT(subscribe(f, "fw1", "fw2", NULL, &f->fw_ev, "s1", NULL), 403);
    CHECK_INT(subscribe(f, "fw1", NULL, NULL, &f->fw_ev, "s1", NULL), 403);
    CHECK_INT(subscribe(f, "fw1", "fw1", NULL, &f->fw_ev, "s1", &fw), 200);
    REQUIRE(fw);
    char id[128];
    snprintf(id, sizeof id, "%s", fw->id);
    /* fw2, honest about itself, with fw1's id: 403 and fw1 keeps its stream. */
    CHECK_INT(subscribe(f, "fw2", "fw2", id, &f->fw2_ev, "s2", NULL), 403);
    CHECK_INT(f->fw_ev.ended, 0);
    CHECK(fw->connected);
    CHECK_STR(fw->stream_id, "s1");
    /* Calls: fw2's credentials on fw1's stream: 403; none: 401; fw1's: 202. */
    char body[256];
    snprintf(body, sizeof body, "{\"type\":\"TEARDOWN\",\"framework_id\":{\"value\":\"%s\"}}", id);
    CHECK_INT(request(f, "s1", "fw2", body).code, 403);
    CHECK_INT(request(f, "s1", NULL, body).code, 401);
    CHECK(cm_master_framework(f->m, id) != NULL);
    /* fw1 itself may fail over to a new stream. */
    CHECK_INT(subscribe(f, "fw1", "fw1", id, &f->fw2_ev, "s3", &fw), 200);
    CHECK_INT(f->fw_ev.ended, 1);
    CHECK_INT(request(f, "s3", "fw1", body).code, 202);
    CHECK(cm_master_framework(f->m, id) == NULL);
    fixture_free(f);
}

static void test_unauthenticated_binding_and_failover(void)
{
    struct fixture *f = fixture_new(false, false, NULL);
    REQUIRE(f->m);
    struct cm_framework *fw = NULL;
    CHECK_INT(subscribe(f, NULL, "fw1", NULL, &f->fw_ev, "s1", &fw), 200);
    REQUIRE(fw);
    char id[128];
    snprintf(id, sizeof id, "%s", fw->id);
    CHECK_INT(subscribe(f, NULL, NULL, id, &f->fw2_ev, "s2", NULL), 403);
    CHECK_INT(subscribe(f, NULL, "fw2", id, &f->fw2_ev, "s2", NULL), 403);
    CHECK_INT(f->fw_ev.ended, 0);
    /* Mesos's unauthenticated failover: the same claimed principal takes the framework. */
    CHECK_INT(subscribe(f, NULL, "fw1", id, &f->fw2_ev, "s2", NULL), 200);
    CHECK_INT(f->fw_ev.ended, 1);
    fixture_free(f);
}

static void test_agent_binding(void)
{
    struct fixture *f = fixture_new(false, true, NULL);
    REQUIRE(f->m);
    char why[512];
    struct cm_agent *a = NULL;
    CHECK_INT(register_agent(f, NULL, NULL, &f->ag_ev, &a, why, sizeof why), 401);
    CHECK_INT(f->ag_ev.ended, 1);
    f->ag_ev.ended = 0;
    CHECK_INT(register_agent(f, NULL, "agent", &f->ag_ev, &a, why, sizeof why), 200);
    REQUIRE(a);
    CHECK_STR(a->principal, "agent");
    char id[128];
    snprintf(id, sizeof id, "%s", a->id);
    struct cm_agent *b = NULL;
    CHECK_INT(register_agent(f, id, "agent2", &f->ag2_ev, &b, why, sizeof why), 403);
    CHECK(strstr(why, "another principal") != NULL);
    CHECK_INT(register_agent(f, id, "agent", &f->ag2_ev, &b, why, sizeof why), 409);
    CHECK_INT(f->ag_ev.ended, 0);
    CHECK(a->connected);
    /* Once its stream is gone the agent (same principal) re-registers; others still cannot. */
    cm_master_agent_disconnected(f->m, a);
    CHECK_INT(register_agent(f, id, "agent2", &f->ag2_ev, &b, why, sizeof why), 403);
    CHECK_INT(register_agent(f, id, "agent", &f->ag2_ev, &b, why, sizeof why), 200);
    CHECK(b == a && a->connected);
    fixture_free(f);
}

static void test_register_agents_acl(void)
{
    struct fixture *f = fixture_new(false, true,
                                    "{\"register_agents\": [{\"principals\": {\"values\": "
                                    "[\"agent\"]}, \"agents\": {\"type\": \"ANY\"}}, "
                                    "{\"principals\": {\"type\": \"ANY\"}, \"agents\": {\"type\": "
                                    "\"NONE\"}}]}");
    REQUIRE(f->m);
    char why[512];
    struct cm_agent *a = NULL;
    CHECK_INT(register_agent(f, NULL, "agent2", &f->ag_ev, &a, why, sizeof why), 403);
    CHECK(strstr(why, "register_agents") != NULL);
    CHECK_INT(register_agent(f, NULL, "agent", &f->ag2_ev, &a, why, sizeof why), 200);
    fixture_free(f);
}

static void test_run_tasks_acl(void)
{
    struct fixture *f = fixture_new(false, false,
                                    "{\"run_tasks\": [{\"principals\": {\"type\": \"ANY\"}, "
                                    "\"users\": {\"values\": [\"u\"]}}, {\"principals\": "
                                    "{\"type\": \"ANY\"}, \"users\": {\"type\": \"NONE\"}}]}");
    REQUIRE(f->m);
    char why[512];
    struct cm_agent *a = NULL;
    REQUIRE(register_agent(f, NULL, NULL, &f->ag_ev, &a, why, sizeof why) == 200);
    struct cm_framework *fw = NULL;
    REQUIRE(subscribe(f, NULL, "fw1", NULL, &f->fw_ev, "s1", &fw) == 200);
    cm_master_allocate(f->m);
    const char *offer = NULL;
    for (size_t i = 0; i < f->fw_ev.n; i++) {
        Mesos__V1__Scheduler__Event *e = (Mesos__V1__Scheduler__Event *)f->fw_ev.msgs[i];
        if (e->type == MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS && e->offers->n_offers)
            offer = e->offers->offers[0]->id->value;
    }
    REQUIRE(offer);
    char body[2048];
    snprintf(body, sizeof body,
             "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{\"offer_ids\":"
             "[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":"
             "[{\"name\":\"t\",\"task_id\":{\"value\":\"as-root\"},\"agent_id\":{\"value\":\"%s\"},"
             "\"command\":{\"value\":\"true\",\"user\":\"root\"},\"resources\":[{\"name\":"
             "\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]},"
             "{\"name\":\"t\",\"task_id\":{\"value\":\"as-u\"},\"agent_id\":{\"value\":\"%s\"},"
             "\"command\":{\"value\":\"true\"},\"resources\":[{\"name\":"
             "\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]}]}}]}}",
             fw->id, offer, a->id, a->id);
    CHECK_INT(request(f, "s1", NULL, body).code, 202);
    bool denied = false;
    for (size_t i = 0; i < f->fw_ev.n; i++) {
        Mesos__V1__Scheduler__Event *e = (Mesos__V1__Scheduler__Event *)f->fw_ev.msgs[i];
        if (e->type != MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE)
            continue;
        const Mesos__V1__TaskStatus *st = e->update->status;
        CHECK_STR(st->task_id->value, "as-root");
        CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_ERROR);
        CHECK_INT(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_TASK_UNAUTHORIZED);
        CHECK(st->message && strstr(st->message, "run_tasks") != NULL);
        denied = true;
    }
    CHECK(denied);
    CHECK(cm_strmap_get(&fw->tasks, "as-u") != NULL);
    CHECK(cm_strmap_get(&fw->tasks, "as-root") == NULL);
    fixture_free(f);
}

TEST_MAIN(TEST(test_flags), TEST(test_bad_files_stop_the_master),
          TEST(test_scheduler_authentication), TEST(test_unauthenticated_binding_and_failover),
          TEST(test_agent_binding), TEST(test_register_agents_acl), TEST(test_run_tasks_acl))
