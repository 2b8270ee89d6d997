/*
 * http_client.c: libcurl's multi-socket interface driven by a libevent loop (hiperfifo).
 *
 * curl tells us which sockets to watch (sock_cb) and when to wake it (timer_cb); we turn those
 * into libevent events whose callbacks call curl_multi_socket_action and then collect the
 * finished transfers. libcurl forbids calling multi functions from inside its own callbacks,
 * and our write callback runs user code (on_headers/on_data) that may start or cancel calls
 * or free the client. So while curl is on the stack (in_curl) new calls are queued and added
 * from a zero-timeout "kick" event, cancelled calls are always reaped from that event, and a
 * client freed while any dispatch is running (depth) is destroyed when the dispatch unwinds.
 */
#include "http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "errors.h"
#include "tls.h"

#define DEFAULT_MAX_BODY (4u * 1024 * 1024)
#define DEFAULT_CONNECT_TIMEOUT_MS 10000L
/* Response headers kept per call; a Mesos response carries a handful. */
#define MAX_RESP_HEADERS 128

struct sock_ctx {
    struct cm_http_client *client;
    curl_socket_t fd;
    struct event *ev;
    struct sock_ctx *prev, *next;
};

struct cm_http_call {
    struct cm_http_client *client;
    CURL *easy;
    struct curl_slist *req_headers;
    cm_http_headers_cb on_headers;
    cm_http_data_cb on_data;
    cm_http_done_cb on_done;
    void *arg;
    bool streaming;
    bool headers_done; /* on_headers has run (streams) */
    bool cancelled;
    bool in_multi;
    bool queued;  /* waiting in the add queue */
    bool on_live; /* on the client's live list (else on the dead list or on none) */
    bool in_done;
    int abort_err; /* why our callbacks aborted the transfer, or 0 */
    size_t max_body;
    char *body;
    size_t body_len, body_cap;
    char *resp_headers[MAX_RESP_HEADERS]; /* "Name: value" lines of the last response */
    size_t n_headers;
    long status;
    char errbuf[CURL_ERROR_SIZE];
    struct cm_http_call *prev, *next; /* client's live or dead list */
    struct cm_http_call *qnext;       /* add queue */
};

struct cm_http_client {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct event *kick;
    struct cm_http_call *live;  /* not cancelled, not finished */
    struct cm_http_call *dead;  /* cancelled, waiting to be reaped */
    struct cm_http_call *queue; /* to add to the multi handle outside curl */
    struct cm_http_call **queue_tail;
    struct sock_ctx *socks;
    int in_curl; /* curl_multi_socket_action is on the stack */
    int depth;   /* one of our event callbacks is on the stack */
    bool dying;  /* cm_http_client_free was called during a dispatch */
};

/* ---- lists ------------------------------------------------------------------------------- */

static void list_push(struct cm_http_call **head, struct cm_http_call *call)
{
    call->prev = NULL;
    call->next = *head;
    if (*head)
        (*head)->prev = call;
    *head = call;
}

static void list_remove(struct cm_http_call **head, struct cm_http_call *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        *head = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
}

static void kick(struct cm_http_client *c)
{
    event_active(c->kick, EV_TIMEOUT, 0);
}

/* ---- calls ------------------------------------------------------------------------------- */

static void clear_headers(struct cm_http_call *call)
{
    for (size_t i = 0; i < call->n_headers; i++)
        free(call->resp_headers[i]);
    call->n_headers = 0;
}

/* Frees a call that is on no list. Only outside curl callbacks. */
static void call_destroy(struct cm_http_call *call)
{
    if (call->in_multi)
        curl_multi_remove_handle(call->client->multi, call->easy);
    curl_easy_cleanup(call->easy);
    curl_slist_free_all(call->req_headers);
    clear_headers(call);
    free(call->body);
    free(call);
}

const char *cm_http_response_header(const struct cm_http_response *resp, const char *name)
{
    if (!resp || !resp->call || !name)
        return NULL;
    const struct cm_http_call *call = resp->call;
    size_t n = strlen(name);
    for (size_t i = 0; i < call->n_headers; i++) {
        const char *line = call->resp_headers[i];
        const char *colon = strchr(line, ':');
        if (!colon || (size_t)(colon - line) != n || strncasecmp(line, name, n) != 0)
            continue;
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        return v;
    }
    return NULL;
}

