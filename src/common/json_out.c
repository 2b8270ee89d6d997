/* json_out.c: the direct JSON writer. See json_out.h. */
#include "json_out.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void cm_json_out_cleanup(struct cm_json_out *w)
{
    free(w->data);
    memset(w, 0, sizeof *w);
}

void cm_json_out_reset(struct cm_json_out *w)
{
    w->len = 0;
    if (w->data)
        w->data[0] = '\0';
}

/* Room for n more bytes and the terminating NUL. */
static char *reserve(struct cm_json_out *w, size_t n)
{
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n + 1)
            cap *= 2;
        w->data = cm_xrealloc(w->data, cap);
        w->cap = cap;
    }
    return w->data + w->len;
}

static void put(struct cm_json_out *w, const char *s, size_t n)
{
    if (!n)
        return;
    char *p = reserve(w, n);
    memcpy(p, s, n);
    w->len += n;
    w->data[w->len] = '\0';
    w->last = s[n - 1];
}

static void putc1(struct cm_json_out *w, char c)
{
    char *p = reserve(w, 1);
    p[0] = c;
    p[1] = '\0';
    w->len++;
    w->last = c;
}

/* The comma before a value or key that follows another one. */
static void sep(struct cm_json_out *w)
{
    char c = w->last;
    if (c && c != '{' && c != '[' && c != ':' && c != ',')
        putc1(w, ',');
}

void cm_json_out_raw(struct cm_json_out *w, const char *s, size_t n)
{
    put(w, s, n);
}

void cm_json_out_raws(struct cm_json_out *w, const char *s)
{
    put(w, s, strlen(s));
}

void cm_json_out_obj_open(struct cm_json_out *w)
{
    sep(w);
    putc1(w, '{');
}

void cm_json_out_obj_close(struct cm_json_out *w)
{
    putc1(w, '}');
}

void cm_json_out_arr_open(struct cm_json_out *w)
{
    sep(w);
    putc1(w, '[');
}

void cm_json_out_arr_close(struct cm_json_out *w)
{
    putc1(w, ']');
}

/* Whether none of the 8 bytes of x needs a look: a control character, '"', '\\' or a byte of a
 * multi-byte character. (The borrow tricks can only misfire after a byte that does match.) */
static bool plain8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    uint64_t hit = (x - ones * 0x20) | ((q - ones) & ~q) | ((b - ones) & ~b) | x;
    return (hit & high) == 0;
}

/* Copies the leading run of s[0..n) that needs no escaping, 8 bytes at a time; returns its
 * length (a multiple of 8). */
static size_t copy_plain(char *o, const char *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        if (!plain8(x))
            break;
        memcpy(o + i, &x, 8);
    }
    return i;
}

/* Writes the escape of c (a quote, a backslash or a control character) at o; returns its end. */
static char *put_escape(char *o, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    *o++ = '\\';
    switch (c) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '\b': *o++ = 'b'; break;
    case '\f': *o++ = 'f'; break;
    case '\n': *o++ = 'n'; break;
    case '\r': *o++ = 'r'; break;
    case '\t': *o++ = 't'; break;
    default:
        *o++ = 'u';
        *o++ = '0';
        *o++ = '0';
        *o++ = hex[c >> 4];
        *o++ = hex[c & 15];
        break;
    }
    return o;
}

/* Closes the string written from p to o with its quote and accounts for it in w. */
static void end_string(struct cm_json_out *w, char *p, char *o)
{
    *o++ = '"';
    *o = '\0';
    w->len += (size_t)(o - p);
    w->last = '"';
}

/* The escaped text of s[0..n) between quotes (no comma). */
static void put_string(struct cm_json_out *w, const char *s, size_t n)
{
    /* At most 6 bytes of output per input byte, and the quotes. */
    char *p = reserve(w, n * 6 + 2);
    char *o = p;
    *o++ = '"';
    size_t plain = copy_plain(o, s, n);
    o += plain;
    for (size_t i = plain; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        o = put_escape(o, c);
    }
    end_string(w, p, o);
}

/* Length of the UTF-8 sequence starting at p (at most n bytes left), 0 if it is not valid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t k;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        k = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        cp = c & 0x07;
    } else {
        return 0; /* a continuation byte, 0xC0/0xC1 (overlong ASCII) or above 0xF4 */
    }
    if (n < k)
        return 0;
    for (size_t j = 1; j < k; j++) {
        if (p[j] < 0x80 || p[j] > 0xBF)
            return 0;
        cp = (cp << 6) | (p[j] & 0x3F);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    if ((k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000))
        return 0; /* overlong */
    return k;
}

/* put_string for text that must be UTF-8: false (with w as it was) when it is not. */
static bool put_string_checked(struct cm_json_out *w, const char *s, size_t n)
{
    const unsigned char *in = (const unsigned char *)s;
    char *p = reserve(w, n * 6 + 2);
    char *o = p;
    *o++ = '"';
    size_t plain = copy_plain(o, s, n);
    o += plain;
    for (size_t i = plain; i < n;) {
        unsigned char c = in[i];
        if (c >= 0x80) {
            size_t k = utf8_seq(in + i, n - i);
            if (!k) {
                w->data[w->len] = '\0';
                return false;
            }
            memcpy(o, in + i, k);
            o += k;
            i += k;
            continue;
        }
        i++;
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        o = put_escape(o, c);
    }
    end_string(w, p, o);
    return true;
}

