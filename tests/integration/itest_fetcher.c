/*
 * itest_fetcher: CommandInfo.uris fetched by a real agent before the executor starts — from
 * an HTTP server inside this test (a libevent loop on a thread), from file:// and plain
 * paths, relative paths via --frameworks_home; tar.gz/tar.bz2/tar.xz/zip/gz extracted,
 * executable and output_file honoured, redirects followed; a cached URI downloaded once for two
 * tasks; failed fetches (404, bad scheme, bad output_file, stalled download, total timeout)
 * fail the task with REASON_CONTAINER_LAUNCH_FAILED and "Failed to fetch '<uri>': ..."; a KILL
 * during a fetch ends in TASK_KILLED.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "http_server.h"

/* ---- the HTTP server on its own thread ----------------------------------------------------- */

#define MAX_SLOW 8

struct web {
    char dir[300];
    struct event_base *base;
    struct cm_http_server *srv;
    struct event *tick;
    uint16_t port;
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t mu;
    int hits_cached, hits_hello, hits_slow, hits_stall;
    struct cm_http_stream *slow[MAX_SLOW]; /* streams that get one byte per tick */
};

static struct web web;

static void slow_closed(struct cm_http_stream *st, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&web.mu);
    for (int i = 0; i < MAX_SLOW; i++)
        if (web.slow[i] == st)
            web.slow[i] = NULL;
    pthread_mutex_unlock(&web.mu);
}

static void stall_closed(struct cm_http_stream *st, void *arg)
{
    (void)st;
    (void)arg;
}

static void serve(struct cm_http_request *req, void *arg)
{
    (void)arg;
    const char *name = req->path + 1;
    pthread_mutex_lock(&web.mu);
    if (strcmp(name, "cached.txt") == 0)
        web.hits_cached++;
    if (strcmp(name, "hello.txt") == 0)
        web.hits_hello++;
    if (strcmp(name, "slow.bin") == 0)
        web.hits_slow++;
    if (strcmp(name, "stall.bin") == 0)
        web.hits_stall++;
    pthread_mutex_unlock(&web.mu);
    if (strcmp(name, "redirect") == 0) {
        cm_http_add_header(req, "Location", "/hello.txt");
        cm_http_respond(req, 302, NULL, NULL, 0);
        return;
    }
    if (strcmp(name, "slow.bin") == 0) {
        struct cm_http_stream *st =
            cm_http_stream_start(req, 200, "application/octet-stream", slow_closed, NULL);
        pthread_mutex_lock(&web.mu);
        for (int i = 0; i < MAX_SLOW; i++)
            if (!web.slow[i]) {
                web.slow[i] = st;
                break;
            }
        pthread_mutex_unlock(&web.mu);
        return;
    }
    if (strcmp(name, "stall.bin") == 0) {
        /* One chunk, then silence until the client gives up. */
        struct cm_http_stream *st =
            cm_http_stream_start(req, 200, "application/octet-stream", stall_closed, NULL);
        cm_http_stream_send(st, "x", 1);
        return;
    }
    if (strstr(name, "..") || strchr(name, '/')) {
        cm_http_respond_text(req, 400, "bad path");
        return;
    }
    char path[700];
    snprintf(path, sizeof path, "%s/%s", web.dir, name);
    size_t len = 0;
    char *data = itest_read_file(path, &len);
    if (!data) {
        cm_http_respond_text(req, 404, "not found: %s", name);
        return;
    }
    cm_http_respond(req, 200, "application/octet-stream", data, len);
    free(data);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (atomic_load(&web.stop)) {
        event_base_loopbreak(web.base);
        return;
    }
    for (int i = 0; i < MAX_SLOW; i++)
        if (web.slow[i])
            cm_http_stream_send(web.slow[i], "y", 1);
}

static void *web_main(void *arg)
{
    (void)arg;
    event_base_dispatch(web.base);
    return NULL;
}

