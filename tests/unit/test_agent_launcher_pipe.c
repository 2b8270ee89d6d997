/*
 * test_agent_launcher_pipe.c: a container outlives the agent that cloned it. The asynchronous
 * spawn hands the status pipe's read end to the agent; an agent killed (or stopped, as
 * test_agent_core's restart does) between the clone and the child's "joined" report closes
 * that end. The child then must still exec its executor: a restarted agent recovers it from
 * its checkpoint. It used to die of SIGPIPE at that write, so the recovered executor was gone
 * at once. The interleaving is forced with a second pipe (the join waits for the parent to
 * have closed the read end), so the case is deterministic; no root needed (a plain fork).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "containerizer/containerizer.h"
#include "test.h"

/* The join step in the cloned child: waits until the parent says the status pipe's read end
 * is closed (one byte, or EOF). Async-signal-safe. */
static int wait_for_parent(const void *arg, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    int fd = *(const int *)arg;
    char c;
    ssize_t n;
    do {
        n = read(fd, &c, 1);
    } while (n < 0 && errno == EINTR);
    return 0;
}

/* Waits up to timeout_ms for pid; returns 0 and its wait status, or -1. */
static int wait_pid(pid_t pid, int timeout_ms, int *status)
{
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void launch_with_reader_gone(const char *dir, int with_join)
{
    char out[300], err[300];
    snprintf(out, sizeof out, "%s/stdout", dir);
    snprintf(err, sizeof err, "%s/stderr", dir);
    char *argv[] = {"/bin/sh", "-c", "exit 7", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct cm_launch_spec spec = {
        .container_id = "c1",
        .argv = argv,
        .envp = envp,
        .cwd = dir,
        .stdout_path = out,
        .stderr_path = err,
    };
    int sync[2];
    REQUIRE(pipe(sync) == 0);
    int status_fd = -1;
    struct cm_launch_ctx ctx = {
        .join = with_join ? wait_for_parent : NULL,
        .join_arg = &sync[0],
        .status_fd = &status_fd,
    };
    pid_t pid = -1;
    char why[256] = "";
    int rc = cm_launcher_spawn(&spec, &ctx, &pid, why, sizeof why);
    CHECK_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "spawn: %s\n", why);
        close(sync[0]);
        close(sync[1]);
        return;
    }
    CHECK(pid > 0);
    CHECK(status_fd >= 0);
    /* The agent dies: nobody reads the status pipe any more. */
    close(status_fd);
    ssize_t w = write(sync[1], "x", 1);
    CHECK_INT(w, 1);
    close(sync[0]);
    close(sync[1]);
    int st = 0;
    REQUIRE(wait_pid(pid, 20000, &st) == 0);
    if (WIFSIGNALED(st))
        fprintf(stderr, "the container died of signal %d\n", WTERMSIG(st));
    CHECK(WIFEXITED(st));
    CHECK_INT(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 7);
}

static char tmp[] = "/tmp/launcher-pipe-XXXXXX";

static void setup(void)
{
    /* The test process is the one that would get SIGPIPE from its own writes: not here. */
    signal(SIGPIPE, SIG_DFL);
    REQUIRE(mkdtemp(tmp) != NULL);
}

/* The case that used to fail: the child reports "joined" after the agent closed the pipe. */
static void test_joined_report_to_a_dead_agent_is_not_fatal(void)
{
    launch_with_reader_gone(tmp, 1);
}

/* Without a join step there is no report before the exec: the same outcome. */
static void test_exec_without_join_with_reader_gone(void)
{
    launch_with_reader_gone(tmp, 0);
}

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
}

TEST_MAIN(FIXTURE(setup), TEST(test_joined_report_to_a_dead_agent_is_not_fatal),
          TEST(test_exec_without_join_with_reader_gone), FIXTURE(cleanup))
