/*
 * test_agent_containerizer_async.c: the containerizer on an event loop, with real processes
 * and cgroups: a launch returns once the child is cloned and its exec result arrives as an
 * event; an exec failure is reported later (and read at once when the reap comes first); a
 * reaped container's double-forked processes are killed and its cgroups removed by the
 * timer-driven teardown; orphans of a previous run go through the same teardown. Needs root,
 * cgroups and namespaces; elsewhere the tests are skipped with a message.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "containerizer/cgroups.h"
#include "containerizer/containerizer.h"
#include "errors.h"
#include "gc.h"
#include "test.h"

static char why[256];
static char tmpdir[256];
static char cgroot[64];
static struct event_base *base;

/* What the callbacks heard. */
static int launched_calls, launched_rc, destroyed_calls, destroyed_rc;
static char launched_why[512];
/* The joined callback: how often, and how many launched callbacks had come before it. */
static int joined_calls, launched_before_joined;

static void on_joined(void *arg, const char *id)
{
    (void)arg;
    (void)id;
    joined_calls++;
    launched_before_joined += launched_calls;
}

static void on_launched(void *arg, const char *id, pid_t pid, int rc, const char *w)
{
    (void)arg;
    (void)id;
    (void)pid;
    launched_calls++;
    launched_rc = rc;
    snprintf(launched_why, sizeof launched_why, "%s", w);
}

static void on_destroyed(void *arg, const char *id, int rc, const char *w)
{
    (void)arg;
    (void)id;
    (void)w;
    destroyed_calls++;
    destroyed_rc = rc;
}

static int usable(void)
{
    if (geteuid() != 0)
        return 0;
    struct cm_cgroups cg;
    struct cm_cgroups_options co = {.cgroups_root = cgroot};
    if (cm_cgroups_detect(&co, &cg, why, sizeof why) != 0)
        return 0;
    unsigned core = CM_CG_BIT(CM_CG_CPU) | CM_CG_BIT(CM_CG_MEMORY) | CM_CG_BIT(CM_CG_PIDS);
    return (cg.usable & core) == core && cm_launcher_linux_usable();
}

#define NEED_REAL()                                                                                \
    do {                                                                                           \
        if (!usable())                                                                             \
            SKIP_CASE("needs root, cgroups and namespaces");                                       \
    } while (0)

static const char *helper_program; /* NULL: the program beside the test */
static int pool_size;              /* options.cgroup_pool */

static struct cm_containerizer *make(const char *isolation, const char *launcher)
{
    char runtime[512];
    snprintf(runtime, sizeof runtime, "%s/runtime", tmpdir);
    struct cm_containerizer_options o = {
        .isolation = isolation,
        .launcher = launcher,
        .cgroups_root = cgroot,
        .runtime_dir = runtime,
        .launch_helper = helper_program,
        .cgroup_pool = pool_size,
        .base = base,
        .launched = on_launched,
        .joined = on_joined,
        .destroyed = on_destroyed,
    };
    struct cm_containerizer *c = NULL;
    if (cm_containerizer_new(&o, &c, why, sizeof why) != 0)
        fprintf(stderr, "cm_containerizer_new: %s\n", why);
    launched_calls = destroyed_calls = joined_calls = launched_before_joined = 0;
    return c;
}

static int launch(struct cm_containerizer *c, const char *id, char *const *argv, pid_t *pid)
{
    char out[512];
    snprintf(out, sizeof out, "%s/out", tmpdir);
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct cm_launch_spec spec = {
        .container_id = id,
        .argv = argv,
        .envp = envp,
        .cwd = tmpdir,
        .stdout_path = out,
        .stderr_path = out,
    };
    return cm_containerizer_launch(c, &spec, pid, why, sizeof why);
}

/* Runs the loop until *flag is set or about secs have passed. */
static void run_until(const int *flag, double secs)
{
    for (int i = 0; i < (int)(secs * 100) && !*flag; i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
}

static int dir_exists(const char *ctl, const char *id)
{
    char d[512];
    struct stat sb;
    snprintf(d, sizeof d, "/sys/fs/cgroup/%s/%s/%s", ctl, cgroot, id);
    return stat(d, &sb) == 0;
}

/* 1 when the record log's last line for id says launched, 0 otherwise. */
static int recorded(const char *id)
{
    char p[512], line[512];
    snprintf(p, sizeof p, "%s/runtime.log", tmpdir);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    int state = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line + 1, id) == 0)
            state = line[0] == '+';
    }
    fclose(f);
    return state;
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

