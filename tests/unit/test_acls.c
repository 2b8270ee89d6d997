/*
 * test_acls.c: the --acls parser and Mesos's local-authorizer evaluation (acls.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acls.h"
#include "errors.h"
#include "test.h"

static char why[512];
static int warnings;
static char last_warning[512];

static void sink_fn(void *arg, enum cm_log_level level, const char *module, const char *message)
{
    (void)arg;
    (void)module;
    if (level == CM_LOG_WARNING) {
        warnings++;
        snprintf(last_warning, sizeof last_warning, "%s", message);
    }
}
static const struct cm_log_sink sink = {sink_fn, NULL};

static struct cm_acls *parse(const char *text, int *rc)
{
    struct cm_acls *a = NULL;
    why[0] = '\0';
    *rc = cm_acls_parse(text, strlen(text), &a, &sink, why, sizeof why);
    return a;
}

static void test_defaults(void)
{
    int rc;
    struct cm_acls *a = parse("{}", &rc);
    REQUIRE(rc == 0 && a);
    CHECK(cm_acls_permissive(a));
    CHECK(cm_acls_allowed(a, CM_ACL_REGISTER_FRAMEWORK, "p", "r"));
    CHECK(cm_acls_allowed(a, CM_ACL_RUN_TASK, NULL, NULL));
    cm_acls_free(a);
    CHECK(cm_acls_allowed(NULL, CM_ACL_TEARDOWN_FRAMEWORK, NULL, NULL));
    CHECK(cm_acls_permissive(NULL));
    cm_acls_free(NULL);

    a = parse("{\"permissive\": false}", &rc);
    REQUIRE(rc == 0 && a);
    CHECK(!cm_acls_allowed(a, CM_ACL_REGISTER_FRAMEWORK, "p", "r"));
    CHECK(!cm_acls_allowed(a, CM_ACL_VIEW_FRAMEWORK, NULL, "u"));
    cm_acls_free(a);
}

/* The example from Mesos's authorization docs: only "foo" may register in role "a". */
static void test_first_match_wins(void)
{
    int rc;
    struct cm_acls *a = parse("{\"register_frameworks\": ["
                              "{\"principals\": {\"values\": [\"foo\"]}, \"roles\": {\"values\": "
                              "[\"a\"]}},"
                              "{\"principals\": {\"type\": \"ANY\"}, \"roles\": {\"values\": "
                              "[\"a\"]}, \"x\": 1}]}",
                              &rc);
    CHECK(a == NULL);
    CHECK(strstr(why, "register_frameworks[1].x: unknown field") != NULL);

    a = parse("{\"register_frameworks\": ["
              "{\"principals\": {\"values\": [\"foo\"]}, \"roles\": {\"values\": [\"a\"]}},"
              "{\"principals\": {\"type\": \"NONE\"}, \"roles\": {\"values\": [\"a\"]}}]}",
              &rc);
    REQUIRE(rc == 0 && a);
    CHECK_INT(cm_acls_rule_count(a, CM_ACL_REGISTER_FRAMEWORK), 2);
    CHECK(cm_acls_allowed(a, CM_ACL_REGISTER_FRAMEWORK, "foo", "a"));
    CHECK(!cm_acls_allowed(a, CM_ACL_REGISTER_FRAMEWORK, "bar", "a"));
    /* Unauthenticated (ANY) matches the NONE rule and is not allowed by it. */
    CHECK(!cm_acls_allowed(a, CM_ACL_REGISTER_FRAMEWORK, NULL, "a"));
    /* Other roles match no rule: permissive. */
    CHECK(cm_acls_allowed(a, CM_ACL_REGISTER_FRAMEWORK, "bar", "b"));
    /* Other actions are untouched. */
    CHECK(cm_acls_allowed(a, CM_ACL_RUN_TASK, "bar", "root"));
    cm_acls_free(a);
}

