/* test_executor_auth.c: the command executor's side of executor authentication: the token is
 * read from MESOS_EXECUTOR_AUTHENTICATION_TOKEN (absent or empty: none), and cleanup forgets it.
 * That it is sent as "Authorization: Bearer" and kept from the task is checked end to end by
 * itest_executor_authn. */
#include <string.h>

#include "errors.h"
#include "executor.h"
#include "test.h"

static void test_token_from_env(void)
{
    char *env[] = {"MESOS_FRAMEWORK_ID=fw-1",
                   "MESOS_EXECUTOR_ID=ex-1",
                   "MESOS_SLAVE_ID=ag-1",
                   "MESOS_AGENT_ENDPOINT=127.0.0.1:5051",
                   "MESOS_EXECUTOR_AUTHENTICATION_TOKEN=h.p.s",
                   NULL};
    struct cm_exec_env cfg;
    char why[256];
    REQUIRE(cm_exec_env_from_env(&cfg, env, why, sizeof why) == 0);
    CHECK_STR(cfg.authentication_token, "h.p.s");
    cm_exec_env_cleanup(&cfg);
    CHECK(cfg.authentication_token == NULL);

    env[4] = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN=";
    REQUIRE(cm_exec_env_from_env(&cfg, env, why, sizeof why) == 0);
    CHECK(cfg.authentication_token == NULL);
    cm_exec_env_cleanup(&cfg);

    env[4] = NULL;
    REQUIRE(cm_exec_env_from_env(&cfg, env, why, sizeof why) == 0);
    CHECK(cfg.authentication_token == NULL);
    cm_exec_env_cleanup(&cfg);
}

TEST_MAIN(TEST(test_token_from_env))