/* A process of the container by name, from its pids cgroup. */
static pid_t find_sleep(const char *id, const char *arg)
{
    char p[512];
    snprintf(p, sizeof p, "/sys/fs/cgroup/pids/%s/%s/cgroup.procs", cgroot, id);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    long v;
    pid_t found = 0;
    while (!found && fscanf(f, "%ld", &v) == 1) {
        char cp[64], cmd[256] = "";
        snprintf(cp, sizeof cp, "/proc/%ld/cmdline", v);
        int fd = open(cp, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, cmd, sizeof cmd - 1);
        close(fd);
        for (ssize_t i = 0; i < n - 1; i++)
            if (!cmd[i])
                cmd[i] = ' ';
        if (n > 0 && strstr(cmd, arg))
            found = (pid_t)v;
    }
    fclose(f);
    return found;
}

static void cases(const char *isolation, const char *launcher, const char *id)
{
    struct cm_containerizer *c = make(isolation, launcher);
    REQUIRE(c != NULL);
    char *argv[] = {"/bin/sh", "-c", "(setsid sleep 1000 &); sleep 1001", NULL};
    pid_t pid;
    REQUIRE(launch(c, id, argv, &pid) == 0);
    run_until(&launched_calls, 5);
    CHECK_INT(launched_calls, 1);
    CHECK_INT(launched_rc, 0);
    /* The child joined its cgroups (and said so) before its exec was reported. */
    CHECK_INT(joined_calls, 1);
    CHECK_INT(launched_before_joined, 0);
    pid_t escaped = 0;
    for (int i = 0; i < 200 && !escaped; i++) {
        usleep(10000);
        escaped = find_sleep(id, "sleep 1000");
    }
    CHECK(escaped > 0);
    CHECK_INT(cm_containerizer_kill(c, id, SIGKILL), 0);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    cm_containerizer_reaped(c, id);
    CHECK_INT(cm_containerizer_count(c), 0);
    /* Relaunching the id is refused until its teardown is done. */
    if (cm_containerizer_tearing_down(c) > 0)
        CHECK_INT(launch(c, id, argv, &pid), CM_EEXIST);
    run_until(&destroyed_calls, 10);
    CHECK_INT(destroyed_calls, 1);
    CHECK_INT(destroyed_rc, 0);
    CHECK(escaped <= 0 || !alive(escaped));
    CHECK(!dir_exists("pids", id));
    CHECK(!dir_exists("memory", id));
    CHECK(!dir_exists("cpu", id));
    cm_containerizer_free(c);
}

static void test_launch_and_teardown_pid_namespace(void)
{
    NEED_REAL();
    cases(NULL, NULL, "async1");
}

static void test_launch_and_teardown_cgroups_only(void)
{
    NEED_REAL();
    cases("cgroups/cpu,cgroups/mem,cgroups/pids", "posix", "async2");
}

static void test_exec_failure_is_an_event(void)
{
    NEED_REAL();
    struct cm_containerizer *c = make(NULL, NULL);
    REQUIRE(c != NULL);
    char *argv[] = {"/nonexistent/executor", NULL};
    pid_t pid;
    REQUIRE(launch(c, "fail1", argv, &pid) == 0);
    run_until(&launched_calls, 5);
    CHECK_INT(launched_calls, 1);
    CHECK(launched_rc != 0);
    CHECK(strstr(launched_why, "Failed to execute '/nonexistent/executor'") != NULL);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 127);
    const char *le = cm_containerizer_launch_error(c, "fail1");
    CHECK(le && strstr(le, "No such file") != NULL);
    /* Whoever reads the sandbox sees it too. */
    char out[512], buf[512] = "";
    snprintf(out, sizeof out, "%s/out", tmpdir);
    FILE *f = fopen(out, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    CHECK(strstr(buf, "Failed to execute '/nonexistent/executor': No such file") != NULL);
    cm_containerizer_reaped(c, "fail1");
    run_until(&destroyed_calls, 10);
    CHECK_INT(destroyed_calls, 1);
    cm_containerizer_free(c);
}

/* The reaper may hear of the exit before the loop delivers the report: it is read then. */
static void test_exec_failure_before_the_event(void)
{
    NEED_REAL();
    struct cm_containerizer *c = make("cgroups/cpu,cgroups/mem", "posix");
    REQUIRE(c != NULL);
    char *argv[] = {"/nonexistent/executor2", NULL};
    pid_t pid;
    REQUIRE(launch(c, "fail2", argv, &pid) == 0);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    const char *le = cm_containerizer_launch_error(c, "fail2");
    CHECK(le && strstr(le, "Failed to execute '/nonexistent/executor2'") != NULL);
    CHECK_INT(launched_calls, 1);
    cm_containerizer_reaped(c, "fail2");
    cm_containerizer_free(c); /* finishes the teardown */
    CHECK(!dir_exists("memory", "fail2"));
}

