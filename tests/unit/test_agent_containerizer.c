/*
 * test_agent_containerizer.c: the containerizer with real processes, cgroups and namespaces:
 * isolation choice and validation, pid namespace /proc, memory limit (OOM limitation), CFS
 * quota, pids limit against a fork bomb, killing double-forked processes (with and without a
 * pid namespace), exec failures, statistics, and orphan cleanup. The real-process tests need
 * root, cgroups and namespaces; elsewhere they are skipped with a message.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "containerizer/cgroups.h"
#include "containerizer/containerizer.h"
#include "errors.h"
#include "test.h"

static char why[256];
static char tmpdir[256];
static char cgroot[64];
static int real_ok = -1; /* -1 unknown, 0 no, 1 yes */
static char skip_reason[512];

static double now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Whether the real tests can run here (root, cgroups cpu+memory+pids, namespaces). */
static int real_available(void)
{
    if (real_ok >= 0)
        return real_ok;
    real_ok = 0;
    if (geteuid() != 0) {
        snprintf(skip_reason, sizeof skip_reason, "needs root");
        return 0;
    }
    struct cm_cgroups cg;
    struct cm_cgroups_options co = {.cgroups_root = cgroot};
    if (cm_cgroups_detect(&co, &cg, why, sizeof why) != 0) {
        snprintf(skip_reason, sizeof skip_reason, "cgroups not usable: %s", why);
        return 0;
    }
    unsigned core = CM_CG_BIT(CM_CG_CPU) | CM_CG_BIT(CM_CG_MEMORY) | CM_CG_BIT(CM_CG_PIDS);
    if ((cg.usable & core) != core) {
        snprintf(skip_reason, sizeof skip_reason, "cgroup controllers missing: %s", cg.missing);
        return 0;
    }
    if (!cm_launcher_linux_usable()) {
        snprintf(skip_reason, sizeof skip_reason, "cannot create pid/mount namespaces");
        return 0;
    }
    real_ok = 1;
    return 1;
}

#define NEED_REAL()                                                                                \
    do {                                                                                           \
        if (!real_available())                                                                     \
            SKIP_CASE("%s", skip_reason);                                                          \
    } while (0)

static struct cm_containerizer *make(const char *isolation, const char *launcher, bool cfs,
                                     uint64_t max_pids)
{
    char runtime[512];
    snprintf(runtime, sizeof runtime, "%s/runtime", tmpdir);
    struct cm_containerizer_options o = {
        .isolation = isolation,
        .launcher = launcher,
        .cgroups_root = cgroot,
        .cgroups_enable_cfs = cfs,
        .cgroups_max_pids = max_pids,
        .runtime_dir = runtime,
    };
    struct cm_containerizer *c = NULL;
    int rc = cm_containerizer_new(&o, &c, why, sizeof why);
    if (rc)
        fprintf(stderr, "cm_containerizer_new: %s\n", why);
    return c;
}

/* Launches sh -c script in container id with the given cpus/mem. */
static int launch_sh(struct cm_containerizer *c, const char *id, const char *script, double cpus,
                     double mem, pid_t *pid)
{
    char res[64], out[512], err[512];
    snprintf(res, sizeof res, "cpus:%g;mem:%g", cpus, mem);
    struct cm_resources r;
    cm_resources_init(&r);
    cm_resources_parse(&r, res, "*", NULL, 0);
    snprintf(out, sizeof out, "%s/stdout", tmpdir);
    snprintf(err, sizeof err, "%s/stderr", tmpdir);
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    char *envp[] = {"PATH=/usr/bin:/bin:/usr/sbin:/sbin", NULL};
    struct cm_launch_spec spec = {
        .container_id = id,
        .argv = argv,
        .envp = envp,
        .cwd = tmpdir,
        .stdout_path = out,
        .stderr_path = err,
        .resources = &r,
    };
    int rc = cm_containerizer_launch(c, &spec, pid, why, sizeof why);
    cm_resources_cleanup(&r);
    if (rc)
        fprintf(stderr, "launch: %s\n", why);
    return rc;
}

/* Waits for pid up to secs; returns its wait status or -1 on timeout. */
static int wait_for(pid_t pid, double secs)
{
    double end = now_secs() + secs;
    while (now_secs() < end) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 && errno != EINTR)
            return -1;
        usleep(5000);
    }
    return -1;
}

