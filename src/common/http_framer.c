/* http_framer.c: see http_framer.h. */
#include "http_framer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

/* A chunk-size line or trailer field longer than this is refused. */
#define LINE_MAX_BYTES 1024
/* Bytes looked at per copy while searching for the end of a head. */
#define SCAN_BYTES 4096

enum state {
    ST_BETWEEN,    /* before a request; leading blank lines are skipped */
    ST_HEAD,       /* collecting the head */
    ST_HELD,       /* the head is complete and waits for cm_http_framer_accept */
    ST_BODY,       /* Content-Length body: remaining bytes to pass */
    ST_CHUNK_SIZE, /* reading a chunk-size line */
    ST_CHUNK_DATA, /* passing chunk data */
    ST_CHUNK_END,  /* reading the CRLF after chunk data */
    ST_TRAILER,    /* reading trailer fields up to the blank line */
    ST_FAILED,
};

struct cm_http_framer {
    struct cm_http_framer_limits lim;
    enum state st;
    char *head; /* the head being collected (grows up to lim.max_head) */
    size_t head_len, head_cap;
    int nl_run; /* consecutive line ends seen at the end of head ('\r' ignored) */
    struct cm_http_frame_info info;
    uint64_t remaining; /* body or chunk bytes still to pass */
    uint64_t body_bytes;
    char line[LINE_MAX_BYTES];
    size_t line_len;
    bool done_pending; /* a request without a body was accepted: report DONE next */
};

struct cm_http_framer *cm_http_framer_new(const struct cm_http_framer_limits *limits)
{
    struct cm_http_framer *f = calloc(1, sizeof *f);
    if (!f)
        abort();
    if (limits)
        f->lim = *limits;
    if (!f->lim.max_body)
        f->lim.max_body = CM_HTTP_FRAMER_MAX_BODY_DEFAULT;
    if (!f->lim.max_head)
        f->lim.max_head = CM_HTTP_FRAMER_MAX_HEAD_DEFAULT;
    if (!f->lim.max_uri)
        f->lim.max_uri = CM_HTTP_FRAMER_MAX_URI_DEFAULT;
    if (!f->lim.max_headers)
        f->lim.max_headers = CM_HTTP_FRAMER_MAX_HEADERS_DEFAULT;
    return f;
}

void cm_http_framer_free(struct cm_http_framer *f)
{
    if (!f)
        return;
    free(f->head);
    free(f);
}

bool cm_http_framer_idle(const struct cm_http_framer *f)
{
    return f->st == ST_BETWEEN;
}

uint64_t cm_http_framer_body_bytes(const struct cm_http_framer *f)
{
    return f->body_bytes;
}

static enum cm_http_frame_event fail(struct cm_http_framer *f, struct cm_http_frame_info *info,
                                     int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum cm_http_frame_event fail(struct cm_http_framer *f, struct cm_http_frame_info *info,
                                     int code, const char *fmt, ...)
{
    f->st = ST_FAILED;
    f->info.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->info.msg, sizeof f->info.msg, fmt, ap);
    va_end(ap);
    *info = f->info;
    free(f->head);
    f->head = NULL;
    f->head_len = f->head_cap = 0;
    return CM_HTTP_FRAME_ERROR;
}

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Prints at most 40 bytes of s[0..n) with non-printables as '?', for messages. */
static void excerpt(char *dst, size_t cap, const char *s, size_t n)
{
    size_t m = n < 40 ? n : 40;
    if (m >= cap)
        m = cap - 1;
    for (size_t i = 0; i < m; i++)
        dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    dst[m] = '\0';
}

