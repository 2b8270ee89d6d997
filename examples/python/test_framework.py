#!/usr/bin/env python3
"""A Mesos framework written against Mesos's Python bindings (in the style of Mesos's
src/examples/python/test_framework.py): it launches TOTAL_TASKS tasks on a custom executor
written in Python (test_executor.py), sends each executor a framework message with a NUL byte
when its task finishes, and expects the executor to echo it back. It stops once every task
finished and every echo arrived.

usage: test_framework.py <master>     (host:port, zk://host:port/path or file:///path)

Environment: MESOS_EXPLICIT_ACKNOWLEDGEMENTS=1 acknowledges status updates explicitly instead
of letting the driver do it. Exit status: 0 success, 1 failure, 3 the master refused the
custom executor (a cluster without custom executor support).

Nothing here is specific to cmesos: with PYTHONPATH pointing at its `mesos` package, the same
file runs unchanged against the drivers of Mesos's own bindings.
"""
import os
import sys

import mesos
import mesos.interface
import mesos.native
from mesos.interface import mesos_pb2

TOTAL_TASKS = 5
TASK_CPUS = 0.1
TASK_MEM = 32
EXECUTOR_CPUS = 0.1
EXECUTOR_MEM = 32
MESSAGE = b'data with a \0 byte'


def scalar(resources, name):
    return sum(r.scalar.value for r in resources if r.name == name)


class TestScheduler(mesos.interface.Scheduler):
    def __init__(self, implicit_acks, executor):
        self.implicit_acks = implicit_acks
        self.executor = executor
        self.tasks_launched = 0
        self.tasks_finished = 0
        self.messages_sent = 0
        self.messages_received = 0
        self.failed = False
        self.unsupported = False

    def registered(self, driver, frameworkId, masterInfo):
        print('Registered with framework ID %s' % frameworkId.value)

    def reregistered(self, driver, masterInfo):
        print('Re-registered with master %s' % masterInfo.id)

    def disconnected(self, driver):
        print('Disconnected from the master')

    def resourceOffers(self, driver, offers):
        for offer in offers:
            cpus = scalar(offer.resources, 'cpus')
            mem = scalar(offer.resources, 'mem')
            if self.executor.executor_id.value not in [e.value for e in offer.executor_ids]:
                cpus -= EXECUTOR_CPUS  # the executor's own resources, once per agent
                mem -= EXECUTOR_MEM
            tasks = []
            while (self.tasks_launched < TOTAL_TASKS and cpus >= TASK_CPUS - 1e-9
                   and mem >= TASK_MEM):
                tid = self.tasks_launched
                self.tasks_launched += 1
                print('Launching task %d using offer %s' % (tid, offer.id.value))
                task = mesos_pb2.TaskInfo()
                task.task_id.value = str(tid)
                task.slave_id.value = offer.slave_id.value
                task.name = 'task %d' % tid
                task.executor.MergeFrom(self.executor)
                for name, value in (('cpus', TASK_CPUS), ('mem', TASK_MEM)):
                    r = task.resources.add()
                    r.name = name
                    r.type = mesos_pb2.Value.SCALAR
                    r.scalar.value = value
                tasks.append(task)
                cpus -= TASK_CPUS
                mem -= TASK_MEM
            if tasks:
                driver.launchTasks(offer.id, tasks)
            else:
                driver.declineOffer(offer.id)

    def statusUpdate(self, driver, update):
        print('Task %s is in state %s%s' % (
            update.task_id.value, mesos_pb2.TaskState.Name(update.state),
            (': ' + update.message) if update.message else ''))
        if update.state == mesos_pb2.TASK_FINISHED:
            self.tasks_finished += 1
            if update.data != b'result of task ' + update.task_id.value.encode():
                print('Unexpected data in the update: %r' % update.data)
                self.failed = True
            driver.sendFrameworkMessage(self.executor.executor_id, update.slave_id, MESSAGE)
            self.messages_sent += 1
        elif update.state in (mesos_pb2.TASK_LOST, mesos_pb2.TASK_KILLED,
                              mesos_pb2.TASK_FAILED, mesos_pb2.TASK_ERROR,
                              mesos_pb2.TASK_DROPPED, mesos_pb2.TASK_GONE):
            print('Aborting because task %s is in unexpected state %s with reason %s: %s' % (
                update.task_id.value, mesos_pb2.TaskState.Name(update.state),
                mesos_pb2.TaskStatus.Reason.Name(update.reason), update.message))
            if update.state == mesos_pb2.TASK_ERROR and 'not supported' in update.message:
                self.unsupported = True
            self.failed = True
            driver.abort()
        if not self.implicit_acks:
            driver.acknowledgeStatusUpdate(update)
        self.maybe_done(driver)

    def frameworkMessage(self, driver, executorId, slaveId, message):
        self.messages_received += 1
        if message != MESSAGE:
            print('Unexpected framework message %r' % message)
            self.failed = True
            driver.abort()
            return
        print('Received message %d: %r' % (self.messages_received, message))
        self.maybe_done(driver)

    def maybe_done(self, driver):
        if self.tasks_finished == TOTAL_TASKS and self.messages_received == TOTAL_TASKS:
            print('All tasks done, and all messages received, exiting')
            driver.stop()

    def executorLost(self, driver, executorId, slaveId, status):
        print('Executor %s on %s exited with %d' % (executorId.value, slaveId.value, status))

    def slaveLost(self, driver, slaveId):
        print('Agent %s lost' % slaveId.value)

    def error(self, driver, message):
        print('Error from the driver: %s' % message)
        self.failed = True


def main():
    if len(sys.argv) != 2:
        print('usage: %s <master>' % sys.argv[0])
        return 1
    here = os.path.dirname(os.path.abspath(__file__))

    executor = mesos_pb2.ExecutorInfo()
    executor.executor_id.value = 'default'
    executor.name = 'Test Executor (Python)'
    executor.source = 'python_test'
    executor.command.value = '"%s" "%s"' % (sys.executable, os.path.join(here, 'test_executor.py'))
    # The executor imports the same mesos package as this framework.
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(mesos.__file__)))
    var = executor.command.environment.variables.add()
    var.name = 'PYTHONPATH'
    var.value = pkg
    # Run the executor the way this framework runs (e.g. a sanitizer build's preloaded runtime).
    for name in ('LD_PRELOAD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS'):
        if os.environ.get(name):
            var = executor.command.environment.variables.add()
            var.name = name
            var.value = os.environ[name]
    for name, value in (('cpus', EXECUTOR_CPUS), ('mem', EXECUTOR_MEM)):
        r = executor.resources.add()
        r.name = name
        r.type = mesos_pb2.Value.SCALAR
        r.scalar.value = value

    framework = mesos_pb2.FrameworkInfo()
    framework.user = ''  # the driver fills in the current user
    framework.name = 'Test Framework (Python)'
    framework.checkpoint = True

    implicit = os.environ.get('MESOS_EXPLICIT_ACKNOWLEDGEMENTS', '') not in ('1', 'true')
    print('Enabling %s status update acknowledgements' % ('implicit' if implicit else 'explicit'))
    scheduler = TestScheduler(implicit, executor)
    driver = mesos.native.MesosSchedulerDriver(scheduler, framework, sys.argv[1], implicit)
    status = driver.run()
    ok = status == mesos_pb2.DRIVER_STOPPED and not scheduler.failed
    print('Driver ended with %s' % mesos_pb2.Status.Name(status))
    # Make sure the framework is removed (a no-op once stopped).
    driver.stop()
    if scheduler.unsupported:
        return 3
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
