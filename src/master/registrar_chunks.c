/* registrar_chunks.c: a large registry split over content-named znodes; see
 * registrar_chunks.h. */
#include "registrar_chunks.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "strmap.h"
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

/* What a split may reuse from the previous registry: its bytes and chunks, and the chunks by
 * the hash of their first bytes (a hint: a chunk is reused only when all its bytes match). */
struct prev {
    const uint8_t *data;
    size_t len;
    const struct cm_reg_chunk *chunks;
    size_t n;
    struct cm_strmap starts; /* hex hash of the first PREV_KEY bytes -> index + 1 */
};

#define PREV_KEY 64

static void prev_key(const uint8_t *p, size_t len, char key[17])
{
    snprintf(key, 17, "%016" PRIx64, fnv1a(p, len < PREV_KEY ? len : PREV_KEY));
}

/* Appends chunk c (of the previous registry) at the new bytes' offset at. */
static void push(struct cm_reg_chunk **out, size_t *n, size_t *cap, const struct cm_reg_chunk *c,
                 size_t at)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *out = cm_xrealloc(*out, *cap * sizeof **out);
    }
    (*out)[*n] = *c;
    (*out)[*n].off = at;
    (*n)++;
}

/* The previous chunk whose bytes start data[at..len), or p->n. */
static size_t prev_match(const struct prev *p, const uint8_t *data, size_t len, size_t at)
{
    if (len - at < PREV_KEY)
        return p->n;
    char key[17];
    prev_key(data + at, PREV_KEY, key);
    size_t j = (size_t)(uintptr_t)cm_strmap_get(&p->starts, key);
    if (j == 0)
        return p->n;
    const struct cm_reg_chunk *c = &p->chunks[j - 1];
    /* The previous last chunk ended with the bytes, not at a boundary of its own: reused only
     * where the new bytes end too, or a split of appended records would keep that end. */
    if (j == p->n && c->len != len - at)
        return p->n;
    if (c->len > len - at || memcmp(data + at, p->data + c->off, c->len) != 0)
        return p->n;
    return j - 1;
}

/* Splits data from at (a chunk start) to its end. With p, wherever a chunk boundary falls, a
 * previous chunk with the same bytes from there is reused instead of hashed again (and the next
 * one after it, and so on): after a change the split hashes until its boundaries meet the
 * previous ones again, not to the end. */
static void split_from(const uint8_t *data, size_t len, size_t at, const struct prev *p,
                       struct cm_reg_chunk **out, size_t *n, size_t *cap)
{
    size_t start = at;
    while (at < len) {
        size_t end = record_end(data, len, at);
        bool raw = end == 0 || end - at > CM_REG_CHUNK_MAX;
        if (raw) /* not a record, or one too big for a chunk: fixed-size pieces */
            end = at + (len - at < CM_REG_CHUNK_MAX ? len - at : CM_REG_CHUNK_MAX);
        bool cut_before = end - start > CM_REG_CHUNK_MAX && at > start;
        size_t rec = at;
        if (!cut_before)
            at = end;
        /* The registry's version (field 1, first) changes with every store: alone in the
         * first chunk, it does not drag the agents that follow it into every write. */
        bool version = rec == 0 && !raw && data[0] == (1 << 3 | 0);
        if (cut_before || raw || version ||
            (at - start >= CM_REG_CHUNK_MIN &&
             (fnv1a(data + rec, at - rec) & CM_REG_CHUNK_MASK) == 0)) {
            emit(out, n, cap, data, start, at);
            for (size_t j; p && at < len && (j = prev_match(p, data, len, at)) < p->n;) {
                push(out, n, cap, &p->chunks[j], at);
                at += p->chunks[j].len;
            }
            start = at;
        }
    }
    if (start < len)
        emit(out, n, cap, data, start, len);
}

void cm_reg_chunks_split(const uint8_t *data, size_t len, struct cm_reg_chunk **out, size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    split_from(data, len, 0, NULL, out, n, &cap);
}

/* The length of the common prefix of a and b (n bytes each at most). */
static size_t common_prefix(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t i = 0;
    while (i + 4096 <= n && memcmp(a + i, b + i, 4096) == 0)
        i += 4096;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

void cm_reg_chunks_resplit(const uint8_t *prev, size_t prev_len, const struct cm_reg_chunk *pc,
                           size_t pn, const uint8_t *data, size_t len, struct cm_reg_chunk **out,
                           size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    /* Both start with the version record, a chunk of its own: the chunks after it are compared
     * (the version differs at every store, and its length may too). */
    size_t vend = len > 0 && data[0] == (1 << 3 | 0) ? record_end(data, len, 0) : 0;
    if (!prev || pn < 2 || vend == 0 || prev[0] != data[0] || pc[0].len >= prev_len ||
        pc[0].len != record_end(prev, prev_len, 0)) {
        split_from(data, len, 0, NULL, out, n, &cap);
        return;
    }
    emit(out, n, &cap, data, 0, vend);
    size_t pv = pc[0].len;
    size_t max = prev_len - pv < len - vend ? prev_len - pv : len - vend;
    size_t same_head = common_prefix(prev + pv, data + vend, max);
    /* A previous chunk is the same in the new bytes when it and the chunk after it (which holds
     * the record that decided where it ends) lie in the common prefix. */
    size_t j = 1, at = vend;
    while (j + 1 < pn && pc[j + 1].off + pc[j + 1].len - pv <= same_head) {
        push(out, n, &cap, &pc[j], at);
        at += pc[j].len;
        j++;
    }
    struct prev p = {prev, prev_len, pc, pn, {0}};
    cm_strmap_init(&p.starts);
    for (size_t k = j; k < pn; k++) {
        char key[17];
        prev_key(prev + pc[k].off, pc[k].len, key);
        cm_strmap_put(&p.starts, key, (void *)(uintptr_t)(k + 1));
    }
    split_from(data, len, at, &p, out, n, &cap);
    cm_strmap_cleanup(&p.starts);
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
