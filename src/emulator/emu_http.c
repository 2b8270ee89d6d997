/*
 * emu_http.c: the emulator's minimal HTTP/1.1 client connection. See emu_http.h.
 *
 * The socket is driven with plain events, not a bufferevent, to spend as few system calls per
 * request as possible (at thousands of calls a second they are most of the cost): requests
 * posted during a loop turn are written together at the end of the turn by one writev straight
 * to the socket (an event made active, no epoll change); only when the socket does not take it
 * all is EV_WRITE watched until it does. Reads go straight into the input buffer (no FIONREAD
 * ioctl before each read, as evbuffer_read does).
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
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
#define READ_CHUNK 65536 /* bytes read per call, at most (into a stack buffer) */
#define READS_PER_WAKE 4 /* reads per readable event, at most (fairness between sockets) */

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
    int fd; /* -1 once closed */
    struct event ev_read, ev_write, ev_flush;
    struct evbuffer *in, *out;
    bool connected;   /* the non-blocking connect completed */
    bool writing;     /* ev_write is watched (the socket did not take everything) */
    bool flush_armed; /* ev_flush is active: a write at the end of this turn */
    bool paused;
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
    if (c->fd >= 0) {
        event_del(&c->ev_read);
        event_del(&c->ev_write);
        event_del(&c->ev_flush);
        close(c->fd);
        c->fd = -1;
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
    struct evbuffer *in = c->in;
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
            /* The line is copied to the stack, not allocated (evbuffer_readln would malloc
             * one per header line: several per answer, thousands of answers a second). */
            size_t eol_len = 0;
            struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
            if (eol.pos < 0) {
                if (evbuffer_get_length(in) > MAX_HEAD)
                    return fail_all(c, CM_EPROTO);
                return true;
            }
            size_t n = (size_t)eol.pos;
            if (n > MAX_HEAD)
                return fail_all(c, CM_EPROTO);
            char line[MAX_HEAD + 1];
            evbuffer_copyout(in, line, n);
            line[n] = 0;
            evbuffer_drain(in, n + eol_len);
            c->head_bytes += n + 2;
            int rc = 0;
            if (c->st == ST_STATUS) {
                if (n == 0) {
                    continue; /* tolerate a stray CRLF between responses */
                }
                /* "HTTP/1.x NNN reason" */
                if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' ||
                    line[8] != ' ' || line[9] < '1' || line[9] > '9' || line[10] < '0' ||
                    line[10] > '9' || line[11] < '0' || line[11] > '9' ||
                    (n > 12 && line[12] != ' '))
                    rc = CM_EPROTO;
                else {
                    c->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
                    c->close_after = line[7] == '0';
                    c->st = ST_HEADERS;
                }
            } else if (c->st == ST_HEADERS) {
                if (c->head_bytes > MAX_HEAD)
                    rc = CM_EPROTO;
                else if (n == 0) {
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
                    if (!response_done(c))
                        return false;
                    continue;
                }
            }
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
        evbuffer_free(c->in);
        evbuffer_free(c->out);
        free(c);
    }
}

/* The peer closed (err CM_ECLOSED) or the socket failed: what arrived first is handled, a body
 * delimited by the close completes, and every other outstanding request fails. */
