/*
 * itest_master_files.c: the master's /files endpoints over its own log (--log_dir attaches
 * <log_dir>/mesos-master.INFO as /master/log, as Mesos's master does), the operator API's
 * LIST_FILES/READ_FILE over the same table, confinement (paths outside answer 403/404),
 * --authenticate_http_readonly (401 without credentials) and access_mesos_logs (403), JSONP
 * callback validation, and the absence of CORS headers (Mesos sends none).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

/* GET path with an optional Authorization value and extra header; returns the status (or -1)
 * and fills resp (cleaned by the caller). */
static int get(int port, const char *path, const char *auth, const char *extra,
               struct itest_http_resp *resp)
{
    char h_auth[600];
    snprintf(h_auth, sizeof h_auth, "Authorization: %s", auth ? auth : "");
    const char *headers[3] = {NULL, NULL, NULL};
    int k = 0;
    if (auth)
        headers[k++] = h_auth;
    if (extra)
        headers[k++] = extra;
    memset(resp, 0, sizeof *resp);
    if (itest_http(port, "GET", path, headers, NULL, 0, resp, 10000) != 0)
        return -1;
    return resp->status;
}

static int status_of(int port, const char *path, const char *auth)
{
    struct itest_http_resp r;
    int st = get(port, path, auth, NULL, &r);
    itest_http_resp_cleanup(&r);
    return st;
}

