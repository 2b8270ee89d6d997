/*
 * agent_auth.c: executor tokens, endpoint authentication and the agent's credential (contract
 * in agent_auth.h).
 */
#include "agent_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acls.h"
#include "agent_internal.h"
#include "auth.h"
#include "jwt.h"
#include "log.h"

#define MOD "agent"

/* Mesos's classification of the agent's endpoints (slave/http.cpp, libprocess). */
static const char *const READONLY_ROUTES[] = {
    "/state",
    "/state.json",
    "/flags",
    "/flags.json",
    "/files/browse",
    "/files/browse.json",
    "/files/read",
    "/files/read.json",
    "/files/download",
    "/files/download.json",
    "/files/debug",
    "/files/debug.json",
    "/monitor/statistics",
    "/monitor/statistics.json",
    "/containers",
    "/containerizer/debug",
    "/metrics/snapshot",
    "/metrics", /* the same metrics in Prometheus's format */
    NULL,
};
static const char *const READWRITE_ROUTES[] = {"/api/v1", "/logging/toggle", NULL};

static bool listed(const char *const *list, const char *route)
{
    for (; *list; list++)
        if (strcmp(*list, route) == 0)
            return true;
    return false;
}

static int guard(struct cm_http_request *req, const char *route, void *arg)
{
    struct cm_agent *a = arg;
    const char *realm = NULL;
    if (a->flags->authenticate_http_readonly && listed(READONLY_ROUTES, route))
        realm = CM_AUTH_REALM_AGENT_READONLY;
    else if (a->flags->authenticate_http_readwrite && listed(READWRITE_ROUTES, route))
        realm = CM_AUTH_REALM_AGENT_READWRITE;
    if (!realm)
        return 0;
    char *principal = NULL;
    char why[256];
    /* Mesos adds its JWT authenticator to these realms when executors authenticate, so an
     * executor's own token also opens them. */
    const char *h = cm_http_request_header(req, "Authorization");
    if (a->flags->authenticate_http_executors && a->jwt_key && h && strncmp(h, "Bearer ", 7) == 0) {
        json_t *claims = NULL;
        if (cm_jwt_verify(h + 7, a->jwt_key, a->jwt_key_len, agent_now(a), &claims, why,
                          sizeof why) == 0) {
            json_decref(claims);
            return 0;
        }
        CM_DEBUG(MOD, "Refusing %s %s from %s: invalid JWT: %s", req->method, req->path,
                 cm_http_request_peer(req), why);
        cm_auth_respond_unauthorized(req, realm, "Invalid JWT");
        return 1;
    }
    if (cm_auth_http_basic(req, a->http_credentials, &principal, why, sizeof why) == 0) {
        free(principal);
        return 0;
    }
    /* DEBUG: a flood of bad requests must not flood the log. */
    CM_DEBUG(MOD, "Refusing %s %s from %s: %s", req->method, req->path, cm_http_request_peer(req),
             why);
    cm_auth_respond_unauthorized(req, realm, why);
    return 1;
}

void agent_auth_install_guard(struct cm_agent *a)
{
    if (a->http && (a->flags->authenticate_http_readonly || a->flags->authenticate_http_readwrite))
        cm_http_server_route_check(a->http, guard, a);
}

