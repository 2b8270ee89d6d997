/*
 * itest_mesos_execute: the mesos-execute CLI against a real cluster: --count=3 'echo hi'
 * exits 0 after three TASK_FINISHED; 'exit 3' exits non-zero and says why.
 */
#include "harness.h"

#include <string.h>
#include <sys/wait.h>

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static int run_execute(const struct itest_cluster *c, const char *name, const char *command,
                       const char *count, char **out)
{
    char bin[512], f_master[128], f_name[128], f_cmd[256], f_count[64];
    snprintf(f_master, sizeof f_master, "--master=%s", c->master_addr);
    snprintf(f_name, sizeof f_name, "--name=%s", name);
    snprintf(f_cmd, sizeof f_cmd, "--command=%s", command);
    snprintf(f_count, sizeof f_count, "--count=%s", count);
    char *argv[] = {(char *)itest_bin("mesos-execute", bin, sizeof bin),
                    f_master,
                    f_name,
                    f_cmd,
                    f_count,
                    "--resources=cpus:0.1;mem:32",
                    NULL};
    int status = -1;
    int rc = itest_run(argv, 60000, &status, out);
    if (rc) {
        fprintf(stderr, "mesos-execute did not finish: %d\n", rc);
        return -1;
    }
    if (!WIFEXITED(status)) {
        fprintf(stderr, "mesos-execute died with wait status 0x%x\n", status);
        return -1;
    }
    return WEXITSTATUS(status);
}

static void test_execute_ok(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    char *out = NULL;
    int code = run_execute(&c, "itest-exec", "echo hi", "3", &out);
    CHECK_INT(code, 0);
    CHECK(out && count_of(out, "TASK_FINISHED") >= 3);
    if (code != 0 || !out || count_of(out, "TASK_FINISHED") < 3)
        fprintf(stderr, "---- mesos-execute output ----\n%s\n----\n", out ? out : "(none)");
    free(out);
    itest_cluster_stop(&c);
}

static void test_execute_failure(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    char *out = NULL;
    int code = run_execute(&c, "itest-exec-fail", "exit 3", "1", &out);
    CHECK(code > 0);
    CHECK(out && strstr(out, "TASK_FAILED") != NULL);
    CHECK(out && strstr(out, "Command exited with status 3") != NULL);
    if (code <= 0 || !out || !strstr(out, "Command exited with status 3"))
        fprintf(stderr, "---- mesos-execute output ----\n%s\n----\n", out ? out : "(none)");
    free(out);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_execute_ok), TEST(test_execute_failure))
