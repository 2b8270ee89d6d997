/*
 * http_lite.c: a second implementation of src/common/http_client.h, on libevent's events and
 * buffers instead of libcurl, for the programs that must start fast (mesos-executor).
 *
 * Why: libcurl brings some thirty shared libraries (TLS stacks, Kerberos, LDAP, IDN, SSH...)
 * whose loading and relocation were most of an executor's start-up, while an executor only
 * ever talks plain HTTP/1.1 to its agent at a numeric address. A program links this file
 * instead of http_client.c (the object comes before the cm_common archive, so the archive's
 * http_client.o is never pulled in; every function of http_client.h is defined here).
 *
 * Scope, and what it refuses (cm_http_client_start returns CM_EHTTP, no callback):
 *  - http:// only (no TLS: such a program re-executes its TLS-capable build when the agent is
 *    https, see src/executor/main.c);
 *  - numeric hosts only ("127.0.0.1:5051", "[::1]:80"): no resolver runs, nothing blocks;
 *  - no redirects followed (as http_client);
 *  - keep-alive for plain calls: a connection whose answer was complete (framed by
 *    Content-Length or chunks, HTTP/1.1, no "Connection: close") is parked, one per client, and
 *    the next plain call to the same host:port goes on it. An executor's UPDATEs, one in flight
 *    at a time, then share one connection instead of a connect and an accept each. A parked
 *    connection the server closes is dropped; a call whose reused connection ends before any
 *    byte of an answer is sent again, once, on a new connection (the server closed it idle).
 *    Streaming calls always have their own connection ("Connection: close").
 * Responses: status line, headers (at most 64 KiB, 128 lines), a body delimited by
 * Content-Length, chunked encoding, or the end of the connection. The contract of
 * http_client.h holds: exactly one done callback per call unless cancelled, streaming
 * callbacks may abort by returning non-zero (done then has CM_ECLOSED), plain bodies are capped
 * by max_body (CM_ETOOBIG), the whole-call timeout and the connect timeout apply.
 *
 * Threading: the loop's thread only.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errors.h"
#include "codec.h"
#include "http_client.h"

#define DEFAULT_MAX_BODY (4u * 1024 * 1024)
#define DEFAULT_CONNECT_TIMEOUT 10.0
#define MAX_HEADER_BYTES (64u * 1024)
#define MAX_HEADERS 128

enum phase { P_CONNECT, P_STATUS, P_HEADERS, P_BODY, P_DONE };
enum body_kind { B_LENGTH, B_CHUNKED, B_CLOSE };
enum chunk_phase { C_SIZE, C_DATA, C_DATA_END, C_TRAILER };

struct cm_http_call {
    struct cm_http_client *client;
    struct cm_http_call *prev, *next;
    struct conn *conn;
    struct event *timer;         /* whole-call timeout */
    struct event *connect_timer; /* until connected */
    cm_http_headers_cb on_headers;
    cm_http_data_cb on_data;
    cm_http_done_cb on_done;
    void *arg;
    bool streaming;
    size_t max_body;
    enum phase phase;
    enum body_kind body_kind;
    enum chunk_phase chunk_phase;
    size_t remaining; /* B_LENGTH: bytes left; chunked: bytes left in this chunk */
    size_t header_bytes;
    bool interim; /* reading the header lines of a 1xx answer, which are dropped */
    long status;
    char *headers[MAX_HEADERS]; /* "Name: value" */
    size_t n_headers;
    char *body;
    size_t body_len, body_cap;
    int in_cb;         /* one of the caller's callbacks is on the stack */
    bool cancelled;    /* no callback any more; freed when in_cb drops to 0 */
    bool finished;     /* done was delivered (or is being) */
    bool reused;       /* on a parked connection: resent once on a new one if it ends unanswered */
    bool http10;       /* the answer was HTTP/1.0: its connection is not kept */
    bool server_close; /* the answer said "Connection: close" */
    struct evbuffer *request; /* a copy of the request while it may have to be resent */
    struct sockaddr_storage sa;
    int salen;
    char key[256]; /* host[:port] of the connection */
    double connect_timeout;
};

