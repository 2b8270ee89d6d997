/*
 * itest_task_group_nested: the default executor's tasks are real nested containers (root and
 * cgroup v1 needed; skipped otherwise):
 * - both tasks of a group share the executor's network, UTS and IPC namespaces (the agent runs
 *   with namespaces/ipc and namespaces/uts, so the executor's differ from the host's) and have
 *   a mount and pid namespace of their own;
 * - each task's cgroup is under the executor's (<root>/<executor>/mesos/<task container>) with
 *   its own memory limit, read from the cgroup by the task itself, and its own statistics in
 *   /containers?show_nested=true and GET_CONTAINERS with show_nested;
 * - a task over its memory limit fails with REASON_CONTAINER_LIMITATION_MEMORY and the rest of
 *   the group is killed;
 * - agent kill -9 with a running group (checkpointing framework): the restarted agent recovers
 *   the nested containers, the group finishes with the right states, and no cgroup is left;
 * - agent kill -9 with a running group of a framework without checkpointing: the restarted
 *   agent's orphan cleanup kills the executor's container and its tasks' (cgroup subtree).
 */
#include "harness.h"
#include "harness_agent.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CG_MEM "/sys/fs/cgroup/memory"

/* The agents' --cgroups_root, one per run of this binary ("cmesos-nested-itest-<pid>"): the
 * cases count every cgroup under it, and another run of this test at the same time (a second
 * build tree's suite on the same machine) must not add its own. remove_roots() removes it
 * from every hierarchy at the end. */
static char cgroups_root[64];
/* CG_MEM/<cgroups_root> */
static char mem_root[128];
static char root_flag[96];

static const char *FLAGS[] = {
    "--isolation=cgroups/cpu,cgroups/mem,namespaces/pid,namespaces/ipc,namespaces/uts", root_flag,
    "--registration_backoff_factor=100ms", NULL};

static json_t *task(const char *tid, const char *agent_id, const char *cmd, double mem)
{
    return json_pack("{s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:o}", "name", tid, "task_id", "value", tid,
                     "agent_id", "value", agent_id, "command", "value", cmd, "resources",
                     itest_json_resources(0.1, mem));
}

/* Waits for task's first terminal update (acknowledging on the way); returns its state and,
 * in *reason, its reason (-1 when none). */
static int terminal_of(struct itest_fw *fw, const char *tid, int *reason)
{
    struct itest_event ev;
    for (;;) {
        if (itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, tid, ITEST_WAIT_MS, &ev) !=
            0)
            return -1;
        if (ev.status.has_uuid)
            itest_fw_ack(fw, &ev.status);
        int s = ev.status.state;
        if (s == MESOS__V1__TASK_STATE__TASK_FINISHED || s == MESOS__V1__TASK_STATE__TASK_FAILED ||
            s == MESOS__V1__TASK_STATE__TASK_KILLED || s == MESOS__V1__TASK_STATE__TASK_LOST ||
            s == MESOS__V1__TASK_STATE__TASK_ERROR || s == MESOS__V1__TASK_STATE__TASK_DROPPED) {
            fprintf(stderr, "  %s: %s (%s)\n", tid, itest_state_name(s), ev.status.message);
            if (reason)
                *reason = ev.status.has_reason ? ev.status.reason : -1;
            return s;
        }
    }
}

static void machine_check(void)
{
    struct stat st;
    if (geteuid() != 0)
        TEST_SKIP("nested containers need root (cgroups and namespaces)");
    if (stat(CG_MEM, &st) != 0 || stat("/sys/fs/cgroup/cpu", &st) != 0)
        TEST_SKIP("nested cgroups need cgroup v1 memory and cpu hierarchies");
    char bin[512];
    if (access(itest_bin("mesos-default-executor", bin, sizeof bin), X_OK) != 0)
        TEST_SKIP("%s is missing", bin);
    snprintf(cgroups_root, sizeof cgroups_root, "cmesos-nested-itest-%ld", (long)getpid());
    snprintf(mem_root, sizeof mem_root, CG_MEM "/%s", cgroups_root);
    snprintf(root_flag, sizeof root_flag, "--cgroups_root=%s", cgroups_root);
}

