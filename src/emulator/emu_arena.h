/*
 * emu_arena.h: a bump allocator for decoding one protobuf message at a time (the emulator's and
 * the load generator's events), so that a decoded event costs no malloc/free per field.
 *
 * cm_emu_arena_allocator() is a ProtobufCAllocator for *_unpack: allocations come from one block
 * (16-byte aligned); one that does not fit gets its own malloc, kept on a list. Frees are no-ops:
 * nothing is returned until cm_emu_arena_reset(), which releases the extra allocations at once
 * and, if there were any, grows the block (up to CM_EMU_ARENA_MAX) so that the next message of
 * that size fits. So: unpack with the allocator, use the message, reset; never call
 * protobuf_c_message_free_unpacked on such a message (it is harmless, but useless).
 *
 * Ownership: the arena owns everything it handed out; cm_emu_arena_free releases it all.
 * Errors: none (allocation failure aborts, as cm_xmalloc). Threading: one thread.
 */
#ifndef CM_EMU_ARENA_H
#define CM_EMU_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#define CM_EMU_ARENA_MAX (1u << 20) /* the block never grows past 1 MiB */

struct cm_emu_arena_big;

struct cm_emu_arena {
    ProtobufCAllocator pa; /* first, so the allocator's data can be the arena */
    unsigned char *block;
    size_t cap, used;
    struct cm_emu_arena_big *bigs; /* allocations that did not fit */
    size_t big_bytes;
};

/* Initialises a (caller-owned struct) with a block of initial bytes (0: 16 KiB). */
void cm_emu_arena_init(struct cm_emu_arena *a, size_t initial);

/* The allocator to pass to *_unpack. */
ProtobufCAllocator *cm_emu_arena_allocator(struct cm_emu_arena *a);

/* Forgets every allocation (the messages decoded with it are gone). */
void cm_emu_arena_reset(struct cm_emu_arena *a);

/* Releases the block and the extra allocations. NULL: no-op. */
void cm_emu_arena_free(struct cm_emu_arena *a);

#endif
