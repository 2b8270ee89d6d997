"""MesosSchedulerDriver: Mesos's v0 scheduler driver over libcmscheduler (v1 HTTP API).

The v0 driver's state machine and its v0 <-> v1 translation live here; the connection to the
master (subscription, redirects, ZooKeeper leader detection, reconnects, heartbeats, calls)
is libcmscheduler's, running on its own thread inside mesos._internal._cmesos. Events arrive
on that thread and become the scheduler's callbacks there, one at a time; calls made from any
thread are queued to it. v0 and v1 messages share field numbers, so every message crosses as
its serialized bytes.
"""
import socket
import threading

from mesos.interface import mesos_pb2
from mesos._internal import scheduler_pb2 as v1
from mesos._internal import _cmesos
from mesos._internal.common import LOG, current_user, invoke, log_library_line, resolve_master
from mesos._internal.common import DriverBase, MasterError, live_drivers

Call = v1.Call
Event = v1.Event

_live = live_drivers()


def _ids(x, cls):
    """One ID or an iterable of them -> list (Mesos's Python driver takes both)."""
    if isinstance(x, cls):
        return [x]
    return list(x)


class MesosSchedulerDriver(DriverBase):
    """MesosSchedulerDriver(scheduler, framework, master, implicitAcknowledgements=True,
    credential=None) as in Mesos's bindings.

    scheduler: an object with any of mesos.interface.Scheduler's callbacks.
    framework: mesos_pb2.FrameworkInfo (user filled with the current user when empty,
      hostname with this host's name when unset).
    master: "host:port", "zk://host:port[,...]/path", "file:///path" (a file holding one of
      these), "http[s]://host:port".
    credential: optional mesos_pb2.Credential (principal, secret): HTTP Basic authentication.
    """

    _TARGET = 'scheduler'
    _JOIN_TIMEOUT = 15.0

    def __init__(self, scheduler, framework, master, implicitAcknowledgements=True,
                 credential=None):
        if not isinstance(framework, mesos_pb2.FrameworkInfo):
            raise TypeError('framework must be a mesos_pb2.FrameworkInfo')
        if credential is not None and not isinstance(credential, mesos_pb2.Credential):
            raise TypeError('credential must be a mesos_pb2.Credential')
        self.scheduler = scheduler
        self.framework = mesos_pb2.FrameworkInfo()
        self.framework.CopyFrom(framework)
        self.master = master
        self.implicitAcknowledgements = bool(implicitAcknowledgements)
        self.credential = credential
        self._init_driver()

    # ---- life cycle ---------------------------------------------------------------------

    def start(self):
        with self._cond:
            if self._status != mesos_pb2.DRIVER_NOT_STARTED:
                return self._status
            try:
                master = resolve_master(self.master)
                if not self.framework.user:
                    self.framework.user = current_user()
                if not self.framework.HasField('hostname'):
                    self.framework.hostname = socket.gethostname()
                principal = secret = None
                if self.credential is not None:
                    principal = self.credential.principal
                    secret = self.credential.secret
                conn = _cmesos.SchedulerConnection(master, self.framework.SerializeToString(),
                                                   self._on_library, principal, secret)
                self._status = mesos_pb2.DRIVER_RUNNING
                conn.start()
            except (MasterError, ValueError, RuntimeError, OSError) as e:
                # As Mesos reports a driver that cannot start: error(), then aborted.
                LOG.error('Cannot start the driver: %s', e)
                self._status = mesos_pb2.DRIVER_ABORTED
                self._cond.notify_all()
                message = str(e)
            else:
                self._conn = conn
                _live.add(self)
                return self._status
        invoke(self.scheduler, 'error', self, message)
        return mesos_pb2.DRIVER_ABORTED

    def stop(self, failover=False):
        with self._cond:
            if self._status not in (mesos_pb2.DRIVER_RUNNING, mesos_pb2.DRIVER_ABORTED):
                return self._status
            aborted = self._status == mesos_pb2.DRIVER_ABORTED
            if self._conn is not None and not aborted:
                if failover:
                    self._conn.stop()
                else:
                    self._conn.teardown()
            self._status = mesos_pb2.DRIVER_STOPPED
            self._cond.notify_all()
            return mesos_pb2.DRIVER_ABORTED if aborted else self._status

    # ---- calls --------------------------------------------------------------------------

    def _send(self, call):
        with self._cond:
            if self._status != mesos_pb2.DRIVER_RUNNING:
                return self._status
            if not self._connected:
                LOG.info('Ignoring %s: not connected to a master', Call.Type.Name(call.type))
                return self._status
            self._conn.call(call.SerializeToString())
            return self._status

    def requestResources(self, requests):
        call = Call(type=Call.REQUEST)
        call.request.SetInParent()  # present even when empty (the master requires it)
        call.request.requests.extend(requests)
        return self._send(call)

    def launchTasks(self, offerIds, tasks, filters=None):
        op = mesos_pb2.Offer.Operation(type=mesos_pb2.Offer.Operation.LAUNCH)
        op.launch.task_infos.extend(tasks)
        return self.acceptOffers(offerIds, [op], filters)

    def acceptOffers(self, offerIds, operations, filters=None):
        call = Call(type=Call.ACCEPT)
        call.accept.offer_ids.extend(_ids(offerIds, mesos_pb2.OfferID))
        call.accept.operations.extend(operations)
        if filters is not None:
            call.accept.filters.CopyFrom(filters)
        return self._send(call)

    def declineOffer(self, offerId, filters=None):
        call = Call(type=Call.DECLINE)
        call.decline.offer_ids.extend(_ids(offerId, mesos_pb2.OfferID))
        if filters is not None:
            call.decline.filters.CopyFrom(filters)
        return self._send(call)

    def killTask(self, taskId):
        call = Call(type=Call.KILL)
        call.kill.task_id.CopyFrom(taskId)
        return self._send(call)

    def reviveOffers(self, roles=None):
        call = Call(type=Call.REVIVE)
        call.revive.SetInParent()
        if roles:
            call.revive.roles.extend(roles)
        return self._send(call)

    def suppressOffers(self, roles=None):
        call = Call(type=Call.SUPPRESS)
        call.suppress.SetInParent()
        if roles:
            call.suppress.roles.extend(roles)
        return self._send(call)

    def acknowledgeStatusUpdate(self, status):
        if self.implicitAcknowledgements:
            # Mesos's driver fails a CHECK here; we refuse the call and say why instead.
            LOG.error('acknowledgeStatusUpdate: the driver acknowledges implicitly '
                      '(create it with implicitAcknowledgements=False)')
            with self._cond:
                return self._status
        return self._acknowledge(status)

    def _acknowledge(self, status):
        if not status.uuid or not status.HasField('slave_id'):
            with self._cond:  # nothing to acknowledge (a master-generated update)
                return self._status
        call = Call(type=Call.ACKNOWLEDGE)
        call.acknowledge.slave_id.CopyFrom(status.slave_id)
        call.acknowledge.task_id.CopyFrom(status.task_id)
        call.acknowledge.uuid = status.uuid
        return self._send(call)

    def sendFrameworkMessage(self, executorId, slaveId, data):
        call = Call(type=Call.MESSAGE)
        call.message.executor_id.CopyFrom(executorId)
        call.message.slave_id.CopyFrom(slaveId)
        call.message.data = data
        return self._send(call)

    def reconcileTasks(self, tasks):
        call = Call(type=Call.RECONCILE)
        call.reconcile.SetInParent()  # no tasks: implicit reconciliation, still a Reconcile
        for status in tasks:
            t = call.reconcile.tasks.add()
            t.task_id.CopyFrom(status.task_id)
            if status.HasField('slave_id'):
                t.slave_id.CopyFrom(status.slave_id)
        return self._send(call)

    def updateFramework(self, frameworkInfo, suppressedRoles=(), offerConstraints=None):
        info = mesos_pb2.FrameworkInfo()
        info.CopyFrom(frameworkInfo)
        with self._cond:
            if self.framework.HasField('id') and not info.HasField('id'):
                info.id.CopyFrom(self.framework.id)
        if not info.user:
            info.user = current_user()
        if not info.HasField('hostname'):
            info.hostname = socket.gethostname()
        call = Call(type=Call.UPDATE_FRAMEWORK)
        call.update_framework.framework_info.CopyFrom(info)
        call.update_framework.suppressed_roles.extend(suppressedRoles)
        if offerConstraints is not None:
            call.update_framework.offer_constraints.ParseFromString(
                offerConstraints.SerializeToString())
        status = self._send(call)
        with self._cond:
            self.framework.CopyFrom(info)
        return status

    # ---- events (on the driver's thread) ------------------------------------------------

    def _on_library(self, kind, payload):
        self._loop_ident = threading.get_ident()
        if kind == 'event':
            event = Event()
            try:
                event.ParseFromString(payload)
            except Exception as e:  # the C side packed it; this cannot happen short of a bug
                LOG.error('Cannot decode an event: %s', e)
                return
            self._on_event(event)
        elif kind == 'error':
            self._callback('error', payload)
            self.abort()
        elif kind == 'disconnected':
            reason, delay = payload
            with self._cond:
                was = self._connected
                self._connected = False
            LOG.info('Disconnected from the master (%s); retrying in %.1f s', reason, delay)
            if was:
                self._callback('disconnected')
        elif kind == 'call_failed':
            ctype, err, code, body = payload
            try:
                name = Call.Type.Name(ctype)
            except ValueError:
                name = str(ctype)
            LOG.warning('The master refused %s (err %d, HTTP %d): %s', name, err, code, body)
        elif kind == 'log':
            log_library_line(*payload)

    def _on_event(self, event):
        t = event.type
        if t == Event.SUBSCRIBED:
            sub = event.subscribed
            master = mesos_pb2.MasterInfo()
            if sub.HasField('master_info'):
                master.CopyFrom(sub.master_info)
            with self._cond:
                self.framework.id.CopyFrom(sub.framework_id)
                self._connected = True
                first = not self._registered
                self._registered = True
            if first:
                self._callback('registered', sub.framework_id, master)
            else:
                self._callback('reregistered', master)
        elif t == Event.OFFERS:
            self._callback('resourceOffers', list(event.offers.offers))
        elif t == Event.RESCIND:
            self._callback('offerRescinded', event.rescind.offer_id)
        elif t == Event.UPDATE:
            status = event.update.status
            ok = self._callback('statusUpdate', status)
            # Implicit acknowledgement once the callback returned (not if it raised or the
            # driver was stopped meanwhile), as Mesos's driver does.
            if ok and self.implicitAcknowledgements:
                self._acknowledge(status)
        elif t == Event.MESSAGE:
            m = event.message
            self._callback('frameworkMessage', m.executor_id, m.slave_id, m.data)
        elif t == Event.FAILURE:
            f = event.failure
            if f.HasField('executor_id'):
                self._callback('executorLost', f.executor_id, f.slave_id,
                               f.status if f.HasField('status') else -1)
            else:
                self._callback('slaveLost', f.slave_id)
        elif t == Event.ERROR:
            self._callback('error', event.error.message)
            self.abort()
        else:
            LOG.debug('Ignoring a %s event (no v0 callback)', Event.Type.Name(t))
