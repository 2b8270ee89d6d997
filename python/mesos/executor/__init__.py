"""mesos.executor: the executor driver (as in Mesos's bindings)."""
from mesos._internal.executor_driver import MesosExecutorDriver

MesosExecutorDriverImpl = MesosExecutorDriver

__all__ = ['MesosExecutorDriver', 'MesosExecutorDriverImpl']
