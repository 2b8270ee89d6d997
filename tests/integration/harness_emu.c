/* harness_emu.c: see harness_emu.h. */
#include "harness_emu.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"

/* Starts mesos-agent-emulator against the cluster's master; waits for its control port. */
int itest_emu_start(struct itest_emu *e, const struct itest_cluster *c, int agents,
                    const char *resources, const char *run_time, const char *extra)
{
    char bin[512], f_master[128], f_agents[64], f_res[256], f_cpf[600], cpf[512], log[512],
        f_rt[128];
    snprintf(cpf, sizeof cpf, "%s/emu.port", c->dir);
    snprintf(log, sizeof log, "%s/emulator.log", c->dir);
    snprintf(f_master, sizeof f_master, "--master=%s", c->master_addr);
    snprintf(f_agents, sizeof f_agents, "--agents=%d", agents);
    snprintf(f_res, sizeof f_res, "--resources=%s", resources);
    snprintf(f_cpf, sizeof f_cpf, "--control_port_file=%s", cpf);
    snprintf(f_rt, sizeof f_rt, "--task_run_time=%s", run_time);
    char *const argv[] = {(char *)itest_bin("mesos-agent-emulator", bin, sizeof bin),
                          f_master,
                          f_agents,
                          f_res,
                          f_rt,
                          "--control_port=0",
                          f_cpf,
                          "--registration_backoff_factor=200ms",
                          "--update_retry=2secs",
                          "--logging_level=WARNING",
                          (char *)extra,
                          NULL};
    if (itest_proc_spawn(&e->proc, "emulator", argv, log) != 0)
        return -1;
    for (int i = 0; i < 200; i++) {
        char *s = itest_read_file(cpf, NULL);
        if (s) {
            e->ctl_port = atoi(s);
            free(s);
            if (e->ctl_port > 0)
                return 0;
        }
        if (!itest_proc_alive(&e->proc))
            break;
        usleep(50000);
    }
    fprintf(stderr, "emulator did not open its control socket\n");
    return -1;
}

/* One control command; the one-line answer goes into out. Returns 0 or -1. */
int itest_emu_ctl(const struct itest_emu *e, const char *cmd, char *out, size_t outlen)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)e->ctl_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char line[256];
    int n = snprintf(line, sizeof line, "%s\n", cmd);
    if (write(fd, line, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got + 1 < outlen) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0)
            break;
        ssize_t r = read(fd, out + got, outlen - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (memchr(out, '\n', got))
            break;
    }
    out[got] = 0;
    close(fd);
    char *nl = strchr(out, '\n');
    if (!nl)
        return -1;
    *nl = 0;
    return 0;
}

/* A counter from the emulator's stats, or -1. */
long long itest_emu_stat(const struct itest_emu *e, const char *key)
{
    char out[4096];
    if (itest_emu_ctl(e, "stats", out, sizeof out) != 0)
        return -1;
    json_t *j = json_loads(out, 0, NULL);
    json_t *v = j ? json_object_get(j, key) : NULL;
    long long r = json_is_number(v) ? (long long)json_number_value(v) : -1;
    json_decref(j);
    return r;
}

long long itest_metric(int port, const char *key)
{
    json_t *j = itest_get_json(port, "/metrics/snapshot");
    json_t *v = j ? json_object_get(j, key) : NULL;
    long long r = json_is_number(v) ? (long long)json_number_value(v) : -1;
    json_decref(j);
    return r;
}

bool itest_emu_wait(const struct itest_emu *e, const char *key, long long want, double secs)
{
    double end = cm_monotonic_secs() + secs;
    long long v = -1;
    while (cm_monotonic_secs() < end) {
        if ((v = itest_emu_stat(e, key)) == want)
            return true;
        usleep(100000);
    }
    fprintf(stderr, "emulator %s is %lld, expected %lld after %.0fs\n", key, v, want, secs);
    return false;
}

bool itest_metric_wait(int port, const char *key, long long want, double secs)
{
    double end = cm_monotonic_secs() + secs;
    long long v = -1;
    while (cm_monotonic_secs() < end) {
        if ((v = itest_metric(port, key)) == want)
            return true;
        usleep(200000);
    }
    fprintf(stderr, "master %s is %lld, expected %lld after %.0fs\n", key, v, want, secs);
    return false;
}

int itest_emu_master_start(struct itest_cluster *c, const char *const *extra)
{
    static const char *const base_flags[] = {"--registry=in_memory", "--max_connections=20000",
                                             NULL};
    const char *flags[16];
    size_t n = 0;
    for (size_t i = 0; base_flags[i]; i++)
        flags[n++] = base_flags[i];
    for (size_t i = 0; extra && extra[i] && n < 15; i++)
        flags[n++] = extra[i];
    flags[n] = NULL;
    struct itest_cluster_opts o = {.no_agent = 1, .master_flags = flags};
    return itest_cluster_start(c, &o);
}

int itest_emu_loadgen(const struct itest_cluster *c, int frameworks, int tasks, char *log,
                      size_t loglen, int *status)
{
    char bin[512], f_master[128], f_fws[64], f_tasks[64];
    snprintf(f_master, sizeof f_master, "--master=%s", c->master_addr);
    snprintf(f_fws, sizeof f_fws, "--frameworks=%d", frameworks);
    snprintf(f_tasks, sizeof f_tasks, "--tasks=%d", tasks);
    snprintf(log, loglen, "%s/loadgen.log", c->dir);
    char *const argv[] = {(char *)itest_bin("emulator-loadgen", bin, sizeof bin),
                          f_master,
                          f_fws,
                          f_tasks,
                          "--task_cpus=0.5",
                          "--task_mem=128",
                          "--task_run_time=0.3",
                          "--report_interval=0",
                          NULL};
    struct itest_proc lg;
    if (itest_proc_spawn(&lg, "loadgen", argv, log) != 0)
        return -1;
    *status = -1;
    return itest_proc_wait(&lg, 90000, status) == 0 ? 0 : -1;
}
