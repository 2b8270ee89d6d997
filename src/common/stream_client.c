/*
 * stream_client.c: subscribe, follow redirects, read RecordIO, decode, back off
 * (stream_client.h).
 *
 * One attempt at a time. Its life:
 *
 *   idle --start--> waiting(0) --timer--> asking --307--> asking (next hop)
 *   asking --200 + headers--> open --record--> open
 *   asking/open --any end--> on_lost --RETRY--> waiting(backoff) | --STOP--> idle
 *
 * The HTTP client calls us back from inside curl; ending a stream from inside our own data
 * callback is done by returning non-zero there (in_data / abort_data), never by cancelling the
 * call under curl's feet.
 */
#include "stream_client.h"

#include <ctype.h>
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "errors.h"
#include "http_client.h"
#include "http_server.h"
#include "ids.h"
#include "log.h"
#include "recordio.h"
#include "util.h"

#define DEFAULT_MAX_RECORD ((size_t)16 << 20)
#define DEFAULT_REDIRECTS 5
#define ERRBODY_MAX 1024
#define REASON_MAX (2 * CM_STREAM_URL_MAX + ERRBODY_MAX + 256)

struct cm_stream_decoder {
    const ProtobufCMessageDescriptor *desc;
    enum cm_media media;
    struct cm_recordio_decoder rio;
    cm_stream_validate_cb validate;
    cm_stream_event_cb on_event;
    void *arg;
    int err; /* sticky */
    char why[512];
    bool stop; /* the owner asked to stop during on_event */
};

struct cm_stream_client {
    struct event_base *base;
    struct cm_http_client *http;
    bool own_http;
    const struct cm_clock *clock;
    struct cm_log_sink sink;
    bool has_sink;
    char module[32];
    char call_name[32]; /* the opening call, in logs and reasons */
    enum cm_media media;
    const ProtobufCMessageDescriptor *desc;
    bool want_stream_id;
    size_t max_record;
    unsigned max_redirects;
    double backoff_initial, backoff_max, idle_timeout, connect_timeout;
    uint64_t rng;
    cm_stream_body_cb body;
    cm_stream_open_cb on_open;
    cm_stream_event_cb on_event;
    cm_stream_validate_cb validate;
    cm_stream_lost_cb on_lost;
    void *arg;
    char *authorization; /* Authorization header value of the opening call, or NULL */

    char base_url[CM_STREAM_URL_MAX]; /* where a chain of attempts starts */
    char url[CM_STREAM_URL_MAX];      /* the current hop */

    /* The attempt. */
    struct cm_http_call *call;
    long status;
    bool open;
    bool proto_err; /* headers or data broke the protocol; reason holds why */
    char reason[REASON_MAX];
    char location[CM_STREAM_URL_MAX];
    char errbody[ERRBODY_MAX + 1];
    size_t errbody_len;
    char stream_id[CM_STREAM_ID_MAX + 1];
    struct cm_stream_decoder *dec;
    int in_data;     /* > 0 while inside the data callback */
    bool abort_data; /* end the stream when the data callback returns */
    unsigned redirects;
    unsigned failures; /* failed attempts since the last event: the backoff exponent */
    double down_at;    /* clock time the link was lost, 0 while healthy */

    struct event *retry;
    struct event *idle;
};

#define SLOG(c, level, ...)                                                                        \
    cm_log_to((c)->has_sink ? &(c)->sink : NULL, level, (c)->module, __VA_ARGS__)

/* ---- pure helpers --------------------------------------------------------------------------- */

/* Splits "scheme://rest" and returns the scheme length, or 0 if there is no "://". */
static size_t scheme_len(const char *s)
{
    const char *sep = strstr(s, "://");
    if (!sep || sep == s)
        return 0;
    for (const char *p = s; p < sep; p++)
        if (!isalpha((unsigned char)*p))
            return 0;
    return (size_t)(sep - s);
}