int agent_auth_init(struct cm_agent *a, char *why, size_t whylen)
{
    const struct cm_agent_flags *f = a->flags;
    int rc;
    if (f->authenticate_http_executors && !(f->jwt_secret_key && *f->jwt_secret_key))
        return cm_fail(CM_EINVAL, why, whylen,
                       "--jwt_secret_key must be specified when --authenticate_http_executors "
                       "is set to true");
    if (f->jwt_secret_key && *f->jwt_secret_key) {
        int too_open = 0;
        rc = cm_jwt_key_read(f->jwt_secret_key, &a->jwt_key, &a->jwt_key_len, &too_open, why,
                             whylen);
        if (rc)
            return rc;
        if (too_open)
            CM_WARN(MOD,
                    "Permissions on the JWT secret key file '%s' are too open; it is "
                    "recommended that your key file is NOT accessible by others",
                    f->jwt_secret_key);
    }
    if ((f->authenticate_http_readonly || f->authenticate_http_readwrite) &&
        !(f->http_credentials && *f->http_credentials))
        return cm_fail(CM_EINVAL, why, whylen,
                       "--http_credentials must be specified when --authenticate_http_readonly "
                       "or --authenticate_http_readwrite is set to true");
    if (f->http_credentials && *f->http_credentials) {
        char inner[512];
        rc = cm_auth_credentials_load(f->http_credentials, &a->http_credentials, NULL, inner,
                                      sizeof inner);
        if (rc)
            return cm_fail(rc, why, whylen, "Flag 'http_credentials': %s", inner);
    }
    if (f->acls && *f->acls) {
        char inner[512];
        rc = cm_acls_load(f->acls, &a->acls, NULL, inner, sizeof inner);
        if (rc)
            return cm_fail(rc, why, whylen, "Flag 'acls': %s", inner);
        CM_INFO(MOD, "Authorization enabled (local authorizer, --acls)");
    }
    if (f->credential && *f->credential) {
        struct cm_credential c = {0};
        char inner[512];
        rc = cm_auth_credential_load(f->credential, &c, NULL, inner, sizeof inner);
        if (rc)
            return cm_fail(rc, why, whylen, "Flag 'credential': %s", inner);
        a->master_authorization = cm_auth_basic_header(c.principal, c.secret);
        CM_INFO(MOD, "Authenticating with the master as principal '%s'", c.principal);
        cm_auth_credential_cleanup(&c);
    }
    return 0;
}

void agent_auth_cleanup(struct cm_agent *a)
{
    if (a->jwt_key) {
        memset(a->jwt_key, 0, a->jwt_key_len);
        free(a->jwt_key);
    }
    a->jwt_key = NULL;
    a->jwt_key_len = 0;
    cm_auth_credentials_free(a->http_credentials);
    a->http_credentials = NULL;
    cm_acls_free(a->acls);
    a->acls = NULL;
    if (a->master_authorization) {
        memset(a->master_authorization, 0, strlen(a->master_authorization));
        free(a->master_authorization);
    }
    a->master_authorization = NULL;
}

char *agent_auth_executor_token(struct cm_agent *a, const struct agent_executor *e)
{
    if (!a->jwt_key)
        return NULL;
    char *tok = NULL;
    char why[256];
    if (cm_jwt_executor_token(a->jwt_key, a->jwt_key_len, e->framework->id, e->id, e->container_id,
                              &tok, why, sizeof why) != 0) {
        CM_ERROR(MOD, "Cannot make a token for executor '%s' of framework '%s': %s", e->id,
                 e->framework->id, why);
        return NULL;
    }
    return tok;
}

/* Answers 401 with a Bearer challenge; error and description are omitted for a request that
 * carried no credentials (RFC 6750 section 3.1). */
static int unauthorized(struct cm_http_request *req, const char *description)
{
    char challenge[512];
    if (description)
        snprintf(challenge, sizeof challenge,
                 "Bearer realm=\"%s\", error=\"invalid_token\", error_description=\"%s\"",
                 CM_AUTH_REALM_AGENT_EXECUTOR, description);
    else
        snprintf(challenge, sizeof challenge, "Bearer realm=\"%s\"", CM_AUTH_REALM_AGENT_EXECUTOR);
    cm_http_add_header(req, "WWW-Authenticate", challenge);
    CM_DEBUG(MOD, "Refusing an executor API call from %s: %s", cm_http_request_peer(req),
             description ? description : "no Authorization header");
    cm_http_respond_text(req, 401, "%s",
                         description ? description : "Missing 'Authorization' header");
    return 401;
}