static int web_start(const char *dir)
{
    memset(&web, 0, sizeof web);
    pthread_mutex_init(&web.mu, NULL);
    snprintf(web.dir, sizeof web.dir, "%s", dir);
    web.base = event_base_new();
    web.srv = cm_http_server_new(web.base, NULL, 1 << 20);
    if (!web.base || !web.srv)
        return -1;
    cm_http_server_fallback(web.srv, serve, NULL);
    if (cm_http_server_bind(web.srv, "127.0.0.1", 0, &web.port) != 0)
        return -1;
    web.tick = event_new(web.base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = {0, 300 * 1000};
    event_add(web.tick, &tv);
    return pthread_create(&web.thread, NULL, web_main, NULL);
}

static void web_stop(void)
{
    atomic_store(&web.stop, 1);
    pthread_join(web.thread, NULL);
    cm_http_server_free(web.srv);
    event_free(web.tick);
    event_base_free(web.base);
}

static int hits(int *counter)
{
    pthread_mutex_lock(&web.mu);
    int n = *counter;
    pthread_mutex_unlock(&web.mu);
    return n;
}

/* ---- launching tasks with URIs ------------------------------------------------------------- */

struct uri {
    const char *value;
    int extract;    /* -1 = unset */
    int executable; /* 0/1 */
    int cache;
    const char *output_file;
};

/* Launches one task (0.1 cpus, 32 MB) with uris on the offers of the agent. */
static int launch(struct itest_fw *fw, const char *task_id, const char *command,
                  const struct uri *uris, size_t n)
{
    struct itest_offers off;
    int rc = itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off);
    if (rc)
        return rc;
    json_t *ju = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *u = json_pack("{s:s}", "value", uris[i].value);
        if (uris[i].extract >= 0)
            json_object_set_new(u, "extract", json_boolean(uris[i].extract));
        if (uris[i].executable)
            json_object_set_new(u, "executable", json_true());
        if (uris[i].cache)
            json_object_set_new(u, "cache", json_true());
        if (uris[i].output_file)
            json_object_set_new(u, "output_file", json_string(uris[i].output_file));
        json_array_append_new(ju, u);
    }
    json_t *task = json_pack(
        "{s:s, s:{s:s}, s:{s:s}, s:[o,o], s:{s:s, s:b, s:o}}", "name", task_id, "task_id", "value",
        task_id, "agent_id", "value", off.agent_id, "resources", itest_json_scalar("cpus", 0.1),
        itest_json_scalar("mem", 32), "command", "value", command, "shell", 1, "uris", ju);
    json_t *ids = json_array();
    for (size_t i = 0; i < off.n; i++)
        json_array_append_new(ids, json_pack("{s:s}", "value", off.ids[i]));
    json_t *call =
        json_pack("{s:{s:s}, s:s, s:{s:o, s:[{s:s, s:{s:[o]}}], s:{s:f}}}", "framework_id", "value",
                  fw->framework_id, "type", "ACCEPT", "accept", "offer_ids", ids, "operations",
                  "type", "LAUNCH", "launch", "task_infos", task, "filters", "refuse_seconds", 0.0);
    char *text = json_dumps(call, JSON_COMPACT);
    json_decref(call);
    rc = itest_fw_post(fw, text, strlen(text), 1);
    free(text);
    if (rc != 202) {
        fprintf(stderr, "ACCEPT answered %d: %s\n", rc, fw->last_body);
        return -EPROTO;
    }
    return 0;
}

