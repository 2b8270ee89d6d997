/*
 * itest_webui.c: the master's web UI over HTTP, without a browser (tests/browser/ drives the
 * page itself): the page at / and /master/, the embedded assets with their content types,
 * ETags (304) and security headers, 405 for other methods, /webui/leader, and the forwarding
 * of /webui/agent/... to a registered agent — statistics, a file read and a streamed download
 * that match the agent's own answers, the agent's errors passed through, 400/404 for bad or
 * unknown agent ids, the caller's credentials passed on to an agent that requires them, and
 * 503 once the agent is gone.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static int get(int port, const char *method, const char *path, const char *h1, const char *h2,
               struct itest_http_resp *r)
{
    const char *headers[3] = {h1, h1 ? h2 : NULL, NULL};
    memset(r, 0, sizeof *r);
    if (itest_http(port, method, path, headers, NULL, 0, r, 10000) != 0)
        return -1;
    return r->status;
}

static int status_of(int port, const char *path, const char *auth_header)
{
    struct itest_http_resp r;
    int st = get(port, "GET", path, auth_header, NULL, &r);
    itest_http_resp_cleanup(&r);
    return st;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

static void test_assets(void)
{
    struct itest_cluster c;
    struct itest_cluster_opts o = {.no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    int port = c.master_port;
    struct itest_http_resp r;
    char v[512], etag[128];

    /* The page, at / and under the process prefix. */
    CHECK_INT(get(port, "GET", "/", NULL, NULL, &r), 200);
    CHECK(itest_header(r.headers, "Content-Type", v, sizeof v) && strstr(v, "text/html"));
    CHECK(strstr((const char *)r.body, "/webui/js/app.js") != NULL);
    CHECK(itest_header(r.headers, "Content-Security-Policy", v, sizeof v) &&
          strstr(v, "default-src 'self'"));
    CHECK(itest_header(r.headers, "ETag", etag, sizeof etag) && etag[0] == '"');
    itest_http_resp_cleanup(&r);
    CHECK_INT(status_of(port, "/master/", NULL), 200);

    /* An asset: its type, and 304 for the ETag it was served with. */
    CHECK_INT(get(port, "GET", "/webui/js/app.js", NULL, NULL, &r), 200);
    CHECK(itest_header(r.headers, "Content-Type", v, sizeof v) && strstr(v, "text/javascript"));
    CHECK(itest_header(r.headers, "X-Content-Type-Options", v, sizeof v) &&
          strcmp(v, "nosniff") == 0);
    CHECK(r.body_len > 1000 && strstr((const char *)r.body, "import ") != NULL);
    CHECK(itest_header(r.headers, "ETag", etag, sizeof etag));
    itest_http_resp_cleanup(&r);
    char inm[200];
    snprintf(inm, sizeof inm, "If-None-Match: \"nope\", %s", etag);
    CHECK_INT(get(port, "GET", "/webui/js/app.js", inm, NULL, &r), 304);
    CHECK_INT((int)r.body_len, 0);
    itest_http_resp_cleanup(&r);
    CHECK_INT(get(port, "GET", "/webui/js/app.js", "If-None-Match: \"other\"", NULL, &r), 200);
    itest_http_resp_cleanup(&r);
    CHECK_INT(get(port, "GET", "/webui/vendor/uPlot.esm.js", NULL, NULL, &r), 200);
    CHECK(strstr((const char *)r.body, "uPlot") != NULL);
    itest_http_resp_cleanup(&r);
    CHECK_INT(get(port, "GET", "/webui/style.css", NULL, NULL, &r), 200);
    CHECK(itest_header(r.headers, "Content-Type", v, sizeof v) && strstr(v, "text/css"));
    itest_http_resp_cleanup(&r);
    /* Not assets: the npm files and what does not exist. */
    CHECK_INT(status_of(port, "/webui/package.json", NULL), 404);
    CHECK_INT(status_of(port, "/webui/vendor.sh", NULL), 404);
    CHECK_INT(status_of(port, "/webui/nothing.js", NULL), 404);

    /* Only GET and HEAD. */
    CHECK_INT(get(port, "HEAD", "/", NULL, NULL, &r), 200);
    itest_http_resp_cleanup(&r);
    CHECK_INT(get(port, "DELETE", "/", NULL, NULL, &r), 405);
    CHECK(itest_header(r.headers, "Allow", v, sizeof v) && strstr(v, "GET"));
    itest_http_resp_cleanup(&r);

    /* Who leads. */
    json_t *l = itest_get_json(port, "/webui/leader");
    REQUIRE(l != NULL);
    CHECK(json_is_true(json_object_get(l, "leading")));
    CHECK_STR(json_string_value(json_object_get(l, "leader")), c.master_addr);
    CHECK_STR(json_string_value(json_object_get(l, "self")), c.master_addr);
    json_decref(l);
    itest_cluster_stop(&c);
}