/* Removes the run's cgroups root from every hierarchy (the agents leave the empty roots). */
static void remove_roots(void)
{
    DIR *d = opendir("/sys/fs/cgroup");
    for (struct dirent *de; d && (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "/sys/fs/cgroup/%s/%s", de->d_name, cgroups_root);
        /* The last agent's teardown may still be removing a container's cgroups. */
        int rc = 0;
        for (int waited = 0; (rc = rmdir(path)) != 0 && errno == EBUSY && waited < 5000;
             waited += 100)
            usleep(100 * 1000);
        if (rc != 0 && errno != ENOENT && errno != ENOTDIR)
            fprintf(stderr, "  could not remove %s: %s\n", path, strerror(errno));
    }
    if (d)
        closedir(d);
}

static int start(struct itest_cluster *c, struct itest_fw **fw, int checkpoint)
{
    struct itest_cluster_opts o = {.no_agent = 1};
    if (itest_cluster_start(c, &o) != 0 || itest_agent_spawn(c, NULL, FLAGS) != 0 ||
        itest_agent_wait_registered(c, ITEST_WAIT_MS) != 0)
        return -1;
    struct itest_fw_opts fo = {.checkpoint = checkpoint, .failover_timeout = 60};
    *fw = itest_fw_start(c->master_port, ITEST_JSON, &fo);
    return *fw ? 0 : -1;
}

