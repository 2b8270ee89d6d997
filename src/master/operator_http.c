/* operator_http.c: the HTTP edge of the operator API — POST /api/v1 (also /master/api/v1) with
 * its SUBSCRIBE streams — and the legacy operator endpoints Mesos serves: /master/roles,
 * /master/weights (GET, PUT), /master/teardown (POST frameworkId=), /logging/toggle, and 501 for
 * /master/maintenance/... and /master/machine/... Only bytes, headers and streams here; the
 * decisions are operator.c's. See operator.h. */
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acls.h"
#include "errors.h"
#include "flags.h"
#include "json_stream.h"
#include "log.h"
#include "master_http.h"
#include "operator.h"
#include "pbjson.h"
#include "registrar.h"
#include "util.h"

#define MOD "operator"

/* The close callback's closure of a SUBSCRIBE stream (the sink's ref: freed by cm_sink_end
 * when we end the stream, by on_sub_close when the peer goes). */
struct sub_ref {
    struct cm_operator *op;
    struct cm_operator_subscriber *s;
};

static void on_sub_close(struct cm_http_stream *stream, void *arg)
{
    (void)stream;
    struct sub_ref *ref = arg;
    if (ref->s)
        cm_operator_unsubscribe(ref->op, ref->s);
    free(ref);
}

/* An answer held until the registry holds what the call changed. */
struct late_answer {
    struct cm_http_request *req;
    int code;
};

static void answer_stored(void *arg, int err)
{
    struct late_answer *la = arg;
    if (err)
        cm_http_respond_text(la->req, 503, "Failed to store the change in the registry: %s",
                             cm_strerror(err));
    else
        cm_http_respond(la->req, la->code, NULL, NULL, 0);
    free(la);
}

/* Answers code (no body) once every registry operation queued so far is stored, as Mesos
 * answers the calls that change the registry only after its write: a registry store completes
 * later (the file storage's writer child, zk), and an answer sent before it could be followed
 * by a crash that loses what it acknowledged. Nothing queued: at once. */
static void respond_after_registry(struct cm_master *m, struct cm_http_request *req, int code)
{
    if (!m->registrar || cm_registrar_queued(m->registrar) == 0) {
        cm_http_respond(req, code, NULL, NULL, 0);
        return;
    }
    struct late_answer *la = cm_xcalloc(1, sizeof *la);
    la->req = req;
    la->code = code;
    cm_registrar_flush(m->registrar, answer_stored, la);
}

static void handle_api(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    if (cm_master_http_redirect(m, req))
        return;
    /* Mesos authenticates /api/v1 in the read-write realm (--authenticate_http_readwrite). */
    char *principal = NULL;
    if (!cm_master_http_authenticate(m, req, CM_MASTER_REALM_READWRITE, &principal))
        return;
    struct cm_operator *op = cm_operator_of(m);
    struct cm_operator_request oreq = {
        .method = req->method,
        .content_type = cm_http_request_header(req, "Content-Type"),
        .accept = cm_http_request_header(req, "Accept"),
        .principal = principal,
        .body = req->body,
        .body_len = req->body_len,
        .sliced = true,
    };
    struct cm_operator_result res;
    cm_operator_request(op, &oreq, &res);
    free(principal);
    if (res.code == 200 && res.subscribe) {
        struct sub_ref *ref = cm_xcalloc(1, sizeof *ref);
        ref->op = op;
        struct cm_sink sink = {.media = res.media, .ref = ref};
        sink.stream = cm_http_stream_start(req, 200, cm_media_name(res.media), on_sub_close, ref);
        ref->s = cm_operator_subscribe(op, &sink);
        return;
    }
    if (res.code == 200 && res.snap) {
        /* Large replies are written in slices so that the loop never stalls on them. */
        struct cm_operator_snap *snap =
            cm_operator_snap_new(m, (enum cm_operator_snap_kind)res.snap, res.media, false);
        cm_json_stream_start(m->base, req, cm_media_name(res.media), cm_operator_snap_produce, snap,
                             cm_operator_snap_free);
        return;
    }
    if (res.code == 200 && res.body)
        cm_http_respond(req, 200, cm_media_name(res.media), res.body, res.body_len);
    else if (res.code == 200 || res.code == 202)
        respond_after_registry(m, req, res.code);
    else {
        if (res.code == 405)
            cm_http_add_header(req, "Allow", "POST");
        cm_http_respond_text(req, res.code, "%s", res.text);
    }
    cm_operator_result_cleanup(&res);
}

/* Authenticates req in realm and checks action on object (NULL: any) against --acls; answers
 * 401/403 itself and returns false when the request may not go on. */