int cm_stream_resolve_location(const char *current, const char *location, char *out, size_t outlen)
{
    if (!location)
        return CM_EINVAL;
    while (*location == ' ' || *location == '\t')
        location++;
    size_t loclen = strlen(location);
    while (loclen && isspace((unsigned char)location[loclen - 1]))
        loclen--;
    if (loclen == 0)
        return CM_EINVAL;
    for (size_t i = 0; i < loclen; i++)
        if (iscntrl((unsigned char)location[i]) || location[i] == ' ')
            return CM_EINVAL;

    /* The scheme, authority and path of the URL that was redirected, for relative forms. */
    size_t csl = current ? scheme_len(current) : 0;
    const char *cscheme = csl ? current : "http";
    if (!csl)
        csl = 4;
    const char *cpath = "";
    if (current && scheme_len(current)) {
        const char *cauth = current + csl + 3;
        cpath = cauth + strcspn(cauth, "/");
    }

    char scheme[8];
    const char *auth;
    size_t sl = scheme_len(location);
    if (sl) {
        if (sl >= sizeof scheme)
            return CM_EINVAL;
        memcpy(scheme, location, sl);
        scheme[sl] = '\0';
        if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
            return CM_EINVAL;
        auth = location + sl + 3;
    } else if (loclen >= 2 && location[0] == '/' && location[1] == '/') {
        if (csl >= sizeof scheme)
            return CM_EINVAL;
        memcpy(scheme, cscheme, csl);
        scheme[csl] = '\0';
        auth = location + 2;
    } else if (location[0] == '/') {
        if (!current || !scheme_len(current))
            return CM_EINVAL;
        size_t keep = (size_t)(cpath - current);
        int n = snprintf(out, outlen, "%.*s%.*s", (int)keep, current, (int)loclen, location);
        return (n < 0 || (size_t)n >= outlen || (size_t)n >= CM_STREAM_URL_MAX) ? CM_EINVAL : 0;
    } else {
        return CM_EINVAL;
    }
    size_t rest = loclen - (size_t)(auth - location);
    size_t alen = strcspn(auth, "/");
    if (alen > rest)
        alen = rest;
    if (alen == 0)
        return CM_EINVAL;
    /* The authority must name a host; a port is optional in a Location. */
    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@' || auth[i] == '?' || auth[i] == '#')
            return CM_EINVAL;
    const char *path = auth + alen;
    size_t plen = rest - alen;
    int n;
    if (plen == 0)
        n = snprintf(out, outlen, "%s://%.*s%s", scheme, (int)alen, auth, cpath);
    else
        n = snprintf(out, outlen, "%s://%.*s%.*s", scheme, (int)alen, auth, (int)plen, path);
    if (n < 0 || (size_t)n >= outlen || (size_t)n >= CM_STREAM_URL_MAX)
        return CM_EINVAL;
    return 0;
}

double cm_stream_backoff_delay(unsigned attempt, double initial, double max, double r)
{
    if (!(initial > 0))
        initial = 1.0;
    if (!(max >= initial))
        max = initial;
    double cap = initial;
    for (unsigned i = 0; i < attempt && cap < max; i++)
        cap *= 2;
    if (cap > max)
        cap = max;
    if (!(r >= 0) || r >= 1)
        r = 0;
    return cap * (0.5 + 0.5 * r);
}

