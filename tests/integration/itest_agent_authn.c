/*
 * itest_agent_authn: the agent and the clients as authenticated parties.
 *  - agent HTTP authentication: with --authenticate_http_readonly and --http_credentials the
 *    agent's read-only endpoints (/state, /flags, /files/browse, /monitor/statistics,
 *    /containers, /metrics/snapshot, also under /slave(1)/) answer 401 with a Basic challenge
 *    of realm "mesos-agent-readonly" unless the request carries a listed credential; /health
 *    and /version stay open; the executor API is not Basic-authenticated (a task still runs).
 *  - the agent towards a master with --authenticate_agents: an agent with --credential
 *    registers; one without, or with a wrong secret, is refused and never appears in
 *    /master/state.
 *  - mesos-execute towards a master with --authenticate_frameworks: --principal/--secret runs a
 *    task to TASK_FINISHED; without a secret, or with a wrong one, it gets nowhere.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    fclose(f);
    return chmod(path, 0600);
}

static int get_status(int port, const char *path, const char *authz, char *challenge, size_t clen)
{
    char hdr[512];
    const char *headers[2] = {NULL, NULL};
    if (authz) {
        snprintf(hdr, sizeof hdr, "Authorization: %s", authz);
        headers[0] = hdr;
    }
    struct itest_http_resp r;
    if (itest_http(port, "GET", path, headers, NULL, 0, &r, ITEST_WAIT_MS) != 0)
        return -1;
    if (challenge && !itest_header(r.headers, "WWW-Authenticate", challenge, clen))
        challenge[0] = '\0';
    int status = r.status;
    itest_http_resp_cleanup(&r);
    return status;
}

static char *basic(const char *principal, const char *secret)
{
    char raw[256], *out = NULL;
    snprintf(raw, sizeof raw, "%s:%s", principal, secret);
    char *b = itest_b64_encode((const uint8_t *)raw, strlen(raw));
    if (asprintf(&out, "Basic %s", b) < 0)
        out = NULL;
    free(b);
    return out;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_agent_endpoints_need_credentials(void)
{
    char dir[256], creds[300], flag[400];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(creds, sizeof creds, "%s/http_credentials.json", dir);
    REQUIRE(write_file(creds,
                       "{\"credentials\": [{\"principal\": \"ops\", \"secret\": "
                       "\"s3cret\"}, {\"principal\": \"viewer\", \"secret\": \"v\"}]}") == 0);
    snprintf(flag, sizeof flag, "--http_credentials=%s", creds);
    const char *agent_flags[] = {"--authenticate_http_readonly", flag, NULL};
    struct itest_cluster_opts co = {.agent_flags = agent_flags};
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, &co) == 0);

    char *good = basic("ops", "s3cret"), *wrong = basic("ops", "guess"),
         *unknown = basic("nobody", "s3cret");
    REQUIRE(good && wrong && unknown);
    const char *guarded[] = {"/state",
                             "/state.json",
                             "/slave(1)/state",
                             "/flags",
                             "/files/browse?path=/tmp",
                             "/monitor/statistics",
                             "/containers",
                             "/metrics/snapshot"};
    char challenge[256];
    for (size_t i = 0; i < sizeof guarded / sizeof *guarded; i++) {
        int st = get_status(c.agent_port, guarded[i], NULL, challenge, sizeof challenge);
        if (st != 401)
            fprintf(stderr, "%s without credentials: %d\n", guarded[i], st);
        CHECK_INT(st, 401);
        CHECK_STR(challenge, "Basic realm=\"mesos-agent-readonly\"");
        CHECK_INT(get_status(c.agent_port, guarded[i], wrong, NULL, 0), 401);
        CHECK_INT(get_status(c.agent_port, guarded[i], unknown, NULL, 0), 401);
        CHECK_INT(get_status(c.agent_port, guarded[i], "Bearer abc", NULL, 0), 401);
        st = get_status(c.agent_port, guarded[i], good, NULL, 0);
        /* Authenticated: whatever the endpoint answers, it is not a refusal. */
        if (st == 401 || st == 403 || st < 0)
            fprintf(stderr, "%s with credentials: %d\n", guarded[i], st);
        CHECK(st != 401 && st != 403 && st > 0);
    }
    CHECK_INT(get_status(c.agent_port, "/state", good, NULL, 0), 200);
    /* Open endpoints. */
    CHECK_INT(get_status(c.agent_port, "/health", NULL, NULL, 0), 200);
    CHECK_INT(get_status(c.agent_port, "/version", NULL, NULL, 0), 200);

    /* Executors are not asked for Basic credentials: a task runs to the end. */
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_PROTOBUF, NULL);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) == 0);
    struct itest_task t = {"t1", "true", 0.1, 32};
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, c.agent_id, &t, 1, 0), 202);
    CHECK_INT(
        itest_fw_wait_state(fw, "t1", MESOS__V1__TASK_STATE__TASK_FINISHED, ITEST_WAIT_MS, NULL),
        0);
    itest_fw_free(fw);
    free(good);
    free(wrong);
    free(unknown);
    itest_cluster_stop(&c);
}

