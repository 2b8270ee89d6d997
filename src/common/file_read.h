/*
 * file_read.h: reads a small configuration or secret file (credentials, ACLs, token keys) whole,
 * with a bound, in one place (prefix cm_file_read).
 *
 * The file must be a regular file of at most max bytes; it is opened once (O_CLOEXEC) and
 * checked and read through that descriptor, so the size and mode reported are those of what
 * was read. The buffer is NUL-terminated (max + 1 bytes are allocated) and is wiped before it is
 * freed on every error path, because these files hold secrets.
 *
 * Errors: 0; -errno when it cannot be opened or read; CM_EINVAL when it is not a regular file;
 * CM_ETOOBIG when it is larger than max. why names the path ("'<path>': ..."); callers prefix
 * the flag. Threading: blocking I/O; call it at start-up, not on a loop serving requests.
 */
#ifndef CM_FILE_READ_H
#define CM_FILE_READ_H

#include <stddef.h>
#include <sys/types.h>

/* Reads path (a leading "file://" is accepted and stripped) into *data (malloc'd, caller frees
 * and wipes) and *len; *mode (may be NULL) gets the file's st_mode. */
int cm_file_read(const char *path, size_t max, char **data, size_t *len, mode_t *mode, char *why,
                 size_t whylen);

#endif
