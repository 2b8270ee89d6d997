/* master_auth.c: the master's authentication and authorization — loading --credentials,
 * --http_credentials and --acls, the agent-id binding check (master.h), and the HTTP guards of
 * the endpoints (master_http.h). docs/security.md describes the behaviour. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "master.h"
#include "master_http.h"
#include "util.h"

#define MOD "master"

int cm_master_auth_init(struct cm_master *m, char *why, size_t whylen)
{
    const struct cm_master_flags *f = m->flags;
    char inner[512];
    int rc;
    if (f->credentials) {
        rc = cm_auth_credentials_load(f->credentials, &m->credentials, NULL, inner, sizeof inner);
        if (rc)
            return cm_fail(rc, why, whylen, "%s (see --credentials)", inner);
        CM_INFO(MOD, "Loaded %zu credential(s) from --credentials", m->credentials->n);
    }
    if (f->http_credentials) {
        rc = cm_auth_credentials_load(f->http_credentials, &m->http_credentials, NULL, inner,
                                      sizeof inner);
        if (rc)
            return cm_fail(rc, why, whylen, "%s (see --http_credentials)", inner);
    }
    if (f->acls) {
        rc = cm_acls_load(f->acls, &m->acls, NULL, inner, sizeof inner);
        if (rc)
            return cm_fail(rc, why, whylen, "%s (see --acls)", inner);
        CM_INFO(MOD, "Authorization enabled (local authorizer, --acls)");
    }
    /* The same checks as flag parsing, for masters built from a flags struct (tests). */
    if ((f->authenticate_frameworks || f->authenticate_http_frameworks || f->authenticate_agents) &&
        !m->credentials)
        return cm_fail(CM_EINVAL, why, whylen, "authentication is on but --credentials is unset");
    if ((f->authenticate_http_readonly || f->authenticate_http_readwrite) && !m->credentials &&
        !m->http_credentials)
        return cm_fail(CM_EINVAL, why, whylen,
                       "HTTP authentication is on but neither --credentials nor "
                       "--http_credentials is set");
    if (cm_master_auth_frameworks(m))
        CM_INFO(MOD, "Scheduler API calls need HTTP Basic credentials");
    if (f->authenticate_agents)
        CM_INFO(MOD, "Agents must authenticate to register");
    return 0;
}

void cm_master_auth_cleanup(struct cm_master *m)
{
    cm_auth_credentials_free(m->credentials);
    cm_auth_credentials_free(m->http_credentials);
    cm_acls_free(m->acls);
    m->credentials = m->http_credentials = NULL;
    m->acls = NULL;
}

bool cm_master_auth_frameworks(const struct cm_master *m)
{
    return m->flags->authenticate_http_frameworks || m->flags->authenticate_frameworks;
}

size_t cm_master_framework_info_roles(const Mesos__V1__FrameworkInfo *info, const char **out,
                                      size_t max)
{
    bool multi = false;
    for (size_t i = 0; i < info->n_capabilities; i++)
        if (info->capabilities[i]->has_type &&
            info->capabilities[i]->type == MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__MULTI_ROLE)
            multi = true;
    size_t n = 0;
    if (multi) {
        for (size_t i = 0; i < info->n_roles && n < max; i++)
            out[n++] = info->roles[i];
        return n;
    }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    const char *role = info->role && info->role[0] ? info->role : "*";
#pragma GCC diagnostic pop
    if (max > 0)
        out[n++] = role;
    return n;
}

int cm_master_agent_register_check(struct cm_master *m, const char *agent_id, const char *principal,
                                   char *why, size_t whylen)
{
    if (principal && !*principal)
        principal = NULL;
    if (m->flags->authenticate_agents && !principal)
        return cm_fail(-EACCES, why, whylen,
                       "Agent authentication is required (--authenticate_agents)"),
               401;
    if (!cm_acls_allowed(m->acls, CM_ACL_REGISTER_AGENT, principal, NULL))
        return cm_fail(-EACCES, why, whylen, "Not authorized to register_agents as principal '%s'",
                       principal ? principal : "(none)"),
               403;
    struct cm_agent *a = agent_id ? cm_master_agent(m, agent_id) : NULL;
    if (!a)
        return 0;
    if (a->principal && (!principal || strcmp(a->principal, principal) != 0)) {
        CM_WARN(MOD, "Refusing REGISTER of agent %s by principal '%s': it belongs to '%s'", a->id,
                principal ? principal : "(none)", a->principal);
        return cm_fail(-EACCES, why, whylen,
                       "Agent %s is registered by another principal; refusing principal '%s'",
                       a->id, principal ? principal : "(none)"),
               403;
    }
    if (a->connected && cm_sink_open(&a->sink)) {
        CM_WARN(MOD, "Refusing REGISTER of agent %s: it is connected on another stream", a->id);
        return cm_fail(CM_ESTATE, why, whylen,
                       "Agent %s is connected on another stream; a new registration is accepted "
                       "once that stream closes",
                       a->id),
               409;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP guards (master_http.h) */

bool cm_master_http_authenticate(struct cm_master *m, struct cm_http_request *req,
                                 enum cm_master_realm realm, char **principal)
{
    *principal = NULL;
    bool required;
    const char *name;
    const struct cm_credentials *creds = m->http_credentials ? m->http_credentials : m->credentials;
    switch (realm) {
    case CM_MASTER_REALM_READONLY:
        required = m->flags->authenticate_http_readonly;
        name = CM_AUTH_REALM_MASTER_READONLY;
        break;
    case CM_MASTER_REALM_READWRITE:
        required = m->flags->authenticate_http_readwrite;
        name = CM_AUTH_REALM_MASTER_READWRITE;
        break;
    case CM_MASTER_REALM_SCHEDULER:
        required = cm_master_auth_frameworks(m);
        name = CM_AUTH_REALM_MASTER_SCHEDULER;
        creds = m->credentials;
        break;
    case CM_MASTER_REALM_AGENT:
    default:
        required = m->flags->authenticate_agents;
        name = CM_AUTH_REALM_MASTER_AGENT;
        creds = m->credentials;
        break;
    }
    /* As in Mesos, a realm without authentication has no authenticator: requests are
     * anonymous whatever they carry. */
    if (!required)
        return true;
    char why[256];
    if (cm_auth_http_basic(req, creds, principal, why, sizeof why) != 0) {
        /* DEBUG: a flood of bad requests must not become a flood of log lines. */
        CM_DEBUG(MOD, "Unauthenticated %s %s from %s: %s", req->method, req->path,
                 cm_http_request_peer(req), why);
        cm_auth_respond_unauthorized(req, name, why);
        return false;
    }
    return true;
}

bool cm_master_http_authorize(struct cm_master *m, struct cm_http_request *req,
                              enum cm_acl_action action, const char *principal, const char *object)
{
    if (cm_acls_allowed(m->acls, action, principal, object))
        return true;
    CM_DEBUG(MOD, "Denied %s %s from %s: %s by principal '%s'", req->method, req->path,
             cm_http_request_peer(req), cm_acls_action_name(action),
             principal ? principal : "(none)");
    if (object)
        cm_http_respond_text(req, 403, "Not authorized to %s '%s' as principal '%s'",
                             cm_acls_action_name(action), object, principal ? principal : "(none)");
    else
        cm_http_respond_text(req, 403, "Not authorized to %s as principal '%s'",
                             cm_acls_action_name(action), principal ? principal : "(none)");
    return false;
}
