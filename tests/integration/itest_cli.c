/*
 * itest_cli: the `mesos` CLI against a real master and agent (its operator API calls, the
 * agent's /state and /files/read for task logs), with tasks started by mesos-execute.
 * Covers the tables and --json of agent/framework/task list, task log (--lines, --file,
 * --follow), the agent actions (deactivate, reactivate, drain, gone) seen through agent list,
 * framework teardown, leader and state, MESOS_MASTER, a zk:// master when ZooKeeper is
 * installed, and the exit statuses of errors.
 */
#include "harness.h"
#include "harness_zk.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs `mesos ARGS...` (NULL-terminated) with --master=<c>; returns the exit status (-1 if it
 * did not exit) and the output in *out. */
static int cli(const char *master, char **out, ...)
{
    char bin[512], f_master[300];
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)itest_bin("mesos", bin, sizeof bin);
    if (master) {
        snprintf(f_master, sizeof f_master, "--master=%s", master);
        argv[n++] = f_master;
    }
    va_list ap;
    va_start(ap, out);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 15)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    int status = -1;
    *out = NULL;
    if (itest_run(argv, 30000, &status, out) != 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* One task through mesos-execute; 0 when it finished. */
static int execute(const struct itest_cluster *c, const char *name, const char *command)
{
    char bin[512], f_master[128], f_name[128], f_cmd[512];
    snprintf(f_master, sizeof f_master, "--master=%s", c->master_addr);
    snprintf(f_name, sizeof f_name, "--name=%s", name);
    snprintf(f_cmd, sizeof f_cmd, "--command=%s", command);
    char *argv[] = {(char *)itest_bin("mesos-execute", bin, sizeof bin),
                    f_master,
                    f_name,
                    f_cmd,
                    "--resources=cpus:0.1;mem:32",
                    NULL};
    int status = -1;
    char *out = NULL;
    int rc = itest_run(argv, 60000, &status, &out);
    free(out);
    return rc == 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static json_t *parse(const char *out)
{
    json_error_t e;
    json_t *j = out ? json_loads(out, 0, &e) : NULL;
    if (!j)
        fprintf(stderr, "not JSON: %s\n", out ? out : "(null)");
    return j;
}

/* The STATE column of the agent's row in `mesos agent list`. */
static void agent_state(const struct itest_cluster *c, char *state, size_t len)
{
    char *out = NULL;
    state[0] = '\0';
    if (cli(c->master_addr, &out, "agent", "list", NULL) == 0 && out) {
        const char *row = strstr(out, c->agent_id);
        char id[256], host[256], addr[256];
        if (row)
            sscanf(row, "%255s %255s %255s %63s", id, host, addr, state);
        (void)len;
    }
    free(out);
}

static void test_lists_and_logs(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    REQUIRE(execute(&c, "cli-log", "for i in 1 2 3 4 5; do echo out$i; done; echo oops >&2") == 0);
    char *out = NULL;

    CHECK_INT(cli(c.master_addr, &out, "agent", "list", NULL), 0);
    CHECK(out && strstr(out, "ID") && strstr(out, "STATE") && strstr(out, c.agent_id) &&
          strstr(out, "active") && strstr(out, "/2"));
    free(out);
    CHECK_INT(cli(c.master_addr, &out, "agent", "list", "--json", NULL), 0);
    json_t *j = parse(out);
    CHECK(j && json_array_size(json_object_get(j, "agents")) == 1);
    json_decref(j);
    free(out);

    /* The framework (mesos-execute) has finished: listed only with --all. */
    CHECK_INT(cli(c.master_addr, &out, "framework", "list", NULL), 0);
    CHECK(out && !strstr(out, "mesos-execute"));
    free(out);
    CHECK_INT(cli(c.master_addr, &out, "framework", "list", "--all", NULL), 0);
    CHECK(out && strstr(out, "completed"));
    free(out);

    CHECK_INT(cli(c.master_addr, &out, "task", "list", NULL), 0);
    CHECK(out && !strstr(out, "cli-log"));
    free(out);
    CHECK_INT(cli(c.master_addr, &out, "task", "list", "--all", NULL), 0);
    CHECK(out && strstr(out, "cli-log") && strstr(out, "TASK_FINISHED"));
    free(out);
    CHECK_INT(cli(c.master_addr, &out, "task", "list", "--all", "--json", NULL), 0);
    j = parse(out);
    CHECK(j && json_array_size(json_object_get(j, "completed_tasks")) == 1);
    json_decref(j);
    free(out);

    /* Logs: the last lines, the whole file, another file. */
    CHECK_INT(cli(c.master_addr, &out, "task", "log", "cli-log", "--lines=2", NULL), 0);
    CHECK(out && strcmp(out, "out4\nout5\n") == 0);
    if (out && strcmp(out, "out4\nout5\n") != 0)
        fprintf(stderr, "task log --lines=2 printed '%s'\n", out);
    free(out);
    CHECK_INT(cli(c.master_addr, &out, "task", "log", "cli-log", "--lines=-1", NULL), 0);
    CHECK(out && strcmp(out, "out1\nout2\nout3\nout4\nout5\n") == 0);
    free(out);
    CHECK_INT(cli(c.master_addr, &out, "task", "log", "cli-log", "--file=stderr", NULL), 0);
    CHECK(out && strstr(out, "oops\n"));
    free(out);
    CHECK_INT(cli(c.master_addr, &out, "task", "log", "cli-log", "--file=../x", NULL), 2);
    free(out);
    CHECK_INT(cli(c.master_addr, &out, "task", "log", "no-such-task", NULL), 1);
    CHECK(out && strstr(out, "no task 'no-such-task'"));
    free(out);

    /* MESOS_MASTER stands for --master. */
    setenv("MESOS_MASTER", c.master_addr, 1);
    CHECK_INT(cli(NULL, &out, "leader", NULL), 0);
    char port[32];
    snprintf(port, sizeof port, ":%d\n", c.master_port);
    CHECK(out && strstr(out, "address:") && strstr(out, port));
    free(out);
    unsetenv("MESOS_MASTER");
    CHECK_INT(cli(c.master_addr, &out, "state", NULL), 0);
    CHECK(out && strstr(out, "agents:     1 (1 active)") && strstr(out, "TASK_FINISHED 1"));
    free(out);
    CHECK_INT(cli(c.master_addr, &out, "state", "--json", NULL), 0);
    j = parse(out);
    CHECK(j && json_object_get(j, "get_agents") && json_object_get(j, "get_tasks"));
    json_decref(j);
    free(out);
    itest_cluster_stop(&c);
}

static void test_follow(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    /* mesos-execute runs the task in the background of this case: start it with a process. */
    char bin[512], f_master[128], log[300];
    snprintf(f_master, sizeof f_master, "--master=%s", c.master_addr);
    snprintf(log, sizeof log, "%s/execute.log", c.dir);
    char *argv[] = {(char *)itest_bin("mesos-execute", bin, sizeof bin),
                    f_master,
                    "--name=cli-follow",
                    "--command=for i in 1 2 3 4; do echo tick$i; sleep 0.4; done",
                    "--resources=cpus:0.1;mem:32",
                    NULL};
    struct itest_proc p;
    REQUIRE(itest_proc_spawn(&p, "mesos-execute", argv, log) == 0);
    /* Wait until the task runs, then follow it to its end. */
    char *out = NULL;
    for (int i = 0; i < 200; i++) {
        free(out);
        out = NULL;
        if (cli(c.master_addr, &out, "task", "list", NULL) == 0 && out &&
            strstr(out, "TASK_RUNNING"))
            break;
        usleep(50000);
    }
    free(out);
    CHECK_INT(cli(c.master_addr, &out, "task", "log", "cli-follow", "--follow", "--lines=-1", NULL),
              0);
    CHECK(out && strstr(out, "tick1\n") && strstr(out, "tick4\n"));
    if (!out || !strstr(out, "tick4\n"))
        fprintf(stderr, "task log --follow printed '%s'\n", out ? out : "(null)");
    free(out);
    int status = -1;
    CHECK(itest_proc_wait(&p, 30000, &status) == 0 && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0);
    itest_cluster_stop(&c);
}

static void test_agent_actions_and_teardown(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    char *out = NULL, state[64];
    CHECK_INT(cli(c.master_addr, &out, "agent", "deactivate", c.agent_id, NULL), 0);
    CHECK(out && strstr(out, "is deactivated"));
    free(out);
    agent_state(&c, state, sizeof state);
    CHECK_STR(state, "deactivated");
    /* By hostname: the only agent's hostname is unique. */
    CHECK_INT(cli(c.master_addr, &out, "agent", "list", "--json", NULL), 0);
    json_t *j = parse(out);
    free(out);
    const char *host = json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(j, "agents"), 0), "agent_info"),
        "hostname"));
    REQUIRE(host != NULL);
    CHECK_INT(cli(c.master_addr, &out, "agent", "reactivate", host, NULL), 0);
    free(out);
    json_decref(j);
    agent_state(&c, state, sizeof state);
    CHECK_STR(state, "active");
    CHECK_INT(cli(c.master_addr, &out, "agent", "drain", c.agent_id, "--max-grace-period=1", NULL),
              0);
    free(out);
    agent_state(&c, state, sizeof state);
    CHECK(strcmp(state, "draining") == 0 || strcmp(state, "drained") == 0);
    CHECK_INT(cli(c.master_addr, &out, "agent", "drain", "no-such-agent", NULL), 1);
    CHECK(out && strstr(out, "no registered agent"));
    free(out);
    CHECK_INT(cli(c.master_addr, &out, "agent", "gone", c.agent_id, NULL), 0);
    CHECK(out && strstr(out, "is marked gone"));
    free(out);
    CHECK_INT(cli(c.master_addr, &out, "agent", "list", NULL), 0);
    CHECK(out && !strstr(out, c.agent_id));
    free(out);
    /* Teardown of an id the master does not know: its 400 message, exit 1. */
    CHECK_INT(cli(c.master_addr, &out, "framework", "teardown", "no-such-framework", NULL), 1);
    CHECK(out && strstr(out, "400"));
    free(out);
    itest_cluster_stop(&c);
}

