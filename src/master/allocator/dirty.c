/*
 * dirty.c: the dirty set of event-driven allocation; see dirty.h.
 */
#include "dirty.h"

#include "util.h"

bool cm_dirty_any(const struct cm_allocator *a)
{
    return a->all_dirty || a->ndirty > 0;
}

static void wake_if_first(struct cm_allocator *a, bool was_dirty)
{
    if (!was_dirty && a->wake)
        a->wake(a->wake_arg);
}

void cm_dirty_mark(struct cm_allocator *a, struct agent *ag)
{
    if (ag->dirty)
        return;
    bool was = cm_dirty_any(a);
    if (a->ndirty == a->capdirty) {
        a->capdirty = a->capdirty ? a->capdirty * 2 : 64;
        a->dirty = cm_xrealloc(a->dirty, a->capdirty * sizeof *a->dirty);
    }
    ag->dirty = true;
    ag->dirty_index = a->ndirty;
    a->dirty[a->ndirty++] = ag;
    wake_if_first(a, was);
}

void cm_dirty_mark_all(struct cm_allocator *a)
{
    bool was = cm_dirty_any(a);
    a->all_dirty = true;
    wake_if_first(a, was);
}

void cm_dirty_unmark(struct cm_allocator *a, struct agent *ag)
{
    if (!ag->dirty)
        return;
    struct agent *last = a->dirty[--a->ndirty];
    a->dirty[ag->dirty_index] = last;
    last->dirty_index = ag->dirty_index;
    ag->dirty = false;
}

void cm_dirty_clear(struct cm_allocator *a)
{
    for (size_t i = 0; i < a->ndirty; i++)
        a->dirty[i]->dirty = false;
    a->ndirty = 0;
    a->all_dirty = false;
}

void cm_allocator_set_wake(struct cm_allocator *a, cm_allocator_wake_cb cb, void *arg)
{
    a->wake = cb;
    a->wake_arg = arg;
}

bool cm_allocator_dirty(const struct cm_allocator *a)
{
    return cm_dirty_any(a);
}

void cm_allocator_forget_dirty(struct cm_allocator *a)
{
    cm_dirty_clear(a);
}