static void test_orphans_through_the_teardown(void)
{
    NEED_REAL();
    struct cm_containerizer *c = make(NULL, NULL);
    REQUIRE(c != NULL);
    char *argv[] = {"/bin/sleep", "1003", NULL};
    pid_t pid;
    REQUIRE(launch(c, "orphan1", argv, &pid) == 0);
    run_until(&launched_calls, 5);
    cm_containerizer_free(c); /* an agent crash: the container and its record stay */
    CHECK(alive(pid));
    c = make(NULL, NULL);
    REQUIRE(c != NULL);
    CHECK_INT(cm_containerizer_tearing_down(c), 1);
    run_until(&destroyed_calls, 10);
    CHECK_INT(destroyed_calls, 1);
    CHECK_INT(destroyed_rc, 0);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(!dir_exists("pids", "orphan1"));
    /* Its record is gone: the log no longer lists it as launched. */
    CHECK_INT(recorded("orphan1"), 0);
    cm_containerizer_free(c);
}

/* Launches go through the launch helper, whose containers are our children; when the helper
 * is gone, launches go on without it. */
static void test_launch_helper(void)
{
    NEED_REAL();
    struct cm_containerizer *c = make(NULL, NULL);
    REQUIRE(c != NULL);
    pid_t helper = cm_containerizer_helper_pid(c);
    REQUIRE(helper > 0);
    char *argv[] = {"/bin/sh", "-c", "exit 3", NULL};
    pid_t pid;
    REQUIRE(launch(c, "helped1", argv, &pid) == 0);
    run_until(&launched_calls, 5);
    CHECK_INT(launched_rc, 0);
    CHECK_INT(joined_calls, 1);
    CHECK_INT(recorded("helped1"), 1); /* appended by the child before it joined */
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid); /* the container is ours, not the helper's */
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);
    cm_containerizer_reaped(c, "helped1");
    run_until(&destroyed_calls, 10);
    CHECK_INT(destroyed_rc, 0);
    CHECK_INT(recorded("helped1"), 0);
    /* An exec failure through the helper is reported as before. */
    char *bad[] = {"/nonexistent/helped", NULL};
    launched_calls = 0;
    REQUIRE(launch(c, "helped2", bad, &pid) == 0);
    run_until(&launched_calls, 5);
    CHECK(launched_rc != 0);
    const char *err = cm_containerizer_launch_error(c, "helped2");
    CHECK(err && strstr(err, "Failed to execute '/nonexistent/helped'"));
    CHECK(waitpid(pid, &st, 0) == pid);
    cm_containerizer_reaped(c, "helped2");
    /* The helper dies: the next launch clones from here and says so in the log. */
    CHECK_INT(kill(helper, SIGKILL), 0);
    CHECK(waitpid(helper, &st, 0) == helper);
    launched_calls = 0;
    REQUIRE(launch(c, "helped3", argv, &pid) == 0);
    CHECK_INT(cm_containerizer_helper_pid(c), 0);
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);
    run_until(&launched_calls, 5);
    CHECK_INT(launched_rc, 0);
    cm_containerizer_reaped(c, "helped3");
    destroyed_calls = 0;
    run_until(&destroyed_calls, 10);
    cm_containerizer_free(c);
}

/* An update that comes while the child is still setting up its cgroups is not lost. */
static void test_update_before_the_exec(void)
{
    NEED_REAL();
    struct cm_containerizer *c = make(NULL, NULL);
    REQUIRE(c != NULL);
    char *argv[] = {"/bin/sleep", "1004", NULL};
    pid_t pid;
    REQUIRE(launch(c, "upd1", argv, &pid) == 0);
    struct cm_resources r;
    cm_resources_init(&r);
    cm_resources_parse(&r, "cpus:0.5;mem:96", "*", NULL, 0);
    CHECK_INT(cm_containerizer_update(c, "upd1", &r), 0);
    cm_resources_cleanup(&r);
    run_until(&launched_calls, 5);
    CHECK_INT(launched_rc, 0);
    char p[512], buf[64] = "";
    snprintf(p, sizeof p, "/sys/fs/cgroup/memory/%s/upd1/memory.limit_in_bytes", cgroot);
    FILE *f = fopen(p, "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = '\0';
        fclose(f);
    }
    CHECK_INT(atoll(buf), 96LL * 1024 * 1024);
    CHECK_INT(cm_containerizer_kill(c, "upd1", SIGKILL), 0);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    cm_containerizer_reaped(c, "upd1");
    run_until(&destroyed_calls, 10);
    CHECK_INT(destroyed_rc, 0);
    cm_containerizer_free(c);
}

