/*
 * itest_ha: masters elect a leader through a real ZooKeeper server (harness_zk) and agents,
 * frameworks (raw HTTP following 307s, and mesos-execute through libcmscheduler) follow it.
 *
 * Cases: one leader among two then three masters, non-leaders answer 307 with the right
 * Location (scheduler API, /master/state, /master/redirect) and serve /health, /flags,
 * /metrics/snapshot; kill -9 of the leader while tasks run; a master without a reachable
 * ZooKeeper answers 503; a leader paused past its session never acts after SIGCONT; a brief
 * ZooKeeper restart changes nothing; a malformed election znode is ignored; an agent whose
 * fixed --master is a standby follows its 307 to the leader.
 * Session timeouts are 3 s (tickTime 500 ms) so that each case takes seconds.
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness_ha.h"
#include "harness_zk.h"
#include "zk.h"

#define SESSION "3secs"
#define SESSION_MS 3000

static int start_zk(struct itest_zk *z, const char *path, char *url, size_t len)
{
    memset(z, 0, sizeof *z);
    if (itest_zk_start(z) != 0)
        return -1;
    itest_zk_url(z, path, url, len);
    return 0;
}

static int get_status(int port, const char *method, const char *path, char *location, size_t loclen,
                      char *body, size_t bodylen)
{
    struct itest_http_resp r;
    static const char *const hdrs[] = {"Content-Type: application/json", "Accept: application/json",
                                       NULL};
    const char *sub = "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\","
                      "\"name\":\"n\"}}}";
    bool post = strcmp(method, "POST") == 0;
    if (itest_http(port, method, path, post ? hdrs : NULL, post ? sub : NULL,
                   post ? strlen(sub) : 0, &r, 3000) != 0)
        return -1;
    if (location) {
        location[0] = 0;
        itest_header(r.headers, "Location", location, loclen);
    }
    if (body)
        snprintf(body, bodylen, "%s", r.body ? (const char *)r.body : "");
    int st = r.status;
    itest_http_resp_cleanup(&r);
    return st;
}

/* Checks every non-leader redirects to the leader (docs/wire-protocol.md §2.1, §6.3). */
static void check_followers(struct itest_ha_master *ms, size_t n, int leader)
{
    char loc[256], want[256], body[256];
    for (size_t i = 0; i < n; i++) {
        if ((int)i == leader)
            continue;
        int p = ms[i].port;
        /* A standby learns of the leader shortly after the leader itself (503 until then). */
        long long deadline = itest_ha_now_ms() + 5000;
        while (itest_ha_now_ms() < deadline &&
               get_status(p, "GET", "/master/redirect", NULL, 0, NULL, 0) != 307)
            itest_ha_sleep_ms(50);
        CHECK_INT(itest_ha_elected(p), 0);
        CHECK_INT(get_status(p, "POST", "/master/api/v1/scheduler", loc, sizeof loc, NULL, 0), 307);
        snprintf(want, sizeof want, "//127.0.0.1:%d/master/api/v1/scheduler", ms[leader].port);
        CHECK_STR(loc, want);
        CHECK_INT(get_status(p, "POST", "/api/v1/scheduler", loc, sizeof loc, NULL, 0), 307);
        CHECK_STR(loc, want);
        CHECK_INT(get_status(p, "GET", "/master/state", loc, sizeof loc, NULL, 0), 307);
        snprintf(want, sizeof want, "//127.0.0.1:%d/master/state", ms[leader].port);
        CHECK_STR(loc, want);
        CHECK_INT(get_status(p, "GET", "/master/redirect", loc, sizeof loc, NULL, 0), 307);
        snprintf(want, sizeof want, "//127.0.0.1:%d", ms[leader].port);
        CHECK_STR(loc, want);
        CHECK_INT(get_status(p, "GET", "/master/health", NULL, 0, NULL, 0), 200);
        CHECK_INT(get_status(p, "GET", "/master/flags", NULL, 0, NULL, 0), 200);
        CHECK_INT(get_status(p, "GET", "/master/version", NULL, 0, body, sizeof body), 200);
    }
    /* The leader itself serves. */
    CHECK_INT(get_status(ms[leader].port, "GET", "/master/state", NULL, 0, NULL, 0), 200);
}

