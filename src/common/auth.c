/*
 * auth.c: credentials files and HTTP Basic authentication (auth.h).
 */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "file_read.h"
#include "http_server.h"
#include "pbjson.h"
#include "util.h"

/* ------------------------------------------------------------------------------------------ */
/* Validation of one credential */

/* Checks a principal; returns NULL or a static reason. */
static const char *principal_problem(const char *p, size_t len)
{
    if (len == 0)
        return "is empty";
    if (len > CM_AUTH_MAX_PRINCIPAL)
        return "is longer than 255 bytes";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == ':')
            return "contains ':' (HTTP Basic splits principal and secret there)";
        if (ch <= ' ' || ch == 0x7f)
            return "contains a blank or control character";
    }
    return NULL;
}

static const char *secret_problem(const char *s, size_t len)
{
    if (len == 0)
        return "is empty";
    if (len > CM_AUTH_MAX_SECRET)
        return "is longer than 1024 bytes";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < ' ' || ch == 0x7f)
            return "contains a control character";
    }
    return NULL;
}

static void set_init(struct cm_credentials *c)
{
    c->items = NULL;
    c->n = 0;
}

/* Adds a copy of principal/secret; fails on a duplicate or when the set is full. where names
 * the place for the error ("line 3", "credentials[2]"). */
static int set_add(struct cm_credentials *c, const char *p, size_t plen, const char *s, size_t slen,
                   const char *where, char *why, size_t whylen)
{
    const char *bad = principal_problem(p, plen);
    if (bad)
        return cm_fail(CM_EINVAL, why, whylen, "%s: principal %s", where, bad);
    bad = secret_problem(s, slen);
    if (bad)
        return cm_fail(CM_EINVAL, why, whylen, "%s: secret %s", where, bad);
    if (c->n >= CM_AUTH_MAX_CREDENTIALS)
        return cm_fail(CM_ETOOBIG, why, whylen, "%s: more than %d credentials", where,
                       CM_AUTH_MAX_CREDENTIALS);
    for (size_t i = 0; i < c->n; i++) {
        if (strlen(c->items[i].principal) == plen && memcmp(c->items[i].principal, p, plen) == 0)
            return cm_fail(CM_EINVAL, why, whylen, "%s: principal '%.*s' is listed twice", where,
                           (int)plen, p);
    }
    if ((c->n & (c->n - 1)) == 0) /* grow at powers of two */
        c->items = cm_xrealloc(c->items, (c->n ? c->n * 2 : 1) * sizeof *c->items);
    c->items[c->n].principal = cm_xstrndup(p, plen);
    c->items[c->n].secret = cm_xstrndup(s, slen);
    c->n++;
    return 0;
}

static void set_cleanup(struct cm_credentials *c)
{
    for (size_t i = 0; i < c->n; i++)
        cm_auth_credential_cleanup(&c->items[i]);
    free(c->items);
    set_init(c);
}

void cm_auth_credential_cleanup(struct cm_credential *c)
{
    if (!c)
        return;
    if (c->secret) /* do not leave secrets in freed memory */
        explicit_bzero(c->secret, strlen(c->secret));
    free(c->principal);
    free(c->secret);
    c->principal = c->secret = NULL;
}

void cm_auth_credentials_free(struct cm_credentials *c)
{
    if (!c)
        return;
    set_cleanup(c);
    free(c);
}

/* ------------------------------------------------------------------------------------------ */
/* Parsing */

/* One JSON credential object at where. */
static int json_credential(json_t *o, const char *where, struct cm_credentials *set, char *why,
                           size_t whylen)
{
    if (!json_is_object(o))
        return cm_fail(CM_EINVAL, why, whylen, "%s: expected an object", where);
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "principal") != 0 && strcmp(key, "secret") != 0)
            return cm_fail(CM_EINVAL, why, whylen, "%s.%s: unknown field", where, key);
    }
    json_t *p = json_object_get(o, "principal"), *s = json_object_get(o, "secret");
    if (!p)
        return cm_fail(CM_EINVAL, why, whylen, "%s.principal: missing", where);
    if (!json_is_string(p))
        return cm_fail(CM_EINVAL, why, whylen, "%s.principal: expected a string", where);
    if (!s)
        return cm_fail(CM_EINVAL, why, whylen, "%s.secret: missing", where);
    if (!json_is_string(s))
        return cm_fail(CM_EINVAL, why, whylen, "%s.secret: expected a string", where);
    return set_add(set, json_string_value(p), json_string_length(p), json_string_value(s),
                   json_string_length(s), where, why, whylen);
}

