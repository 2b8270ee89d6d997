/*
 * sched_conn.c: mesos._internal._cmesos.SchedulerConnection, libcmscheduler on its own thread.
 *
 *   SchedulerConnection(master, framework_info, handler, principal=None, secret=None)
 *     master          "host:port", "http[s]://host:port" or "zk://..." (libcmscheduler parses)
 *     framework_info  serialized FrameworkInfo (v0 or v1: same field numbers)
 *     handler         handler(kind, payload), called on the loop thread with the GIL held:
 *                       "event"        bytes: a serialized v1 scheduler Event (SUBSCRIBED,
 *                                      OFFERS, RESCIND, UPDATE, MESSAGE, FAILURE and the rest;
 *                                      heartbeats are not passed on)
 *                       "error"        str: the master's ERROR, or a fatal local condition
 *                                      (the library has stopped)
 *                       "disconnected" (reason: str, retry_in: float)
 *                       "call_failed"  (call_type: int, err: int, http_status: int, body: str)
 *                       "log"          (level: int 0..3, message: str)
 *     .start()            creates the scheduler, starts the loop thread; raises RuntimeError
 *                         (with the library's reason) or ValueError (bad framework_info)
 *     .call(bytes)        queues a serialized v1 scheduler Call (not SUBSCRIBE); False once the
 *                         connection has ended; ValueError if the bytes are not a Call
 *     .teardown()         queues TEARDOWN, sent once every call made before it was answered
 *                         (the loop ends once the master accepted it)
 *     .stop()             queues a stop (no teardown: the framework stays for failover)
 *     .join(timeout=None) waits (GIL released) for the loop thread to end; True if it ended
 *
 * A call made while not subscribed is dropped by the library (as Mesos's driver drops calls
 * while disconnected); the handler gets a "log" line at warning level saying so.
 */
#include "ext.h"
#include "loop_thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmdq.h"
#include "cmesos/scheduler.h"

enum { OP_CALL = 1, OP_STOP, OP_TEARDOWN };

typedef struct {
    PyObject_HEAD PyObject *handler;
    char *master;
    uint8_t *fw;
    size_t fw_len;
    char *principal, *secret;
    struct pyx_cmdq *q;
    struct cm_scheduler *sched; /* belongs to the loop thread once started */
    struct pyx_loop_thread lt;
    /* Loop thread only: calls sent and not answered yet, and a TEARDOWN waiting for them (the
     * calls are separate POSTs, so a TEARDOWN sent at once could overtake the calls the
     * framework made before stop() and remove it before they are applied). */
    size_t inflight;
    int teardown_wanted;
} SchedConn;

/* ---- loop thread -> Python ------------------------------------------------------------ */

static void deliver(SchedConn *c, const char *kind, PyObject *payload)
{
    pyx_deliver(c->handler, kind, payload);
}

static void deliver_event(SchedConn *c, const Mesos__V1__Scheduler__Event *ev)
{
    size_t n = mesos__v1__scheduler__event__get_packed_size(ev);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        abort(); /* allocation failure aborts (project rule) */
    mesos__v1__scheduler__event__pack(ev, buf);
    PyGILState_STATE g = PyGILState_Ensure();
    deliver(c, "event", PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)n));
    PyGILState_Release(g);
    free(buf);
}

static void on_subscribed(struct cm_scheduler *s, void *arg,
                          const Mesos__V1__Scheduler__Event__Subscribed *sub)
{
    (void)s;
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED;
    ev.subscribed = (Mesos__V1__Scheduler__Event__Subscribed *)sub;
    deliver_event(arg, &ev);
}

static void on_offers(struct cm_scheduler *s, void *arg, Mesos__V1__Offer *const *offers, size_t n)
{
    (void)s;
    Mesos__V1__Scheduler__Event__Offers o = MESOS__V1__SCHEDULER__EVENT__OFFERS__INIT;
    o.n_offers = n;
    o.offers = (Mesos__V1__Offer **)offers;
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS;
    ev.offers = &o;
    deliver_event(arg, &ev);
}

static void on_rescind(struct cm_scheduler *s, void *arg, const Mesos__V1__OfferID *id)
{
    (void)s;
    Mesos__V1__Scheduler__Event__Rescind r = MESOS__V1__SCHEDULER__EVENT__RESCIND__INIT;
    r.offer_id = (Mesos__V1__OfferID *)id;
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND;
    ev.rescind = &r;
    deliver_event(arg, &ev);
}

