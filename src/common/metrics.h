/*
 * metrics.h: helpers that fill a /metrics/snapshot JSON object, shared by the master and the
 * agent so both report resources and host figures under the same keys and the same way.
 *
 * Every value is a JSON real, as Mesos reports them. The object is borrowed; keys are copied.
 * No state; call from the daemon's loop.
 */
#ifndef CM_METRICS_H
#define CM_METRICS_H

#include <jansson.h>

#include "resources.h"

/* Sets o[key] to v. */
void cm_metrics_set(json_t *o, const char *key, double v);

/* For cpus, gpus, mem and disk: <prefix>/<name>_total, _used, _percent (used / total, 0 when
 * there is no total) and the _revocable_ variants (always 0: cmesos has no revocable
 * resources). */
void cm_metrics_resources(json_t *o, const char *prefix, const struct cm_resources *total,
                          const struct cm_resources *used);

/* The host: system/cpus_total, system/load_{1,5,15}min and system/mem_{total,free}_bytes. A
 * figure the kernel does not give is reported as 0 (cpus, load) or left out (memory). */
void cm_metrics_system(json_t *o);

#endif
