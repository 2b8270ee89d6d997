/* loop_thread.c: see loop_thread.h. */
#include "loop_thread.h"

#include <errno.h>
#include <time.h>

void pyx_loop_thread_init(struct pyx_loop_thread *t)
{
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
}

void pyx_loop_thread_fini(struct pyx_loop_thread *t)
{
    if (t->started && !t->joined) {
        /* The loop thread holds a reference until its last step, so it has ended or is
         * ending; when that last reference is dropped on the thread itself, detach. */
        if (pthread_equal(pthread_self(), t->thread)) {
            pthread_detach(t->thread);
        } else {
            Py_BEGIN_ALLOW_THREADS pthread_join(t->thread, NULL);
            Py_END_ALLOW_THREADS
        }
    }
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
}

void pyx_loop_thread_finished(struct pyx_loop_thread *t)
{
    pthread_mutex_lock(&t->mu);
    t->finished = 1;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

PyObject *pyx_loop_thread_join(struct pyx_loop_thread *t, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"timeout", NULL};
    PyObject *tobj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &tobj))
        return NULL;
    double timeout = -1;
    if (tobj != Py_None) {
        timeout = PyFloat_AsDouble(tobj);
        if (timeout == -1 && PyErr_Occurred())
            return NULL;
        if (timeout < 0)
            timeout = 0;
    }
    if (!t->started)
        Py_RETURN_TRUE;
    int finished, must_join = 0;
    Py_BEGIN_ALLOW_THREADS pthread_mutex_lock(&t->mu);
    if (timeout < 0) {
        while (!t->finished)
            pthread_cond_wait(&t->cv, &t->mu);
    } else {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)timeout;
        until.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!t->finished)
            if (pthread_cond_timedwait(&t->cv, &t->mu, &until) == ETIMEDOUT)
                break;
    }
    finished = t->finished;
    if (finished && !t->joined) {
        t->joined = 1;
        must_join = 1;
    }
    pthread_mutex_unlock(&t->mu);
    if (must_join)
        pthread_join(t->thread, NULL);
    Py_END_ALLOW_THREADS if (finished) Py_RETURN_TRUE;
    Py_RETURN_FALSE;
}

PyObject *pyx_loop_thread_running(struct pyx_loop_thread *t)
{
    pthread_mutex_lock(&t->mu);
    int running = t->started && !t->finished;
    pthread_mutex_unlock(&t->mu);
    return PyBool_FromLong(running);
}

void pyx_deliver(PyObject *handler, const char *kind, PyObject *payload)
{
    if (!payload) {
        PyErr_Print();
        return;
    }
    PyObject *r = PyObject_CallFunction(handler, "sO", kind, payload);
    Py_DECREF(payload);
    if (!r)
        PyErr_Print();
    Py_XDECREF(r);
}
