/*
 * itest_files_race: the sandbox swap race against /files on a real agent.
 *
 * A task's sandbox holds cur/ (a real directory with a file "secret" reading "inside") and alt
 * (a symlink to a directory outside the sandbox whose "secret" reads OUTSIDE-SECRET). A thread
 * flips the two with renameat2(RENAME_EXCHANGE) as fast as it can, so cur is a directory one
 * instant and a symlink out the next, while this thread sends /files/read, /files/download and
 * /files/browse for <sandbox>/cur/... (real and virtual paths) as fast as the agent answers.
 * Nothing from outside may ever come back; reads of the inside file must succeed now and then
 * (else the test would check nothing). The duration is CMESOS_FILES_RACE_SECS (default 5 s;
 * the regression run is 30 s).
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct itest_cluster c;
static atomic_bool stop_flipping;
static atomic_long flips;

struct flipper {
    int dirfd; /* the sandbox */
};

static void *flip_main(void *arg)
{
    struct flipper *fl = arg;
    while (!atomic_load(&stop_flipping)) {
        if (renameat2(fl->dirfd, "cur", fl->dirfd, "alt", RENAME_EXCHANGE) == 0)
            atomic_fetch_add(&flips, 1);
    }
    return NULL;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

static double now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_swap_race(void)
{
    double secs = 5;
    const char *env = getenv("CMESOS_FILES_RACE_SECS");
    if (env && atof(env) > 0)
        secs = atof(env);

    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.2, 64, ITEST_WAIT_MS, &off) == 0);
    struct itest_task tasks[] = {{"victim", "touch ready; sleep 300", 0.1, 32}};
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, c.agent_id, tasks, 1, 0), 202);
    REQUIRE(itest_fw_wait_state(fw, "victim", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);

    json_t *st = itest_get_json(c.agent_port, "/state");
    REQUIRE(st != NULL);
    char dir[1024] = "";
    size_t i, k;
    json_t *f, *e;
    json_array_foreach(json_object_get(st, "frameworks"), i, f)
    {
        json_array_foreach(json_object_get(f, "executors"), k, e)
        {
            if (strcmp(json_string_value(json_object_get(e, "id")), "victim") == 0)
                snprintf(dir, sizeof dir, "%s", json_string_value(json_object_get(e, "directory")));
        }
    }
    json_decref(st);
    REQUIRE(*dir);
    char virt[512];
    snprintf(virt, sizeof virt, "/frameworks/%s/executors/victim/runs/latest", fw->framework_id);

    /* The outside directory and the sandbox's two entries. */
    char outside[300], p[1400];
    REQUIRE(itest_tmpdir(outside, sizeof outside) == 0);
    snprintf(p, sizeof p, "%s/secret", outside);
    write_file(p, "OUTSIDE-SECRET\n");
    snprintf(p, sizeof p, "%s/outside_marker", outside);
    write_file(p, "OUTSIDE-SECRET\n");
    snprintf(p, sizeof p, "%s/cur", dir);
    REQUIRE(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/cur/secret", dir);
    write_file(p, "inside\n");
    snprintf(p, sizeof p, "%s/alt", dir);
    REQUIRE(symlink(outside, p) == 0);

    struct flipper fl = {.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    REQUIRE(fl.dirfd >= 0);
    atomic_store(&stop_flipping, false);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, flip_main, &fl) == 0);

    long requests = 0, ok = 0, refused = 0, missing = 0, leaks = 0, other = 0;
    double end = now_secs() + secs;
    while (now_secs() < end) {
        const char *root = (requests & 1) ? virt : dir;
        switch (requests % 4) {
        case 0:
        case 1: snprintf(p, sizeof p, "/files/read?path=%s/cur/secret&offset=0", root); break;
        case 2: snprintf(p, sizeof p, "/files/download?path=%s/cur/secret", root); break;
        default: snprintf(p, sizeof p, "/files/browse?path=%s/cur", root); break;
        }
        struct itest_http_resp r;
        if (itest_http(c.agent_port, "GET", p, NULL, NULL, 0, &r, ITEST_WAIT_MS) != 0) {
            other++;
            requests++;
            continue;
        }
        requests++;
        const char *body = r.body ? (const char *)r.body : "";
        if (strstr(body, "OUTSIDE") || strstr(body, "outside_marker")) {
            if (leaks++ < 5)
                fprintf(stderr, "LEAK via %s: %s\n", p, body);
        }
        if (r.status == 200 && (strstr(body, "inside") || strstr(body, "/cur/secret")))
            ok++;
        else if (r.status == 403)
            refused++;
        else if (r.status == 404)
            missing++;
        else if (r.status != 200)
            other++;
        itest_http_resp_cleanup(&r);
    }
    atomic_store(&stop_flipping, true);
    pthread_join(th, NULL);
    close(fl.dirfd);
    fprintf(stderr,
            "files race: %.0f s, %ld requests (%ld inside reads, %ld refused, %ld not found, "
            "%ld other), %ld swaps, %ld leaks\n",
            secs, requests, ok, refused, missing, other, (long)atomic_load(&flips), leaks);
    CHECK_INT(leaks, 0);
    CHECK(requests > 100);
    CHECK(ok > 0);      /* the inside file was read while cur was a directory */
    CHECK(refused > 0); /* and refused while cur was the symlink */
    CHECK(atomic_load(&flips) > 100);

    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_swap_race))