static void test_matrices(void)
{
    int rc;
    /* A rule naming a principal does not match an unauthenticated request (ANY vs SOME). */
    struct cm_acls *a = parse("{\"permissive\": false, \"run_tasks\": ["
                              "{\"principals\": {\"values\": [\"ops\"]}, \"users\": {\"type\": "
                              "\"ANY\"}}]}",
                              &rc);
    REQUIRE(rc == 0 && a);
    CHECK(cm_acls_allowed(a, CM_ACL_RUN_TASK, "ops", "root"));
    CHECK(cm_acls_allowed(a, CM_ACL_RUN_TASK, "ops", NULL));
    CHECK(!cm_acls_allowed(a, CM_ACL_RUN_TASK, "dev", "root"));
    CHECK(!cm_acls_allowed(a, CM_ACL_RUN_TASK, NULL, "root"));
    cm_acls_free(a);

    /* ANY subject, SOME object: a request without an object (ANY) does not match SOME. */
    a = parse("{\"permissive\": false, \"teardown_frameworks\": ["
              "{\"principals\": {\"type\": \"ANY\"}, \"framework_principals\": {\"values\": "
              "[\"fw\"]}}]}",
              &rc);
    REQUIRE(rc == 0 && a);
    CHECK(cm_acls_allowed(a, CM_ACL_TEARDOWN_FRAMEWORK, "x", "fw"));
    CHECK(cm_acls_allowed(a, CM_ACL_TEARDOWN_FRAMEWORK, NULL, "fw"));
    CHECK(!cm_acls_allowed(a, CM_ACL_TEARDOWN_FRAMEWORK, "x", "other"));
    CHECK(!cm_acls_allowed(a, CM_ACL_TEARDOWN_FRAMEWORK, "x", NULL));
    cm_acls_free(a);

    /* NONE object: matches everything, allows nothing, even in a permissive set. */
    a = parse("{\"view_frameworks\": [{\"principals\": {\"values\": [\"guest\"]}, "
              "\"users\": {\"type\": \"NONE\"}}]}",
              &rc);
    REQUIRE(rc == 0 && a);
    CHECK(!cm_acls_allowed(a, CM_ACL_VIEW_FRAMEWORK, "guest", "root"));
    CHECK(!cm_acls_allowed(a, CM_ACL_VIEW_FRAMEWORK, "guest", NULL));
    CHECK(cm_acls_allowed(a, CM_ACL_VIEW_FRAMEWORK, "admin", "root"));
    cm_acls_free(a);
}

static void test_hierarchical_roles(void)
{
    int rc;
    struct cm_acls *a = parse("{\"permissive\": false, \"register_frameworks\": ["
                              "{\"principals\": {\"values\": [\"eng\"]}, \"roles\": {\"values\": "
                              "[\"eng/%\", \"shared\"]}}]}",
                              &rc);
    REQUIRE(rc == 0 && a);
    CHECK_INT(cm_acls_rule_count(a, CM_ACL_REGISTER_FRAMEWORK), 2);
    CHECK(cm_acls_allowed(a, CM_ACL_REGISTER_FRAMEWORK, "eng", "eng/web"));
    CHECK(cm_acls_allowed(a, CM_ACL_REGISTER_FRAMEWORK, "eng", "eng/web/a"));
    CHECK(!cm_acls_allowed(a, CM_ACL_REGISTER_FRAMEWORK, "eng", "eng"));
    CHECK(!cm_acls_allowed(a, CM_ACL_REGISTER_FRAMEWORK, "eng", "engineering"));
    CHECK(cm_acls_allowed(a, CM_ACL_REGISTER_FRAMEWORK, "eng", "shared"));
    CHECK(!cm_acls_allowed(a, CM_ACL_REGISTER_FRAMEWORK, "ops", "eng/web"));
    cm_acls_free(a);

    /* "%" is plain for non-role objects. */
    a = parse("{\"permissive\": false, \"run_tasks\": ["
              "{\"principals\": {\"type\": \"ANY\"}, \"users\": {\"values\": [\"a/%\"]}}]}",
              &rc);
    REQUIRE(rc == 0 && a);
    CHECK(!cm_acls_allowed(a, CM_ACL_RUN_TASK, "p", "a/b"));
    CHECK(cm_acls_allowed(a, CM_ACL_RUN_TASK, "p", "a/%"));
    cm_acls_free(a);
}

