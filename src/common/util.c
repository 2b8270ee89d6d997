/* util.c: see util.h. */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesos/v1/mesos.pb-c.h"

void *cm_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

void *cm_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        abort();
    return p;
}

void *cm_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        abort();
    return p;
}

char *cm_xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p)
        abort();
    return p;
}

char *cm_xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        abort();
    return p;
}

char *cm_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    return s;
}

bool cm_task_state_terminal(int state)
{
    switch (state) {
    case MESOS__V1__TASK_STATE__TASK_FINISHED:
    case MESOS__V1__TASK_STATE__TASK_FAILED:
    case MESOS__V1__TASK_STATE__TASK_KILLED:
    case MESOS__V1__TASK_STATE__TASK_ERROR:
    case MESOS__V1__TASK_STATE__TASK_LOST:
    case MESOS__V1__TASK_STATE__TASK_DROPPED:
    case MESOS__V1__TASK_STATE__TASK_GONE:
    case MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR: return true;
    default: return false;
    }
}

static void field_path_add(char *path, size_t cap, size_t *len, const char *src, size_t n)
{
    size_t room = cap - 1 - *len;
    if (n > room)
        n = room;
    memcpy(path + *len, src, n);
    *len += n;
    path[*len] = '\0';
}

size_t cm_field_path_push(char *path, size_t cap, size_t *len, const char *name, long index)
{
    size_t old = *len;
    if (old)
        field_path_add(path, cap, len, ".", 1);
    field_path_add(path, cap, len, name, strlen(name));
    if (index >= 0) {
        char buf[24], *p = buf + sizeof buf;
        *--p = ']';
        unsigned long v = (unsigned long)index;
        do
            *--p = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        *--p = '[';
        field_path_add(path, cap, len, p, (size_t)(buf + sizeof buf - p));
    }
    return old;
}

void cm_field_path_pop(char *path, size_t *len, size_t old)
{
    *len = old;
    path[old] = '\0';
}
