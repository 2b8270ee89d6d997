/*
 * prometheus.h: the /metrics endpoint of master and agent — a /metrics/snapshot object (metrics.h:
 * metric name -> number) rendered in Prometheus's text exposition format, version 0.0.4.
 *
 * Every numeric snapshot value becomes one sample, under a family with one "# HELP" line (naming
 * the Mesos metric it comes from) and one "# TYPE" line. The rules, applied in this order:
 *
 *  Labels. Parts of a Mesos name that are identifiers become labels, so a dashboard sums or
 *  filters over them instead of meeting one family per framework or role:
 *    master/frameworks/<url-encoded name>/<id>/<rest>  -> master/frameworks/<rest>
 *        {framework_id="<id>", framework_name="<decoded name>"}
 *    .../roles/<role>/<rest> and .../role/<role>/<rest>  -> .../roles/<rest> {role="<role>"}
 *        (a hierarchical role "a/b" is found by the known endings shares/dominant, active,
 *        suppressed and resources/<r>/<kind>; otherwise the role is one path segment)
 *    .../roles/<role>/resources/<r>/<kind>  -> also {resource="<r>"}
 *  Name. "mesos_" + the remaining Mesos name with every character outside [A-Za-z0-9_]
 *  replaced by '_' (runs collapsed, none trailing): "master/tasks_running" ->
 *  "mesos_master_tasks_running".
 *  Type. Mesos does not say on the wire which metrics are counters; cmesos knows from Mesos's
 *  sources which of its names are (the table in prometheus.c: task terminal-state counts, message
 *  counts, valid/invalid counts, registrations/removals, framework calls/events/offers, GC and
 *  fetcher results, ...). A counter is TYPE counter and its name ends in "_total" (appended unless
 *  present). Everything else is a gauge, and a gauge never ends in "_total" (Prometheus reserves
 *  it for counters): "master/cpus_total" -> "mesos_master_cpus".
 *  Timers. A Mesos timer "<x>_ms" is reported in seconds (Prometheus's base unit; values divided
 *  by 1000): its statistics "<x>_ms/{min,p50,p90,p95,p99,p999,p9999,max}" become one summary
 *  "<x>_seconds" with quantile labels 0, 0.5, ... 1 and "<x>_ms/count" its "_count"; the bare
 *  "<x>_ms" (the last value measured) becomes the gauge "<x>_last_seconds".
 *  Collisions. If two Mesos names land on the same family and label set, the first in
 *  byte order of the Mesos names wins and the other is left out (never two samples alike).
 *
 * Label values and HELP text are escaped as the format requires (backslash, double quote in
 * label values, newline). Families and samples come out sorted, so equal snapshots give equal
 * text. The output is valid for `promtool check metrics` (its lint rules included).
 *
 * No state; the snapshot is borrowed. Threading: any.
 */
#ifndef CM_PROMETHEUS_H
#define CM_PROMETHEUS_H

#include <jansson.h>
#include <stddef.h>

struct cm_http_request;

/* The Content-Type of the text exposition format. */
#define CM_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Renders snapshot into a malloc'd, NUL-terminated *out of *len bytes (NUL not counted).
 * Values that are not numbers are left out. Returns 0, or CM_EINVAL when snapshot is not a
 * JSON object (*out is then NULL). */
int cm_prom_render(const json_t *snapshot, char **out, size_t *len);

/* Answers req with 200 and the rendered snapshot (taken: decref'd here), or 500 if snapshot
 * is not an object. */
void cm_prom_respond(struct cm_http_request *req, json_t *snapshot);

#endif
