/*
 * agent_auth.h: who may talk to the agent, and how the agent proves itself to the master
 * (Mesos's agent flags; docs/security.md).
 *
 * Three things, all set up once from the flags by agent_auth_init:
 *  - Executor authentication (--authenticate_http_executors with --jwt_secret_key): every
 *    executor is launched with MESOS_EXECUTOR_AUTHENTICATION_TOKEN, an HS256 JWT (jwt.h) whose
 *    claims name its framework ("fid"), executor ("eid") and container ("cid"). With the flag
 *    on, the executor API authenticates every call before reading its body: no or a bad
 *    "Authorization: Bearer" header is 401 with a Bearer challenge of realm
 *    "mesos-agent-executor" (Mesos's wording: error="invalid_token", error_description). Once
 *    the call's framework and executor are looked up, the claims must name them and the
 *    executor's current container: otherwise 403 (agent_auth_executor_claims). With only
 *    --jwt_secret_key, tokens are still handed out (as Mesos does) but not required.
 *  - Endpoint authentication (--authenticate_http_readonly / --authenticate_http_readwrite with
 *    --http_credentials): an HTTP server guard (http_server.h) asks for HTTP Basic credentials
 *    on the endpoints Mesos puts in the agent's read-only realm (/state, /state.json, /flags,
 *    /files/{browse,read,download,debug}, /monitor/statistics, /containers,
 *    /containerizer/debug, /metrics/snapshot) and read-write realm (/api/v1, /logging/toggle);
 *    a refusal is 401 with "WWW-Authenticate: Basic realm=\"mesos-agent-readonly\"" (or
 *    -readwrite). /health, /version and the executor API are never Basic-authenticated.
 *  - The agent's own credential (--credential): loaded once; the master link sends it as
 *    HTTP Basic on REGISTER and on every call (agent_auth_master_authorization).
 *
 * As in Mesos, when executor authentication is on, a valid executor token ("Authorization:
 * Bearer") also opens the read-only and read-write endpoints (Mesos puts its JWT authenticator
 * in those realms too); such a request has no principal value, so the ACLs see it as ANY.
 *
 * Authorization (--acls, the local authorizer of acls.h; docs/authentication-agent.md): the
 * endpoints ask agent_auth_principal for the request's principal (NULL when the realm is not
 * authenticated, as Mesos treats it: anonymous, the ACLs' ANY) and check the action Mesos's
 * agent checks, with the object Mesos passes (the user a framework, executor or task runs as).
 * A refusal is 403 with a text body naming the action ("... is not authorized to
 * access_sandboxes ..."). Without --acls everything is allowed.
 *
 * Errors: agent_auth_init returns CM_EINVAL (a flag that needs another, a key or credentials
 * file that cannot be read, with why naming the flag). Ownership: everything lives in the agent
 * struct and is released by agent_auth_cleanup. Threading: the agent's loop.
 */
#ifndef CM_AGENT_AUTH_H
#define CM_AGENT_AUTH_H

#include <jansson.h>
#include <stddef.h>

#include <stdbool.h>

#include "acls.h"

struct cm_agent;
struct agent_executor;
struct agent_framework;
struct agent_task;
struct cm_http_request;

/* Reads --jwt_secret_key, --credential and --http_credentials and checks the flags that need
 * them. Installs the endpoint guard when a->http exists. Returns 0 or CM_EINVAL/-errno with
 * why. */
int agent_auth_init(struct cm_agent *a, char *why, size_t whylen);
/* Installs the endpoint guard on a->http (no-op without --authenticate_http_*). */
void agent_auth_install_guard(struct cm_agent *a);
void agent_auth_cleanup(struct cm_agent *a);

/* The token for executor e (malloc'd), or NULL when no --jwt_secret_key is set. Aborts only
 * out of memory; ids too long for a token are logged and yield NULL. */
char *agent_auth_executor_token(struct cm_agent *a, const struct agent_executor *e);

/* With --authenticate_http_executors: checks the request's Bearer token. Returns 0 and
 * *claims (owned) when valid, or 0 and *claims NULL when executor authentication is off;
 * otherwise 401, having answered the request (401 with the challenge). */
int agent_auth_executor_request(struct cm_agent *a, struct cm_http_request *req, json_t **claims);
/* The claims must name e's framework, executor and container. Returns 0 or 403 with why. */
int agent_auth_executor_claims(const json_t *claims, const struct agent_executor *e, char *why,
                               size_t whylen);

/* The principal of an endpoint request (malloc'd, the caller frees), or NULL: the HTTP Basic
 * principal when the request's realm (readwrite: /api/v1 and /logging/toggle; else the
 * read-only realm) requires authentication and the credentials are valid for
 * --http_credentials (the route guard has already refused invalid ones); NULL when the realm
 * is not authenticated or the request carries an executor's token. */
char *agent_auth_principal(struct cm_agent *a, struct cm_http_request *req, bool readwrite);

/* Whether principal (NULL: ANY) may perform action on object (NULL: ANY) under --acls. */
bool agent_authorized(const struct cm_agent *a, enum cm_acl_action action, const char *principal,
                      const char *object);
/* The same, with a refusal as 403 and why "Principal 'p' is not authorized to <action> ...".
 * Returns 0 or 403. */
int agent_authorize(const struct cm_agent *a, enum cm_acl_action action, const char *principal,
                    const char *object, char *why, size_t whylen);
/* agent_authorize that answers the request with 403 and the text on refusal: true when
 * allowed. */
bool agent_authorize_http(const struct cm_agent *a, struct cm_http_request *req,
                          enum cm_acl_action action, const char *principal, const char *object);

/* The users Mesos's local authorizer takes as the object of view_frameworks (the framework's
 * user), view_executors and access_sandboxes (the executor's CommandInfo.user, else the
 * framework's), view_tasks (the task's CommandInfo.user, else the framework's). NULL (ANY)
 * when none is set. */
const char *agent_auth_framework_user(const struct agent_framework *f);
const char *agent_auth_executor_user(const struct agent_executor *e);
const char *agent_auth_task_user(const struct agent_task *t, const struct agent_framework *f);

/* Access to the files under an attached /files root (files.h's real path): access_mesos_logs
 * for the agent's log (/slave/log), access_sandboxes with the sandbox's executor user for a
 * sandbox (live or completed executor), access_sandboxes with ANY for a root no executor is
 * known for; root NULL is /files/debug (get_endpoints with that path). Returns 0 or 403 with
 * why. */
int agent_auth_files(const struct cm_agent *a, const char *principal, const char *root, char *why,
                     size_t whylen);
/* Installs agent_auth_files as a->files's authorization hook (files.h). */
void agent_auth_install_files(struct cm_agent *a);

/* The value of the Authorization header the agent sends the master ("Basic ..."), or NULL
 * without --credential. Owned by the agent. */
const char *agent_auth_master_authorization(const struct cm_agent *a);

#endif
