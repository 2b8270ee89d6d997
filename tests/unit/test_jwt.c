/*
 * test_jwt.c: HS256 tokens (src/common/jwt.h): a known vector, round trips, and every way a
 * forged or damaged token must be refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "errors.h"
#include "jwt.h"
#include "test.h"

#define KEY "executor-secret-key"
#define KEYLEN (sizeof KEY - 1)
#define NOW 1700000000.0

/* jwt.io's example, signed with "your-256-bit-secret" (checked against an independent HMAC). */
static const char VECTOR[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

static char *b64(const char *s)
{
    return cm_jwt_b64url_encode(s, strlen(s));
}

/* A token with the given header and payload JSON, signed with KEY (or unsigned when sig is
 * NULL: the third part is then that text, e.g. ""). */
static char *forge(const char *header, const char *payload, const char *sig)
{
    char *h = b64(header), *p = b64(payload);
    char *out = NULL;
    if (sig) {
        if (asprintf(&out, "%s.%s.%s", h, p, sig) < 0)
            abort();
    } else {
        if (asprintf(&out, "%s.%s", h, p) < 0)
            abort();
    }
    free(h);
    free(p);
    return out;
}

/* Signs header.payload with KEY independently of cm_jwt_create (OpenSSL's HMAC directly). */
static char *sign(const char *header, const char *payload)
{
    char *msg = forge(header, payload, NULL);
    unsigned char mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), KEY, (int)KEYLEN, (const unsigned char *)msg, strlen(msg), mac, &maclen);
    char *s64 = cm_jwt_b64url_encode(mac, maclen);
    char *out = NULL;
    if (asprintf(&out, "%s.%s", msg, s64) < 0)
        abort();
    free(msg);
    free(s64);
    return out;
}