static json_t *operator_call(int port, const char *body, int *status)
{
    const char *headers[] = {"Content-Type: application/json", "Accept: application/json", NULL};
    struct itest_http_resp r = {0};
    *status = -1;
    if (itest_http(port, "POST", "/api/v1", headers, body, strlen(body), &r, 10000) != 0)
        return NULL;
    *status = r.status;
    json_t *j = r.status == 200 ? json_loads((const char *)r.body, 0, NULL) : NULL;
    itest_http_resp_cleanup(&r);
    return j;
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

/* A master with --log_dir serves its log as /master/log through /files and the operator API. */
static void test_master_log(void)
{
    char dir[256], logdir[300], logpath[400], flag[320];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(logdir, sizeof logdir, "%s/logs", dir);
    REQUIRE(mkdir(logdir, 0755) == 0);
    snprintf(logpath, sizeof logpath, "%s/mesos-master.INFO", logdir);
    snprintf(flag, sizeof flag, "--log_dir=%s", logdir);
    const char *flags[] = {flag, NULL};
    struct itest_cluster c;
    struct itest_cluster_opts o = {.master_flags = flags};
    /* With an agent: its registration puts lines in the master's log. */
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    int port = c.master_port;

    size_t disk_len = 0;
    char *disk = itest_read_file(logpath, &disk_len);
    REQUIRE(disk && disk_len > 0);

    /* /files/read: the log's text from offset 0 (a prefix of the file: it may grow). */
    json_t *j = itest_get_json(port, "/files/read?path=/master/log&offset=0");
    REQUIRE(j);
    const char *data = json_string_value(json_object_get(j, "data"));
    REQUIRE(data);
    CHECK(strlen(data) >= disk_len);
    CHECK(strncmp(data, disk, disk_len) == 0);
    CHECK(strstr(data, c.agent_id) != NULL);
    CHECK_INT(json_integer_value(json_object_get(j, "offset")), 0);
    json_decref(j);
    /* offset=-1 answers the size; under /master/ and with ".json" too, with a length. */
    j = itest_get_json(port, "/files/read?path=/master/log&offset=-1");
    CHECK(j && json_integer_value(json_object_get(j, "offset")) >= (json_int_t)disk_len);
    json_decref(j);
    j = itest_get_json(port, "/master/files/read.json?path=/master/log&offset=0&length=5");
    CHECK(j && strncmp(json_string_value(json_object_get(j, "data")), disk, 5) == 0 &&
          strlen(json_string_value(json_object_get(j, "data"))) == 5);
    json_decref(j);

    /* /files/browse of the log: its one entry; /master itself is not attached (404, as in
     * Mesos, where only /master/log is). /files/debug shows the attachment. */
    j = itest_get_json(port, "/files/browse?path=/master/log");
    REQUIRE(j && json_array_size(j) == 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(j, 0), "path")), "/master/log");
    CHECK(json_integer_value(json_object_get(json_array_get(j, 0), "size")) >=
          (json_int_t)disk_len);
    json_decref(j);
    CHECK_INT(status_of(port, "/files/browse?path=/master", NULL), 404);
    j = itest_get_json(port, "/master/files/debug");
    REQUIRE(j);
    CHECK_STR(json_string_value(json_object_get(j, "/master/log")), logpath);
    CHECK_INT(json_object_size(j), 1);
    json_decref(j);

    /* /files/download: the file as an attachment. */
    struct itest_http_resp r;
    CHECK_INT(get(port, "/files/download?path=/master/log", NULL, NULL, &r), 200);
    char hv[300];
    CHECK(itest_header(r.headers, "Content-Disposition", hv, sizeof hv) &&
          strcmp(hv, "attachment; filename=mesos-master.INFO") == 0);
    CHECK(r.body_len >= disk_len && memcmp(r.body, disk, disk_len) == 0);
    itest_http_resp_cleanup(&r);

    /* Outside: "..", a real path (the master attaches none), a missing path parameter. */
    CHECK_INT(status_of(port, "/files/read?path=/master/log/../../etc/passwd&offset=0", NULL), 403);
    CHECK_INT(status_of(port, "/files/read?path=/etc/passwd&offset=0", NULL), 404);
    char p[600];
    snprintf(p, sizeof p, "/files/read?path=%s&offset=0", logpath);
    CHECK_INT(status_of(port, p, NULL), 404);
    CHECK_INT(status_of(port, "/files/download?path=/etc/passwd", NULL), 404);
    CHECK_INT(status_of(port, "/files/browse?path=/", NULL), 404);
    CHECK_INT(status_of(port, "/files/read?offset=0", NULL), 400);
    CHECK_INT(status_of(port, "/files/read?path=/master/log/x&offset=0", NULL), 404);

    /* The operator API reads the same table. */
    int st = 0;
    j = operator_call(port, "{\"type\":\"LIST_FILES\",\"list_files\":{\"path\":\"/master/log\"}}",
                      &st);
    CHECK_INT(st, 200);
    json_t *fi = json_array_get(json_object_get(json_object_get(j, "list_files"), "file_infos"), 0);
    CHECK(fi && strcmp(json_string_value(json_object_get(fi, "path")), "/master/log") == 0);
    json_decref(j);
    j = operator_call(port,
                      "{\"type\":\"READ_FILE\",\"read_file\":{\"path\":\"/master/log\","
                      "\"offset\":0,\"length\":16}}",
                      &st);
    CHECK_INT(st, 200);
    const char *b64 = json_string_value(json_object_get(json_object_get(j, "read_file"), "data"));
    uint8_t raw[64];
    size_t rawlen = 0;
    CHECK(b64 && itest_b64_decode(b64, raw, sizeof raw, &rawlen) == 0 && rawlen == 16 &&
          memcmp(raw, disk, 16) == 0);
    json_decref(j);
    j = operator_call(port,
                      "{\"type\":\"READ_FILE\",\"read_file\":{\"path\":\"/master/log/../../etc/"
                      "passwd\",\"offset\":0}}",
                      &st);
    CHECK_INT(st, 403);
    json_decref(j);
    j = operator_call(port, "{\"type\":\"LIST_FILES\",\"list_files\":{\"path\":\"/etc\"}}", &st);
    CHECK_INT(st, 404);
    json_decref(j);

    /* JSONP: a dotted identifier wraps the body as Mesos does; anything else is refused. */
    CHECK_INT(get(port, "/files/debug?jsonp=my.cb_1", NULL, NULL, &r), 200);
    CHECK(itest_header(r.headers, "Content-Type", hv, sizeof hv) &&
          strcmp(hv, "text/javascript") == 0);
    CHECK(strncmp((const char *)r.body, "my.cb_1({", 9) == 0 && r.body[r.body_len - 1] == ')');
    itest_http_resp_cleanup(&r);
    static const char *const bad_cb[] = {
        "/files/debug?jsonp=%3Cscript%3Ealert(1)%3C/script%3E",
        "/master/state?jsonp=%3Cscript%3E",
        "/files/read?path=/master/log&offset=0&jsonp=alert(1)//",
        "/files/debug?jsonp=1abc",
        "/files/debug?jsonp=a..b",
        "/files/debug?jsonp=a.",
        "/files/debug?jsonp=",
        "/files/debug?jsonp=a%20b",
    };
    for (size_t i = 0; i < sizeof bad_cb / sizeof bad_cb[0]; i++) {
        int s = get(port, bad_cb[i], NULL, NULL, &r);
        if (s != 400)
            fprintf(stderr, "%s answered %d\n", bad_cb[i], s);
        CHECK_INT(s, 400);
        CHECK(strstr((const char *)r.body, "<script>") == NULL);
        itest_http_resp_cleanup(&r);
    }

    /* CORS: Mesos's master and agent send no Access-Control-* header (its web UI reads a
     * leader elsewhere through JSONP instead), so neither does cmesos: a page on another
     * origin cannot read these responses with XMLHttpRequest. */
    CHECK_INT(get(port, "/master/state", NULL, "Origin: http://elsewhere.example", &r), 200);
    CHECK(!itest_header(r.headers, "Access-Control-Allow-Origin", hv, sizeof hv));
    itest_http_resp_cleanup(&r);
    CHECK_INT(get(port, "/files/read?path=/master/log&offset=0", NULL,
                  "Origin: http://elsewhere.example", &r),
              200);
    CHECK(!itest_header(r.headers, "Access-Control-Allow-Origin", hv, sizeof hv));
    itest_http_resp_cleanup(&r);
    CHECK_INT(get(c.agent_port, "/state", NULL, "Origin: http://elsewhere.example", &r), 200);
    CHECK(!itest_header(r.headers, "Access-Control-Allow-Origin", hv, sizeof hv));
    itest_http_resp_cleanup(&r);

    free(disk);
    itest_cluster_stop(&c);
}

