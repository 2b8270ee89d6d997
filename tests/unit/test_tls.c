/* test_tls.c: LIBPROCESS_SSL_* parsing and the TLS context's refusals (tls.h). */
#include "test.h"

#include <stdlib.h>

#include "errors.h"
#include "tls.h"

/* A lookup over a NULL-terminated {name, value, ...} table. */
static const char *table_lookup(const char *name, void *arg)
{
    const char *const *t = arg;
    for (; t[0]; t += 2)
        if (strcmp(t[0], name) == 0)
            return t[1];
    return NULL;
}

static void test_defaults_off(void)
{
    const char *env[] = {NULL};
    struct cm_tls_config cfg;
    char why[256] = "";
    CHECK_INT(cm_tls_config_parse(&cfg, table_lookup, (void *)env, why, sizeof why), 0);
    CHECK(!cfg.enabled && !cfg.support_downgrade && !cfg.verify_cert && !cfg.require_cert);
    CHECK(cfg.cert_file == NULL && cfg.ca_file == NULL);
    cm_tls_config_clear(&cfg);
}

static void test_values_and_legacy_names(void)
{
    const char *env[] = {"LIBPROCESS_SSL_ENABLED",
                         "true",
                         "LIBPROCESS_SSL_SUPPORT_DOWNGRADE",
                         "1",
                         "LIBPROCESS_SSL_CERT_FILE",
                         "/c.pem",
                         "SSL_KEY_FILE",
                         "/k.pem", /* the pre-1.0 name is read when the new one is absent */
                         "LIBPROCESS_SSL_CA_DIR",
                         "/cas",
                         "LIBPROCESS_SSL_REQUIRE_CERT",
                         "TRUE",
                         NULL};
    struct cm_tls_config cfg;
    char why[256] = "";
    CHECK_INT(cm_tls_config_parse(&cfg, table_lookup, (void *)env, why, sizeof why), 0);
    CHECK(cfg.enabled && cfg.support_downgrade && cfg.require_cert);
    CHECK(cfg.verify_cert); /* requiring a certificate implies verifying it */
    CHECK_STR(cfg.cert_file, "/c.pem");
    CHECK_STR(cfg.key_file, "/k.pem");
    CHECK_STR(cfg.ca_dir, "/cas");
    CHECK(cfg.ca_file == NULL);
    cm_tls_config_clear(&cfg);
}

static void test_bad_boolean_named(void)
{
    const char *env[] = {"LIBPROCESS_SSL_VERIFY_CERT", "yes please", NULL};
    struct cm_tls_config cfg;
    char why[256] = "";
    CHECK_INT(cm_tls_config_parse(&cfg, table_lookup, (void *)env, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "LIBPROCESS_SSL_VERIFY_CERT") != NULL);
    CHECK(strstr(why, "yes please") != NULL);
}

static void test_context_refuses_missing_files(void)
{
    struct cm_tls_config cfg = {.enabled = true};
    char why[256] = "";
    CHECK(cm_tls_new(&cfg, why, sizeof why) == NULL);
    CHECK(strstr(why, "LIBPROCESS_SSL_CERT_FILE") != NULL);
    cfg.cert_file = "/nonexistent/c.pem";
    cfg.key_file = "/nonexistent/k.pem";
    CHECK(cm_tls_new(&cfg, why, sizeof why) == NULL);
    CHECK(strstr(why, "/nonexistent/c.pem") != NULL);
    cfg.enabled = false;
    CHECK(cm_tls_new(&cfg, why, sizeof why) == NULL);
    CHECK(strstr(why, "not enabled") != NULL);
    cm_tls_free(NULL);
}

static void test_scheme_follows_environment(void)
{
    unsetenv("LIBPROCESS_SSL_ENABLED");
    unsetenv("SSL_ENABLED");
    CHECK_STR(cm_tls_scheme(), "http");
    setenv("LIBPROCESS_SSL_ENABLED", "1", 1);
    CHECK_STR(cm_tls_scheme(), "https");
    setenv("LIBPROCESS_SSL_ENABLED", "false", 1);
    CHECK_STR(cm_tls_scheme(), "http");
    unsetenv("LIBPROCESS_SSL_ENABLED");
}

TEST_MAIN(TEST(test_defaults_off), TEST(test_values_and_legacy_names), TEST(test_bad_boolean_named),
          TEST(test_context_refuses_missing_files), TEST(test_scheme_follows_environment))
