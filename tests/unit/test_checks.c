/* test_checks.c: the shared health check / check validation (src/common/checks.h). */
#include <math.h>
#include <string.h>

#include "checks.h"
#include "errors.h"
#include "test.h"

static void test_health_check(void)
{
    char why[512];
    Mesos__V1__HealthCheck hc = MESOS__V1__HEALTH_CHECK__INIT;
    Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
    Mesos__V1__HealthCheck__TCPCheckInfo tcp = MESOS__V1__HEALTH_CHECK__TCPCHECK_INFO__INIT;
    Mesos__V1__HealthCheck__HTTPCheckInfo http = MESOS__V1__HEALTH_CHECK__HTTPCHECK_INFO__INIT;

    CHECK_INT(cm_check_validate_health(NULL, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "health_check is missing");
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "health_check.type must be set to COMMAND, HTTP or TCP");

    /* COMMAND: the command and its value must be there; env names valid; no SECRETs. */
    hc.has_type = 1;
    hc.type = MESOS__V1__HEALTH_CHECK__TYPE__COMMAND;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "health_check.command must be set for a COMMAND check");
    hc.command = &cmd;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "health_check.command: command.value must be set");
    cmd.value = "true";
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), 0);
    Mesos__V1__Environment env = MESOS__V1__ENVIRONMENT__INIT;
    Mesos__V1__Environment__Variable var = MESOS__V1__ENVIRONMENT__VARIABLE__INIT;
    Mesos__V1__Environment__Variable *vars[] = {&var};
    env.variables = vars;
    env.n_variables = 1;
    cmd.environment = &env;
    var.name = "A=B";
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "health_check.command: command.environment.variables[0].name") == why);
    var.name = "A";
    var.has_type = 1;
    var.type = MESOS__V1__ENVIRONMENT__VARIABLE__TYPE__SECRET;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "SECRET") != NULL);
    var.type = MESOS__V1__ENVIRONMENT__VARIABLE__TYPE__VALUE;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), 0);

    /* Timings: negative, NaN and over a year are refused, naming the field. */
    hc.has_interval_seconds = 1;
    hc.interval_seconds = -1;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "health_check.interval_seconds") == why);
    hc.interval_seconds = NAN;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    hc.interval_seconds = 1;
    hc.has_grace_period_seconds = 1;
    hc.grace_period_seconds = 400 * 86400.0;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "grace_period_seconds") != NULL);
    hc.grace_period_seconds = 0;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), 0);

    /* TCP: port in 1..65535. */
    hc.type = MESOS__V1__HEALTH_CHECK__TYPE__TCP;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "health_check.tcp must be set for a TCP health check");
    hc.tcp = &tcp;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "health_check.tcp.port 0 is not in 1..65535");
    tcp.port = 65536;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    tcp.port = 8080;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), 0);

    /* HTTP: port, path shape and length, scheme, statuses. */
    hc.type = MESOS__V1__HEALTH_CHECK__TYPE__HTTP;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    hc.http = &http;
    http.port = 80;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), 0);
    http.path = "health";
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "health_check.http.path 'health' must start with '/'");
    http.path = "/a b";
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    static char longpath[CM_CHECK_MAX_PATH_LEN + 2];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[0] = '/';
    http.path = longpath;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "longer than") != NULL);
    http.path = "/ok";
    http.scheme = "https";
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "health_check.http.scheme 'https'") == why);
    http.scheme = "http";
    uint32_t statuses[] = {200, 700};
    http.statuses = statuses;
    http.n_statuses = 2;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "health_check.http.statuses[1] 700 is not an HTTP status");
    http.n_statuses = 1;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), 0);

    hc.type = (Mesos__V1__HealthCheck__Type)42;
    CHECK_INT(cm_check_validate_health(&hc, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "health_check.type 42 is not known");
}

static void test_check(void)
{
    char why[512];
    Mesos__V1__CheckInfo ci = MESOS__V1__CHECK_INFO__INIT;
    Mesos__V1__CheckInfo__Command cc = MESOS__V1__CHECK_INFO__COMMAND__INIT;
    Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
    Mesos__V1__CheckInfo__Http http = MESOS__V1__CHECK_INFO__HTTP__INIT;
    Mesos__V1__CheckInfo__Tcp tcp = MESOS__V1__CHECK_INFO__TCP__INIT;

    CHECK_INT(cm_check_validate_check(NULL, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "check is missing");
    CHECK_INT(cm_check_validate_check(&ci, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "check.type must be set to COMMAND, HTTP or TCP");
    ci.has_type = 1;
    ci.type = MESOS__V1__CHECK_INFO__TYPE__COMMAND;
    CHECK_INT(cm_check_validate_check(&ci, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "check.command must be set for a COMMAND check");
    ci.command = &cc;
    CHECK_INT(cm_check_validate_check(&ci, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "check.command.command must be set for a COMMAND check");
    cc.command = &cmd;
    CHECK_INT(cm_check_validate_check(&ci, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "check.command.command: command.value must be set");
    cmd.value = "true";
    CHECK_INT(cm_check_validate_check(&ci, why, sizeof why), 0);
    ci.has_timeout_seconds = 1;
    ci.timeout_seconds = -0.5;
    CHECK_INT(cm_check_validate_check(&ci, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "check.timeout_seconds") == why);
    ci.timeout_seconds = 1;

    ci.type = MESOS__V1__CHECK_INFO__TYPE__HTTP;
    CHECK_INT(cm_check_validate_check(&ci, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "check.http must be set for an HTTP check");
    ci.http = &http;
    CHECK_INT(cm_check_validate_check(&ci, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "check.http.port 0 is not in 1..65535");
    http.port = 8080;
    http.path = "x#y";
    CHECK_INT(cm_check_validate_check(&ci, why, sizeof why), CM_EINVAL);
    http.path = "/x";
    CHECK_INT(cm_check_validate_check(&ci, why, sizeof why), 0);

    ci.type = MESOS__V1__CHECK_INFO__TYPE__TCP;
    CHECK_INT(cm_check_validate_check(&ci, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "check.tcp must be set for a TCP check");
    ci.tcp = &tcp;
    tcp.port = 70000;
    CHECK_INT(cm_check_validate_check(&ci, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "check.tcp.port 70000 is not in 1..65535");
    tcp.port = 1;
    CHECK_INT(cm_check_validate_check(&ci, why, sizeof why), 0);
}

TEST_MAIN(TEST(test_health_check), TEST(test_check))
