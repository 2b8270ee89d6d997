/*
 * itest_operator_authn.c: the operator API and the legacy operator endpoints behind
 * --authenticate_http_readwrite and --acls: anonymous calls get 401 with a challenge, a known
 * principal gets in, and an ACL denial is a 403 that names the action and changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

/* "Authorization: Basic base64(principal:secret)" into out. */
static void auth_header(char *out, size_t len, const char *principal, const char *secret)
{
    char plain[256];
    snprintf(plain, sizeof plain, "%s:%s", principal, secret);
    char *b64 = itest_b64_encode((const uint8_t *)plain, strlen(plain));
    snprintf(out, len, "Authorization: Basic %s", b64 ? b64 : "");
    free(b64);
}

/* POSTs a JSON operator call; returns the status (negative on a transport error) and the body
 * in resp (caller cleans up). */
static int op_call(int port, const char *auth, const char *body, struct itest_http_resp *resp)
{
    const char *headers[] = {"Content-Type: application/json", "Accept: application/json", auth,
                             NULL};
    memset(resp, 0, sizeof *resp);
    int rc = itest_http(port, "POST", "/api/v1", headers, body, strlen(body), resp, 10000);
    return rc == 0 ? resp->status : rc;
}

struct secured {
    struct itest_cluster c;
    char dir[256];
};

/* A master that authenticates its read-write endpoints against ops/guest and whose ACLs let
 * only "ops" mark agents gone, set the log level and tear frameworks down. */
static int start_secured(struct secured *s)
{
    memset(s, 0, sizeof *s);
    if (itest_tmpdir(s->dir, sizeof s->dir) != 0)
        return -1;
    char creds[400], acls[400];
    snprintf(creds, sizeof creds, "%s/http_credentials", s->dir);
    write_text(creds, "{\"credentials\": [{\"principal\": \"ops\", \"secret\": \"opspw\"},"
                      "{\"principal\": \"guest\", \"secret\": \"guestpw\"}]}");
    snprintf(acls, sizeof acls, "%s/acls.json", s->dir);
    write_text(acls, "{\"permissive\": true,"
                     " \"mark_agents_gone\": [{\"principals\": {\"values\": [\"ops\"]},"
                     "   \"agents\": {\"type\": \"ANY\"}},"
                     "  {\"principals\": {\"type\": \"ANY\"}, \"agents\": {\"type\": \"NONE\"}}],"
                     " \"set_log_level\": [{\"principals\": {\"values\": [\"guest\"]},"
                     "   \"level\": {\"type\": \"NONE\"}}],"
                     " \"teardown_frameworks\": [{\"principals\": {\"values\": [\"guest\"]},"
                     "   \"framework_principals\": {\"type\": \"NONE\"}}]}");
    static char f_creds[420], f_acls[420];
    snprintf(f_creds, sizeof f_creds, "--http_credentials=%s", creds);
    snprintf(f_acls, sizeof f_acls, "--acls=%s", acls);
    const char *flags[] = {"--authenticate_http_readwrite", f_creds, f_acls, NULL};
    struct itest_cluster_opts o = {.master_flags = flags};
    return itest_cluster_start(&s->c, &o);
}

static void test_operator_api_needs_credentials(void)
{
    struct secured s;
    REQUIRE(start_secured(&s) == 0);
    struct itest_http_resp r;
    CHECK_INT(op_call(s.c.master_port, NULL, "{\"type\": \"GET_HEALTH\"}", &r), 401);
    char challenge[128] = "";
    CHECK(itest_header(r.headers, "WWW-Authenticate", challenge, sizeof challenge));
    CHECK(strstr(challenge, "Basic") != NULL);
    itest_http_resp_cleanup(&r);

    char bad[300], good[300];
    auth_header(bad, sizeof bad, "ops", "wrong");
    CHECK_INT(op_call(s.c.master_port, bad, "{\"type\": \"GET_HEALTH\"}", &r), 401);
    itest_http_resp_cleanup(&r);
    auth_header(good, sizeof good, "guest", "guestpw");
    CHECK_INT(op_call(s.c.master_port, good, "{\"type\": \"GET_HEALTH\"}", &r), 200);
    CHECK(r.body && strstr((const char *)r.body, "\"healthy\"") != NULL);
    itest_http_resp_cleanup(&r);

    /* The legacy read-write endpoints are in the same realm. */
    const char *no_auth[] = {NULL};
    CHECK_INT(itest_http(s.c.master_port, "POST", "/logging/toggle?level=1&duration=1secs", no_auth,
                         "", 0, &r, 10000),
              0);
    CHECK_INT(r.status, 401);
    itest_http_resp_cleanup(&r);
}

