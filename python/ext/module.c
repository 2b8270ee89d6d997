/* module.c: mesos._internal._cmesos, the module object (see ext.h). */
#include "ext.h"

static struct PyModuleDef cmesos_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mesos._internal._cmesos",
    .m_doc = "cmesos's C libraries for the mesos.native drivers (internal).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__cmesos(void);

PyMODINIT_FUNC PyInit__cmesos(void)
{
    if (PyType_Ready(&pyx_sched_conn_type) < 0 || PyType_Ready(&pyx_exec_conn_type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&cmesos_module);
    if (!m)
        return NULL;
    Py_INCREF(&pyx_sched_conn_type);
    if (PyModule_AddObject(m, "SchedulerConnection", (PyObject *)&pyx_sched_conn_type) < 0) {
        Py_DECREF(&pyx_sched_conn_type);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&pyx_exec_conn_type);
    if (PyModule_AddObject(m, "ExecutorConnection", (PyObject *)&pyx_exec_conn_type) < 0) {
        Py_DECREF(&pyx_exec_conn_type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
