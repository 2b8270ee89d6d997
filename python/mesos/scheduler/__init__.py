"""mesos.scheduler: the scheduler driver (as in Mesos's bindings)."""
from mesos._internal.scheduler_driver import MesosSchedulerDriver

MesosSchedulerDriverImpl = MesosSchedulerDriver

__all__ = ['MesosSchedulerDriver', 'MesosSchedulerDriverImpl']
