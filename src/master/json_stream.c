/* json_stream.c: a response body produced in slices, one chunk per loop turn. See
 * json_stream.h. */
#include "json_stream.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http_server.h"
#include "json_out.h"
#include "util.h"

struct cm_json_stream {
    struct cm_http_stream *stream; /* NULL once the peer went away */
    struct event *ev;
    cm_json_stream_produce produce;
    void *arg;
    void (*free_arg)(void *arg);
    struct cm_json_out buf;
    bool running; /* inside a slice: the close callback defers the free */
    bool dead;
};

static void js_free(struct cm_json_stream *js)
{
    if (js->ev)
        event_free(js->ev);
    if (js->free_arg)
        js->free_arg(js->arg);
    cm_json_out_cleanup(&js->buf);
    free(js);
}

static void on_close(struct cm_http_stream *stream, void *arg)
{
    (void)stream;
    struct cm_json_stream *js = arg;
    js->stream = NULL;
    js->dead = true;
    if (!js->running)
        js_free(js);
}

static void schedule(struct cm_json_stream *js, double secs)
{
    struct timeval tv = {0, (suseconds_t)(secs * 1e6)};
    evtimer_add(js->ev, &tv);
}

static bool flush(struct cm_json_stream *js)
{
    if (!js->buf.len)
        return true;
    int rc = cm_http_stream_send(js->stream, js->buf.data, js->buf.len);
    cm_json_out_reset(&js->buf);
    return rc == 0;
}

static void on_slice(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_json_stream *js = arg;
    if (js->dead) {
        /* The peer went away while a slice was running (a refused send). */
        if (!js->stream)
            js_free(js);
        return;
    }
    if (cm_http_stream_pending(js->stream) > CM_JSON_STREAM_MAX_QUEUED) {
        schedule(js, 0.001); /* let the peer read first */
        return;
    }
    js->running = true;
    double t0 = cm_monotonic_secs();
    bool more = true;
    while (more && js->buf.len < CM_JSON_STREAM_CHUNK) {
        more = js->produce(js->arg, &js->buf);
        /* A piece is a few objects: the clock is read after each. */
        if (cm_monotonic_secs() - t0 >= CM_JSON_STREAM_SLICE)
            break;
    }
    bool ok = flush(js);
    js->running = false;
    if (js->dead) { /* the close callback ran during the send */
        js_free(js);
        return;
    }
    if (!ok) {
        /* Refused: the close callback will run from the loop and free us. */
        js->dead = true;
        return;
    }
    if (more) {
        schedule(js, 0);
        return;
    }
    cm_http_stream_end(js->stream);
    js->stream = NULL;
    js_free(js);
}

void cm_json_stream_start(struct event_base *base, struct cm_http_request *req,
                          const char *content_type, cm_json_stream_produce produce, void *arg,
                          void (*free_arg)(void *arg))
{
    struct cm_json_stream *js = cm_xcalloc(1, sizeof *js);
    js->produce = produce;
    js->arg = arg;
    js->free_arg = free_arg;
    js->ev = evtimer_new(base, on_slice, js);
    if (!js->ev) {
        cm_http_respond_text(req, 500, "Failed to start the response");
        js_free(js);
        return;
    }
    js->stream = cm_http_stream_start(req, 200, content_type, on_close, js);
    schedule(js, 0);
}