static int parse_json(const char *text, size_t len, struct cm_credentials *set, char *why,
                      size_t whylen)
{
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return cm_fail(CM_EPARSE, why, whylen, "invalid JSON at line %d: %s", err.line, err.text);
    int rc = 0;
    json_t *list = json_object_get(root, "credentials");
    if (!json_is_object(root)) {
        rc = cm_fail(CM_EINVAL, why, whylen, "expected a JSON object");
    } else if (!list) {
        /* A single credential ({"principal", "secret"}), Mesos's --credential format. */
        rc = json_credential(root, "credential", set, why, whylen);
    } else if (!json_is_array(list)) {
        rc = cm_fail(CM_EINVAL, why, whylen, "credentials: expected an array");
    } else if (json_object_size(root) != 1) {
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v)
        {
            if (strcmp(key, "credentials") != 0)
                break;
        }
        rc = cm_fail(CM_EINVAL, why, whylen, "%s: unknown field", key);
    } else {
        size_t i;
        json_t *o;
        json_array_foreach(list, i, o)
        {
            char where[48];
            snprintf(where, sizeof where, "credentials[%zu]", i);
            rc = json_credential(o, where, set, why, whylen);
            if (rc)
                break;
        }
    }
    json_decref(root);
    return rc;
}

static int parse_text(const char *text, size_t len, struct cm_credentials *set, char *why,
                      size_t whylen)
{
    size_t pos = 0, lineno = 0;
    while (pos < len) {
        lineno++;
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n && line[n - 1] == '\r')
            n--;
        size_t i = 0;
        while (i < n && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == n || line[i] == '#')
            continue;
        size_t p0 = i;
        while (i < n && line[i] != ' ' && line[i] != '\t')
            i++;
        size_t plen = i - p0;
        while (i < n && (line[i] == ' ' || line[i] == '\t'))
            i++;
        size_t s0 = i;
        while (i < n && line[i] != ' ' && line[i] != '\t')
            i++;
        size_t slen = i - s0;
        while (i < n && (line[i] == ' ' || line[i] == '\t'))
            i++;
        char where[32];
        snprintf(where, sizeof where, "line %zu", lineno);
        if (slen == 0)
            return cm_fail(CM_EINVAL, why, whylen, "%s: expected 'principal secret', got one word",
                           where);
        if (i < n)
            return cm_fail(CM_EINVAL, why, whylen,
                           "%s: expected 'principal secret', got more than two words", where);
        if (memchr(line, '\0', n))
            return cm_fail(CM_EINVAL, why, whylen, "%s: contains a NUL byte", where);
        int rc = set_add(set, line + p0, plen, line + s0, slen, where, why, whylen);
        if (rc)
            return rc;
    }
    return 0;
}

int cm_auth_credentials_parse(const char *text, size_t len, struct cm_credentials **out, char *why,
                              size_t whylen)
{
    *out = NULL;
    if (len > CM_AUTH_MAX_FILE)
        return cm_fail(CM_ETOOBIG, why, whylen, "credentials are larger than %zu bytes",
                       CM_AUTH_MAX_FILE);
    size_t i = 0;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i == len)
        return cm_fail(CM_EINVAL, why, whylen, "no credentials (the file is empty)");
    struct cm_credentials *set = cm_xcalloc(1, sizeof *set);
    int rc = text[i] == '{' ? parse_json(text, len, set, why, whylen)
                            : parse_text(text, len, set, why, whylen);
    if (rc == 0 && set->n == 0)
        rc = cm_fail(CM_EINVAL, why, whylen, "no credentials (only comments or blank lines)");
    if (rc) {
        cm_auth_credentials_free(set);
        return rc;
    }
    *out = set;
    return 0;
}

/* Reads the credentials file named by value; warns when others may read it (as Mesos does). */
static int read_file(const char *value, char **data, size_t *len, const struct cm_log_sink *log,
                     char *why, size_t whylen)
{
    mode_t mode = 0;
    int rc = cm_file_read(value, CM_AUTH_MAX_FILE, data, len, &mode, why, whylen);
    if (rc == 0 && (mode & S_IRWXO))
        cm_log_to(log, CM_LOG_WARNING, "auth",
                  "permissions on credentials file '%s' are too open; it should not be "
                  "accessible by others",
                  value);
    return rc;
}

int cm_auth_credentials_load(const char *value, struct cm_credentials **out,
                             const struct cm_log_sink *log, char *why, size_t whylen)
{
    *out = NULL;
    char *data = NULL;
    size_t len = 0;
    int rc = read_file(value, &data, &len, log, why, whylen);
    if (rc)
        return rc;
    char inner[256];
    rc = cm_auth_credentials_parse(data, len, out, inner, sizeof inner);
    explicit_bzero(data, len);
    free(data);
    if (rc)
        cm_fail(rc, why, whylen, "credentials file '%s': %s", value, inner);
    return rc;
}