static const char *read_file(const char *name)
{
    static char buf[8192];
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    buf[0] = '\0';
    FILE *f = fopen(p, "r");
    if (!f)
        return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void cg_dir(const char *ctl, const char *id, char *buf, size_t len)
{
    snprintf(buf, len, "/sys/fs/cgroup/%s/%s/%s", ctl, cgroot, id);
}

static int dir_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* ---- tests without real processes ---- */

static void test_validation(void)
{
    struct cm_containerizer *c = NULL;
    struct cm_containerizer_options o = {.isolation = "posix/cpu,bogus/thing"};
    CHECK(cm_containerizer_new(&o, &c, why, sizeof why) == CM_EINVAL);
    CHECK(strstr(why, "bogus/thing") != NULL);
    CHECK(c == NULL);
    o.isolation = "posix/cpu";
    o.launcher = "docker";
    CHECK(cm_containerizer_new(&o, &c, why, sizeof why) == CM_EINVAL);
    CHECK(strstr(why, "docker") != NULL);
    o.launcher = NULL;
    o.isolation = " posix/cpu , posix/mem,posix/cpu ";
    REQUIRE(cm_containerizer_new(&o, &c, why, sizeof why) == 0);
    CHECK_STR(cm_containerizer_isolation(c), "posix/cpu,posix/mem");
    CHECK(strstr(cm_containerizer_describe(c), "posix launcher") != NULL);
    cm_containerizer_free(c);
    if (real_available()) {
        o.isolation = "namespaces/pid";
        o.launcher = "posix";
        CHECK(cm_containerizer_new(&o, &c, why, sizeof why) == CM_EINVAL);
        CHECK(strstr(why, "posix") != NULL);
    }
}

static void test_default_isolation(void)
{
    struct cm_containerizer *c = make(NULL, NULL, false, 0);
    REQUIRE(c != NULL);
    printf("  %s\n", cm_containerizer_describe(c));
    if (real_available()) {
        CHECK_STR(cm_containerizer_isolation(c),
                  "cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid");
        CHECK(strstr(cm_containerizer_describe(c), "linux launcher") != NULL);
    } else {
        CHECK(strstr(cm_containerizer_describe(c), "Falling back") != NULL);
    }
    cm_containerizer_free(c);
}

static void test_posix_launch(void)
{
    struct cm_containerizer *c = make("posix/cpu,posix/mem", NULL, false, 0);
    REQUIRE(c != NULL);
    pid_t pid;
    REQUIRE(launch_sh(c, "posix1", "echo hello-$((6*7)); exit 3", 0.1, 32, &pid) == 0);
    int st = wait_for(pid, 5);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);
    cm_containerizer_reaped(c, "posix1");
    CHECK(strstr(read_file("stdout"), "hello-42") != NULL);
    CHECK(cm_containerizer_count(c) == 0);
    /* An exec failure is reported by the launch itself. */
    char *argv[] = {"/nonexistent/executor", NULL};
    char *envp[] = {NULL};
    char out[512];
    snprintf(out, sizeof out, "%s/stdout", tmpdir);
    struct cm_launch_spec spec = {.container_id = "posix2",
                                  .argv = argv,
                                  .envp = envp,
                                  .cwd = tmpdir,
                                  .stdout_path = out,
                                  .stderr_path = out};
    CHECK(cm_containerizer_launch(c, &spec, &pid, why, sizeof why) == -ENOENT);
    CHECK(strstr(why, "Failed to execute '/nonexistent/executor'") != NULL);
    CHECK(cm_containerizer_count(c) == 0);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    cm_containerizer_free(c);
}

/* ---- real tests ---- */

