"""mesos.native.MesosSchedulerDriver against a fake master (tests/python/fake_master.py): the
v0 driver API, its callbacks, acknowledgements, messages with NUL bytes, stop/abort/join and
the driver Status values, with the real C extension and libcmscheduler underneath."""
import base64
import os
import tempfile
import threading
import time
import unittest

from mesos.interface import mesos_pb2
import mesos.interface
from mesos.native import MesosSchedulerDriver
from mesos._internal import scheduler_pb2 as v1
from mesos._internal.common import current_user

from fake_master import FakeMaster, FRAMEWORK_ID

WAIT = 10.0


def framework(name='py-test'):
    fw = mesos_pb2.FrameworkInfo()
    fw.name = name  # user left empty: the driver fills it
    return fw


def offer_event(offer_id='o1', agent='agent-1'):
    ev = v1.Event(type=v1.Event.OFFERS)
    o = ev.offers.offers.add()
    o.id.value = offer_id
    o.framework_id.value = FRAMEWORK_ID
    o.slave_id.value = agent
    o.hostname = 'host1'
    r = o.resources.add()
    r.name = 'cpus'
    r.type = mesos_pb2.Value.SCALAR
    r.scalar.value = 2
    return ev


def update_event(task='t1', state=mesos_pb2.TASK_RUNNING, uuid=b'\x01' * 16, agent='agent-1'):
    ev = v1.Event(type=v1.Event.UPDATE)
    s = ev.update.status
    s.task_id.value = task
    s.state = state
    s.slave_id.value = agent
    if uuid:
        s.uuid = uuid
    return ev


class Recorder(mesos.interface.Scheduler):
    """Records every callback; the test waits on it."""

    def __init__(self):
        self.cond = threading.Condition()
        self.events = []

    def _add(self, *item):
        with self.cond:
            self.events.append(item)
            self.cond.notify_all()

    def wait(self, name, count=1, timeout=WAIT):
        end = time.time() + timeout
        with self.cond:
            while len(self.of(name)) < count:
                left = end - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.of(name)

    def of(self, name):
        return [e for e in self.events if e[0] == name]

    def registered(self, driver, frameworkId, masterInfo):
        self._add('registered', frameworkId.value, masterInfo.id)

    def reregistered(self, driver, masterInfo):
        self._add('reregistered', masterInfo.id)

    def disconnected(self, driver):
        self._add('disconnected')

    def resourceOffers(self, driver, offers):
        self._add('resourceOffers', offers)

    def offerRescinded(self, driver, offerId):
        self._add('offerRescinded', offerId.value)

    def statusUpdate(self, driver, status):
        self._add('statusUpdate', status)

    def frameworkMessage(self, driver, executorId, slaveId, message):
        self._add('frameworkMessage', executorId.value, slaveId.value, message)

    def slaveLost(self, driver, slaveId):
        self._add('slaveLost', slaveId.value)

    def executorLost(self, driver, executorId, slaveId, status):
        self._add('executorLost', executorId.value, slaveId.value, status)

    def error(self, driver, message):
        self._add('error', message)


