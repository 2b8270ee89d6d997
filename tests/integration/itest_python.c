/*
 * itest_python: Mesos's Python API end to end. examples/python/test_framework.py (a framework
 * written for Mesos's bindings, with its Python custom executor test_executor.py) runs against
 * a real master and agent through the mesos package in the build tree (PYTHONPATH=build/python):
 * via host:port with implicit acknowledgements, with explicit acknowledgements, and via a
 * zk:// master (ZooKeeper started by the harness). Each run launches five tasks on the custom
 * executor and exchanges framework messages holding a NUL byte both ways.
 *
 * test_every_driver_call runs tests/python/driver_calls_real_master.py: every scheduler driver
 * call, with a command task, must be accepted by the real master.
 *
 * A master without custom executor support answers TASK_ERROR; the framework then exits with 3
 * and the case is skipped with that reason (not passed).
 */
#include "harness.h"
#include "harness_zk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if !defined(CM_PYTHON) || !defined(CM_PYTHONPATH) || !defined(CM_PY_EXAMPLES) ||                  \
    !defined(CM_PY_TESTS)
#define CM_PY_MISSING 1
#define CM_PYTHON ""
#define CM_PYTHONPATH ""
#define CM_PY_EXAMPLES ""
#define CM_PY_TESTS ""
#endif

/* Runs a Python script (path) against master; returns its exit status (-1: did not exit). */
static int run_script(const char *script, const char *master, int explicit_acks, char **out)
{
    setenv("PYTHONPATH", CM_PYTHONPATH, 1);
    setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
    setenv("PYTHONUNBUFFERED", "1", 1);
#ifdef CM_PY_PRELOAD
    /* A sanitizer build: the interpreter must load the ASan runtime first (the framework hands
     * these on to its executor). */
    if (CM_PY_PRELOAD[0]) {
        setenv("LD_PRELOAD", CM_PY_PRELOAD, 1);
        setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
    }
#endif
    if (explicit_acks)
        setenv("MESOS_EXPLICIT_ACKNOWLEDGEMENTS", "1", 1);
    else
        unsetenv("MESOS_EXPLICIT_ACKNOWLEDGEMENTS");
    char *argv[] = {CM_PYTHON, (char *)script, (char *)master, NULL};
    int status = -1;
    *out = NULL;
    int rc = itest_run(argv, 90000, &status, out);
    unsetenv("LD_PRELOAD");
    if (rc != 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* Checks one finished run: every task finished, every echo received, the driver stopped. */
static int check_run(int rc, const char *out)
{
    if (rc == 3) {
        printf("%s\n", out ? out : "");
        return 3;
    }
    if (rc != 0 || !out || !strstr(out, "All tasks done, and all messages received") ||
        !strstr(out, "Received message 5: b'data with a \\x00 byte'") ||
        !strstr(out, "Driver ended with DRIVER_STOPPED")) {
        fprintf(stderr, "test_framework.py exited with %d:\n%s\n", rc, out ? out : "");
        return 1;
    }
    return 0;
}

static void require_python(void)
{
#ifdef CM_PY_MISSING
    TEST_SKIP("the mesos Python package is not built (python3-dev / protoc missing)");
#endif
}

/* 0 passed, 1 failed, 3 the master has no custom executors. */
static int run_case(const char *master, int explicit_acks)
{
    char *out = NULL;
    char script[512];
    snprintf(script, sizeof script, "%s/test_framework.py", CM_PY_EXAMPLES);
    int rc = run_script(script, master, explicit_acks, &out);
    int verdict = check_run(rc, out);
    free(out);
    return verdict;
}

#define NO_CUSTOM_EXECUTORS "the master refused the custom executor (no custom executor support)"

static void test_host_port_implicit_acks(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    int verdict = run_case(c.master_addr, 0);
    itest_cluster_stop(&c);
    if (verdict == 3)
        SKIP_CASE(NO_CUSTOM_EXECUTORS);
    CHECK_INT(verdict, 0);
}

static void test_host_port_explicit_acks(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    int verdict = run_case(c.master_addr, 1);
    itest_cluster_stop(&c);
    if (verdict == 3)
        SKIP_CASE(NO_CUSTOM_EXECUTORS);
    CHECK_INT(verdict, 0);
}

static void test_zk_master(void)
{
    char why[256];
    if (!itest_zk_available(why, sizeof why))
        SKIP_CASE(why);
    struct itest_zk z = {0};
    REQUIRE(itest_zk_start(&z) == 0);
    char url[300], f_zk[320];
    itest_zk_url(&z, "/pymesos", url, sizeof url);
    snprintf(f_zk, sizeof f_zk, "--zk=%s", url);
    const char *flags[] = {f_zk, "--quorum=1", "--zk_session_timeout=2secs", NULL};
    struct itest_cluster c;
    struct itest_cluster_opts o = {.master_flags = flags};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    int verdict = run_case(url, 0);
    itest_cluster_stop(&c);
    if (verdict == 3)
        SKIP_CASE(NO_CUSTOM_EXECUTORS);
    CHECK_INT(verdict, 0);
}

/* Every scheduler driver call against the real master, with a command task (no custom
 * executor needed): the master must accept each call as the driver encodes it. */
static void test_every_driver_call(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    char *out = NULL;
    int rc = run_script(CM_PY_TESTS "/driver_calls_real_master.py", c.master_addr, 0, &out);
    if (rc != 0 || !out || !strstr(out, "\nOK\n"))
        fprintf(stderr, "driver_calls_real_master.py exited with %d:\n%s\n", rc, out ? out : "");
    CHECK_INT(rc, 0);
    CHECK(out && strstr(out, "steps: registered launched running reconciled killed"));
    free(out);
    itest_cluster_stop(&c);
}

static void python_gate(void)
{
    require_python();
}

ITEST_MAIN(FIXTURE(python_gate), TEST(test_every_driver_call), TEST(test_host_port_implicit_acks),
           TEST(test_host_port_explicit_acks), TEST(test_zk_master))