int agent_auth_executor_request(struct cm_agent *a, struct cm_http_request *req, json_t **claims)
{
    *claims = NULL;
    if (!a->flags->authenticate_http_executors)
        return 0;
    const char *h = cm_http_request_header(req, "Authorization");
    if (!h)
        return unauthorized(req, NULL);
    if (strlen(h) > CM_JWT_MAX_TOKEN + 16)
        return unauthorized(req, "Malformed 'Authorization' header");
    const char *sp = strchr(h, ' ');
    if (!sp || strchr(sp + 1, ' '))
        return unauthorized(req, "Malformed 'Authorization' header");
    if ((size_t)(sp - h) != 6 || strncmp(h, "Bearer", 6) != 0) {
        char desc[64];
        snprintf(desc, sizeof desc, "Scheme '%.*s' unsupported", (int)((sp - h) < 20 ? sp - h : 20),
                 h);
        /* The scheme is echoed into a quoted header value: keep it printable and quote-free. */
        for (char *p = desc; *p; p++)
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                *p = '?';
        return unauthorized(req, desc);
    }
    char why[256], desc[300];
    if (cm_jwt_verify(sp + 1, a->jwt_key, a->jwt_key_len, agent_now(a), claims, why, sizeof why) !=
        0) {
        snprintf(desc, sizeof desc, "Invalid JWT: %s", why);
        for (char *p = desc; *p; p++)
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                *p = '?';
        return unauthorized(req, desc);
    }
    return 0;
}

int agent_auth_executor_claims(const json_t *claims, const struct agent_executor *e, char *why,
                               size_t whylen)
{
    if (!claims) {
        snprintf(why, whylen, "The call carries no executor token");
        return 403;
    }
    if (cm_jwt_check_executor(claims, e->framework->id, e->id, e->container_id, why, whylen) != 0)
        return 403;
    return 0;
}

const char *agent_auth_master_authorization(const struct cm_agent *a)
{
    return a->master_authorization;
}

/* ---- authorization ------------------------------------------------------------------------ */

char *agent_auth_principal(struct cm_agent *a, struct cm_http_request *req, bool readwrite)
{
    bool required =
        readwrite ? a->flags->authenticate_http_readwrite : a->flags->authenticate_http_readonly;
    if (!required || !a->http_credentials)
        return NULL;
    const char *h = cm_http_request_header(req, "Authorization");
    if (!h || strncasecmp(h, "Basic ", 6) != 0)
        return NULL; /* an executor's token (the guard checked it): no principal value */
    char *principal = NULL;
    char why[256];
    if (cm_auth_http_basic(req, a->http_credentials, &principal, why, sizeof why) != 0)
        return NULL;
    if (principal && !*principal) {
        free(principal);
        principal = NULL;
    }
    return principal;
}

bool agent_authorized(const struct cm_agent *a, enum cm_acl_action action, const char *principal,
                      const char *object)
{
    return cm_acls_allowed(a->acls, action, principal, object);
}

int agent_authorize(const struct cm_agent *a, enum cm_acl_action action, const char *principal,
                    const char *object, char *why, size_t whylen)
{
    if (agent_authorized(a, action, principal, object))
        return 0;
    const char *who = principal ? principal : "(anonymous)";
    if (object)
        snprintf(why, whylen, "Principal '%s' is not authorized to %s '%s'", who,
                 cm_acls_action_name(action), object);
    else
        snprintf(why, whylen, "Principal '%s' is not authorized to %s", who,
                 cm_acls_action_name(action));
    CM_DEBUG(MOD, "%s", why);
    return 403;
}

