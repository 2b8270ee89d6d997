/*
 * itest_health: health checks through the real cluster. A framework (JSON, hand-written
 * TaskInfo with health_check) launches command tasks; the command executor probes them and
 * the framework sees TASK_RUNNING updates with `healthy` and reason
 * REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, and a task whose check keeps failing ends
 * TASK_KILLED after `healthy:false` was reported. COMMAND, TCP and HTTP checks are covered
 * (the TCP and HTTP ones probe the agent's own port: /health answers 200, a closed port
 * refuses).
 */
#include "harness.h"

#include "errors.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* One UPDATE as the framework saw it (JSON). */
struct upd {
    char task_id[ITEST_ID];
    char state[64];
    char reason[96];
    char message[512];
    int has_healthy;
    int healthy;
};

static const char *jstr(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (v && path2)
        v = json_object_get(v, path2);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* Reads events from the subscription until an UPDATE arrives; acknowledges it. The fw's
 * queue holds no UPDATE here: nothing waited on updates through the harness before. */
static int next_update(struct itest_fw *fw, int timeout_ms, struct upd *u)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long deadline = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + timeout_ms;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long long left = deadline - ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        if (left <= 0)
            return -ETIMEDOUT;
        uint8_t *data = NULL;
        size_t len = 0;
        int rc = itest_stream_next(fw->stream, (int)left, &data, &len);
        if (rc)
            return rc;
        json_error_t jerr;
        json_t *ev = json_loadb((const char *)data, len, 0, &jerr);
        free(data);
        if (!ev)
            return CM_EPARSE;
        if (strcmp(jstr(ev, "type", NULL), "UPDATE") != 0) {
            json_decref(ev);
            continue;
        }
        json_t *st = json_object_get(json_object_get(ev, "update"), "status");
        memset(u, 0, sizeof *u);
        snprintf(u->task_id, sizeof u->task_id, "%s", jstr(st, "task_id", "value"));
        snprintf(u->state, sizeof u->state, "%s", jstr(st, "state", NULL));
        snprintf(u->reason, sizeof u->reason, "%s", jstr(st, "reason", NULL));
        snprintf(u->message, sizeof u->message, "%s", jstr(st, "message", NULL));
        json_t *h = json_object_get(st, "healthy");
        u->has_healthy = json_is_boolean(h);
        u->healthy = json_is_true(h);
        fprintf(stderr, "update %s %s%s%s %s %s\n", u->task_id, u->state,
                u->has_healthy ? " healthy=" : "",
                u->has_healthy ? (u->healthy ? "true" : "false") : "", u->reason, u->message);
        const char *uuid = jstr(st, "uuid", NULL);
        if (uuid[0]) {
            struct itest_status ack;
            memset(&ack, 0, sizeof ack);
            snprintf(ack.task_id, sizeof ack.task_id, "%s", u->task_id);
            snprintf(ack.agent_id, sizeof ack.agent_id, "%s", jstr(st, "agent_id", "value"));
            if (itest_b64_decode(uuid, ack.uuid, sizeof ack.uuid, &ack.uuid_len) == 0)
                itest_fw_ack(fw, &ack);
        }
        json_decref(ev);
        return 0;
    }
}

/* ACCEPTs the held offers launching tasks ids[i] running commands[i] with health checks
 * checks[i] (JSON objects, stolen). */
static int launch(struct itest_fw *fw, const struct itest_offers *off, size_t n,
                  const char *const *ids, const char *const *commands, json_t **checks)
{
    json_t *infos = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(infos,
                              json_pack("{s:s, s:{s:s}, s:{s:s}, s:[o,o], s:{s:s}, s:o}", "name",
                                        ids[i], "task_id", "value", ids[i], "agent_id", "value",
                                        off->agent_id, "resources", itest_json_scalar("cpus", 0.1),
                                        itest_json_scalar("mem", 32), "command", "value",
                                        commands[i], "health_check", checks[i]));
    return itest_fw_launch_json(fw, off, infos);
}

/* A check that starts at once, probes every half second and never waits for a grace period. */
static json_t *fast_check(const char *type, json_t *body, int failures)
{
    json_t *hc = json_pack("{s:s, s:f, s:f, s:f, s:f, s:i}", "type", type, "delay_seconds", 0.0,
                           "interval_seconds", 0.5, "timeout_seconds", 5.0, "grace_period_seconds",
                           0.0, "consecutive_failures", failures);
    const char *key = !strcmp(type, "COMMAND") ? "command" : !strcmp(type, "HTTP") ? "http" : "tcp";
    json_object_set_new(hc, key, body);
    return hc;
}