static void test_unenforced_and_unknown(void)
{
    int rc;
    warnings = 0;
    struct cm_acls *a = parse("{\"launch_nested_containers_as_user\": [{\"principals\": "
                              "{\"type\": \"ANY\"}, \"users\": {\"type\": \"ANY\"}}],"
                              "\"reserve_resources\": []}",
                              &rc);
    REQUIRE(rc == 0 && a);
    CHECK_INT(warnings, 1);
    CHECK(strstr(last_warning, "launch_nested_containers_as_user") != NULL);
    cm_acls_free(a);

    /* Rules of unenforced actions are still validated. */
    CHECK(parse("{\"prune_images\": [{\"principals\": {\"type\": \"ANY\"}}]}", &rc) == NULL);
    CHECK(strstr(why, "prune_images[0].images: missing") != NULL);

    CHECK(parse("{\"register_framework\": []}", &rc) == NULL);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(strstr(why, "register_framework") != NULL);
}

static void test_errors(void)
{
    int rc;
    CHECK(parse("[]", &rc) == NULL);
    CHECK(parse("{\"permissive\": \"no\"}", &rc) == NULL);
    CHECK(strstr(why, "permissive") != NULL);
    CHECK(parse("{\"run_tasks\": {}}", &rc) == NULL);
    CHECK(strstr(why, "run_tasks: expected an array") != NULL);
    CHECK(parse("{\"run_tasks\": [{\"principals\": {\"type\": \"ALL\"}, \"users\": {}}]}", &rc) ==
          NULL);
    CHECK(strstr(why, "run_tasks[0].principals.type") != NULL);
    CHECK(parse("{\"run_tasks\": [{\"principals\": {\"values\": [1]}, \"users\": {}}]}", &rc) ==
          NULL);
    CHECK(strstr(why, "run_tasks[0].principals.values[0]") != NULL);
    CHECK(parse("{\"run_tasks\": [{\"principals\": {}, \"roles\": {}}]}", &rc) == NULL);
    CHECK(strstr(why, "run_tasks[0].roles: unknown field") != NULL);
    CHECK(parse("{\"run_tasks\": [{\"principals\": {}}]}", &rc) == NULL);
    CHECK(strstr(why, "run_tasks[0].users: missing") != NULL);
    CHECK(parse("{\"run_tasks\": [1]}", &rc) == NULL);
    CHECK(parse("{\"run_tasks\": [", &rc) == NULL);
    CHECK_INT(rc, CM_EPARSE);
    CHECK(parse("{\"permissive\": true, \"permissive\": false}", &rc) == NULL);
    CHECK(parse("{\"get_endpoints\": [{\"principals\": {\"values\": [\"\"]}, \"paths\": {}}]}",
                &rc) == NULL);
    CHECK(strstr(why, "get_endpoints[0].principals.values[0]") != NULL);

    struct cm_acls *a = NULL;
    CHECK_INT(cm_acls_parse("{}", CM_ACLS_MAX_TEXT + 1, &a, NULL, why, sizeof why), CM_ETOOBIG);
}

static void test_load(void)
{
    struct cm_acls *a = NULL;
    /* Inline JSON. */
    CHECK_INT(cm_acls_load("  {\"permissive\": false}", &a, NULL, why, sizeof why), 0);
    CHECK(a && !cm_acls_permissive(a));
    cm_acls_free(a);

    char path[] = "/tmp/test_acls.XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    const char *text = "{\"get_endpoints\": [{\"principals\": {\"values\": [\"ops\"]}, "
                       "\"paths\": {\"values\": [\"/flags\"]}}], \"permissive\": false}";
    REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "file://%s", path);
    a = NULL;
    CHECK_INT(cm_acls_load(url, &a, NULL, why, sizeof why), 0);
    CHECK(a && cm_acls_allowed(a, CM_ACL_GET_ENDPOINT, "ops", "/flags"));
    CHECK(a && !cm_acls_allowed(a, CM_ACL_GET_ENDPOINT, "dev", "/flags"));
    cm_acls_free(a);
    unlink(path);
    a = NULL;
    CHECK(cm_acls_load(path, &a, NULL, why, sizeof why) != 0);
    CHECK(strstr(why, path) != NULL);
    CHECK_STR(cm_acls_action_name(CM_ACL_VIEW_EXECUTOR), "view_executors");
}

TEST_MAIN(TEST(test_defaults), TEST(test_first_match_wins), TEST(test_matrices),
          TEST(test_hierarchical_roles), TEST(test_unenforced_and_unknown), TEST(test_errors),
          TEST(test_load))
