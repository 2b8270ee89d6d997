/*
 * agent_link_http.c: the HTTP transport of the master link (struct cm_agent_link in
 * agent_link.h). REGISTER is a streaming POST to /master/api/v1/agent whose response is the
 * RecordIO stream of AgentEvents, opened by the shared stream client (stream_client.h: 307s,
 * Mesos-Stream-Id, the record bound, decoding and the one policy for an undecodable event);
 * every other call is one POST carrying the stream id.
 *
 * Retries belong to the agent core, not to the stream client: the core's register timer
 * (agent_link.c: a random delay in [0, backoff], doubling up to a minute) is what the tests
 * and operators know, and every attempt needs a fresh REGISTER listing what runs here now. So
 * every end of the stream is answered CM_STREAM_STOP and reported to the core with
 * cm_agent_link_lost, and each open() points the client at the leader (_set_url) and starts
 * one attempt (_restart). The client's own backoff is never used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "agent_auth.h"
#include "agent_link.h"
#include "codec.h"
#include "log.h"
#include "stream_client.h"
#include "tls.h"

#define MOD "agent"

static void http_post_done(void *arg, int err, const char *errmsg,
                           const struct cm_http_response *resp)
{
    struct cm_agent *a = arg;
    if (err) {
        CM_WARN(MOD, "Call to master failed: %s", errmsg ? errmsg : cm_strerror(err));
        return;
    }
    if (resp->status == 202 || resp->status == 200)
        return;
    CM_WARN(MOD, "Master answered %ld to a call: %.*s", resp->status, (int)resp->body_len,
            resp->body ? resp->body : "");
    if (resp->status == 403)
        cm_agent_link_forgotten(a);
}

/* The calls the core holds while one of their kind is in flight (cm_agent_link_call_done). */
static void http_update_done(void *arg, int err, const char *errmsg,
                             const struct cm_http_response *resp)
{
    cm_agent_link_call_done(arg, CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE);
    http_post_done(arg, err, errmsg, resp);
}

static void http_ack_done(void *arg, int err, const char *errmsg,
                          const struct cm_http_response *resp)
{
    cm_agent_link_call_done(arg, CMESOS__INTERNAL__AGENT_CALL__TYPE__TASK_LAUNCH_ACK);
    http_post_done(arg, err, errmsg, resp);
}

/* The stream client asks for the body of each attempt, redirect hops included: a copy of the
 * REGISTER the core handed to the last open(). */
static int link_body(void *arg, uint8_t **body, size_t *len)
{
    struct cm_agent *a = arg;
    if (!a->link_register)
        return CM_ESTATE;
    *body = cm_xmalloc(a->link_register_len ? a->link_register_len : 1);
    memcpy(*body, a->link_register, a->link_register_len);
    *len = a->link_register_len;
    return 0;
}

/* The stream is open. When it was reached through a 307 from a standby, a fixed --master
 * follows the Location to the leader (detector.h), so later registrations go there directly
 * and logs name it; a ZooKeeper detector keeps trusting ZooKeeper. */
static void link_open_cb(void *arg, const char *stream_id)
{
    struct cm_agent *a = arg;
    (void)stream_id;
    const char *leader = cm_detector_leader(a->detector);
    char asked[CM_STREAM_URL_MAX];
    snprintf(asked, sizeof asked, "%s://%s/master/api/v1/agent", cm_tls_scheme(),
             leader ? leader : "");
    const char *url = cm_stream_client_url(a->link_stream);
    if (strcmp(url, asked) != 0)
        cm_detector_redirect(a->detector, url);
}

static void link_event(void *arg, const ProtobufCMessage *msg)
{
    struct cm_agent *a = arg;
    if (cm_agent_link_event(a, (const Cmesos__Internal__AgentEvent *)msg) == 0)
        return;
    /* The master told us to shut down: this stream is over, and the core hears it as lost
     * like any other end of the link. */
    cm_stream_client_stop(a->link_stream);
    cm_agent_link_lost(a, "the master asked this agent to shut down");
}

/* The reason already names the URL and, for a refusal, the status and the start of the body;
 * the core logs it and schedules the next registration. */