struct cm_http_client {
    struct event_base *base;
    struct cm_http_call *calls;
    struct conn *idle; /* the parked keep-alive connection, or NULL */
    char idle_key[256];
};

/* ---- the connection ------------------------------------------------------------------------
 * A socket with its two buffers and two events, instead of a bufferevent: a bufferevent turns
 * every connect into six epoll_ctl calls (it watches writes to learn of the connect, then
 * swaps its events), adds and removes the write watch around every request, and asks the
 * kernel with FIONREAD how much to read before each read. Here the read watch is added once,
 * when the connection starts, and stays until it ends; a request is written straight away
 * (on loopback the connect is over when connect() returns, and a write to a socket still
 * connecting answers EAGAIN), and only what the socket does not take waits for the write watch.
 * Reads go into the input buffer's free space, one read per readiness unless it filled that.
 * Callbacks: read (new bytes in the input), event (CONN_CONNECTED, CONN_EOF, CONN_ERROR with
 * conn->err). A callback may free the connection (conn_free defers that until it returns). */
#define CONN_CONNECTED 0x1
#define CONN_EOF 0x2
#define CONN_ERROR 0x4
/* What a read asks for: an executor's answers and events are a few hundred bytes, and a
 * buffer chain of this size with its header is one 4 KiB page; a longer body takes more reads
 * of the same size while each fills its space. */
#define CONN_READ_SPACE 4000

struct conn;
typedef void (*conn_read_cb)(struct conn *conn, void *arg);
typedef void (*conn_event_cb)(struct conn *conn, short what, void *arg);

struct conn {
    struct event_base *base;
    evutil_socket_t fd;
    struct event *rd; /* EV_READ, persistent, added for the connection's life */
    struct event *wr; /* EV_WRITE, added only while out holds bytes (or an error waits) */
    struct evbuffer *in, *out;
    conn_read_cb on_read;
    conn_event_cb on_event;
    void *arg;
    bool connecting; /* connect() started, nothing written or read yet */
    int err;         /* an error found outside the loop, reported from the write event */
    int busy;        /* callbacks on the stack */
    bool dead;       /* conn_free was called while busy */
};

static void conn_release(struct conn *conn)
{
    if (conn->rd)
        event_free(conn->rd);
    if (conn->wr)
        event_free(conn->wr);
    conn->rd = conn->wr = NULL;
    if (conn->fd >= 0)
        evutil_closesocket(conn->fd);
    conn->fd = -1;
}

/* Closes the socket now; the memory goes when no callback of conn is on the stack. */
static void conn_free(struct conn *conn)
{
    if (!conn)
        return;
    conn_release(conn);
    if (conn->busy) {
        conn->dead = true;
        return;
    }
    if (conn->in)
        evbuffer_free(conn->in);
    if (conn->out)
        evbuffer_free(conn->out);
    free(conn);
}

static void conn_setcb(struct conn *conn, conn_read_cb on_read, conn_event_cb on_event, void *arg)
{
    conn->on_read = on_read;
    conn->on_event = on_event;
    conn->arg = arg;
}

/* Runs the event callback; returns true when conn was freed meanwhile (or is dead). */
static bool conn_event(struct conn *conn, short what)
{
    conn->busy++;
    conn->on_event(conn, what, conn->arg);
    conn->busy--;
    if (conn->dead) {
        if (!conn->busy)
            conn_free(conn);
        return true;
    }
    return false;
}

/* The socket is known connected (something went through): tells the owner once. */
static bool conn_connected(struct conn *conn)
{
    if (!conn->connecting)
        return false;
    conn->connecting = false;
    return conn_event(conn, CONN_CONNECTED);
}

/* Reports an error from the loop (the write event, made active by hand). */
static void conn_fail_later(struct conn *conn, int err)
{
    conn->err = err ? err : EIO;
    event_active(conn->wr, EV_WRITE, 1);
}