/* The helper dies with its agent (a kill -9 included), so a restarted agent starts with a new
 * one and nothing of the old is left. */
static void test_launch_helper_dies_with_the_agent(void)
{
    NEED_REAL();
    int p[2];
    REQUIRE(pipe(p) == 0);
    pid_t agent = fork();
    REQUIRE(agent >= 0);
    if (agent == 0) {
        close(p[0]);
        event_base_free(base);
        base = event_base_new();
        struct cm_containerizer *c = make(NULL, NULL);
        pid_t h = c ? cm_containerizer_helper_pid(c) : 0;
        ssize_t w = write(p[1], &h, sizeof h);
        (void)w;
        pause(); /* until killed */
        _exit(0);
    }
    close(p[1]);
    pid_t helper = 0;
    CHECK(read(p[0], &helper, sizeof helper) == (ssize_t)sizeof helper);
    close(p[0]);
    REQUIRE(helper > 0);
    CHECK(alive(helper));
    CHECK_INT(kill(agent, SIGKILL), 0);
    int st;
    CHECK(waitpid(agent, &st, 0) == agent);
    int gone = 0;
    for (int i = 0; i < 200 && !gone; i++) {
        gone = !alive(helper);
        if (!gone)
            usleep(10000);
    }
    CHECK(gone);
}

/* Without the helper program the helper is a fork of the agent, and launches the same way:
 * cgroups joined before the exec, the container our child. */
static void test_launch_helper_forked(void)
{
    NEED_REAL();
    helper_program = "";
    struct cm_containerizer *c = make(NULL, NULL);
    helper_program = NULL;
    REQUIRE(c != NULL);
    REQUIRE(cm_containerizer_helper_pid(c) > 0);
    char *argv[] = {"/bin/sh", "-c", "cat /proc/self/cgroup; exit 4", NULL};
    pid_t pid;
    REQUIRE(launch(c, "forked1", argv, &pid) == 0);
    run_until(&launched_calls, 5);
    CHECK_INT(launched_rc, 0);
    CHECK_INT(joined_calls, 1);
    CHECK_INT(recorded("forked1"), 1);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 4);
    char out[512], *text = NULL;
    snprintf(out, sizeof out, "%s/out", tmpdir);
    FILE *f = fopen(out, "r");
    if (f) {
        static char buf[65536];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        text = buf;
        fclose(f);
    }
    char want[128];
    snprintf(want, sizeof want, "memory:/%s/forked1", cgroot);
    CHECK(text && strstr(text, want)); /* the shell ran inside the container's cgroup */
    cm_containerizer_reaped(c, "forked1");
    run_until(&destroyed_calls, 10);
    CHECK_INT(destroyed_rc, 0);
    cm_containerizer_free(c);
}

/* The child makes the sandbox and points runs/latest at it: in place the first time, replacing
 * the old link the next time (a relaunched executor). */
static void test_sandbox_and_latest_link(void)
{
    NEED_REAL();
    struct cm_containerizer *c = make(NULL, NULL);
    REQUIRE(c != NULL);
    const char *ids[] = {"run-a", "run-b"};
    for (int i = 0; i < 2; i++) {
        char cwd[512], out[600], link[512], tmp[512];
        snprintf(cwd, sizeof cwd, "%s/sb/executors/e/runs/%s", tmpdir, ids[i]);
        snprintf(out, sizeof out, "%s/stdout", cwd);
        snprintf(link, sizeof link, "%s/sb/executors/e/runs/latest", tmpdir);
        snprintf(tmp, sizeof tmp, "%s/sb/executors/e/runs/.latest.tmp", tmpdir);
        char *argv[] = {"/bin/true", NULL};
        char *envp[] = {NULL};
        struct cm_launch_spec spec = {
            .container_id = ids[i],
            .argv = argv,
            .envp = envp,
            .cwd = cwd,
            .stdout_path = out,
            .stderr_path = out,
            .create_cwd = true,
            .link = link,
            .link_tmp = tmp,
            .link_target = ids[i],
        };
        pid_t pid;
        launched_calls = 0;
        REQUIRE(cm_containerizer_launch(c, &spec, &pid, why, sizeof why) == 0);
        run_until(&launched_calls, 5);
        CHECK_INT(launched_rc, 0);
        int st;
        CHECK(waitpid(pid, &st, 0) == pid);
        char target[64] = "";
        ssize_t n = readlink(link, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        CHECK_STR(target, ids[i]);
        CHECK(access(out, F_OK) == 0);
        CHECK(access(tmp, F_OK) != 0 && errno == ENOENT);
        cm_containerizer_reaped(c, ids[i]);
        destroyed_calls = 0;
        run_until(&destroyed_calls, 10);
    }
    cm_containerizer_free(c);
}

/* Pool cgroup directories under the test's root in ctl. */
static int pool_dirs(const char *ctl)
{
    char d[512];
    snprintf(d, sizeof d, "/sys/fs/cgroup/%s/%s", ctl, cgroot);
    DIR *dir = opendir(d);
    if (!dir)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dir)))
        n += strncmp(de->d_name, ".pool-", 6) == 0;
    closedir(dir);
    return n;
}

