/* emu_http.c: the emulator's minimal HTTP/1.1 client connection. See emu_http.h. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emu_http.h"
#include "errors.h"
#include "util.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_HEAD 16384

enum st {
    ST_STATUS,
    ST_HEADERS,
    ST_BODY_LEN,
    ST_CHUNK_SIZE,
    ST_CHUNK_DATA,
    ST_CHUNK_CRLF,
    ST_TRAILER,
    ST_BODY_EOF
};

struct cm_emu_conn {
    struct bufferevent *bev;
    struct cm_emu_conn_cbs cbs;
    void *arg;
    size_t outstanding;
    bool dead;
    bool in_cb;  /* inside the read/event callback */
    bool zombie; /* freed from inside a callback: free on the way out */
    enum st st;
    int status;
    bool chunked, close_after, has_len;
    uint64_t remaining;
    size_t head_bytes;
    char stream_id[128];
};

static void conn_close(struct cm_emu_conn *c)
{
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    c->dead = true;
}

/* Fails every outstanding request with err (oldest first). Returns false if the owner freed the
 * connection from a callback. */
static bool fail_all(struct cm_emu_conn *c, int err)
{
    conn_close(c);
    while (c->outstanding > 0 && !c->zombie) {
        c->outstanding--;
        c->cbs.on_done(c->arg, err);
    }
    return !c->zombie;
}

static void reset_response(struct cm_emu_conn *c)
{
    c->st = ST_STATUS;
    c->status = 0;
    c->chunked = c->close_after = c->has_len = false;
    c->remaining = 0;
    c->head_bytes = 0;
    c->stream_id[0] = 0;
}

/* The current response is complete. Returns false if the connection is gone. */
static bool response_done(struct cm_emu_conn *c)
{
    bool close_after = c->close_after;
    reset_response(c);
    c->outstanding--;
    c->cbs.on_done(c->arg, 0);
    if (c->zombie)
        return false;
    if (close_after)
        return fail_all(c, CM_ECLOSED) && false;
    return true;
}

static bool head_done(struct cm_emu_conn *c)
{
    c->cbs.on_head(c->arg, c->status, c->stream_id[0] ? c->stream_id : NULL);
    if (c->zombie || c->dead)
        return false;
    if (c->chunked)
        c->st = ST_CHUNK_SIZE;
    else if (c->has_len)
        c->st = c->remaining ? ST_BODY_LEN : ST_STATUS;
    else if (c->status == 204 || c->status == 304 || (c->status >= 100 && c->status < 200))
        c->st = ST_STATUS;
    else if (c->status == 202)
        c->st = ST_STATUS; /* the link answers 202 with no body */
    else
        c->st = ST_BODY_EOF;
    if (c->st == ST_STATUS)
        return response_done(c);
    return true;
}

static int parse_header(struct cm_emu_conn *c, const char *line)
{
    const char *colon = strchr(line, ':');
    if (!colon)
        return CM_EPROTO;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno || end == v)
            return CM_EPROTO;
        c->has_len = true;
        c->remaining = n;
    } else if (nlen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
        c->chunked = strcasestr(v, "chunked") != NULL;
    } else if (nlen == 10 && strncasecmp(line, "Connection", 10) == 0) {
        c->close_after = strcasestr(v, "close") != NULL;
    } else if (nlen == 15 && strncasecmp(line, "Mesos-Stream-Id", 15) == 0) {
        snprintf(c->stream_id, sizeof c->stream_id, "%s", v);
    }
    return 0;
}

