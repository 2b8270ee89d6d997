/*
 * test_agent_sweeper.c: the posix launcher's session sweep (cm_launcher_kill_sessions) and the
 * sweeper that batches it off the loop (sweeper.h), with real processes. Each "container" is a
 * session leader that forks a process into a group of its own (so killing the leader's group
 * does not reach it) and exits: only a sweep of the session can kill what it left. The test
 * process is a child subreaper, so those orphans become its children and their deaths can be
 * waited for and checked to be SIGKILLs. Needs no root.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "containerizer/containerizer.h"
#include "containerizer/sweeper.h"
#include "gc.h"
#include "test.h"

static struct event_base *base;
static char tmpdir[256];
static char self_exe[512];

/* The executor role (the test binary exec'd by the containerizer, see the constructor): fork a
 * process into a group of its own, wait until it is there, and exit. */
static void run_leader_role(void)
{
    int p[2];
    if (pipe(p) != 0)
        _exit(2);
    pid_t gc = fork();
    if (gc == 0) {
        close(p[0]);
        setpgid(0, 0);
        const char *file = getenv("SWEEP_ORPHAN_FILE");
        char tmp[600], line[32];
        snprintf(tmp, sizeof tmp, "%s.tmp", file);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int len = snprintf(line, sizeof line, "%d\n", (int)getpid());
        if (fd < 0 || write(fd, line, (size_t)len) != len || close(fd) != 0 ||
            rename(tmp, file) != 0)
            _exit(3);
        if (write(p[1], "x", 1) != 1)
            _exit(3);
        close(p[1]);
        for (;;)
            pause();
    }
    close(p[1]);
    char c;
    _exit(gc > 0 && read(p[0], &c, 1) == 1 ? 0 : 4);
}

__attribute__((constructor)) static void role(void)
{
    const char *r = getenv("SWEEP_ROLE");
    if (r && strcmp(r, "leader") == 0)
        run_leader_role();
}

/* A session leader (a child of ours) that forks a process into its own group and exits; the
 * leader is reaped here. *orphan is then our child (we are a subreaper). */
static int spawn_session(pid_t *sid, pid_t *orphan)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t leader = fork();
    if (leader == 0) {
        close(p[0]);
        setsid();
        pid_t gc = fork();
        if (gc == 0) {
            setpgid(0, 0);
            pid_t me = getpid();
            if (write(p[1], &me, sizeof me) != sizeof me)
                _exit(1);
            close(p[1]);
            for (;;)
                pause();
        }
        _exit(gc > 0 ? 0 : 1);
    }
    close(p[1]);
    pid_t gc = 0;
    ssize_t n = leader > 0 ? read(p[0], &gc, sizeof gc) : -1;
    close(p[0]);
    int st;
    if (leader <= 0 || waitpid(leader, &st, 0) != leader || n != sizeof gc)
        return -1;
    *sid = leader;
    *orphan = gc;
    return 0;
}

/* Runs the loop until pid (our child) has ended or secs passed; 1 if SIGKILL ended it. */
static int killed_within(pid_t pid, double secs)
{
    for (int i = 0; i < (int)(secs * 100); i++) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
        if (w < 0)
            return 0;
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    return 0;
}