/* A key and its ':' (with the comma before), if the key is UTF-8; else w stays as it was. */
static bool key_checked(struct cm_json_out *w, const char *key)
{
    if (!key)
        return false;
    size_t len = w->len;
    char last = w->last;
    sep(w);
    if (!put_string_checked(w, key, strlen(key))) {
        w->len = len;
        w->last = last;
        if (w->data)
            w->data[len] = '\0';
        return false;
    }
    putc1(w, ':');
    return true;
}

void cm_json_out_key(struct cm_json_out *w, const char *key)
{
    sep(w);
    put_string(w, key ? key : "", key ? strlen(key) : 0);
    putc1(w, ':');
}

void cm_json_out_strn(struct cm_json_out *w, const char *s, size_t n)
{
    sep(w);
    put_string(w, s ? s : "", s ? n : 0);
}

void cm_json_out_str(struct cm_json_out *w, const char *s)
{
    cm_json_out_strn(w, s, s ? strlen(s) : 0);
}

/* Decimal digits of v (any sign) into buf; returns the length. */
static size_t format_int(char *buf, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t k = 0;
    if (v < 0)
        buf[k++] = '-';
    while (n)
        buf[k++] = tmp[--n];
    buf[k] = '\0';
    return k;
}

size_t cm_json_format_uint(char *buf, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t k = 0; k < n; k++)
        buf[k] = tmp[n - 1 - k];
    return n;
}

void cm_json_out_int(struct cm_json_out *w, int64_t v)
{
    char buf[24];
    size_t n = format_int(buf, v);
    sep(w);
    put(w, buf, n);
}

/* 10^digits: below it a whole number prints under "%.<digits>g" as its digits. */
static double whole_limit(int digits)
{
    double lim = 1;
    for (int i = 0; i < digits; i++)
        lim *= 10;
    return lim;
}

/* "%.17g" (with jansson's ".0") of a v that is not a whole number and whose magnitude is in
 * [1, 1e17), computed exactly without printf: |v| = m * 2^-s, so its 17 significant digits are
 * m * 10^f / 2^s rounded to nearest, ties to even (as glibc's printf rounds), where f is the
 * count of digits after the point (17 less those before it). Returns 0 (nothing written) for
 * the values it leaves to printf. */
static size_t format_fixed17(char *buf, double v)
{
    static const uint64_t pow10[17] = {1ull,
                                       10ull,
                                       100ull,
                                       1000ull,
                                       10000ull,
                                       100000ull,
                                       1000000ull,
                                       10000000ull,
                                       100000000ull,
                                       1000000000ull,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull};
    double a = fabs(v);
    if (!(a >= 1.0 && a < 1e16))
        return 0;
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    int exp = (int)(bits >> 52); /* a >= 1: a normal number */
    uint64_t m = (bits & ((1ull << 52) - 1)) | (1ull << 52);
    int s = 1075 - exp; /* a = m * 2^-s */
    if (s <= 0 || s > 52)
        return 0; /* a whole number (the caller's case) */
    size_t d = 1; /* digits before the point */
    while (d < 17 && a >= (double)pow10[d])
        d++;
    size_t f = 17 - d;
    unsigned __int128 num = (unsigned __int128)m * pow10[f];
    uint64_t q = (uint64_t)(num >> s);
    uint64_t rem = (uint64_t)(num & (((unsigned __int128)1 << s) - 1));
    uint64_t half = 1ull << (s - 1);
    if (rem > half || (rem == half && (q & 1)))
        q++;
    if (q >= 100000000000000000ull)
        return 0; /* rounded up to a power of ten: another digit before the point */
    char digits[17];
    for (int i = 16; i >= 0; i--) {
        digits[i] = (char)('0' + q % 10);
        q /= 10;
    }
    size_t last = 17; /* trailing zeros after the point are dropped */
    while (last > d && digits[last - 1] == '0')
        last--;
    size_t n = 0;
    if (v < 0)
        buf[n++] = '-';
    memcpy(buf + n, digits, d);
    n += d;
    buf[n++] = '.';
    if (last == d) {
        buf[n++] = '0'; /* nothing after the point: jansson's ".0" */
    } else {
        memcpy(buf + n, digits + d, last - d);
        n += last - d;
    }
    buf[n] = '\0';
    return n;
}

size_t cm_json_format_real(char *buf, double v)
{
    return cm_json_format_real_digits(buf, v, 17);
}