/* Without --log_dir the master logs to stderr: nothing is attached. */
static void test_no_log_dir(void)
{
    struct itest_cluster c;
    struct itest_cluster_opts o = {.no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    int port = c.master_port;
    CHECK_INT(status_of(port, "/files/read?path=/master/log&offset=0", NULL), 404);
    CHECK_INT(status_of(port, "/files/browse?path=/master/log", NULL), 404);
    json_t *j = itest_get_json(port, "/files/debug");
    CHECK(j && json_is_object(j) && json_object_size(j) == 0);
    json_decref(j);
    itest_cluster_stop(&c);
}

/* --authenticate_http_readonly: anonymous reads get 401 with the read-only realm; with
 * --acls, access_mesos_logs denies guest the log (403) and get_endpoints the debug map. */
static void test_authn(void)
{
    char dir[256], logdir[300], logflag[320], creds[450], credpath[400];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(logdir, sizeof logdir, "%s/logs", dir);
    REQUIRE(mkdir(logdir, 0755) == 0);
    snprintf(logflag, sizeof logflag, "--log_dir=%s", logdir);
    snprintf(credpath, sizeof credpath, "%s/credentials", dir);
    write_text(credpath, "{\"credentials\": [{\"principal\": \"ops\", \"secret\": \"opspw\"},"
                         "{\"principal\": \"guest\", \"secret\": \"guestpw\"}]}");
    snprintf(creds, sizeof creds, "--credentials=%s", credpath);
    const char *acls_ok = "--acls={\"access_mesos_logs\": [{\"principals\": {\"values\": "
                          "[\"guest\"]}, \"logs\": {\"type\": \"NONE\"}}],"
                          "\"get_endpoints\": [{\"principals\": {\"values\": [\"guest\"]}, "
                          "\"paths\": {\"type\": \"NONE\"}}]}";
    const char *flags[] = {"--authenticate_http_readonly", creds, logflag, acls_ok, NULL};
    struct itest_cluster c;
    struct itest_cluster_opts o = {.master_flags = flags, .no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    int port = c.master_port;
    char ops[300], guest[300], wrong[300];
    basic(ops, sizeof ops, "ops", "opspw");
    basic(guest, sizeof guest, "guest", "guestpw");
    basic(wrong, sizeof wrong, "ops", "nope");

    static const char *const paths[] = {"/files/read?path=/master/log&offset=0",
                                        "/files/read.json?path=/master/log&offset=0",
                                        "/master/files/read?path=/master/log&offset=0",
                                        "/files/browse?path=/master/log",
                                        "/files/download?path=/master/log",
                                        "/files/debug",
                                        "/files/read?path=/etc/passwd"};
    struct itest_http_resp r;
    char hv[300];
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int st = get(port, paths[i], NULL, NULL, &r);
        if (st != 401)
            fprintf(stderr, "%s answered %d without credentials\n", paths[i], st);
        CHECK_INT(st, 401);
        CHECK(itest_header(r.headers, "WWW-Authenticate", hv, sizeof hv) &&
              strstr(hv, "mesos-master-readonly") != NULL);
        itest_http_resp_cleanup(&r);
        CHECK_INT(status_of(port, paths[i], wrong), 401);
    }
    /* ops may read the log (it exists once the master has logged a line). */
    CHECK_INT(status_of(port, "/files/read?path=/master/log&offset=0", ops), 200);
    CHECK_INT(status_of(port, "/files/browse?path=/master/log", ops), 200);
    CHECK_INT(status_of(port, "/files/debug", ops), 200);
    /* guest is authenticated but not authorized: 403 naming the action. */
    CHECK_INT(get(port, "/files/read?path=/master/log&offset=0", guest, NULL, &r), 403);
    CHECK(strstr((const char *)r.body, "access_mesos_logs") != NULL);
    itest_http_resp_cleanup(&r);
    CHECK_INT(status_of(port, "/files/download?path=/master/log", guest), 403);
    CHECK_INT(get(port, "/files/debug", guest, NULL, &r), 403);
    CHECK(strstr((const char *)r.body, "get_endpoints") != NULL);
    itest_http_resp_cleanup(&r);
    /* A path under no attachment needs no log access: it is simply not there. */
    CHECK_INT(status_of(port, "/files/read?path=/etc/passwd&offset=0", guest), 404);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_master_log), TEST(test_no_log_dir), TEST(test_authn))
