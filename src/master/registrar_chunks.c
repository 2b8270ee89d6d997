/* registrar_chunks.c: a large registry split over content-named znodes; see
 * registrar_chunks.h. */
#include "registrar_chunks.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "util.h"

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void cm_reg_chunk_name(const uint8_t *data, size_t len, char name[CM_REG_CHUNK_NAME])
{
    snprintf(name, CM_REG_CHUNK_NAME, "%016" PRIx64 "-%zu", fnv1a(data, len), len);
}

/* Reads a varint at *at (advanced); false when malformed or past len. */
static bool varint(const uint8_t *p, size_t len, size_t *at, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *at < len; shift += 7) {
        uint8_t b = p[(*at)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* The end of the top-level record starting at at, or 0 when it is not a well-formed record. */
static size_t record_end(const uint8_t *p, size_t len, size_t at)
{
    uint64_t tag, v;
    if (!varint(p, len, &at, &tag) || tag >> 3 == 0)
        return 0;
    switch (tag & 7) {
    case 0: return varint(p, len, &at, &v) ? at : 0;
    case 1: return len - at >= 8 ? at + 8 : 0;
    case 2:
        if (!varint(p, len, &at, &v) || v > len - at)
            return 0;
        return at + (size_t)v;
    case 5: return len - at >= 4 ? at + 4 : 0;
    default: return 0;
    }
}

static void emit(struct cm_reg_chunk **out, size_t *n, size_t *cap, const uint8_t *data,
                 size_t start, size_t end)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *out = cm_xrealloc(*out, *cap * sizeof **out);
    }
    struct cm_reg_chunk *c = &(*out)[(*n)++];
    c->off = start;
    c->len = end - start;
    cm_reg_chunk_name(data + start, end - start, c->name);
}

void cm_reg_chunks_split(const uint8_t *data, size_t len, struct cm_reg_chunk **out, size_t *n)
{
    size_t cap = 0, start = 0, at = 0;
    *out = NULL;
    *n = 0;
    while (at < len) {
        size_t end = record_end(data, len, at);
        bool raw = end == 0 || end - at > CM_REG_CHUNK_MAX;
        if (raw) /* not a record, or one too big for a chunk: fixed-size pieces */
            end = at + (len - at < CM_REG_CHUNK_MAX ? len - at : CM_REG_CHUNK_MAX);
        if (end - start > CM_REG_CHUNK_MAX && at > start) {
            emit(out, n, &cap, data, start, at);
            start = at;
            continue;
        }
        size_t rec = at;
        at = end;
        /* The registry's version (field 1, first) changes with every store: alone in the
         * first chunk, it does not drag the agents that follow it into every write. */
        bool version = rec == 0 && !raw && data[0] == (1 << 3 | 0);
        if (raw || version ||
            (at - start >= CM_REG_CHUNK_MIN &&
             (fnv1a(data + rec, at - rec) & CM_REG_CHUNK_MASK) == 0)) {
            emit(out, n, &cap, data, start, at);
            start = at;
        }
    }
    if (start < len)
        emit(out, n, &cap, data, start, len);
}

bool cm_reg_is_manifest(const uint8_t *data, size_t len)
{
    size_t m = strlen(CM_REG_MANIFEST_MAGIC);
    return data && len >= m && memcmp(data, CM_REG_MANIFEST_MAGIC, m) == 0;
}

char *cm_reg_manifest_format(const struct cm_reg_chunk *chunks, size_t n, size_t total,
                             size_t *outlen)
{
    size_t cap = strlen(CM_REG_MANIFEST_MAGIC) + 32 + n * CM_REG_CHUNK_NAME;
    char *s = cm_xmalloc(cap);
    size_t len = (size_t)snprintf(s, cap, "%s%zu\n", CM_REG_MANIFEST_MAGIC, total);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s\n", chunks[i].name);
    *outlen = len;
    return s;
}

/* A chunk name: 16 lowercase hex digits, '-', a decimal length; returns the length or 0. */
static size_t name_len(const char *s, size_t n)
{
    if (n < 18 || n >= CM_REG_CHUNK_NAME || s[16] != '-')
        return 0;
    for (size_t i = 0; i < 16; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    size_t v = 0;
    for (size_t i = 17; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > CM_REG_CHUNK_MAX)
            return 0;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    return v <= CM_REG_CHUNK_MAX ? v : 0;
}

int cm_reg_manifest_parse(const uint8_t *data, size_t len, size_t max_total,
                          struct cm_reg_chunk **out, size_t *n, size_t *total, char *why,
                          size_t whylen)
{
    *out = NULL;
    *n = 0;
    *total = 0;
    if (!cm_reg_is_manifest(data, len))
        return cm_fail(CM_EINVAL, why, whylen, "not a registry manifest");
    const char *p = (const char *)data + strlen(CM_REG_MANIFEST_MAGIC);
    const char *end = (const char *)data + len;
    size_t cap = 0, sum = 0, want = 0, line = 1;
    bool have_total = false;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            free(*out);
            *out = NULL;
            *n = 0;
            return cm_fail(CM_EINVAL, why, whylen, "registry manifest: line %zu is not terminated",
                           line + 1);
        }
        size_t k = (size_t)(nl - p);
        line++;
        if (!have_total) {
            char num[32];
            char *e = NULL;
            if (k == 0 || k >= sizeof num)
                goto bad;
            memcpy(num, p, k);
            num[k] = '\0';
            unsigned long long v = strtoull(num, &e, 10);
            if (*e || num[0] == '-' || v > max_total)
                goto bad;
            want = (size_t)v;
            have_total = true;
        } else {
            size_t clen = name_len(p, k);
            if (!clen || sum + clen > want)
                goto bad;
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                *out = cm_xrealloc(*out, cap * sizeof **out);
            }
            struct cm_reg_chunk *c = &(*out)[(*n)++];
            memcpy(c->name, p, k);
            c->name[k] = '\0';
            c->off = sum;
            c->len = clen;
            sum += clen;
        }
        p = nl + 1;
    }
    if (!have_total || sum != want) {
        line = 0;
        goto bad;
    }
    *total = want;
    return 0;
bad:
    free(*out);
    *out = NULL;
    *n = 0;
    if (line)
        return cm_fail(CM_EINVAL, why, whylen, "registry manifest: line %zu is malformed", line);
    return cm_fail(CM_EINVAL, why, whylen,
                   "registry manifest: the chunks do not add up to the registry's length");
}