static void conn_failed(struct cm_emu_conn *c, int err)
{
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

/* Writes what is queued. Returns 0, or -errno when the socket failed. */
static int write_out(struct cm_emu_conn *c)
{
    while (evbuffer_get_length(c->out) > 0) {
        int n = evbuffer_write(c->out, c->fd);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
    }
    bool rest = evbuffer_get_length(c->out) > 0;
    if (rest && !c->writing) {
        event_add(&c->ev_write, NULL);
        c->writing = true;
    } else if (!rest && c->writing) {
        event_del(&c->ev_write);
        c->writing = false;
    }
    return 0;
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_emu_conn *c = arg;
    c->in_cb = true;
    int err = 0;
    /* Read into the stack, then copied into the input buffer: reserving READ_CHUNK in the
     * evbuffer would malloc (and, once parsed, free) a chain that large for every read, and
     * most reads are a few hundred bytes; evbuffer_add takes a small chain or the room left
     * in the last one. */
    uint8_t buf[READ_CHUNK];
    for (int k = 0; k < READS_PER_WAKE && !err; k++) {
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                err = -errno;
            break;
        }
        if (n == 0) {
            err = CM_ECLOSED;
            break;
        }
        if (evbuffer_add(c->in, buf, (size_t)n) != 0) {
            err = -ENOMEM;
            break;
        }
        if ((size_t)n < sizeof buf)
            break; /* drained */
    }
    if (err)
        conn_failed(c, err);
    else
        parse(c);
    finish_cb(c);
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_emu_conn *c = arg;
    c->in_cb = true;
    if (!c->connected) {
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
            soerr = errno;
        if (soerr) {
            conn_failed(c, -soerr);
            finish_cb(c);
            return;
        }
        c->connected = true;
        if (!c->paused)
            event_add(&c->ev_read, NULL);
    }
    int rc = write_out(c);
    if (rc)
        conn_failed(c, rc);
    finish_cb(c);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_emu_conn *c = arg;
    c->flush_armed = false;
    if (!c->connected || c->writing || c->dead)
        return; /* the write event will do it */
    c->in_cb = true;
    int rc = write_out(c);
    if (rc)
        conn_failed(c, rc);
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
    bool connected = false;
    if (connect(fd, (const struct sockaddr *)dst, sizeof *dst) == 0)
        connected = true;
    else if (errno != EINPROGRESS) {
        *err = -errno;
        close(fd);
        return NULL;
    }
    struct cm_emu_conn *c = cm_xcalloc(1, sizeof *c);
    c->fd = fd;
    c->cbs = *cbs;
    c->arg = arg;
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    if (!c->in || !c->out) {
        close(fd);
        if (c->in)
            evbuffer_free(c->in);
        if (c->out)
            evbuffer_free(c->out);
        free(c);
        *err = -ENOMEM;
        return NULL;
    }
    event_assign(&c->ev_read, base, fd, EV_READ | EV_PERSIST, read_cb, c);
    event_assign(&c->ev_write, base, fd, EV_WRITE | EV_PERSIST, write_cb, c);
    event_assign(&c->ev_flush, base, -1, 0, flush_cb, c);
    c->connected = connected;
    if (connected) {
        event_add(&c->ev_read, NULL);
    } else {
        /* Writable once connected (or failed): write_cb finishes the connect. */
        event_add(&c->ev_write, NULL);
        c->writing = true;
    }
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
    evbuffer_free(c->in);
    evbuffer_free(c->out);
    free(c);
}

int cm_emu_conn_post(struct cm_emu_conn *c, const char *host, const char *path,
                     const char *const *headers, const uint8_t *body, size_t len)
{
    if (c->dead || c->zombie || c->fd < 0)
        return CM_ECLOSED;
    /* The head is built in one piece (no printf), then head and body are appended. */
    static const char ct[] = "Content-Type: application/x-protobuf\r\n"
                             "Accept: application/x-protobuf\r\nContent-Length: ";
    char head[2048], num[24];
    /* Content-Length's digits and CRLF, without printf (thousands of requests a second). */
    char *d = num + sizeof num;
    *--d = '\n';
    *--d = '\r';
    size_t v = len;
    do {
        *--d = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t nlen = (size_t)(num + sizeof num - d);
    size_t plen = strlen(path), hlen = strlen(host);
    size_t total = 5 + plen + 17 + hlen + 2 + (sizeof ct - 1) + nlen + 2;
    for (size_t i = 0; headers && headers[i]; i++)
        total += strlen(headers[i]) + 2;
    if (total > sizeof head)
        return CM_ETOOBIG;
    char *w = head;
    memcpy(w, "POST ", 5), w += 5;
    memcpy(w, path, plen), w += plen;
    memcpy(w, " HTTP/1.1\r\nHost: ", 17), w += 17;
    memcpy(w, host, hlen), w += hlen;
    memcpy(w, "\r\n", 2), w += 2;
    memcpy(w, ct, sizeof ct - 1), w += sizeof ct - 1;
    memcpy(w, d, nlen), w += nlen;
    for (size_t i = 0; headers && headers[i]; i++) {
        size_t l = strlen(headers[i]);
        memcpy(w, headers[i], l), w += l;
        memcpy(w, "\r\n", 2), w += 2;
    }
    memcpy(w, "\r\n", 2), w += 2;
    size_t at = (size_t)(w - head);
    evbuffer_add(c->out, head, at);
    if (len)
        evbuffer_add(c->out, body, len);
    c->outstanding++;
    if (c->connected && !c->writing && !c->flush_armed) {
        event_active(&c->ev_flush, 0, 0);
        c->flush_armed = true;
    }
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
    if (c->fd < 0 || c->paused == paused)
        return;
    c->paused = paused;
    if (!c->connected)
        return; /* the connect's completion starts reading unless paused */
    if (paused) {
        event_del(&c->ev_read);
    } else {
        event_add(&c->ev_read, NULL);
        /* Bytes already buffered while paused get no new read event. */
        if (evbuffer_get_length(c->in) > 0)
            event_active(&c->ev_read, EV_READ, 0);
    }
}