static void test_elect_two_then_three(void)
{
    struct itest_zk z;
    char url[256];
    REQUIRE(start_zk(&z, "/mesos", url, sizeof url) == 0);
    struct itest_ha_master ms[3];
    memset(ms, 0, sizeof ms);
    REQUIRE(itest_ha_master_start(&ms[0], url, SESSION, NULL) == 0);
    /* Started back to back, either master may reach ZooKeeper first; once the first has been
     * elected, the second contends after it and must follow it. */
    REQUIRE(itest_ha_wait_leader(ms, 1, 15000) == 0);
    REQUIRE(itest_ha_master_start(&ms[1], url, SESSION, NULL) == 0);
    int leader = itest_ha_wait_leader(ms, 2, 15000);
    REQUIRE(leader >= 0);
    CHECK_INT(leader, 0); /* the first to contend has the lowest sequence */
    CHECK_INT(itest_ha_count_elected(ms, 2), 1);
    check_followers(ms, 2, leader);
    REQUIRE(itest_ha_master_start(&ms[2], url, SESSION, NULL) == 0);
    itest_ha_sleep_ms(500);
    CHECK_INT(itest_ha_wait_leader(ms, 3, 15000), leader);
    CHECK_INT(itest_ha_count_elected(ms, 3), 1);
    check_followers(ms, 3, leader);
}

static int run_execute_bg(struct itest_proc *p, const char *master, const char *log)
{
    char bin[512], f_master[600];
    snprintf(f_master, sizeof f_master, "--master=%s", master);
    char *argv[] = {(char *)itest_bin("mesos-execute", bin, sizeof bin),
                    f_master,
                    "--name=ha-exec",
                    "--command=sleep 8",
                    "--resources=cpus:0.1;mem:32",
                    NULL};
    return itest_proc_spawn(p, "mesos-execute", argv, log);
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *q = text; q && (q = strstr(q, needle)) != NULL; q += strlen(needle))
        n++;
    return n;
}

