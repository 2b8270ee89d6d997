/* Unit tests of the Docker executor's child runner (src/docker-executor/docker_cli.h) with
 * ordinary programs in place of the docker CLI: captured output and wait status, a program
 * that cannot be executed, a done callback that frees its call whichever path reaped the
 * child (SIGCHLD, or the fallback poll when the signal never comes), and Docker's message
 * taken from its stderr. */
#include <event2/event.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>

#include "docker_cli.h"
#include "test.h"

struct seen {
    bool done;
    int status;
    char out[256], err[256];
};

static void on_done(void *arg, struct cm_dcli *c, int status, const char *out, const char *err)
{
    struct seen *s = arg;
    s->done = true;
    s->status = status;
    snprintf(s->out, sizeof s->out, "%s", out);
    snprintf(s->err, sizeof s->err, "%s", err);
    cm_dcli_free(c); /* the contract allows it, on every path */
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* Runs base until s->done or 5 s. */
static void run_until_done(struct event_base *base, struct seen *s)
{
    struct event *deadline = evtimer_new(base, on_deadline, base);
    struct timeval tv = {5, 0};
    evtimer_add(deadline, &tv);
    while (!s->done && evtimer_pending(deadline, NULL))
        event_base_loop(base, EVLOOP_ONCE);
    event_free(deadline);
}

static void test_capture_and_status(void)
{
    struct event_base *base = event_base_new();
    struct seen s = {0};
    char why[128];
    char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    struct cm_dcli *c = cm_dcli_run(base, argv, true, on_done, &s, why, sizeof why);
    REQUIRE(c != NULL);
    CHECK(cm_dcli_pid(c) > 0);
    run_until_done(base, &s);
    CHECK(s.done);
    CHECK(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 3);
    CHECK_STR(s.out, "out\n");
    CHECK_STR(s.err, "err\n");
    event_base_free(base);
}

static void test_exec_failure(void)
{
    struct event_base *base = event_base_new();
    struct seen s = {0};
    char why[128];
    char *argv[] = {"/nonexistent/docker", "ps", NULL};
    REQUIRE(cm_dcli_run(base, argv, true, on_done, &s, why, sizeof why) != NULL);
    run_until_done(base, &s);
    CHECK(s.done);
    CHECK(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 127);
    CHECK(strstr(s.err, "Failed to execute '/nonexistent/docker'") != NULL);
    event_base_free(base);
}

/* With SIGCHLD blocked the signal event never fires and the 200 ms poll reaps the child; the
 * done callback frees the call from inside that poll (a use after free until the poll stopped
 * touching the call after reaping; ASan reports it). */
static void test_done_frees_on_the_poll_path(void)
{
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    struct event_base *base = event_base_new();
    struct seen s = {0};
    char why[128];
    char *argv[] = {"/bin/true", NULL};
    REQUIRE(cm_dcli_run(base, argv, false, on_done, &s, why, sizeof why) != NULL);
    run_until_done(base, &s);
    CHECK(s.done);
    CHECK(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 0);
    CHECK_STR(s.out, "");
    /* A few more turns of the loop: nothing of the freed call may run (ASan watches). */
    struct event *t = evtimer_new(base, on_deadline, base);
    struct timeval tv = {0, 500000};
    evtimer_add(t, &tv);
    event_base_dispatch(base);
    event_free(t);
    event_base_free(base);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

static void test_kill(void)
{
    struct event_base *base = event_base_new();
    struct seen s = {0};
    char why[128];
    char *argv[] = {"/bin/sleep", "30", NULL};
    struct cm_dcli *c = cm_dcli_run(base, argv, true, on_done, &s, why, sizeof why);
    REQUIRE(c != NULL);
    cm_dcli_kill(c, SIGTERM);
    run_until_done(base, &s);
    CHECK(s.done);
    CHECK(WIFSIGNALED(s.status) && WTERMSIG(s.status) == SIGTERM);
    event_base_free(base);
}

static void test_message(void)
{
    char buf[128];
    CHECK_STR(cm_dcli_message("docker: Error response from daemon: no such image.\n"
                              "See 'docker run --help'.\n",
                              "fallback", buf, sizeof buf),
              "docker: Error response from daemon: no such image.");
    CHECK_STR(cm_dcli_message("  first  \n\nsecond\r\n", "fallback", buf, sizeof buf),
              "first second");
    CHECK_STR(cm_dcli_message("", "fallback", buf, sizeof buf), "fallback");
    CHECK_STR(cm_dcli_message(NULL, "fallback", buf, sizeof buf), "fallback");
    char small[8];
    cm_dcli_message("a long line of text", "f", small, sizeof small);
    CHECK(strlen(small) < sizeof small);
}

TEST_MAIN(TEST(test_capture_and_status), TEST(test_exec_failure),
          TEST(test_done_frees_on_the_poll_path), TEST(test_kill), TEST(test_message))