static void fill_response(struct cm_http_call *call, struct cm_http_response *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->status = call->status;
    resp->call = call;
    if (!call->streaming) {
        resp->body = call->body ? call->body : "";
        resp->body_len = call->body_len;
    }
}

/* Runs on_headers once for a stream. Returns 0 to go on, else the error that ends the call
 * (CM_ECLOSED); call->cancelled must be checked by the caller afterwards. */
static int deliver_headers(struct cm_http_call *call)
{
    call->headers_done = true;
    if (!call->on_headers)
        return 0;
    struct cm_http_response resp;
    fill_response(call, &resp);
    return call->on_headers(call->arg, &resp) ? CM_ECLOSED : 0;
}

static size_t on_curl_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct cm_http_call *call = userdata;
    size_t n = size * nitems;
    size_t len = n;
    while (len && (buf[len - 1] == '\r' || buf[len - 1] == '\n' || buf[len - 1] == ' ' ||
                   buf[len - 1] == '\t'))
        len--;
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* A new response starts (after a 1xx, a previous block is obsolete). */
        clear_headers(call);
        const char *sp = memchr(buf, ' ', len);
        call->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return n;
    }
    if (len == 0 || !memchr(buf, ':', len) || call->n_headers >= MAX_RESP_HEADERS)
        return n;
    char *line = strndup(buf, len);
    if (!line)
        abort();
    call->resp_headers[call->n_headers++] = line;
    return n;
}

static size_t on_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct cm_http_call *call = userdata;
    size_t n = size * nmemb;
    /* Returning anything but n makes curl abort the transfer (CURLE_WRITE_ERROR). */
    if (call->cancelled || call->client->dying)
        return 0;
    if (call->streaming) {
        if (!call->headers_done) {
            int err = deliver_headers(call);
            if (call->cancelled || call->client->dying)
                return 0;
            if (err) {
                call->abort_err = err;
                return 0;
            }
        }
        if (n == 0)
            return 0;
        int r = call->on_data(call->arg, ptr, n);
        if (call->cancelled || call->client->dying)
            return 0;
        if (r) {
            call->abort_err = CM_ECLOSED;
            return 0;
        }
        return n;
    }
    if (n > call->max_body - call->body_len) {
        call->abort_err = CM_ETOOBIG;
        return 0;
    }
    if (call->body_len + n + 1 > call->body_cap) {
        size_t cap = call->body_cap ? call->body_cap : 4096;
        while (cap < call->body_len + n + 1)
            cap *= 2;
        char *nb = realloc(call->body, cap);
        if (!nb)
            abort();
        call->body = nb;
        call->body_cap = cap;
    }
    memcpy(call->body + call->body_len, ptr, n);
    call->body_len += n;
    call->body[call->body_len] = '\0';
    return n;
}

/* Ends a live call: runs the callbacks (unless cancelled meanwhile) and frees it. */
static void call_finish(struct cm_http_call *call, int err, const char *errmsg)
{
    struct cm_http_client *c = call->client;
    list_remove(&c->live, call);
    call->on_live = false;
    if (call->in_multi) {
        curl_multi_remove_handle(c->multi, call->easy);
        call->in_multi = false;
    }
    if (call->streaming && !call->headers_done && err == 0 && call->status != 0) {
        int herr = deliver_headers(call);
        if (call->cancelled || c->dying) {
            /* Cancelled from its own headers callback: it sits on the dead list now. */
            return;
        }
        if (herr) {
            err = herr;
            errmsg = "aborted by the headers callback";
        }
    }
    struct cm_http_response resp;
    fill_response(call, &resp);
    call->in_done = true;
    call->on_done(call->arg, err, errmsg ? errmsg : "", &resp);
    call_destroy(call);
}

static void process_done(struct cm_http_client *c, CURL *easy, CURLcode result)
{
    struct cm_http_call *call = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&call);
    if (!call)
        return;
    if (call->cancelled) {
        /* No callback; the kick event reaps it. */
        curl_multi_remove_handle(c->multi, easy);
        call->in_multi = false;
        return;
    }
    long code = 0;
    if (curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code)
        call->status = code;
    int err = 0;
    const char *errmsg = "";
    char msg[96];
    if (call->abort_err == CM_ETOOBIG) {
        err = CM_ETOOBIG;
        snprintf(msg, sizeof msg, "response body exceeds %zu bytes", call->max_body);
        errmsg = msg;
    } else if (call->abort_err) {
        err = call->abort_err;
        errmsg = "aborted by the caller";
    } else if (result != CURLE_OK) {
        err = CM_EHTTP;
        errmsg = call->errbuf[0] ? call->errbuf : curl_easy_strerror(result);
    }
    call_finish(call, err, errmsg);
}