static void test_agent_refuses_auth_flags_without_credentials(void)
{
    char dir[256], bin[512], work[300];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(work, sizeof work, "--work_dir=%s", dir);
    const char *variants[] = {"--authenticate_http_readonly", "--authenticate_http_readwrite"};
    for (size_t i = 0; i < 2; i++) {
        char *argv[] = {(char *)itest_bin("mesos-agent", bin, sizeof bin),
                        "--master=127.0.0.1:1",
                        "--ip=127.0.0.1",
                        "--port=0",
                        work,
                        (char *)variants[i],
                        NULL};
        int status = 0;
        char *out = NULL;
        REQUIRE(itest_run(argv, ITEST_WAIT_MS, &status, &out) == 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        CHECK(out && strstr(out, "--http_credentials") != NULL);
        free(out);
    }
    /* A --credential file that holds no credential. */
    char cred[300], f_cred[400];
    snprintf(cred, sizeof cred, "%s/empty.cred", dir);
    REQUIRE(write_file(cred, "") == 0);
    snprintf(f_cred, sizeof f_cred, "--credential=%s", cred);
    char *argv[] = {(char *)itest_bin("mesos-agent", bin, sizeof bin),
                    "--master=127.0.0.1:1",
                    "--ip=127.0.0.1",
                    "--port=0",
                    work,
                    f_cred,
                    NULL};
    int status = 0;
    char *out = NULL;
    REQUIRE(itest_run(argv, ITEST_WAIT_MS, &status, &out) == 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    CHECK(out && strstr(out, "credential") != NULL);
    free(out);
}

/* Writes the master's accepted credentials and the agent's and framework's own files. */
struct files {
    char dir[256];
    char master_creds[300], agent_cred[300], agent_bad[300];
    char f_creds[400], f_agent_cred[400], f_agent_bad[400];
};

static int make_files(struct files *f)
{
    if (itest_tmpdir(f->dir, sizeof f->dir) != 0)
        return -1;
    snprintf(f->master_creds, sizeof f->master_creds, "%s/credentials", f->dir);
    snprintf(f->agent_cred, sizeof f->agent_cred, "%s/agent.cred", f->dir);
    snprintf(f->agent_bad, sizeof f->agent_bad, "%s/agent-bad.cred", f->dir);
    /* Mesos's text format for the set, its JSON format for the agent's one credential. */
    if (write_file(f->master_creds, "agent-p agent-s\nfw-p fw-s\n") != 0 ||
        write_file(f->agent_cred, "{\"principal\": \"agent-p\", \"secret\": \"agent-s\"}") != 0 ||
        write_file(f->agent_bad, "agent-p wrong-secret\n") != 0)
        return -1;
    snprintf(f->f_creds, sizeof f->f_creds, "--credentials=%s", f->master_creds);
    snprintf(f->f_agent_cred, sizeof f->f_agent_cred, "--credential=%s", f->agent_cred);
    snprintf(f->f_agent_bad, sizeof f->f_agent_bad, "--credential=%s", f->agent_bad);
    return 0;
}

static int agents_in_state(int master_port)
{
    json_t *st = itest_get_json(master_port, "/master/state");
    if (!st)
        return -1;
    int n = (int)json_array_size(json_object_get(st, "slaves"));
    json_decref(st);
    return n;
}

static int spawn_agent(struct itest_proc *p, const struct itest_cluster *c, const char *name,
                       const char *cred_flag)
{
    char bin[512], f_master[128], f_work[400], log[400], work[350];
    snprintf(f_master, sizeof f_master, "--master=%s", c->master_addr);
    snprintf(work, sizeof work, "%s/%s", c->dir, name);
    snprintf(f_work, sizeof f_work, "--work_dir=%s", work);
    snprintf(log, sizeof log, "%s/%s.log", c->dir, name);
    char *argv[] = {(char *)itest_bin("mesos-agent", bin, sizeof bin),
                    f_master,
                    "--ip=127.0.0.1",
                    "--port=0",
                    f_work,
                    "--resources=cpus:1;mem:256;disk:256",
                    "--registration_backoff_factor=100ms",
                    (char *)cred_flag,
                    NULL};
    return itest_proc_spawn(p, name, argv, log);
}

static void test_agent_registers_only_with_its_credential(void)
{
    struct files f;
    REQUIRE(make_files(&f) == 0);
    const char *master_flags[] = {"--authenticate_agents", f.f_creds, NULL};
    struct itest_cluster_opts co = {.master_flags = master_flags, .no_agent = 1};
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, &co) == 0);

    /* Without a credential, and with a wrong secret: refused, never listed. */
    struct itest_proc anon, bad, good;
    REQUIRE(spawn_agent(&anon, &c, "anon", NULL) == 0);
    REQUIRE(spawn_agent(&bad, &c, "bad", f.f_agent_bad) == 0);
    /* Both tried and were refused (each says so in its log): how soon depends on the machine's
     * load (a fixed 2.5 s was missed under ASan at load 25), so poll toward the deadline. */
    static const char *const names[] = {"anon", "bad"};
    for (size_t i = 0; i < 2; i++) {
        char log[400];
        snprintf(log, sizeof log, "%s/%s.log", c.dir, names[i]);
        char *text = NULL;
        for (int waited = 0; waited < ITEST_WAIT_MS; waited += 100) {
            text = itest_read_file(log, NULL);
            if (text && strstr(text, "refused this agent's registration (401)"))
                break;
            free(text);
            text = NULL;
            sleep_ms(100);
        }
        if (!text)
            fprintf(stderr, "the %s agent did not log its refusal\n", names[i]);
        CHECK(text != NULL);
        free(text);
    }
    CHECK_INT(agents_in_state(c.master_port), 0);

    /* With its credential: registered. */
    REQUIRE(spawn_agent(&good, &c, "good", f.f_agent_cred) == 0);
    int n = 0;
    for (int i = 0; i < 100 && (n = agents_in_state(c.master_port)) < 1; i++)
        sleep_ms(100);
    CHECK_INT(n, 1);
    /* ... and the other two still are not. */
    sleep_ms(500);
    CHECK_INT(agents_in_state(c.master_port), 1);
    itest_proc_stop(&anon);
    itest_proc_stop(&bad);
    itest_proc_stop(&good);
    itest_cluster_stop(&c);
}

