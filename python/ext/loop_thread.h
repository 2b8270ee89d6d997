/*
 * loop_thread.h: what SchedulerConnection and ExecutorConnection share about the thread that
 * runs their library's event loop: its start/finish state under a mutex and condition, the
 * Python-facing join(timeout=None) and running, and the hand-off of one item to the Python
 * handler.
 *
 * Ownership: the state is embedded in the connection object; pyx_loop_thread_init and
 * pyx_loop_thread_fini bracket its life. Threading: started is set by start() with the GIL
 * held; finished is set by the loop thread under mu (broadcasting cv); joined is touched only
 * by join() and dealloc, under mu. Errors: the Python functions return NULL with a Python
 * exception set, as CPython methods do.
 */
#ifndef PYX_LOOP_THREAD_H
#define PYX_LOOP_THREAD_H

#include "ext.h"

#include <pthread.h>

struct pyx_loop_thread {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, finished, joined;
};

/* Initialises the mutex and the condition (the flags are zero from tp_alloc). */
void pyx_loop_thread_init(struct pyx_loop_thread *t);

/* For dealloc: joins a started, unjoined thread with the GIL released (detaches it when
 * called on that thread itself, which drops the last reference on its way out), then destroys
 * the mutex and the condition. */
void pyx_loop_thread_fini(struct pyx_loop_thread *t);

/* Marks the loop as finished and wakes the joiners. */
void pyx_loop_thread_finished(struct pyx_loop_thread *t);

/* join(timeout=None): waits with the GIL released for the loop to finish (None: forever; a
 * negative timeout counts as 0) and joins the thread once. True when finished (or never
 * started), False on timeout, NULL if the arguments are bad. */
PyObject *pyx_loop_thread_join(struct pyx_loop_thread *t, PyObject *args, PyObject *kw);

/* running: started and not finished, as a Python bool. */
PyObject *pyx_loop_thread_running(struct pyx_loop_thread *t);

/* Calls handler(kind, payload) (the GIL held); payload is stolen. A NULL payload means a Python
 * error is pending from building it: it is printed, as is an error the handler raises (the
 * Python drivers catch their own errors; this is a last resort). */
void pyx_deliver(PyObject *handler, const char *kind, PyObject *payload);

#endif