static void test_forward(void)
{
    char dir[256], logdir[300], logflag[320];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(logdir, sizeof logdir, "%s/agentlogs", dir);
    REQUIRE(mkdir(logdir, 0755) == 0);
    snprintf(logflag, sizeof logflag, "--log_dir=%s", logdir);
    const char *aflags[] = {logflag, NULL};
    struct itest_cluster c;
    struct itest_cluster_opts o = {.agent_flags = aflags};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    int port = c.master_port;
    char path[700];
    struct itest_http_resp r, direct;
    char v[256];

    /* Statistics: the agent's JSON array, through the master. */
    snprintf(path, sizeof path, "/webui/agent/monitor/statistics?agent_id=%s", c.agent_id);
    CHECK_INT(get(port, "GET", path, NULL, NULL, &r), 200);
    CHECK(itest_header(r.headers, "Content-Type", v, sizeof v) && strstr(v, "application/json"));
    CHECK(r.body_len >= 2 && r.body[0] == '[');
    itest_http_resp_cleanup(&r);

    /* A file read (the agent's log, attached as /slave/log) equals the agent's own answer. */
    snprintf(path, sizeof path,
             "/webui/agent/files/read?path=/slave/log&offset=0&length=100&agent_id=%s", c.agent_id);
    CHECK_INT(get(port, "GET", path, NULL, NULL, &r), 200);
    CHECK_INT(get(c.agent_port, "GET", "/files/read?path=/slave/log&offset=0&length=100", NULL,
                  NULL, &direct),
              200);
    CHECK(r.body_len > 10 && r.body_len == direct.body_len &&
          memcmp(r.body, direct.body, r.body_len) == 0);
    itest_http_resp_cleanup(&r);
    itest_http_resp_cleanup(&direct);

    /* A streamed download carries the file (the log grows, so compare a prefix). */
    CHECK_INT(get(c.agent_port, "GET", "/files/download?path=/slave/log", NULL, NULL, &direct),
              200);
    snprintf(path, sizeof path, "/webui/agent/files/download?agent_id=%s&path=/slave/log",
             c.agent_id);
    CHECK_INT(get(port, "GET", path, NULL, NULL, &r), 200);
    CHECK(r.body_len >= direct.body_len / 2 && direct.body_len > 0 &&
          memcmp(r.body, direct.body,
                 direct.body_len < r.body_len ? direct.body_len : r.body_len) == 0);
    itest_http_resp_cleanup(&r);
    itest_http_resp_cleanup(&direct);

    /* No JSONP through the forwarding: the callback parameter is dropped. */
    snprintf(path, sizeof path, "/webui/agent/monitor/statistics?jsonp=steal&agent_id=%s",
             c.agent_id);
    CHECK_INT(get(port, "GET", path, NULL, NULL, &r), 200);
    CHECK(itest_header(r.headers, "Content-Type", v, sizeof v) && strstr(v, "application/json"));
    CHECK(r.body_len >= 1 && r.body[0] == '[');
    itest_http_resp_cleanup(&r);
    CHECK_INT(get(c.agent_port, "GET", "/monitor/statistics?jsonp=steal", NULL, NULL, &r), 200);
    CHECK(strncmp((const char *)r.body, "steal(", 6) == 0); /* the agent itself would wrap it */
    itest_http_resp_cleanup(&r);

    /* The agent's own errors pass through: a path under no sandbox, a relative path. */
    snprintf(path, sizeof path, "/webui/agent/files/browse?agent_id=%s&path=/etc", c.agent_id);
    CHECK_INT(status_of(port, path, NULL), 404);
    snprintf(path, sizeof path, "/webui/agent/files/read?agent_id=%s", c.agent_id);
    CHECK_INT(get(port, "GET", path, NULL, NULL, &r), 400);
    CHECK(strstr((const char *)r.body, "path") != NULL);
    itest_http_resp_cleanup(&r);

    /* The master's own checks. */
    CHECK_INT(get(port, "GET", "/webui/agent/files/read?path=/slave/log", NULL, NULL, &r), 400);
    CHECK(strstr((const char *)r.body, "agent_id") != NULL);
    itest_http_resp_cleanup(&r);
    CHECK_INT(status_of(port, "/webui/agent/files/read?agent_id=a/b&path=/slave/log", NULL), 400);
    CHECK_INT(status_of(port, "/webui/agent/files/read?agent_id=127.0.0.1:22&path=/x", NULL), 400);
    CHECK_INT(
        get(port, "GET", "/webui/agent/files/read?agent_id=unknown-S9&path=/x", NULL, NULL, &r),
        404);
    CHECK(strstr((const char *)r.body, "unknown-S9") != NULL);
    itest_http_resp_cleanup(&r);
    CHECK_INT(status_of(port, "/webui/agent/files/browse?agent_id=", NULL), 400);

    /* The agent dies: the master answers 503 once it sees the link close. */
    REQUIRE(itest_proc_signal(&c.agent, SIGKILL) == 0);
    snprintf(path, sizeof path, "/webui/agent/monitor/statistics?agent_id=%s", c.agent_id);
    int st = 0;
    for (int i = 0; i < 100; i++) {
        st = status_of(port, path, NULL);
        if (st == 503)
            break;
        usleep(100 * 1000);
    }
    CHECK_INT(st, 503);
    itest_cluster_stop(&c);
}

