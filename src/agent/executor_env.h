/*
 * executor_env.h: the environment an executor is started with (docs/wire-protocol.md §4.5).
 *
 * Base: the agent's own environment, or exactly --executor_environment_variables when that
 * flag is set (LIBPROCESS_IP is still copied from the agent's environment then). The MESOS_*
 * variables are laid over it. For command tasks CommandInfo.environment is the *task's*
 * environment: the command executor applies it to the task, so it is not added here.
 */
#ifndef CM_AGENT_EXECUTOR_ENV_H
#define CM_AGENT_EXECUTOR_ENV_H

#include <jansson.h>
#include <stdbool.h>

#include "mesos/v1/mesos.pb-c.h"

struct cm_executor_env_params {
    const char *framework_id;
    const char *executor_id;
    const char *agent_id;
    const char *agent_ip; /* advertised IP */
    int agent_port;
    const char *directory; /* sandbox on the host */
    const char *sandbox;   /* sandbox as the executor sees it (NULL = directory) */
    bool checkpoint;
    double shutdown_grace_period;    /* seconds */
    double recovery_timeout;         /* --recovery_timeout; 0 = 15mins */
    double subscription_backoff_max; /* --executor_reregistration_timeout; 0 = 2secs */
    const json_t *env_flag;          /* --executor_environment_variables object, or NULL */
    char *const *inherited;          /* the agent's environ */
    /* MESOS_EXECUTOR_AUTHENTICATION_TOKEN (agent_auth.h), or NULL: then the variable is not
     * set, even when the agent's own environment has it. */
    const char *auth_token;
    /* A framework's custom executor: MESOS_HTTP_COMMAND_EXECUTOR is not set, and its
     * CommandInfo.environment (command_env, VALUE variables) is laid over everything else, as
     * Mesos applies an executor's own environment last. */
    bool custom;
    const Mesos__V1__Environment *command_env;
};

/* Returns a NULL-terminated "NAME=value" array (malloc'd strings); free with
 * cm_executor_env_free. Later assignments of a name replace earlier ones. */
char **cm_executor_env_build(const struct cm_executor_env_params *p);
void cm_executor_env_free(char **env);
/* Value of name in env or NULL (for tests and logs). */
const char *cm_executor_env_get(char *const *env, const char *name);

/* Checks that text is a JSON object of string values (the flag's contract). Returns a new
 * reference or NULL with why filled. */
json_t *cm_executor_env_parse_flag(const char *text, char *why, size_t whylen);

#endif
