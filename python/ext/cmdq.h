/*
 * cmdq.h: the hand-off from Python threads to a driver's event loop thread.
 *
 * libcmscheduler and libcmexecutor are single-threaded: every call must be made on the thread
 * that runs their libevent loop. A driver's methods are called from any Python thread, so each
 * call is queued here (a mutex-protected FIFO) and an eventfd wakes the loop, whose callback
 * takes the items off in order and hands them to the owner's handler. This is the only place
 * where the Python threads and the loop thread share state.
 *
 * Ownership: an item's msg is owned by the queue once pyx_cmdq_push() returned 0 and passes to
 * the handler when it is delivered (the handler frees it); items still queued when the queue is
 * closed or freed are freed with protobuf_c_message_free_unpacked (msg must come from
 * *__unpack, or be NULL).
 *
 * Threading: push/close from any thread; attach/detach/free on the loop thread (or before it
 * runs). Errors: -errno.
 */
#ifndef PYX_CMDQ_H
#define PYX_CMDQ_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

struct event_base;
struct pyx_cmdq;

/* Delivers one item on the loop thread: op is the caller's code, msg its message (may be
 * NULL), now owned by the handler. */
typedef void (*pyx_cmdq_handler)(void *arg, int op, ProtobufCMessage *msg);

/* Creates an open queue with its eventfd. Returns NULL with errno set on failure. */
struct pyx_cmdq *pyx_cmdq_new(pyx_cmdq_handler handler, void *arg);
/* Frees the queue and what is left in it. NULL is a no-op. Detaches first if attached. */
void pyx_cmdq_free(struct pyx_cmdq *q);
/* Watches the eventfd on base; the handler runs there. Returns 0 or -errno. */
int pyx_cmdq_attach(struct pyx_cmdq *q, struct event_base *base);
/* Stops watching (before the base is freed). */
void pyx_cmdq_detach(struct pyx_cmdq *q);
/* Queues an item and wakes the loop. Returns 0, or -EPIPE once the queue is closed (msg then
 * stays the caller's). */
int pyx_cmdq_push(struct pyx_cmdq *q, int op, ProtobufCMessage *msg);
/* Refuses further pushes and frees what was not delivered. */
void pyx_cmdq_close(struct pyx_cmdq *q);

#endif