static void test_failover_kill9(void)
{
    struct itest_zk z;
    char url[256];
    REQUIRE(start_zk(&z, "/mesos", url, sizeof url) == 0);
    struct itest_ha_master ms[3];
    memset(ms, 0, sizeof ms);
    for (int i = 0; i < 3; i++)
        REQUIRE(itest_ha_master_start(&ms[i], url, SESSION, NULL) == 0);
    int leader = itest_ha_wait_leader(ms, 3, 15000);
    REQUIRE(leader >= 0);
    struct itest_proc agent;
    REQUIRE(itest_ha_agent_start(&agent, url, "cpus:4;mem:2048;disk:1024", NULL) == 0);
    char agent_id[256];
    REQUIRE(itest_ha_wait_agent(ms[leader].port, NULL, 15000) == 0);
    REQUIRE(itest_ha_agent_id(ms[leader].port, agent_id, sizeof agent_id) == 0);

    /* Raw HTTP framework with a task. */
    struct itest_fw_opts fo = {.name = "ha-raw", .failover_timeout = 120};
    struct itest_fw *fw = itest_fw_start(ms[leader].port, ITEST_JSON, &fo);
    REQUIRE(fw != NULL);
    char fwid[ITEST_ID];
    snprintf(fwid, sizeof fwid, "%s", fw->framework_id);
    struct itest_offers set;
    REQUIRE(itest_fw_wait_offer(fw, 0.5, 64, 15000, &set) == 0);
    struct itest_task task = {.id = "ha-task", .command = "sleep 8", .cpus = 0.5, .mem = 64};
    REQUIRE(itest_fw_accept(fw, set.idv, set.n, set.agent_id, &task, 1, -1) == 202);
    REQUIRE(itest_fw_wait_state(fw, "ha-task", MESOS__V1__TASK_STATE__TASK_RUNNING, 15000, NULL) ==
            0);

    /* mesos-execute through ZooKeeper, also with a running task. */
    char exlog[400];
    snprintf(exlog, sizeof exlog, "%s/execute.log", ms[leader].dir);
    struct itest_proc ex;
    REQUIRE(run_execute_bg(&ex, url, exlog) == 0);
    long long t_end = itest_ha_now_ms() + 15000;
    bool ex_running = false;
    while (itest_ha_now_ms() < t_end && !ex_running) {
        char *text = itest_read_file(exlog, NULL);
        ex_running = text && strstr(text, "TASK_RUNNING");
        free(text);
        itest_ha_sleep_ms(50);
    }
    CHECK(ex_running);

    /* kill -9 the leader. */
    long long t0 = itest_ha_now_ms();
    REQUIRE(itest_proc_signal(&ms[leader].proc, SIGKILL) == 0);
    int st;
    itest_proc_wait(&ms[leader].proc, 2000, &st);
    ms[leader].port = 0;
    int next = itest_ha_wait_leader(ms, 3, 20000);
    REQUIRE(next >= 0);
    long long t_elect = itest_ha_now_ms() - t0;
    fprintf(stderr, "[ha] new leader after %lld ms (session %d ms)\n", t_elect, SESSION_MS);
    CHECK(t_elect < SESSION_MS + 5000);
    /* The agent follows with its id. */
    CHECK(itest_ha_wait_agent(ms[next].port, agent_id, 15000) == 0);
    fprintf(stderr, "[ha] agent re-registered after %lld ms\n", itest_ha_now_ms() - t0);

    /* The raw framework asks a standby first and follows its 307. */
    int standby = -1;
    for (int i = 0; i < 3; i++)
        if (i != next && ms[i].port > 0)
            standby = i;
    REQUIRE(standby >= 0);
    struct itest_fw_opts fo2 = {.name = "ha-raw", .failover_timeout = 120, .framework_id = fwid};
    struct itest_fw *probe = itest_fw_open(ms[standby].port, ITEST_JSON, &fo2);
    REQUIRE(probe != NULL);
    CHECK_INT(probe->http_status, 307);
    char loc[256] = "";
    itest_header(itest_stream_headers(probe->stream), "Location", loc, sizeof loc);
    itest_fw_free(probe);
    int follow = 0;
    CHECK(sscanf(loc, "//127.0.0.1:%d/master/api/v1/scheduler", &follow) == 1);
    CHECK_INT(follow, ms[next].port);
    itest_fw_free(fw);
    fw = itest_fw_start(follow > 0 ? follow : ms[next].port, ITEST_JSON, &fo2);
    REQUIRE(fw != NULL);
    CHECK_STR(fw->framework_id, fwid);

    /* The task kept running; its terminal update arrives once. */
    struct itest_status fin;
    CHECK(itest_fw_wait_state(fw, "ha-task", MESOS__V1__TASK_STATE__TASK_FINISHED, 20000, &fin) ==
          0);
    struct itest_event ev;
    CHECK(itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, "ha-task", 1500, &ev) ==
          -ETIMEDOUT);
    itest_fw_teardown(fw);
    itest_fw_free(fw);

    /* mesos-execute followed the new leader and saw its task finish exactly once. */
    CHECK(itest_proc_wait(&ex, 30000, &st) == 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *text = itest_read_file(exlog, NULL);
    CHECK(text && count_of(text, "TASK_FINISHED") == 1);
    if (!text || count_of(text, "TASK_FINISHED") != 1)
        itest_dump_file("mesos-execute", exlog, 4000);
    free(text);
}

static void test_no_leader_503(void)
{
    /* A ZooKeeper that is not there: the master never learns of a leader. */
    struct itest_zk z;
    char url[256];
    REQUIRE(start_zk(&z, "/mesos", url, sizeof url) == 0);
    itest_zk_kill(&z);
    struct itest_ha_master m;
    REQUIRE(itest_ha_master_start(&m, url, SESSION, NULL) == 0);
    char body[256];
    CHECK_INT(get_status(m.port, "POST", "/master/api/v1/scheduler", NULL, 0, body, sizeof body),
              503);
    CHECK(strstr(body, "No leader elected") != NULL);
    CHECK_INT(get_status(m.port, "GET", "/master/redirect", NULL, 0, NULL, 0), 503);
    CHECK_INT(get_status(m.port, "GET", "/master/state", NULL, 0, NULL, 0), 503);
    CHECK_INT(get_status(m.port, "GET", "/master/health", NULL, 0, NULL, 0), 200);
    CHECK_INT(itest_ha_elected(m.port), 0);
}

