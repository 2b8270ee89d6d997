/* safe_open: both resolvers (openat2 and the O_NOFOLLOW walk) refuse every symlink on the way,
 * "..", absolute paths, and open what is really inside; mkdirs and split. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "safe_open.h"
#include "test.h"

static char root[256];
static char outside[PATH_MAX];
static char inside[PATH_MAX];

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
    snprintf(root, sizeof root, "/tmp/cm_safe_XXXXXX");
    if (!mkdtemp(root))
        abort();
    snprintf(inside, sizeof inside, "%s/in", root);
    snprintf(outside, sizeof outside, "%s/out", root);
    mkdir(inside, 0755);
    mkdir(outside, 0755);
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/a", inside);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/a/b", inside);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/a/b/f", inside);
    write_file(p, "inside\n");
    snprintf(p, sizeof p, "%s/secret", outside);
    write_file(p, "outside\n");
    snprintf(p, sizeof p, "%s/toout", inside);
    if (symlink(outside, p) != 0)
        abort();
    snprintf(p, sizeof p, "%s/a/rel", inside);
    if (symlink("b", p) != 0)
        abort();
    snprintf(p, sizeof p, "%s/flink", inside);
    if (symlink("a/b/f", p) != 0)
        abort();
}

static int read_fd(int fd, char *buf, size_t cap)
{
    ssize_t n = read(fd, buf, cap - 1);
    buf[n < 0 ? 0 : n] = '\0';
    return (int)n;
}

typedef int (*open_fn)(int, const char *, int, mode_t, int *);

static void check_resolver(open_fn fn)
{
    int dfd = -1;
    REQUIRE(cm_safe_open_root(inside, &dfd) == 0);
    int fd = -1;
    char buf[64];
    CHECK_INT(fn(dfd, "a/b/f", O_RDONLY, 0, &fd), 0);
    CHECK(fd >= 0 && read_fd(fd, buf, sizeof buf) > 0 && strcmp(buf, "inside\n") == 0);
    if (fd >= 0)
        close(fd);
    CHECK_INT(fn(dfd, "./a//b/./f", O_RDONLY, 0, &fd), 0);
    if (fd >= 0)
        close(fd);
    /* The root itself. */
    CHECK_INT(fn(dfd, "", O_RDONLY | O_DIRECTORY, 0, &fd), 0);
    if (fd >= 0)
        close(fd);
    /* Symlinks: out, inside (intermediate and last), all refused. */
    CHECK_INT(fn(dfd, "toout/secret", O_RDONLY, 0, &fd), -ELOOP);
    CHECK(fd == -1);
    CHECK_INT(fn(dfd, "toout", O_RDONLY, 0, &fd), -ELOOP);
    CHECK_INT(fn(dfd, "a/rel/f", O_RDONLY, 0, &fd), -ELOOP);
    CHECK_INT(fn(dfd, "flink", O_RDONLY, 0, &fd), -ELOOP);
    /* "..", absolute. */
    CHECK_INT(fn(dfd, "a/../a/b/f", O_RDONLY, 0, &fd), CM_EINVAL);
    CHECK_INT(fn(dfd, "..", O_RDONLY, 0, &fd), CM_EINVAL);
    CHECK_INT(fn(dfd, "/etc/passwd", O_RDONLY, 0, &fd), CM_EINVAL);
    /* Missing and not-a-directory. */
    CHECK_INT(fn(dfd, "a/nope", O_RDONLY, 0, &fd), -ENOENT);
    CHECK_INT(fn(dfd, "a/b/f/x", O_RDONLY, 0, &fd), -ENOTDIR);
    /* Create beneath. */
    CHECK_INT(fn(dfd, "a/new", O_WRONLY | O_CREAT | O_TRUNC, 0600, &fd), 0);
    if (fd >= 0)
        close(fd);
    CHECK_INT(fn(dfd, "toout/new", O_WRONLY | O_CREAT, 0600, &fd), -ELOOP);
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/new", outside);
    CHECK(access(p, F_OK) != 0);
    snprintf(p, sizeof p, "%s/a/new", inside);
    unlink(p);
    close(dfd);
}

static void test_openat2(void)
{
    check_resolver(cm_safe_openat);
}

static void test_walk(void)
{
    check_resolver(cm_safe_openat_walk);
}

static void test_root_and_open(void)
{
    int fd = -1;
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/toout", inside);
    CHECK_INT(cm_safe_open_root(p, &fd), -ELOOP);
    snprintf(p, sizeof p, "%s/a/b/f", inside);
    CHECK_INT(cm_safe_open_root(p, &fd), -ENOTDIR);
    CHECK_INT(cm_safe_open(inside, "a/b/f", O_RDONLY, 0, &fd), 0);
    if (fd >= 0)
        close(fd);
    CHECK_INT(cm_safe_open(inside, "toout/secret", O_RDONLY, 0, &fd), -ELOOP);
}

static void test_mkdirs(void)
{
    int dfd = -1;
    REQUIRE(cm_safe_open_root(inside, &dfd) == 0);
    int out = -1;
    CHECK_INT(cm_safe_mkdirs_at(dfd, "x/y/z", 0755, &out), 0);
    CHECK(out >= 0);
    if (out >= 0)
        close(out);
    char p[PATH_MAX + 32];
    struct stat st;
    snprintf(p, sizeof p, "%s/x/y/z", inside);
    CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_INT(cm_safe_mkdirs_at(dfd, "x/y/z", 0755, NULL), 0);
    /* Through a planted symlink: refused, nothing made outside. */
    CHECK_INT(cm_safe_mkdirs_at(dfd, "toout/made", 0755, NULL), -ELOOP);
    snprintf(p, sizeof p, "%s/made", outside);
    CHECK(stat(p, &st) != 0);
    CHECK_INT(cm_safe_mkdirs_at(dfd, "../up", 0755, NULL), CM_EINVAL);
    close(dfd);
}

static void test_split(void)
{
    char *d = NULL, *b = NULL;
    CHECK_INT(cm_safe_split("a/b/c", &d, &b), 0);
    CHECK_STR(d, "a/b/");
    CHECK_STR(b, "c");
    free(d);
    free(b);
    CHECK_INT(cm_safe_split("c", &d, &b), 0);
    CHECK_STR(d, "");
    CHECK_STR(b, "c");
    free(d);
    free(b);
    CHECK_INT(cm_safe_split("", &d, &b), CM_EINVAL);
    CHECK_INT(cm_safe_split("/abs", &d, &b), CM_EINVAL);
    CHECK_INT(cm_safe_split("a/..", &d, &b), CM_EINVAL);
}

static void cleanup(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
}

TEST_MAIN(FIXTURE(setup), TEST(test_openat2), TEST(test_walk), TEST(test_root_and_open),
          TEST(test_mkdirs), TEST(test_split), TEST(cleanup))
