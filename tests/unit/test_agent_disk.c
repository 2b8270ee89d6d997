/* disk: the du-style walk (blocks, hard links once, symlinks not followed) and the watch that
 * measures in a child and reports a container over its limit once. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "containerizer/disk.h"
#include "test.h"

static char root[256];
static char sandbox[PATH_MAX];
static char outside[PATH_MAX];

static void write_bytes(const char *path, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    for (size_t done = 0; done < n; done += sizeof buf)
        fwrite(buf, 1, n - done < sizeof buf ? n - done : sizeof buf, f);
    fclose(f);
}

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/cm_disk_XXXXXX");
    if (!mkdtemp(root))
        abort();
    snprintf(sandbox, sizeof sandbox, "%s/sandbox", root);
    snprintf(outside, sizeof outside, "%s/outside", root);
    mkdir(sandbox, 0755);
    mkdir(outside, 0755);
}

static void test_walk(void)
{
    uint64_t base = 0;
    CHECK_INT(cm_disk_usage(sandbox, &base), 0);
    char p[PATH_MAX + 32], q[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/a", sandbox);
    write_bytes(p, 1 << 20);
    snprintf(q, sizeof q, "%s/sub", sandbox);
    mkdir(q, 0755);
    snprintf(q, sizeof q, "%s/sub/b", sandbox);
    write_bytes(q, 1 << 20);
    /* A second link to a is counted once. */
    snprintf(q, sizeof q, "%s/sub/a-again", sandbox);
    CHECK(link(p, q) == 0);
    /* A big file outside, linked by a symlink: not the sandbox's. */
    snprintf(p, sizeof p, "%s/big", outside);
    write_bytes(p, 4 << 20);
    snprintf(q, sizeof q, "%s/tobig", sandbox);
    CHECK(symlink(p, q) == 0);
    uint64_t used = 0;
    CHECK_INT(cm_disk_usage(sandbox, &used), 0);
    uint64_t files = used - base;
    CHECK(files >= 2u << 20);
    CHECK(files < 3u << 20);
    CHECK_INT(cm_disk_usage("/nonexistent/cm", &used), -ENOENT);
}

struct seen {
    int calls;
    char id[64];
    uint64_t used, limit;
};

static void exceeded(void *arg, const char *id, uint64_t used, uint64_t limit)
{
    struct seen *s = arg;
    s->calls++;
    snprintf(s->id, sizeof s->id, "%s", id);
    s->used = used;
    s->limit = limit;
}

static void run_round(struct event_base *base, struct cm_disk_watch *w)
{
    uint64_t before = cm_disk_watch_rounds(w);
    CHECK_INT(cm_disk_watch_measure_now(w), 0);
    for (int i = 0; i < 500 && cm_disk_watch_rounds(w) == before; i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    CHECK(cm_disk_watch_rounds(w) > before);
}

static void test_watch(void)
{
    struct event_base *base = event_base_new();
    REQUIRE(base != NULL);
    struct seen s = {0};
    /* A long interval: the rounds below are started by hand. */
    struct cm_disk_watch *w = cm_disk_watch_new(base, 3600, true, exceeded, &s);
    cm_disk_watch_add(w, "big", sandbox, 1 << 20);     /* 1 MB: over */
    cm_disk_watch_add(w, "roomy", sandbox, 64u << 20); /* 64 MB: under */
    cm_disk_watch_add(w, "free", outside, 0);          /* no limit */
    uint64_t used = 1, limit = 0;
    CHECK_INT(cm_disk_watch_usage(w, "big", &used, &limit), 0);
    CHECK(used == 0 && limit == 1u << 20);
    CHECK_INT(cm_disk_watch_usage(w, "nope", &used, &limit), -1);
    run_round(base, w);
    CHECK_INT(s.calls, 1);
    CHECK_STR(s.id, "big");
    CHECK(s.used >= 2u << 20 && s.limit == 1u << 20);
    char msg[128];
    CHECK(cm_disk_watch_exceeded(w, "big", msg, sizeof msg));
    CHECK(strstr(msg, "Disk usage (") && strstr(msg, "exceeds quota (1MB)"));
    CHECK(!cm_disk_watch_exceeded(w, "roomy", msg, sizeof msg));
    CHECK(!cm_disk_watch_exceeded(w, "free", msg, sizeof msg));
    CHECK_INT(cm_disk_watch_usage(w, "free", &used, &limit), 0);
    CHECK(used >= 4u << 20 && limit == 0);
    /* Reported once. */
    run_round(base, w);
    CHECK_INT(s.calls, 1);
    cm_disk_watch_remove(w, "big");
    CHECK_INT(cm_disk_watch_usage(w, "big", &used, &limit), -1);
    /* Freed with a round in flight. */
    CHECK_INT(cm_disk_watch_measure_now(w), 0);
    CHECK_INT(cm_disk_watch_measure_now(w), -EBUSY);
    cm_disk_watch_free(w);
    event_base_free(base);
}

static void cleanup(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
}

TEST_MAIN(FIXTURE(setup), TEST(test_walk), TEST(test_watch), TEST(cleanup))