static bool guard(struct cm_master *m, struct cm_http_request *req, enum cm_master_realm realm,
                  enum cm_acl_action action, const char *object)
{
    char *principal = NULL;
    if (!cm_master_http_authenticate(m, req, realm, &principal))
        return false;
    bool ok = cm_master_http_authorize(m, req, action, principal, object);
    free(principal);
    return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* /master/roles */

static json_t *summary_of(Mesos__V1__Resource **v, size_t n)
{
    struct cm_resources r;
    cm_resources_init(&r);
    char why[256];
    cm_resources_from_proto(&r, v, n, why, sizeof why);
    json_t *j = cm_resources_summary_json(&r);
    cm_resources_cleanup(&r);
    return j;
}

static void handle_roles(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    if (cm_master_http_redirect(m, req))
        return;
    if (!guard(m, req, CM_MASTER_REALM_READONLY, CM_ACL_VIEW_ROLE, NULL))
        return;
    struct cm_operator *op = cm_operator_of(m);
    cm_operator_sync_weights(op);
    Mesos__V1__Master__Response__GetRoles *roles = cm_operator_get_roles(op);
    json_t *arr = json_array();
    for (size_t i = 0; i < roles->n_roles; i++) {
        const Mesos__V1__Role *r = roles->roles[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(r->name));
        json_object_set_new(o, "weight", json_real(r->weight));
        json_t *fws = json_array();
        for (size_t j = 0; j < r->n_frameworks; j++)
            json_array_append_new(fws, json_string(r->frameworks[j]->value));
        json_object_set_new(o, "frameworks", fws);
        json_object_set_new(o, "resources", summary_of(r->resources, r->n_resources));
        json_object_set_new(o, "allocated", summary_of(r->resources, r->n_resources));
        struct cm_resources offered;
        cm_resources_init(&offered);
        for (const struct cm_offer *of = m->offers_head; of; of = of->next)
            if (strcmp(of->role, r->name) == 0)
                cm_resources_add(&offered, &of->resources);
        json_object_set_new(o, "offered", cm_resources_summary_json(&offered));
        cm_resources_cleanup(&offered);
        json_object_set_new(o, "reserved", summary_of(NULL, 0));
        json_t *q = json_object();
        json_object_set_new(q, "role", json_string(r->name));
        json_object_set_new(q, "guarantee", json_object());
        json_object_set_new(q, "limit", json_object());
        json_object_set_new(q, "consumed", summary_of(r->resources, r->n_resources));
        json_object_set_new(o, "quota", q);
        json_array_append_new(arr, o);
    }
    protobuf_c_message_free_unpacked(&roles->base, NULL);
    json_t *body = json_object();
    json_object_set_new(body, "roles", arr);
    cm_http_respond_json(req, 200, body);
}

/* ------------------------------------------------------------------------------------------ */
/* /master/weights */

static void handle_weights(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    if (cm_master_http_redirect(m, req))
        return;
    struct cm_operator *op = cm_operator_of(m);
    cm_operator_sync_weights(op);
    if (strcmp(req->method, "GET") == 0) {
        if (!guard(m, req, CM_MASTER_REALM_READONLY, CM_ACL_VIEW_ROLE, NULL))
            return;
        Mesos__V1__Master__Response__GetWeights *w = cm_operator_get_weights(op);
        json_t *arr = json_array();
        for (size_t i = 0; i < w->n_weight_infos; i++)
            json_array_append_new(arr, cm_pbjson_to_json(&w->weight_infos[i]->base));
        protobuf_c_message_free_unpacked(&w->base, NULL);
        cm_http_respond_json(req, 200, arr);
        return;
    }
    if (strcmp(req->method, "PUT") != 0) {
        cm_http_add_header(req, "Allow", "GET, PUT");
        cm_http_respond_text(req, 405, "Expecting a 'GET' or 'PUT' request, received '%s'",
                             req->method);
        return;
    }
    char *principal = NULL;
    if (!cm_master_http_authenticate(m, req, CM_MASTER_REALM_READWRITE, &principal))
        return;
    json_error_t jerr;
    json_t *j = json_loadb((const char *)req->body, req->body_len, 0, &jerr);
    if (!j || !json_is_array(j)) {
        json_decref(j);
        cm_http_respond_text(req, 400, "Failed to parse update weights request JSON: %s",
                             j ? "expecting an array of WeightInfo" : jerr.text);
        return;
    }
    size_t n = json_array_size(j);
    Mesos__V1__WeightInfo **w = cm_xcalloc(n ? n : 1, sizeof *w);
    char why[512] = "";
    int code = 200;
    for (size_t i = 0; i < n && code == 200; i++) {
        ProtobufCMessage *msg = NULL;
        char pwhy[384];
        if (cm_pbjson_from_json(&mesos__v1__weight_info__descriptor, json_array_get(j, i), &msg,
                                pwhy, sizeof pwhy) != 0) {
            snprintf(why, sizeof why, "Failed to convert weights JSON array element %zu: %s", i,
                     pwhy);
            code = 400;
            break;
        }
        w[i] = (Mesos__V1__WeightInfo *)msg;
        if (!cm_acls_allowed(m->acls, CM_ACL_UPDATE_WEIGHT, principal, w[i]->role)) {
            snprintf(why, sizeof why, "Forbidden: not authorized to %s on role '%s'",
                     cm_acls_action_name(CM_ACL_UPDATE_WEIGHT), w[i]->role);
            code = 403;
        }
    }
    free(principal);
    if (code == 200)
        code = cm_operator_update_weights(op, w, n, why, sizeof why);
    for (size_t i = 0; i < n; i++)
        if (w[i])
            protobuf_c_message_free_unpacked(&w[i]->base, NULL);
    free(w);
    json_decref(j);
    if (code == 200)
        respond_after_registry(m, req, 200);
    else
        cm_http_respond_text(req, code, "%s", why);
}

/* ------------------------------------------------------------------------------------------ */
/* /master/teardown, /logging/toggle */

/* Value of a form field of an application/x-www-form-urlencoded body (malloc'd) or NULL. */
static char *form_value(const struct cm_http_request *req, const char *name)
{
    char *text = cm_xmalloc(req->body_len + 1);
    memcpy(text, req->body, req->body_len);
    text[req->body_len] = 0;
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    char *out = NULL;
    if (evhttp_parse_query_str(text, &q) == 0) {
        const char *v = evhttp_find_header(&q, name);
        if (v)
            out = cm_xstrdup(v);
    }
    evhttp_clear_headers(&q);
    free(text);
    return out;
}

static void handle_teardown(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    if (cm_master_http_redirect(m, req))
        return;
    if (strcmp(req->method, "POST") != 0) {
        cm_http_add_header(req, "Allow", "POST");
        cm_http_respond_text(req, 405, "Expecting a 'POST' request, received '%s'", req->method);
        return;
    }
    char *principal = NULL;
    if (!cm_master_http_authenticate(m, req, CM_MASTER_REALM_READWRITE, &principal))
        return;
    char *id = form_value(req, "frameworkId");
    if (!id) {
        free(principal);
        cm_http_respond_text(req, 400, "Missing 'frameworkId' query parameter in the request body");
        return;
    }
    struct cm_framework *fw = cm_master_framework(m, id);
    if (!fw) {
        free(id);
        free(principal);
        cm_http_respond_text(req, 400, "No framework found with specified ID");
        return;
    }
    bool allowed =
        cm_master_http_authorize(m, req, CM_ACL_TEARDOWN_FRAMEWORK, principal, fw->info->principal);
    free(principal);
    if (!allowed) {
        free(id);
        return;
    }
    CM_INFO(MOD, "Tearing down framework %s on the operator's request (/teardown)", id);
    free(id);
    m->metrics.messages_unregister_framework++;
    cm_master_remove_framework(m, fw);
    cm_http_respond(req, 200, NULL, NULL, 0);
}

static void handle_logging_toggle(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    struct cm_operator *op = cm_operator_of(m);
    if (!guard(m, req, CM_MASTER_REALM_READWRITE, CM_ACL_SET_LOG_LEVEL, NULL))
        return;
    char *level = cm_http_request_query_param(req, "level");
    char *duration = cm_http_request_query_param(req, "duration");
    if (!level) {
        cm_http_respond_text(req, 400, "Expecting 'level' in query parameters");
    } else if (!duration) {
        cm_http_respond_text(req, 400, "Expecting 'duration' in query parameters");
    } else {
        char *end = NULL;
        unsigned long v = strtoul(level, &end, 10);
        double secs = 0;
        if (!level[0] || *end || level[0] == '-' || v > 1000)
            cm_http_respond_text(req, 400, "Invalid level '%.64s'", level);
        else if (cm_duration_parse(duration, &secs) != 0 || !(secs > 0))
            cm_http_respond_text(req, 400, "Invalid duration '%.64s'", duration);
        else {
            cm_operator_set_logging(op, (uint32_t)v, secs);
            cm_http_respond(req, 200, NULL, NULL, 0);
        }
    }
    free(level);
    free(duration);
}

static void handle_not_implemented(struct cm_http_request *req, void *arg)
{
    struct cm_master *m = arg;
    if (cm_master_http_redirect(m, req))
        return;
    cm_http_respond_text(req, 501,
                         "%s is not implemented: cmesos has no maintenance schedules "
                         "(use the DRAIN_AGENT operator call)",
                         req->path);
}

void cm_master_operator_http_routes(struct cm_master *m)
{
    cm_operator_new(m);
    struct cm_http_server *h = m->http;
    /* The server's "master" prefix serves each of these under /master/ too (§1.1). */
    cm_http_server_route(h, "/api/v1", handle_api, m);
    cm_http_server_route(h, "/roles", handle_roles, m);
    cm_http_server_route(h, "/roles.json", handle_roles, m);
    cm_http_server_route(h, "/weights", handle_weights, m);
    cm_http_server_route(h, "/teardown", handle_teardown, m);
    cm_http_server_route(h, "/logging/toggle", handle_logging_toggle, m);
    cm_http_server_route(h, "/maintenance/schedule", handle_not_implemented, m);
    cm_http_server_route(h, "/maintenance/status", handle_not_implemented, m);
    cm_http_server_route(h, "/machine/down", handle_not_implemented, m);
    cm_http_server_route(h, "/machine/up", handle_not_implemented, m);
}
