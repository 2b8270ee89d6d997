"""mesos.native: the drivers, MesosSchedulerDriver and MesosExecutorDriver, as in Mesos's
bindings. On cmesos they speak Mesos's v1 HTTP APIs through libcmscheduler/libcmexecutor."""
from mesos.scheduler import MesosSchedulerDriver, MesosSchedulerDriverImpl
from mesos.executor import MesosExecutorDriver, MesosExecutorDriverImpl

__all__ = ['MesosSchedulerDriver', 'MesosSchedulerDriverImpl', 'MesosExecutorDriver',
           'MesosExecutorDriverImpl']
