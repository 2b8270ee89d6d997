/* webui.c: the master's web UI — the embedded page and assets, /webui/leader, and the
 * forwarding of the page's agent requests (/files, /monitor/statistics). See webui.h. */
#include "webui.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contender.h"
#include "errors.h"
#include "http_client.h"
#include "log.h"
#include "master_http.h"
#include "tls.h"
#include "util.h"
#include "webui_assets.h"

#define MOD "webui"

/* Caps of the forwarding (webui.h). */
#define FORWARD_TIMEOUT_SECS 10.0
#define FORWARD_MAX_BODY ((size_t)8 << 20)
#define AGENT_ID_MAX 255

/* ---- assets ------------------------------------------------------------------------------ */

static bool method_read(struct cm_http_request *req)
{
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
        return true;
    cm_http_add_header(req, "Allow", "GET, HEAD");
    cm_http_respond_text(req, 405, "Expecting 'GET' or 'HEAD', received '%.32s'", req->method);
    return false;
}

/* True when an If-None-Match list names etag (or is "*"). */
static bool etag_matches(const char *inm, const char *etag)
{
    if (!inm)
        return false;
    size_t elen = strlen(etag);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2; /* weak comparison, as RFC 9110 asks of If-None-Match */
        if (strncmp(p, etag, elen) == 0 &&
            (p[elen] == '\0' || p[elen] == ',' || p[elen] == ' ' || p[elen] == '\t'))
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

static void serve_asset(struct cm_http_request *req, const struct cm_webui_asset *a)
{
    if (!method_read(req))
        return;
    cm_http_add_header(req, "ETag", a->etag);
    cm_http_add_header(req, "Cache-Control", "no-cache");
    cm_http_add_header(req, "X-Content-Type-Options", "nosniff");
    if (etag_matches(cm_http_request_header(req, "If-None-Match"), a->etag)) {
        cm_http_respond(req, 304, NULL, NULL, 0);
        return;
    }
    if (strncmp(a->content_type, "text/html", 9) == 0) {
        /* The page loads only its own assets and talks only to its own origin. */
        cm_http_add_header(req, "Content-Security-Policy",
                           "default-src 'self'; img-src 'self' data:; "
                           "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
        cm_http_add_header(req, "X-Frame-Options", "DENY");
    }
    cm_http_respond(req, 200, a->content_type, a->data, a->len);
}

static void handle_asset(struct cm_http_request *req, void *arg)
{
    serve_asset(req, arg);
}

/* ---- /webui/leader ----------------------------------------------------------------------- */

static void handle_leader(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    if (!method_read(req))
        return;
    char *principal = NULL;
    if (!cm_master_http_authenticate(m, req, CM_MASTER_REALM_READONLY, &principal))
        return;
    free(principal);
    char leader[300];
    bool known = m->contender->ops->leader(m->contender, leader, sizeof leader);
    json_t *o = json_object();
    json_object_set_new(o, "leading", json_boolean(cm_contender_acting(m->contender)));
    json_object_set_new(o, "leader", known ? json_string(leader) : json_null());
    char self[128];
    snprintf(self, sizeof self, "%s:%u", m->ip, (unsigned)m->port);
    json_object_set_new(o, "self", json_string(self));
    cm_http_add_header(req, "Cache-Control", "no-store");
    cm_http_respond_json(req, 200, o);
}

/* ---- forwarding to agents ---------------------------------------------------------------- */

struct forward {
    struct cm_http_request *req; /* NULL once answered (streamed downloads) */
    struct cm_http_stream *stream;
    struct cm_http_call *call;
    char agent_id[AGENT_ID_MAX + 1];
};

/* True when the query token tok[len] is parameter name (with or without a value). */
static bool param_is(const char *tok, size_t len, const char *name)
{
    size_t n = strlen(name);
    return len >= n && strncmp(tok, name, n) == 0 && (len == n || tok[n] == '=');
}

/* The query forwarded to the agent (malloc'd; "" when nothing is left): the caller's, without
 * agent_id (the master's own) and without jsonp (a JSONP answer is readable by any site that
 * includes it as a script; the page never asks for one, so the forwarding never gives one). */
static char *forward_query(const char *query)
{
    size_t n = query ? strlen(query) : 0;
    char *out = cm_xmalloc(n + 1);
    size_t o = 0;
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        bool skip = len == 0 || param_is(p, len, "agent_id") || param_is(p, len, "jsonp");
        if (!skip) {
            if (o)
                out[o++] = '&';
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    out[o] = '\0';
    return out;
}

static void relay_done(void *arg, int err, const char *errmsg, const struct cm_http_response *resp)
{
    struct forward *f = arg;
    if (err) {
        CM_WARN(MOD, "Forwarding to agent '%s' failed: %s", f->agent_id, errmsg);
        cm_http_respond_text(f->req, 502, "Failed to reach agent '%s': %s", f->agent_id,
                             err == CM_ETOOBIG ? "the answer is over 8 MiB" : errmsg);
    } else {
        const char *ct = cm_http_response_header(resp, "Content-Type");
        const char *challenge = cm_http_response_header(resp, "WWW-Authenticate");
        if (challenge) /* the agent wants credentials: let the browser ask for them */
            cm_http_add_header(f->req, "WWW-Authenticate", challenge);
        cm_http_add_header(f->req, "Cache-Control", "no-store");
        cm_http_respond(f->req, (int)resp->status, ct ? ct : "application/octet-stream", resp->body,
                        resp->body_len);
    }
    free(f);
}

/* Streamed downloads: the stream starts with the agent's status line and headers. */
static void stream_closed(struct cm_http_stream *stream, void *arg)
{
    struct forward *f = arg;
    (void)stream;
    f->stream = NULL;
    cm_http_call_cancel(f->call); /* no callback runs after this */
    free(f);
}

static int stream_headers(void *arg, const struct cm_http_response *resp)
{
    struct forward *f = arg;
    const char *ct = cm_http_response_header(resp, "Content-Type");
    const char *cd = cm_http_response_header(resp, "Content-Disposition");
    if (cd)
        cm_http_add_header(f->req, "Content-Disposition", cd);
    cm_http_add_header(f->req, "Cache-Control", "no-store");
    f->stream = cm_http_stream_start(f->req, (int)resp->status,
                                     ct ? ct : "application/octet-stream", stream_closed, f);
    f->req = NULL;
    return 0;
}

static int stream_data(void *arg, const void *data, size_t len)
{
    struct forward *f = arg;
    if (!f->stream)
        return 1;
    return cm_http_stream_send(f->stream, data, len) == 0 ? 0 : 1;
}

static void stream_done(void *arg, int err, const char *errmsg, const struct cm_http_response *resp)
{
    struct forward *f = arg;
    (void)resp;
    if (f->req) { /* no headers came */
        cm_http_respond_text(f->req, 502, "Failed to reach agent '%s': %s", f->agent_id,
                             err ? errmsg : "no answer");
        free(f);
        return;
    }
    if (err && err != CM_ECLOSED)
        CM_WARN(MOD, "Download from agent '%s' broke: %s", f->agent_id, errmsg);
    if (f->stream) {
        /* A broken download ends short; the client sees the chunked body end early. */
        struct cm_http_stream *st = f->stream;
        f->stream = NULL;
        cm_http_stream_end(st);
    }
    free(f);
}

static bool agent_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > AGENT_ID_MAX)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

static void forward(struct cm_http_request *req, struct cm_master *m, const char *agent_path,
                    bool streamed)
{
    if (cm_master_http_redirect(m, req) || !method_read(req))
        return;
    char *principal = NULL;
    if (!cm_master_http_authenticate(m, req, CM_MASTER_REALM_READONLY, &principal))
        return;
    free(principal);
    char *id = cm_http_request_query_param(req, "agent_id");
    if (!id || !agent_id_valid(id)) {
        cm_http_respond_text(req, 400,
                             id ? "Invalid 'agent_id': expecting an agent ID"
                                : "Missing 'agent_id' query parameter");
        free(id);
        return;
    }
    struct cm_agent *a = cm_master_agent(m, id);
    if (!a) {
        cm_http_respond_text(req, 404, "Agent '%s' is not registered with this master", id);
        free(id);
        return;
    }
    if (!a->connected || !a->ip || a->port <= 0) {
        cm_http_respond_text(req, 503,
                             "Agent '%s' is disconnected: its sandboxes and "
                             "statistics cannot be reached now",
                             id);
        free(id);
        return;
    }
    char *rest = forward_query(req->query);
    bool v6 = strchr(a->ip, ':') != NULL;
    char *url = cm_xasprintf("%s://%s%s%s:%d%s%s%s", cm_tls_scheme(), v6 ? "[" : "", a->ip,
                             v6 ? "]" : "", a->port, agent_path, rest[0] ? "?" : "", rest);
    free(rest);
    if (!m->webui_client)
        m->webui_client = cm_http_client_new(m->base);
    struct forward *f = cm_xcalloc(1, sizeof *f);
    f->req = req;
    snprintf(f->agent_id, sizeof f->agent_id, "%s", id);
    free(id);
    const char *auth = cm_http_request_header(req, "Authorization");
    char *auth_line = auth ? cm_xasprintf("Authorization: %s", auth) : NULL;
    const char *headers[] = {auth_line, NULL};
    struct cm_http_request_opts o = {
        .method = "GET",
        .url = url,
        .headers = auth_line ? headers : NULL,
        .timeout_secs = streamed ? 0 : FORWARD_TIMEOUT_SECS,
        .connect_timeout_secs = FORWARD_TIMEOUT_SECS,
        .max_body = FORWARD_MAX_BODY,
        .on_headers = streamed ? stream_headers : NULL,
        .on_data = streamed ? stream_data : NULL,
        .on_done = streamed ? stream_done : relay_done,
        .arg = f,
    };
    int rc = m->webui_client ? cm_http_client_start(m->webui_client, &o, &f->call) : -ENOMEM;
    free(auth_line);
    free(url);
    if (rc) {
        cm_http_respond_text(req, 502, "Failed to reach agent '%s': %s", f->agent_id,
                             cm_strerror(rc));
        free(f);
    }
}

static void handle_browse(struct cm_http_request *req, void *arg)
{
    forward(req, arg, "/files/browse", false);
}

static void handle_read(struct cm_http_request *req, void *arg)
{
    forward(req, arg, "/files/read", false);
}

static void handle_download(struct cm_http_request *req, void *arg)
{
    forward(req, arg, "/files/download", true);
}

static void handle_statistics(struct cm_http_request *req, void *arg)
{
    forward(req, arg, "/monitor/statistics", false);
}

/* ---- routes ------------------------------------------------------------------------------ */

void cm_master_webui_routes(struct cm_master *m)
{
    struct cm_http_server *h = m->http;
    for (size_t i = 0; i < cm_webui_nassets; i++) {
        const struct cm_webui_asset *a = &cm_webui_assets[i];
        cm_http_server_route(h, a->path, handle_asset, (void *)a);
        if (strcmp(a->path, "/webui/index.html") == 0)
            cm_http_server_route(h, "/", handle_asset, (void *)a);
    }
    cm_http_server_route(h, "/webui/leader", handle_leader, m);
    cm_http_server_route(h, "/webui/agent/files/browse", handle_browse, m);
    cm_http_server_route(h, "/webui/agent/files/read", handle_read, m);
    cm_http_server_route(h, "/webui/agent/files/download", handle_download, m);
    cm_http_server_route(h, "/webui/agent/monitor/statistics", handle_statistics, m);
    CM_DEBUG(MOD, "Routes registered (%zu assets)", cm_webui_nassets);
}