static void conn_on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct conn *conn = arg;
    for (;;) {
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(conn->in, CONN_READ_SPACE, &v, 1) < 1) {
            conn->err = ENOMEM;
            conn_event(conn, CONN_ERROR);
            return;
        }
        size_t space = v.iov_len;
        ssize_t n = read(fd, v.iov_base, space);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            conn->err = errno;
            conn_event(conn, CONN_ERROR);
            return;
        }
        if (n == 0) {
            if (conn_connected(conn))
                return;
            conn_event(conn, CONN_EOF);
            return;
        }
        v.iov_len = (size_t)n;
        evbuffer_commit_space(conn->in, &v, 1);
        if (conn_connected(conn))
            return;
        conn->busy++;
        conn->on_read(conn, conn->arg);
        conn->busy--;
        if (conn->dead) {
            if (!conn->busy)
                conn_free(conn);
            return;
        }
        /* A short read emptied the socket: the next readiness brings the rest. */
        if ((size_t)n < space || conn->fd != fd)
            return;
    }
}

/* Writes what out holds; the write watch stays only while some is left. Returns 0, or an
 * errno value. */
static int conn_flush(struct conn *conn)
{
    while (evbuffer_get_length(conn->out) > 0) {
        size_t before = evbuffer_get_length(conn->out);
        int n = evbuffer_write(conn->out, conn->fd);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            return errno ? errno : EIO;
        }
        if ((size_t)n < before)
            break; /* the socket is full: the write watch says when it is not */
    }
    if (evbuffer_get_length(conn->out) == 0)
        event_del(conn->wr);
    else if (!event_pending(conn->wr, EV_WRITE, NULL))
        event_add(conn->wr, NULL);
    return 0;
}

static void conn_on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *conn = arg;
    int err = conn->err;
    if (!err) {
        size_t before = evbuffer_get_length(conn->out);
        err = conn_flush(conn);
        if (!err && evbuffer_get_length(conn->out) < before && conn_connected(conn))
            return;
    }
    if (err) {
        event_del(conn->wr);
        conn->err = err;
        conn_event(conn, CONN_ERROR);
    }
}

/* Queues len bytes and writes at once what the socket takes. */
static int conn_write(struct conn *conn, const void *data, size_t len)
{
    if (conn->fd < 0)
        return CM_ECLOSED;
    const char *p = data;
    if (evbuffer_get_length(conn->out) == 0 && !conn->err) {
        ssize_t n;
        do {
            /* MSG_NOSIGNAL: a peer gone is an error here, never a SIGPIPE. */
            n = send(conn->fd, p, len, MSG_NOSIGNAL);
        } while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            conn_fail_later(conn, errno);
            return 0;
        }
        if (n > 0) {
            conn->connecting = false; /* the owner learns it from conn_write's answer */
            p += n;
            len -= (size_t)n;
        }
    }
    if (len == 0)
        return 0;
    if (evbuffer_add(conn->out, p, len) != 0)
        return -ENOMEM;
    if (!event_pending(conn->wr, EV_WRITE, NULL))
        event_add(conn->wr, NULL);
    return 0;
}

/* A connection on fd (owned from now on, closed by conn_free). */
static struct conn *conn_new(struct event_base *base, evutil_socket_t fd)
{
    struct conn *conn = calloc(1, sizeof *conn);
    if (!conn) {
        evutil_closesocket(fd);
        return NULL;
    }
    conn->base = base;
    conn->fd = fd;
    conn->in = evbuffer_new();
    conn->out = evbuffer_new();
    conn->rd = event_new(base, fd, EV_READ | EV_PERSIST, conn_on_readable, conn);
    conn->wr = event_new(base, fd, EV_WRITE | EV_PERSIST, conn_on_writable, conn);
    if (!conn->in || !conn->out || !conn->rd || !conn->wr || event_add(conn->rd, NULL) != 0) {
        conn_free(conn);
        return NULL;
    }
    return conn;
}

/* ---- helpers ------------------------------------------------------------------------------ */

const char *cm_http_response_header(const struct cm_http_response *resp, const char *name)
{
    if (!resp || !resp->call || !name)
        return NULL;
    const struct cm_http_call *call = resp->call;
    size_t n = strlen(name);
    for (size_t i = 0; i < call->n_headers; i++) {
        const char *h = call->headers[i];
        if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
            const char *v = h + n + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            return v;
        }
    }
    return NULL;
}