static void test_pid_namespace(void)
{
    NEED_REAL();
    struct cm_containerizer *c = make(NULL, NULL, false, 0);
    REQUIRE(c != NULL);
    pid_t pid;
    unlink("stdout");
    REQUIRE(launch_sh(c, "pidns1",
                      "echo pid=$$; echo procs=$(ls /proc | grep -c '^[0-9]'); "
                      "echo host=$(grep -c . /proc/1/cmdline)",
                      0.1, 32, &pid) == 0);
    int st = wait_for(pid, 5);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cm_containerizer_reaped(c, "pidns1");
    const char *out = read_file("stdout");
    printf("  task output: %s", out);
    /* The task is pid 2 under the namespace's init and sees a handful of processes. */
    CHECK(strstr(out, "pid=2\n") != NULL);
    const char *p = strstr(out, "procs=");
    REQUIRE(p != NULL);
    int n = atoi(p + 6);
    CHECK(n >= 1 && n <= 5);

    /* An exec failure under the namespace's init is reported by the launch, and cleaned up. */
    char *argv[] = {"/nonexistent/executor", NULL};
    char *envp[] = {NULL};
    char outp[512];
    snprintf(outp, sizeof outp, "%s/stdout", tmpdir);
    struct cm_launch_spec spec = {.container_id = "pidns2",
                                  .argv = argv,
                                  .envp = envp,
                                  .cwd = tmpdir,
                                  .stdout_path = outp,
                                  .stderr_path = outp};
    CHECK(cm_containerizer_launch(c, &spec, &pid, why, sizeof why) == -ENOENT);
    CHECK(strstr(why, "Failed to execute '/nonexistent/executor'") != NULL);
    CHECK(cm_containerizer_count(c) == 0);
    char d[512];
    cg_dir("memory", "pidns2", d, sizeof d);
    CHECK(!dir_exists(d));
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    cm_containerizer_free(c);
}

static void test_memory_limit(void)
{
    NEED_REAL();
    struct cm_containerizer *c = make(NULL, NULL, false, 0);
    REQUIRE(c != NULL);
    pid_t pid;
    /* tail buffers its whole newline-free input: it grows until the kernel kills it. */
    REQUIRE(launch_sh(c, "oom1", "head -c 400m /dev/zero | tail; exit 0", 0.1, 32, &pid) == 0);
    int st = wait_for(pid, 20);
    CHECK(st != -1);
    char msg[256] = "";
    double mb = 0;
    CHECK(cm_containerizer_limitation(c, "oom1", msg, sizeof msg, &mb) == CM_LIMITATION_MEMORY);
    printf("  %s\n", msg);
    CHECK(strstr(msg, "Memory limit exceeded: Requested: 32MB Maximum Used: ") != NULL);
    CHECK(mb == 32);
    cm_containerizer_reaped(c, "oom1");
    char d[512];
    cg_dir("memory", "oom1", d, sizeof d);
    CHECK(!dir_exists(d));
    cm_containerizer_free(c);
}

static double cpu_secs(struct cm_containerizer *c, const char *id)
{
    json_t *s = json_object();
    cm_containerizer_usage(c, id, 0, s);
    double v = json_real_value(json_object_get(s, "cpus_user_time_secs")) +
               json_real_value(json_object_get(s, "cpus_system_time_secs"));
    json_decref(s);
    return v;
}

static void test_cfs_quota_and_statistics(void)
{
    NEED_REAL();
    struct cm_containerizer *c = make(NULL, NULL, true, 0);
    REQUIRE(c != NULL);
    pid_t pid;
    REQUIRE(launch_sh(c, "cpu1", "while :; do :; done", 0.25, 32, &pid) == 0);
    usleep(200000);
    double t0 = now_secs(), c0 = cpu_secs(c, "cpu1");
    usleep(2000000);
    double t1 = now_secs(), c1 = cpu_secs(c, "cpu1");
    double share = (c1 - c0) / (t1 - t0);
    printf("  busy loop with cpus:0.25 and CFS used %.3f of a core\n", share);
    CHECK(share > 0.1 && share < 0.4);

    json_t *s = json_object();
    REQUIRE(cm_containerizer_usage(c, "cpu1", 123.5, s) == 0);
    char *text = json_dumps(s, JSON_SORT_KEYS);
    printf("  statistics: %s\n", text);
    free(text);
    CHECK(json_real_value(json_object_get(s, "timestamp")) == 123.5);
    CHECK(json_real_value(json_object_get(s, "cpus_limit")) == 0.25);
    CHECK(json_integer_value(json_object_get(s, "mem_limit_bytes")) == 32 * 1024 * 1024);
    CHECK(json_real_value(json_object_get(s, "cpus_user_time_secs")) > 0);
    CHECK(json_integer_value(json_object_get(s, "cpus_nr_periods")) > 0);
    CHECK(json_integer_value(json_object_get(s, "cpus_nr_throttled")) > 0);
    CHECK(json_integer_value(json_object_get(s, "mem_total_bytes")) > 0);
    CHECK(json_object_get(s, "mem_rss_bytes") != NULL);
    CHECK(json_object_get(s, "mem_cache_bytes") != NULL);
    CHECK(json_integer_value(json_object_get(s, "processes")) >= 2); /* init + sh */
    json_decref(s);

    CHECK(cm_containerizer_kill(c, "cpu1", SIGKILL) == 0);
    int st = wait_for(pid, 5);
    CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    cm_containerizer_reaped(c, "cpu1");
    cm_containerizer_free(c);
}

