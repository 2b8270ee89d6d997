/*
 * errors.h: the project's error codes.
 *
 * Functions that can fail return int: 0 on success, -errno for system failures, or a
 * negative project code below. Validators additionally fill a caller-supplied "why" text that
 * becomes the body of an HTTP error response, so it must name the offending field.
 */
#ifndef CM_ERRORS_H
#define CM_ERRORS_H

#include <stddef.h>

enum {
    CM_EBASE = 10000,
    CM_EINVAL = -(CM_EBASE + 1),    /* input failed validation; see the why text */
    CM_EPARSE = -(CM_EBASE + 2),    /* input could not be parsed at all */
    CM_ETOOBIG = -(CM_EBASE + 3),   /* input exceeds a configured bound */
    CM_ENOTFOUND = -(CM_EBASE + 4), /* the named object does not exist */
    CM_EEXIST = -(CM_EBASE + 5),    /* the object already exists */
    CM_ESTATE = -(CM_EBASE + 6),    /* the call is not valid in the current state */
    CM_EHTTP = -(CM_EBASE + 7),     /* an HTTP exchange failed */
    CM_EPROTO = -(CM_EBASE + 8),    /* the peer broke the wire protocol */
    CM_ECLOSED = -(CM_EBASE + 9),   /* the connection or stream is closed */
    CM_EHELP = -(CM_EBASE + 10),    /* --help was asked for; not a failure */
};

/* Returns a static description of err (a project code or -errno). Never NULL. */
const char *cm_strerror(int err);

/* Writes a formatted reason into why[whylen] (if why is non-NULL) and returns err. */
int cm_fail(int err, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