/* Prints the sandbox's stderr (fetcher progress) of a task, for diagnosis. */
static void dump_sandbox(const struct itest_cluster *c, const char *fid, const char *task_id)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cat %s/slaves/*/frameworks/%s/executors/%s/runs/latest/stderr 2>&1 | tail -40",
             c->agent_work, fid, task_id);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    int status = 0;
    char *out = NULL;
    if (itest_run(argv, 5000, &status, &out) == 0 && out)
        fprintf(stderr, "--- sandbox stderr of %s ---\n%s\n", task_id, out);
    free(out);
}

static int sh(const char *cmd)
{
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    int status = 0;
    char *out = NULL;
    int rc = itest_run(argv, 20000, &status, &out);
    if (rc || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "command failed: %s\n%s\n", cmd, out ? out : "");
        free(out);
        return -1;
    }
    free(out);
    return 0;
}

static int have(const char *tool)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    int status = 0;
    char *out = NULL;
    int rc = itest_run(argv, 5000, &status, &out);
    free(out);
    return rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static char www[300], fwhome[300];
static int with_zip;

/* Files the server and the file:// URIs hand out. */
static void make_content(void)
{
    char dir[256];
    if (itest_tmpdir(dir, sizeof dir) != 0)
        abort();
    snprintf(www, sizeof www, "%s/www", dir);
    snprintf(fwhome, sizeof fwhome, "%s/fwhome", dir);
    with_zip = have("zip") && have("unzip");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "set -e; mkdir -p %s %s; cd %s; "
             "printf hello > hello.txt; printf cached-content > cached.txt; "
             "printf '#!/bin/sh\\necho tool-ran\\n' > script.sh; "
             "mkdir -p src/tgz src/tbz src/txz src/zipd; "
             "echo a > src/tgz/a.txt; echo b > src/tbz/b.txt; echo c > src/txz/c.txt; "
             "echo d > src/zipd/d.txt; "
             "(cd src && tar -czf ../app.tar.gz tgz && tar -cjf ../app.tar.bz2 tbz && "
             "tar -cJf ../app.tar.xz txz); "
             "%s"
             "printf gzdata | gzip -c > data.gz; "
             "printf relative > %s/rel.txt",
             www, fwhome, www, with_zip ? "(cd src && zip -qr ../app.zip zipd); " : "", fwhome);
    if (sh(cmd) != 0)
        abort();
}

static struct itest_cluster cluster;
static struct itest_fw *fw;

