/* cmdq.c: see cmdq.h. */
#include "cmdq.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct cmdq_item {
    struct cmdq_item *next;
    int op;
    ProtobufCMessage *msg;
};

struct pyx_cmdq {
    pthread_mutex_t mu;
    struct cmdq_item *head, *tail;
    int closed;
    int efd;
    struct event *ev;
    pyx_cmdq_handler handler;
    void *arg;
};

static void free_items(struct cmdq_item *it)
{
    while (it) {
        struct cmdq_item *next = it->next;
        if (it->msg)
            protobuf_c_message_free_unpacked(it->msg, NULL);
        free(it);
        it = next;
    }
}

struct pyx_cmdq *pyx_cmdq_new(pyx_cmdq_handler handler, void *arg)
{
    struct pyx_cmdq *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->efd < 0) {
        int e = errno;
        free(q);
        errno = e;
        return NULL;
    }
    pthread_mutex_init(&q->mu, NULL);
    q->handler = handler;
    q->arg = arg;
    return q;
}

void pyx_cmdq_free(struct pyx_cmdq *q)
{
    if (!q)
        return;
    pyx_cmdq_detach(q);
    free_items(q->head);
    close(q->efd);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

/* On the loop: take everything queued so far, deliver it in order. Items pushed by the
 * handlers themselves wake the loop again and are delivered on the next round. */
static void on_wakeup(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct pyx_cmdq *q = arg;
    uint64_t n;
    while (read(fd, &n, sizeof n) > 0) {
    }
    pthread_mutex_lock(&q->mu);
    struct cmdq_item *it = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    while (it) {
        struct cmdq_item *next = it->next;
        q->handler(q->arg, it->op, it->msg);
        free(it);
        it = next;
    }
}

int pyx_cmdq_attach(struct pyx_cmdq *q, struct event_base *base)
{
    pyx_cmdq_detach(q);
    q->ev = event_new(base, q->efd, EV_READ | EV_PERSIST, on_wakeup, q);
    if (!q->ev || event_add(q->ev, NULL) != 0) {
        if (q->ev)
            event_free(q->ev);
        q->ev = NULL;
        return -ENOMEM;
    }
    /* Items pushed before the loop existed are delivered as soon as it runs. */
    uint64_t one = 1;
    if (write(q->efd, &one, sizeof one) < 0 && errno != EAGAIN)
        return -errno;
    return 0;
}

void pyx_cmdq_detach(struct pyx_cmdq *q)
{
    if (q && q->ev) {
        event_free(q->ev);
        q->ev = NULL;
    }
}

int pyx_cmdq_push(struct pyx_cmdq *q, int op, ProtobufCMessage *msg)
{
    struct cmdq_item *it = calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    it->op = op;
    it->msg = msg;
    pthread_mutex_lock(&q->mu);
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        free(it);
        return -EPIPE;
    }
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    pthread_mutex_unlock(&q->mu);
    uint64_t one = 1;
    /* A failed write can only be EAGAIN (the counter is saturated): the loop is already due
     * to wake up. */
    if (write(q->efd, &one, sizeof one) < 0)
        return 0;
    return 0;
}

void pyx_cmdq_close(struct pyx_cmdq *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    struct cmdq_item *it = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    free_items(it);
}
