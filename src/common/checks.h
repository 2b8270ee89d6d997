/*
 * checks.h: validation of a task's health check (TaskInfo.health_check, a HealthCheck) and
 * general check (TaskInfo.check, a CheckInfo), shared by the master and the command executor.
 *
 * The master validates both at ACCEPT (an invalid one makes the task TASK_ERROR with
 * REASON_TASK_INVALID), and the executor validates them again before it builds its prober from
 * them, so the rules live here once. Only the messages are checked: timings (with Mesos's
 * defaults: delay 15, interval 10, timeout 20, grace 10) must be finite, non-negative and at most
 * a year; the type must be COMMAND, HTTP or TCP with its sub-message present; ports are in
 * 1..65535; an HTTP path starts with '/', is at most CM_CHECK_MAX_PATH_LEN bytes and holds no
 * spaces, control bytes or '#'; a health check's HTTP scheme is "http" and its statuses are HTTP
 * statuses; a command has a value and environment variables with valid names and no SECRETs
 * (the command executor cannot resolve them).
 *
 * Pure functions: no allocation, no state, any thread. Errors: CM_EINVAL with a why text naming
 * the field, e.g. "health_check.tcp.port 0 is not in 1..65535".
 */
#ifndef CM_COMMON_CHECKS_H
#define CM_COMMON_CHECKS_H

#include <stddef.h>

#include "mesos/v1/mesos.pb-c.h"

/* The longest HTTP check path accepted (it goes into a URL buffer of the prober). */
#define CM_CHECK_MAX_PATH_LEN 2048

/* Returns 0 when hc is a valid health check, else CM_EINVAL with why ("health_check is
 * missing" for NULL). */
int cm_check_validate_health(const Mesos__V1__HealthCheck *hc, char *why, size_t whylen);

/* Returns 0 when ci is a valid check, else CM_EINVAL with why ("check is missing" for NULL). */
int cm_check_validate_check(const Mesos__V1__CheckInfo *ci, char *why, size_t whylen);

#endif
