/*
 * jwt.h: JSON Web Tokens signed with HMAC-SHA256 (RFC 7519, JWS "HS256"), for executor
 * authentication.
 *
 * What it does. The agent gives every executor a token that names who it is (Mesos's
 * executor principal claims: "fid" the framework id, "eid" the executor id, "cid" the
 * container id), signed with the key of --jwt_secret_key. The executor sends it back as
 * "Authorization: Bearer <token>" on every executor API call; the agent verifies the signature
 * and then that the claims name the framework, executor and container of the call. A token is
 * thus only good for its own executor: a task that learns another executor's ids cannot forge
 * a token without the key.
 *
 * Strict parsing, no trust before the signature: a token is exactly three base64url parts
 * (unpadded, RFC 4648 section 5 alphabet, canonical trailing bits) of at most
 * CM_JWT_MAX_TOKEN bytes in all. The header must be a JSON object whose "alg" is "HS256" ("none"
 * and every other algorithm are refused, so a token cannot switch verification off); "typ", if
 * present, must be a string; "crit" is refused (no extension is understood). The signature is
 * compared in constant time, and only a token whose signature matches has its payload parsed:
 * a JSON object (duplicate keys refused) whose "exp", if present, must be a number not in the
 * past. Mesos's verifier accepts the same tokens (it also reads "exp" and refuses "crit").
 *
 * Where it deviates from Mesos: Mesos turns non-string claims into text; here the executor
 * claims must be JSON strings (a number "fid" is a mismatch, never equal by accident).
 *
 * Errors: CM_EINVAL with why naming the problem ("Token signature does not match", "Token
 * 'alg' value \"none\" is not HS256", ...) for every bad token; CM_ETOOBIG for an oversized
 * token or key; claims that name another executor are CM_ESTATE (the token is valid but for
 * someone else). The why texts never contain the key and never the whole token.
 *
 * Ownership: returned strings and JSON objects belong to the caller. Threading: none; pure
 * functions (OpenSSL's HMAC is re-entrant).
 */
#ifndef CM_JWT_H
#define CM_JWT_H

#include <jansson.h>
#include <stddef.h>

/* The longest token accepted (header + payload + signature, with the dots). */
#define CM_JWT_MAX_TOKEN 8192
/* The longest key accepted (and read from a --jwt_secret_key file). */
#define CM_JWT_MAX_KEY 65536

/* Creates a token: header {"alg":"HS256","typ":"JWT"}, payload claims (a JSON object,
 * borrowed), signed with key[keylen] (keylen >= 1). Returns 0 and *out (malloc'd, NUL
 * terminated), or CM_EINVAL (claims not an object, empty key) / CM_ETOOBIG with why. */
int cm_jwt_create(const void *key, size_t keylen, const json_t *claims, char **out, char *why,
                  size_t whylen);

/* Verifies token against key[keylen] at time now (seconds since the epoch, for "exp").
 * Returns 0 and *claims (the payload object, owned: json_decref it), or CM_EINVAL /
 * CM_ETOOBIG with why; *claims is NULL on failure. */
int cm_jwt_verify(const char *token, const void *key, size_t keylen, double now, json_t **claims,
                  char *why, size_t whylen);

/* The token of one executor: claims {"fid": framework_id, "eid": executor_id, "cid":
 * container_id}. Returns as cm_jwt_create. */
int cm_jwt_executor_token(const void *key, size_t keylen, const char *framework_id,
                          const char *executor_id, const char *container_id, char **out, char *why,
                          size_t whylen);

/* Checks verified claims against a call: "fid", "eid" and "cid" must be strings equal to the
 * given ids (container_id NULL skips "cid"). Returns 0, or CM_ESTATE with why naming the claim
 * that does not match (the agent answers 403 with it). */
int cm_jwt_check_executor(const json_t *claims, const char *framework_id, const char *executor_id,
                          const char *container_id, char *why, size_t whylen);

/* Reads a key file (--jwt_secret_key): the whole file, bytes as they are (a trailing newline
 * is part of the key, as in Mesos). Returns 0 and *key (malloc'd) and *keylen, or -errno /
 * CM_EINVAL (empty file) / CM_ETOOBIG (over CM_JWT_MAX_KEY) with why naming the path. Sets
 * *too_open when others may read, write or execute the file (the caller warns, as Mesos does). */
int cm_jwt_key_read(const char *path, char **key, size_t *keylen, int *too_open, char *why,
                    size_t whylen);

/* base64url without padding (exported for tests). encode: returns a malloc'd string. decode:
 * strict (alphabet, no padding, length not 1 mod 4, zero trailing bits); returns 0 and *out
 * (malloc'd, NUL added after *outlen bytes) or CM_EINVAL. */
char *cm_jwt_b64url_encode(const void *data, size_t len);
int cm_jwt_b64url_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen);

#endif
