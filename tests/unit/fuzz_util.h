/*
 * fuzz_util.h: the deterministic mutation fuzzing kit shared by the fuzz unit tests — a
 * fixed-seed xorshift PRNG, a growable byte buffer and a JSON-aware mutator (byte flips,
 * punctuation, deletions, duplications, and values replaced by wrong types, special numbers,
 * bad UTF-8 and bad base64). Everything is static inline so each test binary takes what it uses.
 */
#ifndef CM_FUZZ_UTIL_H
#define CM_FUZZ_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct rng {
    uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
    uint64_t x = r->s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r->s = x;
    return x;
}

static inline size_t rng_below(struct rng *r, size_t n)
{
    return n ? (size_t)(rng_next(r) % n) : 0;
}

/* A growable byte buffer, always NUL-terminated past len. */
struct buf {
    char *p;
    size_t len, cap;
};

static inline void buf_reserve(struct buf *b, size_t need)
{
    if (need + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need + 1)
        cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p)
        abort();
    b->cap = cap;
}

static inline void buf_set(struct buf *b, const void *data, size_t len)
{
    buf_reserve(b, len);
    memcpy(b->p, data, len);
    b->len = len;
    b->p[len] = '\0';
}

static inline void buf_splice(struct buf *b, size_t at, size_t del, const void *ins, size_t inslen);

/* Appends a C string. */
static inline void buf_cat(struct buf *b, const char *s)
{
    buf_splice(b, b->len, 0, s, strlen(s));
}

static inline void buf_splice(struct buf *b, size_t at, size_t del, const void *ins, size_t inslen)
{
    if (at > b->len)
        at = b->len;
    if (del > b->len - at)
        del = b->len - at;
    buf_reserve(b, b->len - del + inslen);
    memmove(b->p + at + inslen, b->p + at + del, b->len - at - del);
    memcpy(b->p + at, ins, inslen);
    b->len = b->len - del + inslen;
    b->p[b->len] = '\0';
}

/* Values that stress a JSON field of any type: wrong types, huge and special numbers, numeric
 * strings, bad UTF-8, bad base64, empty containers. */
static const char *const special_values[] = {
    "null",
    "true",
    "\"false\"",
    "0",
    "-1",
    "-0",
    "1.5",
    "1e999",
    "-1e999",
    "18446744073709551616",
    "-9223372036854775809",
    "99999999999999999999999999999999",
    "\"123\"",
    "\"-7\"",
    "\"1e400\"",
    "\"Infinity\"",
    "\"-Infinity\"",
    "\"NaN\"",
    "\"\"",
    "\"\xff\xfe\xc0\x80\"",
    "\"\\ud800\"",
    "\"\\u0000\"",
    "\"!!!notbase64\"",
    "\"QUJD\"",
    "\"QQ=\"",
    "\"TASK_RUNNING\"",
    "\"NO_SUCH_ENUM\"",
    "[]",
    "[1,2,3]",
    "[\"a\",null,{}]",
    "{}",
    "{\"value\":7}",
    "{\"value\":\"x\"}",
    "[[[[[[[[[[]]]]]]]]]]",
};
#define NSPECIAL (sizeof special_values / sizeof special_values[0])

static const char punct[] = "{}[]:,\"\\ 0-.e";

/* Replaces the value after the colon at position colon with v (the old value up to the next
 * ',', '}' or ']' is dropped, so objects and arrays get truncated in interesting ways). */
static inline void replace_value_at(struct buf *b, size_t colon, const char *v)
{
    size_t end = colon + 1;
    while (end < b->len && b->p[end] != ',' && b->p[end] != '}' && b->p[end] != ']')
        end++;
    buf_splice(b, colon + 1, end - colon - 1, v, strlen(v));
}

static inline void mutate(struct rng *r, struct buf *b)
{
    size_t nops = 1 + rng_below(r, 4);
    for (size_t k = 0; k < nops; k++) {
        size_t at = rng_below(r, b->len + 1);
        switch (rng_below(r, 8)) {
        case 0: /* flip a byte */
            if (b->len)
                b->p[rng_below(r, b->len)] ^= (char)(1u << rng_below(r, 8));
            break;
        case 1: { /* insert punctuation */
            char c = punct[rng_below(r, sizeof punct - 1)];
            buf_splice(b, at, 0, &c, 1);
            break;
        }
        case 2: /* delete a short range */ buf_splice(b, at, 1 + rng_below(r, 8), "", 0); break;
        case 3: { /* duplicate a range */
            size_t len = 1 + rng_below(r, 32);
            if (at + len <= b->len) {
                char tmp[32];
                memcpy(tmp, b->p + at, len);
                buf_splice(b, at, 0, tmp, len);
            }
            break;
        }
        case 4: /* random byte */
        {
            char c = (char)rng_below(r, 256);
            buf_splice(b, at, 0, &c, 1);
            break;
        }
        default: { /* replace some value with a special one */
            size_t ncolon = 0;
            for (size_t i = 0; i < b->len; i++)
                ncolon += b->p[i] == ':';
            if (!ncolon)
                break;
            size_t want = rng_below(r, ncolon);
            for (size_t i = 0; i < b->len; i++) {
                if (b->p[i] == ':' && want-- == 0) {
                    replace_value_at(b, i, special_values[rng_below(r, NSPECIAL)]);
                    break;
                }
            }
            break;
        }
        }
    }
}

#endif
