/* The /files module's listing and reading (cm_files_list, cm_files_read: what the operator
 * APIs' LIST_FILES and READ_FILE use) over a directory and a single attached log file, with
 * the same confinement as the HTTP endpoints: "..", unattached paths and symlinks. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "files.h"
#include "test.h"

static char root[256];
static char dir[PATH_MAX];
static char logfile[PATH_MAX];
static char outside[PATH_MAX];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/cm_files_list_XXXXXX");
    if (!mkdtemp(root))
        abort();
    snprintf(dir, sizeof dir, "%s/dir", root);
    snprintf(logfile, sizeof logfile, "%s/mesos-master.INFO", root);
    snprintf(outside, sizeof outside, "%s/outside", root);
    mkdir(dir, 0755);
    write_file(logfile, "line one\nline two\n");
    write_file(outside, "secret\n");
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/b.txt", dir);
    write_file(p, "bee\n");
    snprintf(p, sizeof p, "%s/a.txt", dir);
    write_file(p, "a\n");
    snprintf(p, sizeof p, "%s/sub", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/link", dir);
    if (symlink(outside, p) != 0)
        abort();
}

static struct cm_files *make(void)
{
    struct cm_files *f = cm_files_new();
    if (cm_files_attach(f, logfile, "/master/log") != 0 || cm_files_attach(f, dir, "/d") != 0)
        abort();
    return f;
}

static void test_list(void)
{
    struct cm_files *f = make();
    struct cm_files_entry *e = NULL;
    size_t n = 0;
    /* A directory: sorted, paths under the requested one, a symlink described as itself. */
    REQUIRE(cm_files_list(f, "/d/", &e, &n) == 0);
    REQUIRE(n == 4);
    CHECK_STR(e[0].path, "/d/a.txt");
    CHECK_STR(e[1].path, "/d/b.txt");
    CHECK_STR(e[2].path, "/d/link");
    CHECK_STR(e[3].path, "/d/sub");
    CHECK(S_ISREG(e[1].st.st_mode) && e[1].st.st_size == 4);
    CHECK(S_ISLNK(e[2].st.st_mode));
    CHECK(S_ISDIR(e[3].st.st_mode) && (e[3].st.st_mode & 0777) == 0700);
    cm_files_entries_free(e, n);
    /* A single attached file lists as itself. */
    REQUIRE(cm_files_list(f, "/master/log", &e, &n) == 0);
    REQUIRE(n == 1);
    CHECK_STR(e[0].path, "/master/log");
    CHECK(e[0].st.st_size == 18);
    cm_files_entries_free(e, n);
    /* Confinement. */
    CHECK_INT(cm_files_list(f, "/master", &e, &n), CM_ENOTFOUND);
    CHECK(e == NULL && n == 0);
    CHECK_INT(cm_files_list(f, "/d/../outside", &e, &n), -EACCES);
    CHECK_INT(cm_files_list(f, "/d/link", &e, &n), -EACCES);
    CHECK_INT(cm_files_list(f, outside, &e, &n), CM_ENOTFOUND);
    CHECK_INT(cm_files_list(f, "d", &e, &n), CM_EINVAL);
    CHECK_INT(cm_files_list(f, "/master/log/x", &e, &n), CM_ENOTFOUND);
    cm_files_entries_free(NULL, 0);
    cm_files_free(f);
}

static void test_read(void)
{
    struct cm_files *f = make();
    void *data = NULL;
    size_t len = 0;
    uint64_t size = 0;
    REQUIRE(cm_files_read(f, "/master/log", 5, 3, 1024, &data, &len, &size) == 0);
    CHECK_INT(len, 3);
    CHECK(size == 18);
    CHECK(memcmp(data, "one", 3) == 0);
    free(data);
    /* The cap wins over a larger length; an offset past the end reads nothing. */
    REQUIRE(cm_files_read(f, "/master/log", 0, UINT64_MAX, 4, &data, &len, &size) == 0);
    CHECK_INT(len, 4);
    CHECK(memcmp(data, "line", 4) == 0);
    free(data);
    REQUIRE(cm_files_read(f, "/master/log", 1000, 10, 1024, &data, &len, &size) == 0);
    CHECK_INT(len, 0);
    CHECK(size == 18);
    free(data);
    /* A directory is not readable; confinement as for listing. */
    CHECK_INT(cm_files_read(f, "/d/sub", 0, 10, 1024, &data, &len, &size), CM_EINVAL);
    CHECK(data == NULL);
    CHECK_INT(cm_files_read(f, "/d/link", 0, 10, 1024, &data, &len, &size), -EACCES);
    CHECK_INT(cm_files_read(f, "/d/../outside", 0, 10, 1024, &data, &len, &size), -EACCES);
    CHECK_INT(cm_files_read(f, outside, 0, 10, 1024, &data, &len, &size), CM_ENOTFOUND);
    CHECK_INT(cm_files_read(f, "/d/nope", 0, 10, 1024, &data, &len, &size), CM_ENOTFOUND);
    cm_files_free(f);
}

static void test_cleanup(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK_INT(system(cmd), 0);
}

TEST_MAIN(FIXTURE(setup), TEST(test_list), TEST(test_read), TEST(test_cleanup))
