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
 * in those realms too); there is no authorization of what it may see there yet.
 *
 * Errors: agent_auth_init returns CM_EINVAL (a flag that needs another, a key or credentials
 * file that cannot be read, with why naming the flag). Ownership: everything lives in the agent
 * struct and is released by agent_auth_cleanup. Threading: the agent's loop.
 */
#ifndef CM_AGENT_AUTH_H
#define CM_AGENT_AUTH_H

#include <jansson.h>
#include <stddef.h>

struct cm_agent;
struct agent_executor;
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

/* The value of the Authorization header the agent sends the master ("Basic ..."), or NULL
 * without --credential. Owned by the agent. */
const char *agent_auth_master_authorization(const struct cm_agent *a);

#endif