static int run_execute(const struct itest_cluster *c, const char *name, const char *principal,
                       const char *secret, char **out)
{
    char bin[512], f_master[128], f_name[64], f_p[128], f_s[128];
    snprintf(f_master, sizeof f_master, "--master=%s", c->master_addr);
    snprintf(f_name, sizeof f_name, "--name=%s", name);
    char *argv[10];
    int n = 0;
    argv[n++] = (char *)itest_bin("mesos-execute", bin, sizeof bin);
    argv[n++] = f_master;
    argv[n++] = f_name;
    argv[n++] = "--command=true";
    argv[n++] = "--resources=cpus:0.1;mem:32";
    argv[n++] = "--connect_timeout=4secs";
    if (principal) {
        snprintf(f_p, sizeof f_p, "--principal=%s", principal);
        argv[n++] = f_p;
    }
    if (secret) {
        snprintf(f_s, sizeof f_s, "--secret=%s", secret);
        argv[n++] = f_s;
    }
    argv[n] = NULL;
    int status = 0;
    if (itest_run(argv, ITEST_WAIT_MS, &status, out) != 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void test_mesos_execute_authenticates(void)
{
    struct files f;
    REQUIRE(make_files(&f) == 0);
    const char *master_flags[] = {"--authenticate_agents", "--authenticate_frameworks", f.f_creds,
                                  NULL};
    const char *agent_flags[] = {f.f_agent_cred, NULL};
    struct itest_cluster_opts co = {.master_flags = master_flags, .agent_flags = agent_flags};
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, &co) == 0);

    char *out = NULL;
    CHECK_INT(run_execute(&c, "authed", "fw-p", "fw-s", &out), 0);
    CHECK(out && strstr(out, "TASK_FINISHED") != NULL);
    if (!out || !strstr(out, "TASK_FINISHED"))
        fprintf(stderr, "mesos-execute said:\n%s\n", out ? out : "");
    free(out);
    out = NULL;
    CHECK(run_execute(&c, "wrong", "fw-p", "nope", &out) != 0);
    CHECK(out && strstr(out, "TASK_FINISHED") == NULL);
    free(out);
    out = NULL;
    CHECK(run_execute(&c, "anon", NULL, NULL, &out) != 0);
    CHECK(out && strstr(out, "TASK_FINISHED") == NULL);
    free(out);
    itest_cluster_stop(&c);
}