static const char *const SERVED[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"};
static const char *const KNOWN[] = {"PATCH", "TRACE", "CONNECT"};

static enum cm_http_frame_event check_request_line(struct cm_http_framer *f,
                                                   struct cm_http_frame_info *info, const char *s,
                                                   size_t n)
{
    char ex[48];
    const char *sp1 = memchr(s, ' ', n);
    if (!sp1 || sp1 == s) {
        excerpt(ex, sizeof ex, s, n);
        return fail(f, info, 400, "Malformed request line '%s': expected 'METHOD /path HTTP/1.1'",
                    ex);
    }
    size_t mlen = (size_t)(sp1 - s);
    for (size_t i = 0; i < mlen; i++)
        if (!is_tchar((unsigned char)s[i])) {
            excerpt(ex, sizeof ex, s, mlen);
            return fail(f, info, 400, "Malformed request method '%s'", ex);
        }
    if (mlen >= sizeof f->info.method) {
        excerpt(ex, sizeof ex, s, mlen);
        return fail(f, info, 501, "Unsupported request method '%s'", ex);
    }
    memcpy(f->info.method, s, mlen);
    f->info.method[mlen] = '\0';
    bool served = false, known = false;
    for (size_t i = 0; i < sizeof SERVED / sizeof SERVED[0]; i++)
        served |= strcmp(f->info.method, SERVED[i]) == 0;
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        known |= strcmp(f->info.method, KNOWN[i]) == 0;
    if (!served && known)
        return fail(f, info, 405,
                    "Method %s is not allowed (allowed: GET, POST, PUT, DELETE, HEAD, OPTIONS)",
                    f->info.method);
    if (!served)
        return fail(f, info, 501,
                    "Unsupported request method '%s' (supported: GET, POST, PUT, DELETE, HEAD, "
                    "OPTIONS)",
                    f->info.method);

    const char *t = sp1 + 1;
    const char *end = s + n;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (!sp2 || sp2 == t) {
        excerpt(ex, sizeof ex, s, n);
        return fail(f, info, 400, "Malformed request line '%s': expected 'METHOD /path HTTP/1.1'",
                    ex);
    }
    size_t tlen = (size_t)(sp2 - t);
    if (tlen > f->lim.max_uri)
        return fail(f, info, 414, "Request URI of %zu bytes is longer than the limit of %zu bytes",
                    tlen, f->lim.max_uri);
    for (size_t i = 0; i < tlen; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c >= 0x7f)
            return fail(f, info, 400,
                        "Malformed request URI: byte 0x%02x at offset %zu is not allowed (encode "
                        "it with %%XX)",
                        c, i);
    }
    bool absolute = (tlen > 7 && strncasecmp(t, "http://", 7) == 0) ||
                    (tlen > 8 && strncasecmp(t, "https://", 8) == 0);
    if (t[0] != '/' && !absolute) {
        excerpt(ex, sizeof ex, t, tlen);
        return fail(f, info, 400, "Malformed request URI '%s': it must start with '/'", ex);
    }
    const char *v = sp2 + 1;
    size_t vlen = (size_t)(end - v);
    if (vlen == 8 && (memcmp(v, "HTTP/1.1", 8) == 0 || memcmp(v, "HTTP/1.0", 8) == 0))
        return CM_HTTP_FRAME_MORE;
    excerpt(ex, sizeof ex, v, vlen);
    if (vlen >= 5 && memcmp(v, "HTTP/", 5) == 0)
        return fail(f, info, 505, "HTTP version '%s' is not supported (use HTTP/1.1 or HTTP/1.0)",
                    ex);
    return fail(f, info, 400, "Malformed HTTP version '%s' in the request line", ex);
}

/* Trims blanks around [*s, *e). */
static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

/* Checks the collected head (ending with its blank line) and fills f->info. */
static enum cm_http_frame_event check_head(struct cm_http_framer *f,
                                           struct cm_http_frame_info *info)
{
    memset(&f->info, 0, sizeof f->info);
    const char *p = f->head, *end = f->head + f->head_len;
    size_t lineno = 0, fields = 0;
    bool have_cl = false, have_te = false;
    char ex[48];
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        const char *le = nl;
        if (le > p && le[-1] == '\r')
            le--;
        size_t n = (size_t)(le - p);
        if (lineno == 0) {
            enum cm_http_frame_event ev = check_request_line(f, info, p, n);
            if (ev == CM_HTTP_FRAME_ERROR)
                return ev;
        } else if (n == 0) {
            break; /* the blank line ending the head */
        } else {
            if (p[0] == ' ' || p[0] == '\t')
                return fail(f, info, 400,
                            "Header line %zu starts with whitespace: obsolete line folding is not "
                            "supported",
                            lineno);
            if (++fields > f->lim.max_headers)
                return fail(f, info, 431, "Too many header fields (limit %zu)", f->lim.max_headers);
            const char *colon = memchr(p, ':', n);
            if (!colon || colon == p) {
                excerpt(ex, sizeof ex, p, n);
                return fail(f, info, 400, "Malformed header line %zu '%s': expected 'Name: value'",
                            lineno, ex);
            }
            for (const char *c = p; c < colon; c++)
                if (!is_tchar((unsigned char)*c)) {
                    excerpt(ex, sizeof ex, p, (size_t)(colon - p));
                    return fail(f, info, 400, "Malformed header name '%s' on line %zu", ex, lineno);
                }
            const char *vs = colon + 1, *ve = le;
            for (const char *c = vs; c < ve; c++) {
                unsigned char b = (unsigned char)*c;
                if ((b < 0x20 && b != '\t') || b == 0x7f) {
                    excerpt(ex, sizeof ex, p, (size_t)(colon - p));
                    return fail(f, info, 400,
                                "Header '%s' holds a control character (0x%02x) in its value", ex,
                                b);
                }
            }
            trim(&vs, &ve);
            size_t nlen = (size_t)(colon - p);
            if (nlen == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
                uint64_t v = 0;
                if (vs == ve || ve - vs > 19)
                    return fail(f, info, 400, "Invalid Content-Length: expected 1 to 19 digits");
                for (const char *c = vs; c < ve; c++) {
                    if (*c < '0' || *c > '9') {
                        excerpt(ex, sizeof ex, vs, (size_t)(ve - vs));
                        return fail(f, info, 400, "Invalid Content-Length '%s': not a number", ex);
                    }
                    v = v * 10 + (uint64_t)(*c - '0');
                }
                if (have_cl && v != f->info.content_length)
                    return fail(f, info, 400, "Conflicting Content-Length headers");
                have_cl = true;
                f->info.content_length = v;
            } else if (nlen == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0) {
                if ((size_t)(ve - vs) != 7 || strncasecmp(vs, "chunked", 7) != 0) {
                    excerpt(ex, sizeof ex, vs, (size_t)(ve - vs));
                    return fail(f, info, 501,
                                "Transfer-Encoding '%s' is not supported (only 'chunked')", ex);
                }
                have_te = true;
                f->info.chunked = true;
            }
        }
        lineno++;
        p = nl + 1;
    }
    if (have_cl && have_te)
        return fail(f, info, 400,
                    "A request may not carry both Content-Length and Transfer-Encoding");
    if (f->info.content_length > f->lim.max_body)
        return fail(
            f, info, 413, "Request body of %llu bytes is larger than the limit of %llu bytes",
            (unsigned long long)f->info.content_length, (unsigned long long)f->lim.max_body);
    *info = f->info;
    return CM_HTTP_FRAME_HEAD;
}

