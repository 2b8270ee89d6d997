/*
 * itest_flags: the daemons' handling of Mesos's flags, from the outside (docs/flags.md).
 * The master refuses to start without --work_dir unless --registry=in_memory; a master that
 * cannot bind its port creates nothing on disk (no --work_dir, no log file); a flag with no
 * effect is warned about once in the log file, which is named mesos-master.INFO /
 * mesos-agent.INFO; a refused flag stops the daemon with a message saying what to use
 * instead; --version names cmesos and the Mesos API version; the agent's --no-hostname_lookup
 * advertises its IP.
 */
#include "harness.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Runs a daemon to completion (it is expected to exit at once). */
static int run_daemon(const char *prog, char **args, int *status, char **out)
{
    char bin[512];
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)itest_bin(prog, bin, sizeof bin);
    for (; *args && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    return itest_run(argv, 10000, status, out);
}

/* Waits for a --port_file to appear; returns the port or -1. */
static int wait_port(struct itest_proc *p, const char *path)
{
    for (int i = 0; i < 1000; i++) {
        char *txt = itest_read_file(path, NULL);
        if (txt) {
            int port = atoi(txt);
            free(txt);
            if (port > 0)
                return port;
        }
        if (!itest_proc_alive(p))
            return -1;
        usleep(10000);
    }
    return -1;
}

