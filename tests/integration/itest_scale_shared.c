/*
 * itest_scale_shared: emulated agents on shared link streams (docs/agent-link.md, "Shared
 * streams"; mesos-agent-emulator --agents_per_stream) against a real mesos-master:
 *  - 500 agents on 10 shared streams: the master holds 10 agent connections, not 500; tasks of
 *    a real framework (emulator-loadgen) run and finish on them; a partition of part of one
 *    stream makes only those agents unreachable, and they re-register when it heals; closing a
 *    whole stream (every agent of it killed) disconnects its 50 agents at once, and restarted
 *    they re-register;
 *  - the HTTP edge under --authenticate_agents: OPEN_STREAM needs credentials, a REGISTER
 *    joining a stream of another principal is 403, one naming no open stream 400, REGISTERED
 *    comes on the stream naming the agent and echoing its tag, a PONG list is accepted on the
 *    stream only, and the stream's end disconnects its agent.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "cmesos/internal.pb-c.h"
#include "harness_emu.h"

/* The master's open descriptors (its agent connections among them), or -1. */
static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_shared_streams(void)
{
    const int n = 500, per = 50, tasks = 500;
    struct itest_cluster c;
    static const char *const flags[] = {"--agent_ping_timeout=1secs", "--max_agent_ping_timeouts=2",
                                        NULL};
    REQUIRE(itest_emu_master_start(&c, flags) == 0);
    int fds0 = count_fds(c.master.pid);
    struct itest_emu e;
    REQUIRE(itest_emu_start(&e, &c, n, "cpus:2;mem:1024", "fixed:1", "--agents_per_stream=50") ==
            0);
    REQUIRE(itest_emu_wait(&e, "registered", n, 60));
    REQUIRE(itest_metric_wait(c.master_port, "master/slaves_active", n, 10));
    CHECK_INT(itest_emu_stat(&e, "shared_streams"), n / per);
    /* 10 streams and the emulator's 16 call connections, not 500 agent connections. */
    int fds = count_fds(c.master.pid);
    printf("itest_scale_shared: master descriptors %d before the emulator, %d with %d agents\n",
           fds0, fds, n);
    CHECK(fds >= 0 && fds - fds0 <= n / per + 16 + 8);

    /* Tasks run and finish on agents of shared streams. */
    char log[512];
    int status = -1;
    REQUIRE(itest_emu_loadgen(&c, 2, tasks, log, sizeof log, &status) == 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(itest_emu_stat(&e, "tasks_launched"), tasks);
    CHECK(itest_metric_wait(c.master_port, "master/tasks_finished", tasks, 10));
    /* An agent sends TASK_FINISHED only once RUNNING (after STARTING) was acknowledged, so every
     * ACKNOWLEDGE found its agent through the shared streams. (The terminal updates' own acks
     * may be cut short when the load generator exits on a loaded machine.) */
    CHECK(itest_emu_stat(&e, "acks") >= 2 * tasks);
    CHECK_INT(itest_emu_stat(&e, "run_task_duplicates"), 0);

    /* A partition of 10 agents of stream 0: they alone miss pings and become unreachable; the
     * master ends their links (LINK_CLOSED, held while partitioned) and, healed, they register
     * again. */
    char out[4096];
    long long regs = itest_emu_stat(&e, "registrations");
    REQUIRE(itest_emu_ctl(&e, "partition 0-9 6", out, sizeof out) == 0);
    CHECK(itest_metric_wait(c.master_port, "master/slaves_unreachable", 10, 6));
    CHECK_INT(itest_metric(c.master_port, "master/slaves_active"), n - 10);
    CHECK(itest_metric_wait(c.master_port, "master/slaves_unreachable", 0, 30));
    CHECK(itest_metric_wait(c.master_port, "master/slaves_active", n, 10));
    CHECK(itest_emu_wait(&e, "registered", n, 10));
    CHECK(itest_emu_stat(&e, "links_closed") >= 10);
    CHECK(itest_emu_stat(&e, "registrations") >= regs + 10);

    /* Every agent of stream 1 killed: the stream closes and the master disconnects all 50 at
     * once (a broken link for each); restarted, they re-register on a new stream. */
    REQUIRE(itest_emu_ctl(&e, "kill 50-99", out, sizeof out) == 0);
    CHECK(itest_metric_wait(c.master_port, "master/slaves_disconnected", per, 10));
    CHECK_INT(itest_metric(c.master_port, "master/slaves_connected"), n - per);
    CHECK_INT(itest_emu_stat(&e, "shared_streams"), n / per - 1);
    REQUIRE(itest_emu_ctl(&e, "restart 50-99", out, sizeof out) == 0);
    CHECK(itest_emu_wait(&e, "registered", n, 15));
    CHECK(itest_metric_wait(c.master_port, "master/slaves_connected", n, 10));
    CHECK_INT(itest_metric(c.master_port, "master/slaves_disconnected"), 0);
    CHECK_INT(itest_emu_stat(&e, "shared_streams"), n / per);
}

/* A JSON call to the agent link with optional Basic credentials user:secret and stream id. */
static int link_post(int port, const char *cred, const char *sid, const char *json,
                     struct itest_http_resp *resp)
{
    char auth[300] = "", sidh[128] = "";
    const char *hdr[4] = {"Content-Type: application/json", NULL, NULL, NULL};
    size_t n = 1;
    if (cred) {
        char *b = itest_b64_encode((const uint8_t *)cred, strlen(cred));
        snprintf(auth, sizeof auth, "Authorization: Basic %s", b);
        free(b);
        hdr[n++] = auth;
    }
    if (sid) {
        snprintf(sidh, sizeof sidh, "Mesos-Stream-Id: %s", sid);
        hdr[n++] = sidh;
    }
    memset(resp, 0, sizeof *resp);
    return itest_http(port, "POST", "/master/api/v1/agent", hdr, json, strlen(json), resp, 5000);
}

static int link_status(int port, const char *cred, const char *sid, const char *json)
{
    struct itest_http_resp r;
    int rc = link_post(port, cred, sid, json, &r);
    int st = rc == 0 ? r.status : rc;
    if (st >= 400)
        printf("itest_scale_shared: link call answered %d: %s\n", st, r.body ? (char *)r.body : "");
    itest_http_resp_cleanup(&r);
    return st;
}

/* The HTTP edge of shared streams under --authenticate_agents: who may open one, who may join
 * it, the answers to bad joins, REGISTERED on the stream naming the agent, a PONG list, and the
 * stream's end disconnecting its agent. */
static void test_shared_stream_http_edge(void)
{
    char dir[256], creds[400], f_creds[450];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(creds, sizeof creds, "%s/credentials", dir);
    FILE *f = fopen(creds, "w");
    REQUIRE(f != NULL);
    fputs("emu-p emu-s\nother-p other-s\n", f);
    fclose(f);
    snprintf(f_creds, sizeof f_creds, "--credentials=%s", creds);
    const char *const flags[] = {"--authenticate_agents", f_creds, NULL};
    struct itest_cluster c;
    REQUIRE(itest_emu_master_start(&c, flags) == 0);
    const char *open_json = "{\"type\":\"OPEN_STREAM\"}";
    CHECK_INT(link_status(c.master_port, NULL, NULL, open_json), 401);
    CHECK_INT(link_status(c.master_port, "emu-p:wrong", NULL, open_json), 401);

    char *b = itest_b64_encode((const uint8_t *)"emu-p:emu-s", 11);
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Basic %s", b);
    free(b);
    const char *const hdr[] = {"Content-Type: application/json", auth, NULL};
    struct itest_stream *s = itest_stream_open(c.master_port, "/master/api/v1/agent", hdr,
                                               open_json, strlen(open_json), 5000);
    REQUIRE(s != NULL);
    REQUIRE(itest_stream_status(s) == 200);
    char sid[64];
    REQUIRE(itest_header(itest_stream_headers(s), "Mesos-Stream-Id", sid, sizeof sid));

    char reg[1024];
    const char *fmt = "{\"type\":\"REGISTER\",\"register\":{\"agent_info\":{\"hostname\":"
                      "\"edge-1\",\"port\":5051,\"resources\":[{\"name\":\"cpus\",\"type\":"
                      "\"SCALAR\",\"scalar\":{\"value\":1}}]},\"stream_id\":\"%s\",\"tag\":"
                      "\"t1\"}}";
    snprintf(reg, sizeof reg, fmt, sid);
    CHECK_INT(link_status(c.master_port, NULL, NULL, reg), 401);
    CHECK_INT(link_status(c.master_port, "other-p:other-s", NULL, reg), 403);
    char bad[1024];
    snprintf(bad, sizeof bad, fmt, "no-such-stream");
    CHECK_INT(link_status(c.master_port, "emu-p:emu-s", NULL, bad), 400);
    CHECK_INT(itest_metric(c.master_port, "master/slave_registrations"), 0);
    CHECK_INT(link_status(c.master_port, "emu-p:emu-s", NULL, reg), 202);

    /* REGISTERED comes on the shared stream, naming the agent and echoing the tag. */
    char id[256] = "";
    for (int i = 0; i < 20 && !id[0]; i++) {
        uint8_t *rec = NULL;
        size_t len = 0;
        if (itest_stream_next(s, 500, &rec, &len) != 0)
            continue;
        Cmesos__Internal__AgentEvent *ev = cmesos__internal__agent_event__unpack(NULL, len, rec);
        free(rec);
        if (ev && ev->type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED && ev->agent_id &&
            ev->registered && ev->tag && strcmp(ev->tag, "t1") == 0 &&
            strcmp(ev->agent_id->value, ev->registered->agent_id->value) == 0)
            snprintf(id, sizeof id, "%s", ev->agent_id->value);
        if (ev)
            protobuf_c_message_free_unpacked(&ev->base, NULL);
    }
    REQUIRE(id[0]);
    CHECK_INT(itest_metric(c.master_port, "master/slaves_connected"), 1);
    char pong[512];
    snprintf(pong, sizeof pong, "{\"type\":\"PONG\",\"pong_agent_ids\":[{\"value\":\"%s\"}]}", id);
    CHECK_INT(link_status(c.master_port, NULL, sid, pong), 202);
    CHECK_INT(link_status(c.master_port, NULL, "not-a-stream", pong), 400);

    /* The shared stream's end disconnects the agent on it. */
    itest_stream_free(s);
    CHECK(itest_metric_wait(c.master_port, "master/slaves_disconnected", 1, 10));
}

ITEST_MAIN(TEST(test_shared_streams), TEST(test_shared_stream_http_edge))