static void on_update(struct cm_scheduler *s, void *arg, const Mesos__V1__TaskStatus *status)
{
    (void)s;
    Mesos__V1__Scheduler__Event__Update u = MESOS__V1__SCHEDULER__EVENT__UPDATE__INIT;
    u.status = (Mesos__V1__TaskStatus *)status;
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE;
    ev.update = &u;
    deliver_event(arg, &ev);
}

static void on_message(struct cm_scheduler *s, void *arg,
                       const Mesos__V1__Scheduler__Event__Message *m)
{
    (void)s;
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__MESSAGE;
    ev.message = (Mesos__V1__Scheduler__Event__Message *)m;
    deliver_event(arg, &ev);
}

static void on_failure(struct cm_scheduler *s, void *arg,
                       const Mesos__V1__Scheduler__Event__Failure *f)
{
    (void)s;
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE;
    ev.failure = (Mesos__V1__Scheduler__Event__Failure *)f;
    deliver_event(arg, &ev);
}

static void on_other(struct cm_scheduler *s, void *arg, const Mesos__V1__Scheduler__Event *ev)
{
    (void)s;
    deliver_event(arg, ev);
}

static void on_error(struct cm_scheduler *s, void *arg, const char *message)
{
    (void)s;
    PyGILState_STATE g = PyGILState_Ensure();
    deliver(arg, "error", PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace"));
    PyGILState_Release(g);
}

static void on_disconnected(struct cm_scheduler *s, void *arg, const char *reason, double delay)
{
    (void)s;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyUnicode_DecodeUTF8(reason, (Py_ssize_t)strlen(reason), "replace");
    deliver(arg, "disconnected", r ? Py_BuildValue("(Nd)", r, delay) : NULL);
    PyGILState_Release(g);
}

static void on_call_failed(struct cm_scheduler *s, void *arg, Mesos__V1__Scheduler__Call__Type type,
                           int err, long status, const char *body)
{
    (void)s;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *b = PyUnicode_DecodeUTF8(body, (Py_ssize_t)strlen(body), "replace");
    deliver(arg, "call_failed", b ? Py_BuildValue("(iilN)", (int)type, err, status, b) : NULL);
    PyGILState_Release(g);
}

static void on_log(void *arg, enum cm_scheduler_log_level level, const char *message)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *m = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace");
    deliver(arg, "log", m ? Py_BuildValue("(iN)", (int)level, m) : NULL);
    PyGILState_Release(g);
}

/* ---- Python -> loop thread ------------------------------------------------------------ */

static void do_teardown(SchedConn *c)
{
    c->teardown_wanted = 0;
    if (cm_scheduler_teardown(c->sched, NULL, NULL) != 0)
        cm_scheduler_stop(c->sched); /* not subscribed: nothing to tear down */
}

/* Completion of every call the framework made: failures go to the handler. */
static void on_call_done(struct cm_scheduler *s, void *arg, Mesos__V1__Scheduler__Call__Type type,
                         int err, long status, const char *body)
{
    SchedConn *c = arg;
    if (c->inflight > 0)
        c->inflight--;
    if (err != 0 || status < 200 || status > 299)
        on_call_failed(s, arg, type, err, status, body);
    if (c->teardown_wanted && c->inflight == 0)
        do_teardown(c);
}

static void on_command(void *arg, int op, ProtobufCMessage *msg)
{
    SchedConn *c = arg;
    if (op == OP_CALL) {
        Mesos__V1__Scheduler__Call *call = (Mesos__V1__Scheduler__Call *)msg;
        int rc = cm_scheduler_call(c->sched, call, on_call_done, c);
        if (rc == 0)
            c->inflight++;
        if (rc != 0) {
            char line[256];
            const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
                &mesos__v1__scheduler__call__type__descriptor, (int)call->type);
            snprintf(line, sizeof line, "Dropping %s call: %s", v ? v->name : "an unknown",
                     rc == CM_SCHEDULER_ESTATE ? "not subscribed to a master"
                                               : cm_scheduler_strerror(rc));
            on_log(c, CM_SCHEDULER_LOG_WARNING, line);
        }
    } else if (op == OP_TEARDOWN) {
        if (c->inflight == 0)
            do_teardown(c);
        else
            c->teardown_wanted = 1; /* once the calls before it are answered */
    } else if (op == OP_STOP) {
        c->teardown_wanted = 0;
        cm_scheduler_stop(c->sched);
    }
    if (msg)
        protobuf_c_message_free_unpacked(msg, NULL);
}