bool agent_authorize_http(const struct cm_agent *a, struct cm_http_request *req,
                          enum cm_acl_action action, const char *principal, const char *object)
{
    char why[1400];
    if (agent_authorize(a, action, principal, object, why, sizeof why) == 0)
        return true;
    cm_http_respond_text(req, 403, "%s\n", why);
    return false;
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

const char *agent_auth_framework_user(const struct agent_framework *f)
{
    return f && f->info ? nonempty(f->info->user) : NULL;
}

const char *agent_auth_executor_user(const struct agent_executor *e)
{
    if (e->info && e->info->command && nonempty(e->info->command->user))
        return e->info->command->user;
    return agent_auth_framework_user(e->framework);
}

const char *agent_auth_task_user(const struct agent_task *t, const struct agent_framework *f)
{
    if (t->info && t->info->command && nonempty(t->info->command->user))
        return t->info->command->user;
    return agent_auth_framework_user(f);
}

/* Paths equal up to repeated and trailing slashes (files.h normalizes its roots). */
static bool same_path(const char *x, const char *y)
{
    while (*x && *y) {
        if (*x == '/' && *y == '/') {
            while (x[1] == '/')
                x++;
            while (y[1] == '/')
                y++;
        } else if (*x != *y) {
            return false;
        }
        x++;
        y++;
    }
    while (*x == '/')
        x++;
    while (*y == '/')
        y++;
    return !*x && !*y;
}

static const struct agent_executor *executor_of_framework(const struct agent_framework *f,
                                                          const char *root)
{
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &f->executors);
    const struct agent_executor *e;
    while ((e = cm_strmap_iter_value(&it, NULL)))
        if (e->directory && same_path(e->directory, root))
            return e;
    for (size_t i = 0; i < cm_ring_count(&f->completed_executors); i++) {
        e = cm_ring_at(&f->completed_executors, i);
        if (e->directory && same_path(e->directory, root))
            return e;
    }
    return NULL;
}

static const struct agent_executor *executor_of_sandbox(const struct cm_agent *a, const char *root)
{
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &a->frameworks);
    const struct agent_framework *f;
    const struct agent_executor *e;
    while ((f = cm_strmap_iter_value(&it, NULL)))
        if ((e = executor_of_framework(f, root)))
            return e;
    for (size_t i = 0; i < cm_ring_count(&a->completed_frameworks); i++)
        if ((e = executor_of_framework(cm_ring_at(&a->completed_frameworks, i), root)))
            return e;
    return NULL;
}

/* The agent attaches its log file (agent.c) as <log_dir>/mesos-agent.INFO. */
static bool is_agent_log(const struct cm_agent *a, const char *root)
{
    if (!a->flags->log_dir || !*a->flags->log_dir)
        return false;
    char *path = cm_xasprintf("%s/mesos-agent.INFO", a->flags->log_dir);
    bool same = same_path(path, root);
    free(path);
    return same;
}

int agent_auth_files(const struct cm_agent *a, const char *principal, const char *root, char *why,
                     size_t whylen)
{
    if (!root)
        return agent_authorize(a, CM_ACL_GET_ENDPOINT, principal, "/files/debug", why, whylen);
    const struct agent_executor *e = executor_of_sandbox(a, root);
    if (e)
        return agent_authorize(a, CM_ACL_ACCESS_SANDBOX, principal, agent_auth_executor_user(e),
                               why, whylen);
    if (is_agent_log(a, root))
        return agent_authorize(a, CM_ACL_ACCESS_MESOS_LOG, principal, NULL, why, whylen);
    /* A root no executor record names any more: only a principal allowed every sandbox. */
    return agent_authorize(a, CM_ACL_ACCESS_SANDBOX, principal, NULL, why, whylen);
}

static bool files_hook(struct cm_http_request *req, const char *root, void *arg)
{
    struct cm_agent *a = arg;
    if (!a->acls)
        return true;
    char *principal = agent_auth_principal(a, req, false);
    char why[1400];
    int rc = agent_auth_files(a, principal, root, why, sizeof why);
    free(principal);
    if (rc == 0)
        return true;
    cm_http_respond_text(req, 403, "%s\n", why);
    return false;
}

void agent_auth_install_files(struct cm_agent *a)
{
    if (a->files)
        cm_files_set_authorizer(a->files, files_hook, a);
}
