/* /files path confinement: attached roots, virtual paths, "..", absolute paths outside,
 * symlinks that escape, and the helpers behind browse and read. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "files.h"
#include "gc.h"
#include "test.h"

static char root[256];         /* a temp dir holding everything below */
static char sandbox[PATH_MAX]; /* root/sandbox: attached */
static char outside[PATH_MAX]; /* root/outside: not attached */

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
    snprintf(root, sizeof root, "/tmp/cm_files_XXXXXX");
    if (!mkdtemp(root))
        abort();
    snprintf(sandbox, sizeof sandbox, "%s/sandbox", root);
    snprintf(outside, sizeof outside, "%s/outside", root);
    mkdir(sandbox, 0755);
    mkdir(outside, 0755);
    char p[PATH_MAX + 64], q[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/stdout", sandbox);
    write_file(p, "hello\n");
    snprintf(p, sizeof p, "%s/sub", sandbox);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sub/inner.txt", sandbox);
    write_file(p, "inner\n");
    snprintf(p, sizeof p, "%s/secret", outside);
    write_file(p, "secret\n");
    /* An escaping symlink to a file, one to a directory, and a harmless one inside. */
    snprintf(p, sizeof p, "%s/evil", sandbox);
    snprintf(q, sizeof q, "%s/secret", outside);
    if (symlink(q, p) != 0)
        abort();
    snprintf(p, sizeof p, "%s/evildir", sandbox);
    if (symlink(outside, p) != 0)
        abort();
    snprintf(p, sizeof p, "%s/etc", sandbox);
    if (symlink("/etc", p) != 0)
        abort();
    snprintf(p, sizeof p, "%s/good", sandbox);
    if (symlink("sub/inner.txt", p) != 0)
        abort();
}

static struct cm_files *make(void)
{
    struct cm_files *f = cm_files_new();
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/stdout", sandbox);
    if (cm_files_attach(f, sandbox, sandbox) != 0 ||
        cm_files_attach(f, sandbox, "/frameworks/F/executors/E/runs/latest") != 0 ||
        cm_files_attach(f, sandbox, "/frameworks/F/executors/E/runs/C1") != 0 ||
        cm_files_attach(f, log, "/slave/log") != 0)
        abort();
    return f;
}

/* Opens path through the files module and answers the real path of what was opened (from
 * /proc/self/fd), so the checks below see exactly which file a request would read. */
