/*
 * exec_conn.c: mesos._internal._cmesos.ExecutorConnection, libcmexecutor on its own thread.
 *
 *   ExecutorConnection(handler)
 *     handler         handler(kind, payload), called on the loop thread with the GIL held:
 *                       "event"        bytes: a serialized v1 executor Event (every event but
 *                                      HEARTBEAT and SHUTDOWN)
 *                       "shutdown"     int: 0 the agent sent SHUTDOWN, 1 the library gave up
 *                                      on the agent (cm_exec_shutdown_reason)
 *                       "disconnected" (reason: str, retry_in: float)
 *                       "log"          (level: int 0..3, message: str)
 *     .start()            reads the environment the agent gave the executor, subscribes on a
 *                         new loop thread; RuntimeError naming the missing/bad variable
 *     .update(bytes)      a serialized TaskStatus (v0 or v1); returns the 16-byte uuid the
 *                         library gave it, None once the connection ended; ValueError (the
 *                         library's reason) for a status it refuses (no task_id, TASK_STAGING)
 *     .message(bytes)     a framework message to the scheduler; False once ended
 *     .stop()             stops (the loop ends once queued calls are made, at most ~2 s)
 *     .join(timeout=None) waits (GIL released) for the loop thread to end; True if it ended
 *     .env                dict of the executor's environment (framework_id, executor_id,
 *                         agent_id, agent_endpoint, sandbox, checkpoint) once started
 *
 * libcmexecutor's library-owned mode makes update/message/stop safe from any thread; the
 * mutex here only keeps them away from the executor while the loop thread frees it.
 */
#include "ext.h"
#include "loop_thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmesos/executor.h"

typedef struct {
    PyObject_HEAD PyObject *handler;
    struct cm_exec *ex; /* guarded by mu once started: freed by the loop thread at its end */
    PyObject *env;      /* dict, set by start() */
    struct pyx_loop_thread lt;
} ExecConn;

/* ---- loop thread -> Python ------------------------------------------------------------ */

static void deliver(ExecConn *c, const char *kind, PyObject *payload)
{
    pyx_deliver(c->handler, kind, payload);
}

static void on_event_bytes(struct cm_exec *ex, void *arg, const uint8_t *ev, size_t len)
{
    (void)ex;
    /* Peek at the type: heartbeats are not passed on, SHUTDOWN comes through on_shutdown. */
    Mesos__V1__Executor__Event *e = mesos__v1__executor__event__unpack(NULL, len, ev);
    if (e) {
        int skip = e->type == MESOS__V1__EXECUTOR__EVENT__TYPE__HEARTBEAT ||
                   e->type == MESOS__V1__EXECUTOR__EVENT__TYPE__SHUTDOWN;
        mesos__v1__executor__event__free_unpacked(e, NULL);
        if (skip)
            return;
    }
    PyGILState_STATE g = PyGILState_Ensure();
    deliver(arg, "event", PyBytes_FromStringAndSize((const char *)ev, (Py_ssize_t)len));
    PyGILState_Release(g);
}

static void on_shutdown(struct cm_exec *ex, void *arg, enum cm_exec_shutdown_reason reason)
{
    (void)ex;
    PyGILState_STATE g = PyGILState_Ensure();
    deliver(arg, "shutdown", PyLong_FromLong((long)reason));
    PyGILState_Release(g);
}

static void on_disconnected(struct cm_exec *ex, void *arg, const char *reason, double retry_in)
{
    (void)ex;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyUnicode_DecodeUTF8(reason, (Py_ssize_t)strlen(reason), "replace");
    deliver(arg, "disconnected", r ? Py_BuildValue("(Nd)", r, retry_in) : NULL);
    PyGILState_Release(g);
}

static void on_log(void *arg, enum cm_exec_log_level level, const char *message)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *m = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace");
    deliver(arg, "log", m ? Py_BuildValue("(iN)", (int)level, m) : NULL);
    PyGILState_Release(g);
}

static void *loop_main(void *arg)
{
    ExecConn *c = arg;
    cm_exec_run(c->ex);
    pthread_mutex_lock(&c->lt.mu);
    cm_exec_free(c->ex);
    c->ex = NULL;
    c->lt.finished = 1;
    pthread_cond_broadcast(&c->lt.cv);
    pthread_mutex_unlock(&c->lt.mu);
    PyGILState_STATE g = PyGILState_Ensure();
    Py_DECREF((PyObject *)c); /* the thread's reference, taken in start() */
    PyGILState_Release(g);
    return NULL;
}

