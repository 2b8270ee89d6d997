/* emu_arena.c: a bump allocator for decoding one protobuf message at a time. See emu_arena.h. */
#include <stdlib.h>

#include "emu_arena.h"
#include "util.h"

struct cm_emu_arena_big {
    struct cm_emu_arena_big *next;
    size_t size;
    /* the allocation follows, 16-byte aligned */
    _Alignas(16) unsigned char data[];
};

static void *arena_alloc(void *data, size_t n)
{
    struct cm_emu_arena *a = data;
    size_t need = (n + 15) & ~(size_t)15;
    if (need == 0)
        need = 16;
    if (a->cap - a->used >= need) {
        void *p = a->block + a->used;
        a->used += need;
        return p;
    }
    struct cm_emu_arena_big *b = cm_xmalloc(sizeof *b + need);
    b->next = a->bigs;
    b->size = need;
    a->bigs = b;
    a->big_bytes += need;
    return b->data;
}

static void arena_free_one(void *data, void *p)
{
    (void)data, (void)p; /* everything goes at the next reset */
}

void cm_emu_arena_init(struct cm_emu_arena *a, size_t initial)
{
    if (initial == 0)
        initial = 16384;
    a->block = cm_xmalloc(initial);
    a->cap = initial;
    a->used = 0;
    a->bigs = NULL;
    a->big_bytes = 0;
    a->pa.alloc = arena_alloc;
    a->pa.free = arena_free_one;
    a->pa.allocator_data = a;
}

ProtobufCAllocator *cm_emu_arena_allocator(struct cm_emu_arena *a)
{
    return &a->pa;
}

void cm_emu_arena_reset(struct cm_emu_arena *a)
{
    size_t want = a->used + a->big_bytes;
    while (a->bigs) {
        struct cm_emu_arena_big *b = a->bigs;
        a->bigs = b->next;
        free(b);
    }
    a->big_bytes = 0;
    a->used = 0;
    if (want > a->cap && a->cap < CM_EMU_ARENA_MAX) {
        size_t cap = a->cap;
        while (cap < want && cap < CM_EMU_ARENA_MAX)
            cap *= 2;
        free(a->block);
        a->block = cm_xmalloc(cap);
        a->cap = cap;
    }
}

void cm_emu_arena_free(struct cm_emu_arena *a)
{
    if (!a)
        return;
    cm_emu_arena_reset(a);
    free(a->block);
    a->block = NULL;
    a->cap = 0;
}