static void test_errors(void)
{
    char *out = NULL;
    unsetenv("MESOS_MASTER");
    CHECK_INT(cli(NULL, &out, "agent", "list", NULL), 2);
    CHECK(out && strstr(out, "MESOS_MASTER"));
    free(out);
    CHECK_INT(cli("127.0.0.1:1", &out, "agent", "list", NULL), 3);
    CHECK(out && strstr(out, "Cannot reach"));
    free(out);
    CHECK_INT(cli("127.0.0.1:1", &out, "agent", "fly", NULL), 2);
    free(out);
    CHECK_INT(cli("127.0.0.1:1", &out, "task", "list", "--bogus", NULL), 2);
    CHECK(out && strstr(out, "--bogus"));
    free(out);
    CHECK_INT(cli(NULL, &out, "--version", NULL), 0);
    CHECK(out && strncmp(out, "cmesos ", 7) == 0);
    free(out);
    CHECK_INT(cli(NULL, &out, "--help", NULL), 0);
    CHECK(out && strstr(out, "task log TASK"));
    free(out);
}

/* mesos-execute --tail prints the task's stdout after its status updates. */
static void test_execute_tail(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    char bin[512], f_master[128];
    snprintf(f_master, sizeof f_master, "--master=%s", c.master_addr);
    char *argv[] = {(char *)itest_bin("mesos-execute", bin, sizeof bin),
                    f_master,
                    "--name=cli-tail",
                    "--command=echo first; echo second",
                    "--resources=cpus:0.1;mem:32",
                    "--tail",
                    NULL};
    int status = -1;
    char *out = NULL;
    REQUIRE(itest_run(argv, 60000, &status, &out) == 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    const char *fin = out ? strstr(out, "TASK_FINISHED") : NULL;
    const char *hdr =
        out ? strstr(out, "---- stdout of task 'cli-tail' ----\nfirst\nsecond\n") : NULL;
    CHECK(fin && hdr && hdr > fin);
    if (!hdr)
        fprintf(stderr, "mesos-execute --tail printed:\n%s\n", out ? out : "(null)");
    free(out);
    itest_cluster_stop(&c);
}

static void test_zk_master(void)
{
    char why[256];
    if (!itest_zk_available(why, sizeof why))
        SKIP_CASE(why);
    struct itest_zk z = {0};
    REQUIRE(itest_zk_start(&z) == 0);
    char url[300], f_zk[320];
    itest_zk_url(&z, "/cli", url, sizeof url);
    snprintf(f_zk, sizeof f_zk, "--zk=%s", url);
    const char *flags[] = {f_zk, "--quorum=1", "--zk_session_timeout=2secs", NULL};
    struct itest_cluster c;
    struct itest_cluster_opts o = {.master_flags = flags, .no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    char *out = NULL;
    char port[32];
    snprintf(port, sizeof port, ":%d\n", c.master_port);
    int rc = -1;
    for (int i = 0; i < 100 && rc != 0; i++) { /* until elected */
        free(out);
        rc = cli(url, &out, "leader", NULL);
        if (rc)
            usleep(100000);
    }
    CHECK_INT(rc, 0);
    CHECK(out && strstr(out, port));
    free(out);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_lists_and_logs), TEST(test_follow), TEST(test_agent_actions_and_teardown),
           TEST(test_errors), TEST(test_execute_tail), TEST(test_zk_master))