/* ---- the type ------------------------------------------------------------------------- */

static PyObject *ec_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    ExecConn *c = (ExecConn *)type->tp_alloc(type, 0);
    if (!c)
        return NULL;
    pyx_loop_thread_init(&c->lt);
    return (PyObject *)c;
}

static int ec_init(ExecConn *c, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"handler", NULL};
    PyObject *handler;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O", kwlist, &handler))
        return -1;
    if (c->lt.started) {
        PyErr_SetString(PyExc_RuntimeError, "ExecutorConnection: already started");
        return -1;
    }
    if (!PyCallable_Check(handler)) {
        PyErr_SetString(PyExc_TypeError, "ExecutorConnection: handler must be callable");
        return -1;
    }
    Py_INCREF(handler);
    Py_XSETREF(c->handler, handler);
    return 0;
}

static void ec_dealloc(ExecConn *c)
{
    pyx_loop_thread_fini(&c->lt);
    if (c->ex) /* created, never run */
        cm_exec_free(c->ex);
    Py_XDECREF(c->handler);
    Py_XDECREF(c->env);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyObject *env_dict(const struct cm_exec_env *e)
{
    return Py_BuildValue("{s:s,s:s,s:s,s:s,s:z,s:O}", "framework_id", e->framework_id,
                         "executor_id", e->executor_id, "agent_id", e->agent_id, "agent_endpoint",
                         e->agent_endpoint, "sandbox", e->sandbox, "checkpoint",
                         e->checkpoint ? Py_True : Py_False);
}

static PyObject *ec_start(ExecConn *c, PyObject *unused)
{
    (void)unused;
    if (!c->handler) {
        PyErr_SetString(PyExc_RuntimeError, "ExecutorConnection: not initialised");
        return NULL;
    }
    if (c->lt.started) {
        PyErr_SetString(PyExc_RuntimeError, "ExecutorConnection: already started");
        return NULL;
    }
    struct cm_exec_env env;
    char why[512] = "";
    int rc = cm_exec_env_from_env(&env, NULL, why, sizeof why);
    if (rc) {
        PyErr_Format(PyExc_RuntimeError, "the executor's environment: %s",
                     why[0] ? why : cm_exec_strerror(rc));
        return NULL;
    }
    PyObject *d = env_dict(&env);
    if (!d) {
        cm_exec_env_cleanup(&env);
        return NULL;
    }
    struct cm_exec_config cfg = {
        .env = &env,
        .callback_arg = c,
        .log = on_log,
        .log_arg = c,
        .callbacks =
            {
                .event_bytes = on_event_bytes,
                .shutdown = on_shutdown,
                .disconnected = on_disconnected,
            },
    };
    struct cm_exec *ex = cm_exec_new(&cfg, why, sizeof why);
    cm_exec_env_cleanup(&env);
    if (!ex) {
        Py_DECREF(d);
        PyErr_Format(PyExc_RuntimeError, "cannot create the executor: %s",
                     why[0] ? why : "invalid configuration");
        return NULL;
    }
    rc = cm_exec_start(ex);
    if (rc == 0) {
        c->ex = ex;
        Py_INCREF(c); /* released by the loop thread when it ends */
        c->lt.started = 1;
        rc = -pthread_create(&c->lt.thread, NULL, loop_main, c);
        if (rc) {
            c->lt.started = 0;
            c->ex = NULL;
            Py_DECREF(c);
        }
    }
    if (rc) {
        cm_exec_free(ex);
        Py_DECREF(d);
        PyErr_Format(PyExc_RuntimeError, "cannot start the executor: %s", cm_exec_strerror(rc));
        return NULL;
    }
    Py_XSETREF(c->env, d);
    Py_RETURN_NONE;
}

/* Runs fn on the executor unless it ended. Returns 1 if it ran (rc set), 0 if ended. */
static int
with_exec(ExecConn *c,
          int (*fn)(struct cm_exec *, const uint8_t *, size_t, uint8_t *, char *, size_t),
          const uint8_t *data, size_t len, uint8_t *out, char *why, size_t whylen, int *rc)
{
    int ran = 0;
    pthread_mutex_lock(&c->lt.mu);
    if (c->lt.started && !c->lt.finished && c->ex) {
        *rc = fn(c->ex, data, len, out, why, whylen);
        ran = 1;
    }
    pthread_mutex_unlock(&c->lt.mu);
    return ran;
}

static int do_update(struct cm_exec *ex, const uint8_t *d, size_t n, uint8_t *out, char *why,
                     size_t whylen)
{
    return cm_exec_update_bytes(ex, d, n, out, why, whylen);
}

static int do_message(struct cm_exec *ex, const uint8_t *d, size_t n, uint8_t *out, char *why,
                      size_t whylen)
{
    (void)out;
    return cm_exec_message(ex, d, n, why, whylen);
}

static PyObject *ec_send(ExecConn *c, PyObject *arg, int update)
{
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) != 0)
        return NULL;
    uint8_t uuid[16];
    char why[512] = "";
    int rc = 0;
    int ran = with_exec(c, update ? do_update : do_message, b.buf, (size_t)b.len, uuid, why,
                        sizeof why, &rc);
    PyBuffer_Release(&b);
    if (!ran || rc == CM_EXEC_ESTATE) {
        if (update)
            Py_RETURN_NONE;
        Py_RETURN_FALSE;
    }
    if (rc == CM_EXEC_EINVAL || rc == CM_EXEC_EPARSE) {
        PyErr_SetString(PyExc_ValueError, why[0] ? why : cm_exec_strerror(rc));
        return NULL;
    }
    if (rc) {
        PyErr_Format(PyExc_RuntimeError, "%s", why[0] ? why : cm_exec_strerror(rc));
        return NULL;
    }
    if (update)
        return PyBytes_FromStringAndSize((const char *)uuid, sizeof uuid);
    Py_RETURN_TRUE;
}

