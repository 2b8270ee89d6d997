/* scheduler_http.c: the HTTP edge of the scheduler API (/api/v1/scheduler, also served as
 * /master/api/v1/scheduler). The decisions live in scheduler_calls.c; this file only moves
 * bytes, headers and streams. See master_http.h. */
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "master_http.h"
#include "scheduler_calls.h"

/* The closure of a framework's event stream: which framework it serves, once subscribed. */
struct fw_stream {
    struct cm_master *m;
    struct cm_framework *fw;
};

static void on_stream_close(struct cm_http_stream *stream, void *arg)
{
    (void)stream;
    struct fw_stream *ref = arg;
    if (ref->fw)
        cm_master_framework_disconnected(ref->m, ref->fw);
    free(ref);
}

static void respond_error(struct cm_http_request *req, int code, const char *text)
{
    if (code == 405)
        cm_http_add_header(req, "Allow", "POST");
    if (code == 401) {
        cm_auth_respond_unauthorized(req, CM_AUTH_REALM_MASTER_SCHEDULER, text);
        return;
    }
    if (code == 307) {
        cm_http_add_header(req, "Location", text);
        cm_http_respond(req, 307, NULL, NULL, 0);
        return;
    }
    cm_http_respond_text(req, code, "%s", text);
}

static void handle_scheduler(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    if (cm_master_http_redirect(m, req))
        return;
    /* With framework authentication on, every call (SUBSCRIBE included) carries HTTP Basic
     * credentials; the call layer then ties the principal to the framework. */
    char *principal = NULL;
    if (!cm_master_http_authenticate(m, req, CM_MASTER_REALM_SCHEDULER, &principal))
        return;
    struct cm_sched_request sreq = {
        .method = req->method,
        .content_type = cm_http_request_header(req, "Content-Type"),
        .accept = cm_http_request_header(req, "Accept"),
        .stream_id = cm_http_request_header(req, "Mesos-Stream-Id"),
        .body = req->body,
        .body_len = req->body_len,
        .principal = principal,
    };
    struct cm_sched_result res;
    cm_master_scheduler_request(m, &sreq, &res);
    free(principal);
    principal = NULL;
    if (res.code == 200 && res.call) {
        char sid[37];
        cm_uuid_string(sid);
        cm_http_add_header(req, "Mesos-Stream-Id", sid);
        struct fw_stream *ref = cm_xcalloc(1, sizeof *ref);
        ref->m = m;
        struct cm_sink sink = {.media = res.media, .ref = ref};
        sink.stream =
            cm_http_stream_start(req, 200, cm_media_name(res.media), on_stream_close, ref);
        struct cm_framework *fw = cm_master_subscribe(m, res.call, &sink, sid);
        if (fw)
            ref->fw = fw; /* when refused, the sink (and ref) is already gone */
        protobuf_c_message_free_unpacked(&res.call->base, NULL);
        return;
    }
    if (res.code == 200 || res.code == 202) {
        cm_http_respond(req, res.code, NULL, NULL, 0);
        return;
    }
    respond_error(req, res.code, res.text);
}

void cm_master_scheduler_http_routes(struct cm_master *m)
{
    /* The server's "master" prefix also serves this as /master/api/v1/scheduler (§1.1). */
    cm_http_server_route(m->http, "/api/v1/scheduler", handle_scheduler, m);
}
