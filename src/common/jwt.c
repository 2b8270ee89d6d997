/*
 * jwt.c: HS256 JSON Web Tokens (contract in jwt.h).
 */
#include "jwt.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "file_read.h"

#define SIG_LEN 32 /* SHA-256 */

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *cm_jwt_b64url_encode(const void *data, size_t len)
{
    const unsigned char *p = data;
    char *out = malloc(len / 3 * 4 + 5);
    if (!out)
        abort();
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
        out[o++] = B64URL[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int cm_jwt_b64url_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (inlen % 4 == 1)
        return CM_EINVAL;
    unsigned char *buf = malloc(inlen / 4 * 3 + 3);
    if (!buf)
        abort();
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < inlen; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0) {
            free(buf);
            return CM_EINVAL;
        }
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    /* The bits left over must be zero: one value has one spelling. */
    if (bits && (acc & ((1u << bits) - 1))) {
        free(buf);
        return CM_EINVAL;
    }
    buf[o] = '\0';
    *out = buf;
    *outlen = o;
    return 0;
}

static void hmac_sha256(const void *key, size_t keylen, const char *data, size_t len,
                        unsigned char sig[SIG_LEN])
{
    unsigned int siglen = 0;
    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, len, sig, &siglen) ||
        siglen != SIG_LEN)
        abort(); /* only fails out of memory */
}

int cm_jwt_create(const void *key, size_t keylen, const json_t *claims, char **out, char *why,
                  size_t whylen)
{
    *out = NULL;
    if (!key || keylen == 0)
        return cm_fail(CM_EINVAL, why, whylen, "The JWT key is empty");
    if (keylen > CM_JWT_MAX_KEY)
        return cm_fail(CM_ETOOBIG, why, whylen, "The JWT key is longer than %d bytes",
                       CM_JWT_MAX_KEY);
    if (!json_is_object(claims))
        return cm_fail(CM_EINVAL, why, whylen, "JWT claims must be a JSON object");
    char *payload = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    if (!payload)
        abort();
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *h64 = cm_jwt_b64url_encode(header, sizeof header - 1);
    char *p64 = cm_jwt_b64url_encode(payload, strlen(payload));
    free(payload);
    size_t hl = strlen(h64), pl = strlen(p64);
    size_t total = hl + 1 + pl + 1 + (SIG_LEN * 4 + 2) / 3;
    if (total > CM_JWT_MAX_TOKEN) {
        free(h64);
        free(p64);
        return cm_fail(CM_ETOOBIG, why, whylen, "The JWT would be longer than %d bytes",
                       CM_JWT_MAX_TOKEN);
    }
    char *tok = malloc(total + 1);
    if (!tok)
        abort();
    memcpy(tok, h64, hl);
    tok[hl] = '.';
    memcpy(tok + hl + 1, p64, pl);
    tok[hl + 1 + pl] = '\0';
    free(h64);
    free(p64);
    unsigned char sig[SIG_LEN];
    hmac_sha256(key, keylen, tok, hl + 1 + pl, sig);
    char *s64 = cm_jwt_b64url_encode(sig, SIG_LEN);
    tok[hl + 1 + pl] = '.';
    memcpy(tok + hl + 2 + pl, s64, strlen(s64) + 1);
    free(s64);
    *out = tok;
    return 0;
}

/* Decodes one part into a JSON object (duplicate keys refused). */
static json_t *decode_part(const char *p, size_t len, const char *what, char *why, size_t whylen)
{
    unsigned char *raw;
    size_t rawlen;
    if (cm_jwt_b64url_decode(p, len, &raw, &rawlen) != 0) {
        cm_fail(CM_EINVAL, why, whylen, "Failed to base64url-decode the token %s", what);
        return NULL;
    }
    json_error_t err;
    json_t *j = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, &err);
    free(raw);
    if (!j) {
        cm_fail(CM_EINVAL, why, whylen, "Failed to parse the token %s as JSON: %s", what, err.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        cm_fail(CM_EINVAL, why, whylen, "The token %s is not a JSON object", what);
        return NULL;
    }
    return j;
}

static int check_header(const json_t *h, char *why, size_t whylen)
{
    const json_t *alg = json_object_get(h, "alg");
    if (!alg)
        return cm_fail(CM_EINVAL, why, whylen, "Failed to locate 'alg' in the token header");
    if (!json_is_string(alg))
        return cm_fail(CM_EINVAL, why, whylen, "Token 'alg' field is not a string");
    if (strcmp(json_string_value(alg), "HS256") != 0) {
        char shown[33];
        snprintf(shown, sizeof shown, "%s", json_string_value(alg));
        return cm_fail(CM_EINVAL, why, whylen, "Token 'alg' value \"%s\" is not HS256", shown);
    }
    const json_t *typ = json_object_get(h, "typ");
    if (typ && !json_is_string(typ))
        return cm_fail(CM_EINVAL, why, whylen, "Token 'typ' is not a string");
    if (json_object_get(h, "crit"))
        return cm_fail(CM_EINVAL, why, whylen, "Token 'crit' field is unsupported");
    return 0;
}

