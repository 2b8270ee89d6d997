/* test_log: the line format of log.c and the pid it carries (read once, forgotten by fork). */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* Reads all of f from the start into buf. */
static size_t slurp(FILE *f, char *buf, size_t len)
{
    fflush(f);
    rewind(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    return n;
}

/* Parses one glog-shaped line; returns 0 and fills level, pid, module and message. */
static int parse_line(const char *line, char *level, int *pid, char *module, size_t modlen,
                      const char **message)
{
    int mon, day, h, m, s, us, consumed = 0;
    char mod[64];
    if (sscanf(line, "%c%2d%2d %2d:%2d:%2d.%6d %d %63[^]]] %n", level, &mon, &day, &h, &m, &s, &us,
               pid, mod, &consumed) != 9 ||
        consumed == 0)
        return -1;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || h > 23 || m > 59 || s > 60)
        return -1;
    snprintf(module, modlen, "%s", mod);
    *message = line + consumed;
    return 0;
}

static void test_line_format(void)
{
    FILE *f = tmpfile();
    REQUIRE(f);
    cm_log_set_file(f);
    cm_log_set_level(CM_LOG_INFO);
    CM_INFO("unit", "hello %d", 42);
    CM_DEBUG("unit", "not printed");
    CM_WARN("other", "careful");
    cm_log_set_file(NULL);
    char buf[1024];
    slurp(f, buf, sizeof buf);
    fclose(f);
    char *second = strchr(buf, '\n');
    REQUIRE(second);
    *second++ = '\0';
    char level, module[64];
    int pid;
    const char *msg;
    REQUIRE(parse_line(buf, &level, &pid, module, sizeof module, &msg) == 0);
    CHECK_INT(level, 'I');
    CHECK_INT(pid, getpid());
    CHECK_STR(module, "unit");
    CHECK_STR(msg, "hello 42");
    REQUIRE(parse_line(second, &level, &pid, module, sizeof module, &msg) == 0);
    CHECK_INT(level, 'W');
    CHECK_INT(pid, getpid());
    CHECK_STR(module, "other");
    CHECK_STR(msg, "careful\n");
}

/* The parent logs first (its pid is then cached), a forked child logs next: the child's line
 * must carry the child's pid, and the parent's later line its own again. */
static void test_forked_child_logs_its_own_pid(void)
{
    FILE *f = tmpfile();
    REQUIRE(f);
    cm_log_set_file(f);
    CM_INFO("parent", "before");
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        CM_INFO("child", "in the child");
        fflush(f);
        _exit(0);
    }
    int st;
    REQUIRE(waitpid(child, &st, 0) == child);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CM_INFO("parent", "after");
    cm_log_set_file(NULL);
    char buf[2048];
    slurp(f, buf, sizeof buf);
    fclose(f);
    int seen = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char level, module[64];
        int pid;
        const char *msg;
        REQUIRE(parse_line(line, &level, &pid, module, sizeof module, &msg) == 0);
        if (strcmp(module, "child") == 0)
            CHECK_INT(pid, child);
        else
            CHECK_INT(pid, getpid());
        seen++;
    }
    CHECK_INT(seen, 3);
}

static void test_parse_level(void)
{
    enum cm_log_level l = CM_LOG_ERROR;
    CHECK_INT(cm_log_parse_level("warning", &l), 0);
    CHECK_INT(l, CM_LOG_WARNING);
    CHECK(cm_log_parse_level("LOUD", &l) != 0);
}

TEST_MAIN(TEST(test_line_format), TEST(test_forked_child_logs_its_own_pid), TEST(test_parse_level))
