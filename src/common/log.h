/*
 * log.h: daemon logging.
 *
 * Lines go to stderr (or the file set with cm_log_set_file) as
 * "I1121 18:11:37.123456 <pid> <module>] message", the glog shape Mesos operators grep for.
 * The level and destination are process-wide settings made once at start by a daemon's main;
 * libraries (libscheduler) never call this module, they take a log callback instead.
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

#define CM_DEBUG(mod, ...) cm_log(CM_LOG_DEBUG, mod, __VA_ARGS__)
#define CM_INFO(mod, ...) cm_log(CM_LOG_INFO, mod, __VA_ARGS__)
#define CM_WARN(mod, ...) cm_log(CM_LOG_WARNING, mod, __VA_ARGS__)
#define CM_ERROR(mod, ...) cm_log(CM_LOG_ERROR, mod, __VA_ARGS__)

#endif