static void start_all(void)
{
    make_content();
    REQUIRE(web_start(www) == 0);
    /* Agent flags through the environment (the harness's agent command line is fixed). */
    setenv("MESOS_FRAMEWORKS_HOME", fwhome, 1);
    setenv("MESOS_FETCHER_STALL_TIMEOUT", "2secs", 1);
    setenv("MESOS_FETCHER_TIMEOUT", "6secs", 1);
    int rc = itest_cluster_start(&cluster, NULL);
    unsetenv("MESOS_FRAMEWORKS_HOME");
    unsetenv("MESOS_FETCHER_STALL_TIMEOUT");
    unsetenv("MESOS_FETCHER_TIMEOUT");
    REQUIRE(rc == 0);
    fw = itest_fw_start(cluster.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
}

static void stop_all(void)
{
    itest_fw_free(fw);
    itest_cluster_stop(&cluster);
    web_stop();
}

static int run_to(const char *task_id, int state, struct itest_status *st)
{
    int rc = itest_fw_wait_state(fw, task_id, state, ITEST_WAIT_MS, st);
    if (rc)
        dump_sandbox(&cluster, fw->framework_id, task_id);
    return rc;
}

static void test_fetch_all_kinds(void)
{
    char u_hello[128], u_tgz[128], u_zip[128], u_gz[128], u_tool[128], u_redir[128];
    char u_tbz[400], u_txz[400];
    snprintf(u_hello, sizeof u_hello, "http://127.0.0.1:%u/hello.txt", web.port);
    snprintf(u_tgz, sizeof u_tgz, "http://127.0.0.1:%u/app.tar.gz", web.port);
    snprintf(u_zip, sizeof u_zip, "http://127.0.0.1:%u/app.zip", web.port);
    snprintf(u_gz, sizeof u_gz, "http://127.0.0.1:%u/data.gz", web.port);
    snprintf(u_tool, sizeof u_tool, "http://127.0.0.1:%u/script.sh", web.port);
    snprintf(u_redir, sizeof u_redir, "http://127.0.0.1:%u/redirect", web.port);
    snprintf(u_tbz, sizeof u_tbz, "file://%s/app.tar.bz2", www);
    snprintf(u_txz, sizeof u_txz, "%s/app.tar.xz", www);
    struct uri uris[] = {
        {u_hello, -1, 0, 0, NULL},
        {u_tgz, 1, 0, 0, NULL},
        {u_tbz, -1, 0, 0, NULL},
        {u_txz, 1, 0, 0, NULL},
        {u_gz, 1, 0, 0, NULL},
        {u_tool, 0, 1, 0, "bin/tool"},
        {u_redir, -1, 0, 0, "redirected.txt"},
        {"rel.txt", -1, 0, 0, NULL},
        {u_zip, 1, 0, 0, NULL}, /* last: left out without zip */
    };
    size_t n = sizeof uris / sizeof uris[0] - (with_zip ? 0 : 1);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "set -e; test \"$(cat hello.txt)\" = hello; test -f tgz/a.txt; test -f tbz/b.txt; "
             "test -f txz/c.txt; test \"$(cat data)\" = gzdata; test -x bin/tool; "
             "test \"$(./bin/tool)\" = tool-ran; test \"$(cat redirected.txt)\" = hello; "
             "test \"$(cat rel.txt)\" = relative; %s echo all-fetched",
             with_zip ? "test -f zipd/d.txt;" : "");
    REQUIRE(launch(fw, "kinds", cmd, uris, n) == 0);
    struct itest_status st;
    CHECK_INT(run_to("kinds", MESOS__V1__TASK_STATE__TASK_FINISHED, &st), 0);
    if (!with_zip)
        fprintf(stderr, "note: zip/unzip not installed; the zip case was skipped\n");
}

static void test_cache_hit(void)
{
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%u/cached.txt", web.port);
    struct uri uris[] = {{u, -1, 0, 1, NULL}};
    const char *cmd = "test \"$(cat cached.txt)\" = cached-content";
    REQUIRE(launch(fw, "cache1", cmd, uris, 1) == 0);
    CHECK_INT(run_to("cache1", MESOS__V1__TASK_STATE__TASK_FINISHED, NULL), 0);
    REQUIRE(launch(fw, "cache2", cmd, uris, 1) == 0);
    CHECK_INT(run_to("cache2", MESOS__V1__TASK_STATE__TASK_FINISHED, NULL), 0);
    /* The second task was served from the agent's cache, not the server. */
    CHECK_INT(hits(&web.hits_cached), 1);
    json_t *m = itest_get_json(cluster.agent_port, "/metrics/snapshot");
    REQUIRE(m != NULL);
    CHECK(json_number_value(json_object_get(m, "containerizer/fetcher/cache_size_used_bytes")) ==
          strlen("cached-content"));
    CHECK(json_number_value(json_object_get(m, "containerizer/fetcher/cache_size_total_bytes")) ==
          2.0 * 1024 * 1024 * 1024);
    CHECK(json_number_value(json_object_get(m, "containerizer/fetcher/task_fetches_succeeded")) >=
          3);
    json_decref(m);
}

static void expect_fetch_failure(const char *task_id, const struct uri *u, const char *part)
{
    REQUIRE(launch(fw, task_id, "echo should-not-run", u, 1) == 0);
    struct itest_status st;
    memset(&st, 0, sizeof st);
    CHECK_INT(
        itest_fw_wait_state(fw, task_id, MESOS__V1__TASK_STATE__TASK_FAILED, ITEST_WAIT_MS, &st),
        0);
    CHECK(st.has_reason);
    CHECK_STR(itest_reason_name(st.reason), "REASON_CONTAINER_LAUNCH_FAILED");
    char prefix[600];
    snprintf(prefix, sizeof prefix, "Failed to fetch '%s': ", u->value);
    if (strncmp(st.message, prefix, strlen(prefix)) != 0 || !strstr(st.message, part))
        fprintf(stderr, "message '%s' lacks '%s' / '%s'\n", st.message, prefix, part);
    CHECK(strncmp(st.message, prefix, strlen(prefix)) == 0);
    CHECK(strstr(st.message, part) != NULL);
}

