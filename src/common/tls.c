/* tls.c: see tls.h. */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "errors.h"

struct cm_tls {
    struct cm_tls_config cfg;
    SSL_CTX *server;
};

static const char *env_lookup(const char *name, void *arg)
{
    (void)arg;
    return getenv(name);
}

/* The LIBPROCESS_SSL_<suffix> value, else the legacy SSL_<suffix> one, else NULL; *used gets
 * the name that was found (for messages). */
static const char *get(cm_tls_lookup lookup, void *arg, const char *suffix, char *used,
                       size_t usedlen)
{
    snprintf(used, usedlen, "LIBPROCESS_SSL_%s", suffix);
    const char *v = lookup(used, arg);
    if (v)
        return v;
    char legacy[64];
    snprintf(legacy, sizeof legacy, "SSL_%s", suffix);
    v = lookup(legacy, arg);
    if (v)
        snprintf(used, usedlen, "%s", legacy);
    return v;
}

static int get_bool(cm_tls_lookup lookup, void *arg, const char *suffix, bool *out, char *why,
                    size_t whylen)
{
    char name[64];
    const char *v = get(lookup, arg, suffix, name, sizeof name);
    if (!v || !*v)
        return 0;
    if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        *out = true;
        return 0;
    }
    if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *out = false;
        return 0;
    }
    return cm_fail(CM_EINVAL, why, whylen, "%s='%s': expected true, false, 1 or 0", name, v);
}

static int get_path(cm_tls_lookup lookup, void *arg, const char *suffix, char **out)
{
    char name[64];
    const char *v = get(lookup, arg, suffix, name, sizeof name);
    if (v && *v) {
        *out = strdup(v);
        if (!*out)
            return -ENOMEM;
    }
    return 0;
}

int cm_tls_config_parse(struct cm_tls_config *cfg, cm_tls_lookup lookup, void *arg, char *why,
                        size_t whylen)
{
    memset(cfg, 0, sizeof *cfg);
    if (!lookup)
        lookup = env_lookup;
    int rc;
    if ((rc = get_bool(lookup, arg, "ENABLED", &cfg->enabled, why, whylen)) ||
        (rc = get_bool(lookup, arg, "SUPPORT_DOWNGRADE", &cfg->support_downgrade, why, whylen)) ||
        (rc = get_bool(lookup, arg, "VERIFY_CERT", &cfg->verify_cert, why, whylen)) ||
        (rc = get_bool(lookup, arg, "REQUIRE_CERT", &cfg->require_cert, why, whylen)) ||
        (rc = get_path(lookup, arg, "CERT_FILE", &cfg->cert_file)) ||
        (rc = get_path(lookup, arg, "KEY_FILE", &cfg->key_file)) ||
        (rc = get_path(lookup, arg, "CA_FILE", &cfg->ca_file)) ||
        (rc = get_path(lookup, arg, "CA_DIR", &cfg->ca_dir))) {
        cm_tls_config_clear(cfg);
        if (rc == -ENOMEM)
            return cm_fail(rc, why, whylen, "Out of memory reading the TLS environment");
        return rc;
    }
    if (cfg->require_cert)
        cfg->verify_cert = true;
    return 0;
}

void cm_tls_config_clear(struct cm_tls_config *cfg)
{
    free(cfg->cert_file);
    free(cfg->key_file);
    free(cfg->ca_file);
    free(cfg->ca_dir);
    memset(cfg, 0, sizeof *cfg);
}

