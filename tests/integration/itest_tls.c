/*
 * itest_tls.c: master, agent, executor and mesos-execute over TLS, configured with Mesos's
 * LIBPROCESS_SSL_* environment, with a CA, a server certificate and a client certificate made at
 * test time with the openssl CLI. Checks: a task runs to TASK_FINISHED with every hop on https
 * and client certificates required; plain HTTP is refused with a message unless
 * LIBPROCESS_SSL_SUPPORT_DOWNGRADE; a client without a certificate is refused when
 * LIBPROCESS_SSL_REQUIRE_CERT is set. https checks use the curl CLI (the harness's client speaks
 * plain sockets only).
 */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct pki {
    char dir[256];
    char ca[300], ca_key[300], cert[300], key[300], client_cert[300], client_key[300];
};

static int run_quiet(char *const argv[])
{
    int status = -1;
    char *out = NULL;
    int rc = itest_run(argv, 30000, &status, &out);
    if (rc || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s failed (rc %d, status 0x%x): %s\n", argv[0], rc, status,
                out ? out : "");
        free(out);
        return -1;
    }
    free(out);
    return 0;
}

/* Makes a key and a certificate signed by the CA, for 127.0.0.1. */
static int make_cert(struct pki *p, const char *name, char *cert, char *key)
{
    char csr[320], ext[320], subj[64];
    snprintf(key, 300, "%s/%s.key", p->dir, name);
    snprintf(cert, 300, "%s/%s.crt", p->dir, name);
    snprintf(csr, sizeof csr, "%s/%s.csr", p->dir, name);
    snprintf(ext, sizeof ext, "%s/%s.ext", p->dir, name);
    snprintf(subj, sizeof subj, "/CN=%s", name);
    FILE *f = fopen(ext, "w");
    if (!f)
        return -1;
    fprintf(f, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    fclose(f);
    char *req[] = {"/usr/bin/openssl",
                   "req",
                   "-new",
                   "-newkey",
                   "ec",
                   "-pkeyopt",
                   "ec_paramgen_curve:prime256v1",
                   "-nodes",
                   "-keyout",
                   key,
                   "-out",
                   csr,
                   "-subj",
                   subj,
                   NULL};
    char *sign[] = {
        "/usr/bin/openssl", "x509", "-req", "-in",   csr, "-CA",      p->ca, "-CAkey", p->ca_key,
        "-CAcreateserial",  "-out", cert,   "-days", "2", "-extfile", ext,   NULL};
    return run_quiet(req) || run_quiet(sign) ? -1 : 0;
}

static int make_pki(struct pki *p)
{
    if (access("/usr/bin/openssl", X_OK) != 0)
        return -ENOENT;
    if (itest_tmpdir(p->dir, sizeof p->dir) != 0)
        return -1;
    snprintf(p->ca, sizeof p->ca, "%s/ca.crt", p->dir);
    snprintf(p->ca_key, sizeof p->ca_key, "%s/ca.key", p->dir);
    char *ca[] = {"/usr/bin/openssl",
                  "req",
                  "-x509",
                  "-newkey",
                  "ec",
                  "-pkeyopt",
                  "ec_paramgen_curve:prime256v1",
                  "-nodes",
                  "-keyout",
                  p->ca_key,
                  "-out",
                  p->ca,
                  "-days",
                  "2",
                  "-subj",
                  "/CN=cmesos-test-ca",
                  NULL};
    if (run_quiet(ca))
        return -1;
    if (make_cert(p, "server", p->cert, p->key) ||
        make_cert(p, "client", p->client_cert, p->client_key))
        return -1;
    return 0;
}

/* The LIBPROCESS_SSL_* environment every process started after this call inherits. */
static void ssl_env(const struct pki *p, bool downgrade, bool require_cert)
{
    setenv("LIBPROCESS_SSL_ENABLED", "true", 1);
    setenv("LIBPROCESS_SSL_CERT_FILE", p->cert, 1);
    setenv("LIBPROCESS_SSL_KEY_FILE", p->key, 1);
    setenv("LIBPROCESS_SSL_CA_FILE", p->ca, 1);
    setenv("LIBPROCESS_SSL_VERIFY_CERT", "1", 1);
    setenv("LIBPROCESS_SSL_REQUIRE_CERT", require_cert ? "1" : "0", 1);
    setenv("LIBPROCESS_SSL_SUPPORT_DOWNGRADE", downgrade ? "true" : "false", 1);
}

static void ssl_env_clear(void)
{
    static const char *const names[] = {
        "LIBPROCESS_SSL_ENABLED",          "LIBPROCESS_SSL_CERT_FILE",
        "LIBPROCESS_SSL_KEY_FILE",         "LIBPROCESS_SSL_CA_FILE",
        "LIBPROCESS_SSL_VERIFY_CERT",      "LIBPROCESS_SSL_REQUIRE_CERT",
        "LIBPROCESS_SSL_SUPPORT_DOWNGRADE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unsetenv(names[i]);
}

/* curl -s https://127.0.0.1:port/path (with the client certificate when cert is set); returns the
 * HTTP status or -curl's exit code, and the body in *out (malloc'd) when wanted. */
static int curl_https(const struct pki *p, int port, const char *path, bool cert, char **out)
{
    char url[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%d%s", port, path);
    char *argv[16];
    size_t n = 0;
    argv[n++] = "/usr/bin/curl";
    argv[n++] = "-s";
    argv[n++] = "-m";
    argv[n++] = "5";
    argv[n++] = "--cacert";
    argv[n++] = (char *)p->ca;
    if (cert) {
        argv[n++] = "--cert";
        argv[n++] = (char *)p->client_cert;
        argv[n++] = "--key";
        argv[n++] = (char *)p->client_key;
    }
    argv[n++] = "-w";
    argv[n++] = "\n%{http_code}";
    argv[n++] = url;
    argv[n] = NULL;
    int status = -1;
    char *text = NULL;
    int rc = itest_run(argv, 10000, &status, &text);
    if (rc || !WIFEXITED(status)) {
        free(text);
        return -1000;
    }
    if (WEXITSTATUS(status) != 0) {
        free(text);
        return -WEXITSTATUS(status);
    }
    char *nl = text ? strrchr(text, '\n') : NULL;
    int code = nl ? atoi(nl + 1) : 0;
    if (nl)
        *nl = '\0';
    if (out)
        *out = text;
    else
        free(text);
    return code;
}

static int spawn_agent(struct itest_cluster *c, struct itest_proc *agent, int *port)
{
    char bin[512], f_master[128], f_port_file[400], f_work[400], log[400], port_file[350];
    snprintf(f_master, sizeof f_master, "--master=%s", c->master_addr);
    snprintf(port_file, sizeof port_file, "%s/agent.port", c->dir);
    snprintf(f_port_file, sizeof f_port_file, "--port_file=%s", port_file);
    snprintf(f_work, sizeof f_work, "--work_dir=%s/agent", c->dir);
    char *argv[] = {(char *)itest_bin("mesos-agent", bin, sizeof bin),
                    f_master,
                    "--ip=127.0.0.1",
                    "--port=0",
                    f_port_file,
                    f_work,
                    "--resources=cpus:2;mem:1024;disk:1024",
                    NULL};
    snprintf(log, sizeof log, "%s/agent.log", c->dir);
    int rc = itest_proc_spawn(agent, "mesos-agent", argv, log);
    if (rc)
        return rc;
    for (int i = 0; i < 200; i++) {
        size_t len = 0;
        char *text = itest_read_file(port_file, &len);
        if (text) {
            *port = atoi(text);
            free(text);
            if (*port > 0)
                return 0;
        }
        usleep(50 * 1000);
    }
    return -ETIMEDOUT;
}

/* Waits until the master (asked over https) lists one active agent. */
static bool agent_registered(const struct pki *p, int master_port)
{
    for (int i = 0; i < 100; i++) {
        char *body = NULL;
        int code = curl_https(p, master_port, "/master/slaves", true, &body);
        json_t *j = code == 200 && body ? json_loads(body, 0, NULL) : NULL;
        free(body);
        json_t *slaves = j ? json_object_get(j, "slaves") : NULL;
        bool ok = json_is_array(slaves) && json_array_size(slaves) == 1;
        json_decref(j);
        if (ok)
            return true;
        usleep(100 * 1000);
    }
    return false;
}

static void test_task_over_tls_with_client_certificates(void)
{
    struct pki p;
    int rc = make_pki(&p);
    if (rc == -ENOENT)
        SKIP_CASE("no openssl CLI");
    REQUIRE(rc == 0);
    /* Every process speaks TLS only and demands a client certificate. */
    ssl_env(&p, false, true);
    struct itest_cluster c;
    memset(&c, 0, sizeof c);
    struct itest_cluster_opts o = {.no_agent = 1};
    rc = itest_cluster_start(&c, &o);
    struct itest_proc agent = {0};
    int agent_port = 0;
    if (rc == 0)
        rc = spawn_agent(&c, &agent, &agent_port);
    if (rc) {
        ssl_env_clear();
        REQUIRE(rc == 0);
    }
    bool registered = agent_registered(&p, c.master_port);
    CHECK(registered);

    /* mesos-execute subscribes over https; the executor talks to the agent over https. */
    char bin[512], f_master[128];
    snprintf(f_master, sizeof f_master, "--master=%s", c.master_addr);
    char *argv[] = {(char *)itest_bin("mesos-execute", bin, sizeof bin),
                    f_master,
                    "--name=tls",
                    "--command=echo over-tls",
                    "--resources=cpus:0.1;mem:32",
                    NULL};
    int status = -1;
    char *out = NULL;
    rc = registered ? itest_run(argv, 60000, &status, &out) : -1;
    ssl_env_clear();
    CHECK_INT(rc, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(out && strstr(out, "TASK_FINISHED") != NULL);
    if (!out || !strstr(out, "TASK_FINISHED"))
        fprintf(stderr, "---- mesos-execute ----\n%s\n----\n", out ? out : "(none)");
    free(out);

    /* Plain HTTP is refused with a message naming the problem. */
    struct itest_http_resp r = {0};
    CHECK_INT(itest_http(c.master_port, "GET", "/version", NULL, NULL, 0, &r, 3000), 0);
    CHECK_INT(r.status, 400);
    CHECK(r.body && strstr((char *)r.body, "requires TLS") != NULL);
    itest_http_resp_cleanup(&r);
    memset(&r, 0, sizeof r);
    CHECK_INT(itest_http(agent_port, "GET", "/slave(1)/state", NULL, NULL, 0, &r, 3000), 0);
    CHECK_INT(r.status, 400);
    itest_http_resp_cleanup(&r);

    /* Without a client certificate the handshake is refused; with one, the master answers. */
    CHECK(curl_https(&p, c.master_port, "/version", false, NULL) < 0);
    CHECK_INT(curl_https(&p, c.master_port, "/version", true, NULL), 200);
    char *metrics = NULL;
    CHECK_INT(curl_https(&p, c.master_port, "/metrics/snapshot", true, &metrics), 200);
    json_t *m = metrics ? json_loads(metrics, 0, NULL) : NULL;
    free(metrics);
    CHECK(m && json_number_value(json_object_get(m, "master/http_refused_plain_on_tls")) >= 1);
    CHECK(m && json_number_value(json_object_get(m, "master/http_tls_failures")) >= 1);
    json_decref(m);
    itest_proc_stop(&agent);
}

static void test_downgrade_serves_both(void)
{
    struct pki p;
    int rc = make_pki(&p);
    if (rc == -ENOENT)
        SKIP_CASE("no openssl CLI");
    REQUIRE(rc == 0);
    ssl_env(&p, true, false);
    struct itest_cluster c;
    struct itest_cluster_opts o = {0};
    /* The harness registers the agent over plain HTTP; the agent itself uses https. */
    rc = itest_cluster_start(&c, &o);
    ssl_env_clear();
    REQUIRE(rc == 0);
    struct itest_http_resp r = {0};
    CHECK_INT(itest_http(c.master_port, "GET", "/version", NULL, NULL, 0, &r, 3000), 0);
    CHECK_INT(r.status, 200);
    itest_http_resp_cleanup(&r);
    CHECK_INT(curl_https(&p, c.master_port, "/version", false, NULL), 200);
    CHECK_INT(curl_https(&p, c.agent_port, "/slave(1)/health", false, NULL), 200);
}

static void test_bad_tls_settings_stop_the_master(void)
{
    struct itest_cluster c;
    setenv("LIBPROCESS_SSL_ENABLED", "maybe", 1);
    struct itest_cluster_opts o = {.no_agent = 1};
    memset(&c, 0, sizeof c);
    int rc = itest_cluster_start(&c, &o);
    unsetenv("LIBPROCESS_SSL_ENABLED");
    CHECK(rc != 0);
    size_t len = 0;
    char *log = itest_read_file(c.master.log, &len);
    CHECK(log && strstr(log, "LIBPROCESS_SSL_ENABLED") != NULL);
    free(log);

    setenv("LIBPROCESS_SSL_ENABLED", "1", 1);
    setenv("LIBPROCESS_SSL_CERT_FILE", "/nonexistent/cert.pem", 1);
    setenv("LIBPROCESS_SSL_KEY_FILE", "/nonexistent/key.pem", 1);
    memset(&c, 0, sizeof c);
    rc = itest_cluster_start(&c, &o);
    ssl_env_clear();
    CHECK(rc != 0);
    log = itest_read_file(c.master.log, &len);
    CHECK(log && strstr(log, "/nonexistent/cert.pem") != NULL);
    free(log);
}

ITEST_MAIN(TEST(test_task_over_tls_with_client_certificates), TEST(test_downgrade_serves_both),
           TEST(test_bad_tls_settings_stop_the_master))
