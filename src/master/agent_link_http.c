/* agent_link_http.c: the HTTP edge of the master<->agent link (/master/api/v1/agent; also
 * /api/v1/agent). REGISTER opens the agent's event stream; every other call is a POST on the
 * agent's current stream id. Decisions live in agent_link.c and the core. See master_http.h. */
#include <stdlib.h>
#include <string.h>

#include "agent_link.h"
#include "ids.h"
#include "master_http.h"

/* The closure of an agent's event stream: the agent it serves, once admitted; or, for a shared
 * stream (OPEN_STREAM), the core's record of it. */
struct agent_stream {
    struct cm_master *m;
    struct cm_agent *agent;
    struct cm_agent_stream *shared;
};

static void on_stream_close(struct cm_http_stream *stream, void *arg)
{
    (void)stream;
    struct agent_stream *ref = arg;
    if (ref->shared)
        cm_master_agent_stream_closed(ref->m, ref->shared);
    else if (ref->agent)
        cm_master_agent_disconnected(ref->m, ref->agent);
    else
        cm_master_agent_register_stream_closed(ref->m, ref);
    free(ref);
}

/* The sink's bind_cb: a registration that waited for the registry has admitted the agent. */
static void on_bind(void *ref, void *agent)
{
    ((struct agent_stream *)ref)->agent = agent;
}

/* OPEN_STREAM: a stream shared by several agents of one process (master.h, "shared link
 * streams"). Whoever may register a new agent may open one; each agent that joins it is checked
 * again as on a stream of its own. */
static void open_shared_stream(struct cm_master *m, struct cm_http_request *req)
{
    char why[512];
    char *principal = NULL;
    if (!cm_master_http_authenticate(m, req, CM_MASTER_REALM_AGENT, &principal))
        return;
    int code = cm_master_agent_register_check(m, NULL, principal, why, sizeof why);
    if (code) {
        if (code == 401)
            cm_auth_respond_unauthorized(req, CM_AUTH_REALM_MASTER_AGENT, why);
        else
            cm_http_respond_text(req, code, "%s", why);
        free(principal);
        return;
    }
    char sid[37];
    cm_uuid_string(sid);
    cm_http_add_header(req, "Mesos-Stream-Id", sid);
    struct agent_stream *ref = cm_xcalloc(1, sizeof *ref);
    ref->m = m;
    struct cm_sink sink = {.media = CM_MEDIA_PROTOBUF, .ref = ref};
    if (principal)
        snprintf(sink.principal, sizeof sink.principal, "%s", principal);
    free(principal);
    sink.stream = cm_http_stream_start(req, 200, "application/x-protobuf", on_stream_close, ref);
    ref->shared = cm_master_open_agent_stream(m, &sink, sid);
}

/* REGISTER naming a shared stream: answered here (202), REGISTERED follows on that stream. */
static void register_shared(struct cm_master *m, struct cm_http_request *req,
                            const Cmesos__Internal__AgentCall *call)
{
    char why[512];
    char *principal = NULL;
    if (!cm_master_http_authenticate(m, req, CM_MASTER_REALM_AGENT, &principal))
        return;
    int code = cm_master_register_agent_shared(m, call, principal, why, sizeof why);
    free(principal);
    if (code == 202)
        cm_http_respond(req, 202, NULL, NULL, 0);
    else if (code == 401)
        cm_auth_respond_unauthorized(req, CM_AUTH_REALM_MASTER_AGENT, why);
    else
        cm_http_respond_text(req, code, "%s", why);
}

static void handle_agent(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    char why[512];
    if (cm_master_http_redirect(m, req))
        return;
    if (strcmp(req->method, "POST") != 0) {
        cm_http_add_header(req, "Allow", "POST");
        cm_http_respond_text(req, 405, "Expecting a 'POST' request");
        return;
    }
    const char *ct_header = cm_http_request_header(req, "Content-Type");
    if (!ct_header) {
        cm_http_respond_text(req, 400, "Expecting 'Content-Type' to be present");
        return;
    }
    Cmesos__Internal__AgentCall *call = NULL;
    int code = cm_master_agent_decode(cm_http_content_type(ct_header), req->body, req->body_len,
                                      &call, why, sizeof why);
    if (code) {
        cm_http_respond_text(req, code, "%s", why);
        return;
    }
    if (call->has_type && call->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__OPEN_STREAM) {
        open_shared_stream(m, req);
        goto out;
    }
    if (call->has_type && call->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__REGISTER &&
        call->register_ && call->register_->stream_id) {
        register_shared(m, req, call);
        goto out;
    }
    if (call->has_type && call->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__REGISTER) {
        if (cm_master_agent_validate_register(m, call, why, sizeof why)) {
            cm_http_respond_text(req, 400, "%s", why);
            goto out;
        }
        /* --authenticate_agents: REGISTER carries the agent's --credential as HTTP Basic. The
         * calls that follow are bound to the stream id that only this stream learns. */
        char *principal = NULL;
        if (!cm_master_http_authenticate(m, req, CM_MASTER_REALM_AGENT, &principal))
            goto out;
        code = cm_master_agent_register_check(m, call->agent_id ? call->agent_id->value : NULL,
                                              principal, why, sizeof why);
        if (code) {
            if (code == 401)
                cm_auth_respond_unauthorized(req, CM_AUTH_REALM_MASTER_AGENT, why);
            else
                cm_http_respond_text(req, code, "%s", why);
            free(principal);
            goto out;
        }
        char sid[37];
        cm_uuid_string(sid);
        cm_http_add_header(req, "Mesos-Stream-Id", sid);
        struct agent_stream *ref = cm_xcalloc(1, sizeof *ref);
        ref->m = m;
        struct cm_sink sink = {.media = CM_MEDIA_PROTOBUF, .ref = ref, .bind_cb = on_bind};
        if (principal)
            snprintf(sink.principal, sizeof sink.principal, "%s", principal);
        free(principal);
        sink.stream =
            cm_http_stream_start(req, 200, "application/x-protobuf", on_stream_close, ref);
        struct cm_agent *agent = NULL;
        if (cm_master_agent_call(m, call, &sink, sid, &agent, why, sizeof why) == 200 && agent)
            ref->agent = agent;
        goto out;
    }
    code = cm_master_agent_call(m, call, NULL, cm_http_request_header(req, "Mesos-Stream-Id"), NULL,
                                why, sizeof why);
    if (code == 202 || code == 200)
        cm_http_respond(req, code, NULL, NULL, 0);
    else
        cm_http_respond_text(req, code, "%s", why);
out:
    protobuf_c_message_free_unpacked(&call->base, NULL);
}

void cm_master_agent_link_http_routes(struct cm_master *m)
{
    /* The server's "master" prefix also serves this as /master/api/v1/agent (§1.1). */
    cm_http_server_route(m->http, "/api/v1/agent", handle_agent, m);
}
