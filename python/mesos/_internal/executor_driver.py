"""MesosExecutorDriver: Mesos's v0 executor driver over libcmexecutor (v1 executor HTTP API).

The executor's connection to its agent (environment, subscription, re-subscription after an
agent restart with the unacknowledged updates and tasks, status update bookkeeping until
ACKNOWLEDGED) is libcmexecutor's, on its own thread inside mesos._internal._cmesos; this
module keeps the v0 driver API and turns v1 events into the v0 callbacks on that thread.
"""
import threading

from mesos.interface import mesos_pb2
from mesos._internal import executor_pb2 as v1
from mesos._internal import _cmesos
from mesos._internal.common import LOG, DriverBase, invoke, live_drivers, log_library_line

Event = v1.Event

_live = live_drivers()


class MesosExecutorDriver(DriverBase):
    """MesosExecutorDriver(executor) as in Mesos's bindings: executor is an object with any of
    mesos.interface.Executor's callbacks. The agent and the ids come from the environment the
    agent gives the executor (MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, MESOS_SLAVE_ID,
    MESOS_AGENT_ENDPOINT, ...)."""

    _TARGET = 'executor'
    _JOIN_TIMEOUT = 10.0

    def __init__(self, executor):
        self.executor = executor
        self._init_driver()

    def start(self):
        with self._cond:
            if self._status != mesos_pb2.DRIVER_NOT_STARTED:
                return self._status
            try:
                conn = _cmesos.ExecutorConnection(self._on_library)
                self._status = mesos_pb2.DRIVER_RUNNING
                conn.start()
            except (RuntimeError, ValueError, OSError) as e:
                LOG.error('Cannot start the executor driver: %s', e)
                self._status = mesos_pb2.DRIVER_ABORTED
                self._cond.notify_all()
                message = str(e)
            else:
                self._conn = conn
                _live.add(self)
                return self._status
        invoke(self.executor, 'error', self, message)
        return mesos_pb2.DRIVER_ABORTED

    def stop(self):
        with self._cond:
            if self._status not in (mesos_pb2.DRIVER_RUNNING, mesos_pb2.DRIVER_ABORTED):
                return self._status
            aborted = self._status == mesos_pb2.DRIVER_ABORTED
            if self._conn is not None:
                self._conn.stop()
            self._status = mesos_pb2.DRIVER_STOPPED
            self._cond.notify_all()
            return mesos_pb2.DRIVER_ABORTED if aborted else self._status

    def sendStatusUpdate(self, status):
        with self._cond:
            if self._status != mesos_pb2.DRIVER_RUNNING:
                return self._status
            conn = self._conn
        try:
            conn.update(status.SerializeToString())
        except ValueError as e:
            # Mesos's driver aborts on an update it may not send (e.g. TASK_STAGING).
            LOG.error('Refusing a status update: %s', e)
            invoke(self.executor, 'error', self, 'Invalid status update: %s' % e)
            return self.abort()
        with self._cond:
            return self._status

    def sendFrameworkMessage(self, data):
        with self._cond:
            if self._status != mesos_pb2.DRIVER_RUNNING:
                return self._status
            conn = self._conn
        conn.message(bytes(data))
        with self._cond:
            return self._status

    # ---- events (on the driver's thread) ------------------------------------------------

    def _on_library(self, kind, payload):
        self._loop_ident = threading.get_ident()
        if kind == 'event':
            event = Event()
            try:
                event.ParseFromString(payload)
            except Exception as e:
                LOG.error('Cannot decode an event: %s', e)
                return
            self._on_event(event)
        elif kind == 'shutdown':
            if payload != 0:
                LOG.warning('The agent is gone (recovery timed out); shutting down')
            self._callback('shutdown')
            # Mesos's driver stops taking messages after shutdown; the agent kills the
            # executor once the grace period is over.
            self.abort()
        elif kind == 'disconnected':
            reason, delay = payload
            with self._cond:
                was = self._connected
                self._connected = False
            LOG.info('Disconnected from the agent (%s); retrying in %.1f s', reason, delay)
            if was:
                self._callback('disconnected')
        elif kind == 'log':
            log_library_line(*payload)

    def _on_event(self, event):
        t = event.type
        if t == Event.SUBSCRIBED:
            sub = event.subscribed
            with self._cond:
                self._connected = True
                first = not self._registered
                self._registered = True
            if first:
                self._callback('registered', sub.executor_info, sub.framework_info,
                               sub.slave_info)
            else:
                self._callback('reregistered', sub.slave_info)
        elif t == Event.LAUNCH:
            self._callback('launchTask', event.launch.task)
        elif t == Event.LAUNCH_GROUP:
            # Task groups go to v1 executors (the default executor); the v0 API has no
            # callback for them. Say so rather than run them differently.
            LOG.error('LAUNCH_GROUP is not supported by the v0 executor API; ignored')
        elif t == Event.KILL:
            self._callback('killTask', event.kill.task_id)
        elif t == Event.MESSAGE:
            self._callback('frameworkMessage', event.message.data)
        elif t == Event.ERROR:
            self._callback('error', event.error.message)
            self.abort()
        elif t == Event.ACKNOWLEDGED:
            pass  # the library's bookkeeping
        else:
            LOG.debug('Ignoring a %s event', Event.Type.Name(t))
