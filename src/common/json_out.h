/*
 * json_out.h: a direct JSON writer. Values are appended as text to a growing buffer, with no
 * tree in between: no allocation per value, nothing to free but the buffer.
 *
 * The text is the one jansson's json_dumps(JSON_COMPACT) prints for the same values, byte for
 * byte, so a body written here can stand in for one built with jansson: strings are UTF-8 with
 * '"', '\\' and control characters escaped (\b \f \n \r \t, else \u00XX), '/' and non-ASCII
 * characters as they are; integers in decimal; doubles with 17 significant digits ("%.17g"),
 * a ".0" added when that has neither '.' nor 'e', and the exponent without '+' or leading
 * zeros ("1e20", "1e-5").
 *
 * Commas are put in by the writer: a value or key written right after another value (that
 * is, not after '{', '[' or ':') is preceded by ','. The writer remembers the last character
 * even when the buffer is emptied (cm_json_out_reset), so a body may be written and sent in
 * pieces. Raw text (cm_json_out_raw) counts like any other text for that rule.
 *
 * jansson refuses some values (json_string of NULL or of text that is not UTF-8, json_real of
 * NaN or an infinity) and an object member given such a value is left out. The cm_json_out_k*
 * helpers do the same (write nothing and return false), so that objects written here match
 * those built with jansson even then. The plain value writers cannot leave anything out: they
 * write "" for a NULL string, a non-UTF-8 string as it is (check it first with
 * cm_json_utf8_valid), and null for a non-finite double.
 *
 * Errors: none; out-of-memory aborts. Ownership: the caller owns the struct (zero it, or
 * CM_JSON_OUT_INIT) and frees data with cm_json_out_cleanup. Threading: none shared.
 */
#ifndef CM_JSON_OUT_H
#define CM_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cm_json_out {
    char *data; /* NUL-terminated once anything was written */
    size_t len, cap;
    char last; /* the last character written, kept across cm_json_out_reset; 0 at the start */
    /* The text of recently written doubles that are not whole numbers (formatting them takes
     * printf, and the same values recur: resources, versions); all zero: empty. */
    struct {
        uint64_t bits;
        uint8_t len;
        char text[27];
    } reals[16];
    /* Significant digits of the doubles that are not whole numbers below 10^digits: 0 means
     * 17 (above); 15 gives what json_dumps(JSON_REAL_PRECISION(15)) prints, cm_pb_encode's
     * JSON. Set it before anything is written. */
    uint8_t real_digits;
};

#define CM_JSON_OUT_INIT                                                                           \
    {                                                                                              \
        NULL, 0, 0, 0, {{0, 0, {0}}}, 0                                                            \
    }

void cm_json_out_cleanup(struct cm_json_out *w);
/* Empties the buffer (keeps its memory and the last character written). */
void cm_json_out_reset(struct cm_json_out *w);

/* Appends text as it is (no comma is added). */
void cm_json_out_raw(struct cm_json_out *w, const char *s, size_t n);
void cm_json_out_raws(struct cm_json_out *w, const char *s);

/* Containers. */
void cm_json_out_obj_open(struct cm_json_out *w);
void cm_json_out_obj_close(struct cm_json_out *w);
void cm_json_out_arr_open(struct cm_json_out *w);
void cm_json_out_arr_close(struct cm_json_out *w);
/* A member's key and the ':' (the key is escaped like a string; NULL writes ""). */
void cm_json_out_key(struct cm_json_out *w, const char *key);

/* Values. */
void cm_json_out_str(struct cm_json_out *w, const char *s);
void cm_json_out_strn(struct cm_json_out *w, const char *s, size_t n);
void cm_json_out_int(struct cm_json_out *w, int64_t v);
void cm_json_out_real(struct cm_json_out *w, double v);
void cm_json_out_bool(struct cm_json_out *w, bool v);
void cm_json_out_null(struct cm_json_out *w);

/* A key of n bytes the caller knows is UTF-8 (a literal), and a member with such a key and a
 * string value, left out (false) when the value is NULL or not UTF-8. */
void cm_json_out_keyn(struct cm_json_out *w, const char *key, size_t n);
bool cm_json_out_kstrn(struct cm_json_out *w, const char *key, size_t n, const char *s);

/* The same with the key given as its text in JSON, quotes and ':' included ("\"id\":"): a
 * key known at compile time is escaped once, by its author, not on every write. */
void cm_json_out_keyq(struct cm_json_out *w, const char *quoted, size_t n);
bool cm_json_out_kqstr(struct cm_json_out *w, const char *quoted, size_t n, const char *s);

/* Members as jansson sets them: nothing is written (false) when jansson would refuse the key
 * or the value (see above). */
bool cm_json_out_kstr(struct cm_json_out *w, const char *key, const char *s);
bool cm_json_out_kint(struct cm_json_out *w, const char *key, int64_t v);
bool cm_json_out_kreal(struct cm_json_out *w, const char *key, double v);
bool cm_json_out_kbool(struct cm_json_out *w, const char *key, bool v);
/* Writes the key of a member whose value the caller writes next; false (nothing written)
 * when jansson would refuse the key (NULL or not UTF-8). */
bool cm_json_out_kopen(struct cm_json_out *w, const char *key);

/* Whether s[0..n) is UTF-8 as jansson accepts it (no overlong forms, no surrogates, nothing
 * above U+10FFFF); NUL bytes count as valid here. */
bool cm_json_utf8_valid(const char *s, size_t n);

/* Formats v's decimal digits into buf (at least 21 bytes, no NUL); returns the length. */
size_t cm_json_format_uint(char *buf, uint64_t v);

/* Formats v as jansson prints a real (above) into buf (at least 32 bytes); returns the
 * length. Non-finite values give "null". */
size_t cm_json_format_real(char *buf, double v);
/* The same with digits (1..17) significant digits, as jansson's JSON_REAL_PRECISION(digits). */
size_t cm_json_format_real_digits(char *buf, double v, int digits);

#endif