static void call_unlink(struct cm_http_call *call)
{
    if (!call->client)
        return;
    if (call->prev)
        call->prev->next = call->next;
    else
        call->client->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
    call->client = NULL;
}

static void call_destroy(struct cm_http_call *call)
{
    call_unlink(call);
    conn_free(call->conn);
    if (call->timer)
        event_free(call->timer);
    if (call->connect_timer)
        event_free(call->connect_timer);
    if (call->request)
        evbuffer_free(call->request);
    for (size_t i = 0; i < call->n_headers; i++)
        free(call->headers[i]);
    free(call->body);
    free(call);
}

/* A parked connection: any event (the server closed it, or sent what nobody asked for) ends
 * it. */
static void on_idle_event(struct conn *conn, short what, void *arg)
{
    (void)what;
    struct cm_http_client *client = arg;
    if (client->idle == conn)
        client->idle = NULL;
    conn_free(conn);
}

static void on_idle_read(struct conn *conn, void *arg)
{
    on_idle_event(conn, 0, arg);
}

/* Keeps conn, whose answer was read to its end, for the next plain call to key. Its read
 * watch stays as it was: nothing is asked of the kernel. */
static void park(struct cm_http_client *client, struct conn *conn, const char *key)
{
    if (evbuffer_get_length(conn->in) != 0 || evbuffer_get_length(conn->out) != 0 || conn->err) {
        conn_free(conn); /* bytes beyond the answer: not a connection to trust */
        return;
    }
    if (client->idle)
        conn_free(client->idle);
    client->idle = conn;
    snprintf(client->idle_key, sizeof client->idle_key, "%s", key);
    conn_setcb(conn, on_idle_read, on_idle_event, client);
}

/* Ends the call: the done callback (unless cancelled), then the call is freed (now, or when
 * the callback on the stack returns). */
static void finish(struct cm_http_call *call, int err, const char *errmsg)
{
    if (call->finished)
        return;
    bool complete = call->phase == P_DONE || (call->phase == P_BODY && call->body_kind != B_CLOSE);
    call->finished = true;
    call->phase = P_DONE;
    /* Nothing more reaches us from the socket or the timers. */
    if (call->conn) {
        if (err == 0 && complete && call->client && !call->streaming && !call->http10 &&
            !call->server_close && call->body_kind != B_CLOSE)
            park(call->client, call->conn, call->key);
        else
            conn_free(call->conn);
        call->conn = NULL;
    }
    evtimer_del(call->timer);
    evtimer_del(call->connect_timer);
    if (!call->cancelled) {
        struct cm_http_response resp = {.status = call->status, .call = call};
        if (!call->streaming) {
            resp.body = call->body ? call->body : "";
            resp.body_len = call->body_len;
        }
        call->in_cb++;
        call->on_done(call->arg, err, errmsg ? errmsg : "", &resp);
        call->in_cb--;
    }
    if (call->in_cb == 0)
        call_destroy(call);
    else
        call->cancelled = true; /* the outer callback frees it */
}

/* After a callback of the caller returned: frees a call cancelled meanwhile. Returns true when
 * the call is gone or must not go on. */
static bool after_cb(struct cm_http_call *call)
{
    if (call->in_cb > 0)
        return call->cancelled || call->finished;
    if (call->cancelled) {
        call_destroy(call);
        return true;
    }
    return call->finished;
}

/* ---- the response ------------------------------------------------------------------------- */

static int deliver(struct cm_http_call *call, const char *data, size_t len)
{
    if (len == 0)
        return 0;
    if (call->streaming) {
        call->in_cb++;
        int rc = call->on_data(call->arg, data, len);
        call->in_cb--;
        if (after_cb(call))
            return 1;
        if (rc) {
            finish(call, CM_ECLOSED, "aborted by the caller");
            return 1;
        }
        return 0;
    }
    if (call->body_len + len > call->max_body) {
        finish(call, CM_ETOOBIG, "response body too large");
        return 1;
    }
    if (call->body_len + len + 1 > call->body_cap) {
        size_t cap = call->body_cap ? call->body_cap : 4096;
        while (cap < call->body_len + len + 1)
            cap *= 2;
        char *b = realloc(call->body, cap);
        if (!b) {
            finish(call, -ENOMEM, "out of memory");
            return 1;
        }
        call->body = b;
        call->body_cap = cap;
    }
    memcpy(call->body + call->body_len, data, len);
    call->body_len += len;
    call->body[call->body_len] = '\0';
    return 0;
}