static void test_known_vector(void)
{
    json_t *claims = NULL;
    char why[256];
    const char *k = "your-256-bit-secret";
    REQUIRE(cm_jwt_verify(VECTOR, k, strlen(k), NOW, &claims, why, sizeof why) == 0);
    CHECK_STR(json_string_value(json_object_get(claims, "name")), "John Doe");
    json_decref(claims);
    /* The same token under another key is refused. */
    CHECK_INT(cm_jwt_verify(VECTOR, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    CHECK(claims == NULL);
    CHECK(strstr(why, "signature does not match") != NULL);
}

static void test_good_token(void)
{
    char *tok = NULL;
    char why[256];
    REQUIRE(cm_jwt_executor_token(KEY, KEYLEN, "fw-1", "ex-1", "c-1", &tok, why, sizeof why) == 0);
    CHECK(strlen(tok) < CM_JWT_MAX_TOKEN);
    json_t *claims = NULL;
    REQUIRE(cm_jwt_verify(tok, KEY, KEYLEN, NOW, &claims, why, sizeof why) == 0);
    CHECK_STR(json_string_value(json_object_get(claims, "fid")), "fw-1");
    CHECK_STR(json_string_value(json_object_get(claims, "eid")), "ex-1");
    CHECK_STR(json_string_value(json_object_get(claims, "cid")), "c-1");
    CHECK_INT(cm_jwt_check_executor(claims, "fw-1", "ex-1", "c-1", why, sizeof why), 0);
    CHECK_INT(cm_jwt_check_executor(claims, "fw-1", "ex-1", NULL, why, sizeof why), 0);
    json_decref(claims);
    free(tok);
}

static void test_bad_signature(void)
{
    char *tok = NULL;
    char why[256];
    json_t *claims = NULL;
    REQUIRE(cm_jwt_executor_token(KEY, KEYLEN, "fw-1", "ex-1", "c-1", &tok, why, sizeof why) == 0);
    /* One flipped signature character. */
    size_t n = strlen(tok);
    char *bad = strdup(tok);
    bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
    CHECK_INT(cm_jwt_verify(bad, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    CHECK(claims == NULL);
    free(bad);
    /* The wrong key. */
    CHECK_INT(cm_jwt_verify(tok, "other", 5, NOW, &claims, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "signature does not match") != NULL);
    /* A payload swapped for another executor's under the original signature. */
    char *sig = strrchr(tok, '.') + 1;
    char *swapped = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
                          "{\"cid\":\"c-1\",\"eid\":\"ex-2\",\"fid\":\"fw-1\"}", sig);
    CHECK_INT(cm_jwt_verify(swapped, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "signature does not match") != NULL);
    free(swapped);
    /* An empty key never verifies. */
    CHECK_INT(cm_jwt_verify(tok, "", 0, NOW, &claims, why, sizeof why), CM_EINVAL);
    free(tok);
}

static void test_alg_none_and_others(void)
{
    char why[256];
    json_t *claims = NULL;
    const char *payload = "{\"fid\":\"fw-1\",\"eid\":\"ex-1\",\"cid\":\"c-1\"}";
    char *t = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, "");
    CHECK_INT(cm_jwt_verify(t, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "none") != NULL);
    free(t);
    t = forge("{\"alg\":\"none\"}", payload, "AAAA");
    CHECK_INT(cm_jwt_verify(t, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    free(t);
    t = forge("{\"alg\":\"RS256\"}", payload, "AAAA");
    CHECK_INT(cm_jwt_verify(t, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    free(t);
    t = forge("{\"alg\":\"hs256\"}", payload, "AAAA");
    CHECK_INT(cm_jwt_verify(t, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    free(t);
    t = forge("{\"typ\":\"JWT\"}", payload, "AAAA");
    CHECK_INT(cm_jwt_verify(t, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'alg'") != NULL);
    free(t);
    t = forge("{\"alg\":7}", payload, "AAAA");
    CHECK_INT(cm_jwt_verify(t, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    free(t);
    t = forge("{\"alg\":\"HS256\",\"crit\":[\"b64\"]}", payload, "AAAA");
    CHECK_INT(cm_jwt_verify(t, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "crit") != NULL);
    free(t);
    t = forge("{\"alg\":\"HS256\",\"alg\":\"none\"}", payload, "AAAA");
    CHECK_INT(cm_jwt_verify(t, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    free(t);
    t = forge("[\"HS256\"]", payload, "AAAA");
    CHECK_INT(cm_jwt_verify(t, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    free(t);
    CHECK(claims == NULL);
}

static void test_truncated_and_malformed(void)
{
    char *tok = NULL;
    char why[256];
    json_t *claims = NULL;
    REQUIRE(cm_jwt_executor_token(KEY, KEYLEN, "fw-1", "ex-1", "c-1", &tok, why, sizeof why) == 0);
    size_t n = strlen(tok);
    /* Every prefix of a good token is refused (none crashes). */
    for (size_t i = 0; i < n; i++) {
        char *p = strndup(tok, i);
        CHECK(cm_jwt_verify(p, KEY, KEYLEN, NOW, &claims, why, sizeof why) != 0);
        CHECK(claims == NULL);
        free(p);
    }
    /* Four parts, padding, non-alphabet characters, whitespace. */
    char *t = NULL;
    if (asprintf(&t, "%s.x", tok) < 0)
        abort();
    CHECK_INT(cm_jwt_verify(t, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "3 components") != NULL);
    free(t);
    if (asprintf(&t, "%s=", tok) < 0)
        abort();
    CHECK_INT(cm_jwt_verify(t, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    free(t);
    if (asprintf(&t, " %s", tok) < 0)
        abort();
    CHECK_INT(cm_jwt_verify(t, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    free(t);
    t = strdup(tok);
    t[3] = '+';
    CHECK_INT(cm_jwt_verify(t, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    free(t);
    CHECK_INT(cm_jwt_verify("..", KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_jwt_verify("", KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    /* Oversized: refused before any decoding. */
    char *big = malloc(CM_JWT_MAX_TOKEN + 2);
    memset(big, 'A', CM_JWT_MAX_TOKEN + 1);
    big[CM_JWT_MAX_TOKEN + 1] = '\0';
    CHECK_INT(cm_jwt_verify(big, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_ETOOBIG);
    free(big);
    /* Correctly signed tokens whose payload is not a JSON object with claims. */
    const char *bodies[] = {"[1,2]", "{}", "{\"fid\":", "\"x\"", "{\"a\":1,\"a\":2}"};
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        char *signed_tok = sign("{\"alg\":\"HS256\"}", bodies[i]);
        CHECK_INT(cm_jwt_verify(signed_tok, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
        CHECK(claims == NULL);
        free(signed_tok);
    }
    /* ... and the same signer makes a good one, so the refusals above are about the body. */
    char *good = sign("{\"alg\":\"HS256\"}", "{\"fid\":\"fw-1\"}");
    CHECK_INT(cm_jwt_verify(good, KEY, KEYLEN, NOW, &claims, why, sizeof why), 0);
    json_decref(claims);
    free(good);
    free(tok);
}

static void test_wrong_claims(void)
{
    char *tok = NULL;
    char why[256];
    json_t *claims = NULL;
    REQUIRE(cm_jwt_executor_token(KEY, KEYLEN, "fw-1", "ex-1", "c-1", &tok, why, sizeof why) == 0);
    REQUIRE(cm_jwt_verify(tok, KEY, KEYLEN, NOW, &claims, why, sizeof why) == 0);
    CHECK_INT(cm_jwt_check_executor(claims, "fw-2", "ex-1", "c-1", why, sizeof why), CM_ESTATE);
    CHECK(strstr(why, "'fid'") != NULL);
    CHECK_INT(cm_jwt_check_executor(claims, "fw-1", "ex-2", "c-1", why, sizeof why), CM_ESTATE);
    CHECK(strstr(why, "'eid'") != NULL);
    CHECK_INT(cm_jwt_check_executor(claims, "fw-1", "ex-1", "c-2", why, sizeof why), CM_ESTATE);
    CHECK(strstr(why, "'cid'") != NULL);
    /* A prefix is not equal. */
    CHECK_INT(cm_jwt_check_executor(claims, "fw-", "ex-1", "c-1", why, sizeof why), CM_ESTATE);
    json_decref(claims);
    free(tok);

    /* Claims that are not strings never match. */
    json_t *c = json_pack("{s:i, s:s, s:s}", "fid", 1, "eid", "ex-1", "cid", "c-1");
    REQUIRE(cm_jwt_create(KEY, KEYLEN, c, &tok, why, sizeof why) == 0);
    json_decref(c);
    REQUIRE(cm_jwt_verify(tok, KEY, KEYLEN, NOW, &claims, why, sizeof why) == 0);
    CHECK_INT(cm_jwt_check_executor(claims, "1", "ex-1", "c-1", why, sizeof why), CM_ESTATE);
    json_decref(claims);
    free(tok);
}

static void test_expiry_and_empty_claims(void)
{
    char *tok = NULL;
    char why[256];
    json_t *claims = NULL;
    json_t *c = json_pack("{s:s, s:f}", "fid", "fw-1", "exp", NOW - 10);
    REQUIRE(cm_jwt_create(KEY, KEYLEN, c, &tok, why, sizeof why) == 0);
    json_decref(c);
    CHECK_INT(cm_jwt_verify(tok, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "expired") != NULL);
    CHECK_INT(cm_jwt_verify(tok, KEY, KEYLEN, NOW - 20, &claims, why, sizeof why), 0);
    json_decref(claims);
    free(tok);

    c = json_pack("{s:s}", "exp", "soon");
    REQUIRE(cm_jwt_create(KEY, KEYLEN, c, &tok, why, sizeof why) == 0);
    json_decref(c);
    CHECK_INT(cm_jwt_verify(tok, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    free(tok);

    c = json_object();
    REQUIRE(cm_jwt_create(KEY, KEYLEN, c, &tok, why, sizeof why) == 0);
    json_decref(c);
    CHECK_INT(cm_jwt_verify(tok, KEY, KEYLEN, NOW, &claims, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "claims missing") != NULL);
    free(tok);

    /* create refuses what it cannot sign. */
    json_t *obj = json_object();
    CHECK_INT(cm_jwt_create("", 0, obj, &tok, why, sizeof why), CM_EINVAL);
    json_decref(obj);
    json_t *arr = json_array();
    CHECK_INT(cm_jwt_create(KEY, KEYLEN, arr, &tok, why, sizeof why), CM_EINVAL);
    json_decref(arr);
    CHECK(tok == NULL);
}

static void test_b64url(void)
{
    const char *cases[][2] = {{"", ""},        {"f", "Zg"},        {"fo", "Zm8"},
                              {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"\xfb\xff", "-_8"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *e = cm_jwt_b64url_encode(cases[i][0], strlen(cases[i][0]));
        CHECK_STR(e, cases[i][1]);
        free(e);
        unsigned char *d;
        size_t dl;
        REQUIRE(cm_jwt_b64url_decode(cases[i][1], strlen(cases[i][1]), &d, &dl) == 0);
        CHECK_INT(dl, strlen(cases[i][0]));
        CHECK(memcmp(d, cases[i][0], dl) == 0);
        free(d);
    }
    unsigned char *d;
    size_t dl;
    CHECK_INT(cm_jwt_b64url_decode("Z", 1, &d, &dl), CM_EINVAL);    /* 1 mod 4 */
    CHECK_INT(cm_jwt_b64url_decode("Zh", 2, &d, &dl), CM_EINVAL);   /* non-zero spare bits */
    CHECK_INT(cm_jwt_b64url_decode("Zg==", 4, &d, &dl), CM_EINVAL); /* padding */
    CHECK_INT(cm_jwt_b64url_decode("Zm+v", 4, &d, &dl), CM_EINVAL); /* base64, not url */
    CHECK(d == NULL);
}

static void test_key_file(void)
{
    char dir[] = "/tmp/cm_jwt_XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/key", dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("secret\n", f);
    fclose(f);
    chmod(path, 0600);
    char *key;
    size_t keylen;
    int too_open;
    char why[256];
    REQUIRE(cm_jwt_key_read(path, &key, &keylen, &too_open, why, sizeof why) == 0);
    CHECK_INT(keylen, 7); /* the newline is part of the key, as in Mesos */
    CHECK(memcmp(key, "secret\n", 7) == 0);
    CHECK_INT(too_open, 0);
    free(key);
    chmod(path, 0644);
    REQUIRE(cm_jwt_key_read(path, &key, &keylen, &too_open, why, sizeof why) == 0);
    CHECK_INT(too_open, 1);
    free(key);
    f = fopen(path, "w");
    fclose(f);
    CHECK_INT(cm_jwt_key_read(path, &key, &keylen, &too_open, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "empty") != NULL);
    unlink(path);
    CHECK(cm_jwt_key_read(path, &key, &keylen, &too_open, why, sizeof why) < 0);
    CHECK(strstr(why, path) != NULL);
    CHECK(cm_jwt_key_read(dir, &key, &keylen, &too_open, why, sizeof why) < 0);
    rmdir(dir);
}

/* Deterministic mutations of a valid token: every changed token is refused (no two spellings
 * of one token verify), and none crashes. */
static void test_mutations_never_verify(void)
{
    char *tok = NULL;
    char why[256];
    REQUIRE(cm_jwt_executor_token(KEY, KEYLEN, "fw-1", "ex-1", "c-1", &tok, why, sizeof why) == 0);
    size_t n = strlen(tok);
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \"{}";
    uint64_t x = 88172645463325252ull;
    int accepted = 0, tried = 0;
    char *m = malloc(n + 8);
    for (int i = 0; i < 20000; i++) {
        memcpy(m, tok, n + 1);
        int edits = 1 + (int)(x % 3);
        for (int k = 0; k < edits; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t at = (size_t)(x % n);
            m[at] = alphabet[(x >> 20) % (sizeof alphabet - 1)];
        }
        if (x % 7 == 0)
            m[(x >> 30) % n] = '\0'; /* truncation too */
        if (strcmp(m, tok) == 0)
            continue;
        tried++;
        json_t *claims = NULL;
        if (cm_jwt_verify(m, KEY, KEYLEN, NOW, &claims, why, sizeof why) == 0) {
            accepted++;
            fprintf(stderr, "mutated token accepted: %s\n", m);
            json_decref(claims);
        }
    }
    free(m);
    free(tok);
    CHECK(tried > 15000);
    CHECK_INT(accepted, 0);
}

TEST_MAIN(TEST(test_known_vector), TEST(test_good_token), TEST(test_bad_signature),
          TEST(test_alg_none_and_others), TEST(test_truncated_and_malformed),
          TEST(test_wrong_claims), TEST(test_expiry_and_empty_claims), TEST(test_b64url),
          TEST(test_key_file), TEST(test_mutations_never_verify))
