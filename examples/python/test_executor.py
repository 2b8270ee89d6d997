#!/usr/bin/env python3
"""A custom executor written against Mesos's Python bindings (in the style of Mesos's
src/examples/python/test_executor.py), launched by test_framework.py: each task is reported
TASK_RUNNING then TASK_FINISHED (with data), and every framework message is echoed back to the
scheduler. The agent gives it its identity through the environment (MESOS_*)."""
import sys
import threading
import time

import mesos.interface
import mesos.native
from mesos.interface import mesos_pb2


class TestExecutor(mesos.interface.Executor):
    def registered(self, driver, executorInfo, frameworkInfo, slaveInfo):
        print('Registered executor %s on %s' % (executorInfo.executor_id.value,
                                                slaveInfo.hostname))
        sys.stdout.flush()

    def reregistered(self, driver, slaveInfo):
        print('Re-registered on %s' % slaveInfo.hostname)

    def disconnected(self, driver):
        print('Disconnected from the agent')

    def launchTask(self, driver, task):
        # Run the task in its own thread, as a real executor would.
        def run_task():
            print('Running task %s' % task.task_id.value)
            update = mesos_pb2.TaskStatus()
            update.task_id.value = task.task_id.value
            update.state = mesos_pb2.TASK_RUNNING
            update.data = b'data with a \0 byte'
            driver.sendStatusUpdate(update)

            time.sleep(0.1)  # the "work"

            print('Sending status update for task %s' % task.task_id.value)
            update = mesos_pb2.TaskStatus()
            update.task_id.value = task.task_id.value
            update.state = mesos_pb2.TASK_FINISHED
            update.data = b'result of task ' + task.task_id.value.encode()
            driver.sendStatusUpdate(update)
            sys.stdout.flush()

        threading.Thread(target=run_task).start()

    def killTask(self, driver, taskId):
        update = mesos_pb2.TaskStatus()
        update.task_id.CopyFrom(taskId)
        update.state = mesos_pb2.TASK_KILLED
        driver.sendStatusUpdate(update)

    def frameworkMessage(self, driver, message):
        # Send it back to the scheduler.
        driver.sendFrameworkMessage(message)

    def shutdown(self, driver):
        print('Shutting down')
        sys.stdout.flush()

    def error(self, driver, message):
        print('Error: %s' % message)


if __name__ == '__main__':
    print('Starting executor')
    driver = mesos.native.MesosExecutorDriver(TestExecutor())
    sys.exit(0 if driver.run() == mesos_pb2.DRIVER_STOPPED else 1)