double cm_stream_random(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    /* The top 53 bits of the scrambled value give a uniform double in [0, 1). */
    return (double)((x * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0;
}

int cm_stream_id_check(const char *id)
{
    if (!id || !*id || strlen(id) > CM_STREAM_ID_MAX)
        return CM_EPROTO;
    for (const char *p = id; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return CM_EPROTO;
    return 0;
}

/* ---- decoder -------------------------------------------------------------------------------- */

struct cm_stream_decoder *cm_stream_decoder_new(const ProtobufCMessageDescriptor *desc,
                                                enum cm_media media, size_t max_record,
                                                cm_stream_validate_cb validate,
                                                cm_stream_event_cb on_event, void *arg)
{
    struct cm_stream_decoder *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    d->desc = desc;
    d->media = media;
    d->validate = validate;
    d->on_event = on_event;
    d->arg = arg;
    cm_recordio_decoder_init(&d->rio, max_record ? max_record : DEFAULT_MAX_RECORD);
    return d;
}

void cm_stream_decoder_free(struct cm_stream_decoder *d)
{
    if (!d)
        return;
    cm_recordio_decoder_cleanup(&d->rio);
    free(d);
}

static int on_record(void *arg, const uint8_t *data, size_t len)
{
    struct cm_stream_decoder *d = arg;
    ProtobufCMessage *ev = NULL;
    char why[400] = "";
    int rc = cm_pb_decode(d->desc, d->media, data, len, &ev, why, sizeof why);
    if (rc == 0 && d->validate) {
        rc = d->validate(d->arg, ev, why, sizeof why);
        if (rc) {
            protobuf_c_message_free_unpacked(ev, NULL);
            ev = NULL;
            rc = CM_EINVAL;
        }
    }
    if (rc) {
        /* The one policy (stream_client.h): an undecodable event ends the stream. */
        d->err = rc;
        snprintf(d->why, sizeof d->why, "Failed to de-serialize event (%zu bytes): %s", len,
                 why[0] ? why : cm_strerror(rc));
        return rc;
    }
    d->on_event(d->arg, ev);
    protobuf_c_message_free_unpacked(ev, NULL);
    /* The owner may have stopped the stream from on_event: stop feeding at once. */
    return d->stop ? 1 : 0;
}

int cm_stream_decoder_feed(struct cm_stream_decoder *d, const void *data, size_t len, char *why,
                           size_t whylen)
{
    if (d->err)
        return cm_fail(d->err, why, whylen, "%s", d->why);
    int rc = cm_recordio_feed(&d->rio, data, len, on_record, d);
    if (rc > 0)
        return 0; /* stopped by the owner; not an error of the stream */
    if (rc < 0 && !d->err) {
        d->err = rc;
        snprintf(d->why, sizeof d->why, "Failed to decode the stream of events: %s",
                 rc == CM_ETOOBIG ? "a record exceeds the size limit" : "bad RecordIO framing");
    }
    if (d->err)
        return cm_fail(d->err, why, whylen, "%s", d->why);
    return 0;
}

/* ---- client --------------------------------------------------------------------------------- */

static void on_retry(evutil_socket_t fd, short what, void *arg);
static void on_idle(evutil_socket_t fd, short what, void *arg);

struct cm_stream_client *cm_stream_client_new(const struct cm_stream_client_opts *o, char *why,
                                              size_t whylen)
{
    if (!o || !o->base || !o->event_desc || !o->body || !o->on_event || !o->on_lost) {
        cm_fail(CM_EINVAL, why, whylen,
                "stream client: base, event_desc, body, on_event and "
                "on_lost are required");
        return NULL;
    }
    if (o->media != CM_MEDIA_JSON && o->media != CM_MEDIA_PROTOBUF) {
        cm_fail(CM_EINVAL, why, whylen, "stream client: media must be JSON or protobuf");
        return NULL;
    }
    if (o->url && strlen(o->url) >= CM_STREAM_URL_MAX) {
        cm_fail(CM_EINVAL, why, whylen, "stream client: URL too long");
        return NULL;
    }
    if (o->authorization &&
        (strpbrk(o->authorization, "\r\n") || strlen(o->authorization) > 4096)) {
        cm_fail(CM_EINVAL, why, whylen, "stream client: malformed authorization value");
        return NULL;
    }
    struct cm_stream_client *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->base = o->base;
    c->clock = o->clock ? o->clock : &cm_clock_real;
    if (o->log && o->log->fn) {
        c->sink = *o->log;
        c->has_sink = true;
    }
    snprintf(c->module, sizeof c->module, "%s", o->module ? o->module : "stream");
    snprintf(c->call_name, sizeof c->call_name, "%s",
             o->call_name && *o->call_name ? o->call_name : "SUBSCRIBE");
    c->media = o->media;
    c->authorization = o->authorization ? cm_xstrdup(o->authorization) : NULL;
    c->desc = o->event_desc;
    c->want_stream_id = o->stream_id;
    c->max_record = o->max_record ? o->max_record : DEFAULT_MAX_RECORD;
    c->max_redirects = o->max_redirects ? o->max_redirects : DEFAULT_REDIRECTS;
    c->backoff_initial = o->backoff_initial > 0 ? o->backoff_initial : 1.0;
    c->backoff_max = o->backoff_max > 0 ? o->backoff_max : 15.0;
    c->idle_timeout = o->idle_timeout > 0 ? o->idle_timeout : 0;
    c->connect_timeout = o->connect_timeout > 0 ? o->connect_timeout : 10.0;
    c->rng = o->seed;
    if (!c->rng) {
        uint8_t seed[16];
        cm_uuid_random(seed);
        memcpy(&c->rng, seed, sizeof c->rng);
        if (!c->rng)
            c->rng = 1;
    }
    c->body = o->body;
    c->on_open = o->on_open;
    c->on_event = o->on_event;
    c->validate = o->validate;
    c->on_lost = o->on_lost;
    c->arg = o->arg;
    snprintf(c->base_url, sizeof c->base_url, "%s", o->url ? o->url : "");
    snprintf(c->url, sizeof c->url, "%s", c->base_url);
    if (o->http) {
        c->http = o->http;
    } else {
        c->http = cm_http_client_new(c->base);
        c->own_http = true;
    }
    c->retry = evtimer_new(c->base, on_retry, c);
    c->idle = evtimer_new(c->base, on_idle, c);
    if (!c->http || !c->retry || !c->idle)
        abort();
    return c;
}

/* Forgets the attempt's state (the HTTP call is already gone or cancelled). */
static void attempt_reset(struct cm_stream_client *c)
{
    cm_stream_decoder_free(c->dec);
    c->dec = NULL;
    c->call = NULL;
    c->status = 0;
    c->open = false;
    c->proto_err = false;
    c->reason[0] = '\0';
    c->location[0] = '\0';
    c->errbody_len = 0;
    c->errbody[0] = '\0';
    c->stream_id[0] = '\0';
    c->abort_data = false;
    evtimer_del(c->idle);
}

/* Ends the current attempt without callbacks: cancels the call, or, from inside the data
 * callback, asks the HTTP client to end it when we return. */
static void attempt_cancel(struct cm_stream_client *c)
{
    if (c->in_data) {
        c->abort_data = true;
        if (c->dec)
            c->dec->stop = true;
        c->open = false;
        c->stream_id[0] = '\0';
        evtimer_del(c->idle);
        return;
    }
    if (c->call)
        cm_http_call_cancel(c->call);
    attempt_reset(c);
}

int cm_stream_client_set_authorization(struct cm_stream_client *c, const char *value)
{
    if (value && (strpbrk(value, "\r\n") || strlen(value) > 4096))
        return CM_EINVAL;
    free(c->authorization);
    c->authorization = value ? cm_xstrdup(value) : NULL;
    return 0;
}

void cm_stream_client_free(struct cm_stream_client *c)
{
    if (!c)
        return;
    if (c->call)
        cm_http_call_cancel(c->call);
    c->call = NULL;
    attempt_reset(c);
    if (c->own_http)
        cm_http_client_free(c->http);
    event_free(c->retry);
    event_free(c->idle);
    free(c->authorization);
    free(c);
}

static void arm_retry(struct cm_stream_client *c, double delay)
{
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - floor(delay)) * 1e6)};
    evtimer_add(c->retry, &tv);
}

