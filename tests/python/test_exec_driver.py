"""mesos.native.MesosExecutorDriver against a fake agent (tests/python/fake_agent.py): the v0
executor API and callbacks over the real C extension and libcmexecutor."""
import os
import tempfile
import time
import unittest

from mesos.interface import mesos_pb2
import mesos.interface
from mesos.native import MesosExecutorDriver
from mesos._internal import executor_pb2 as v1e

from fake_agent import FakeAgent, FRAMEWORK_ID
from test_sched_driver import Recorder, WAIT

ENV_KEYS = ['MESOS_FRAMEWORK_ID', 'MESOS_EXECUTOR_ID', 'MESOS_SLAVE_ID', 'MESOS_AGENT_ENDPOINT',
            'MESOS_DIRECTORY', 'MESOS_SANDBOX', 'MESOS_CHECKPOINT', 'MESOS_RECOVERY_TIMEOUT',
            'MESOS_SUBSCRIPTION_BACKOFF_MAX']


class ExecRecorder(Recorder, mesos.interface.Executor):
    def registered(self, driver, executorInfo, frameworkInfo, slaveInfo):
        self._add('registered', executorInfo.executor_id.value, frameworkInfo.name,
                  slaveInfo.hostname, slaveInfo.id.value)

    def reregistered(self, driver, slaveInfo):
        self._add('reregistered', slaveInfo.hostname)

    def launchTask(self, driver, task):
        self._add('launchTask', task)

    def killTask(self, driver, taskId):
        self._add('killTask', taskId.value)

    def frameworkMessage(self, driver, message):
        self._add('frameworkMessage', message)

    def shutdown(self, driver):
        self._add('shutdown')


def launch_event(task_id='t1'):
    ev = v1e.Event(type=v1e.Event.LAUNCH)
    t = ev.launch.task
    t.name = task_id
    t.task_id.value = task_id
    t.slave_id.value = 'agent-1'
    t.executor.executor_id.value = 'exec-1'
    t.executor.command.value = 'x'
    return ev


