/* sched_http.c: the HTTP edge of the scheduler API and of the agent link. The decisions live
 * in calls.c and agent_api.c; this file only moves bytes and headers. */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "contender.h"
#include "errors.h"
#include "ids.h"
#include "log.h"
#include "master.h"
#include "pbjson.h"
#include "util.h"

#define MOD "master"

enum ref_kind { REF_FRAMEWORK, REF_AGENT };

struct stream_ref {
    struct cm_master *m;
    enum ref_kind kind;
    void *obj; /* cm_framework or cm_agent, once known */
};

static void on_stream_close(struct cm_http_stream *stream, void *arg)
{
    (void)stream;
    struct stream_ref *ref = arg;
    if (ref->obj) {
        if (ref->kind == REF_FRAMEWORK)
            cm_master_framework_disconnected(ref->m, ref->obj);
        else
            cm_master_agent_disconnected(ref->m, ref->obj);
    } else if (ref->kind == REF_AGENT) {
        cm_master_agent_register_stream_closed(ref->m, ref);
    }
    free(ref);
}

void cm_master_stream_ref_attach(void *ref, struct cm_agent *agent)
{
    ((struct stream_ref *)ref)->obj = agent;
}

static void respond_error(struct cm_http_request *req, int code, const char *text)
{
    if (code == 405)
        cm_http_add_header(req, "Allow", "POST");
    if (code == 307) {
        cm_http_add_header(req, "Location", text);
        cm_http_respond(req, 307, NULL, NULL, 0);
        return;
    }
    cm_http_respond_text(req, code, "%s", text);
}

bool cm_master_redirect_nonleader(struct cm_master *m, struct cm_http_request *req)
{
    if (cm_contender_acting(m->contender))
        return false;
    char leader[300];
    if (!m->contender->ops->leader(m->contender, leader, sizeof leader)) {
        cm_http_respond_text(req, 503, "No leader elected");
        return true;
    }
    /* Protocol-relative, with the path under /master as Mesos delegates it (§2.1, §6.3). */
    const char *path = req->path ? req->path : "/";
    bool prefixed = strncmp(path, "/master/", 8) == 0 || strcmp(path, "/master") == 0;
    char *loc = cm_xasprintf("//%s%s%.2000s%s%.2000s", leader, prefixed ? "" : "/master", path,
                             req->query ? "?" : "", req->query ? req->query : "");
    cm_http_add_header(req, "Location", loc);
    cm_http_respond(req, 307, NULL, NULL, 0);
    free(loc);
    return true;
}

static void handle_scheduler(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    if (cm_master_redirect_nonleader(m, req))
        return;
    struct cm_sched_request sreq = {
        .method = req->method,
        .content_type = cm_http_request_header(req, "Content-Type"),
        .accept = cm_http_request_header(req, "Accept"),
        .stream_id = cm_http_request_header(req, "Mesos-Stream-Id"),
        .body = req->body,
        .body_len = req->body_len,
    };
    struct cm_sched_result res;
    cm_master_scheduler_request(m, &sreq, &res);
    if (res.code == 200 && res.call) {
        char sid[37];
        cm_uuid_string(sid);
        cm_http_add_header(req, "Mesos-Stream-Id", sid);
        struct stream_ref *ref = calloc(1, sizeof *ref);
        if (!ref)
            abort();
        ref->m = m;
        ref->kind = REF_FRAMEWORK;
        struct cm_sink sink = {.media = res.media, .ref = ref};
        sink.stream =
            cm_http_stream_start(req, 200, cm_media_name(res.media), on_stream_close, ref);
        struct cm_framework *fw = cm_master_subscribe(m, res.call, &sink, sid);
        if (fw)
            ref->obj = fw; /* when refused, the sink (and ref) is already gone */
        protobuf_c_message_free_unpacked(&res.call->base, NULL);
        return;
    }
    if (res.code == 200 || res.code == 202) {
        cm_http_respond(req, res.code, NULL, NULL, 0);
        return;
    }
    respond_error(req, res.code, res.text);
}

static void handle_agent(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    char why[512];
    if (cm_master_redirect_nonleader(m, req))
        return;
    if (strcmp(req->method, "POST") != 0) {
        respond_error(req, 405, "Expecting a 'POST' request");
        return;
    }
    const char *ct_header = cm_http_request_header(req, "Content-Type");
    if (!ct_header) {
        cm_http_respond_text(req, 400, "Expecting 'Content-Type' to be present");
        return;
    }
    enum cm_media ct = cm_http_content_type(ct_header);
    Cmesos__Internal__AgentCall *call = NULL;
    int code = cm_master_agent_decode(ct, req->body, req->body_len, &call, why, sizeof why);
    if (code) {
        cm_http_respond_text(req, code, "%s", why);
        return;
    }
    if (call->has_type && call->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__REGISTER) {
        if (cm_master_agent_validate_register(m, call, why, sizeof why)) {
            cm_http_respond_text(req, 400, "%s", why);
            goto out;
        }
        char sid[37];
        cm_uuid_string(sid);
        cm_http_add_header(req, "Mesos-Stream-Id", sid);
        struct stream_ref *ref = calloc(1, sizeof *ref);
        if (!ref)
            abort();
        ref->m = m;
        ref->kind = REF_AGENT;
        struct cm_sink sink = {.media = CM_MEDIA_PROTOBUF, .ref = ref};
        sink.stream =
            cm_http_stream_start(req, 200, "application/x-protobuf", on_stream_close, ref);
        struct cm_agent *agent = NULL;
        if (cm_master_agent_call(m, call, &sink, sid, &agent, why, sizeof why) == 200 && agent)
            ref->obj = agent;
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

void cm_master_sched_http_routes(struct cm_master *m)
{
    /* The server's "master" prefix also serves these as /master/api/v1/... (§1.1). */
    cm_http_server_route(m->http, "/api/v1/scheduler", handle_scheduler, m);
    cm_http_server_route(m->http, "/api/v1/agent", handle_agent, m);
}
