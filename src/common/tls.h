/*
 * tls.h: TLS for every cmesos HTTP server and client, configured like Mesos's libprocess from
 * the environment:
 *
 *   LIBPROCESS_SSL_ENABLED=true|1        serve and call over TLS (default false)
 *   LIBPROCESS_SSL_SUPPORT_DOWNGRADE=..  servers also accept plain HTTP on the same port (the
 *                                        first byte of a connection tells which)
 *   LIBPROCESS_SSL_CERT_FILE, _KEY_FILE  this process's certificate and key (PEM); required for
 *                                        servers; clients present them as a client certificate
 *   LIBPROCESS_SSL_CA_FILE, _CA_DIR      trusted CAs (PEM file, hashed directory); without both,
 *                                        the system's default trust store
 *   LIBPROCESS_SSL_VERIFY_CERT=..        clients verify the server's certificate and host name;
 *                                        servers verify a client certificate when one is
 *                                        presented
 *   LIBPROCESS_SSL_REQUIRE_CERT=..       servers refuse clients without a valid certificate
 *                                        (implies VERIFY_CERT)
 *
 * As in Mesos, the legacy names without the LIBPROCESS_ prefix (SSL_ENABLED, ...) are read when
 * the LIBPROCESS_ one is absent, and booleans are "true"/"1" or "false"/"0" (anything else is
 * an error naming the variable).
 *
 * Ownership: a cm_tls owns its SSL_CTX; servers keep a pointer to it, so it must outlive them.
 * Errors: 0 or a negative code with a message in why. Threading: none (immutable after new).
 */
#ifndef CM_TLS_H
#define CM_TLS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ssl_ctx_st SSL_CTX;

struct cm_tls_config {
    bool enabled, support_downgrade, verify_cert, require_cert;
    char *cert_file, *key_file, *ca_file, *ca_dir; /* malloc'd or NULL */
};

/* Looks a variable up (returns NULL when unset); lets tests pass a table instead of environ. */
typedef const char *(*cm_tls_lookup)(const char *name, void *arg);

/* Fills cfg from lookup (NULL: the process environment). Returns 0 or CM_EINVAL with why. */
int cm_tls_config_parse(struct cm_tls_config *cfg, cm_tls_lookup lookup, void *arg, char *why,
                        size_t whylen);
void cm_tls_config_clear(struct cm_tls_config *cfg);

struct cm_tls;

/* Builds the server context from cfg (which must be enabled): loads the certificate, key and CAs
 * and sets verification. Returns NULL with why on a missing or bad file. */
struct cm_tls *cm_tls_new(const struct cm_tls_config *cfg, char *why, size_t whylen);
/* From the environment: *out is NULL when TLS is not enabled. Returns 0 or an error with why. */
int cm_tls_from_env(struct cm_tls **out, char *why, size_t whylen);
void cm_tls_free(struct cm_tls *tls);

SSL_CTX *cm_tls_server_ctx(const struct cm_tls *tls);
bool cm_tls_support_downgrade(const struct cm_tls *tls);
const struct cm_tls_config *cm_tls_config_of(const struct cm_tls *tls);

/* The URL scheme this process uses for the URLs it builds: "https" when LIBPROCESS_SSL_ENABLED
 * is true in the environment, else "http". */
const char *cm_tls_scheme(void);

/* Applies the client side of the environment's TLS settings to a libcurl easy handle (CA file
 * and directory, client certificate and key, peer and host verification). A no-op when TLS is
 * not enabled. The handle is a CURL * (void * keeps curl.h out of this header). */
void cm_tls_curl_setup(void *curl_easy);

#endif
