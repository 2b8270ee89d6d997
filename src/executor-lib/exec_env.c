/* exec_env.c: what the agent tells an executor through its environment (protocol doc §4.5),
 * read into struct cm_exec_env (cm_exec_env_from_env, cm_exec_env_cleanup: the public half,
 * declared in include/cmesos/executor.h) and copied into a new executor (exec_env_copy, in
 * exec_internal.h). Every variable is checked: ids as ids, the agent endpoint as "host:port",
 * durations as durations, no line break in the token (it becomes a header). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "exec_internal.h"
#include "flags.h"
#include "ids.h"
#include "util.h"

static const char *env_get(char *const *envp, const char *name)
{
    size_t len = strlen(name);
    for (char *const *p = envp; p && *p; p++)
        if (strncmp(*p, name, len) == 0 && (*p)[len] == '=')
            return *p + len + 1;
    return NULL;
}

static int env_duration(char *const *envp, const char *name, double dflt, double *out, char *why,
                        size_t whylen)
{
    const char *v = env_get(envp, name);
    *out = dflt;
    if (!v || !v[0])
        return 0;
    if (cm_duration_parse(v, out) != 0 || !isfinite(*out) || *out < 0)
        return cm_fail(CM_EINVAL, why, whylen, "%s: invalid duration '%s'", name, v);
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- the environment ---------------------------------------------------------------------- */

extern char **environ;

int cm_exec_env_from_env(struct cm_exec_env *env, char *const *envp, char *why, size_t whylen)
{
    static const char *const required[] = {"MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID",
                                           "MESOS_SLAVE_ID", "MESOS_AGENT_ENDPOINT"};
    const char *values[4];
    if (!envp)
        envp = environ;
    memset(env, 0, sizeof *env);
    for (size_t i = 0; i < 4; i++) {
        const char *idwhy;
        values[i] = env_get(envp, required[i]);
        if (!values[i] || !values[i][0])
            return cm_fail(CM_EINVAL, why, whylen, "%s is not set", required[i]);
        if (i < 3 && cm_id_validate(values[i], &idwhy) != 0)
            return cm_fail(CM_EINVAL, why, whylen, "%s '%s' is invalid: %s", required[i], values[i],
                           idwhy);
    }
    /* The endpoint becomes the authority of a URL: "host:port", nothing else. */
    const char *ep = values[3];
    const char *port = strrchr(ep, ':');
    char *port_end = NULL;
    long port_num = port ? strtol(port + 1, &port_end, 10) : 0;
    if (!port || port == ep || !port[1] || *port_end || port_num < 1 || port_num > 65535 ||
        strpbrk(ep, "/?#@ \t\r\n") || strlen(ep) > 255)
        return cm_fail(CM_EINVAL, why, whylen, "MESOS_AGENT_ENDPOINT '%s' is not 'ip:port'", ep);

    double grace, recovery, backoff;
    int rc = env_duration(envp, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", 5.0, &grace, why, whylen);
    if (!rc)
        rc = env_duration(envp, "MESOS_RECOVERY_TIMEOUT", 15 * 60.0, &recovery, why, whylen);
    if (!rc)
        rc = env_duration(envp, "MESOS_SUBSCRIPTION_BACKOFF_MAX", 2.0, &backoff, why, whylen);
    if (rc)
        return rc;
    const char *token = env_get(envp, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN");
    if (token && strpbrk(token, "\r\n"))
        return cm_fail(CM_EINVAL, why, whylen,
                       "MESOS_EXECUTOR_AUTHENTICATION_TOKEN contains a line break");
    const char *ckpt = env_get(envp, "MESOS_CHECKPOINT");
    const char *sandbox = env_get(envp, "MESOS_SANDBOX");
    if (!sandbox || !sandbox[0])
        sandbox = env_get(envp, "MESOS_DIRECTORY");
    const char *ssl = env_get(envp, "LIBPROCESS_SSL_ENABLED");

    env->framework_id = cm_xstrdup(values[0]);
    env->executor_id = cm_xstrdup(values[1]);
    env->agent_id = cm_xstrdup(values[2]);
    env->agent_endpoint = cm_xstrdup(ep);
    env->sandbox = sandbox && sandbox[0] ? cm_xstrdup(sandbox) : NULL;
    env->checkpoint = ckpt && strcmp(ckpt, "1") == 0;
    env->shutdown_grace = grace;
    env->recovery_timeout = recovery;
    env->backoff_max = backoff;
    env->authentication_token = token && token[0] ? cm_xstrdup(token) : NULL;
    env->https = ssl && (strcasecmp(ssl, "true") == 0 || strcmp(ssl, "1") == 0);
    return 0;
}

void cm_exec_env_cleanup(struct cm_exec_env *env)
{
    if (!env)
        return;
    free(env->framework_id);
    free(env->executor_id);
    free(env->agent_id);
    free(env->agent_endpoint);
    free(env->sandbox);
    if (env->authentication_token) {
        memset(env->authentication_token, 0, strlen(env->authentication_token));
        free(env->authentication_token);
    }
    memset(env, 0, sizeof *env);
}

int exec_env_copy(struct cm_exec_env *dst, const struct cm_exec_env *src)
{
    *dst = *src;
    dst->framework_id = dup_or_null(src->framework_id);
    dst->executor_id = dup_or_null(src->executor_id);
    dst->agent_id = dup_or_null(src->agent_id);
    dst->agent_endpoint = dup_or_null(src->agent_endpoint);
    dst->sandbox = dup_or_null(src->sandbox);
    dst->authentication_token = dup_or_null(src->authentication_token);
    if ((src->framework_id && !dst->framework_id) || (src->executor_id && !dst->executor_id) ||
        (src->agent_id && !dst->agent_id) || (src->agent_endpoint && !dst->agent_endpoint) ||
        (src->sandbox && !dst->sandbox) ||
        (src->authentication_token && !dst->authentication_token)) {
        cm_exec_env_cleanup(dst);
        return -ENOMEM;
    }
    return 0;
}