/* A loopback port nobody listens on (bound, then released). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static void test_failing_command_check_kills(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.2, 64, ITEST_WAIT_MS, &off) == 0);
    const char *ids[] = {"sick", "well"};
    const char *cmds[] = {"sleep 100", "sleep 100"};
    json_t *checks[] = {fast_check("COMMAND", json_pack("{s:s}", "value", "exit 1"), 2),
                        fast_check("COMMAND", json_pack("{s:s}", "value", "true"), 2)};
    REQUIRE(launch(fw, &off, 2, ids, cmds, checks) == 202);

    int sick_unhealthy = 0, sick_killed = 0, well_healthy = 0, killed_after_unhealthy = 0;
    int sick_killed_healthy = -1;
    struct upd u;
    while (!(sick_killed && well_healthy) && next_update(fw, ITEST_WAIT_MS, &u) == 0) {
        int sick = !strcmp(u.task_id, "sick");
        if (!strcmp(u.state, "TASK_RUNNING") && u.has_healthy) {
            CHECK_STR(u.reason, "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED");
            if (sick && !u.healthy)
                sick_unhealthy = 1;
            if (!sick && u.healthy)
                well_healthy = 1;
            /* A passing check never reports unhealthy; a failing one never healthy. */
            CHECK(sick ? !u.healthy : u.healthy);
        } else if (sick && !strcmp(u.state, "TASK_KILLED")) {
            sick_killed = 1;
            killed_after_unhealthy = sick_unhealthy;
            sick_killed_healthy = u.has_healthy ? u.healthy : -1;
            CHECK(strstr(u.message, "health check failed") != NULL);
        } else {
            /* Nothing but STARTING/RUNNING before that. */
            CHECK(!strcmp(u.state, "TASK_STARTING") || !strcmp(u.state, "TASK_RUNNING"));
        }
    }
    CHECK(sick_unhealthy);
    CHECK(sick_killed);
    CHECK(killed_after_unhealthy); /* healthy:false came first */
    CHECK_INT(sick_killed_healthy, 0);
    CHECK(well_healthy);

    /* The healthy task keeps running until it is killed. */
    CHECK_INT(itest_fw_kill(fw, "well", c.agent_id), 202);
    int well_killed = 0;
    while (!well_killed && next_update(fw, ITEST_WAIT_MS, &u) == 0)
        if (!strcmp(u.task_id, "well") && !strcmp(u.state, "TASK_KILLED"))
            well_killed = 1;
    CHECK(well_killed);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void test_tcp_and_http_checks(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    int dead = closed_port();
    REQUIRE(dead > 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.4, 128, ITEST_WAIT_MS, &off) == 0);
    const char *ids[] = {"tcp-up", "tcp-down", "http-up", "http-404"};
    const char *cmds[] = {"sleep 100", "sleep 100", "sleep 100", "sleep 100"};
    json_t *checks[] = {
        fast_check("TCP", json_pack("{s:i}", "port", c.agent_port), 1),
        fast_check("TCP", json_pack("{s:i}", "port", dead), 1),
        fast_check("HTTP", json_pack("{s:i, s:s}", "port", c.agent_port, "path", "/health"), 1),
        fast_check("HTTP", json_pack("{s:i, s:s}", "port", c.agent_port, "path", "/no/such/page"),
                   1),
    };
    REQUIRE(launch(fw, &off, 4, ids, cmds, checks) == 202);
    /* Per task: 1 = reported healthy, 2 = unhealthy then killed. */
    int got[4] = {0, 0, 0, 0}, unhealthy[4] = {0, 0, 0, 0};
    struct upd u;
    while (!(got[0] == 1 && got[1] == 2 && got[2] == 1 && got[3] == 2) &&
           next_update(fw, ITEST_WAIT_MS, &u) == 0) {
        for (int i = 0; i < 4; i++) {
            if (strcmp(u.task_id, ids[i]) != 0)
                continue;
            if (!strcmp(u.state, "TASK_RUNNING") && u.has_healthy && u.healthy)
                got[i] = 1;
            if (!strcmp(u.state, "TASK_RUNNING") && u.has_healthy && !u.healthy)
                unhealthy[i] = 1;
            if (!strcmp(u.state, "TASK_KILLED") && unhealthy[i])
                got[i] = 2;
        }
    }
    CHECK_INT(got[0], 1);
    CHECK_INT(got[1], 2);
    CHECK_INT(got[2], 1);
    CHECK_INT(got[3], 2);
    CHECK(!unhealthy[0] && !unhealthy[2]);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_failing_command_check_kills), TEST(test_tcp_and_http_checks))