int cm_auth_credential_load(const char *value, struct cm_credential *out,
                            const struct cm_log_sink *log, char *why, size_t whylen)
{
    out->principal = out->secret = NULL;
    struct cm_credentials *set;
    int rc = cm_auth_credentials_load(value, &set, log, why, whylen);
    if (rc)
        return rc;
    if (set->n != 1) {
        size_t n = set->n;
        cm_auth_credentials_free(set);
        return cm_fail(CM_EINVAL, why, whylen,
                       "credential file '%s': expected exactly one credential, found %zu", value,
                       n);
    }
    *out = set->items[0];
    set->items[0].principal = set->items[0].secret = NULL;
    set->n = 0;
    cm_auth_credentials_free(set);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Checking */

/* 1 when a[alen] equals b[blen]; the time depends on alen only, not on the contents of either
 * nor on where they differ. */
static int ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    volatile unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < alen; i++) {
        unsigned char bc = blen ? (unsigned char)b[i % blen] : 0;
        diff |= (unsigned char)a[i] ^ bc;
    }
    return diff == 0;
}

bool cm_auth_credentials_check(const struct cm_credentials *c, const char *principal,
                               const char *secret)
{
    if (!c || !principal || !secret)
        return false;
    size_t plen = strlen(principal), slen = strlen(secret);
    int found = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct cm_credential *cr = &c->items[i];
        int p = ct_equal(principal, plen, cr->principal, strlen(cr->principal));
        int s = ct_equal(secret, slen, cr->secret, strlen(cr->secret));
        found |= p & s;
    }
    return found != 0;
}

int cm_auth_basic_parse(const char *header, char **principal, char **secret, char *why,
                        size_t whylen)
{
    *principal = *secret = NULL;
    size_t hlen = strnlen(header, CM_AUTH_MAX_HEADER + 1);
    if (hlen > CM_AUTH_MAX_HEADER)
        return cm_fail(CM_ETOOBIG, why, whylen, "Authorization header is longer than %d bytes",
                       CM_AUTH_MAX_HEADER);
    const char *h = header;
    while (*h == ' ' || *h == '\t')
        h++;
    if (strncasecmp(h, "Basic", 5) != 0 || (h[5] != ' ' && h[5] != '\t'))
        return cm_fail(CM_EPARSE, why, whylen, "Authorization header: expected the 'Basic' scheme");
    h += 5;
    while (*h == ' ' || *h == '\t')
        h++;
    size_t len = strlen(h);
    while (len && (h[len - 1] == ' ' || h[len - 1] == '\t'))
        len--;
    if (len == 0)
        return cm_fail(CM_EPARSE, why, whylen, "Authorization header: empty Basic credentials");
    uint8_t *raw;
    size_t rawlen;
    if (cm_base64_decode(h, len, &raw, &rawlen) != 0)
        return cm_fail(CM_EPARSE, why, whylen, "Authorization header: invalid base64");
    uint8_t *colon = memchr(raw, ':', rawlen);
    int rc = 0;
    if (!colon)
        rc = cm_fail(CM_EPARSE, why, whylen,
                     "Authorization header: expected 'principal:secret' in the Basic credentials");
    else if (memchr(raw, '\0', rawlen))
        rc = cm_fail(CM_EPARSE, why, whylen, "Authorization header: NUL byte in credentials");
    if (rc == 0) {
        *principal = cm_xstrndup((const char *)raw, (size_t)(colon - raw));
        *secret = cm_xstrndup((const char *)colon + 1, rawlen - (size_t)(colon - raw) - 1);
    }
    explicit_bzero(raw, rawlen);
    free(raw);
    return rc;
}

char *cm_auth_basic_header(const char *principal, const char *secret)
{
    char *plain = cm_xasprintf("%s:%s", principal, secret);
    char *b64 = cm_base64_encode(plain, strlen(plain));
    char *out = cm_xasprintf("Basic %s", b64);
    explicit_bzero(plain, strlen(plain));
    free(plain);
    free(b64);
    return out;
}

int cm_auth_http_basic(const struct cm_http_request *req, const struct cm_credentials *c,
                       char **principal, char *why, size_t whylen)
{
    *principal = NULL;
    const char *h = cm_http_request_header(req, "Authorization");
    if (!h)
        return cm_fail(-EACCES, why, whylen, "authentication required: no Authorization header");
    char *p, *s;
    if (cm_auth_basic_parse(h, &p, &s, why, whylen) != 0)
        return -EACCES;
    bool ok = cm_auth_credentials_check(c, p, s);
    explicit_bzero(s, strlen(s));
    free(s);
    if (!ok) {
        free(p);
        return cm_fail(-EACCES, why, whylen, "authentication failed: invalid credentials");
    }
    *principal = p;
    return 0;
}

void cm_auth_respond_unauthorized(struct cm_http_request *req, const char *realm, const char *why)
{
    char challenge[128];
    snprintf(challenge, sizeof challenge, "Basic realm=\"%s\"", realm);
    cm_http_add_header(req, "WWW-Authenticate", challenge);
    cm_http_respond_text(req, 401, "%s", why && *why ? why : "authentication required");
}
