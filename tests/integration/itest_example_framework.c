/*
 * itest_example_framework: the example framework (built on libscheduler) runs to completion
 * against a real cluster and exits 0 (it exits 1 unless all its tasks finished).
 */
#include "harness.h"

#include <string.h>
#include <sys/wait.h>

static void test_example_framework(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    /* Usage: example-framework [master host:port] [number of tasks]. */
    char bin[512];
    char *argv[] = {(char *)itest_bin("example-framework", bin, sizeof bin), c.master_addr, "3",
                    NULL};
    int status = -1;
    char *out = NULL;
    int rc = itest_run(argv, 90000, &status, &out);
    CHECK_INT(rc, 0);
    CHECK(WIFEXITED(status));
    CHECK_INT(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
    if (rc || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "---- example-framework output ----\n%s\n----\n", out ? out : "(none)");
    free(out);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_example_framework))