/* Waits until path exists and has a line; returns its malloc'd text or NULL. */
static char *wait_file(const char *path)
{
    for (int waited = 0; waited < ITEST_WAIT_MS; waited += 50) {
        char *t = itest_read_file(path, NULL);
        if (t && strchr(t, '\n'))
            return t;
        free(t);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* The pid of the default executor running executor eid (its environment names it). */
static pid_t executor_pid(const char *eid)
{
    char want[300];
    snprintf(want, sizeof want, "MESOS_EXECUTOR_ID=%s", eid);
    DIR *d = opendir("/proc");
    pid_t found = 0;
    for (struct dirent *de; d && !found && (de = readdir(d));) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/comm", pid);
        char *comm = itest_read_file(path, NULL);
        int is_exec = comm && strncmp(comm, "mesos-default-e", 15) == 0;
        free(comm);
        if (!is_exec)
            continue;
        snprintf(path, sizeof path, "/proc/%ld/environ", pid);
        size_t len = 0;
        char *env = itest_read_file(path, &len);
        for (size_t off = 0; env && off < len; off += strlen(env + off) + 1)
            if (strcmp(env + off, want) == 0)
                found = (pid_t)pid;
        free(env);
    }
    if (d)
        closedir(d);
    return found;
}

static void ns_of(pid_t pid, const char *ns, char *out, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/ns/%s", (long)pid, ns);
    ssize_t n = readlink(path, out, len - 1);
    out[n > 0 ? n : 0] = '\0';
}

/* One line of a task's report "<ns>:<link>", or "" */
static void report_line(const char *text, const char *key, char *out, size_t len)
{
    out[0] = '\0';
    char k[32];
    snprintf(k, sizeof k, "%s=", key);
    const char *p = text ? strstr(text, k) : NULL;
    if (!p)
        return;
    p += strlen(k);
    size_t n = strcspn(p, "\n");
    snprintf(out, len, "%.*s", (int)n, p);
}

/* A task's shell command writing its namespaces, its memory cgroup and that cgroup's limit to
 * <dir>/<tid>.report, then staying up until <dir>/done exists. */
static char *report_cmd(const char *dir, const char *tid)
{
    char *cmd = NULL;
    if (asprintf(&cmd,
                 "cg=$(grep ':memory:' /proc/self/cgroup | cut -d: -f3); "
                 "{ for n in net uts ipc mnt pid; do echo \"$n=$(readlink /proc/self/ns/$n)\"; "
                 "done; echo \"cgroup=$cg\"; "
                 "echo \"limit=$(cat " CG_MEM "$cg/memory.limit_in_bytes)\"; } > %s/%s.tmp && "
                 "mv %s/%s.tmp %s/%s.report; "
                 "i=0; while [ ! -e %s/done ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done",
                 dir, tid, dir, tid, dir, tid, dir) < 0)
        abort();
    return cmd;
}

static void test_shared_namespaces_and_own_limits(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw, 0) == 0);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.3, 160, ITEST_WAIT_MS, &off) == 0);
    char *c1 = report_cmd(c.dir, "t1"), *c2 = report_cmd(c.dir, "t2");
    json_t *tasks = json_array();
    json_array_append_new(tasks, task("t1", c.agent_id, c1, 32));
    json_array_append_new(tasks, task("t2", c.agent_id, c2, 64));
    free(c1);
    free(c2);
    CHECK_INT(itest_fw_launch_group_json(fw, &off, itest_json_executor("pod-ns", "DEFAULT"), tasks),
              202);
    char p1[512], p2[512], done[512];
    snprintf(p1, sizeof p1, "%s/t1.report", c.dir);
    snprintf(p2, sizeof p2, "%s/t2.report", c.dir);
    snprintf(done, sizeof done, "%s/done", c.dir);
    char *r1 = wait_file(p1), *r2 = wait_file(p2);
    REQUIRE(r1 && r2);
    pid_t ep = executor_pid("pod-ns");
    REQUIRE(ep > 0);
    static const char *const shared[] = {"net", "uts", "ipc"};
    for (size_t i = 0; i < 3; i++) {
        char e[128], self[128], a[128], b[128];
        ns_of(ep, shared[i], e, sizeof e);
        ns_of(getpid(), shared[i], self, sizeof self);
        report_line(r1, shared[i], a, sizeof a);
        report_line(r2, shared[i], b, sizeof b);
        fprintf(stderr, "  %s: executor %s, t1 %s, t2 %s, test %s\n", shared[i], e, a, b, self);
        CHECK(e[0] != '\0');
        CHECK_STR(a, e);
        CHECK_STR(b, e);
        if (strcmp(shared[i], "net") != 0) /* no network isolator: net is the host's */
            CHECK(strcmp(e, self) != 0);
    }
    static const char *const own[] = {"mnt", "pid"};
    for (size_t i = 0; i < 2; i++) {
        char e[128], a[128], b[128];
        ns_of(ep, own[i], e, sizeof e);
        report_line(r1, own[i], a, sizeof a);
        report_line(r2, own[i], b, sizeof b);
        CHECK(a[0] && b[0]);
        CHECK(strcmp(a, e) != 0);
        CHECK(strcmp(a, b) != 0);
    }
    char cg1[512], cg2[512], l1[64], l2[64];
    report_line(r1, "cgroup", cg1, sizeof cg1);
    report_line(r2, "cgroup", cg2, sizeof cg2);
    report_line(r1, "limit", l1, sizeof l1);
    report_line(r2, "limit", l2, sizeof l2);
    fprintf(stderr, "  t1 %s limit %s; t2 %s limit %s\n", cg1, l1, cg2, l2);
    /* /<root>/<executor's container>/mesos/<task's container> */
    CHECK(cg1[0] == '/' && strncmp(cg1 + 1, cgroups_root, strlen(cgroups_root)) == 0 &&
          cg1[strlen(cgroups_root) + 1] == '/');
    CHECK(strstr(cg1, "/mesos/") != NULL);
    const char *s1 = strstr(cg1, "/mesos/"), *s2 = strstr(cg2, "/mesos/");
    CHECK(s1 && s2 && s1 - cg1 == s2 - cg2 && strncmp(cg1, cg2, (size_t)(s1 - cg1)) == 0);
    CHECK(strcmp(cg1, cg2) != 0);
    CHECK_STR(l1, "33554432");
    CHECK_STR(l2, "67108864");
    /* /containers?show_nested=true: each task's container with its own statistics. */
    struct itest_http_resp resp = {0};
    REQUIRE(itest_http(c.agent_port, "GET", "/containers?show_nested=true", NULL, NULL, 0, &resp,
                       ITEST_WAIT_MS) == 0);
    CHECK_INT(resp.status, 200);
    json_t *arr = json_loads((const char *)resp.body, 0, NULL);
    size_t nested = 0;
    double limits = 0;
    for (size_t i = 0; arr && i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        const char *parent = json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(e, "status"), "container_id"),
                            "parent"),
            "value"));
        if (!parent)
            continue;
        nested++;
        CHECK(strstr(cg1, parent) != NULL); /* the executor's container */
        limits +=
            json_number_value(json_object_get(json_object_get(e, "statistics"), "mem_limit_bytes"));
        CHECK(json_number_value(
                  json_object_get(json_object_get(e, "statistics"), "mem_total_bytes")) > 0);
    }
    CHECK_INT(nested, 2);
    CHECK(limits == 96.0 * 1024 * 1024);
    json_decref(arr);
    itest_http_resp_cleanup(&resp);
    /* The operator API's GET_CONTAINERS with show_nested lists them too (without: not). */
    static const char *const show[] = {"false", "true"};
    for (int sn = 0; sn < 2; sn++) {
        char body[128];
        snprintf(body, sizeof body,
                 "{\"type\":\"GET_CONTAINERS\",\"get_containers\":{\"show_nested\":%s}}", show[sn]);
        const char *h[] = {"Content-Type: application/json", "Accept: application/json", NULL};
        struct itest_http_resp r = {0};
        REQUIRE(itest_http(c.agent_port, "POST", "/api/v1", h, body, strlen(body), &r,
                           ITEST_WAIT_MS) == 0);
        CHECK_INT(r.status, 200);
        json_t *o = json_loads((const char *)r.body, 0, NULL);
        json_t *list = json_object_get(json_object_get(o, "get_containers"), "containers");
        size_t with_parent = 0;
        for (size_t i = 0; i < json_array_size(list); i++) {
            json_t *ci = json_object_get(json_array_get(list, i), "container_id");
            if (json_object_get(ci, "parent")) {
                with_parent++;
                CHECK(json_object_get(json_array_get(list, i), "resource_statistics") != NULL);
            }
        }
        CHECK_INT(with_parent, sn ? 2 : 0);
        json_decref(o);
        itest_http_resp_cleanup(&r);
    }
    free(r1);
    free(r2);
    FILE *f = fopen(done, "w");
    if (f)
        fclose(f);
    CHECK_STR(itest_state_name(terminal_of(fw, "t1", NULL)), "TASK_FINISHED");
    CHECK_STR(itest_state_name(terminal_of(fw, "t2", NULL)), "TASK_FINISHED");
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void test_oom_fails_task_and_kills_group(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw, 0) == 0);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.3, 160, ITEST_WAIT_MS, &off) == 0);
    json_t *tasks = json_array();
    json_array_append_new(tasks, task("calm", c.agent_id, "sleep 100", 32));
    /* dd's buffer is one 128 MB block, written whole: far over the 32 MB limit. */
    json_array_append_new(
        tasks,
        task("hog", c.agent_id, "sleep 0.5; dd if=/dev/zero of=/dev/null bs=128M count=4", 32));
    CHECK_INT(
        itest_fw_launch_group_json(fw, &off, itest_json_executor("pod-oom", "DEFAULT"), tasks),
        202);
    int reason = -1;
    CHECK_STR(itest_state_name(terminal_of(fw, "hog", &reason)), "TASK_FAILED");
    CHECK_INT(reason, MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY);
    CHECK_STR(itest_state_name(terminal_of(fw, "calm", NULL)), "TASK_KILLED");
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* Number of directories (cgroups) under <memory>/<root>, recursively. */
static int cgroups_left(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
        n += 1 + cgroups_left(sub);
    }
    closedir(d);
    return n;
}

