/*
 * sched_util.c: master URLs and the scheduler API's call/event codecs (over codec.h).
 */
#include "sched_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "codec.h"
#include "tls.h"

/* Checks "host:port" or "[v6]:port" (host non-empty, port 1..65535, no spaces) of length len. */
static int check_authority(const char *a, size_t len, char *why, size_t whylen)
{
    if (len == 0)
        return cm_fail(CM_EINVAL, why, whylen, "master address has no host");
    const char *colon = NULL;
    if (a[0] == '[') {
        const char *close = memchr(a, ']', len);
        if (!close || close == a + 1)
            return cm_fail(CM_EINVAL, why, whylen, "master address has a bad IPv6 host");
        if ((size_t)(close - a) + 1 < len && close[1] == ':')
            colon = close + 1;
        else if ((size_t)(close - a) + 1 != len)
            return cm_fail(CM_EINVAL, why, whylen, "master address has junk after ']'");
    } else {
        colon = memrchr(a, ':', len);
        if (colon == a)
            return cm_fail(CM_EINVAL, why, whylen, "master address has no host");
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)a[i];
        if (isspace(c) || iscntrl(c) || c == '/' || c == '?' || c == '#' || c == '@')
            return cm_fail(CM_EINVAL, why, whylen, "master address contains '%c'",
                           isprint(c) ? c : '?');
    }
    if (!colon)
        return cm_fail(CM_EINVAL, why, whylen,
                       "master address must be host:port (the port is missing)");
    const char *p = colon + 1;
    size_t plen = len - (size_t)(p - a);
    if (plen == 0 || plen > 5)
        return cm_fail(CM_EINVAL, why, whylen, "master address has a bad port");
    unsigned long port = 0;
    for (size_t i = 0; i < plen; i++) {
        if (!isdigit((unsigned char)p[i]))
            return cm_fail(CM_EINVAL, why, whylen, "master address has a bad port");
        port = port * 10 + (unsigned long)(p[i] - '0');
    }
    if (port == 0 || port > 65535)
        return cm_fail(CM_EINVAL, why, whylen, "master port %lu is out of range", port);
    return 0;
}

/* Splits "scheme://rest" and returns the scheme length, or 0 if there is no "://". */
static size_t scheme_len(const char *s)
{
    const char *sep = strstr(s, "://");
    if (!sep || sep == s)
        return 0;
    for (const char *c = s; c < sep; c++)
        if (!isalpha((unsigned char)*c))
            return 0;
    return (size_t)(sep - s);
}

int cm_sched_master_url(const char *master, char *out, size_t outlen, char *why, size_t whylen)
{
    if (!master || !*master)
        return cm_fail(CM_EINVAL, why, whylen, "master address is empty");
    /* A bare host:port takes the process's scheme (https when LIBPROCESS_SSL_ENABLED). */
    const char *scheme = cm_tls_scheme();
    size_t slen = strlen(scheme);
    const char *rest = master;
    size_t sl = scheme_len(master);
    if (sl) {
        /* zk:// masters never get here: cm_scheduler_new hands them to the detector. */
        if (sl == 2 && strncasecmp(master, "zk", 2) == 0)
            return cm_fail(CM_EINVAL, why, whylen,
                           "zk:// masters are detected through ZooKeeper, not turned into a URL");
        if (sl == 4 && strncasecmp(master, "http", 4) == 0) {
            scheme = "http";
        } else if (sl == 5 && strncasecmp(master, "https", 5) == 0) {
            scheme = "https";
            slen = 5;
        } else {
            return cm_fail(CM_EINVAL, why, whylen, "master address has unsupported scheme '%.*s'",
                           (int)sl, master);
        }
        rest = master + sl + 3;
    }
    /* Any path the user gave is dropped: the endpoint is always /api/v1/scheduler. */
    size_t alen = strcspn(rest, "/");
    int rc = check_authority(rest, alen, why, whylen);
    if (rc)
        return rc;
    int n = snprintf(out, outlen, "%.*s://%.*s%s", (int)slen, scheme, (int)alen, rest,
                     CM_SCHED_API_PATH);
    if (n < 0 || (size_t)n >= outlen || (size_t)n >= CM_SCHED_URL_MAX)
        return cm_fail(CM_EINVAL, why, whylen, "master address is too long");
    return 0;
}

const char *cm_sched_media_type(enum cm_scheduler_content_type ct)
{
    return ct == CM_SCHEDULER_PROTOBUF ? "application/x-protobuf" : "application/json";
}

int cm_sched_encode_call(const Mesos__V1__Scheduler__Call *call, enum cm_scheduler_content_type ct,
                         uint8_t **out, size_t *len)
{
    return cm_pb_encode(&call->base,
                        ct == CM_SCHEDULER_PROTOBUF ? CM_MEDIA_PROTOBUF : CM_MEDIA_JSON, out, len);
}

/* Which body field an event type requires; checked after decoding so callbacks can rely on it. */
int cm_sched_check_event(const Mesos__V1__Scheduler__Event *ev, char *why, size_t whylen)
{
    if (!ev->has_type)
        return cm_fail(CM_EINVAL, why, whylen, "Event has no 'type'");
    const void *body = ev;
    const char *field = NULL;
    switch (ev->type) {
    case MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED:
        body = ev->subscribed;
        field = "subscribed";
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS:
        body = ev->offers;
        field = "offers";
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__INVERSE_OFFERS:
        body = ev->inverse_offers;
        field = "inverse_offers";
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND:
        body = ev->rescind;
        field = "rescind";
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND_INVERSE_OFFER:
        body = ev->rescind_inverse_offer;
        field = "rescind_inverse_offer";
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE:
        body = ev->update;
        field = "update";
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE_OPERATION_STATUS:
        body = ev->update_operation_status;
        field = "update_operation_status";
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__MESSAGE:
        body = ev->message;
        field = "message";
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE:
        body = ev->failure;
        field = "failure";
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR:
        body = ev->error;
        field = "error";
        break;
    default: break;
    }
    if (!body)
        return cm_fail(CM_EINVAL, why, whylen, "Event of type %s lacks its '%s' field",
                       field ? field : "?", field ? field : "?");
    if (ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE && !ev->update->status)
        return cm_fail(CM_EINVAL, why, whylen, "UPDATE event lacks 'update.status'");
    if (ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR && !ev->error->message)
        return cm_fail(CM_EINVAL, why, whylen, "ERROR event lacks 'error.message'");
    return 0;
}

int cm_sched_decode_event(enum cm_scheduler_content_type ct, const uint8_t *data, size_t len,
                          Mesos__V1__Scheduler__Event **out, char *why, size_t whylen)
{
    *out = NULL;
    ProtobufCMessage *msg = NULL;
    int rc = cm_pb_decode(&mesos__v1__scheduler__event__descriptor,
                          ct == CM_SCHEDULER_PROTOBUF ? CM_MEDIA_PROTOBUF : CM_MEDIA_JSON, data,
                          len, &msg, why, whylen);
    if (rc)
        return rc;
    Mesos__V1__Scheduler__Event *ev = (Mesos__V1__Scheduler__Event *)msg;
    rc = cm_sched_check_event(ev, why, whylen);
    if (rc) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return rc;
    }
    *out = ev;
    return 0;
}

const char *cm_sched_call_type_name(Mesos__V1__Scheduler__Call__Type type)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&mesos__v1__scheduler__call__type__descriptor, type);
    return v ? v->name : "UNKNOWN";
}