/* Headers are complete: pick the body framing, tell a streaming caller. */
static int headers_done(struct cm_http_call *call)
{
    struct cm_http_response resp = {.status = call->status, .call = call};
    const char *te = cm_http_response_header(&resp, "Transfer-Encoding");
    const char *cl = cm_http_response_header(&resp, "Content-Length");
    if (te && strcasestr(te, "chunked")) {
        call->body_kind = B_CHUNKED;
        call->chunk_phase = C_SIZE;
    } else if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || (*end && *end != ' ' && *end != '\r')) {
            finish(call, CM_EHTTP, "bad Content-Length");
            return 1;
        }
        call->body_kind = B_LENGTH;
        call->remaining = (size_t)n;
    } else {
        call->body_kind = B_CLOSE;
    }
    call->phase = P_BODY;
    if (call->streaming) {
        call->in_cb++;
        int rc = call->on_headers(call->arg, &resp);
        call->in_cb--;
        if (after_cb(call))
            return 1;
        if (rc) {
            finish(call, CM_ECLOSED, "aborted by the caller");
            return 1;
        }
    }
    if (call->body_kind == B_LENGTH && call->remaining == 0) {
        finish(call, 0, NULL);
        return 1;
    }
    return 0;
}

/* Reads a decimal number of at most 9 digits at *p; returns -1 when there is none. */
static int parse_digits(const char **p)
{
    int v = 0, n = 0;
    while (**p >= '0' && **p <= '9' && n < 9) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n ? v : -1;
}

/* "HTTP/<major>.<minor> <status>[ reason]". Returns 0 or -1. (By hand: sscanf's machinery
 * was a visible share of an executor's user time for three lines per task.) */
static int parse_status_line(const char *line, int *major, int *minor, int *status)
{
    if (strncmp(line, "HTTP/", 5) != 0)
        return -1;
    const char *p = line + 5;
    if ((*major = parse_digits(&p)) < 0 || *p++ != '.' || (*minor = parse_digits(&p)) < 0)
        return -1;
    if (*p != ' ' && *p != '\t')
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    if ((*status = parse_digits(&p)) < 0)
        return -1;
    return *p == '\0' || *p == ' ' || *p == '\t' ? 0 : -1;
}

/* Reads status and header lines. Returns 1 when the call ended or must wait for more. */
static int read_head(struct cm_http_call *call, struct evbuffer *in)
{
    while (call->phase == P_STATUS || call->phase == P_HEADERS) {
        size_t n = 0;
        char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
        if (!line) {
            if (evbuffer_get_length(in) + call->header_bytes > MAX_HEADER_BYTES) {
                finish(call, CM_EHTTP, "response headers too large");
                return 1;
            }
            return 1;
        }
        call->header_bytes += n + 2;
        if (call->header_bytes > MAX_HEADER_BYTES) {
            free(line);
            finish(call, CM_EHTTP, "response headers too large");
            return 1;
        }
        if (call->phase == P_STATUS) {
            int major, minor, status;
            if (parse_status_line(line, &major, &minor, &status) != 0 || status < 100 ||
                status > 999) {
                free(line);
                finish(call, CM_EHTTP, "malformed HTTP status line");
                return 1;
            }
            free(line);
            /* 100 Continue and friends: their headers are skipped, the real status follows. */
            call->interim = status < 200;
            if (!call->interim) {
                call->status = status;
                call->http10 = major < 1 || (major == 1 && minor < 1);
            }
            call->phase = P_HEADERS;
            continue;
        }
        if (call->interim) {
            free(line);
            if (n == 0)
                call->phase = P_STATUS;
            continue;
        }
        if (n == 0) {
            free(line);
            if (headers_done(call))
                return 1;
            return 0;
        }
        if (!strchr(line, ':') || call->n_headers == MAX_HEADERS) {
            free(line);
            finish(call, CM_EHTTP, "malformed or too many response headers");
            return 1;
        }
        if (strncasecmp(line, "Connection:", 11) == 0 && strcasestr(line + 11, "close"))
            call->server_close = true;
        call->headers[call->n_headers++] = line;
    }
    return 0;
}