static void check_done(struct cm_http_client *c)
{
    CURLMsg *msg;
    int left;
    while (!c->dying && (msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE)
            process_done(c, msg->easy_handle, msg->data.result);
    }
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static void client_destroy(struct cm_http_client *c);

static void enter(struct cm_http_client *c)
{
    c->depth++;
}

static void leave(struct cm_http_client *c)
{
    if (--c->depth == 0 && c->dying)
        client_destroy(c);
}

static void drive(struct cm_http_client *c, curl_socket_t fd, int action)
{
    int running = 0;
    enter(c);
    c->in_curl++;
    curl_multi_socket_action(c->multi, fd, action, &running);
    c->in_curl--;
    check_done(c);
    leave(c);
}

static void on_sock_event(evutil_socket_t fd, short what, void *arg)
{
    int action =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    drive(arg, fd, action);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drive(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct cm_http_client *c = userp;
    struct sock_ctx *sc = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (sc) {
            if (sc->prev)
                sc->prev->next = sc->next;
            else
                c->socks = sc->next;
            if (sc->next)
                sc->next->prev = sc->prev;
            event_free(sc->ev);
            free(sc);
        }
        return 0;
    }
    if (!sc) {
        sc = calloc(1, sizeof *sc);
        if (!sc)
            abort();
        sc->client = c;
        sc->fd = s;
        sc->next = c->socks;
        if (sc->next)
            sc->next->prev = sc;
        c->socks = sc;
        curl_multi_assign(c->multi, s, sc);
    } else {
        event_free(sc->ev);
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    sc->ev = event_new(c->base, s, kind, on_sock_event, c);
    if (!sc->ev || event_add(sc->ev, NULL) != 0)
        abort();
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct cm_http_client *c = userp;
    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    return 0;
}

static void add_to_multi(struct cm_http_call *call)
{
    struct cm_http_client *c = call->client;
    if (curl_multi_add_handle(c->multi, call->easy) == CURLM_OK) {
        call->in_multi = true;
        return;
    }
    call_finish(call, CM_EHTTP, "curl_multi_add_handle failed");
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct cm_http_client *c = arg;
    (void)fd;
    (void)what;
    enter(c);
    while (!c->dying && c->queue) {
        struct cm_http_call *call = c->queue;
        c->queue = call->qnext;
        if (!c->queue)
            c->queue_tail = &c->queue;
        call->queued = false;
        call->qnext = NULL;
        if (!call->cancelled)
            add_to_multi(call);
    }
    while (!c->dying && c->dead) {
        struct cm_http_call *call = c->dead;
        list_remove(&c->dead, call);
        call_destroy(call);
    }
    leave(c);
}

/* ---- client ------------------------------------------------------------------------------ */

void cm_http_client_set_max_host_connections(struct cm_http_client *c, long max)
{
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max > 0 ? max : 0L);
}

struct cm_http_client *cm_http_client_new(struct event_base *base)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    struct cm_http_client *c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    c->base = base;
    c->queue_tail = &c->queue;
    c->multi = curl_multi_init();
    c->timer = evtimer_new(base, on_timer, c);
    c->kick = event_new(base, -1, 0, on_kick, c);
    if (!c->multi || !c->timer || !c->kick)
        goto fail;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return c;
fail:
    if (c) {
        if (c->multi)
            curl_multi_cleanup(c->multi);
        if (c->timer)
            event_free(c->timer);
        if (c->kick)
            event_free(c->kick);
        free(c);
    }
    curl_global_cleanup();
    return NULL;
}

static void client_destroy(struct cm_http_client *c)
{
    while (c->live) {
        struct cm_http_call *call = c->live;
        list_remove(&c->live, call);
        call_destroy(call);
    }
    while (c->dead) {
        struct cm_http_call *call = c->dead;
        list_remove(&c->dead, call);
        call_destroy(call);
    }
    curl_multi_cleanup(c->multi);
    /* Sockets curl did not report as removed (it may keep idle connections to the end). */
    while (c->socks) {
        struct sock_ctx *sc = c->socks;
        c->socks = sc->next;
        event_free(sc->ev);
        free(sc);
    }
    event_free(c->timer);
    event_free(c->kick);
    free(c);
    curl_global_cleanup();
}