class ExecDriverTest(unittest.TestCase):
    def setUp(self):
        self.agent = FakeAgent()
        self.sandbox = tempfile.mkdtemp(prefix='pyexec-')
        self.saved = {k: os.environ.get(k) for k in ENV_KEYS}
        os.environ.update(self.agent.environment(self.sandbox))
        self.drivers = []

    def tearDown(self):
        for d in self.drivers:
            d.abort()
            d.join()
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self.agent.close()
        os.rmdir(self.sandbox)

    def driver(self, executor):
        d = MesosExecutorDriver(executor)
        self.drivers.append(d)
        return d

    def status(self, task_id, state):
        st = mesos_pb2.TaskStatus(state=state)
        st.task_id.value = task_id
        return st

    def test_launch_update_messages_kill_shutdown(self):
        ex = ExecRecorder()
        d = self.driver(ex)
        self.assertEqual(d.start(), mesos_pb2.DRIVER_RUNNING)
        reg = ex.wait('registered')
        self.assertEqual(reg[0][1:], ('exec-1', 'py-test', 'agent-host', 'agent-1'))
        sub = self.agent.subscribes[0]
        self.assertEqual((sub.framework_id.value, sub.executor_id.value), (FRAMEWORK_ID, 'exec-1'))

        self.agent.send(launch_event())
        task = ex.wait('launchTask')[0][1]
        self.assertEqual((task.task_id.value, task.slave_id.value), ('t1', 'agent-1'))
        st = self.status('t1', mesos_pb2.TASK_RUNNING)
        st.data = b'\x00data'
        self.assertEqual(d.sendStatusUpdate(st), mesos_pb2.DRIVER_RUNNING)
        upd = self.agent.wait_call(v1e.Call.UPDATE)[0].update.status
        self.assertEqual((upd.task_id.value, upd.state, upd.data), ('t1', mesos_pb2.TASK_RUNNING,
                                                                   b'\x00data'))
        self.assertEqual(upd.executor_id.value, 'exec-1')
        self.assertEqual(len(upd.uuid), 16)
        self.assertEqual(upd.source, mesos_pb2.TaskStatus.SOURCE_EXECUTOR)
        ack = v1e.Event(type=v1e.Event.ACKNOWLEDGED)
        ack.acknowledged.task_id.value = 't1'
        ack.acknowledged.uuid = upd.uuid
        self.agent.send(ack)

        d.sendFrameworkMessage(b'to\x00scheduler')
        self.assertEqual(self.agent.wait_call(v1e.Call.MESSAGE)[0].message.data,
                         b'to\x00scheduler')
        msg = v1e.Event(type=v1e.Event.MESSAGE)
        msg.message.data = b'\x00from scheduler\x00'
        self.agent.send(msg)
        self.assertEqual(ex.wait('frameworkMessage')[0][1], b'\x00from scheduler\x00')

        kill = v1e.Event(type=v1e.Event.KILL)
        kill.kill.task_id.value = 't1'
        self.agent.send(kill)
        self.assertEqual(ex.wait('killTask')[0][1], 't1')
        d.sendStatusUpdate(self.status('t1', mesos_pb2.TASK_KILLED))
        self.assertTrue(self.agent.wait_call(v1e.Call.UPDATE, 2))

        self.agent.send(v1e.Event(type=v1e.Event.SHUTDOWN))
        self.assertTrue(ex.wait('shutdown'))
        self.assertEqual(d.join(), mesos_pb2.DRIVER_ABORTED)

    def test_staging_update_is_an_error(self):
        ex = ExecRecorder()
        d = self.driver(ex)
        d.start()
        ex.wait('registered')
        self.assertEqual(d.sendStatusUpdate(self.status('t1', mesos_pb2.TASK_STAGING)),
                         mesos_pb2.DRIVER_ABORTED)
        self.assertTrue(ex.of('error'))
        self.assertEqual(d.join(), mesos_pb2.DRIVER_ABORTED)

    def test_stop_and_plain_object(self):
        class Bare(object):
            pass

        d = self.driver(Bare())
        self.assertEqual(d.start(), mesos_pb2.DRIVER_RUNNING)
        self.assertTrue(self.agent.wait(lambda: len(self.agent.streams) == 1))
        self.agent.send(launch_event())
        msg = v1e.Event(type=v1e.Event.MESSAGE)
        msg.message.data = b'x'
        self.agent.send(msg)
        d.sendStatusUpdate(self.status('t1', mesos_pb2.TASK_FINISHED))
        self.assertTrue(self.agent.wait_call(v1e.Call.UPDATE))
        self.assertEqual(d.stop(), mesos_pb2.DRIVER_STOPPED)
        self.assertEqual(d.join(), mesos_pb2.DRIVER_STOPPED)
        self.assertEqual(d.sendFrameworkMessage(b'late'), mesos_pb2.DRIVER_STOPPED)

    def test_agent_restart_with_checkpointing_reregisters(self):
        os.environ['MESOS_CHECKPOINT'] = '1'
        os.environ['MESOS_RECOVERY_TIMEOUT'] = '20secs'
        os.environ['MESOS_SUBSCRIPTION_BACKOFF_MAX'] = '200ms'
        ex = ExecRecorder()
        d = self.driver(ex)
        d.start()
        ex.wait('registered')
        self.agent.send(launch_event())
        ex.wait('launchTask')
        d.sendStatusUpdate(self.status('t1', mesos_pb2.TASK_RUNNING))
        self.assertTrue(self.agent.wait_call(v1e.Call.UPDATE))
        self.agent.drop_stream()  # the agent "restarts"
        self.assertTrue(ex.wait('disconnected'))
        self.assertTrue(ex.wait('reregistered', timeout=20))
        # The re-subscription carries the unacknowledged update and task.
        again = self.agent.subscribes[-1].subscribe
        self.assertEqual([u.status.task_id.value for u in again.unacknowledged_updates], ['t1'])
        self.assertEqual([t.task_id.value for t in again.unacknowledged_tasks], ['t1'])
        self.assertEqual(len(ex.of('registered')), 1)
        self.assertEqual(d.stop(), mesos_pb2.DRIVER_STOPPED)

    def test_agent_gone_without_checkpointing_shuts_down(self):
        ex = ExecRecorder()
        d = self.driver(ex)
        d.start()
        ex.wait('registered')
        self.agent.drop_stream()
        self.assertTrue(ex.wait('shutdown'))
        self.assertEqual(d.join(), mesos_pb2.DRIVER_ABORTED)

    def test_missing_environment(self):
        os.environ.pop('MESOS_EXECUTOR_ID')
        ex = ExecRecorder()
        d = self.driver(ex)
        self.assertEqual(d.start(), mesos_pb2.DRIVER_ABORTED)
        self.assertIn('MESOS_EXECUTOR_ID', ex.of('error')[0][1])
        self.assertEqual(d.join(), mesos_pb2.DRIVER_ABORTED)


if __name__ == '__main__':
    unittest.main()