static void test_fork_bomb(void)
{
    NEED_REAL();
    struct cm_containerizer *c = make(NULL, NULL, false, 64);
    REQUIRE(c != NULL);
    pid_t pid;
    REQUIRE(launch_sh(c, "bomb1", "b() { b | b & }; b; sleep 100", 0.1, 64, &pid) == 0);
    char d[512], p[600];
    cg_dir("pids", "bomb1", d, sizeof d);
    snprintf(p, sizeof p, "%s/pids.current", d);
    long max_seen = 0;
    for (int i = 0; i < 100; i++) {
        FILE *f = fopen(p, "r");
        long v = 0;
        if (f) {
            if (fscanf(f, "%ld", &v) != 1)
                v = 0;
            fclose(f);
        }
        if (v > max_seen)
            max_seen = v;
        usleep(10000);
    }
    printf("  fork bomb: at most %ld pids seen (limit 64)\n", max_seen);
    CHECK(max_seen > 10 && max_seen <= 64);
    CHECK(cm_containerizer_kill(c, "bomb1", SIGKILL) == 0);
    CHECK(wait_for(pid, 10) != -1);
    cm_containerizer_reaped(c, "bomb1");
    CHECK(!dir_exists(d));
    cm_containerizer_free(c);
}

/* Reads the container's host pids from its pids cgroup. */
static size_t cgroup_pids(const char *id, pid_t *pids, size_t cap)
{
    char d[512], p[600];
    cg_dir("pids", id, d, sizeof d);
    snprintf(p, sizeof p, "%s/cgroup.procs", d);
    FILE *f = fopen(p, "r");
    size_t n = 0;
    if (!f)
        return 0;
    long v;
    while (n < cap && fscanf(f, "%ld", &v) == 1)
        pids[n++] = (pid_t)v;
    fclose(f);
    return n;
}

static int alive(pid_t pid)
{
    char p[64], buf[512];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[2] != 'Z' && rp[2] != 'X';
}

static void double_fork_case(const char *isolation, const char *launcher, const char *id)
{
    struct cm_containerizer *c = make(isolation, launcher, false, 0);
    REQUIRE(c != NULL);
    pid_t pid;
    REQUIRE(launch_sh(c, id, "(setsid sleep 1000 &); (sleep 1001 &); sleep 1002", 0.1, 32, &pid) ==
            0);
    pid_t pids[64];
    size_t n = 0;
    for (int i = 0; i < 200 && n < 4; i++) {
        usleep(10000);
        n = cgroup_pids(id, pids, 64);
    }
    CHECK(n >= 4); /* sh + three sleeps (+ the init under a pid namespace) */
    CHECK(cm_containerizer_kill(c, id, SIGKILL) == 0);
    CHECK(wait_for(pid, 10) != -1);
    cm_containerizer_reaped(c, id);
    usleep(50000);
    for (size_t i = 0; i < n; i++)
        CHECK(!alive(pids[i]));
    char d[512];
    cg_dir("pids", id, d, sizeof d);
    CHECK(!dir_exists(d));
    cg_dir("memory", id, d, sizeof d);
    CHECK(!dir_exists(d));
    cg_dir("cpu", id, d, sizeof d);
    CHECK(!dir_exists(d));
    cm_containerizer_free(c);
}

static void test_double_fork_pid_namespace(void)
{
    NEED_REAL();
    double_fork_case(NULL, NULL, "dfork1");
}

static void test_double_fork_cgroups_only(void)
{
    NEED_REAL();
    double_fork_case("cgroups/cpu,cgroups/mem,cgroups/pids", "posix", "dfork2");
}