static void test_agent_restart_with_running_group(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw, 1) == 0);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.3, 160, ITEST_WAIT_MS, &off) == 0);
    /* r1 ends on its own, likely while the agent is down; r2 runs until the test has seen it
     * recovered (its limit below), then ends: a fixed sleep for r2 could end before a slow
     * restart is over, and then there is nothing left to measure. Bounded by 60 s. */
    char go[512], r2cmd[700];
    snprintf(go, sizeof go, "%s/r2-go", c.dir);
    snprintf(r2cmd, sizeof r2cmd,
             "i=0; while [ ! -e %s ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; exit 0",
             go);
    json_t *tasks = json_array();
    json_array_append_new(tasks, task("r1", c.agent_id, "sleep 3", 32));
    json_array_append_new(tasks, task("r2", c.agent_id, r2cmd, 48));
    CHECK_INT(
        itest_fw_launch_group_json(fw, &off, itest_json_executor("pod-rec", "DEFAULT"), tasks),
        202);
    REQUIRE(itest_fw_wait_state(fw, "r1", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    REQUIRE(itest_fw_wait_state(fw, "r2", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    usleep(500 * 1000); /* the acknowledgements reach the agent */
    itest_agent_kill9(&c);
    usleep(300 * 1000);
    CHECK_INT(itest_agent_spawn(&c, NULL, FLAGS), 0);
    /* The recovered r2 is measured against its own (checkpointed) limit. The agent's restart
     * and recovery take as long as the machine's load makes them: poll toward the harness's
     * deadline (r2 runs until it is told). */
    double r2_limit = 0;
    for (int waited = 0; waited < ITEST_WAIT_MS && r2_limit == 0; waited += 100) {
        struct itest_http_resp resp = {0};
        if (itest_http(c.agent_port, "GET", "/containers?show_nested=true", NULL, NULL, 0, &resp,
                       ITEST_WAIT_MS) == 0 &&
            resp.status == 200) {
            json_t *arr = json_loads((const char *)resp.body, 0, NULL);
            for (size_t i = 0; arr && i < json_array_size(arr); i++) {
                json_t *st = json_object_get(json_array_get(arr, i), "statistics");
                double l = json_number_value(json_object_get(st, "mem_limit_bytes"));
                if (l == 48.0 * 1024 * 1024)
                    r2_limit = l;
            }
            json_decref(arr);
        }
        itest_http_resp_cleanup(&resp);
        if (r2_limit == 0)
            usleep(100 * 1000);
    }
    CHECK(r2_limit == 48.0 * 1024 * 1024);
    FILE *gf = fopen(go, "w");
    if (gf)
        fclose(gf);
    CHECK_STR(itest_state_name(terminal_of(fw, "r1", NULL)), "TASK_FINISHED");
    CHECK_STR(itest_state_name(terminal_of(fw, "r2", NULL)), "TASK_FINISHED");
    char *log = itest_read_file(itest_agent_log(&c), NULL);
    CHECK(log && strstr(log, "Recovered nested container"));
    free(log);
    /* Every cgroup goes once the executor is done. */
    int left = -1;
    for (int waited = 0; waited < ITEST_WAIT_MS; waited += 100) {
        if ((left = cgroups_left(mem_root)) == 0)
            break;
        usleep(100 * 1000);
    }
    CHECK_INT(left, 0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* Without checkpointing the group is not recovered: the restarted agent's orphan cleanup
 * kills the executor's container with the tasks' containers in its subtree. */
static void test_agent_restart_cleans_orphan_group(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw, 0) == 0);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.3, 160, ITEST_WAIT_MS, &off) == 0);
    char marker[512], cmd[700];
    snprintf(marker, sizeof marker, "%s/orphan-alive", c.dir);
    snprintf(cmd, sizeof cmd, "while true; do touch %s; sleep 0.1; done", marker);
    json_t *tasks = json_array();
    json_array_append_new(tasks, task("o1", c.agent_id, cmd, 32));
    json_array_append_new(tasks, task("o2", c.agent_id, "sleep 100", 32));
    CHECK_INT(
        itest_fw_launch_group_json(fw, &off, itest_json_executor("pod-orphan", "DEFAULT"), tasks),
        202);
    REQUIRE(itest_fw_wait_state(fw, "o1", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    REQUIRE(itest_fw_wait_state(fw, "o2", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    /* The executor's cgroup, its mesos/ and the two tasks' (each launch's child creates its
     * cgroup itself, so they may trail the RUNNING updates a little), and the loop running. */
    int before = 0;
    for (int waited = 0; waited < ITEST_WAIT_MS && before < 4; waited += 50) {
        before = cgroups_left(mem_root);
        usleep(50 * 1000);
    }
    CHECK_INT(before, 4);
    for (int waited = 0; waited < ITEST_WAIT_MS && access(marker, F_OK) != 0; waited += 50)
        usleep(50 * 1000);
    CHECK(access(marker, F_OK) == 0);
    itest_agent_kill9(&c);
    usleep(300 * 1000);
    CHECK_INT(itest_agent_spawn(&c, NULL, FLAGS), 0);
    int left = -1;
    for (int waited = 0; waited < ITEST_WAIT_MS; waited += 100) {
        if ((left = cgroups_left(mem_root)) == 0)
            break;
        usleep(100 * 1000);
    }
    CHECK_INT(left, 0);
    /* The looping task is dead: its marker stops changing. */
    unlink(marker);
    usleep(500 * 1000);
    CHECK(access(marker, F_OK) != 0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(FIXTURE(machine_check), TEST(test_shared_namespaces_and_own_limits),
           TEST(test_oom_fails_task_and_kills_group), TEST(test_agent_restart_with_running_group),
           TEST(test_agent_restart_cleans_orphan_group), FIXTURE(remove_roots))
