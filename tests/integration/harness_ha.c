/* harness_ha.c: see harness_ha.h. */
#define ITEST_HARNESS_IMPL
#include "harness_ha.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

long long itest_ha_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void itest_ha_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int wait_port(struct itest_proc *p, const char *path, int *port)
{
    long long deadline = itest_ha_now_ms() + ITEST_WAIT_MS;
    while (itest_ha_now_ms() < deadline) {
        char *text = itest_read_file(path, NULL);
        if (text) {
            *port = atoi(text);
            free(text);
            if (*port > 0)
                return 0;
        }
        if (!itest_proc_alive(p)) {
            fprintf(stderr, "itest: %s exited before writing %s\n", p->name, path);
            return -ECHILD;
        }
        itest_ha_sleep_ms(20);
    }
    fprintf(stderr, "itest: %s wrote no port file %s\n", p->name, path);
    return -ETIMEDOUT;
}

int itest_ha_master_start(struct itest_ha_master *m, const char *zk_url, const char *session,
                          const char *const *extra)
{
    memset(m, 0, sizeof *m);
    int rc = itest_tmpdir(m->dir, sizeof m->dir);
    if (rc)
        return rc;
    char bin[512], f_zk[512], f_to[64], f_pf[400], f_work[400], log[400], pf[350];
    char *argv[48];
    size_t n = 0;
    argv[n++] = (char *)itest_bin("mesos-master", bin, sizeof bin);
    argv[n++] = "--ip=127.0.0.1";
    argv[n++] = "--port=0";
    snprintf(pf, sizeof pf, "%s/master.port", m->dir);
    snprintf(f_pf, sizeof f_pf, "--port_file=%s", pf);
    argv[n++] = f_pf;
    snprintf(f_work, sizeof f_work, "--work_dir=%s/work", m->dir);
    argv[n++] = f_work;
    snprintf(f_zk, sizeof f_zk, "--zk=%s", zk_url);
    argv[n++] = f_zk;
    argv[n++] = "--quorum=2";
    snprintf(f_to, sizeof f_to, "--zk_session_timeout=%s", session ? session : "3secs");
    argv[n++] = f_to;
    for (size_t i = 0; extra && extra[i] && n < 46; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    snprintf(log, sizeof log, "%s/master.log", m->dir);
    if ((rc = itest_proc_spawn(&m->proc, "mesos-master", argv, log)) != 0)
        return rc;
    return wait_port(&m->proc, pf, &m->port);
}

int itest_ha_agent_start(struct itest_proc *p, const char *master, const char *resources, int *port)
{
    char dir[256];
    int rc = itest_tmpdir(dir, sizeof dir);
    if (rc)
        return rc;
    char bin[512], f_master[600], f_pf[400], f_work[400], f_res[256], log[400], pf[350];
    char *argv[16];
    size_t n = 0;
    argv[n++] = (char *)itest_bin("mesos-agent", bin, sizeof bin);
    snprintf(f_master, sizeof f_master, "--master=%s", master);
    argv[n++] = f_master;
    argv[n++] = "--ip=127.0.0.1";
    argv[n++] = "--port=0";
    snprintf(pf, sizeof pf, "%s/agent.port", dir);
    snprintf(f_pf, sizeof f_pf, "--port_file=%s", pf);
    argv[n++] = f_pf;
    snprintf(f_work, sizeof f_work, "--work_dir=%s/work", dir);
    argv[n++] = f_work;
    snprintf(f_res, sizeof f_res, "--resources=%s",
             resources ? resources : "cpus:2;mem:1024;disk:1024");
    argv[n++] = f_res;
    argv[n] = NULL;
    snprintf(log, sizeof log, "%s/agent.log", dir);
    if ((rc = itest_proc_spawn(p, "mesos-agent", argv, log)) != 0)
        return rc;
    int dummy;
    return wait_port(p, pf, port ? port : &dummy);
}

int itest_ha_elected(int port)
{
    struct itest_http_resp r;
    if (itest_http(port, "GET", "/metrics/snapshot", NULL, NULL, 0, &r, 2000) != 0)
        return -1;
    int out = -1;
    json_t *o = r.status == 200 ? json_loadb((const char *)r.body, r.body_len, 0, NULL) : NULL;
    json_t *v = o ? json_object_get(o, "master/elected") : NULL;
    if (json_is_number(v))
        out = json_number_value(v) >= 1 ? 1 : 0;
    json_decref(o);
    itest_http_resp_cleanup(&r);
    return out;
}

int itest_ha_count_elected(struct itest_ha_master *ms, size_t n)
{
    int count = 0;
    for (size_t i = 0; i < n; i++)
        if (ms[i].port > 0 && !ms[i].proc.exited && itest_ha_elected(ms[i].port) == 1)
            count++;
    return count;
}

static int serves_state(int port)
{
    struct itest_http_resp r;
    if (itest_http(port, "GET", "/master/state", NULL, NULL, 0, &r, 2000) != 0)
        return 0;
    int ok = 0;
    if (r.status == 200) {
        json_t *o = json_loadb((const char *)r.body, r.body_len, 0, NULL);
        const char *leader = json_string_value(json_object_get(o, "leader"));
        char want[64];
        snprintf(want, sizeof want, ":%d", port);
        ok = leader && strstr(leader, want) != NULL;
        json_decref(o);
    }
    itest_http_resp_cleanup(&r);
    return ok;
}

int itest_ha_wait_leader(struct itest_ha_master *ms, size_t n, int timeout_ms)
{
    long long deadline = itest_ha_now_ms() + timeout_ms;
    while (itest_ha_now_ms() < deadline) {
        int found = -1, count = 0;
        for (size_t i = 0; i < n; i++) {
            if (ms[i].port <= 0 || ms[i].proc.exited || !itest_proc_alive(&ms[i].proc))
                continue;
            if (itest_ha_elected(ms[i].port) == 1) {
                count++;
                found = (int)i;
            }
        }
        if (count == 1 && serves_state(ms[found].port))
            return found;
        itest_ha_sleep_ms(50);
    }
    fprintf(stderr, "itest: no single leader among %zu masters within %d ms\n", n, timeout_ms);
    return -1;
}

static int agent_state(int port, const char *agent_id, char *out, size_t len)
{
    json_t *st = itest_get_json(port, "/master/state");
    json_t *slaves = st ? json_object_get(st, "slaves") : NULL;
    int found = 0;
    size_t i;
    json_t *a;
    json_array_foreach(slaves, i, a)
    {
        const char *id = json_string_value(json_object_get(a, "id"));
        json_t *active = json_object_get(a, "active");
        if (!id || (active && !json_is_true(active)))
            continue;
        if (agent_id && strcmp(agent_id, id) != 0)
            continue;
        if (out)
            snprintf(out, len, "%s", id);
        found = 1;
        break;
    }
    json_decref(st);
    return found;
}

int itest_ha_wait_agent(int port, const char *agent_id, int timeout_ms)
{
    long long deadline = itest_ha_now_ms() + timeout_ms;
    while (itest_ha_now_ms() < deadline) {
        if (agent_state(port, agent_id, NULL, 0))
            return 0;
        itest_ha_sleep_ms(50);
    }
    fprintf(stderr, "itest: agent %s not active on master :%d within %d ms\n",
            agent_id ? agent_id : "(any)", port, timeout_ms);
    return -ETIMEDOUT;
}

int itest_ha_agent_id(int port, char *out, size_t len)
{
    out[0] = 0;
    return agent_state(port, NULL, out, len) ? 0 : -ENOENT;
}