static int resolve(struct cm_files *f, const char *path, char **out)
{
    *out = NULL;
    int fd = -1;
    int rc = cm_files_open(f, path, O_RDONLY | O_NONBLOCK, &fd, NULL);
    if (rc != 0)
        return rc;
    char link[64], buf[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    *out = strdup(buf);
    return 0;
}

static void test_real_and_virtual(void)
{
    struct cm_files *f = make();
    char *out = NULL;
    char want[PATH_MAX + 32], *rs = realpath(sandbox, NULL);
    REQUIRE(rs != NULL);

    CHECK_INT(resolve(f, sandbox, &out), 0);
    CHECK_STR(out, rs);
    free(out);

    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/stdout", sandbox);
    snprintf(want, sizeof want, "%s/stdout", rs);
    CHECK_INT(resolve(f, p, &out), 0);
    CHECK_STR(out, want);
    free(out);

    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/latest/stdout", &out), 0);
    CHECK_STR(out, want);
    free(out);
    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/C1//./stdout", &out), 0);
    CHECK_STR(out, want);
    free(out);
    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/latest/", &out), 0);
    CHECK_STR(out, rs);
    free(out);
    snprintf(want, sizeof want, "%s/sub/inner.txt", rs);
    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/latest/sub/inner.txt", &out), 0);
    CHECK_STR(out, want);
    free(out);
    /* A symlink is never followed, not even one that stays inside (a task could retarget it
     * between any check and the open). */
    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/latest/good", &out), -EACCES);
    CHECK(out == NULL);
    /* The agent log is a single attached file. */
    CHECK_INT(resolve(f, "/slave/log", &out), 0);
    CHECK(out && strstr(out, "/sandbox/stdout"));
    free(out);
    CHECK_INT(resolve(f, "/slave/log/x", &out), CM_ENOTFOUND);
    CHECK(out == NULL);
    free(rs);
    cm_files_free(f);
}

static void test_escapes(void)
{
    struct cm_files *f = make();
    char *out = NULL;
    char p[PATH_MAX + 64];
    /* ".." anywhere is refused outright, even when it would stay inside. */
    snprintf(p, sizeof p, "%s/../outside/secret", sandbox);
    CHECK_INT(resolve(f, p, &out), -EACCES);
    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/latest/../../../..", &out), -EACCES);
    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/latest/sub/../stdout", &out), -EACCES);
    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/latest/..", &out), -EACCES);
    /* Absolute paths under no attached root are unknown. */
    CHECK_INT(resolve(f, "/etc/passwd", &out), CM_ENOTFOUND);
    snprintf(p, sizeof p, "%s/secret", outside);
    CHECK_INT(resolve(f, p, &out), CM_ENOTFOUND);
    CHECK_INT(resolve(f, root, &out), CM_ENOTFOUND);
    CHECK_INT(resolve(f, "/", &out), CM_ENOTFOUND);
    /* A prefix that is not a whole component does not match. */
    snprintf(p, sizeof p, "%sX/stdout", sandbox);
    CHECK_INT(resolve(f, p, &out), CM_ENOTFOUND);
    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/latestX", &out), CM_ENOTFOUND);
    /* Symlinks leading out are refused after resolution. */
    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/latest/evil", &out), -EACCES);
    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/latest/evildir/secret", &out), -EACCES);
    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/latest/evildir", &out), -EACCES);
    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/latest/etc/passwd", &out), -EACCES);
    snprintf(p, sizeof p, "%s/evil", sandbox);
    CHECK_INT(resolve(f, p, &out), -EACCES);
    /* Missing inside is 404; empty or relative is 400. */
    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/latest/nope", &out), CM_ENOTFOUND);
    CHECK_INT(resolve(f, "", &out), CM_EINVAL);
    CHECK_INT(resolve(f, "frameworks/F", &out), CM_EINVAL);
    CHECK(out == NULL);
    cm_files_free(f);
}

static void test_attach_detach(void)
{
    struct cm_files *f = make();
    CHECK_INT(cm_files_count(f), 4);
    CHECK_INT(cm_files_attach(f, sandbox, "relative/path"), CM_EINVAL);
    CHECK_INT(cm_files_attach(f, sandbox, "/a/../b"), CM_EINVAL);
    /* Detach only if it still points at the given run. */
    cm_files_detach(f, "/frameworks/F/executors/E/runs/latest", "/some/other/run");
    CHECK_INT(cm_files_count(f), 4);
    cm_files_detach(f, "/frameworks/F/executors/E/runs/latest/", sandbox);
    CHECK_INT(cm_files_count(f), 3);
    char *out = NULL;
    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/latest/stdout", &out), CM_ENOTFOUND);
    cm_files_detach(f, "/slave/log", NULL);
    CHECK_INT(cm_files_count(f), 2);
    /* A removed sandbox answers 404, not an error. */
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/sub", sandbox);
    CHECK_INT(cm_gc_remove_tree(p), 0);
    CHECK_INT(resolve(f, "/frameworks/F/executors/E/runs/C1/sub/inner.txt", &out), CM_ENOTFOUND);
    cm_files_free(f);
}

static void test_mode_string(void)
{
    char m[11];
    cm_files_mode_string(S_IFDIR | 0755, m);
    CHECK_STR(m, "drwxr-xr-x");
    cm_files_mode_string(S_IFREG | 0644, m);
    CHECK_STR(m, "-rw-r--r--");
    cm_files_mode_string(S_IFLNK | 0777, m);
    CHECK_STR(m, "lrwxrwxrwx");
    cm_files_mode_string(S_IFREG | 04755, m);
    CHECK_STR(m, "-rwsr-xr-x");
    cm_files_mode_string(S_IFDIR | 01777, m);
    CHECK_STR(m, "drwxrwxrwt");
}

static void test_utf8(void)
{
    char a[] = "plain ascii";
    CHECK_INT(cm_files_utf8_sanitize(a, strlen(a)), strlen(a));
    CHECK_STR(a, "plain ascii");
    char b[] = "caf\xc3\xa9!";
    CHECK_INT(cm_files_utf8_sanitize(b, strlen(b)), strlen(b));
    char c[] = "x\xff\xfey";
    CHECK_INT(cm_files_utf8_sanitize(c, 4), 4);
    CHECK_STR(c, "x??y");
    /* A character cut by the end of the read is left for the next read. */
    char d[] = "ab\xe2\x82";
    CHECK_INT(cm_files_utf8_sanitize(d, 4), 2);
    /* Overlong and surrogate encodings are invalid. */
    char e[] = "\xc0\xaf\xed\xa0\x80";
    CHECK_INT(cm_files_utf8_sanitize(e, 5), 5);
    CHECK(strchr(e, '\xc0') == NULL && strchr(e, '\xed') == NULL);
}

static void test_cleanup(void)
{
    CHECK_INT(cm_gc_remove_tree(root), 0);
    struct stat st;
    CHECK(lstat(root, &st) != 0);
}

TEST_MAIN(FIXTURE(setup), TEST(test_real_and_virtual), TEST(test_escapes), TEST(test_attach_detach),
          TEST(test_mode_string), TEST(test_utf8), TEST(test_cleanup))
