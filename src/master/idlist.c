/* idlist.c: see idlist.h. */
#include "idlist.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void cm_idlist_add(struct cm_idlist *l, const char *id)
{
    size_t k = strlen(id) + 1;
    if (l->len + k > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (l->len + k > cap)
            cap *= 2;
        l->buf = cm_xrealloc(l->buf, cap);
        l->cap = cap;
    }
    if (l->n == l->ncap) {
        l->ncap = l->ncap ? l->ncap * 2 : 64;
        l->off = cm_xrealloc(l->off, l->ncap * sizeof *l->off);
    }
    memcpy(l->buf + l->len, id, k);
    l->off[l->n++] = l->len;
    l->len += k;
}

const char *cm_idlist_next(struct cm_idlist *l)
{
    return l->next < l->n ? l->buf + l->off[l->next++] : NULL;
}

void cm_idlist_clear(struct cm_idlist *l)
{
    free(l->buf);
    free(l->off);
    memset(l, 0, sizeof *l);
}