static char *dup_or_null(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static const char *ssl_err(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (!e)
        return "unknown error";
    ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

struct cm_tls *cm_tls_new(const struct cm_tls_config *cfg, char *why, size_t whylen)
{
    char err[256];
    if (!cfg->enabled) {
        cm_fail(CM_EINVAL, why, whylen, "TLS is not enabled (LIBPROCESS_SSL_ENABLED)");
        return NULL;
    }
    if (!cfg->cert_file || !cfg->key_file) {
        cm_fail(CM_EINVAL, why, whylen,
                "LIBPROCESS_SSL_ENABLED is set but LIBPROCESS_SSL_%s is not",
                !cfg->cert_file ? "CERT_FILE" : "KEY_FILE");
        return NULL;
    }
    struct cm_tls *t = calloc(1, sizeof *t);
    if (!t)
        abort();
    t->cfg = *cfg;
    t->cfg.cert_file = dup_or_null(cfg->cert_file);
    t->cfg.key_file = dup_or_null(cfg->key_file);
    t->cfg.ca_file = dup_or_null(cfg->ca_file);
    t->cfg.ca_dir = dup_or_null(cfg->ca_dir);
    t->server = SSL_CTX_new(TLS_server_method());
    if (!t->server) {
        cm_fail(CM_EINVAL, why, whylen, "Cannot create a TLS context: %s",
                ssl_err(err, sizeof err));
        goto fail;
    }
    SSL_CTX_set_min_proto_version(t->server, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(t->server, cfg->cert_file) != 1) {
        cm_fail(CM_EINVAL, why, whylen, "LIBPROCESS_SSL_CERT_FILE %s: %s", cfg->cert_file,
                ssl_err(err, sizeof err));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(t->server, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
        cm_fail(CM_EINVAL, why, whylen, "LIBPROCESS_SSL_KEY_FILE %s: %s", cfg->key_file,
                ssl_err(err, sizeof err));
        goto fail;
    }
    if (SSL_CTX_check_private_key(t->server) != 1) {
        cm_fail(CM_EINVAL, why, whylen,
                "LIBPROCESS_SSL_KEY_FILE %s does not match LIBPROCESS_SSL_CERT_FILE %s",
                cfg->key_file, cfg->cert_file);
        goto fail;
    }
    if (cfg->ca_file || cfg->ca_dir) {
        if (SSL_CTX_load_verify_locations(t->server, cfg->ca_file, cfg->ca_dir) != 1) {
            cm_fail(CM_EINVAL, why, whylen, "LIBPROCESS_SSL_CA_FILE/CA_DIR (%s, %s): %s",
                    cfg->ca_file ? cfg->ca_file : "-", cfg->ca_dir ? cfg->ca_dir : "-",
                    ssl_err(err, sizeof err));
            goto fail;
        }
        if (cfg->ca_file) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_file);
            if (names)
                SSL_CTX_set_client_CA_list(t->server, names);
        }
    } else {
        SSL_CTX_set_default_verify_paths(t->server);
    }
    int mode = SSL_VERIFY_NONE;
    if (cfg->verify_cert)
        mode = SSL_VERIFY_PEER;
    if (cfg->require_cert)
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(t->server, mode, NULL);
    /* Sessions are not resumed across connections: nothing to cache. */
    SSL_CTX_set_session_cache_mode(t->server, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(t->server, 0);
    return t;
fail:
    cm_tls_free(t);
    return NULL;
}

int cm_tls_from_env(struct cm_tls **out, char *why, size_t whylen)
{
    *out = NULL;
    struct cm_tls_config cfg;
    int rc = cm_tls_config_parse(&cfg, NULL, NULL, why, whylen);
    if (rc)
        return rc;
    if (cfg.enabled) {
        *out = cm_tls_new(&cfg, why, whylen);
        if (!*out)
            rc = CM_EINVAL;
    }
    cm_tls_config_clear(&cfg);
    return rc;
}

void cm_tls_free(struct cm_tls *tls)
{
    if (!tls)
        return;
    if (tls->server)
        SSL_CTX_free(tls->server);
    cm_tls_config_clear(&tls->cfg);
    free(tls);
}

SSL_CTX *cm_tls_server_ctx(const struct cm_tls *tls)
{
    return tls ? tls->server : NULL;
}

bool cm_tls_support_downgrade(const struct cm_tls *tls)
{
    return tls && tls->cfg.support_downgrade;
}

const struct cm_tls_config *cm_tls_config_of(const struct cm_tls *tls)
{
    return &tls->cfg;
}

const char *cm_tls_scheme(void)
{
    char name[64];
    const char *v = get(env_lookup, NULL, "ENABLED", name, sizeof name);
    return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0) ? "https" : "http";
}

void cm_tls_curl_setup(void *curl_easy)
{
    CURL *e = curl_easy;
    struct cm_tls_config cfg;
    char why[128];
    if (cm_tls_config_parse(&cfg, NULL, NULL, why, sizeof why) != 0)
        return; /* the daemon refused to start on a bad value; libraries keep curl's defaults */
    if (cfg.enabled) {
        if (cfg.ca_file)
            curl_easy_setopt(e, CURLOPT_CAINFO, cfg.ca_file);
        if (cfg.ca_dir)
            curl_easy_setopt(e, CURLOPT_CAPATH, cfg.ca_dir);
        if (cfg.cert_file && cfg.key_file) {
            curl_easy_setopt(e, CURLOPT_SSLCERT, cfg.cert_file);
            curl_easy_setopt(e, CURLOPT_SSLKEY, cfg.key_file);
        }
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, cfg.verify_cert ? 1L : 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, cfg.verify_cert ? 2L : 0L);
    }
    cm_tls_config_clear(&cfg);
}