static void head_append(struct cm_http_framer *f, const char *s, size_t n)
{
    if (f->head_len + n > f->head_cap) {
        size_t cap = f->head_cap ? f->head_cap : 512;
        while (cap < f->head_len + n)
            cap *= 2;
        char *h = realloc(f->head, cap);
        if (!h)
            abort();
        f->head = h;
        f->head_cap = cap;
    }
    memcpy(f->head + f->head_len, s, n);
    f->head_len += n;
}

/* Collects head bytes; returns HEAD, ERROR or MORE (input exhausted). */
static enum cm_http_frame_event read_head(struct cm_http_framer *f, struct evbuffer *in,
                                          struct cm_http_frame_info *info)
{
    char buf[SCAN_BYTES];
    size_t avail;
    while ((avail = evbuffer_get_length(in)) > 0) {
        size_t want = avail < sizeof buf ? avail : sizeof buf;
        ev_ssize_t got = evbuffer_copyout(in, buf, want);
        if (got <= 0)
            break;
        size_t i = 0, n = (size_t)got;
        if (f->st == ST_BETWEEN) {
            while (i < n && (buf[i] == '\r' || buf[i] == '\n'))
                i++;
            if (i == n) {
                evbuffer_drain(in, n);
                continue;
            }
            f->st = ST_HEAD;
            f->nl_run = 0;
            f->head_len = 0;
        }
        size_t start = i;
        bool done = false;
        /* Line by line (memchr): the head ends at two line ends with nothing but CRs between. */
        while (i < n) {
            const char *nl = memchr(buf + i, '\n', n - i);
            size_t end = nl ? (size_t)(nl - buf) : n;
            size_t j = end;
            while (j > i && buf[j - 1] == '\r')
                j--;
            if (j > i)
                f->nl_run = 0; /* the line had text */
            if (!nl) {
                i = n;
                break;
            }
            i = end + 1;
            if (++f->nl_run == 2) {
                done = true;
                break;
            }
        }
        size_t take = i - start;
        if (f->head_len + take > f->lim.max_head) {
            evbuffer_drain(in, n);
            return fail(f, info, 431, "Request head is larger than the limit of %zu bytes",
                        f->lim.max_head);
        }
        head_append(f, buf + start, take);
        evbuffer_drain(in, i);
        if (done) {
            f->st = ST_HELD;
            return check_head(f, info);
        }
    }
    return CM_HTTP_FRAME_MORE;
}

/* Reads one framing line (chunk size, chunk end, trailer) byte by byte into f->line, passing the
 * bytes on. Returns 1 with a complete line (without its line end), 0 if input ran out, -1 if
 * the line is too long. */
static int read_line(struct cm_http_framer *f, struct evbuffer *in, struct evbuffer *out)
{
    char c;
    while (evbuffer_remove(in, &c, 1) == 1) {
        evbuffer_add(out, &c, 1);
        if (c == '\n') {
            if (f->line_len && f->line[f->line_len - 1] == '\r')
                f->line_len--;
            return 1;
        }
        if (f->line_len >= sizeof f->line - 1)
            return -1;
        f->line[f->line_len++] = c;
    }
    return 0;
}