static void test_acl_denials_name_the_action(void)
{
    struct secured s;
    REQUIRE(start_secured(&s) == 0);
    char guest[300], ops[300];
    auth_header(guest, sizeof guest, "guest", "guestpw");
    auth_header(ops, sizeof ops, "ops", "opspw");

    char body[512];
    snprintf(body, sizeof body,
             "{\"type\": \"MARK_AGENT_GONE\", \"mark_agent_gone\": {\"agent_id\": {\"value\": "
             "\"%s\"}}}",
             s.c.agent_id);
    struct itest_http_resp r;
    CHECK_INT(op_call(s.c.master_port, guest, body, &r), 403);
    CHECK(r.body && strstr((const char *)r.body, "mark_agents_gone") != NULL);
    itest_http_resp_cleanup(&r);

    /* Nothing changed: the agent is still registered and active. */
    json_t *st = itest_get_json(s.c.master_port, "/master/slaves");
    json_t *a = json_array_get(json_object_get(st, "slaves"), 0);
    CHECK(a && json_is_true(json_object_get(a, "active")));
    json_decref(st);

    CHECK_INT(op_call(s.c.master_port, guest,
                      "{\"type\": \"SET_LOGGING_LEVEL\", \"set_logging_level\": {\"level\": 1, "
                      "\"duration\": {\"nanoseconds\": 1000000000}}}",
                      &r),
              403);
    CHECK(r.body && strstr((const char *)r.body, "set_log_level") != NULL);
    itest_http_resp_cleanup(&r);

    /* The principal the ACL lets in marks the agent gone. */
    CHECK_INT(op_call(s.c.master_port, ops, body, &r), 200);
    itest_http_resp_cleanup(&r);
}

/* The `mesos` CLI against a master that authenticates: refused without a credential (exit 1,
 * the master's 401 in the message), served with --principal/--secret or MESOS_PRINCIPAL. */
static void test_cli_sends_credentials(void)
{
    struct secured s;
    REQUIRE(start_secured(&s) == 0);
    char bin[512], master[80];
    itest_bin("mesos", bin, sizeof bin);
    snprintf(master, sizeof master, "--master=%s", s.c.master_addr);
    int status = -1;
    char *out = NULL;
    char *anon[] = {bin, master, "agent", "list", NULL};
    REQUIRE(itest_run(anon, 20000, &status, &out) == 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    CHECK(out && strstr(out, "401") != NULL);
    free(out);

    out = NULL;
    char *authed[] = {bin, master, "--principal=ops", "--secret=opspw", "agent", "list", NULL};
    REQUIRE(itest_run(authed, 20000, &status, &out) == 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(out && strstr(out, s.c.agent_id) != NULL);
    free(out);

    out = NULL;
    setenv("MESOS_PRINCIPAL", "ops", 1);
    setenv("MESOS_SECRET", "wrong", 1);
    REQUIRE(itest_run(anon, 20000, &status, &out) == 0);
    unsetenv("MESOS_PRINCIPAL");
    unsetenv("MESOS_SECRET");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    free(out);
}

ITEST_MAIN(TEST(test_operator_api_needs_credentials), TEST(test_acl_denials_name_the_action),
           TEST(test_cli_sends_credentials))