static PyObject *ec_update(ExecConn *c, PyObject *arg)
{
    return ec_send(c, arg, 1);
}

static PyObject *ec_message(ExecConn *c, PyObject *arg)
{
    return ec_send(c, arg, 0);
}

static PyObject *ec_stop(ExecConn *c, PyObject *unused)
{
    (void)unused;
    int ran = 0;
    pthread_mutex_lock(&c->lt.mu);
    if (c->lt.started && !c->lt.finished && c->ex) {
        cm_exec_stop(c->ex);
        ran = 1;
    }
    pthread_mutex_unlock(&c->lt.mu);
    return PyBool_FromLong(ran);
}

static PyObject *ec_join(ExecConn *c, PyObject *args, PyObject *kw)
{
    return pyx_loop_thread_join(&c->lt, args, kw);
}

static PyObject *ec_running(ExecConn *c, void *closure)
{
    (void)closure;
    return pyx_loop_thread_running(&c->lt);
}

static PyObject *ec_env(ExecConn *c, void *closure)
{
    (void)closure;
    if (!c->env)
        Py_RETURN_NONE;
    Py_INCREF(c->env);
    return c->env;
}

static PyMethodDef ec_methods[] = {
    {"start", (PyCFunction)ec_start, METH_NOARGS, "Read the environment, subscribe."},
    {"update", (PyCFunction)ec_update, METH_O, "Send a serialized TaskStatus; its uuid."},
    {"message", (PyCFunction)ec_message, METH_O, "Send bytes to the scheduler."},
    {"stop", (PyCFunction)ec_stop, METH_NOARGS, "Stop the executor's loop."},
    {"join", (PyCFunction)(void (*)(void))ec_join, METH_VARARGS | METH_KEYWORDS,
     "Wait for the loop thread to end (timeout in seconds); True if it ended."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ec_getset[] = {
    {"running", (getter)ec_running, NULL, "True while the loop thread runs.", NULL},
    {"env", (getter)ec_env, NULL, "The executor's environment (dict) once started.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject pyx_exec_conn_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mesos._internal._cmesos.ExecutorConnection",
    .tp_basicsize = sizeof(ExecConn),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "libcmexecutor on its own loop thread (see mesos.executor).",
    .tp_new = ec_new,
    .tp_init = (initproc)ec_init,
    .tp_dealloc = (destructor)ec_dealloc,
    .tp_methods = ec_methods,
    .tp_getset = ec_getset,
};