static void test_failures(void)
{
    char u404[128], ustall[128], uslow[128];
    snprintf(u404, sizeof u404, "http://127.0.0.1:%u/missing.txt", web.port);
    snprintf(ustall, sizeof ustall, "http://127.0.0.1:%u/stall.bin", web.port);
    snprintf(uslow, sizeof uslow, "http://127.0.0.1:%u/slow.bin", web.port);
    struct uri a = {u404, -1, 0, 0, NULL};
    expect_fetch_failure("f404", &a, "404");
    struct uri b = {"ftp://example.com/x", -1, 0, 0, NULL};
    expect_fetch_failure("fscheme", &b, "Unsupported URI scheme 'ftp'");
    struct uri c = {u404, -1, 0, 0, "../escape"};
    expect_fetch_failure("fout", &c, "'..'");
    struct uri d = {"/nonexistent/file.txt", -1, 0, 0, NULL};
    expect_fetch_failure("flocal", &d, "No such file");
    /* Stalled: one byte then nothing; fails after --fetcher_stall_timeout (2 s). */
    struct uri e = {ustall, -1, 0, 0, NULL};
    expect_fetch_failure("fstall", &e, "stalled");
    /* Trickling forever never stalls, but the total timeout (6 s) ends it. */
    struct uri f = {uslow, -1, 0, 0, NULL};
    expect_fetch_failure("fslow", &f, "Timed out after 6secs");
    json_t *m = itest_get_json(cluster.agent_port, "/metrics/snapshot");
    REQUIRE(m != NULL);
    CHECK(json_number_value(json_object_get(m, "containerizer/fetcher/task_fetches_failed")) >= 6);
    json_decref(m);
}

static void test_kill_during_fetch(void)
{
    char uslow[128];
    snprintf(uslow, sizeof uslow, "http://127.0.0.1:%u/slow.bin", web.port);
    struct uri u = {uslow, -1, 0, 0, NULL};
    int before = hits(&web.hits_slow);
    REQUIRE(launch(fw, "killme", "echo should-not-run", &u, 1) == 0);
    /* Wait until the download is under way. */
    for (int i = 0; i < 100 && hits(&web.hits_slow) == before; i++)
        usleep(50 * 1000);
    CHECK(hits(&web.hits_slow) > before);
    CHECK_INT(itest_fw_kill(fw, "killme", cluster.agent_id), 202);
    struct itest_status st;
    CHECK_INT(
        itest_fw_wait_state(fw, "killme", MESOS__V1__TASK_STATE__TASK_KILLED, ITEST_WAIT_MS, &st),
        0);
    /* The agent dropped the download: the server sees the stream close. */
    int open_streams = 1;
    for (int i = 0; i < 100 && open_streams; i++) {
        usleep(50 * 1000);
        pthread_mutex_lock(&web.mu);
        open_streams = 0;
        for (int k = 0; k < MAX_SLOW; k++)
            open_streams += web.slow[k] != NULL;
        pthread_mutex_unlock(&web.mu);
    }
    CHECK_INT(open_streams, 0);
}

/* One cluster for all cases (each launch takes an offer round); the cases run in order. */
static void test_fetcher(void)
{
    start_all();
    if (!fw)
        return;
    test_fetch_all_kinds();
    test_cache_hit();
    test_failures();
    test_kill_during_fetch();
    stop_all();
}

ITEST_MAIN(TEST(test_fetcher))
