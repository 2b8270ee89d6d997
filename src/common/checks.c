/* checks.c: validation of health checks and checks (see checks.h). */
#include "checks.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "errors.h"

static int check_duration(const char *what, const char *field, double v, char *why, size_t whylen)
{
    if (!isfinite(v) || v < 0)
        return cm_fail(CM_EINVAL, why, whylen, "%s.%s must be a non-negative number, not %g", what,
                       field, v);
    /* A year bounds the executor's timers and keeps the timeval conversion exact enough. */
    if (v > 365 * 86400.0)
        return cm_fail(CM_EINVAL, why, whylen, "%s.%s %g is longer than a year", what, field, v);
    return 0;
}

static int check_port(const char *what, uint32_t port, char *why, size_t whylen)
{
    if (port < 1 || port > 65535)
        return cm_fail(CM_EINVAL, why, whylen, "%s.port %u is not in 1..65535", what, port);
    return 0;
}

/* The path goes into a URL: it must be an absolute path without spaces or control bytes. */
static int check_path(const char *what, const char *path, char *why, size_t whylen)
{
    if (!path || !path[0])
        return 0;
    if (path[0] != '/')
        return cm_fail(CM_EINVAL, why, whylen, "%s.path '%s' must start with '/'", what, path);
    if (strlen(path) > CM_CHECK_MAX_PATH_LEN)
        return cm_fail(CM_EINVAL, why, whylen, "%s.path is longer than %d bytes", what,
                       CM_CHECK_MAX_PATH_LEN);
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '#')
            return cm_fail(CM_EINVAL, why, whylen,
                           "%s.path must not hold spaces, control characters or '#'", what);
    return 0;
}

/* The rules the executor's command runner applies when it builds argv and the environment;
 * checking them here makes a bad probe command fail at launch rather than at every probe. */
static int check_command(const char *what, const Mesos__V1__CommandInfo *cmd, char *why,
                         size_t whylen)
{
    if (!cmd)
        return cm_fail(CM_EINVAL, why, whylen, "%s must be set for a COMMAND check", what);
    if (!cmd->value || !cmd->value[0])
        return cm_fail(CM_EINVAL, why, whylen, "%s: command.value must be set", what);
    const Mesos__V1__Environment *env = cmd->environment;
    for (size_t i = 0; env && i < env->n_variables; i++) {
        const Mesos__V1__Environment__Variable *var = env->variables[i];
        const char *name = var->name ? var->name : "";
        if (!name[0] || strchr(name, '='))
            return cm_fail(CM_EINVAL, why, whylen,
                           "%s: command.environment.variables[%zu].name '%s' is not a valid name",
                           what, i, name);
        if (var->has_type && var->type == MESOS__V1__ENVIRONMENT__VARIABLE__TYPE__SECRET)
            return cm_fail(CM_EINVAL, why, whylen,
                           "%s: Environment variable '%s' is a SECRET, which the command executor "
                           "does not support",
                           what, name);
    }
    return 0;
}