static void test_init_reaps_orphans(void)
{
    NEED_REAL();
    struct cm_containerizer *c = make(NULL, NULL, false, 0);
    REQUIRE(c != NULL);
    pid_t pid;
    /* 20 orphans exit at once and are re-parented to the init, which must reap them. */
    REQUIRE(
        launch_sh(c, "reap1",
                  "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do "
                  "(sleep 0.2 &); done; sleep 1; "
                  "echo zombies=$(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l)",
                  0.1, 32, &pid) == 0);
    int st = wait_for(pid, 10);
    CHECK(st != -1 && WIFEXITED(st));
    cm_containerizer_reaped(c, "reap1");
    const char *out = read_file("stdout");
    printf("  %s", strstr(out, "zombies=") ? strstr(out, "zombies=") : out);
    CHECK(strstr(out, "zombies=0\n") != NULL);
    cm_containerizer_free(c);
}

static void test_uts_ipc_namespaces(void)
{
    NEED_REAL();
    struct cm_containerizer *c =
        make("namespaces/pid,namespaces/ipc,namespaces/uts,filesystem/linux", NULL, false, 0);
    REQUIRE(c != NULL);
    CHECK(strstr(cm_containerizer_describe(c), "linux launcher") != NULL);
    char before[256] = "", after[256] = "";
    gethostname(before, sizeof before);
    unlink("stdout");
    pid_t pid;
    REQUIRE(launch_sh(c, "uts1",
                      "hostname cz-uts-test && echo host=$(hostname); "
                      "echo ipc=$(readlink /proc/self/ns/ipc)",
                      0.1, 32, &pid) == 0);
    int st = wait_for(pid, 5);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cm_containerizer_reaped(c, "uts1");
    gethostname(after, sizeof after);
    const char *out = read_file("stdout");
    printf("  %s", out);
    CHECK(strstr(out, "host=cz-uts-test\n") != NULL);
    CHECK_STR(after, before);
    char self_ipc[128] = "";
    ssize_t n = readlink("/proc/self/ns/ipc", self_ipc, sizeof self_ipc - 1);
    REQUIRE(n > 0);
    self_ipc[n] = '\0';
    CHECK(strstr(out, "ipc=ipc:[") != NULL && strstr(out, self_ipc) == NULL);
    cm_containerizer_free(c);
}

static void test_orphan_cleanup(void)
{
    NEED_REAL();
    struct cm_containerizer *c = make(NULL, NULL, false, 0);
    REQUIRE(c != NULL);
    pid_t pid;
    REQUIRE(launch_sh(c, "orphan1", "sleep 1000", 0.1, 32, &pid) == 0);
    /* The agent "crashes": the containerizer is dropped without reaping. */
    cm_containerizer_free(c);
    char d[512];
    cg_dir("memory", "orphan1", d, sizeof d);
    CHECK(dir_exists(d));
    c = make(NULL, NULL, false, 0);
    REQUIRE(c != NULL);
    CHECK(!dir_exists(d));
    CHECK(wait_for(pid, 5) != -1);
    cm_containerizer_free(c);
}

static void cleanup_roots(void)
{
    static const char *const ctls[] = {"cpu", "cpuacct", "memory", "pids", "freezer"};
    for (size_t i = 0; i < sizeof ctls / sizeof ctls[0]; i++) {
        char d[256];
        snprintf(d, sizeof d, "/sys/fs/cgroup/%s/%s", ctls[i], cgroot);
        rmdir(d);
    }
    nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_setup(void)
{
    snprintf(cgroot, sizeof cgroot, "cmesos-test-%d", (int)getpid());
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cm-cz-XXXXXX");
    REQUIRE(mkdtemp(tmpdir) != NULL);
    if (chdir(tmpdir) != 0)
        REQUIRE(0);
}

static void test_teardown(void)
{
    if (chdir("/") != 0)
        CHECK(0);
    cleanup_roots();
}

TEST_MAIN(FIXTURE(test_setup), TEST(test_validation), TEST(test_default_isolation),
          TEST(test_posix_launch), TEST(test_pid_namespace), TEST(test_memory_limit),
          TEST(test_cfs_quota_and_statistics), TEST(test_fork_bomb),
          TEST(test_double_fork_pid_namespace), TEST(test_double_fork_cgroups_only),
          TEST(test_init_reaps_orphans), TEST(test_uts_ipc_namespaces), TEST(test_orphan_cleanup),
          FIXTURE(test_teardown))