static void test_version(void)
{
    const char *progs[] = {"mesos-master", "mesos-agent"};
    for (size_t i = 0; i < 2; i++) {
        char *args[] = {"--version", NULL};
        int status = -1;
        char *out = NULL;
        REQUIRE(run_daemon(progs[i], args, &status, &out) == 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK(out && strncmp(out, "cmesos ", 7) == 0);
        CHECK(out && strstr(out, "(Mesos API 1.11.0)\n") != NULL);
        free(out);
    }
}

static void test_master_needs_work_dir(void)
{
    char dir[256], pf[300], arg_pf[320];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    char *args[] = {"--ip=127.0.0.1", "--port=0", NULL};
    int status = -1;
    char *out = NULL;
    REQUIRE(run_daemon("mesos-master", args, &status, &out) == 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    CHECK(out && strstr(out, "'work_dir' is required unless --registry=in_memory") != NULL);
    free(out);

    /* --registry=in_memory needs none, and serves. */
    snprintf(pf, sizeof pf, "%s/port", dir);
    snprintf(arg_pf, sizeof arg_pf, "--port_file=%s", pf);
    char bin[512], log[300];
    snprintf(log, sizeof log, "%s/master.log", dir);
    char *argv[] = {(char *)itest_bin("mesos-master", bin, sizeof bin),
                    "--ip=127.0.0.1",
                    "--port=0",
                    "--registry=in_memory",
                    arg_pf,
                    NULL};
    struct itest_proc p;
    REQUIRE(itest_proc_spawn(&p, "mesos-master", argv, log) == 0);
    int port = wait_port(&p, pf);
    CHECK(port > 0);
    if (port > 0) {
        json_t *st = itest_get_json(port, "/master/state");
        CHECK(st != NULL);
        json_decref(st);
    }
    itest_proc_stop(&p);
}

static void test_master_busy_port_creates_nothing(void)
{
    char dir[256];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sin;
    REQUIRE(bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(fd, 1) == 0 &&
            getsockname(fd, (struct sockaddr *)&sin, &sl) == 0);
    char a_port[32], a_work[320], a_log[320], work[300], logs[300], logf[320];
    snprintf(work, sizeof work, "%s/work", dir);
    snprintf(logs, sizeof logs, "%s/logs", dir);
    snprintf(logf, sizeof logf, "%s/mesos-master.INFO", logs);
    REQUIRE(mkdir(logs, 0755) == 0);
    snprintf(a_port, sizeof a_port, "--port=%d", ntohs(sin.sin_port));
    snprintf(a_work, sizeof a_work, "--work_dir=%s", work);
    snprintf(a_log, sizeof a_log, "--log_dir=%s", logs);
    char *args[] = {"--ip=127.0.0.1", a_port, a_work, a_log, NULL};
    int status = -1;
    char *out = NULL;
    int rc = run_daemon("mesos-master", args, &status, &out);
    close(fd);
    REQUIRE(rc == 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    CHECK(out && strstr(out, "Failed to bind") != NULL);
    CHECK(!exists(work));
    CHECK(!exists(logf));
    free(out);
}

static void test_no_effect_warned_in_log(void)
{
    struct itest_cluster c;
    char logs[300], logf[320], a_log[320];
    REQUIRE(itest_tmpdir(logs, sizeof logs) == 0);
    snprintf(a_log, sizeof a_log, "--log_dir=%s", logs);
    const char *flags[] = {a_log, "--logbufsecs=5", "--webui_dir=/usr/share/mesos/webui",
                           "--registry_strict=false", NULL};
    struct itest_cluster_opts o = {.master_flags = flags, .no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    snprintf(logf, sizeof logf, "%s/mesos-master.INFO", logs);
    char *text = itest_read_file(logf, NULL);
    REQUIRE(text != NULL);
    const char *w = strstr(text, "Flag '--logbufsecs' has no effect in cmesos: ");
    CHECK(w != NULL && strstr(w + 1, "Flag '--logbufsecs'") == NULL); /* once */
    CHECK(strstr(text, "Flag '--webui_dir' has no effect in cmesos") != NULL);
    CHECK(strstr(text, "Flag '--registry_strict' is accepted with no effect") != NULL);
    free(text);
    itest_cluster_stop(&c);
}

static void test_refused_and_unknown(void)
{
    char dir[256], a_work[300];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(a_work, sizeof a_work, "--work_dir=%s", dir);
    struct {
        const char *prog, *flag, *expect;
    } cases[] = {
        {"mesos-agent", "--containerizers=mesos,rkt", "unknown containerizer 'rkt'"},
        {"mesos-agent", "--isolation_typo=1", "unknown flag 'isolation_typo'"},
        {"mesos-agent", "--image_providers=docker", "needs the filesystem/linux isolator"},
        {"mesos-master", "--modules=/x.json", "cannot load Mesos modules"},
        {"mesos-master", "--nonsense", "unknown flag 'nonsense'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *args[] = {"--master=127.0.0.1:1", a_work, "--port=0", (char *)cases[i].flag, NULL};
        char **a = args;
        if (strcmp(cases[i].prog, "mesos-master") == 0)
            a = args + 1; /* no --master */
        int status = -1;
        char *out = NULL;
        REQUIRE(run_daemon(cases[i].prog, a, &status, &out) == 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        if (!out || !strstr(out, cases[i].expect)) {
            fprintf(stderr, "%s %s: got '%s'\n", cases[i].prog, cases[i].flag, out ? out : "");
            CHECK(0);
        }
        free(out);
    }
}

static void test_agent_accepts_mesos_containerizer(void)
{
    struct itest_cluster c;
    struct itest_cluster_opts o = {.no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    char dir[256], pf[300], a_pf[320], a_work[300], a_master[100], a_log[300], log[300], bin[512];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(pf, sizeof pf, "%s/agent.port", dir);
    snprintf(a_pf, sizeof a_pf, "--port_file=%s", pf);
    snprintf(a_work, sizeof a_work, "--work_dir=%s/work", dir);
    snprintf(a_log, sizeof a_log, "--log_dir=%s/logs", dir);
    snprintf(a_master, sizeof a_master, "--master=%s", c.master_addr);
    snprintf(log, sizeof log, "%s/agent.out", dir);
    char *argv[] = {(char *)itest_bin("mesos-agent", bin, sizeof bin),
                    "--ip=127.0.0.1",
                    "--port=0",
                    a_pf,
                    a_work,
                    a_master,
                    a_log,
                    "--containerizers=mesos",
                    "--docker_registry=https://registry-1.docker.io",
                    "--isolation=posix/cpu,posix/mem",
                    "--launcher=posix",
                    "--resources=cpus:1;mem:256;disk:256",
                    "--no-hostname_lookup",
                    NULL};
    struct itest_proc p;
    REQUIRE(itest_proc_spawn(&p, "mesos-agent", argv, log) == 0);
    int port = wait_port(&p, pf);
    CHECK(port > 0);
    /* --no-hostname_lookup: the agent advertises its IP as its hostname. */
    json_t *st = port > 0 ? itest_get_json(port, "/state") : NULL;
    CHECK(st && json_is_string(json_object_get(st, "hostname")) &&
          strcmp(json_string_value(json_object_get(st, "hostname")), "127.0.0.1") == 0);
    json_decref(st);
    char logf[320];
    snprintf(logf, sizeof logf, "%s/logs/mesos-agent.INFO", dir);
    /* The warnings follow the agent's start (and its port file) closely. */
    char *text = NULL;
    for (int i = 0; i < 500; i++) {
        free(text);
        text = itest_read_file(logf, NULL);
        if (text && strstr(text, "Flag '--docker_registry'"))
            break;
        usleep(10000);
    }
    CHECK(text && strstr(text, "Flag '--docker_registry' has no effect in cmesos") != NULL);
    /* --containerizers is implemented (the Docker containerizer): no warning for it. */
    CHECK(text && strstr(text, "Flag '--containerizers'") == NULL);
    free(text);
    itest_proc_stop(&p);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_version), TEST(test_master_needs_work_dir),
           TEST(test_master_busy_port_creates_nothing), TEST(test_no_effect_warned_in_log),
           TEST(test_refused_and_unknown), TEST(test_agent_accepts_mesos_containerizer))
