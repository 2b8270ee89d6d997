/* metrics.c: see metrics.h. */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/sysinfo.h>
#include <unistd.h>

void cm_metrics_set(json_t *o, const char *key, double v)
{
    json_object_set_new(o, key, json_real(v));
}

void cm_metrics_resources(json_t *o, const char *prefix, const struct cm_resources *total,
                          const struct cm_resources *used)
{
    static const char *const names[] = {"cpus", "gpus", "mem", "disk"};
    char k[256];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        double t = cm_scalar_to_double(cm_resources_scalar(total, names[i]));
        double u = cm_scalar_to_double(cm_resources_scalar(used, names[i]));
        snprintf(k, sizeof k, "%s/%s_total", prefix, names[i]);
        cm_metrics_set(o, k, t);
        snprintf(k, sizeof k, "%s/%s_used", prefix, names[i]);
        cm_metrics_set(o, k, u);
        snprintf(k, sizeof k, "%s/%s_percent", prefix, names[i]);
        cm_metrics_set(o, k, t > 0 ? u / t : 0);
        snprintf(k, sizeof k, "%s/%s_revocable_total", prefix, names[i]);
        cm_metrics_set(o, k, 0);
        snprintf(k, sizeof k, "%s/%s_revocable_used", prefix, names[i]);
        cm_metrics_set(o, k, 0);
        snprintf(k, sizeof k, "%s/%s_revocable_percent", prefix, names[i]);
        cm_metrics_set(o, k, 0);
    }
}

void cm_metrics_system(json_t *o)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cm_metrics_set(o, "system/cpus_total", ncpu > 0 ? (double)ncpu : 0);
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) != 3)
        load[0] = load[1] = load[2] = 0;
    cm_metrics_set(o, "system/load_1min", load[0]);
    cm_metrics_set(o, "system/load_5min", load[1]);
    cm_metrics_set(o, "system/load_15min", load[2]);
    struct sysinfo si;
    if (sysinfo(&si) == 0) {
        cm_metrics_set(o, "system/mem_total_bytes", (double)si.totalram * si.mem_unit);
        cm_metrics_set(o, "system/mem_free_bytes", (double)si.freeram * si.mem_unit);
    }
}