static void *loop_main(void *arg)
{
    SchedConn *c = arg;
    cm_scheduler_run(c->sched);
    pyx_cmdq_close(c->q);
    pyx_cmdq_detach(c->q);
    cm_scheduler_free(c->sched);
    c->sched = NULL;
    pyx_loop_thread_finished(&c->lt);
    PyGILState_STATE g = PyGILState_Ensure();
    Py_DECREF((PyObject *)c); /* the thread's own reference, taken in start() */
    PyGILState_Release(g);
    return NULL;
}

/* ---- the type ------------------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int sc_init(SchedConn *c, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"master", "framework_info", "handler", "principal", "secret", NULL};
    const char *master, *principal = NULL, *secret = NULL;
    Py_buffer fw;
    PyObject *handler;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sy*O|zz", kwlist, &master, &fw, &handler,
                                     &principal, &secret))
        return -1;
    if (c->lt.started) {
        PyBuffer_Release(&fw);
        PyErr_SetString(PyExc_RuntimeError, "SchedulerConnection: already started");
        return -1;
    }
    if (!PyCallable_Check(handler)) {
        PyBuffer_Release(&fw);
        PyErr_SetString(PyExc_TypeError, "SchedulerConnection: handler must be callable");
        return -1;
    }
    free(c->master);
    free(c->fw);
    free(c->principal);
    free(c->secret);
    c->master = strdup(master);
    c->fw_len = (size_t)fw.len;
    c->fw = malloc(c->fw_len ? c->fw_len : 1);
    if (c->fw)
        memcpy(c->fw, fw.buf, c->fw_len);
    PyBuffer_Release(&fw);
    c->principal = dup_or_null(principal);
    c->secret = dup_or_null(secret);
    if (!c->master || !c->fw || (principal && !c->principal) || (secret && !c->secret)) {
        PyErr_NoMemory();
        return -1;
    }
    Py_INCREF(handler);
    Py_XSETREF(c->handler, handler);
    if (!c->q) {
        c->q = pyx_cmdq_new(on_command, c);
        if (!c->q) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
    }
    return 0;
}

static PyObject *sc_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    SchedConn *c = (SchedConn *)type->tp_alloc(type, 0);
    if (!c)
        return NULL;
    pyx_loop_thread_init(&c->lt);
    return (PyObject *)c;
}

static void sc_dealloc(SchedConn *c)
{
    pyx_loop_thread_fini(&c->lt);
    if (c->sched) /* created, never run */
        cm_scheduler_free(c->sched);
    pyx_cmdq_free(c->q);
    free(c->master);
    free(c->fw);
    free(c->principal);
    if (c->secret) {
        memset(c->secret, 0, strlen(c->secret));
        free(c->secret);
    }
    Py_XDECREF(c->handler);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyObject *sc_start(SchedConn *c, PyObject *unused)
{
    (void)unused;
    if (!c->q || !c->handler) {
        PyErr_SetString(PyExc_RuntimeError, "SchedulerConnection: not initialised");
        return NULL;
    }
    if (c->lt.started) {
        PyErr_SetString(PyExc_RuntimeError, "SchedulerConnection: already started");
        return NULL;
    }
    Mesos__V1__FrameworkInfo *fi = mesos__v1__framework_info__unpack(NULL, c->fw_len, c->fw);
    if (!fi) {
        PyErr_SetString(PyExc_ValueError, "framework_info: not a valid serialized FrameworkInfo "
                                          "(are user and name set?)");
        return NULL;
    }
    struct cm_scheduler_config cfg = {
        .master = c->master,
        .framework_info = fi,
        .content_type = CM_SCHEDULER_PROTOBUF,
        .callback_arg = c,
        .log = on_log,
        .log_arg = c,
        .callbacks =
            {
                .subscribed = on_subscribed,
                .offers = on_offers,
                .rescind = on_rescind,
                .update = on_update,
                .message = on_message,
                .failure = on_failure,
                .error = on_error,
                .disconnected = on_disconnected,
                .other = on_other,
                .call_failed = on_call_failed,
            },
    };
    char why[512] = "";
    c->sched = cm_scheduler_new(&cfg, why, sizeof why);
    mesos__v1__framework_info__free_unpacked(fi, NULL);
    if (!c->sched) {
        PyErr_Format(PyExc_RuntimeError, "cannot create the scheduler: %s",
                     why[0] ? why : "invalid configuration");
        return NULL;
    }
    int rc = 0;
    if (c->principal) {
        rc = cm_scheduler_set_credential(c->sched, c->principal, c->secret ? c->secret : "");
        if (rc) {
            cm_scheduler_free(c->sched);
            c->sched = NULL;
            PyErr_Format(PyExc_ValueError, "credential: %s", cm_scheduler_strerror(rc));
            return NULL;
        }
    }
    rc = pyx_cmdq_attach(c->q, cm_scheduler_base(c->sched));
    if (rc == 0)
        rc = cm_scheduler_start(c->sched);
    if (rc == 0) {
        Py_INCREF(c); /* released by the loop thread when it ends */
        c->lt.started = 1;
        rc = -pthread_create(&c->lt.thread, NULL, loop_main, c);
        if (rc) {
            c->lt.started = 0;
            Py_DECREF(c);
        }
    }
    if (rc) {
        pyx_cmdq_detach(c->q);
        cm_scheduler_free(c->sched);
        c->sched = NULL;
        PyErr_Format(PyExc_RuntimeError, "cannot start the scheduler: %s",
                     cm_scheduler_strerror(rc));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *push(SchedConn *c, int op, ProtobufCMessage *msg)
{
    if (!c->q) {
        if (msg)
            protobuf_c_message_free_unpacked(msg, NULL);
        Py_RETURN_FALSE;
    }
    int rc = pyx_cmdq_push(c->q, op, msg);
    if (rc != 0) {
        if (msg)
            protobuf_c_message_free_unpacked(msg, NULL);
        if (rc == -EPIPE)
            Py_RETURN_FALSE;
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_TRUE;
}

static PyObject *sc_call(SchedConn *c, PyObject *arg)
{
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) != 0)
        return NULL;
    Mesos__V1__Scheduler__Call *call =
        mesos__v1__scheduler__call__unpack(NULL, (size_t)b.len, b.buf);
    PyBuffer_Release(&b);
    if (!call) {
        PyErr_SetString(PyExc_ValueError, "call: not a valid serialized scheduler Call");
        return NULL;
    }
    if (!call->has_type || call->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE ||
        call->type == MESOS__V1__SCHEDULER__CALL__TYPE__UNKNOWN) {
        mesos__v1__scheduler__call__free_unpacked(call, NULL);
        PyErr_SetString(PyExc_ValueError,
                        "call: type must be set, and SUBSCRIBE is made by the connection itself");
        return NULL;
    }
    if (!c->lt.started) {
        mesos__v1__scheduler__call__free_unpacked(call, NULL);
        Py_RETURN_FALSE;
    }
    return push(c, OP_CALL, &call->base);
}

static PyObject *sc_stop(SchedConn *c, PyObject *unused)
{
    (void)unused;
    if (!c->lt.started)
        Py_RETURN_FALSE;
    return push(c, OP_STOP, NULL);
}

static PyObject *sc_teardown(SchedConn *c, PyObject *unused)
{
    (void)unused;
    if (!c->lt.started)
        Py_RETURN_FALSE;
    return push(c, OP_TEARDOWN, NULL);
}

static PyObject *sc_join(SchedConn *c, PyObject *args, PyObject *kw)
{
    return pyx_loop_thread_join(&c->lt, args, kw);
}

static PyObject *sc_running(SchedConn *c, void *closure)
{
    (void)closure;
    return pyx_loop_thread_running(&c->lt);
}

static PyMethodDef sc_methods[] = {
    {"start", (PyCFunction)sc_start, METH_NOARGS, "Start the loop thread and subscribe."},
    {"call", (PyCFunction)sc_call, METH_O, "Queue a serialized v1 scheduler Call."},
    {"stop", (PyCFunction)sc_stop, METH_NOARGS, "Stop without tearing the framework down."},
    {"teardown", (PyCFunction)sc_teardown, METH_NOARGS, "TEARDOWN the framework, then stop."},
    {"join", (PyCFunction)(void (*)(void))sc_join, METH_VARARGS | METH_KEYWORDS,
     "Wait for the loop thread to end (timeout in seconds); True if it ended."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef sc_getset[] = {
    {"running", (getter)sc_running, NULL, "True while the loop thread runs.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject pyx_sched_conn_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mesos._internal._cmesos.SchedulerConnection",
    .tp_basicsize = sizeof(SchedConn),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "libcmscheduler on its own loop thread (see mesos.native.scheduler).",
    .tp_new = sc_new,
    .tp_init = (initproc)sc_init,
    .tp_dealloc = (destructor)sc_dealloc,
    .tp_methods = sc_methods,
    .tp_getset = sc_getset,
};