class DriverTest(unittest.TestCase):
    def setUp(self):
        self.master = FakeMaster()
        self.drivers = []

    def tearDown(self):
        for d in self.drivers:
            d.abort()
        self.master.close()

    def driver(self, sched, master=None, **kw):
        d = MesosSchedulerDriver(sched, framework(),
                                 self.master.address if master is None else master, **kw)
        self.drivers.append(d)
        return d

    def test_status_values_before_start(self):
        d = self.driver(Recorder())
        self.assertEqual(d.join(), mesos_pb2.DRIVER_NOT_STARTED)
        self.assertEqual(d.killTask(mesos_pb2.TaskID(value='x')), mesos_pb2.DRIVER_NOT_STARTED)
        self.assertEqual(d.stop(), mesos_pb2.DRIVER_NOT_STARTED)
        self.assertEqual(d.abort(), mesos_pb2.DRIVER_NOT_STARTED)
        self.assertEqual(mesos_pb2.Status.Name(mesos_pb2.DRIVER_RUNNING), 'DRIVER_RUNNING')

    def test_tasks_messages_implicit_acks_and_teardown(self):
        sched = Recorder()
        d = self.driver(sched)
        self.assertEqual(d.start(), mesos_pb2.DRIVER_RUNNING)
        self.assertEqual(d.start(), mesos_pb2.DRIVER_RUNNING)  # a second start is a no-op
        reg = sched.wait('registered')
        self.assertEqual(reg[0][1:], (FRAMEWORK_ID, 'master-1'))
        sub = self.master.subscribes[0].subscribe.framework_info
        self.assertEqual(sub.user, current_user())
        self.assertEqual(sub.name, 'py-test')
        self.assertTrue(sub.hostname)

        self.master.send(offer_event())
        offers = sched.wait('resourceOffers')[0][1]
        self.assertEqual(offers[0].slave_id.value, 'agent-1')
        self.assertEqual(offers[0].resources[0].scalar.value, 2)
        task = mesos_pb2.TaskInfo(name='t1')
        task.task_id.value = 't1'
        task.slave_id.CopyFrom(offers[0].slave_id)
        task.command.value = 'true'
        filters = mesos_pb2.Filters(refuse_seconds=7)
        self.assertEqual(d.launchTasks(offers[0].id, [task], filters), mesos_pb2.DRIVER_RUNNING)
        accept = self.master.wait_call(v1.Call.ACCEPT)[0]
        self.assertEqual(accept.framework_id.value, FRAMEWORK_ID)
        self.assertEqual([o.value for o in accept.accept.offer_ids], ['o1'])
        op = accept.accept.operations[0]
        self.assertEqual(op.type, mesos_pb2.Offer.Operation.LAUNCH)
        self.assertEqual(op.launch.task_infos[0].slave_id.value, 'agent-1')
        self.assertEqual(accept.accept.filters.refuse_seconds, 7)

        self.master.send(update_event())
        st = sched.wait('statusUpdate')[0][1]
        self.assertEqual(mesos_pb2.TaskState.Name(st.state), 'TASK_RUNNING')
        ack = self.master.wait_call(v1.Call.ACKNOWLEDGE)[0].acknowledge
        self.assertEqual((ack.slave_id.value, ack.task_id.value, ack.uuid),
                         ('agent-1', 't1', b'\x01' * 16))
        # An update without a uuid (from the master) is not acknowledged.
        self.master.send(update_event(task='t2', state=mesos_pb2.TASK_LOST, uuid=None))
        sched.wait('statusUpdate', 2)

        data = b'ping\x00pong\xff'
        d.sendFrameworkMessage(mesos_pb2.ExecutorID(value='e1'), mesos_pb2.SlaveID(value='agent-1'),
                               data)
        msg = self.master.wait_call(v1.Call.MESSAGE)[0].message
        self.assertEqual((msg.executor_id.value, msg.slave_id.value, msg.data),
                         ('e1', 'agent-1', data))
        ev = v1.Event(type=v1.Event.MESSAGE)
        ev.message.slave_id.value = 'agent-1'
        ev.message.executor_id.value = 'e1'
        ev.message.data = b'\x00back\x00'
        self.master.send(ev)
        self.assertEqual(sched.wait('frameworkMessage')[0][1:], ('e1', 'agent-1', b'\x00back\x00'))

        d.declineOffer(mesos_pb2.OfferID(value='o2'), mesos_pb2.Filters(refuse_seconds=3))
        d.killTask(mesos_pb2.TaskID(value='t1'))
        d.reviveOffers()
        d.suppressOffers(['r1'])
        d.reconcileTasks([])
        st = mesos_pb2.TaskStatus(state=mesos_pb2.TASK_RUNNING)
        st.task_id.value = 't1'
        st.slave_id.value = 'agent-1'
        d.reconcileTasks([st])
        req = mesos_pb2.Request()
        req.slave_id.value = 'agent-1'
        d.requestResources([req])
        self.assertEqual(self.master.wait_call(v1.Call.DECLINE)[0].decline.filters.refuse_seconds, 3)
        self.assertEqual(self.master.wait_call(v1.Call.KILL)[0].kill.task_id.value, 't1')
        self.assertTrue(self.master.wait_call(v1.Call.REVIVE)[0].HasField('revive'))
        self.assertEqual(list(self.master.wait_call(v1.Call.SUPPRESS)[0].suppress.roles), ['r1'])
        # Calls are separate POSTs that may overtake each other: order them here.
        rec = sorted(self.master.wait_call(v1.Call.RECONCILE, 2),
                     key=lambda c: len(c.reconcile.tasks))
        self.assertTrue(rec[0].HasField('reconcile'))  # the master requires the body
        self.assertEqual(len(rec[0].reconcile.tasks), 0)
        self.assertEqual(rec[1].reconcile.tasks[0].slave_id.value, 'agent-1')
        self.assertEqual(
            self.master.wait_call(v1.Call.REQUEST)[0].request.requests[0].slave_id.value,
            'agent-1')
        # Only the update with a uuid was acknowledged.
        self.assertEqual(len(self.master.calls_of(v1.Call.ACKNOWLEDGE)), 1)

        info = framework()
        info.roles.append('r2')
        d.updateFramework(info, ['r2'])
        upd = self.master.wait_call(v1.Call.UPDATE_FRAMEWORK)[0].update_framework
        self.assertEqual(upd.framework_info.id.value, FRAMEWORK_ID)
        self.assertEqual(upd.framework_info.user, current_user())
        self.assertEqual(list(upd.suppressed_roles), ['r2'])

        self.master.send(v1.Event(type=v1.Event.RESCIND, rescind={'offer_id': {'value': 'o1'}}))
        self.assertEqual(sched.wait('offerRescinded')[0][1], 'o1')
        ev = v1.Event(type=v1.Event.FAILURE)
        ev.failure.slave_id.value = 'agent-9'
        self.master.send(ev)
        ev = v1.Event(type=v1.Event.FAILURE)
        ev.failure.slave_id.value = 'agent-1'
        ev.failure.executor_id.value = 'e1'
        ev.failure.status = 9
        self.master.send(ev)
        self.assertEqual(sched.wait('slaveLost')[0][1], 'agent-9')
        self.assertEqual(sched.wait('executorLost')[0][1:], ('e1', 'agent-1', 9))

        self.assertEqual(d.stop(), mesos_pb2.DRIVER_STOPPED)
        self.assertEqual(d.join(), mesos_pb2.DRIVER_STOPPED)
        self.assertTrue(self.master.wait_call(v1.Call.TEARDOWN))
        self.assertEqual(d.killTask(mesos_pb2.TaskID(value='t1')), mesos_pb2.DRIVER_STOPPED)

    def test_plain_object_scheduler_and_failover_stop(self):
        class Bare(object):
            pass

        d = self.driver(Bare())
        self.assertEqual(d.start(), mesos_pb2.DRIVER_RUNNING)
        self.assertTrue(self.master.wait(lambda: len(self.master.streams) == 1))
        self.master.send(offer_event())
        self.master.send(update_event())
        self.master.send(v1.Event(type=v1.Event.MESSAGE,
                                  message={'slave_id': {'value': 'a'},
                                           'executor_id': {'value': 'e'}, 'data': b'x'}))
        # Still acknowledged implicitly with no statusUpdate defined.
        self.assertTrue(self.master.wait_call(v1.Call.ACKNOWLEDGE))
        self.assertEqual(d.stop(failover=True), mesos_pb2.DRIVER_STOPPED)
        self.assertEqual(d.join(), mesos_pb2.DRIVER_STOPPED)
        time.sleep(0.2)
        self.assertEqual(self.master.calls_of(v1.Call.TEARDOWN), [])

    def test_explicit_acknowledgements(self):
        sched = Recorder()
        d = self.driver(sched, implicitAcknowledgements=False)
        d.start()
        sched.wait('registered')
        self.master.send(update_event(uuid=b'\x02' * 16))
        st = sched.wait('statusUpdate')[0][1]
        time.sleep(0.3)
        self.assertEqual(self.master.calls_of(v1.Call.ACKNOWLEDGE), [])
        self.assertEqual(d.acknowledgeStatusUpdate(st), mesos_pb2.DRIVER_RUNNING)
        ack = self.master.wait_call(v1.Call.ACKNOWLEDGE)[0].acknowledge
        self.assertEqual(ack.uuid, b'\x02' * 16)

    def test_acknowledge_refused_with_implicit_acks(self):
        sched = Recorder()
        d = self.driver(sched)
        d.start()
        sched.wait('registered')
        st = mesos_pb2.TaskStatus(state=mesos_pb2.TASK_RUNNING, uuid=b'\x03' * 16)
        st.task_id.value = 't'
        st.slave_id.value = 'a'
        self.assertEqual(d.acknowledgeStatusUpdate(st), mesos_pb2.DRIVER_RUNNING)
        time.sleep(0.3)
        self.assertEqual(self.master.calls_of(v1.Call.ACKNOWLEDGE), [])

    def test_callback_exception_aborts(self):
        class Bad(Recorder):
            def resourceOffers(self, driver, offers):
                raise RuntimeError('boom')

        sched = Bad()
        d = self.driver(sched)
        d.start()
        sched.wait('registered')
        self.master.send(offer_event())
        self.assertEqual(d.join(), mesos_pb2.DRIVER_ABORTED)
        self.assertEqual(d.stop(), mesos_pb2.DRIVER_ABORTED)

    def test_error_event_aborts(self):
        sched = Recorder()
        d = self.driver(sched)
        d.start()
        sched.wait('registered')
        self.master.send(v1.Event(type=v1.Event.ERROR, error={'message': 'Framework removed'}))
        self.assertEqual(d.join(), mesos_pb2.DRIVER_ABORTED)
        self.assertEqual(sched.wait('error')[0][1], 'Framework removed')

    def test_refused_subscription_is_an_error(self):
        class Refusing(FakeMaster):
            def _stream(self, h, call):
                h.send_response(400)
                body = b'framework_info.name: must be set'
                h.send_header('Content-Length', str(len(body)))
                h.end_headers()
                h.wfile.write(body)

        self.master.close()
        self.master = Refusing()
        sched = Recorder()
        d = self.driver(sched)
        d.start()
        self.assertEqual(d.join(), mesos_pb2.DRIVER_ABORTED)
        self.assertIn('must be set', sched.wait('error')[0][1])

    def test_disconnect_and_reregister(self):
        sched = Recorder()
        d = self.driver(sched)
        d.start()
        sched.wait('registered')
        self.master.drop_stream()
        self.assertTrue(sched.wait('disconnected'))
        # Calls while disconnected are dropped, as Mesos's driver drops them.
        self.assertEqual(d.killTask(mesos_pb2.TaskID(value='t')), mesos_pb2.DRIVER_RUNNING)
        self.assertTrue(sched.wait('reregistered', timeout=20))
        again = self.master.subscribes[-1].subscribe.framework_info
        self.assertEqual(again.id.value, FRAMEWORK_ID)
        self.assertEqual(len(sched.of('registered')), 1)

    def test_file_master_and_bad_masters(self):
        with tempfile.NamedTemporaryFile('w', suffix='.master', delete=False) as f:
            f.write('\n%s\n' % self.master.address)
        try:
            sched = Recorder()
            d = self.driver(sched, master='file://' + f.name)
            self.assertEqual(d.start(), mesos_pb2.DRIVER_RUNNING)
            self.assertTrue(sched.wait('registered'))
        finally:
            os.unlink(f.name)
        for bad in ['file:///nonexistent/master', '', 'zk://', 'host:port:x y']:
            sched = Recorder()
            d = self.driver(sched, master=bad)
            self.assertEqual(d.start(), mesos_pb2.DRIVER_ABORTED, bad)
            self.assertTrue(sched.of('error'), bad)
            self.assertEqual(d.join(), mesos_pb2.DRIVER_ABORTED)

    def test_calls_from_many_threads(self):
        sched = Recorder()
        d = self.driver(sched)
        d.start()
        sched.wait('registered')

        # (The fake master is slow per call; the real one is exercised by itest_python.)
        def kill_many(t):
            for i in range(10):
                d.killTask(mesos_pb2.TaskID(value='t%d-%d' % (t, i)))

        threads = [threading.Thread(target=kill_many, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        kills = self.master.wait_call(v1.Call.KILL, 40, timeout=30)
        self.assertIsNotNone(kills)
        self.assertEqual(sorted(k.kill.task_id.value for k in kills),
                         sorted('t%d-%d' % (t, i) for t in range(4) for i in range(10)))

    def test_teardown_waits_for_earlier_calls(self):
        # Calls are separate POSTs; the TEARDOWN of stop() must not overtake the calls made
        # before it (the master would remove the framework before applying them).
        sched = Recorder()
        d = self.driver(sched)
        d.start()
        sched.wait('registered')
        self.master.delay[v1.Call.KILL] = 0.5
        d.killTask(mesos_pb2.TaskID(value='t'))
        self.assertEqual(d.stop(), mesos_pb2.DRIVER_STOPPED)
        self.assertEqual(d.join(), mesos_pb2.DRIVER_STOPPED)  # waits for TEARDOWN to be sent
        t = self.master.timeline
        self.assertIn(('arrived', v1.Call.TEARDOWN), t)
        self.assertLess(t.index(('answered', v1.Call.KILL)), t.index(('arrived', v1.Call.TEARDOWN)))

    def test_credential_is_http_basic(self):
        sched = Recorder()
        cred = mesos_pb2.Credential(principal='fw-principal', secret='fw-secret')
        d = self.driver(sched, credential=cred)
        d.start()
        sched.wait('registered')
        d.killTask(mesos_pb2.TaskID(value='t'))
        self.assertTrue(self.master.wait_call(v1.Call.KILL))
        want = 'Basic ' + base64.b64encode(b'fw-principal:fw-secret').decode()
        self.assertEqual(set(self.master.authorizations), {want})

    def test_type_errors(self):
        with self.assertRaises(TypeError):
            MesosSchedulerDriver(Recorder(), 'not a FrameworkInfo', self.master.address)


if __name__ == '__main__':
    unittest.main()