/* ---- clients seen from a fake master: what they send, independently of the master ---- */

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Accepts one connection and reads its request line and headers into buf. */
static int read_request(int lfd, char *buf, size_t cap, int timeout_ms)
{
    struct pollfd p = {lfd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1)
        return -1;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return -1;
    size_t n = 0;
    buf[0] = '\0';
    while (n + 1 < cap && !strstr(buf, "\r\n\r\n")) {
        struct pollfd q = {fd, POLLIN, 0};
        if (poll(&q, 1, timeout_ms) != 1)
            break;
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
    }
    close(fd);
    return strstr(buf, "\r\n\r\n") ? 0 : -1;
}

static void test_clients_send_basic_credentials(void)
{
    char dir[256];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    int port = 0;
    int lfd = listen_any(&port);
    REQUIRE(lfd >= 0);
    char master[64], f_master[80], log[300], bin[512], req[8192];
    snprintf(master, sizeof master, "127.0.0.1:%d", port);
    snprintf(f_master, sizeof f_master, "--master=%s", master);
    char *want = basic("fw-p", "fw-s");
    char line[300];
    snprintf(line, sizeof line, "Authorization: %s\r\n", want);
    free(want);

    /* mesos-execute: SUBSCRIBE to /api/v1/scheduler with Basic, principal in FrameworkInfo. */
    struct itest_proc ex;
    snprintf(log, sizeof log, "%s/execute.log", dir);
    char *argv[] = {(char *)itest_bin("mesos-execute", bin, sizeof bin),
                    f_master,
                    "--name=t",
                    "--command=true",
                    "--principal=fw-p",
                    "--secret=fw-s",
                    "--connect_timeout=10secs",
                    NULL};
    REQUIRE(itest_proc_spawn(&ex, "mesos-execute", argv, log) == 0);
    CHECK_INT(read_request(lfd, req, sizeof req, ITEST_WAIT_MS), 0);
    CHECK(strncmp(req, "POST /api/v1/scheduler ", 23) == 0);
    if (!strstr(req, line))
        fprintf(stderr, "request without '%s':\n%s\n", line, req);
    CHECK(strstr(req, line) != NULL);
    itest_proc_stop(&ex);

    /* mesos-agent --credential: REGISTER to /master/api/v1/agent with Basic. */
    char cred[300], f_cred[400], f_work[400];
    snprintf(cred, sizeof cred, "%s/agent.cred", dir);
    REQUIRE(write_file(cred, "fw-p fw-s\n") == 0);
    snprintf(f_cred, sizeof f_cred, "--credential=%s", cred);
    snprintf(f_work, sizeof f_work, "--work_dir=%s/agent", dir);
    snprintf(log, sizeof log, "%s/agent.log", dir);
    struct itest_proc ag;
    char *aargv[] = {(char *)itest_bin("mesos-agent", bin, sizeof bin),
                     f_master,
                     "--ip=127.0.0.1",
                     "--port=0",
                     f_work,
                     "--resources=cpus:1;mem:256;disk:256",
                     f_cred,
                     NULL};
    REQUIRE(itest_proc_spawn(&ag, "mesos-agent", aargv, log) == 0);
    CHECK_INT(read_request(lfd, req, sizeof req, ITEST_WAIT_MS), 0);
    CHECK(strncmp(req, "POST /master/api/v1/agent ", 26) == 0);
    if (!strstr(req, line))
        fprintf(stderr, "request without '%s':\n%s\n", line, req);
    CHECK(strstr(req, line) != NULL);
    itest_proc_stop(&ag);
    close(lfd);
}

ITEST_MAIN(TEST(test_agent_endpoints_need_credentials), TEST(test_clients_send_basic_credentials),
           TEST(test_agent_refuses_auth_flags_without_credentials),
           TEST(test_agent_registers_only_with_its_credential),
           TEST(test_mesos_execute_authenticates))
