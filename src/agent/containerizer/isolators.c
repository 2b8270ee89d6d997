/*
 * isolators.c: the isolator table (isolators.h): cgroups limits and usage, posix usage, and
 * the namespace isolators (flags only).
 */
#include "isolators.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int cpu_prepare(const struct iso_ctx *x, const char *id, const struct container *ct,
                       char *why, size_t whylen)
{
    struct cm_cgroups_limits l = {.cpus = ct->cpus, .cfs_quota = x->opts->cgroups_enable_cfs};
    return cm_cgroups_set_limits(x->cg, id, &l, why, whylen);
}

static void cpu_usage(const struct iso_ctx *x, const struct container *ct,
                      const struct cm_cgroups_usage *u, json_t *s)
{
    (void)x;
    (void)ct;
    if (u->have & CM_CG_BIT(CM_CG_CPUACCT)) {
        json_object_set_new(s, "cpus_user_time_secs", json_real(u->cpus_user_time_secs));
        json_object_set_new(s, "cpus_system_time_secs", json_real(u->cpus_system_time_secs));
    }
    if (u->have & CM_CG_BIT(CM_CG_CPU)) {
        json_object_set_new(s, "cpus_nr_periods", json_integer((json_int_t)u->cpus_nr_periods));
        json_object_set_new(s, "cpus_nr_throttled", json_integer((json_int_t)u->cpus_nr_throttled));
        json_object_set_new(s, "cpus_throttled_time_secs", json_real(u->cpus_throttled_time_secs));
    }
}

static int mem_prepare(const struct iso_ctx *x, const char *id, const struct container *ct,
                       char *why, size_t whylen)
{
    struct cm_cgroups_limits l = {.mem_bytes = (uint64_t)(ct->mem_mb * MB),
                                  .limit_swap = x->opts->cgroups_limit_swap};
    return cm_cgroups_set_limits(x->cg, id, &l, why, whylen);
}

static void mem_usage(const struct iso_ctx *x, const struct container *ct,
                      const struct cm_cgroups_usage *u, json_t *s)
{
    (void)x;
    (void)ct;
    if (!(u->have & CM_CG_BIT(CM_CG_MEMORY)))
        return;
    json_object_set_new(s, "mem_total_bytes", json_integer((json_int_t)u->mem_total_bytes));
    json_object_set_new(s, "mem_rss_bytes", json_integer((json_int_t)u->mem_rss_bytes));
    json_object_set_new(s, "mem_anon_bytes", json_integer((json_int_t)u->mem_rss_bytes));
    json_object_set_new(s, "mem_cache_bytes", json_integer((json_int_t)u->mem_cache_bytes));
    json_object_set_new(s, "mem_file_bytes", json_integer((json_int_t)u->mem_cache_bytes));
}

static int pids_prepare(const struct iso_ctx *x, const char *id, const struct container *ct,
                        char *why, size_t whylen)
{
    if (ct->pids_preset)
        return 0; /* a pool entry comes with it */
    struct cm_cgroups_limits l = {.pids_max = x->opts->cgroups_max_pids};
    return cm_cgroups_set_limits(x->cg, id, &l, why, whylen);
}

static void pids_usage(const struct iso_ctx *x, const struct container *ct,
                       const struct cm_cgroups_usage *u, json_t *s)
{
    (void)x;
    (void)ct;
    if (u->have & CM_CG_BIT(CM_CG_PIDS))
        json_object_set_new(s, "processes", json_integer((json_int_t)u->pids_current));
}

/* posix/cpu: the leader's own and reaped children's cpu times from /proc/<pid>/stat (one
 * small read; Mesos walks the whole tree, the cgroups isolator is the precise one). */
static void posix_cpu_usage(const struct iso_ctx *x, const struct container *ct,
                            const struct cm_cgroups_usage *u, json_t *s)
{
    (void)x;
    (void)u;
    if (!ct->alive || json_object_get(s, "cpus_user_time_secs"))
        return;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)ct->pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    unsigned long long ut, st;
    long long cut, cst;
    /* Fields after comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime cutime cstime. */
    if (!rp || sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
                      &ut, &st, &cut, &cst) != 4)
        return;
    double hz = (double)sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    json_object_set_new(s, "cpus_user_time_secs",
                        json_real((double)(ut + (unsigned long long)cut) / hz));
    json_object_set_new(s, "cpus_system_time_secs",
                        json_real((double)(st + (unsigned long long)cst) / hz));
}

static const struct isolator isolator_table[] = {
    {.name = "posix/cpu", .usage = posix_cpu_usage},
    {.name = "posix/mem"},
    {.name = "posix/disk"},
    {.name = "cgroups/cpu",
     .cgroups = CM_CG_BIT(CM_CG_CPU) | CM_CG_BIT(CM_CG_CPUACCT),
     .prepare = cpu_prepare,
     .usage = cpu_usage},
    {.name = "cgroups/mem",
     .cgroups = CM_CG_BIT(CM_CG_MEMORY),
     .prepare = mem_prepare,
     .usage = mem_usage},
    {.name = "cgroups/pids",
     .cgroups = CM_CG_BIT(CM_CG_PIDS),
     .prepare = pids_prepare,
     .usage = pids_usage},
    /* A pid namespace needs its own mount namespace to show its own /proc. */
    {.name = "namespaces/pid", .clone_flags = CLONE_NEWPID | CLONE_NEWNS},
    {.name = "namespaces/ipc", .clone_flags = CLONE_NEWIPC},
    {.name = "namespaces/uts", .clone_flags = CLONE_NEWUTS},
    {.name = "filesystem/linux", .clone_flags = CLONE_NEWNS},
};
#define NISOLATORS (sizeof isolator_table / sizeof isolator_table[0])

const struct isolator *cm_isolator_find(const char *name)
{
    for (size_t i = 0; i < NISOLATORS; i++)
        if (strcmp(isolator_table[i].name, name) == 0)
            return &isolator_table[i];
    return NULL;
}