static void end_child(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void run_until_idle(struct cm_sweeper *s, double secs)
{
    struct cm_sweeper_stats st;
    for (int i = 0; i < (int)(secs * 100); i++) {
        cm_sweeper_stats(s, &st);
        if (st.pending == 0)
            return;
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
}

static void test_setup(void)
{
    REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    base = event_base_new();
    REQUIRE(base != NULL);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cm-sweeper-XXXXXX");
    REQUIRE(mkdtemp(tmpdir) != NULL);
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    REQUIRE(n > 0);
    self_exe[n] = '\0';
}

/* One scan kills what several reaped leaders left in their sessions, and nothing else. */
static void test_kill_sessions_in_one_scan(void)
{
    pid_t sids[3], orphans[3];
    for (int i = 0; i < 3; i++)
        REQUIRE(spawn_session(&sids[i], &orphans[i]) == 0);
    /* A bystander in a session that is not swept. */
    pid_t other_sid, other;
    REQUIRE(spawn_session(&other_sid, &other) == 0);
    CHECK_INT(cm_launcher_kill_sessions(sids, 3, SIGKILL), 3);
    for (int i = 0; i < 3; i++)
        CHECK(killed_within(orphans[i], 5));
    CHECK_INT(waitpid(other, NULL, WNOHANG), 0); /* still running */
    CHECK_INT(cm_launcher_kill_session(other_sid, SIGKILL), 1);
    CHECK(killed_within(other, 5));
    /* Empty sessions, and sids that cannot be sessions of containers. */
    CHECK_INT(cm_launcher_kill_sessions(sids, 3, SIGKILL), 0);
    pid_t bad[] = {0, 1, -5};
    CHECK_INT(cm_launcher_kill_sessions(bad, 3, SIGKILL), 0);
}

/* A sid that is the pid of a live process was handed to someone new (e.g. a container started
 * since, whose leader got the reaped leader's number): it is not swept. */
static void test_reused_sid_is_not_swept(void)
{
    int p[2];
    REQUIRE(pipe(p) == 0);
    pid_t leader = fork();
    if (leader == 0) {
        close(p[0]);
        setsid();
        pid_t gc = fork();
        if (gc == 0) {
            setpgid(0, 0);
            for (;;)
                pause();
        }
        if (write(p[1], &gc, sizeof gc) != sizeof gc)
            _exit(1);
        for (;;)
            pause();
    }
    REQUIRE(leader > 0);
    close(p[1]);
    pid_t gc = 0;
    CHECK(read(p[0], &gc, sizeof gc) == sizeof gc);
    close(p[0]);
    REQUIRE(gc > 0);
    CHECK_INT(cm_launcher_kill_sessions(&leader, 1, SIGKILL), 0);
    CHECK_INT(waitpid(leader, NULL, WNOHANG), 0);
    usleep(20000);
    CHECK_INT(kill(gc, 0), 0);
    end_child(leader);
    /* The member is now ours (subreaper); its leader is reaped, so the session is swept. */
    CHECK_INT(cm_launcher_kill_session(leader, SIGKILL), 1);
    CHECK(killed_within(gc, 5));
}

/* Sids reaped together share scans: the first goes at once, the rest wait for it and then go
 * in one batch. */
static void test_sweeper_coalesces(void)
{
    struct cm_sweeper *s = NULL;
    CHECK_INT(cm_sweeper_new(base, &s), 0);
    REQUIRE(s != NULL);
    struct cm_sweeper_stats st;
    cm_sweeper_stats(s, &st);
    CHECK(st.helper_pid > 0);
    enum { N = 6 };
    pid_t sids[N], orphans[N];
    for (int i = 0; i < N; i++)
        REQUIRE(spawn_session(&sids[i], &orphans[i]) == 0);
    for (int i = 0; i < N; i++)
        cm_sweeper_add(s, sids[i]);
    cm_sweeper_stats(s, &st);
    CHECK_INT(st.pending, N);
    CHECK_INT(st.sweeps, 0);
    for (int i = 0; i < N; i++)
        CHECK(killed_within(orphans[i], 5));
    run_until_idle(s, 5);
    cm_sweeper_stats(s, &st);
    CHECK_INT(st.pending, 0);
    CHECK_INT(st.sids, N);
    CHECK_INT(st.sweeps, 2);
    CHECK_INT(st.killed, N);
    cm_sweeper_free(s);
}

/* A pending sid whose number a new process got is dropped, not swept. */
static void test_sweeper_forgets_reused_sids(void)
{
    struct cm_sweeper *s = NULL;
    cm_sweeper_new(base, &s);
    REQUIRE(s != NULL);
    pid_t a_sid, a, b_sid, b;
    REQUIRE(spawn_session(&a_sid, &a) == 0);
    REQUIRE(spawn_session(&b_sid, &b) == 0);
    cm_sweeper_add(s, a_sid); /* in flight */
    cm_sweeper_add(s, b_sid); /* pending */
    cm_sweeper_forget(s, b_sid);
    struct cm_sweeper_stats st;
    cm_sweeper_stats(s, &st);
    CHECK_INT(st.pending, 1);
    CHECK(killed_within(a, 5));
    run_until_idle(s, 5);
    cm_sweeper_stats(s, &st);
    CHECK_INT(st.sids, 1);
    CHECK_INT(waitpid(b, NULL, WNOHANG), 0); /* b's session was not swept */
    end_child(b);
    cm_sweeper_free(s);
}

/* Without its helper the sweeper forks a batch at a time, and still coalesces. */
static void test_sweeper_without_helper(void)
{
    struct cm_sweeper *s = NULL;
    cm_sweeper_new(base, &s);
    REQUIRE(s != NULL);
    struct cm_sweeper_stats st;
    cm_sweeper_stats(s, &st);
    REQUIRE(st.helper_pid > 0);
    CHECK_INT(kill(st.helper_pid, SIGKILL), 0);
    usleep(20000);
    enum { N = 4 };
    pid_t sids[N], orphans[N];
    for (int i = 0; i < N; i++)
        REQUIRE(spawn_session(&sids[i], &orphans[i]) == 0);
    for (int i = 0; i < N; i++)
        cm_sweeper_add(s, sids[i]);
    for (int i = 0; i < N; i++)
        CHECK(killed_within(orphans[i], 5));
    run_until_idle(s, 5);
    cm_sweeper_stats(s, &st);
    CHECK_INT(st.helper_pid, 0);
    CHECK_INT(st.sids, N);
    CHECK(st.sweeps <= 2);
    /* A batch in a fork at free time finishes on its own. */
    pid_t sid, orphan;
    REQUIRE(spawn_session(&sid, &orphan) == 0);
    cm_sweeper_add(s, sid);
    cm_sweeper_free(s);
    CHECK(killed_within(orphan, 5));
}

/* The daemon exits with sweeps in flight and pending: everything is swept and freed. */
static void test_sweeper_free_with_sweeps_in_flight(void)
{
    struct cm_sweeper *s = NULL;
    cm_sweeper_new(base, &s);
    REQUIRE(s != NULL);
    enum { N = 5 };
    pid_t sids[N], orphans[N];
    for (int i = 0; i < N; i++)
        REQUIRE(spawn_session(&sids[i], &orphans[i]) == 0);
    for (int i = 0; i < N; i++)
        cm_sweeper_add(s, sids[i]);
    cm_sweeper_free(s); /* no loop turn: one batch in the helper, the rest pending */
    for (int i = 0; i < N; i++)
        CHECK(killed_within(orphans[i], 5));
}

/* Through the containerizer: posix launcher and isolation on a loop; several containers whose
 * executors left a process of their own group in their sessions are reaped at once, and those
 * processes are killed. */
static void test_containerizer_sweeps_reaped_sessions(void)
{
    struct cm_containerizer_options o = {
        .isolation = "posix/cpu,posix/mem",
        .launcher = "posix",
        .no_launch_helper = true,
        .base = base,
    };
    char why[256] = "";
    struct cm_containerizer *c = NULL;
    int rc = cm_containerizer_new(&o, &c, why, sizeof why);
    CHECK_INT(rc, 0);
    REQUIRE(c != NULL);
    enum { N = 4 };
    pid_t leaders[N], orphans[N];
    char ids[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "sweep%d", i);
        char file[512], envfile[600], out[512];
        snprintf(file, sizeof file, "%s/%s.pid", tmpdir, ids[i]);
        snprintf(envfile, sizeof envfile, "SWEEP_ORPHAN_FILE=%s", file);
        snprintf(out, sizeof out, "%s/%s.out", tmpdir, ids[i]);
        char *argv[] = {self_exe, NULL};
        char *envp[] = {"SWEEP_ROLE=leader", envfile, NULL};
        struct cm_launch_spec spec = {
            .container_id = ids[i],
            .argv = argv,
            .envp = envp,
            .cwd = tmpdir,
            .stdout_path = out,
            .stderr_path = out,
        };
        REQUIRE(cm_containerizer_launch(c, &spec, &leaders[i], why, sizeof why) == 0);
    }
    for (int i = 0; i < N; i++) {
        int st = 0;
        CHECK(waitpid(leaders[i], &st, 0) == leaders[i]);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        char file[512];
        snprintf(file, sizeof file, "%s/%s.pid", tmpdir, ids[i]);
        FILE *f = fopen(file, "r");
        int v = 0;
        CHECK(f && fscanf(f, "%d", &v) == 1);
        if (f)
            fclose(f);
        orphans[i] = (pid_t)v;
    }
    for (int i = 0; i < N; i++) {
        REQUIRE(orphans[i] > 0);
        CHECK_INT(kill(orphans[i], 0), 0); /* alive: the leader's exit left it behind */
    }
    for (int i = 0; i < N; i++)
        cm_containerizer_reaped(c, ids[i]);
    for (int i = 0; i < N; i++)
        CHECK(killed_within(orphans[i], 5));
    CHECK_INT(cm_containerizer_count(c), 0);
    cm_containerizer_free(c);
}

static void test_cleanup(void)
{
    CHECK_INT(cm_gc_remove_tree(tmpdir), 0);
    event_base_free(base);
}

TEST_MAIN(TEST(test_setup), TEST(test_kill_sessions_in_one_scan),
          TEST(test_reused_sid_is_not_swept), TEST(test_sweeper_coalesces),
          TEST(test_sweeper_forgets_reused_sids), TEST(test_sweeper_without_helper),
          TEST(test_sweeper_free_with_sweeps_in_flight),
          TEST(test_containerizer_sweeps_reaped_sessions), TEST(test_cleanup))
