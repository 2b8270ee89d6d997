"""A fake agent for the Python executor driver tests: the v1 executor API (POST
/api/v1/executor, protobuf, RecordIO stream) on top of fake_master's server, and the
environment an agent gives an executor (protocol doc §4.5)."""
from mesos._internal import executor_pb2 as v1e

from fake_master import FakeMaster, FRAMEWORK_ID


class FakeAgent(FakeMaster):
    Call = v1e.Call

    def subscribed_event(self):
        ev = v1e.Event(type=v1e.Event.SUBSCRIBED)
        s = ev.subscribed
        s.executor_info.executor_id.value = 'exec-1'
        s.executor_info.framework_id.value = FRAMEWORK_ID
        s.executor_info.command.value = 'python3 test_executor.py'
        s.framework_info.name = 'py-test'
        s.framework_info.user = 'nobody'
        s.framework_info.id.value = FRAMEWORK_ID
        s.slave_info.hostname = 'agent-host'
        s.slave_info.id.value = 'agent-1'
        s.container_id.value = 'c-1'
        return ev

    def heartbeat_event(self):
        return v1e.Event(type=v1e.Event.HEARTBEAT)

    def environment(self, sandbox):
        return {
            'MESOS_FRAMEWORK_ID': FRAMEWORK_ID,
            'MESOS_EXECUTOR_ID': 'exec-1',
            'MESOS_SLAVE_ID': 'agent-1',
            'MESOS_AGENT_ENDPOINT': self.address,
            'MESOS_DIRECTORY': sandbox,
            'MESOS_SANDBOX': sandbox,
            'MESOS_CHECKPOINT': '0',
        }