void cm_http_client_free(struct cm_http_client *c)
{
    if (!c)
        return;
    if (c->depth > 0) {
        c->dying = true; /* destroyed when the running dispatch unwinds; no more callbacks */
        return;
    }
    client_destroy(c);
}

static bool method_valid(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n > 16)
        return false;
    for (; *m; m++)
        if (*m < 'A' || *m > 'Z')
            return false;
    return true;
}

static bool url_valid(const char *url)
{
    CURLU *u = curl_url();
    if (!u)
        return false;
    bool ok = false;
    char *scheme = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK)
        ok = strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0;
    curl_free(scheme);
    curl_url_cleanup(u);
    return ok;
}

int cm_http_client_start(struct cm_http_client *c, const struct cm_http_request_opts *opts,
                         struct cm_http_call **out)
{
    if (out)
        *out = NULL;
    if (!c || c->dying || !opts || !opts->url || !opts->on_done)
        return CM_EINVAL;
    const char *method = opts->method ? opts->method : "GET";
    if (!method_valid(method) || !url_valid(opts->url))
        return CM_EINVAL;
    if (opts->body_len && !opts->body)
        return CM_EINVAL;

    struct cm_http_call *call = calloc(1, sizeof *call);
    if (!call)
        return -ENOMEM;
    call->client = c;
    call->on_headers = opts->on_headers;
    call->on_data = opts->on_data;
    call->on_done = opts->on_done;
    call->arg = opts->arg;
    call->streaming = opts->on_data != NULL;
    call->max_body = opts->max_body ? opts->max_body : DEFAULT_MAX_BODY;
    call->easy = curl_easy_init();
    if (!call->easy) {
        free(call);
        return -ENOMEM;
    }
    int rc = CM_EINVAL;
    for (const char *const *h = opts->headers; h && *h; h++) {
        if (strpbrk(*h, "\r\n") || !strchr(*h, ':'))
            goto fail;
        struct curl_slist *l = curl_slist_append(call->req_headers, *h);
        if (!l)
            goto fail_nomem;
        call->req_headers = l;
    }
    /* Mesos does not answer 100-continue; waiting for it would only add a second of delay. */
    struct curl_slist *l = curl_slist_append(call->req_headers, "Expect:");
    if (!l)
        goto fail_nomem;
    call->req_headers = l;

    CURL *e = call->easy;
    curl_easy_setopt(e, CURLOPT_URL, opts->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)call);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->req_headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_curl_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_curl_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
    if (opts->unix_socket)
        curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, opts->unix_socket);
    if (!opts->external)
        cm_tls_curl_setup(e); /* LIBPROCESS_SSL_*: CA, client certificate, verification */
    long connect_ms = opts->connect_timeout_secs > 0 ? (long)(opts->connect_timeout_secs * 1000)
                                                     : DEFAULT_CONNECT_TIMEOUT_MS;
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms > 0 ? connect_ms : 1L);
    if (opts->timeout_secs > 0) {
        long ms = (long)(opts->timeout_secs * 1000);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
    }
    if (call->streaming) {
        /* A silent stream is normal (heartbeats are seconds apart); keepalive finds dead
         * peers the TCP way. */
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
    }
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(method, "POST") == 0 || opts->body_len) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)opts->body_len);
            curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, opts->body_len ? opts->body : "");
        }
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }

    list_push(&c->live, call);
    call->on_live = true;
    if (c->in_curl) {
        /* Inside a curl callback: the multi handle must not be touched now. */
        call->queued = true;
        *c->queue_tail = call;
        c->queue_tail = &call->qnext;
        kick(c);
    } else if (curl_multi_add_handle(c->multi, e) == CURLM_OK) {
        call->in_multi = true;
    } else {
        list_remove(&c->live, call);
        call_destroy(call);
        return CM_EHTTP;
    }
    if (out)
        *out = call;
    return 0;

fail_nomem:
    rc = -ENOMEM;
fail:
    curl_easy_cleanup(call->easy);
    curl_slist_free_all(call->req_headers);
    free(call);
    return rc;
}

void cm_http_call_cancel(struct cm_http_call *call)
{
    if (!call || call->cancelled || call->in_done)
        return;
    struct cm_http_client *c = call->client;
    call->cancelled = true;
    if (call->on_live) {
        list_remove(&c->live, call);
        call->on_live = false;
    }
    list_push(&c->dead, call);
    kick(c);
}
