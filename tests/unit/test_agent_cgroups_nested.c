/*
 * test_agent_cgroups_nested.c: nested containers' cgroups ("<parent>/mesos/<child>") against
 * fake v1/v2 trees: id validation, paths, creation, limits, listing, kill and removal with the
 * parent.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroups_fake.h"
#include "containerizer/cgroups.h"
#include "errors.h"
#include "test.h"

/* ---- nested containers ---- */

static void test_nested_ids(void)
{
    static const char *const good[] = {"p/mesos/c", "p/mesos/c/mesos/g", "p-1/mesos/c.2"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK_INT(cm_cgroups_validate_id(good[i], why, sizeof why), 0);
    static const char *const bad[] = {"p/c",        "p/mesos/",   "p/mesos/..", "/mesos/c",
                                      "p//mesos/c", "p/mesos//c", "p/mesosx/c", "p/mesos/c/",
                                      "../mesos/c", "p/mesos/c/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = cm_cgroups_validate_id(bad[i], why, sizeof why);
        if (rc != CM_EINVAL)
            fprintf(stderr, "accepted '%s'\n", bad[i]);
        CHECK_INT(rc, CM_EINVAL);
    }
}

static void test_nested_v1_create_limits_list(void)
{
    fresh_root();
    struct cm_cgroups cg;
    REQUIRE(detect(v1_mountinfo(0, 1), "mesos", &cg) == 0);
    REQUIRE(cm_cgroups_create(&cg, "p", why, sizeof why) == 0);
    CHECK_INT(cm_cgroups_create(&cg, "p/mesos/k1", why, sizeof why), 0);
    for (int c = 0; c < CM_CG_NCTL; c++) {
        char want[CM_CGROUPS_PATH_MAX + 16];
        snprintf(want, sizeof want, "%s/mesos/k1", cdir(&cg, c, "p"));
        CHECK_STR(cdir(&cg, c, "p/mesos/k1"), want);
        CHECK(is_dir(want));
    }
    /* The child's own limits, in its own directory; the parent's are untouched. */
    put(cdir(&cg, CM_CG_MEMORY, "p/mesos/k1"), "memory.limit_in_bytes", "");
    put(cdir(&cg, CM_CG_MEMORY, "p/mesos/k1"), "memory.soft_limit_in_bytes", "");
    put(cdir(&cg, CM_CG_MEMORY, "p"), "memory.limit_in_bytes", "134217728");
    put(cdir(&cg, CM_CG_CPU, "p/mesos/k1"), "cpu.shares", "");
    struct cm_cgroups_limits l = {.cpus = 0.5, .mem_bytes = 32ull << 20};
    CHECK_INT(cm_cgroups_set_limits(&cg, "p/mesos/k1", &l, why, sizeof why), 0);
    CHECK_STR(get(cdir(&cg, CM_CG_MEMORY, "p/mesos/k1"), "memory.limit_in_bytes"), "33554432");
    CHECK_STR(get(cdir(&cg, CM_CG_CPU, "p/mesos/k1"), "cpu.shares"), "512");
    CHECK_STR(get(cdir(&cg, CM_CG_MEMORY, "p"), "memory.limit_in_bytes"), "134217728");
    /* Only top-level containers are listed (the orphan cleanup takes a parent's subtree). */
    char **ids;
    size_t n;
    CHECK_INT(cm_cgroups_list(&cg, &ids, &n, why, sizeof why), 0);
    CHECK_INT(n, 1);
    if (n == 1)
        CHECK_STR(ids[0], "p");
    cm_cgroups_list_free(ids);
    drop_root();
}

static void test_nested_v1_removed_with_parent(void)
{
    fresh_root();
    struct cm_cgroups cg;
    REQUIRE(detect(v1_mountinfo(0, 1), "mesos", &cg) == 0);
    REQUIRE(cm_cgroups_create(&cg, "p", why, sizeof why) == 0);
    REQUIRE(cm_cgroups_create(&cg, "p/mesos/k1", why, sizeof why) == 0);
    REQUIRE(cm_cgroups_create(&cg, "p/mesos/k2", why, sizeof why) == 0);
    REQUIRE(cm_cgroups_create(&cg, "p/mesos/k2/mesos/g", why, sizeof why) == 0);
    REQUIRE(cm_cgroups_create(&cg, "other", why, sizeof why) == 0);
    /* Removing one child leaves its siblings and the parent. */
    CHECK_INT(cm_cgroups_destroy(&cg, "p/mesos/k1", why, sizeof why), 0);
    CHECK(!is_dir(cdir(&cg, CM_CG_MEMORY, "p/mesos/k1")));
    CHECK(is_dir(cdir(&cg, CM_CG_MEMORY, "p/mesos/k2")));
    /* The parent's removal takes the whole subtree, in every hierarchy. */
    CHECK_INT(cm_cgroups_destroy(&cg, "p", why, sizeof why), 0);
    for (int c = 0; c < CM_CG_NCTL; c++) {
        CHECK(!is_dir(cdir(&cg, c, "p/mesos/k2/mesos/g")));
        CHECK(!is_dir(cdir(&cg, c, "p")));
        CHECK(is_dir(cdir(&cg, c, "other")));
    }
    drop_root();
}

static void test_nested_v1_killed_with_parent(void)
{
    fresh_root();
    struct cm_cgroups cg;
    REQUIRE(detect(v1_mountinfo(0, 1), "mesos", &cg) == 0);
    REQUIRE(cm_cgroups_create(&cg, "p", why, sizeof why) == 0);
    REQUIRE(cm_cgroups_create(&cg, "p/mesos/k1", why, sizeof why) == 0);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        pause();
        _exit(0);
    }
    char pid[32];
    snprintf(pid, sizeof pid, "%ld\n", (long)child);
    /* The fake kernel: the parent's cgroup lists nothing, the child's lists the process. */
    put(cdir(&cg, CM_CG_FREEZER, "p"), "cgroup.procs", "");
    put(cdir(&cg, CM_CG_FREEZER, "p/mesos/k1"), "cgroup.procs", pid);
    size_t left = 0;
    CHECK_INT(cm_cgroups_kill_step(&cg, "p", &left, why, sizeof why), 0);
    CHECK_INT(left, 1);
    int st = 0;
    CHECK_INT(waitpid(child, &st, 0), child);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    drop_root();
}

static void test_nested_v2_unsupported(void)
{
    fresh_root();
    struct cm_cgroups cg;
    REQUIRE(detect(v2_mountinfo(), "mesos", &cg) == 0);
    CHECK_INT(cm_cgroups_create(&cg, "p/mesos/k1", why, sizeof why), -ENOTSUP);
    CHECK(strstr(why, "v2") != NULL);
    drop_root();
}

TEST_MAIN(TEST(test_nested_ids), TEST(test_nested_v1_create_limits_list),
          TEST(test_nested_v1_removed_with_parent), TEST(test_nested_v1_killed_with_parent),
          TEST(test_nested_v2_unsupported))
