/*
 * itest_prometheus: /metrics on a real master and agent (prometheus.h) — the text exposition
 * format's content type, every /metrics/snapshot metric present under its Prometheus name,
 * per-framework values as labels, and `promtool check metrics` (Debian's prometheus package)
 * accepting both outputs with a framework and a task running. promtool is not a build
 * dependency (the package is ~100 MB with the server); the promtool case skips without it.
 */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *get_text(int port, const char *path, char *ctype, size_t ctlen)
{
    struct itest_http_resp r;
    if (itest_http(port, "GET", path, NULL, NULL, 0, &r, ITEST_WAIT_MS) != 0)
        return NULL;
    char *out = r.status == 200 ? strdup((const char *)r.body) : NULL;
    if (ctype) {
        ctype[0] = '\0';
        itest_header(r.headers, "Content-Type", ctype, ctlen);
    }
    if (r.status != 200)
        fprintf(stderr, "GET %s -> %d\n", path, r.status);
    itest_http_resp_cleanup(&r);
    return out;
}

static bool has_line_prefix(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, prefix, n) == 0)
            return true;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return false;
}

/* Runs promtool on text; returns its wait status (0 = accepted) and prints its complaints. */
static int promtool(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.prom", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    fclose(f);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    int status = -1;
    char *out = NULL;
    if (itest_run(argv, ITEST_WAIT_MS, &status, &out) != 0)
        return -1;
    if (status != 0)
        fprintf(stderr, "promtool on %s:\n%s\n", name, out ? out : "");
    free(out);
    return status;
}

static struct itest_fw *run_task(struct itest_cluster *c)
{
    struct itest_fw *fw = itest_fw_start(c->master_port, ITEST_JSON, NULL);
    if (!fw)
        return NULL;
    struct itest_offers off;
    struct itest_task t = {"prom-task", "sleep 100", 0.1, 32};
    if (itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) != 0 ||
        itest_fw_accept(fw, off.idv, off.n, c->agent_id, &t, 1, 0) != 202 ||
        itest_fw_wait_state(fw, "prom-task", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                            NULL) != 0) {
        itest_fw_free(fw);
        return NULL;
    }
    return fw;
}

static void test_every_snapshot_metric_is_exposed(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw *fw = run_task(&c);
    REQUIRE(fw != NULL);
    const int ports[] = {c.master_port, c.agent_port};
    for (int d = 0; d < 2; d++) {
        char ct[128];
        char *text = get_text(ports[d], "/metrics", ct, sizeof ct);
        REQUIRE(text != NULL);
        CHECK(strstr(ct, "text/plain") == ct && strstr(ct, "version=0.0.4") != NULL);
        json_t *snap = itest_get_json(ports[d], "/metrics/snapshot");
        REQUIRE(json_is_object(snap));
        /* Every snapshot metric's name (sanitized; labels and suffixes aside) has a TYPE line
         * whose family starts with it, or — per-framework and timer metrics — its family is
         * there under the label rules. Checked for the plain names, which are most. */
        const char *key;
        json_t *v;
        size_t plain = 0, found = 0;
        json_object_foreach(snap, key, v)
        {
            if (strstr(key, "/frameworks/") || strstr(key, "roles/") || strstr(key, "_ms"))
                continue;
            char name[512] = "# TYPE mesos_";
            size_t o = strlen(name);
            for (const char *k = key; *k && o < sizeof name - 1; k++) {
                char ch =
                    (*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9')
                        ? *k
                        : '_';
                if (ch == '_' && name[o - 1] == '_')
                    continue;
                name[o++] = ch;
            }
            name[o] = '\0';
            /* A gauge named "..._total" drops the suffix (prometheus.h). */
            if (o > 6 && strcmp(name + o - 6, "_total") == 0 && !has_line_prefix(text, name))
                name[o - 6] = '\0';
            plain++;
            if (has_line_prefix(text, name))
                found++;
            else
                fprintf(stderr, "missing family for %s (%s)\n", key, name);
        }
        CHECK(plain > 20);
        CHECK_INT(found, plain);
        json_decref(snap);
        if (d == 0) {
            char label[400];
            snprintf(label, sizeof label, "mesos_master_frameworks_subscribed{framework_id=\"%s\"",
                     fw->framework_id);
            CHECK(has_line_prefix(text, label));
            CHECK(has_line_prefix(text, "# TYPE mesos_master_tasks_running gauge"));
            CHECK(has_line_prefix(text, "mesos_master_tasks_running 1"));
            CHECK(has_line_prefix(text, "# TYPE mesos_master_frameworks_calls_total counter"));
        } else {
            CHECK(has_line_prefix(text, "mesos_slave_tasks_running 1"));
            CHECK(has_line_prefix(text, "# TYPE mesos_slave_tasks_finished_total counter"));
        }
        free(text);
    }
    /* The agent's process-prefixed path is the same endpoint. */
    char *text = get_text(c.agent_port, "/slave(1)/metrics", NULL, 0);
    CHECK(text != NULL && strstr(text, "mesos_slave_uptime_secs") != NULL);
    free(text);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void test_promtool_accepts_master_and_agent(void)
{
    if (access("/usr/bin/promtool", X_OK) != 0 && system("command -v promtool >/dev/null") != 0)
        SKIP_CASE("promtool not installed (Debian package 'prometheus')");
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw *fw = run_task(&c);
    REQUIRE(fw != NULL);
    char *m = get_text(c.master_port, "/metrics", NULL, 0);
    if (getenv("ITEST_DEBUG") && m)
        fputs(m, stderr);
    char *a = get_text(c.agent_port, "/metrics", NULL, 0);
    REQUIRE(m && a);
    CHECK_INT(promtool(c.dir, "master", m), 0);
    CHECK_INT(promtool(c.dir, "agent", a), 0);
    free(m);
    free(a);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_every_snapshot_metric_is_exposed),
           TEST(test_promtool_accepts_master_and_agent))