int cm_jwt_verify(const char *token, const void *key, size_t keylen, double now, json_t **claims,
                  char *why, size_t whylen)
{
    *claims = NULL;
    if (!token)
        return cm_fail(CM_EINVAL, why, whylen, "No token");
    if (!key || keylen == 0)
        return cm_fail(CM_EINVAL, why, whylen, "The JWT key is empty");
    size_t len = strnlen(token, CM_JWT_MAX_TOKEN + 1);
    if (len > CM_JWT_MAX_TOKEN)
        return cm_fail(CM_ETOOBIG, why, whylen, "Token is longer than %d bytes", CM_JWT_MAX_TOKEN);
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return cm_fail(CM_EINVAL, why, whylen, "Expected 3 components in the token");
    size_t hl = (size_t)(d1 - token), pl = (size_t)(d2 - d1 - 1);
    size_t sl = len - (size_t)(d2 + 1 - token);
    if (hl == 0 || pl == 0)
        return cm_fail(CM_EINVAL, why, whylen, "A component of the token is empty");

    json_t *h = decode_part(token, hl, "header", why, whylen);
    if (!h)
        return CM_EINVAL;
    int rc = check_header(h, why, whylen);
    json_decref(h);
    if (rc)
        return rc;
    if (sl == 0)
        return cm_fail(CM_EINVAL, why, whylen, "The token has no signature");

    unsigned char *sig;
    size_t siglen;
    if (cm_jwt_b64url_decode(d2 + 1, sl, &sig, &siglen) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "Failed to base64url-decode the token signature");
    unsigned char want[SIG_LEN];
    hmac_sha256(key, keylen, token, (size_t)(d2 - token), want);
    bool ok = siglen == SIG_LEN && CRYPTO_memcmp(sig, want, SIG_LEN) == 0;
    OPENSSL_cleanse(want, sizeof want);
    free(sig);
    if (!ok)
        return cm_fail(CM_EINVAL, why, whylen, "Token signature does not match");

    json_t *p = decode_part(d1 + 1, pl, "payload", why, whylen);
    if (!p)
        return CM_EINVAL;
    const json_t *exp = json_object_get(p, "exp");
    if (exp) {
        if (!json_is_number(exp)) {
            json_decref(p);
            return cm_fail(CM_EINVAL, why, whylen, "Token 'exp' field is not a number");
        }
        double e = json_number_value(exp);
        if (!isfinite(e) || e < floor(now)) {
            json_decref(p);
            return cm_fail(CM_EINVAL, why, whylen, "Token has expired: exp(%.0f) < now(%.0f)", e,
                           floor(now));
        }
    }
    if (json_object_size(p) == 0) {
        json_decref(p);
        return cm_fail(CM_EINVAL, why, whylen, "JWT claims missing");
    }
    *claims = p;
    return 0;
}

int cm_jwt_executor_token(const void *key, size_t keylen, const char *framework_id,
                          const char *executor_id, const char *container_id, char **out, char *why,
                          size_t whylen)
{
    *out = NULL;
    if (!framework_id || !executor_id || !container_id)
        return cm_fail(CM_EINVAL, why, whylen, "Executor token needs fid, eid and cid");
    json_t *c =
        json_pack("{s:s, s:s, s:s}", "fid", framework_id, "eid", executor_id, "cid", container_id);
    if (!c)
        return cm_fail(CM_EINVAL, why, whylen, "Executor ids are not valid UTF-8");
    int rc = cm_jwt_create(key, keylen, c, out, why, whylen);
    json_decref(c);
    return rc;
}

static int check_claim(const json_t *claims, const char *name, const char *value, const char *what,
                       char *why, size_t whylen)
{
    const json_t *v = json_object_get(claims, name);
    if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
        return 0;
    if (strcmp(name, "cid") == 0)
        return cm_fail(CM_ESTATE, why, whylen,
                       "Authenticated principal does not contain a 'cid' claim with the correct "
                       "active ContainerID");
    return cm_fail(CM_ESTATE, why, whylen,
                   "Authenticated principal does not contain an '%s' claim with the %s '%s', "
                   "which is set in the call",
                   name, what, value);
}

int cm_jwt_check_executor(const json_t *claims, const char *framework_id, const char *executor_id,
                          const char *container_id, char *why, size_t whylen)
{
    int rc = check_claim(claims, "fid", framework_id, "framework ID", why, whylen);
    if (!rc)
        rc = check_claim(claims, "eid", executor_id, "executor ID", why, whylen);
    if (!rc && container_id)
        rc = check_claim(claims, "cid", container_id, "container ID", why, whylen);
    return rc;
}

int cm_jwt_key_read(const char *path, char **key, size_t *keylen, int *too_open, char *why,
                    size_t whylen)
{
    *key = NULL;
    *keylen = 0;
    *too_open = 0;
    char *buf = NULL, inner[384];
    size_t n = 0;
    mode_t mode = 0;
    int rc = cm_file_read(path, CM_JWT_MAX_KEY, &buf, &n, &mode, inner, sizeof inner);
    if (rc)
        return cm_fail(rc, why, whylen, "--jwt_secret_key: %s", inner);
    *too_open = (mode & S_IRWXO) != 0;
    if (n == 0) {
        free(buf);
        return cm_fail(CM_EINVAL, why, whylen, "--jwt_secret_key '%s' is empty", path);
    }
    *key = buf;
    *keylen = n;
    return 0;
}