static void basic_header(char *out, size_t len, const char *userpass)
{
    char *b64 = itest_b64_encode((const uint8_t *)userpass, strlen(userpass));
    snprintf(out, len, "Authorization: Basic %s", b64 ? b64 : "");
    free(b64);
}

static const char *credentials_file(const char *dir, char *flag, size_t len)
{
    char path[400];
    snprintf(path, sizeof path, "%s/http_credentials", dir);
    write_text(path, "{\"credentials\": [{\"principal\": \"ops\", \"secret\": \"opspw\"}]}");
    chmod(path, 0600);
    snprintf(flag, len, "--http_credentials=%s", path);
    return flag;
}

/* A master with --authenticate_http_readonly: the page needs no credentials (it holds no
 * data), its data do, the forwarding included. */
static void test_master_auth(void)
{
    char dir[256], creds[500], ok[200], bad[200];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    const char *mflags[] = {"--authenticate_http_readonly",
                            credentials_file(dir, creds, sizeof creds), NULL};
    struct itest_cluster c;
    struct itest_cluster_opts o = {.master_flags = mflags, .no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    int port = c.master_port;
    basic_header(ok, sizeof ok, "ops:opspw");
    basic_header(bad, sizeof bad, "ops:nope");
    CHECK_INT(status_of(port, "/", NULL), 200);
    CHECK_INT(status_of(port, "/webui/js/app.js", NULL), 200);
    CHECK_INT(status_of(port, "/webui/leader", NULL), 401);
    CHECK_INT(status_of(port, "/webui/leader", bad), 401);
    CHECK_INT(status_of(port, "/webui/leader", ok), 200);
    struct itest_http_resp r;
    char v[256];
    CHECK_INT(get(port, "GET", "/webui/agent/monitor/statistics?agent_id=x-S0", NULL, NULL, &r),
              401);
    CHECK(itest_header(r.headers, "WWW-Authenticate", v, sizeof v) && strstr(v, "Basic"));
    itest_http_resp_cleanup(&r);
    CHECK_INT(status_of(port, "/webui/agent/monitor/statistics?agent_id=x-S0", ok), 404);
    itest_cluster_stop(&c);
}

/* An agent with --authenticate_http_readonly: the caller's credentials are passed on, so the
 * agent's own check decides (its 401 comes back without them). */
static void test_forward_auth(void)
{
    char dir[256], creds[500], ok[200], path[600];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    const char *aflags[] = {"--authenticate_http_readonly",
                            credentials_file(dir, creds, sizeof creds), NULL};
    struct itest_cluster c;
    struct itest_cluster_opts o = {.agent_flags = aflags};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    int port = c.master_port;
    basic_header(ok, sizeof ok, "ops:opspw");
    snprintf(path, sizeof path, "/webui/agent/monitor/statistics?agent_id=%s", c.agent_id);
    CHECK_INT(status_of(c.agent_port, "/monitor/statistics", NULL), 401);
    struct itest_http_resp r;
    char v[256];
    CHECK_INT(get(port, "GET", path, NULL, NULL, &r), 401);
    CHECK(itest_header(r.headers, "WWW-Authenticate", v, sizeof v) && strstr(v, "Basic"));
    itest_http_resp_cleanup(&r);
    CHECK_INT(status_of(port, path, ok), 200);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_assets), TEST(test_forward), TEST(test_master_auth), TEST(test_forward_auth))