/* Runs the parser over what is buffered. Returns false if the connection is gone. */
static bool parse(struct cm_emu_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    for (;;) {
        if (c->dead || c->zombie)
            return false;
        size_t avail = evbuffer_get_length(in);
        if (avail == 0)
            return true;
        if (c->outstanding == 0) {
            /* Bytes nobody asked for: the peer is broken. */
            return fail_all(c, CM_EPROTO);
        }
        switch (c->st) {
        case ST_STATUS:
        case ST_HEADERS:
        case ST_CHUNK_SIZE:
        case ST_CHUNK_CRLF:
        case ST_TRAILER: {
            size_t n = 0;
            char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
            if (!line) {
                if (evbuffer_get_length(in) > MAX_HEAD)
                    return fail_all(c, CM_EPROTO);
                return true;
            }
            c->head_bytes += n + 2;
            int rc = 0;
            if (c->st == ST_STATUS) {
                int major, minor, status;
                if (n == 0) {
                    free(line);
                    continue; /* tolerate a stray CRLF between responses */
                }
                if (sscanf(line, "HTTP/%d.%d %d", &major, &minor, &status) != 3 || status < 100 ||
                    status > 999)
                    rc = CM_EPROTO;
                else {
                    c->status = status;
                    c->close_after = major == 1 && minor == 0;
                    c->st = ST_HEADERS;
                }
            } else if (c->st == ST_HEADERS) {
                if (c->head_bytes > MAX_HEAD)
                    rc = CM_EPROTO;
                else if (n == 0) {
                    free(line);
                    if (!head_done(c))
                        return false;
                    continue;
                } else
                    rc = parse_header(c, line);
            } else if (c->st == ST_CHUNK_SIZE) {
                char *end;
                errno = 0;
                unsigned long long sz = strtoull(line, &end, 16);
                if (errno || end == line)
                    rc = CM_EPROTO;
                else if (sz == 0)
                    c->st = ST_TRAILER;
                else {
                    c->remaining = sz;
                    c->st = ST_CHUNK_DATA;
                }
            } else if (c->st == ST_CHUNK_CRLF) {
                if (n != 0)
                    rc = CM_EPROTO;
                else
                    c->st = ST_CHUNK_SIZE;
            } else { /* trailer: ends with an empty line */
                if (n == 0) {
                    free(line);
                    if (!response_done(c))
                        return false;
                    continue;
                }
            }
            free(line);
            if (rc)
                return fail_all(c, rc);
            break;
        }
        case ST_BODY_LEN:
        case ST_CHUNK_DATA:
        case ST_BODY_EOF: {
            size_t take = avail;
            if (c->st != ST_BODY_EOF && take > c->remaining)
                take = (size_t)c->remaining;
            /* Hand over contiguous pieces without copying. */
            while (take > 0) {
                struct evbuffer_iovec v;
                if (evbuffer_peek(in, (ev_ssize_t)take, NULL, &v, 1) < 1)
                    break;
                size_t piece = v.iov_len < take ? v.iov_len : take;
                c->cbs.on_body(c->arg, v.iov_base, piece);
                if (c->zombie || c->dead)
                    return false;
                evbuffer_drain(in, piece);
                take -= piece;
                if (c->st != ST_BODY_EOF)
                    c->remaining -= piece;
            }
            if (c->st == ST_BODY_LEN && c->remaining == 0) {
                if (!response_done(c))
                    return false;
            } else if (c->st == ST_CHUNK_DATA && c->remaining == 0) {
                c->st = ST_CHUNK_CRLF;
            }
            break;
        }
        }
    }
}

static void finish_cb(struct cm_emu_conn *c)
{
    c->in_cb = false;
    if (c->zombie) {
        conn_close(c);
        free(c);
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct cm_emu_conn *c = arg;
    c->in_cb = true;
    parse(c);
    finish_cb(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct cm_emu_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;
    c->in_cb = true;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        int err =
            (what & BEV_EVENT_ERROR) && EVUTIL_SOCKET_ERROR() ? -EVUTIL_SOCKET_ERROR() : CM_ECLOSED;
        /* Whatever arrived before the close is handled first. */
        if (parse(c)) {
            if (c->st == ST_BODY_EOF && c->outstanding > 0) {
                reset_response(c);
                c->outstanding--;
                c->cbs.on_done(c->arg, 0);
            }
            if (!c->zombie)
                fail_all(c, err);
        }
    }
    finish_cb(c);
}

struct cm_emu_conn *cm_emu_conn_new(struct event_base *base, const struct sockaddr_in *dst,
                                    const struct sockaddr_in *src,
                                    const struct cm_emu_conn_cbs *cbs, void *arg, int *err)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = -errno;
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in s = *src;
        s.sin_port = 0;
        if (bind(fd, (const struct sockaddr *)&s, sizeof s) != 0) {
            *err = -errno;
            close(fd);
            return NULL;
        }
    }
    struct cm_emu_conn *c = cm_xcalloc(1, sizeof *c);
    c->cbs = *cbs;
    c->arg = arg;
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        close(fd);
        free(c);
        *err = -ENOMEM;
        return NULL;
    }
    bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
    if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)dst, sizeof *dst) != 0) {
        *err = -(errno ? errno : ECONNREFUSED);
        bufferevent_free(c->bev);
        free(c);
        return NULL;
    }
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    reset_response(c);
    return c;
}

void cm_emu_conn_free(struct cm_emu_conn *c)
{
    if (!c)
        return;
    if (c->in_cb) {
        c->zombie = true;
        return;
    }
    conn_close(c);
    free(c);
}

int cm_emu_conn_post(struct cm_emu_conn *c, const char *host, const char *path,
                     const char *const *headers, const uint8_t *body, size_t len)
{
    if (c->dead || c->zombie || !c->bev)
        return CM_ECLOSED;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out,
                        "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-protobuf\r\n"
                        "Accept: application/x-protobuf\r\nContent-Length: %zu\r\n",
                        path, host, len);
    for (size_t i = 0; headers && headers[i]; i++)
        evbuffer_add_printf(out, "%s\r\n", headers[i]);
    evbuffer_add(out, "\r\n", 2);
    if (len)
        evbuffer_add(out, body, len);
    c->outstanding++;
    return 0;
}

size_t cm_emu_conn_outstanding(const struct cm_emu_conn *c)
{
    return c->outstanding;
}

bool cm_emu_conn_dead(const struct cm_emu_conn *c)
{
    return c->dead || c->zombie;
}

void cm_emu_conn_pause(struct cm_emu_conn *c, bool paused)
{
    if (!c->bev)
        return;
    if (paused)
        bufferevent_disable(c->bev, EV_READ);
    else {
        bufferevent_enable(c->bev, EV_READ);
        /* Bytes already buffered while paused get no new read event. */
        if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
            bufferevent_trigger(c->bev, EV_READ, BEV_OPT_DEFER_CALLBACKS);
    }
}
