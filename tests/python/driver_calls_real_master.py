#!/usr/bin/env python3
"""Every MesosSchedulerDriver call against a real master (itest_python runs it): a command
task is launched, reconciled explicitly and implicitly, the offer calls (revive, suppress,
requestResources; offers after the first are declined) and updateFramework are made, the
task is killed and the framework torn down. The master must accept every call: a call it
answers with an error is logged by the driver at warning level, which fails this script.

usage: driver_calls_real_master.py <master>      exit status 0 on success
"""
import logging
import sys
import threading

import mesos.interface
import mesos.native
from mesos.interface import mesos_pb2

refused = []


class Watch(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.WARNING:
            refused.append(record.getMessage())


class Sched(mesos.interface.Scheduler):
    def __init__(self, framework):
        self.framework = framework
        self.launched = False
        self.reconciled = 0
        self.killed = False
        self.steps = []

    def registered(self, driver, frameworkId, masterInfo):
        self.steps.append('registered')

    def resourceOffers(self, driver, offers):
        for offer in offers:
            if self.launched:
                driver.declineOffer(offer.id, mesos_pb2.Filters(refuse_seconds=1))
                continue
            self.launched = True
            task = mesos_pb2.TaskInfo(name='sleeper')
            task.task_id.value = 'sleeper'
            task.slave_id.CopyFrom(offer.slave_id)
            task.command.value = 'sleep 60'
            for name, value in (('cpus', 0.1), ('mem', 32)):
                r = task.resources.add(name=name, type=mesos_pb2.Value.SCALAR)
                r.scalar.value = value
            driver.launchTasks([offer.id], [task], mesos_pb2.Filters(refuse_seconds=1))
            self.steps.append('launched')

    def statusUpdate(self, driver, status):
        state = mesos_pb2.TaskState.Name(status.state)
        reason = mesos_pb2.TaskStatus.Reason.Name(status.reason) if status.HasField('reason') else ''
        print('update %s %s %s' % (status.task_id.value, state, reason))
        if status.state == mesos_pb2.TASK_RUNNING and not status.HasField('reason') \
                and 'running' not in self.steps:
            self.steps.append('running')
            driver.reconcileTasks([status])  # explicit
            driver.reconcileTasks([])  # implicit
        elif status.reason == mesos_pb2.TaskStatus.REASON_RECONCILIATION:
            self.reconciled += 1
            if self.reconciled == 2:
                self.steps.append('reconciled')
                driver.requestResources([mesos_pb2.Request()])
                driver.suppressOffers()
                driver.reviveOffers()
                info = mesos_pb2.FrameworkInfo()
                info.CopyFrom(self.framework)
                info.name = self.framework.name + ' (updated)'
                driver.updateFramework(info, [])
                driver.killTask(status.task_id)
        elif status.state == mesos_pb2.TASK_KILLED:
            self.steps.append('killed')
            driver.stop()
        elif status.state in (mesos_pb2.TASK_FAILED, mesos_pb2.TASK_LOST, mesos_pb2.TASK_ERROR):
            print('unexpected %s: %s' % (state, status.message))
            driver.abort()

    def error(self, driver, message):
        print('error: %s' % message)


def main():
    logging.getLogger('mesos.native').addHandler(Watch())
    framework = mesos_pb2.FrameworkInfo(name='driver calls')
    sched = Sched(framework)
    driver = mesos.native.MesosSchedulerDriver(sched, framework, sys.argv[1])
    timer = threading.Timer(60, driver.abort)
    timer.daemon = True
    timer.start()
    status = driver.run()
    timer.cancel()
    print('steps: %s' % ' '.join(sched.steps))
    print('driver: %s' % mesos_pb2.Status.Name(status))
    for line in refused:
        print('refused: %s' % line)
    ok = (status == mesos_pb2.DRIVER_STOPPED and not refused and
          sched.steps == ['registered', 'launched', 'running', 'reconciled', 'killed'])
    print('OK' if ok else 'FAILED')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
