/*
 * itest_docker_common.h: what itest_docker.c and itest_docker_ops.c share: one private dockerd
 * per test binary (started by the first case that needs it; harness_docker.h), a cluster whose
 * agent runs Docker tasks, Docker TaskInfos in JSON, ACCEPT of them, and lookups in the
 * agent's /state and the sandbox. Helpers are static inline so each file uses what it needs.
 */
#ifndef CM_ITEST_DOCKER_COMMON_H
#define CM_ITEST_DOCKER_COMMON_H

#include "harness.h"
#include "harness_agent.h"
#include "harness_docker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct itest_cluster c;
static struct itest_docker dk;
static int dk_state; /* 0 not tried, 1 up, -1 unavailable */
static char dk_why[512];

static inline int docker_up(void)
{
    if (dk_state == 0)
        dk_state = itest_docker_start(&dk, dk_why, sizeof dk_why) == 0 ? 1 : -1;
    return dk_state == 1;
}

#define NEED_DOCKER()                                                                              \
    do {                                                                                           \
        if (!docker_up())                                                                          \
            SKIP_CASE("no private dockerd here: %s", dk_why);                                      \
    } while (0)

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A cluster whose agent runs Docker tasks with the private dockerd. */
static inline int start(const char *resources, const char *const *more)
{
    if (itest_cluster_start(&c, &(struct itest_cluster_opts){.no_agent = 1}) != 0)
        return -1;
    static char sock[160];
    snprintf(sock, sizeof sock, "--docker_socket=%s", dk.sock);
    const char *flags[16] = {"--containerizers=docker,mesos", "--docker=" ITEST_DOCKER_CLI, sock};
    size_t n = 3;
    for (size_t i = 0; more && more[i] && n < 15; i++)
        flags[n++] = more[i];
    flags[n] = NULL;
    if (itest_agent_spawn(&c, resources, flags) != 0)
        return -1;
    return itest_agent_wait_registered(&c, ITEST_WAIT_MS);
}

static inline json_t *scalar(const char *name, double v)
{
    return json_pack("{s:s, s:s, s:{s:f}}", "name", name, "type", "SCALAR", "scalar", "value", v);
}

/* A Docker TaskInfo: shell command cmd in ITEST_DOCKER_IMAGE (or image), docker fields merged
 * from docker_extra, other TaskInfo/ContainerInfo fields from extra / container_extra. */
static inline json_t *docker_task(const char *id, const char *image, const char *cmd, double mem,
                                  json_t *docker_extra, json_t *container_extra, json_t *extra)
{
    json_t *res = json_pack("[o,o]", scalar("cpus", 0.1), scalar("mem", mem));
    json_t *docker = json_pack("{s:s}", "image", image ? image : ITEST_DOCKER_IMAGE);
    if (docker_extra) {
        json_object_update(docker, docker_extra);
        json_decref(docker_extra);
    }
    json_t *container = json_pack("{s:s, s:o}", "type", "DOCKER", "docker", docker);
    if (container_extra) {
        json_object_update(container, container_extra);
        json_decref(container_extra);
    }
    json_t *t = json_pack("{s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:o, s:o}", "name", id, "task_id",
                          "value", id, "agent_id", "value", c.agent_id, "command", "value", cmd,
                          "resources", res, "container", container);
    if (extra) {
        json_t *r = json_object_get(extra, "resources");
        if (r)
            json_array_extend(res, r);
        json_object_del(extra, "resources");
        json_object_update(t, extra);
        json_decref(extra);
    }
    return t;
}

static inline int launch(struct itest_fw *fw, json_t *tasks)
{
    struct itest_offers off;
    if (itest_fw_wait_offer(fw, 0.1 * (double)json_array_size(tasks),
                            32 * (double)json_array_size(tasks), ITEST_WAIT_MS, &off) != 0) {
        json_decref(tasks);
        return -1;
    }
    return itest_fw_launch_json(fw, &off, tasks) == 202 ? 0 : -1;
}

/* The executor's sandbox and container id from the agent's /state (live or completed). */
static inline int executor_of(const char *id, char *dir, size_t dlen, char *cid, size_t clen)
{
    json_t *st = itest_get_json(c.agent_port, "/state");
    if (!st)
        return -1;
    *dir = '\0';
    size_t i, k;
    json_t *f, *e;
    const char *lists[] = {"frameworks", "completed_frameworks"};
    const char *elists[] = {"executors", "completed_executors"};
    for (int l = 0; l < 2; l++)
        json_array_foreach(json_object_get(st, lists[l]), i, f)
        {
            for (int m = 0; m < 2; m++)
                json_array_foreach(json_object_get(f, elists[m]), k, e)
                {
                    const char *eid = json_string_value(json_object_get(e, "id"));
                    if (eid && strcmp(eid, id) == 0) {
                        snprintf(dir, dlen, "%s",
                                 json_string_value(json_object_get(e, "directory")));
                        const char *ct = json_string_value(json_object_get(e, "container"));
                        if (cid)
                            snprintf(cid, clen, "%s", ct ? ct : "");
                    }
                }
        }
    json_decref(st);
    return *dir ? 0 : -1;
}

static inline char *sandbox_file(const char *id, const char *name)
{
    char dir[512], path[700];
    if (executor_of(id, dir, sizeof dir, NULL, 0) != 0)
        return NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return itest_read_file(path, NULL);
}

static inline void expect_state(struct itest_fw *fw, const char *id, int state, int reason,
                                const char *needle, struct itest_status *out)
{
    struct itest_status s = {0};
    int rc = itest_fw_wait_state(fw, id, state, ITEST_WAIT_MS, &s);
    CHECK_INT(rc, 0);
    if (out)
        *out = s;
    if (rc != 0)
        return;
    if (reason >= 0) {
        if (!s.has_reason || s.reason != reason)
            fprintf(stderr, "task %s: reason %s, message '%s'\n", id, itest_reason_name(s.reason),
                    s.message);
        CHECK(s.has_reason);
        CHECK_INT(s.reason, reason);
    }
    if (needle && !strstr(s.message, needle))
        fprintf(stderr, "task %s: message '%s' lacks '%s'\n", id, s.message, needle);
    if (needle)
        CHECK(strstr(s.message, needle) != NULL);
}

#endif
