/* Fetcher pieces without sockets: URI resolution and validation, output_file rules, archive
 * detection, and the size-bounded LRU cache. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "fetcher.h"
#include "gc.h"
#include "test.h"

static void test_resolve(void)
{
    char why[256] = "";
    char *out = NULL;
    enum cm_fetch_source src;
    CHECK_INT(
        cm_fetcher_resolve_uri("http://h:1/a/b.tar.gz?x=1", NULL, &src, &out, why, sizeof why), 0);
    CHECK(src == CM_FETCH_HTTP);
    CHECK_STR(out, "http://h:1/a/b.tar.gz?x=1");
    free(out);
    CHECK_INT(cm_fetcher_resolve_uri("HTTPS://h/x", NULL, &src, &out, why, sizeof why), 0);
    CHECK(src == CM_FETCH_HTTP);
    free(out);
    CHECK_INT(cm_fetcher_resolve_uri("file:///tmp/x", NULL, &src, &out, why, sizeof why), 0);
    CHECK(src == CM_FETCH_LOCAL);
    CHECK_STR(out, "/tmp/x");
    free(out);
    CHECK_INT(cm_fetcher_resolve_uri("/opt/app.sh", NULL, &src, &out, why, sizeof why), 0);
    CHECK_STR(out, "/opt/app.sh");
    free(out);
    CHECK_INT(cm_fetcher_resolve_uri("app/run.sh", "/fw", &src, &out, why, sizeof why), 0);
    CHECK_STR(out, "/fw/app/run.sh");
    free(out);

    CHECK_INT(cm_fetcher_resolve_uri("app/run.sh", NULL, &src, &out, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "frameworks_home") != NULL);
    CHECK(out == NULL);
    CHECK_INT(cm_fetcher_resolve_uri("ftp://h/x", NULL, &src, &out, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'ftp'") != NULL);
    CHECK_INT(cm_fetcher_resolve_uri("hdfs://nn/x", NULL, &src, &out, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_fetcher_resolve_uri("", NULL, &src, &out, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_fetcher_resolve_uri("file://host/x", NULL, &src, &out, why, sizeof why),
              CM_EINVAL);
    CHECK_INT(cm_fetcher_resolve_uri("http:///x", NULL, &src, &out, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_fetcher_resolve_uri("/a\nb", NULL, &src, &out, why, sizeof why), CM_EINVAL);
    char *huge = malloc(5000);
    memset(huge, 'a', 4999);
    huge[0] = '/';
    huge[4999] = '\0';
    CHECK_INT(cm_fetcher_resolve_uri(huge, NULL, &src, &out, why, sizeof why), CM_EINVAL);
    free(huge);
}

static void test_basename(void)
{
    char why[256];
    char *out = NULL;
    CHECK_INT(cm_fetcher_basename("http://h:80/dir/app.tar.gz?token=1#f", &out, why, sizeof why),
              0);
    CHECK_STR(out, "app.tar.gz");
    free(out);
    CHECK_INT(cm_fetcher_basename("/opt/bin/tool", &out, why, sizeof why), 0);
    CHECK_STR(out, "tool");
    free(out);
    CHECK_INT(cm_fetcher_basename("file:///x/y/", &out, why, sizeof why), 0);
    CHECK_STR(out, "y");
    free(out);
    CHECK_INT(cm_fetcher_basename("rel.txt", &out, why, sizeof why), 0);
    CHECK_STR(out, "rel.txt");
    free(out);
    CHECK_INT(cm_fetcher_basename("http://h/", &out, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "output_file") != NULL);
    CHECK_INT(cm_fetcher_basename("http://h", &out, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_fetcher_basename("http://h/a/..", &out, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_fetcher_basename("/x/.", &out, why, sizeof why), CM_EINVAL);
}

static void test_output_file(void)
{
    char why[256];
    CHECK_INT(cm_fetcher_validate_output_file("app.bin", why, sizeof why), 0);
    CHECK_INT(cm_fetcher_validate_output_file("bin/app", why, sizeof why), 0);
    CHECK_INT(cm_fetcher_validate_output_file("a/./b", why, sizeof why), 0);
    CHECK_INT(cm_fetcher_validate_output_file("..x", why, sizeof why), 0);
    CHECK_INT(cm_fetcher_validate_output_file("", why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_fetcher_validate_output_file("/etc/passwd", why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "relative") != NULL);
    CHECK_INT(cm_fetcher_validate_output_file("../x", why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "..") != NULL);
    CHECK_INT(cm_fetcher_validate_output_file("a/../../x", why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_fetcher_validate_output_file("a/..", why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_fetcher_validate_output_file("dir/", why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_fetcher_validate_output_file(".", why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_fetcher_validate_output_file("a\tb", why, sizeof why), CM_EINVAL);
}

static void test_archive_type(void)
{
    CHECK(cm_fetcher_archive_type("a.tar") == CM_ARCHIVE_TAR);
    CHECK(cm_fetcher_archive_type("a.tar.gz") == CM_ARCHIVE_TAR);
    CHECK(cm_fetcher_archive_type("a.TGZ") == CM_ARCHIVE_TAR);
    CHECK(cm_fetcher_archive_type("a.tar.bz2") == CM_ARCHIVE_TAR);
    CHECK(cm_fetcher_archive_type("a.tbz2") == CM_ARCHIVE_TAR);
    CHECK(cm_fetcher_archive_type("a.tar.xz") == CM_ARCHIVE_TAR);
    CHECK(cm_fetcher_archive_type("a.txz") == CM_ARCHIVE_TAR);
    CHECK(cm_fetcher_archive_type("a.zip") == CM_ARCHIVE_ZIP);
    CHECK(cm_fetcher_archive_type("data.gz") == CM_ARCHIVE_GZ);
    CHECK(cm_fetcher_archive_type("run.sh") == CM_ARCHIVE_NONE);
    CHECK(cm_fetcher_archive_type(".gz") == CM_ARCHIVE_NONE);
    CHECK(cm_fetcher_archive_type("tar") == CM_ARCHIVE_NONE);
}

static char dir[256];

static char *temp_of(struct cm_fetch_cache *c, size_t size)
{
    char *t = cm_fetch_cache_temp_path(c);
    FILE *f = fopen(t, "w");
    if (!f)
        abort();
    for (size_t i = 0; i < size; i++)
        fputc('x', f);
    fclose(f);
    return t;
}

static bool file_exists(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0;
}

static void test_cache_lru(void)
{
    snprintf(dir, sizeof dir, "/tmp/cm_fetch_cache_XXXXXX");
    REQUIRE(mkdtemp(dir) != NULL);
    /* Stale files of an earlier run are removed; foreign files are kept. */
    char stale[300], foreign[300];
    snprintf(stale, sizeof stale, "%s/c-7", dir);
    snprintf(foreign, sizeof foreign, "%s/keep.me", dir);
    fclose(fopen(stale, "w"));
    fclose(fopen(foreign, "w"));
    struct cm_fetch_cache *c = NULL;
    REQUIRE(cm_fetch_cache_new(dir, 100, &c) == 0);
    CHECK(!file_exists(stale));
    CHECK(file_exists(foreign));
    CHECK_INT(cm_fetch_cache_capacity(c), 100);

    char *path = NULL;
    char *t = temp_of(c, 40);
    CHECK_INT(cm_fetch_cache_insert(c, "a", t, 40, &path), 0);
    CHECK(file_exists(path));
    CHECK(!file_exists(t));
    char *pa = path;
    cm_fetch_cache_release(c, "a");
    free(t);
    t = temp_of(c, 40);
    CHECK_INT(cm_fetch_cache_insert(c, "b", t, 40, &path), 0);
    char *pb = path;
    cm_fetch_cache_release(c, "b");
    free(t);
    CHECK_INT(cm_fetch_cache_used(c), 80);
    CHECK_INT(cm_fetch_cache_count(c), 2);

    /* Touch "a": "b" becomes the least recently used. */
    char *hit = cm_fetch_cache_acquire(c, "a");
    CHECK_STR(hit, pa);
    free(hit);
    cm_fetch_cache_release(c, "a");
    CHECK(cm_fetch_cache_acquire(c, "zzz") == NULL);

    t = temp_of(c, 40);
    CHECK_INT(cm_fetch_cache_insert(c, "c", t, 40, &path), 0);
    char *pc = path;
    cm_fetch_cache_release(c, "c");
    free(t);
    CHECK(cm_fetch_cache_contains(c, "a"));
    CHECK(!cm_fetch_cache_contains(c, "b"));
    CHECK(cm_fetch_cache_contains(c, "c"));
    CHECK(!file_exists(pb));
    CHECK_INT(cm_fetch_cache_used(c), 80);

    /* An entry in use is never evicted: with "a" held and "c" evictable, 60 bytes fit. */
    hit = cm_fetch_cache_acquire(c, "a"); /* a is now most recent and in use */
    free(hit);
    hit = cm_fetch_cache_acquire(c, "c"); /* c most recent, but released below */
    free(hit);
    cm_fetch_cache_release(c, "c");
    t = temp_of(c, 60);
    CHECK_INT(cm_fetch_cache_insert(c, "d", t, 60, &path), 0);
    cm_fetch_cache_release(c, "d");
    free(path);
    free(t);
    CHECK(cm_fetch_cache_contains(c, "a"));
    CHECK(!cm_fetch_cache_contains(c, "c"));
    CHECK(!file_exists(pc));
    CHECK_INT(cm_fetch_cache_used(c), 100);

    /* Nothing evictable: refused, and nothing was evicted on the way. */
    hit = cm_fetch_cache_acquire(c, "d");
    free(hit);
    t = temp_of(c, 10);
    CHECK_INT(cm_fetch_cache_insert(c, "e", t, 10, &path), CM_ETOOBIG);
    CHECK(path == NULL);
    CHECK(file_exists(t)); /* the caller still owns its temp file */
    CHECK_INT(cm_fetch_cache_count(c), 2);
    unlink(t);
    free(t);
    cm_fetch_cache_release(c, "a");
    cm_fetch_cache_release(c, "d");
    /* Larger than the whole cache: refused outright. */
    t = temp_of(c, 1);
    CHECK_INT(cm_fetch_cache_insert(c, "big", t, 101, &path), CM_ETOOBIG);
    CHECK_INT(cm_fetch_cache_count(c), 2);
    /* A key already present is not replaced. */
    CHECK_INT(cm_fetch_cache_insert(c, "a", t, 1, &path), CM_EEXIST);
    unlink(t);
    free(t);
    /* A file removed behind the cache's back is a miss, and its bytes are given back. */
    REQUIRE(unlink(pa) == 0);
    CHECK(cm_fetch_cache_acquire(c, "a") == NULL);
    CHECK(!cm_fetch_cache_contains(c, "a"));
    CHECK_INT(cm_fetch_cache_used(c), 60);

    free(pa);
    free(pb);
    free(pc);
    cm_fetch_cache_free(c);
    CHECK_INT(cm_gc_remove_tree(dir), 0);
}

TEST_MAIN(TEST(test_resolve), TEST(test_basename), TEST(test_output_file), TEST(test_archive_type),
          TEST(test_cache_lru))