/* Delivers at most *take bytes from the front of in, where they lie (no copy): the first
 * contiguous piece; *take becomes what was delivered and drained. Returns 1 when the call
 * ended (the bytes are then left: the connection goes with it). */
static int deliver_front(struct cm_http_call *call, struct evbuffer *in, size_t *take)
{
    struct evbuffer_iovec seg;
    const void *data;
    if (evbuffer_peek(in, -1, NULL, &seg, 1) >= 1 && seg.iov_len > 0) {
        data = seg.iov_base;
        if (seg.iov_len < *take)
            *take = seg.iov_len;
    } else {
        data = evbuffer_pullup(in, (ev_ssize_t)*take); /* an empty piece in front: rare */
        if (!data) {
            finish(call, -ENOMEM, "out of memory");
            return 1;
        }
    }
    if (deliver(call, data, *take))
        return 1;
    evbuffer_drain(in, *take);
    return 0;
}

/* Reads body bytes by the framing. Returns 1 when the call ended. */
static int read_body(struct cm_http_call *call, struct evbuffer *in)
{
    while (call->phase == P_BODY) {
        size_t avail = evbuffer_get_length(in);
        if (call->body_kind == B_CLOSE || call->body_kind == B_LENGTH) {
            if (avail == 0)
                return 0;
            size_t take = avail;
            if (call->body_kind == B_LENGTH && take > call->remaining)
                take = call->remaining;
            if (deliver_front(call, in, &take))
                return 1;
            if (call->body_kind == B_LENGTH) {
                call->remaining -= take;
                if (call->remaining == 0) {
                    finish(call, 0, NULL);
                    return 1;
                }
            }
            continue;
        }
        /* chunked */
        if (call->chunk_phase == C_SIZE || call->chunk_phase == C_TRAILER ||
            call->chunk_phase == C_DATA_END) {
            size_t n = 0;
            char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
            if (!line) {
                if (avail > 1024) {
                    finish(call, CM_EHTTP, "malformed chunked body");
                    return 1;
                }
                return 0;
            }
            if (call->chunk_phase == C_DATA_END) {
                bool ok = n == 0;
                free(line);
                if (!ok) {
                    finish(call, CM_EHTTP, "malformed chunked body");
                    return 1;
                }
                call->chunk_phase = C_SIZE;
                continue;
            }
            if (call->chunk_phase == C_TRAILER) {
                free(line);
                if (n == 0) {
                    finish(call, 0, NULL);
                    return 1;
                }
                continue;
            }
            char *end;
            errno = 0;
            unsigned long long size = strtoull(line, &end, 16);
            bool bad = errno || end == line || (*end && *end != ';' && *end != ' ');
            free(line);
            if (bad) {
                finish(call, CM_EHTTP, "malformed chunk size");
                return 1;
            }
            if (size == 0) {
                call->chunk_phase = C_TRAILER;
                continue;
            }
            call->remaining = (size_t)size;
            call->chunk_phase = C_DATA;
            continue;
        }
        /* C_DATA */
        if (avail == 0)
            return 0;
        size_t take = avail;
        if (take > call->remaining)
            take = call->remaining;
        if (deliver_front(call, in, &take))
            return 1;
        call->remaining -= take;
        if (call->remaining == 0)
            call->chunk_phase = C_DATA_END;
    }
    return 0;
}

static void on_read(struct conn *conn, void *arg)
{
    struct cm_http_call *call = arg;
    struct evbuffer *in = conn->in;
    if (call->phase == P_STATUS || call->phase == P_HEADERS)
        if (read_head(call, in))
            return;
    if (call->phase == P_BODY)
        read_body(call, in);
}

static int connect_new(struct cm_http_call *call, struct event_base *base);

