/*
 * ext.h: the C extension module mesos._internal._cmesos (shared declarations).
 *
 * The module is the thin layer between the Python drivers
 * (python/mesos/_internal/scheduler_driver.py and executor_driver.py, which keep the v0 driver API
 * and its state machine) and the C libraries: one connection type per library, each owning a thread
 * that runs the library's libevent loop.
 *
 *   SchedulerConnection (sched_conn.c) over libcmscheduler (include/cmesos/scheduler.h)
 *   ExecutorConnection (exec_conn.c) over libcmexecutor (include/cmesos/executor.h)
 *
 * Messages cross as serialized protobuf bytes (v1 Call in, v1 Event out); the Python side
 * parses them with v0-named classes generated from the same field numbers.
 *
 * Threading: the connection's methods may be called from any Python thread; they queue the
 * work for the loop thread (cmdq.h). The loop thread calls the Python handler with the GIL
 * held. join() waits with the GIL released.
 */
#ifndef PYX_EXT_H
#define PYX_EXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

extern PyTypeObject pyx_sched_conn_type;
extern PyTypeObject pyx_exec_conn_type;

#endif