size_t cm_json_format_real_digits(char *buf, double v, int digits)
{
    if (digits < 1 || digits > 17)
        digits = 17;
    if (!isfinite(v)) {
        memcpy(buf, "null", 5);
        return 4;
    }
    /* Integral values below 10^digits print under "%.<digits>g" as their digits (every digit
     * exact): the common case (sizes, counts, whole seconds) without printf. */
    if (fabs(v) < whole_limit(digits) && v == floor(v)) {
        size_t n;
        if (v == 0 && signbit(v)) {
            memcpy(buf, "-0", 3);
            n = 2;
        } else {
            n = format_int(buf, (int64_t)v);
        }
        memcpy(buf + n, ".0", 3);
        return n + 2;
    }
    /* The exact formatter knows 17 digits only; other precisions go through printf. */
    size_t n = digits == 17 ? format_fixed17(buf, v) : 0;
    if (n)
        return n;
    int r = snprintf(buf, 32, "%.*g", digits, v);
    n = r > 0 && r < 32 ? (size_t)r : 0;
    buf[n] = '\0';
    /* A decimal point that is not '.' (the locale's) is written as '.'. */
    for (size_t i = 0; i < n; i++)
        if (buf[i] == ',')
            buf[i] = '.';
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        memcpy(buf + n, ".0", 3);
        n += 2;
    }
    char *e = strchr(buf, 'e');
    if (e) {
        /* "e+20" -> "e20", "e-05" -> "e-5". */
        char *start = e + 1, *end = e + 2;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, (size_t)(buf + n - end) + 1);
            n -= (size_t)(end - start);
        }
    }
    return n;
}

void cm_json_out_real(struct cm_json_out *w, double v)
{
    char buf[40];
    sep(w);
    int digits = w->real_digits ? w->real_digits : 17;
    if (!isfinite(v) || (fabs(v) < (digits == 17 ? 1e17 : whole_limit(digits)) && v == floor(v))) {
        put(w, buf, cm_json_format_real_digits(buf, v, digits));
        return;
    }
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    size_t slot = (size_t)((bits * 0x9E3779B97F4A7C15ull) >> 60);
    if (w->reals[slot].bits != bits) {
        size_t n = cm_json_format_real_digits(buf, v, digits);
        if (n >= sizeof w->reals[slot].text) {
            put(w, buf, n);
            return;
        }
        w->reals[slot].bits = bits;
        w->reals[slot].len = (uint8_t)n;
        memcpy(w->reals[slot].text, buf, n);
    }
    put(w, w->reals[slot].text, w->reals[slot].len);
}

void cm_json_out_bool(struct cm_json_out *w, bool v)
{
    sep(w);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
}

void cm_json_out_null(struct cm_json_out *w)
{
    sep(w);
    put(w, "null", 4);
}

bool cm_json_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(p + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

void cm_json_out_keyn(struct cm_json_out *w, const char *key, size_t n)
{
    sep(w);
    put_string(w, key, n);
    putc1(w, ':');
}

/* Writes s as a string value after the key just written, or, when s is not valid UTF-8,
 * takes the key back (the writer returns to len and last) and returns false. */
static bool value_or_rewind(struct cm_json_out *w, size_t len, char last, const char *s)
{
    if (put_string_checked(w, s, strlen(s)))
        return true;
    w->len = len;
    w->last = last;
    w->data[len] = '\0';
    return false;
}

bool cm_json_out_kstrn(struct cm_json_out *w, const char *key, size_t n, const char *s)
{
    if (!s)
        return false;
    size_t len = w->len;
    char last = w->last;
    cm_json_out_keyn(w, key, n);
    return value_or_rewind(w, len, last, s);
}

void cm_json_out_keyq(struct cm_json_out *w, const char *quoted, size_t n)
{
    sep(w);
    put(w, quoted, n);
}

bool cm_json_out_kqstr(struct cm_json_out *w, const char *quoted, size_t n, const char *s)
{
    if (!s)
        return false;
    size_t len = w->len;
    char last = w->last;
    cm_json_out_keyq(w, quoted, n);
    return value_or_rewind(w, len, last, s);
}

bool cm_json_out_kopen(struct cm_json_out *w, const char *key)
{
    return key_checked(w, key);
}

bool cm_json_out_kstr(struct cm_json_out *w, const char *key, const char *s)
{
    if (!s)
        return false;
    size_t len = w->len;
    char last = w->last;
    if (!key_checked(w, key))
        return false;
    if (!put_string_checked(w, s, strlen(s))) {
        w->len = len;
        w->last = last;
        w->data[len] = '\0';
        return false;
    }
    return true;
}

bool cm_json_out_kint(struct cm_json_out *w, const char *key, int64_t v)
{
    if (!key_checked(w, key))
        return false;
    cm_json_out_int(w, v);
    return true;
}

bool cm_json_out_kreal(struct cm_json_out *w, const char *key, double v)
{
    if (!isfinite(v) || !key_checked(w, key))
        return false;
    cm_json_out_real(w, v);
    return true;
}

bool cm_json_out_kbool(struct cm_json_out *w, const char *key, bool v)
{
    if (!key_checked(w, key))
        return false;
    cm_json_out_bool(w, v);
    return true;
}
