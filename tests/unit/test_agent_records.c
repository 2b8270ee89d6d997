/* The container record log (records.h): what a restart reads back, "-" lines forgetting, the
 * child's append, legacy one-file-per-id records, the rewrite when the log has grown, pruning,
 * and ids that cannot be recorded. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "containerizer/records.h"
#include "gc.h"
#include "test.h"

static char tmpdir[64];
static char dir[128];
static char why[256];

static struct cm_records *reopen(struct cm_records *r)
{
    cm_records_free(r);
    struct cm_records *n = NULL;
    if (cm_records_open(dir, &n, why, sizeof why) != 0)
        fprintf(stderr, "cm_records_open: %s\n", why);
    return n;
}

static size_t log_lines(void)
{
    char path[160], line[256];
    snprintf(path, sizeof path, "%s.log", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = 0;
    while (fgets(line, sizeof line, f))
        n++;
    fclose(f);
    return n;
}

static void test_setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cm-records-XXXXXX");
    REQUIRE(mkdtemp(tmpdir) != NULL);
    snprintf(dir, sizeof dir, "%s/runtime/containers", tmpdir);
}

static void test_add_remove_survive_a_restart(void)
{
    struct cm_records *r = reopen(NULL);
    REQUIRE(r != NULL);
    CHECK_INT(cm_records_count(r), 0);
    struct stat sb;
    CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode));
    CHECK_INT(cm_records_add(r, "a"), 0);
    CHECK_INT(cm_records_add(r, "b"), 0);
    CHECK_INT(cm_records_add(r, "parent/mesos/child"), 0);
    CHECK_INT(cm_records_remove(r, "a"), 0);
    CHECK_INT(cm_records_remove(r, "never"), 0); /* unknown: nothing to forget */
    CHECK(!cm_records_has(r, "a"));
    CHECK(cm_records_has(r, "b"));
    r = reopen(r);
    REQUIRE(r != NULL);
    CHECK(!cm_records_has(r, "a"));
    CHECK(cm_records_has(r, "b"));
    CHECK(cm_records_has(r, "parent/mesos/child"));
    CHECK_INT(cm_records_count(r), 2);
    /* Nothing but the log was created: no file per id. */
    char p[256];
    snprintf(p, sizeof p, "%s/b", dir);
    CHECK(access(p, F_OK) != 0);
    CHECK_INT(cm_records_remove(r, "b"), 0);
    CHECK_INT(cm_records_remove(r, "parent/mesos/child"), 0);
    cm_records_free(r);
}

/* The launch child appends its own line; the agent only notes the id in its set. */
static void test_child_append(void)
{
    struct cm_records *r = reopen(NULL);
    REQUIRE(r != NULL);
    cm_records_note(r, "kid");
    CHECK(cm_records_has(r, "kid"));
    pid_t pid = fork();
    if (pid == 0)
        _exit(cm_records_append(cm_records_log(r), "kid") == 0 ? 0 : 1);
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    r = reopen(r);
    REQUIRE(r != NULL);
    CHECK(cm_records_has(r, "kid"));
    /* Ids that cannot be one line are refused, not written half. */
    CHECK_INT(cm_records_append(cm_records_log(r), "two\nlines"), EINVAL);
    CHECK_INT(cm_records_append(cm_records_log(r), ""), EINVAL);
    CHECK_INT(cm_records_add(r, "x\ny"), -EINVAL);
    CHECK_INT(cm_records_remove(r, "kid"), 0);
    r = reopen(r);
    REQUIRE(r != NULL);
    CHECK_INT(cm_records_count(r), 0);
    cm_records_free(r);
}

/* Files of the old layout (one empty file per id) count as records. */
static void test_legacy_files(void)
{
    char p[256];
    snprintf(p, sizeof p, "%s/old1", dir);
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    close(fd);
    snprintf(p, sizeof p, "%s/old2", dir);
    fd = open(p, O_WRONLY | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    close(fd);
    struct cm_records *r = reopen(NULL);
    REQUIRE(r != NULL);
    CHECK(cm_records_has(r, "old1"));
    CHECK(cm_records_has(r, "old2"));
    cm_records_free(r); /* test_prune goes on from here */
}

static bool keep_old2(void *arg, const char *id)
{
    (void)arg;
    return strcmp(id, "old2") == 0;
}

/* A prune keeps what keep() keeps, moves the legacy files into the log and removes them. */
static void test_prune(void)
{
    struct cm_records *r = reopen(NULL);
    REQUIRE(r != NULL);
    CHECK_INT(cm_records_prune(r, keep_old2, NULL), 0);
    CHECK(!cm_records_has(r, "old1"));
    CHECK(cm_records_has(r, "old2"));
    char p[256];
    snprintf(p, sizeof p, "%s/old1", dir);
    CHECK(access(p, F_OK) != 0);
    snprintf(p, sizeof p, "%s/old2", dir);
    CHECK(access(p, F_OK) != 0); /* in the log now */
    CHECK_INT(log_lines(), 1);
    r = reopen(r);
    REQUIRE(r != NULL);
    CHECK(cm_records_has(r, "old2"));
    CHECK(!cm_records_has(r, "old1"));
    CHECK_INT(cm_records_remove(r, "old2"), 0);
    cm_records_free(r);
}

/* Churn does not grow the log without bound: it is rewritten from the live set. */
static void test_rewrite_bounds_the_log(void)
{
    struct cm_records *r = reopen(NULL);
    REQUIRE(r != NULL);
    CHECK_INT(cm_records_add(r, "long-lived"), 0);
    for (int i = 0; i < 3000; i++) {
        char id[32];
        snprintf(id, sizeof id, "c%d", i);
        CHECK_INT(cm_records_add(r, id), 0);
        CHECK_INT(cm_records_remove(r, id), 0);
    }
    CHECK(log_lines() <= 2 + 1024 + 2);
    r = reopen(r);
    REQUIRE(r != NULL);
    CHECK_INT(cm_records_count(r), 1);
    CHECK(cm_records_has(r, "long-lived"));
    cm_records_free(r);
}

static void test_cleanup(void)
{
    CHECK_INT(cm_gc_remove_tree(tmpdir), 0);
}

TEST_MAIN(TEST(test_setup), TEST(test_add_remove_survive_a_restart), TEST(test_child_append),
          TEST(test_legacy_files), TEST(test_prune), TEST(test_rewrite_bounds_the_log),
          TEST(test_cleanup))