/* The janitor makes cgroups ahead; a launch's child renames one (with pids.max set already),
 * the pool refills, and what it holds at exit is removed. */
static void test_cgroup_pool(void)
{
    NEED_REAL();
    pool_size = 8;
    struct cm_containerizer *c = make(NULL, NULL);
    pool_size = 0;
    REQUIRE(c != NULL);
    for (int i = 0; i < 500 && cm_containerizer_pool_ready(c) < 8; i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    CHECK_INT(cm_containerizer_pool_ready(c), 8);
    CHECK_INT(pool_dirs("pids"), 8);
    CHECK_INT(pool_dirs("memory"), 8);
    CHECK_INT(pool_dirs("cpuacct"), 8);
    char *argv[] = {"/bin/sleep", "1005", NULL};
    pid_t pid;
    REQUIRE(launch(c, "pooled1", argv, &pid) == 0);
    run_until(&launched_calls, 5);
    CHECK_INT(launched_rc, 0);
    /* The entry the launch took is forgotten: its record says so. */
    char p[512], line[512];
    snprintf(p, sizeof p, "%s/runtime.log", tmpdir);
    int used = 0;
    FILE *f = fopen(p, "r");
    if (f) {
        while (fgets(line, sizeof line, f))
            used += strncmp(line, "-.pool-", 7) == 0;
        fclose(f);
    }
    CHECK_INT(used, 1);
    snprintf(p, sizeof p, "/sys/fs/cgroup/pids/%s/pooled1/pids.max", cgroot);
    char buf[64] = "";
    f = fopen(p, "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = '\0';
        fclose(f);
    }
    CHECK_INT(atoi(buf), CM_CONTAINERIZER_DEFAULT_MAX_PIDS);
    pid_t sl = 0;
    for (int i = 0; i < 200 && !sl; i++, usleep(10000))
        sl = find_sleep("pooled1", "sleep 1005");
    CHECK(sl > 0); /* the task runs in the renamed cgroup */
    CHECK_INT(cm_containerizer_kill(c, "pooled1", SIGKILL), 0);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    cm_containerizer_reaped(c, "pooled1");
    run_until(&destroyed_calls, 10);
    CHECK_INT(destroyed_calls, 1); /* the container's only, not the pool's */
    CHECK(!dir_exists("pids", "pooled1"));
    cm_containerizer_free(c);
    CHECK_INT(pool_dirs("pids"), 0);
    CHECK_INT(pool_dirs("memory"), 0);
    CHECK_INT(pool_dirs("cpu"), 0);
}

static void test_setup(void)
{
    snprintf(cgroot, sizeof cgroot, "cmesos-async-%d", (int)getpid());
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cm-cza-XXXXXX");
    REQUIRE(mkdtemp(tmpdir) != NULL);
    base = event_base_new();
    REQUIRE(base != NULL);
}

static void test_cleanup(void)
{
    static const char *const ctls[] = {"cpu", "cpuacct", "memory", "pids", "freezer"};
    for (size_t i = 0; i < sizeof ctls / sizeof ctls[0]; i++) {
        char d[256];
        snprintf(d, sizeof d, "/sys/fs/cgroup/%s/%s", ctls[i], cgroot);
        rmdir(d);
    }
    CHECK_INT(cm_gc_remove_tree(tmpdir), 0);
    event_base_free(base);
}

TEST_MAIN(TEST(test_setup), TEST(test_launch_and_teardown_pid_namespace),
          TEST(test_launch_and_teardown_cgroups_only), TEST(test_exec_failure_is_an_event),
          TEST(test_exec_failure_before_the_event), TEST(test_orphans_through_the_teardown),
          TEST(test_update_before_the_exec), TEST(test_launch_helper),
          TEST(test_launch_helper_dies_with_the_agent), TEST(test_launch_helper_forked),
          TEST(test_sandbox_and_latest_link), TEST(test_cgroup_pool), TEST(test_cleanup))