int cm_check_validate_health(const Mesos__V1__HealthCheck *hc, char *why, size_t whylen)
{
    int rc;
    if (!hc)
        return cm_fail(CM_EINVAL, why, whylen, "health_check is missing");
    double delay = hc->has_delay_seconds ? hc->delay_seconds : 15.0;
    double interval = hc->has_interval_seconds ? hc->interval_seconds : 10.0;
    double timeout = hc->has_timeout_seconds ? hc->timeout_seconds : 20.0;
    double grace = hc->has_grace_period_seconds ? hc->grace_period_seconds : 10.0;
    if ((rc = check_duration("health_check", "delay_seconds", delay, why, whylen)) ||
        (rc = check_duration("health_check", "interval_seconds", interval, why, whylen)) ||
        (rc = check_duration("health_check", "timeout_seconds", timeout, why, whylen)) ||
        (rc = check_duration("health_check", "grace_period_seconds", grace, why, whylen)))
        return rc;
    if (!hc->has_type || hc->type == MESOS__V1__HEALTH_CHECK__TYPE__UNKNOWN)
        return cm_fail(CM_EINVAL, why, whylen,
                       "health_check.type must be set to COMMAND, HTTP or TCP");
    switch (hc->type) {
    case MESOS__V1__HEALTH_CHECK__TYPE__COMMAND:
        return check_command("health_check.command", hc->command, why, whylen);
    case MESOS__V1__HEALTH_CHECK__TYPE__HTTP: {
        const Mesos__V1__HealthCheck__HTTPCheckInfo *h = hc->http;
        if (!h)
            return cm_fail(CM_EINVAL, why, whylen,
                           "health_check.http must be set for an HTTP health check");
        if ((rc = check_port("health_check.http", h->port, why, whylen)) ||
            (rc = check_path("health_check.http", h->path, why, whylen)))
            return rc;
        /* Only plain HTTP: an https check against a self-signed endpoint would fail every
         * probe and kill a healthy task, so it is refused up front. */
        if (h->scheme && h->scheme[0] && strcmp(h->scheme, "http") != 0)
            return cm_fail(CM_EINVAL, why, whylen,
                           "health_check.http.scheme '%s' is not supported (only 'http')",
                           h->scheme);
        for (size_t i = 0; i < h->n_statuses; i++)
            if (h->statuses[i] < 100 || h->statuses[i] > 599)
                return cm_fail(CM_EINVAL, why, whylen,
                               "health_check.http.statuses[%zu] %u is not an HTTP status", i,
                               h->statuses[i]);
        return 0;
    }
    case MESOS__V1__HEALTH_CHECK__TYPE__TCP:
        if (!hc->tcp)
            return cm_fail(CM_EINVAL, why, whylen,
                           "health_check.tcp must be set for a TCP health check");
        return check_port("health_check.tcp", hc->tcp->port, why, whylen);
    default:
        return cm_fail(CM_EINVAL, why, whylen, "health_check.type %d is not known", (int)hc->type);
    }
}

int cm_check_validate_check(const Mesos__V1__CheckInfo *ci, char *why, size_t whylen)
{
    int rc;
    if (!ci)
        return cm_fail(CM_EINVAL, why, whylen, "check is missing");
    double delay = ci->has_delay_seconds ? ci->delay_seconds : 15.0;
    double interval = ci->has_interval_seconds ? ci->interval_seconds : 10.0;
    double timeout = ci->has_timeout_seconds ? ci->timeout_seconds : 20.0;
    if ((rc = check_duration("check", "delay_seconds", delay, why, whylen)) ||
        (rc = check_duration("check", "interval_seconds", interval, why, whylen)) ||
        (rc = check_duration("check", "timeout_seconds", timeout, why, whylen)))
        return rc;
    if (!ci->has_type || ci->type == MESOS__V1__CHECK_INFO__TYPE__UNKNOWN)
        return cm_fail(CM_EINVAL, why, whylen, "check.type must be set to COMMAND, HTTP or TCP");
    switch (ci->type) {
    case MESOS__V1__CHECK_INFO__TYPE__COMMAND:
        if (!ci->command)
            return cm_fail(CM_EINVAL, why, whylen, "check.command must be set for a COMMAND check");
        return check_command("check.command.command", ci->command->command, why, whylen);
    case MESOS__V1__CHECK_INFO__TYPE__HTTP:
        if (!ci->http)
            return cm_fail(CM_EINVAL, why, whylen, "check.http must be set for an HTTP check");
        if ((rc = check_port("check.http", ci->http->port, why, whylen)) ||
            (rc = check_path("check.http", ci->http->path, why, whylen)))
            return rc;
        return 0;
    case MESOS__V1__CHECK_INFO__TYPE__TCP:
        if (!ci->tcp)
            return cm_fail(CM_EINVAL, why, whylen, "check.tcp must be set for a TCP check");
        return check_port("check.tcp", ci->tcp->port, why, whylen);
    default: return cm_fail(CM_EINVAL, why, whylen, "check.type %d is not known", (int)ci->type);
    }
}