static enum cm_stream_decision link_lost(void *arg, const struct cm_stream_loss *loss)
{
    struct cm_agent *a = arg;
    /* Mesos's agent exits when the master refuses its credential; this one keeps trying with
     * the usual backoff (the master's credentials may be fixed) and says why loudly. */
    if (loss->kind == CM_STREAM_REFUSED && (loss->status == 401 || loss->status == 403))
        CM_ERROR(MOD, "The master refused this agent's registration (%ld)%s: %s", loss->status,
                 agent_auth_master_authorization(a) ? "" : "; it may require --credential",
                 loss->body);
    cm_agent_link_lost(arg, loss->reason);
    return CM_STREAM_STOP;
}

static int http_open(void *arg, const char *leader, const Cmesos__Internal__AgentCall *reg,
                     char *why, size_t whylen)
{
    struct cm_agent *a = arg;
    if (!a->link_stream) {
        struct cm_stream_client_opts o = {
            .base = a->base,
            .http = a->client,
            .clock = a->clock,
            .module = MOD,
            .call_name = "REGISTER",
            .media = CM_MEDIA_PROTOBUF,
            .event_desc = &cmesos__internal__agent_event__descriptor,
            /* Calls must carry the stream id the master gave this REGISTER. */
            .stream_id = true,
            .max_record = CM_AGENT_MAX_LINK_RECORD,
            .body = link_body,
            .on_open = link_open_cb,
            .on_event = link_event,
            .on_lost = link_lost,
            .arg = a,
            /* --credential: HTTP Basic on REGISTER (agent_auth.h). */
            .authorization = agent_auth_master_authorization(a),
        };
        a->link_stream = cm_stream_client_new(&o, why, whylen);
        if (!a->link_stream)
            return CM_EINVAL;
    }
    char url[CM_STREAM_URL_MAX];
    int n = snprintf(url, sizeof url, "%s://%s/master/api/v1/agent", cm_tls_scheme(), leader);
    if (n < 0 || (size_t)n >= sizeof url || cm_stream_client_set_url(a->link_stream, url) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "master address '%.200s' is too long", leader);
    free(a->link_register);
    a->link_register = NULL;
    a->link_register_len = 0;
    int rc = cm_pb_encode(&reg->base, CM_MEDIA_PROTOBUF, &a->link_register, &a->link_register_len);
    if (rc != 0)
        return cm_fail(rc, why, whylen, "cannot encode REGISTER: %s", cm_strerror(rc));
    cm_stream_client_restart(a->link_stream);
    return 0;
}

static int http_send(void *arg, const Cmesos__Internal__AgentCall *call)
{
    struct cm_agent *a = arg;
    if (!a->link_stream || !cm_stream_client_is_open(a->link_stream))
        return -ENOTCONN;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = cm_pb_encode(&call->base, CM_MEDIA_PROTOBUF, &buf, &len);
    if (rc != 0)
        return rc;
    char *sid = cm_xasprintf("Mesos-Stream-Id: %s", cm_stream_client_stream_id(a->link_stream));
    const char *basic = agent_auth_master_authorization(a);
    char *authz = basic ? cm_xasprintf("Authorization: %s", basic) : NULL;
    const char *headers[] = {"Content-Type: application/x-protobuf",
                             "Accept: application/x-protobuf", sid, authz, NULL};
    int type = call->has_type ? (int)call->type : 0;
    struct cm_http_request_opts o = {
        .method = "POST",
        .url = cm_stream_client_url(a->link_stream),
        .headers = headers,
        .body = buf,
        .body_len = len,
        .timeout_secs = 30,
        .on_done = type == CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE     ? http_update_done
                   : type == CMESOS__INTERNAL__AGENT_CALL__TYPE__TASK_LAUNCH_ACK ? http_ack_done
                                                                                 : http_post_done,
        .arg = a,
    };
    /* Reported before the start: its end is reported by the done callback, which the client
     * runs exactly once for a started call (never for one that failed to start). */
    cm_agent_link_call_started(a, type);
    rc = cm_http_client_start(a->client, &o, NULL);
    if (rc != 0)
        cm_agent_link_call_done(a, type);
    free(sid);
    free(authz);
    free(buf);
    return rc;
}

static void http_close(void *arg)
{
    struct cm_agent *a = arg;
    if (a->link_stream)
        cm_stream_client_stop(a->link_stream);
}

void agent_link_http_init(struct cm_agent *a, struct cm_agent_link *out)
{
    out->open = http_open;
    out->send = http_send;
    out->close = http_close;
    out->arg = a;
}

void agent_link_http_cleanup(struct cm_agent *a)
{
    cm_stream_client_free(a->link_stream);
    a->link_stream = NULL;
    free(a->link_register);
    a->link_register = NULL;
    a->link_register_len = 0;
}