static void arm_idle(struct cm_stream_client *c)
{
    if (c->idle_timeout <= 0 || !c->call) {
        evtimer_del(c->idle);
        return;
    }
    double s = c->idle_timeout;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - floor(s)) * 1e6)};
    evtimer_add(c->idle, &tv);
}

int cm_stream_client_start(struct cm_stream_client *c)
{
    if (c->call || evtimer_pending(c->retry, NULL))
        return CM_ESTATE;
    arm_retry(c, 0);
    return 0;
}

void cm_stream_client_stop(struct cm_stream_client *c)
{
    evtimer_del(c->retry);
    attempt_cancel(c);
}

void cm_stream_client_restart(struct cm_stream_client *c)
{
    cm_stream_client_stop(c);
    c->failures = 0;
    c->redirects = 0;
    snprintf(c->url, sizeof c->url, "%s", c->base_url);
    arm_retry(c, 0);
}

int cm_stream_client_set_url(struct cm_stream_client *c, const char *url)
{
    if (url && strlen(url) >= CM_STREAM_URL_MAX)
        return CM_EINVAL;
    snprintf(c->base_url, sizeof c->base_url, "%s", url ? url : "");
    return 0;
}

void cm_stream_client_set_idle_timeout(struct cm_stream_client *c, double secs)
{
    c->idle_timeout = secs > 0 ? secs : 0;
    arm_idle(c);
}

const char *cm_stream_client_url(const struct cm_stream_client *c)
{
    return c->url;
}

const char *cm_stream_client_stream_id(const struct cm_stream_client *c)
{
    return c->open ? c->stream_id : "";
}

bool cm_stream_client_is_open(const struct cm_stream_client *c)
{
    return c->open;
}

