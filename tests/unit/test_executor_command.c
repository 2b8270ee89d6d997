/* Unit tests of the command runner: argv and environment construction, exit descriptions,
 * and real child processes (no sockets) reaped and killed on a libevent loop. */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "command.h"
#include "errors.h"
#include "test.h"

static Mesos__V1__CommandInfo shell_cmd(const char *value)
{
    Mesos__V1__CommandInfo c = MESOS__V1__COMMAND_INFO__INIT;
    c.value = (char *)value;
    return c; /* has_shell unset: the proto default, shell=true */
}

static void test_argv_shell(void)
{
    Mesos__V1__CommandInfo c = shell_cmd("echo hi; exit 2");
    char **argv, why[256];
    REQUIRE(cm_command_argv(&c, &argv, why, sizeof why) == 0);
    CHECK_STR(argv[0], "/bin/sh");
    CHECK_STR(argv[1], "-c");
    CHECK_STR(argv[2], "echo hi; exit 2");
    CHECK(argv[3] == NULL);
    cm_command_strv_free(argv);

    /* shell=true ignores arguments. */
    char *args[] = {"x", "y"};
    c.has_shell = 1;
    c.shell = 1;
    c.n_arguments = 2;
    c.arguments = args;
    REQUIRE(cm_command_argv(&c, &argv, why, sizeof why) == 0);
    CHECK_STR(argv[0], "/bin/sh");
    CHECK(argv[3] == NULL);
    cm_command_strv_free(argv);
}

static void test_argv_exec(void)
{
    char *args[] = {"ls", "-l", "/tmp"};
    Mesos__V1__CommandInfo c = shell_cmd("/bin/ls");
    char **argv, why[256];
    c.has_shell = 1;
    c.shell = 0;
    c.n_arguments = 3;
    c.arguments = args;
    REQUIRE(cm_command_argv(&c, &argv, why, sizeof why) == 0);
    CHECK_STR(argv[0], "ls");
    CHECK_STR(argv[1], "-l");
    CHECK_STR(argv[2], "/tmp");
    CHECK(argv[3] == NULL);
    cm_command_strv_free(argv);

    c.n_arguments = 0;
    REQUIRE(cm_command_argv(&c, &argv, why, sizeof why) == 0);
    CHECK_STR(argv[0], "/bin/ls");
    CHECK(argv[1] == NULL);
    cm_command_strv_free(argv);

    c.value = NULL;
    CHECK_INT(cm_command_argv(&c, &argv, why, sizeof why), CM_EINVAL);
    CHECK(argv == NULL);
    CHECK(strstr(why, "command.value") != NULL);
}

static void test_env_overlay(void)
{
    char *base[] = {"A=1", "B=2", "PATH=/bin", NULL};
    Mesos__V1__Environment__Variable vb = MESOS__V1__ENVIRONMENT__VARIABLE__INIT;
    Mesos__V1__Environment__Variable vc = MESOS__V1__ENVIRONMENT__VARIABLE__INIT;
    Mesos__V1__Environment__Variable *vars[] = {&vb, &vc};
    Mesos__V1__Environment env = MESOS__V1__ENVIRONMENT__INIT;
    char **out, why[256];
    vb.name = "B";
    vb.value = "three=3";
    vc.name = "C";
    vc.value = "4";
    env.n_variables = 2;
    env.variables = vars;
    REQUIRE(cm_command_envp(base, &env, &out, why, sizeof why) == 0);
    CHECK_STR(out[0], "A=1");
    CHECK_STR(out[1], "B=three=3");
    CHECK_STR(out[2], "PATH=/bin");
    CHECK_STR(out[3], "C=4");
    CHECK(out[4] == NULL);
    cm_command_strv_free(out);

    /* No environment at all: a plain copy. */
    REQUIRE(cm_command_envp(base, NULL, &out, why, sizeof why) == 0);
    CHECK_STR(out[2], "PATH=/bin");
    CHECK(out[3] == NULL);
    cm_command_strv_free(out);

    vc.has_type = 1;
    vc.type = MESOS__V1__ENVIRONMENT__VARIABLE__TYPE__SECRET;
    CHECK_INT(cm_command_envp(base, &env, &out, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "SECRET") != NULL);
    CHECK(strstr(why, "'C'") != NULL);

    vc.has_type = 0;
    vc.name = "X=Y";
    CHECK_INT(cm_command_envp(base, &env, &out, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "variables[1].name") != NULL);
}

static void test_describe_exit(void)
{
    char buf[128];
    cm_command_describe_exit(0, buf, sizeof buf);
    CHECK_STR(buf, "Command exited with status 0");
    cm_command_describe_exit(3 << 8, buf, sizeof buf);
    CHECK_STR(buf, "Command exited with status 3");
    cm_command_describe_exit(SIGKILL, buf, sizeof buf);
    CHECK_STR(buf, "Command terminated with signal Killed");
    cm_command_describe_exit(SIGTERM, buf, sizeof buf);
    CHECK_STR(buf, "Command terminated with signal Terminated");
}

/* ---- real processes -------------------------------------------------------------------- */

struct run {
    struct event_base *base;
    int status;
    int done;
};

static void on_exit_cb(void *arg, int status)
{
    struct run *r = arg;
    r->status = status;
    r->done++;
    event_base_loopbreak(r->base);
}

