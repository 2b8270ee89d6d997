/*
 * agent_link_http.c: the HTTP transport of the master link (struct cm_agent_link in
 * agent_link.h): REGISTER is a streaming POST to /master/api/v1/agent whose response is the
 * RecordIO stream of AgentEvents; every other call is one POST carrying the stream id. Kept in
 * small functions so the shared stream layer (src/common/stream.h) can replace them.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_internal.h"
#include "agent_link.h"
#include "codec.h"
#include "log.h"

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

static int http_on_record(void *arg, const uint8_t *data, size_t len)
{
    return cm_agent_link_record(arg, data, len);
}

static int http_headers(void *arg, const struct cm_http_response *resp)
{
    struct cm_agent *a = arg;
    if (resp->status == 307) {
        /* A standby master: a fixed --master follows its Location (the leader). */
        cm_detector_redirect(a->detector, cm_http_response_header(resp, "Location"));
        return 1;
    }
    if (resp->status != 200) {
        CM_WARN(MOD, "Master refused registration with status %ld", resp->status);
        return 1;
    }
    const char *sid = cm_http_response_header(resp, "Mesos-Stream-Id");
    free(a->stream_id);
    a->stream_id = sid ? cm_xstrdup(sid) : NULL;
    return 0;
}

static int http_data(void *arg, const void *data, size_t len)
{
    struct cm_agent *a = arg;
    int rc = cm_recordio_feed(&a->decoder, data, len, http_on_record, a);
    if (rc < 0)
        CM_ERROR(MOD, "Bad RecordIO from the master: %s", cm_strerror(rc));
    return rc != 0;
}

static void http_register_done(void *arg, int err, const char *errmsg,
                               const struct cm_http_response *resp)
{
    struct cm_agent *a = arg;
    (void)resp;
    a->register_call = NULL;
    cm_agent_link_lost(a, err ? (errmsg ? errmsg : cm_strerror(err)) : "stream ended");
}

static int http_open(void *arg, const char *leader, const Cmesos__Internal__AgentCall *reg,
                     char *why, size_t whylen)
{
    struct cm_agent *a = arg;
    free(a->master_url);
    a->master_url = cm_xasprintf("http://%s/master/api/v1/agent", leader);
    free(a->stream_id);
    a->stream_id = NULL;
    cm_recordio_decoder_cleanup(&a->decoder);
    cm_recordio_decoder_init(&a->decoder, CM_AGENT_MAX_LINK_RECORD);
    uint8_t *buf = NULL;
    size_t len = 0;
    cm_pb_encode(&reg->base, CM_MEDIA_PROTOBUF, &buf, &len);
    const char *headers[] = {"Content-Type: application/x-protobuf",
                             "Accept: application/x-protobuf", NULL};
    struct cm_http_request_opts o = {
        .method = "POST",
        .url = a->master_url,
        .headers = headers,
        .body = buf,
        .body_len = len,
        .connect_timeout_secs = 10,
        .on_headers = http_headers,
        .on_data = http_data,
        .on_done = http_register_done,
        .arg = a,
    };
    int rc = cm_http_client_start(a->client, &o, &a->register_call);
    free(buf);
    if (rc != 0) {
        a->register_call = NULL;
        return cm_fail(rc, why, whylen, "%s", cm_strerror(rc));
    }
    return 0;
}

static int http_send(void *arg, const Cmesos__Internal__AgentCall *call)
{
    struct cm_agent *a = arg;
    if (!a->stream_id || !a->master_url)
        return -ENOTCONN;
    uint8_t *buf = NULL;
    size_t len = 0;
    cm_pb_encode(&call->base, CM_MEDIA_PROTOBUF, &buf, &len);
    char *sid = cm_xasprintf("Mesos-Stream-Id: %s", a->stream_id);
    const char *headers[] = {"Content-Type: application/x-protobuf",
                             "Accept: application/x-protobuf", sid, NULL};
    struct cm_http_request_opts o = {
        .method = "POST",
        .url = a->master_url,
        .headers = headers,
        .body = buf,
        .body_len = len,
        .timeout_secs = 30,
        .on_done = http_post_done,
        .arg = a,
    };
    int rc = cm_http_client_start(a->client, &o, NULL);
    free(sid);
    free(buf);
    return rc;
}

static void http_close(void *arg)
{
    struct cm_agent *a = arg;
    if (a->register_call) {
        cm_http_call_cancel(a->register_call);
        a->register_call = NULL;
    }
}

void agent_link_http_init(struct cm_agent *a, struct cm_agent_link *out)
{
    out->open = http_open;
    out->send = http_send;
    out->close = http_close;
    out->arg = a;
}
