/*
 * log.h: daemon logging.
 *
 * Lines go to stderr (or the file set with cm_log_set_file) as
 * "I1121 18:11:37.123456 <pid> <module>] message", the glog shape Mesos operators grep for.
 * The level and destination are process-wide settings made once at start by a daemon's main.
 * The pid is read once per process, at its first line, not by a system call per line: a child
 * made by fork() reads its own (a pthread_atfork handler forgets the parent's), while a child
 * made by vfork() or a raw clone() must not log at all before it execs (it may only make
 * async-signal-safe calls anyway), or its lines would carry its parent's pid.
 *
 * Code that also runs inside a library (the stream client in libcmscheduler) logs through a
 * struct cm_log_sink it was handed instead: a callback with its argument, carried in the
 * object that logs (per scheduler instance), so a library routes its lines to the caller's
 * callback without touching process-wide state. A NULL sink means "the process-wide log".
 * When this file is compiled into a library (CM_LOG_LIBRARY defined), the process-wide log
 * prints nothing at all: a library never writes to stderr behind its caller's back.
 */
#ifndef CM_LOG_H
#define CM_LOG_H

#include <stdio.h>

enum cm_log_level { CM_LOG_DEBUG = 0, CM_LOG_INFO = 1, CM_LOG_WARNING = 2, CM_LOG_ERROR = 3 };

/* Sets the lowest level printed (default INFO). */
void cm_log_set_level(enum cm_log_level level);
/* Parses "DEBUG"/"INFO"/"WARNING"/"ERROR" (Mesos's --logging_level); returns 0 or CM_EINVAL. */
int cm_log_parse_level(const char *text, enum cm_log_level *out);
/* Sends lines to f (not owned); NULL restores stderr. */
void cm_log_set_file(FILE *f);

void cm_log(enum cm_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Where one object's log lines go. message is formatted, without a newline, and valid during
 * the call only. */
struct cm_log_sink {
    void (*fn)(void *arg, enum cm_log_level level, const char *module, const char *message);
    void *arg;
};

/* Logs through sink when it is non-NULL and has fn set, else like cm_log. */
void cm_log_to(const struct cm_log_sink *sink, enum cm_log_level level, const char *module,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define CM_DEBUG(mod, ...) cm_log(CM_LOG_DEBUG, mod, __VA_ARGS__)
#define CM_INFO(mod, ...) cm_log(CM_LOG_INFO, mod, __VA_ARGS__)
#define CM_WARN(mod, ...) cm_log(CM_LOG_WARNING, mod, __VA_ARGS__)
#define CM_ERROR(mod, ...) cm_log(CM_LOG_ERROR, mod, __VA_ARGS__)

#endif
