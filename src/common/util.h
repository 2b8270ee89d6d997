/*
 * util.h: the small helpers every process shares: allocation that aborts on out-of-memory
 * (the daemons cannot do anything useful without memory, so callers need no NULL checks) and
 * the Mesos task-state classification.
 *
 * The allocators never return NULL: a zero size is rounded up to one byte so that a valid
 * zero-length request is not mistaken for exhaustion. Results are freed with free().
 * Thread-safe (no state).
 */
#ifndef CM_UTIL_H
#define CM_UTIL_H

#include <stdbool.h>
#include <stddef.h>

void *cm_xmalloc(size_t n);
void *cm_xcalloc(size_t n, size_t size);
void *cm_xrealloc(void *p, size_t n);
/* Copies s; a NULL s gives an empty string so optional protobuf fields copy safely. */
char *cm_xstrdup(const char *s);
/* Copies at most n bytes of s and terminates the copy. */
char *cm_xstrndup(const char *s, size_t n);
char *cm_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True for the states after which a task never changes again (FINISHED, FAILED, KILLED, ERROR,
 * LOST, DROPPED, GONE, GONE_BY_OPERATOR), as Mesos's protobuf::isTerminalState. state is a
 * Mesos__V1__TaskState value. */
bool cm_task_state_terminal(int state);

/* Field paths for the reasons of decoding errors ("a.b[2].c"): appends ".name" ("name" first)
 * and "[index]" when index >= 0 to the path (cap bytes with its NUL, *len of them used), cut
 * at its end; returns the old length for cm_field_path_pop. Decoders call it for every message
 * field of every call, so it does not use printf. */
size_t cm_field_path_push(char *path, size_t cap, size_t *len, const char *name, long index);
/* Cuts the path back to old (a length cm_field_path_push returned). */
void cm_field_path_pop(char *path, size_t *len, size_t old);

#endif
