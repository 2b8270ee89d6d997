/*
 * test_sched_lib_credential.c: cm_scheduler_set_credential as a framework sees it (public
 * header only, the library linked alone): what it accepts and refuses, and that clearing and
 * replacing work on a scheduler that never starts (no sockets). That SUBSCRIBE carries the
 * Basic header is checked end to end by itest_agent_authn (mesos-execute against a fake and a
 * real master).
 */
#include <string.h>

#include "cmesos/scheduler.h"
#include "test.h"

static void test_set_credential(void)
{
    Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
    fi.user = "u";
    fi.name = "n";
    fi.principal = "fw-p";
    struct cm_scheduler_config cfg = {.master = "127.0.0.1:1", .framework_info = &fi};
    char why[256];
    struct cm_scheduler *s = cm_scheduler_new(&cfg, why, sizeof why);
    REQUIRE(s != NULL);
    CHECK_INT(cm_scheduler_set_credential(s, "fw-p", "fw-s"), 0);
    CHECK_INT(cm_scheduler_set_credential(s, "fw-p", "other"), 0); /* replaced */
    CHECK_INT(cm_scheduler_set_credential(s, "fw-p", ""), 0);      /* an empty secret is a secret */
    CHECK_INT(cm_scheduler_set_credential(s, NULL, NULL), 0);      /* cleared */
    CHECK_INT(cm_scheduler_set_credential(s, "", "s"), CM_SCHEDULER_EINVAL);
    CHECK_INT(cm_scheduler_set_credential(s, "a:b", "s"), CM_SCHEDULER_EINVAL);
    CHECK_INT(cm_scheduler_set_credential(s, "a\nb", "s"), CM_SCHEDULER_EINVAL);
    CHECK_INT(cm_scheduler_set_credential(s, "p", "s\r\nX-Injected: 1"), CM_SCHEDULER_EINVAL);
    CHECK_INT(cm_scheduler_set_credential(s, "p", NULL), CM_SCHEDULER_EINVAL);
    char long_principal[300];
    memset(long_principal, 'p', sizeof long_principal - 1);
    long_principal[sizeof long_principal - 1] = '\0';
    CHECK_INT(cm_scheduler_set_credential(s, long_principal, "s"), CM_SCHEDULER_EINVAL);
    cm_scheduler_free(s);
}

TEST_MAIN(TEST(test_set_credential))
