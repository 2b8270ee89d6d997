/* The sandbox layout, runs/latest, and ID validation before touching the file system. */
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "paths.h"
#include "test.h"

static void test_layout(void)
{
    const char *why = NULL;
    char *p = cm_paths_sandbox_dir("/w", "A-S0", "F-0000", "task1", "c1", &why);
    CHECK_STR(p, "/w/slaves/A-S0/frameworks/F-0000/executors/task1/runs/c1");
    free(p);
    p = cm_paths_executor_dir("/w", "A-S0", "F-0000", "task1", &why);
    CHECK_STR(p, "/w/slaves/A-S0/frameworks/F-0000/executors/task1");
    free(p);
    p = cm_paths_meta_dir("/w");
    CHECK_STR(p, "/w/meta");
    free(p);
}

static void test_bad_ids(void)
{
    const char *why = NULL;
    CHECK(cm_paths_sandbox_dir("/w", "A", "F", "../x", "c", &why) == NULL);
    CHECK(why != NULL);
    CHECK(cm_paths_sandbox_dir("/w", "A", "..", "e", "c", &why) == NULL);
    CHECK(cm_paths_sandbox_dir("/w", "A", "F", "e", "a/b", &why) == NULL);
    CHECK(cm_paths_sandbox_dir("/w", "", "F", "e", "c", &why) == NULL);
    CHECK(cm_paths_executor_dir("/w", "A", "F", "x\ny", &why) == NULL);

    char tmpl[] = "/tmp/cm_agent_paths_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != NULL);
    char *out = (char *)1;
    CHECK(cm_paths_create_sandbox(tmpl, "A", "F", "../../escape", "c", &out, &why) == CM_EINVAL);
    CHECK(out == NULL);
    char probe[PATH_MAX];
    snprintf(probe, sizeof probe, "%s/slaves", tmpl);
    struct stat st;
    CHECK(stat(probe, &st) != 0); /* nothing was created */
    rmdir(tmpl);
}

static void test_create_sandbox(void)
{
    char tmpl[] = "/tmp/cm_agent_paths_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != NULL);
    const char *why = NULL;
    char *dir = NULL;
    REQUIRE(cm_paths_create_sandbox(tmpl, "A-S0", "F-1", "t1", "c1", &dir, &why) == 0);
    struct stat st;
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    char link[PATH_MAX], target[PATH_MAX];
    snprintf(link, sizeof link, "%s/slaves/A-S0/frameworks/F-1/executors/t1/runs/latest", tmpl);
    ssize_t n = readlink(link, target, sizeof target - 1);
    REQUIRE(n > 0);
    target[n] = '\0';
    CHECK_STR(target, "c1");
    free(dir);
    /* A second run replaces the link. */
    REQUIRE(cm_paths_create_sandbox(tmpl, "A-S0", "F-1", "t1", "c2", &dir, &why) == 0);
    n = readlink(link, target, sizeof target - 1);
    REQUIRE(n > 0);
    target[n] = '\0';
    CHECK_STR(target, "c2");
    free(dir);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
    CHECK(system(cmd) == 0);
}

TEST_MAIN(TEST(test_layout), TEST(test_bad_ids), TEST(test_create_sandbox))