/* Runs the loop until the command exits or 10 s pass. */
static void wait_exit(struct run *r)
{
    struct timeval limit = {10, 0};
    event_base_loopexit(r->base, &limit);
    if (!r->done)
        event_base_dispatch(r->base);
}

static void test_run_exit_code(void)
{
    struct run r = {.base = event_base_new()};
    Mesos__V1__CommandInfo c = shell_cmd("exit 3");
    struct cm_command *cmd;
    char why[256];
    REQUIRE(r.base);
    REQUIRE(cm_command_start(r.base, &c, NULL, NULL, on_exit_cb, &r, &cmd, why, sizeof why) == 0);
    CHECK(cm_command_pid(cmd) > 0);
    wait_exit(&r);
    CHECK_INT(r.done, 1);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 3);
    cm_command_describe_exit(r.status, why, sizeof why);
    CHECK_STR(why, "Command exited with status 3");
    CHECK(!cm_command_kill_requested(cmd));
    cm_command_free(cmd);
    event_base_free(r.base);
}

static void test_run_env_cwd_pgid(void)
{
    struct run r = {.base = event_base_new()};
    /* The task sees the overlaid variable, runs in cwd and leads its own process group. */
    Mesos__V1__CommandInfo c =
        shell_cmd("test \"$FOO\" = bar && test \"$(pwd -P)\" = \"$(cd /tmp && pwd -P)\" && "
                  "test \"$(cut -d' ' -f5 /proc/$$/stat)\" = \"$$\"");
    char *envp[] = {"FOO=bar", "PATH=/usr/bin:/bin", NULL};
    struct cm_command *cmd;
    char why[256];
    REQUIRE(cm_command_start(r.base, &c, envp, "/tmp", on_exit_cb, &r, &cmd, why, sizeof why) == 0);
    wait_exit(&r);
    CHECK_INT(r.done, 1);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    cm_command_free(cmd);
    event_base_free(r.base);
}

static void test_exec_failure(void)
{
    struct run r = {.base = event_base_new()};
    Mesos__V1__CommandInfo c = shell_cmd("/nonexistent/program");
    char *args[] = {"program", "x"};
    struct cm_command *cmd = (struct cm_command *)1;
    char why[256] = "";
    c.has_shell = 1;
    c.shell = 0;
    c.n_arguments = 2;
    c.arguments = args;
    CHECK_INT(cm_command_start(r.base, &c, NULL, NULL, on_exit_cb, &r, &cmd, why, sizeof why),
              -ENOENT);
    CHECK(cmd == NULL);
    CHECK_STR(why, "Failed to execute '/nonexistent/program': No such file or directory");
    CHECK_INT(r.done, 0);

    /* A bad working directory is reported the same way. */
    c = shell_cmd("true");
    CHECK(cm_command_start(r.base, &c, NULL, "/nonexistent-dir", on_exit_cb, &r, &cmd, why,
                           sizeof why) != 0);
    CHECK(strstr(why, "No such file or directory") != NULL);
    event_base_free(r.base);
}

static void test_kill_sigterm(void)
{
    struct run r = {.base = event_base_new()};
    Mesos__V1__CommandInfo c = shell_cmd("sleep 30");
    struct cm_command *cmd;
    char why[256];
    REQUIRE(cm_command_start(r.base, &c, NULL, NULL, on_exit_cb, &r, &cmd, why, sizeof why) == 0);
    double t0 = cm_monotonic_secs();
    cm_command_kill(cmd, 5.0);
    CHECK(cm_command_kill_requested(cmd));
    wait_exit(&r);
    CHECK_INT(r.done, 1);
    CHECK(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM);
    CHECK(cm_monotonic_secs() - t0 < 2.0);
    cm_command_kill(cmd, 0); /* after exit: a no-op */
    cm_command_free(cmd);
    event_base_free(r.base);
}

static void test_kill_escalates_and_shortens(void)
{
    struct run r = {.base = event_base_new()};
    /* The shell and its sleep both ignore SIGTERM, so only the SIGKILL ends them. */
    Mesos__V1__CommandInfo c = shell_cmd("trap '' TERM; sleep 30");
    struct cm_command *cmd;
    char why[256];
    REQUIRE(cm_command_start(r.base, &c, NULL, NULL, on_exit_cb, &r, &cmd, why, sizeof why) == 0);
    usleep(200 * 1000); /* let the shell install its trap */
    double t0 = cm_monotonic_secs();
    cm_command_kill(cmd, 20.0);
    cm_command_kill(cmd, 0.3);  /* a second, shorter grace period wins */
    cm_command_kill(cmd, 10.0); /* a longer one does not postpone it */
    wait_exit(&r);
    double took = cm_monotonic_secs() - t0;
    CHECK_INT(r.done, 1);
    CHECK(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL);
    CHECK(took >= 0.25);
    CHECK(took < 3.0);
    cm_command_free(cmd);
    event_base_free(r.base);
}

TEST_MAIN(TEST(test_argv_shell), TEST(test_argv_exec), TEST(test_env_overlay),
          TEST(test_describe_exit), TEST(test_run_exit_code), TEST(test_run_env_cwd_pgid),
          TEST(test_exec_failure), TEST(test_kill_sigterm), TEST(test_kill_escalates_and_shortens))