static void on_event(struct conn *conn, short what, void *arg)
{
    struct cm_http_call *call = arg;
    if ((what & (CONN_EOF | CONN_ERROR)) && call->reused && call->phase == P_STATUS &&
        call->header_bytes == 0 && call->request) {
        /* The parked connection was closed by the server before it answered: send the
         * request again on a new one (once). */
        call->reused = false;
        struct event_base *base = conn->base;
        conn_free(call->conn);
        call->conn = NULL;
        if (connect_new(call, base) != 0)
            finish(call, CM_EHTTP, "connection failed: could not reconnect");
        return;
    }
    if (what & CONN_CONNECTED) {
        evtimer_del(call->connect_timer);
        call->phase = P_STATUS;
        return;
    }
    if (what & CONN_EOF) {
        /* Bytes still buffered were read by on_read before this event. */
        if (call->phase == P_BODY && call->body_kind == B_CLOSE) {
            finish(call, 0, NULL);
            return;
        }
        finish(call, CM_EHTTP,
               call->phase == P_BODY ? "connection closed before the end of the body"
                                     : "connection closed before a response");
        return;
    }
    if (what & CONN_ERROR) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s: %s",
                 call->phase == P_CONNECT ? "connect failed" : "connection failed",
                 strerror(conn->err));
        finish(call, CM_EHTTP, msg);
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    finish(arg, CM_EHTTP, "timed out");
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    finish(arg, CM_EHTTP, "connect timed out");
}

/* ---- the client --------------------------------------------------------------------------- */

struct cm_http_client *cm_http_client_new(struct event_base *base)
{
    struct cm_http_client *c = calloc(1, sizeof *c);
    if (c)
        c->base = base;
    return c;
}

void cm_http_client_set_max_host_connections(struct cm_http_client *c, long max)
{
    /* One connection per call: nothing to cap. */
    (void)c;
    (void)max;
}

void cm_http_client_free(struct cm_http_client *client)
{
    if (!client)
        return;
    while (client->calls)
        cm_http_call_cancel(client->calls);
    conn_free(client->idle);
    free(client);
}

void cm_http_call_cancel(struct cm_http_call *call)
{
    if (!call)
        return;
    call_unlink(call);
    conn_free(call->conn);
    call->conn = NULL;
    evtimer_del(call->timer);
    evtimer_del(call->connect_timer);
    call->cancelled = true;
    if (call->in_cb == 0)
        call_destroy(call);
}

static void set_timer(struct event *ev, double secs)
{
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};
    evtimer_add(ev, &tv);
}

/* Splits "http://host:port/path" into a sockaddr, the Host header value and the path. */
static int parse_url(const char *url, struct sockaddr_storage *sa, int *salen, char *host,
                     size_t hostlen, const char **path)
{
    if (strncasecmp(url, "http://", 7) != 0)
        return CM_EHTTP;
    const char *auth = url + 7;
    const char *slash = strchr(auth, '/');
    size_t alen = slash ? (size_t)(slash - auth) : strlen(auth);
    if (alen == 0 || alen >= hostlen)
        return CM_EHTTP;
    memcpy(host, auth, alen);
    host[alen] = '\0';
    *path = slash ? slash : "/";
    char withport[300];
    bool has_port = host[0] == '[' ? strstr(host, "]:") != NULL : strchr(host, ':') != NULL;
    snprintf(withport, sizeof withport, "%s%s", host, has_port ? "" : ":80");
    *salen = (int)sizeof *sa;
    if (evutil_parse_sockaddr_port(withport, (struct sockaddr *)sa, salen) != 0)
        return CM_EHTTP;
    return 0;
}

/* Puts call's request on a new connection to call->sa (connect timer armed). Returns 0 or an
 * error (the caller ends the call). */
