#include "log.h"

#include "errors.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Process-wide logging settings; written once by a daemon's main before the loop starts. */
static enum cm_log_level log_level = CM_LOG_INFO;
static FILE *log_file;

#ifndef CM_LOG_LIBRARY
/* The pid every line carries, read once instead of a getpid() system call per line (log.h:
 * forked children). 0 = not read yet. Atomic because a daemon's helper threads log too; they
 * all store the same value. */
static int log_pid;
static bool log_pid_watched; /* the fork handler is registered */

static void log_pid_forget(void)
{
    __atomic_store_n(&log_pid, 0, __ATOMIC_RELAXED);
}

static int log_getpid(void)
{
    /* A child made by fork() reads its own pid at its first line. (Not pthread_once: its
     * first call ends in a futex wake-up, a system call of its own.) */
    if (!__atomic_load_n(&log_pid_watched, __ATOMIC_ACQUIRE) &&
        !__atomic_exchange_n(&log_pid_watched, true, __ATOMIC_ACQ_REL))
        pthread_atfork(NULL, NULL, log_pid_forget);
    int pid = __atomic_load_n(&log_pid, __ATOMIC_RELAXED);
    if (pid == 0) {
        pid = (int)getpid();
        __atomic_store_n(&log_pid, pid, __ATOMIC_RELAXED);
    }
    return pid;
}
#endif

void cm_log_set_level(enum cm_log_level level)
{
    log_level = level;
}

void cm_log_set_file(FILE *f)
{
    log_file = f;
}

int cm_log_parse_level(const char *text, enum cm_log_level *out)
{
    static const char *names[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(text, names[i]) == 0) {
            *out = (enum cm_log_level)i;
            return 0;
        }
    }
    return CM_EINVAL;
}

static void log_line(enum cm_log_level level, const char *module, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

void cm_log(enum cm_log_level level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line(level, module, fmt, ap);
    va_end(ap);
}

void cm_log_to(const struct cm_log_sink *sink, enum cm_log_level level, const char *module,
               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (sink && sink->fn) {
        char msg[2048];
        vsnprintf(msg, sizeof msg, fmt, ap);
        sink->fn(sink->arg, level, module, msg);
    } else {
        log_line(level, module, fmt, ap);
    }
    va_end(ap);
}

static void log_line(enum cm_log_level level, const char *module, const char *fmt, va_list ap)
{
#ifdef CM_LOG_LIBRARY
    /* Inside a library only sinks speak (log.h). */
    (void)level;
    (void)module;
    (void)fmt;
    (void)ap;
    return;
#else
    if (level < log_level)
        return;
    FILE *out = log_file ? log_file : stderr;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char line[4096];
    int n = snprintf(line, sizeof line, "%c%02d%02d %02d:%02d:%02d.%06ld %d %s] ", "DIWE"[level],
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec,
                     log_getpid(), module);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    /* One fputs per line keeps lines whole when several processes share a file. */
    size_t len = strlen(line);
    if (len + 1 < sizeof line) {
        line[len] = '\n';
        line[len + 1] = '\0';
    }
    fputs(line, out);
    fflush(out);
#endif
}