/* The attempt ended: tell the owner and do what it says. The attempt's state is reset. */
static void lost(struct cm_stream_client *c, enum cm_stream_loss_kind kind, long status,
                 const char *reason, const char *body, bool was_open)
{
    double now = cm_clock_now(c->clock);
    if (c->down_at == 0)
        c->down_at = now;
    double delay = cm_stream_backoff_delay(c->failures, c->backoff_initial, c->backoff_max,
                                           cm_stream_random(&c->rng));
    if (c->failures < 32)
        c->failures++;
    struct cm_stream_loss loss = {
        .kind = kind,
        .status = status,
        .reason = reason,
        .body = body ? body : "",
        .was_open = was_open,
        .down_for = now - c->down_at,
        .retry_in = delay,
    };
    /* The next chain starts from the configured URL: after a failover the leader moved. */
    snprintf(c->url, sizeof c->url, "%s", c->base_url);
    c->redirects = 0;
    SLOG(c, CM_LOG_INFO, "%s stream %s: %s", c->call_name, was_open ? "lost" : "failed", reason);
    if (c->on_lost(c->arg, &loss) == CM_STREAM_RETRY && !c->call &&
        !evtimer_pending(c->retry, NULL))
        arm_retry(c, delay);
}

static void start_attempt(struct cm_stream_client *c);

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_stream_client *c = arg;
    if (!c->call)
        start_attempt(c);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_stream_client *c = arg;
    if (!c->call)
        return;
    bool was_open = c->open;
    char reason[128];
    snprintf(reason, sizeof reason, "nothing received for %.1f secs", c->idle_timeout);
    cm_http_call_cancel(c->call);
    attempt_reset(c);
    lost(c, CM_STREAM_SILENT, was_open ? 200 : 0, reason, "", was_open);
}

static void stream_event(void *arg, const ProtobufCMessage *event)
{
    struct cm_stream_client *c = arg;
    /* A healthy stream: the next failure starts the backoff and the outage clock afresh. */
    c->failures = 0;
    c->down_at = 0;
    arm_idle(c);
    c->on_event(c->arg, event);
}

static int stream_validate(void *arg, const ProtobufCMessage *event, char *why, size_t whylen)
{
    struct cm_stream_client *c = arg;
    return c->validate ? c->validate(c->arg, event, why, whylen) : 0;
}

static int on_headers(void *arg, const struct cm_http_response *resp)
{
    struct cm_stream_client *c = arg;
    c->status = resp->status;
    if (resp->status == 307) {
        const char *loc = cm_http_response_header(resp, "Location");
        snprintf(c->location, sizeof c->location, "%s", loc ? loc : "");
        return 0;
    }
    if (resp->status != 200)
        return 0;
    if (c->want_stream_id) {
        const char *id = cm_http_response_header(resp, "Mesos-Stream-Id");
        if (cm_stream_id_check(id) != 0) {
            c->proto_err = true;
            snprintf(c->reason, sizeof c->reason, "%s answer from %s lacks a valid Mesos-Stream-Id",
                     c->call_name, c->url);
            return 1;
        }
        snprintf(c->stream_id, sizeof c->stream_id, "%s", id);
    }
    /* Mesos answers in the type we asked for; anything else cannot be decoded. */
    enum cm_media got = cm_http_content_type(cm_http_response_header(resp, "Content-Type"));
    if (got != CM_MEDIA_NONE && got != c->media) {
        c->proto_err = true;
        snprintf(c->reason, sizeof c->reason, "%s answer from %s has Content-Type '%s'",
                 c->call_name, c->url, cm_http_response_header(resp, "Content-Type"));
        return 1;
    }
    c->dec =
        cm_stream_decoder_new(c->desc, c->media, c->max_record, stream_validate, stream_event, c);
    c->open = true;
    c->in_data++; /* on_open may stop us; treat it like a data callback */
    if (c->on_open)
        c->on_open(c->arg, c->stream_id);
    c->in_data--;
    if (c->abort_data)
        return 1;
    arm_idle(c);
    return 0;
}

static int on_data(void *arg, const void *data, size_t len)
{
    struct cm_stream_client *c = arg;
    if (c->status != 200) {
        /* An error body: keep its start for the reason. */
        size_t room = ERRBODY_MAX - c->errbody_len;
        size_t take = len < room ? len : room;
        memcpy(c->errbody + c->errbody_len, data, take);
        c->errbody_len += take;
        c->errbody[c->errbody_len] = '\0';
        return 0;
    }
    if (c->abort_data || !c->dec)
        return 1;
    c->in_data++;
    char why[600];
    int rc = cm_stream_decoder_feed(c->dec, data, len, why, sizeof why);
    c->in_data--;
    if (rc) {
        c->proto_err = true;
        snprintf(c->reason, sizeof c->reason, "%s (from %s)", why, c->url);
        return 1;
    }
    return c->abort_data ? 1 : 0;
}