static enum cm_http_frame_event request_done(struct cm_http_framer *f)
{
    f->st = ST_BETWEEN;
    return CM_HTTP_FRAME_DONE;
}

static enum cm_http_frame_event chunk_size_line(struct cm_http_framer *f,
                                                struct cm_http_frame_info *info)
{
    const char *s = f->line, *e = f->line + f->line_len;
    const char *semi = memchr(s, ';', f->line_len);
    if (semi)
        e = semi;
    trim(&s, &e);
    if (s == e || e - s > 15)
        return fail(f, info, 400, "Malformed chunk size line in the chunked request body");
    uint64_t v = 0;
    for (const char *c = s; c < e; c++) {
        int d = (*c >= '0' && *c <= '9')   ? *c - '0'
                : (*c >= 'a' && *c <= 'f') ? *c - 'a' + 10
                : (*c >= 'A' && *c <= 'F') ? *c - 'A' + 10
                                           : -1;
        if (d < 0)
            return fail(f, info, 400, "Malformed chunk size in the chunked request body");
        v = v * 16 + (uint64_t)d;
    }
    if (f->body_bytes + v > f->lim.max_body)
        return fail(f, info, 413, "Chunked request body is larger than the limit of %llu bytes",
                    (unsigned long long)f->lim.max_body);
    f->line_len = 0;
    if (v == 0) {
        f->st = ST_TRAILER;
    } else {
        f->remaining = v;
        f->st = ST_CHUNK_DATA;
    }
    return CM_HTTP_FRAME_MORE;
}

enum cm_http_frame_event cm_http_framer_step(struct cm_http_framer *f, struct evbuffer *in,
                                             struct evbuffer *out, struct cm_http_frame_info *info)
{
    if (f->done_pending) {
        f->done_pending = false;
        return CM_HTTP_FRAME_DONE;
    }
    for (;;) {
        switch (f->st) {
        case ST_FAILED:
            evbuffer_drain(in, evbuffer_get_length(in));
            *info = f->info;
            return CM_HTTP_FRAME_ERROR;
        case ST_HELD: return CM_HTTP_FRAME_MORE; /* waiting for accept; nothing passes */
        case ST_BETWEEN:
        case ST_HEAD: return read_head(f, in, info);
        case ST_BODY: {
            size_t avail = evbuffer_get_length(in);
            if (avail == 0)
                return CM_HTTP_FRAME_MORE;
            size_t n = avail < f->remaining ? avail : (size_t)f->remaining;
            evbuffer_remove_buffer(in, out, n);
            f->remaining -= n;
            f->body_bytes += n;
            if (f->remaining == 0)
                return request_done(f);
            return CM_HTTP_FRAME_MORE;
        }
        case ST_CHUNK_DATA: {
            size_t avail = evbuffer_get_length(in);
            if (avail == 0)
                return CM_HTTP_FRAME_MORE;
            size_t n = avail < f->remaining ? avail : (size_t)f->remaining;
            evbuffer_remove_buffer(in, out, n);
            f->remaining -= n;
            f->body_bytes += n;
            if (f->remaining == 0) {
                f->st = ST_CHUNK_END;
                f->line_len = 0;
            }
            break;
        }
        case ST_CHUNK_SIZE:
        case ST_CHUNK_END:
        case ST_TRAILER: {
            int r = read_line(f, in, out);
            if (r == 0)
                return CM_HTTP_FRAME_MORE;
            if (r < 0)
                return fail(f, info, 400, "Chunk framing line longer than %d bytes",
                            LINE_MAX_BYTES);
            if (f->st == ST_CHUNK_SIZE) {
                if (chunk_size_line(f, info) == CM_HTTP_FRAME_ERROR)
                    return CM_HTTP_FRAME_ERROR;
            } else if (f->st == ST_CHUNK_END) {
                if (f->line_len != 0)
                    return fail(f, info, 400, "Chunk data is longer than its declared size");
                f->st = ST_CHUNK_SIZE;
            } else {
                bool blank = f->line_len == 0;
                f->line_len = 0;
                if (blank)
                    return request_done(f);
            }
            break;
        }
        }
    }
}

void cm_http_framer_accept(struct cm_http_framer *f, struct evbuffer *out)
{
    if (f->st != ST_HELD)
        return;
    evbuffer_add(out, f->head, f->head_len);
    free(f->head);
    f->head = NULL;
    f->head_len = f->head_cap = 0;
    f->body_bytes = 0;
    f->line_len = 0;
    if (f->info.chunked) {
        f->st = ST_CHUNK_SIZE;
    } else if (f->info.content_length > 0) {
        f->remaining = f->info.content_length;
        f->st = ST_BODY;
    } else {
        f->st = ST_BETWEEN;
        f->done_pending = true;
    }
}