static void test_paused_leader(void)
{
    struct itest_zk z;
    char url[256];
    REQUIRE(start_zk(&z, "/mesos", url, sizeof url) == 0);
    struct itest_ha_master ms[2];
    memset(ms, 0, sizeof ms);
    for (int i = 0; i < 2; i++)
        REQUIRE(itest_ha_master_start(&ms[i], url, SESSION, NULL) == 0);
    int leader = itest_ha_wait_leader(ms, 2, 15000);
    REQUIRE(leader >= 0);
    int other = 1 - leader;
    REQUIRE(itest_proc_signal(&ms[leader].proc, SIGSTOP) == 0);
    /* The standby takes over once the paused leader's session expired. */
    long long deadline = itest_ha_now_ms() + 20000;
    while (itest_ha_now_ms() < deadline && itest_ha_elected(ms[other].port) != 1)
        itest_ha_sleep_ms(100);
    CHECK_INT(itest_ha_elected(ms[other].port), 1);
    REQUIRE(itest_proc_signal(&ms[leader].proc, SIGCONT) == 0);
    /* After SIGCONT the old leader must not act: 307 to the new one, 503, or it exited. */
    char loc[256], want[256];
    snprintf(want, sizeof want, "//127.0.0.1:%d/master/api/v1/scheduler", ms[other].port);
    int s =
        get_status(ms[leader].port, "POST", "/master/api/v1/scheduler", loc, sizeof loc, NULL, 0);
    CHECK(s == -1 || s == 503 || (s == 307 && strcmp(loc, want) == 0));
    if (s == 307 && strcmp(loc, want) != 0)
        fprintf(stderr, "[ha] paused leader redirected to %s\n", loc);
    /* This implementation exits on losing leadership (as Mesos does). */
    int st;
    CHECK(itest_proc_wait(&ms[leader].proc, 10000, &st) == 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    ms[leader].port = 0;
    CHECK_INT(itest_ha_wait_leader(ms, 2, 5000), other);
}

static void test_zk_restart(void)
{
    struct itest_zk z;
    char url[256];
    REQUIRE(start_zk(&z, "/mesos", url, sizeof url) == 0);
    struct itest_ha_master ms[2];
    memset(ms, 0, sizeof ms);
    /* Sessions long enough to outlive a JVM restart. */
    for (int i = 0; i < 2; i++)
        REQUIRE(itest_ha_master_start(&ms[i], url, "12secs", NULL) == 0);
    int leader = itest_ha_wait_leader(ms, 2, 15000);
    REQUIRE(leader >= 0);
    struct itest_proc agent;
    REQUIRE(itest_ha_agent_start(&agent, url, NULL, NULL) == 0);
    REQUIRE(itest_ha_wait_agent(ms[leader].port, NULL, 15000) == 0);
    char agent_id[256];
    REQUIRE(itest_ha_agent_id(ms[leader].port, agent_id, sizeof agent_id) == 0);
    struct itest_fw_opts fo = {.name = "ha-zk-restart", .failover_timeout = 60};
    struct itest_fw *fw = itest_fw_start(ms[leader].port, ITEST_JSON, &fo);
    REQUIRE(fw != NULL);

    itest_zk_kill(&z);
    itest_ha_sleep_ms(1000);
    REQUIRE(itest_zk_start(&z) == 0);
    itest_ha_sleep_ms(1500);

    CHECK(itest_proc_alive(&ms[0].proc) && itest_proc_alive(&ms[1].proc));
    CHECK_INT(itest_ha_wait_leader(ms, 2, 10000), leader);
    CHECK(itest_ha_wait_agent(ms[leader].port, agent_id, 5000) == 0);
    /* The framework's subscription survived: calls on its stream are accepted. */
    CHECK_INT(itest_fw_reconcile(fw, NULL, NULL), 202);
    CHECK(!fw->closed);
    itest_fw_free(fw);
}

/* A blocking create through our own ZooKeeper client. */
struct put {
    bool connected, done;
    int rc;
};

static void put_session(struct cm_zk *zk, enum cm_zk_session_event ev, void *arg)
{
    (void)zk;
    struct put *p = arg;
    if (ev == CM_ZK_CONNECTED || ev == CM_ZK_RECONNECTED)
        p->connected = true;
}

static void put_done(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    (void)zk;
    struct put *p = arg;
    p->done = true;
    p->rc = res->rc;
}

static int run_until(struct event_base *base, bool *flag, int ms)
{
    long long deadline = itest_ha_now_ms() + ms;
    while (!*flag && itest_ha_now_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), itest_ha_sleep_ms(5);
    return *flag ? 0 : -1;
}

static int zk_put(const char *url_text, const char *path, const char *data)
{
    struct cm_zk_url url;
    char why[256];
    if (cm_zk_url_parse(url_text, &url, why, sizeof why) != 0)
        return -1;
    struct event_base *base = event_base_new();
    struct put p = {0};
    struct cm_zk *zk = cm_zk_new(base, &url, 5, put_session, &p);
    int rc = -1;
    if (zk && run_until(base, &p.connected, 10000) == 0) {
        p.done = false;
        cm_zk_ensure_path(zk, url.path, put_done, &p);
        if (run_until(base, &p.done, 10000) == 0 && p.rc == ZOK) {
            p.done = false;
            cm_zk_create(zk, path, data, strlen(data), 0, put_done, &p);
            if (run_until(base, &p.done, 10000) == 0)
                rc = p.rc == ZOK ? 0 : -1;
        }
    }
    cm_zk_free(zk);
    event_base_free(base);
    cm_zk_url_cleanup(&url);
    return rc;
}

static void test_malformed_znode(void)
{
    struct itest_zk z;
    char url[256];
    REQUIRE(start_zk(&z, "/mesos", url, sizeof url) == 0);
    /* Sorts before every real contender: must be skipped, not followed. */
    REQUIRE(zk_put(url, "/mesos/json.info_0000000000", "{not json") == 0);
    REQUIRE(zk_put(url, "/mesos/json.info_0000000001", "{\"id\":\"x\"}") == 0);
    struct itest_ha_master ms[2];
    memset(ms, 0, sizeof ms);
    for (int i = 0; i < 2; i++)
        REQUIRE(itest_ha_master_start(&ms[i], url, SESSION, NULL) == 0);
    int leader = itest_ha_wait_leader(ms, 2, 15000);
    REQUIRE(leader >= 0);
    CHECK_INT(itest_ha_count_elected(ms, 2), 1);
    check_followers(ms, 2, leader);
    struct itest_proc agent;
    REQUIRE(itest_ha_agent_start(&agent, url, NULL, NULL) == 0);
    CHECK(itest_ha_wait_agent(ms[leader].port, NULL, 15000) == 0);
    CHECK(itest_proc_alive(&ms[0].proc) && itest_proc_alive(&ms[1].proc));
}

/* An agent whose fixed --master names a standby: the standby answers its REGISTER with 307,
 * the agent's stream client follows it to the leader, and the calls on that stream (here the
 * task's status updates) reach the leader with the stream's id. */
static void test_agent_follows_standby_redirect(void)
{
    struct itest_zk z;
    char url[256];
    REQUIRE(start_zk(&z, "/mesos", url, sizeof url) == 0);
    struct itest_ha_master ms[2];
    memset(ms, 0, sizeof ms);
    for (int i = 0; i < 2; i++)
        REQUIRE(itest_ha_master_start(&ms[i], url, SESSION, NULL) == 0);
    int leader = itest_ha_wait_leader(ms, 2, 15000);
    REQUIRE(leader >= 0);
    int standby = 1 - leader;
    char fixed[64];
    snprintf(fixed, sizeof fixed, "127.0.0.1:%d", ms[standby].port);
    struct itest_proc agent;
    REQUIRE(itest_ha_agent_start(&agent, fixed, NULL, NULL) == 0);
    REQUIRE(itest_ha_wait_agent(ms[leader].port, NULL, 15000) == 0);

    struct itest_fw_opts fo = {.name = "ha-redirect"};
    struct itest_fw *fw = itest_fw_start(ms[leader].port, ITEST_JSON, &fo);
    REQUIRE(fw != NULL);
    struct itest_offers set;
    REQUIRE(itest_fw_wait_offer(fw, 0.5, 64, 15000, &set) == 0);
    struct itest_task task = {.id = "redirect-task", .command = "true", .cpus = 0.5, .mem = 64};
    REQUIRE(itest_fw_accept(fw, set.idv, set.n, set.agent_id, &task, 1, -1) == 202);
    CHECK(itest_fw_wait_state(fw, "redirect-task", MESOS__V1__TASK_STATE__TASK_FINISHED, 15000,
                              NULL) == 0);
    itest_fw_free(fw);
}

static void require_zk(void)
{
    itest_zk_require();
}

ITEST_MAIN(FIXTURE(require_zk), TEST(test_elect_two_then_three), TEST(test_no_leader_503),
           TEST(test_failover_kill9), TEST(test_paused_leader), TEST(test_zk_restart),
           TEST(test_malformed_znode), TEST(test_agent_follows_standby_redirect))