static void on_done(void *arg, int err, const char *errmsg, const struct cm_http_response *resp)
{
    struct cm_stream_client *c = arg;
    (void)resp;
    if (c->abort_data) {
        /* The owner stopped or restarted us from a callback; it heard nothing more. */
        attempt_reset(c);
        return;
    }
    long status = c->status;
    bool was_open = c->open;
    bool proto = c->proto_err;
    char location[CM_STREAM_URL_MAX];
    snprintf(location, sizeof location, "%s", c->location);
    char body[ERRBODY_MAX + 1];
    snprintf(body, sizeof body, "%s", c->errbody);
    char reason[REASON_MAX];
    snprintf(reason, sizeof reason, "%s", c->reason);
    attempt_reset(c);

    if (proto) {
        lost(c, CM_STREAM_PROTOCOL, status, reason, "", was_open);
        return;
    }
    if (status == 307) {
        char next[CM_STREAM_URL_MAX];
        if (cm_stream_resolve_location(c->url, location, next, sizeof next) != 0) {
            snprintf(reason, sizeof reason, "redirect from %s with a bad Location '%s'", c->url,
                     location);
            lost(c, CM_STREAM_PROTOCOL, status, reason, "", false);
            return;
        }
        if (++c->redirects > c->max_redirects) {
            snprintf(reason, sizeof reason, "more than %u redirects (last to %s)", c->max_redirects,
                     next);
            lost(c, CM_STREAM_PROTOCOL, status, reason, "", false);
            return;
        }
        SLOG(c, CM_LOG_INFO, "Redirected from %s to the leading master at %s", c->url, next);
        snprintf(c->url, sizeof c->url, "%s", next);
        start_attempt(c);
        return;
    }
    if (status == 200) {
        snprintf(reason, sizeof reason, "event stream from %s %s%s%s", c->url,
                 err ? "broke" : "closed", err && errmsg ? ": " : "", err && errmsg ? errmsg : "");
        lost(c, err ? CM_STREAM_BROKEN : CM_STREAM_CLOSED, status, reason, "", was_open);
        return;
    }
    if (status == 0) {
        snprintf(reason, sizeof reason, "cannot reach %s: %s", c->url,
                 errmsg && *errmsg ? errmsg : cm_strerror(err));
        lost(c, CM_STREAM_UNREACHABLE, 0, reason, "", false);
        return;
    }
    snprintf(reason, sizeof reason, "%s to %s answered %ld %s", c->call_name, c->url, status, body);
    lost(c, CM_STREAM_REFUSED, status, reason, body, false);
}

static void start_attempt(struct cm_stream_client *c)
{
    attempt_reset(c);
    char reason[CM_STREAM_URL_MAX + 128];
    if (!c->url[0]) {
        lost(c, CM_STREAM_UNREACHABLE, 0, "no master/agent URL known yet", "", false);
        return;
    }
    uint8_t *body = NULL;
    size_t len = 0;
    int rc = c->body(c->arg, &body, &len);
    if (rc) {
        snprintf(reason, sizeof reason, "cannot build %s: %s", c->call_name, cm_strerror(rc));
        lost(c, CM_STREAM_UNREACHABLE, 0, reason, "", false);
        return;
    }
    char ctype[64], accept[64];
    snprintf(ctype, sizeof ctype, "Content-Type: %s", cm_media_name(c->media));
    snprintf(accept, sizeof accept, "Accept: %s", cm_media_name(c->media));
    char *authz = c->authorization ? cm_xasprintf("Authorization: %s", c->authorization) : NULL;
    const char *headers[] = {ctype, accept, authz, NULL};
    struct cm_http_request_opts opts = {
        .method = "POST",
        .url = c->url,
        .headers = headers,
        .body = body,
        .body_len = len,
        .timeout_secs = 0,
        .connect_timeout_secs = c->connect_timeout,
        .on_headers = on_headers,
        .on_data = on_data,
        .on_done = on_done,
        .arg = c,
    };
    SLOG(c, CM_LOG_INFO, "Sending %s to %s", c->call_name, c->url);
    rc = cm_http_client_start(c->http, &opts, &c->call);
    free(body);
    free(authz);
    if (rc) {
        c->call = NULL;
        snprintf(reason, sizeof reason, "cannot start a request to %s: %s", c->url,
                 cm_strerror(rc));
        lost(c, CM_STREAM_UNREACHABLE, 0, reason, "", false);
        return;
    }
    /* Bounds a peer that accepts the connection but never answers, too. */
    arm_idle(c);
}