static int connect_new(struct cm_http_call *call, struct event_base *base)
{
    /* Our own socket, close-on-exec: the tasks this process forks must not inherit it. */
    evutil_socket_t fd = socket(call->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    call->conn = conn_new(base, fd);
    if (!call->conn)
        return -ENOMEM;
    call->phase = P_CONNECT;
    conn_setcb(call->conn, on_read, on_event, call);
    int rc;
    do {
        rc = connect(fd, (struct sockaddr *)&call->sa, (socklen_t)call->salen);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0 && errno != EINPROGRESS) {
        if (errno != ECONNREFUSED)
            return CM_EHTTP;
        conn_fail_later(call->conn, errno); /* reported from the loop, as a late refusal */
        set_timer(call->connect_timer, call->connect_timeout);
        return 0;
    }
    call->conn->connecting = true;
    size_t n = evbuffer_get_length(call->request);
    unsigned char *bytes = evbuffer_pullup(call->request, (ev_ssize_t)n);
    if (!bytes || conn_write(call->conn, bytes, n) != 0)
        return -ENOMEM;
    if (!call->conn->connecting) {
        call->phase = P_STATUS; /* the request went out: connected already */
        return 0;
    }
    set_timer(call->connect_timer, call->connect_timeout);
    return 0;
}

int cm_http_client_start(struct cm_http_client *client, const struct cm_http_request_opts *opts,
                         struct cm_http_call **out)
{
    if (out)
        *out = NULL;
    if (!client || !opts || !opts->url || !opts->method || !opts->on_done)
        return CM_EINVAL;
    struct sockaddr_storage sa;
    int salen;
    char host[256];
    const char *path;
    if (parse_url(opts->url, &sa, &salen, host, sizeof host, &path) != 0)
        return CM_EHTTP; /* https, a name to resolve, or a malformed URL */
    struct cm_http_call *call = calloc(1, sizeof *call);
    if (!call)
        return -ENOMEM;
    call->on_headers = opts->on_headers;
    call->on_data = opts->on_data;
    call->on_done = opts->on_done;
    call->arg = opts->arg;
    call->streaming = opts->on_headers && opts->on_data;
    call->max_body = opts->max_body ? opts->max_body : DEFAULT_MAX_BODY;
    call->phase = P_CONNECT;
    call->sa = sa;
    call->salen = salen;
    call->connect_timeout =
        opts->connect_timeout_secs > 0 ? opts->connect_timeout_secs : DEFAULT_CONNECT_TIMEOUT;
    snprintf(call->key, sizeof call->key, "%s", host);
    call->request = evbuffer_new();
    call->timer = evtimer_new(client->base, on_timeout, call);
    call->connect_timer = evtimer_new(client->base, on_connect_timeout, call);
    if (!call->request || !call->timer || !call->connect_timer) {
        call_destroy(call);
        return -ENOMEM;
    }
    struct evbuffer *o = call->request;
    evbuffer_add_printf(o, "%s %s HTTP/1.1\r\nHost: %s\r\n%s", opts->method, path, host,
                        call->streaming ? "Connection: close\r\n" : "");
    for (const char *const *h = opts->headers; h && *h; h++)
        if (**h)
            evbuffer_add_printf(o, "%s\r\n", *h);
    if (opts->body_len || strcmp(opts->method, "POST") == 0)
        evbuffer_add_printf(o, "Content-Length: %zu\r\n", opts->body_len);
    evbuffer_add(o, "\r\n", 2);
    if (opts->body_len)
        evbuffer_add(o, opts->body, opts->body_len);
    if (!call->streaming && client->idle && strcmp(client->idle_key, call->key) == 0) {
        call->conn = client->idle;
        client->idle = NULL;
        call->reused = true;
        call->phase = P_STATUS;
        size_t n = evbuffer_get_length(call->request);
        unsigned char *bytes = evbuffer_pullup(call->request, (ev_ssize_t)n);
        conn_setcb(call->conn, on_read, on_event, call);
        if (!bytes || conn_write(call->conn, bytes, n) != 0) {
            call_destroy(call);
            return -ENOMEM;
        }
    } else {
        int rc = connect_new(call, client->base);
        if (rc) {
            call_destroy(call);
            return rc == -ENOMEM ? rc : CM_EHTTP;
        }
        if (call->streaming) {
            evbuffer_free(call->request); /* never resent */
            call->request = NULL;
        }
    }
    if (opts->timeout_secs > 0)
        set_timer(call->timer, opts->timeout_secs);
    call->client = client;
    call->next = client->calls;
    if (call->next)
        call->next->prev = call;
    client->calls = call;
    if (out)
        *out = call;
    return 0;
}
