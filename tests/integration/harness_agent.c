/* harness_agent.c: see harness_agent.h. */
#define ITEST_HARNESS_IMPL
#include "harness_agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"

static long long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ms_sleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

const char *itest_agent_log(const struct itest_cluster *c)
{
    return c->agent.log;
}

int itest_agent_spawn(struct itest_cluster *c, const char *resources,
                      const char *const *extra_flags)
{
    static int runs;
    char bin[512], f_master[128], f_port[64], f_pf[400], f_work[400], f_res[256], log[400], pf[350];
    char *argv[48];
    size_t n = 0;
    snprintf(c->agent_work, sizeof c->agent_work, "%s/agent", c->dir);
    argv[n++] = (char *)itest_bin("mesos-agent", bin, sizeof bin);
    snprintf(f_master, sizeof f_master, "--master=%s", c->master_addr);
    argv[n++] = f_master;
    argv[n++] = "--ip=127.0.0.1";
    snprintf(f_port, sizeof f_port, "--port=%d", c->agent_port);
    argv[n++] = f_port;
    snprintf(pf, sizeof pf, "%s/agent.port", c->dir);
    unlink(pf);
    snprintf(f_pf, sizeof f_pf, "--port_file=%s", pf);
    argv[n++] = f_pf;
    snprintf(f_work, sizeof f_work, "--work_dir=%s", c->agent_work);
    argv[n++] = f_work;
    snprintf(f_res, sizeof f_res, "--resources=%s",
             resources ? resources : "cpus:2;mem:1024;disk:1024");
    argv[n++] = f_res;
    for (size_t i = 0; extra_flags && extra_flags[i] && n < 46; i++)
        argv[n++] = (char *)extra_flags[i];
    argv[n] = NULL;
    snprintf(log, sizeof log, "%s/agent-%d.log", c->dir, ++runs);
    memset(&c->agent, 0, sizeof c->agent);
    int rc = itest_proc_spawn(&c->agent, "mesos-agent", argv, log);
    if (rc)
        return rc;
    long long deadline = ms_now() + ITEST_WAIT_MS;
    while (ms_now() < deadline) {
        char *t = itest_read_file(pf, NULL);
        int v = t ? atoi(t) : 0;
        free(t);
        if (v > 0 && v < 65536) {
            c->agent_port = v;
            return 0;
        }
        if (!itest_proc_alive(&c->agent)) {
            fprintf(stderr, "itest: mesos-agent exited before writing its port file (0x%x)\n",
                    c->agent.status);
            return CM_ECLOSED;
        }
        ms_sleep(20);
    }
    fprintf(stderr, "itest: mesos-agent did not write its port file\n");
    return -ETIMEDOUT;
}

int itest_agent_wait_registered(struct itest_cluster *c, int timeout_ms)
{
    long long deadline = ms_now() + timeout_ms;
    while (ms_now() < deadline) {
        json_t *st = itest_get_json(c->master_port, "/master/state");
        json_t *slaves = st ? json_object_get(st, "slaves") : NULL;
        for (size_t i = 0; json_is_array(slaves) && i < json_array_size(slaves); i++) {
            json_t *a = json_array_get(slaves, i);
            const char *id = json_string_value(json_object_get(a, "id"));
            json_t *active = json_object_get(a, "active");
            if (!id || (active && !json_is_true(active)))
                continue;
            if (c->agent_id[0] && strcmp(c->agent_id, id) != 0)
                continue;
            snprintf(c->agent_id, sizeof c->agent_id, "%s", id);
            json_decref(st);
            return 0;
        }
        json_decref(st);
        if (!itest_proc_alive(&c->agent)) {
            fprintf(stderr, "itest: mesos-agent exited while waiting for its registration\n");
            return CM_ECLOSED;
        }
        ms_sleep(50);
    }
    fprintf(stderr, "itest: agent '%s' not active in the master within %d ms\n", c->agent_id,
            timeout_ms);
    return -ETIMEDOUT;
}

void itest_agent_kill9(struct itest_cluster *c)
{
    int status;
    if (itest_proc_signal(&c->agent, SIGKILL) == 0)
        itest_proc_wait(&c->agent, 5000, &status);
}
