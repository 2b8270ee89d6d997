"""Mesos's Python interface: the classes a framework implements (Scheduler, Executor) and the
driver interfaces it is handed (SchedulerDriver, ExecutorDriver), as in Mesos's bindings.

Every callback is optional: the drivers skip one a class does not define, so a plain `object`
subclass works. Callbacks run on the driver's thread, one at a time; the protobuf messages
come from mesos.interface.mesos_pb2.
"""

__all__ = ['Scheduler', 'SchedulerDriver', 'Executor', 'ExecutorDriver']


class Scheduler(object):
    """Callbacks of a framework scheduler; override the ones you need."""

    def registered(self, driver, frameworkId, masterInfo):
        """The framework registered with a master; frameworkId is its FrameworkID."""

    def reregistered(self, driver, masterInfo):
        """The framework registered again (a new leading master, or after a disconnection)."""

    def disconnected(self, driver):
        """The connection to the master was lost; the driver is reconnecting."""

    def resourceOffers(self, driver, offers):
        """A list of Offer: launch tasks on them (launchTasks/acceptOffers) or decline them."""

    def offerRescinded(self, driver, offerId):
        """The offer is no longer valid (tasks launched on it will be TASK_LOST)."""

    def statusUpdate(self, driver, status):
        """A TaskStatus. With implicit acknowledgements (the default) the driver acknowledges
        it when this returns; otherwise call driver.acknowledgeStatusUpdate(status)."""

    def frameworkMessage(self, driver, executorId, slaveId, message):
        """Bytes sent by an executor with sendFrameworkMessage (at most once delivery)."""

    def slaveLost(self, driver, slaveId):
        """An agent was lost; its tasks are lost too (status updates follow)."""

    def executorLost(self, driver, executorId, slaveId, status):
        """An executor exited; status is its wait status (or -1 if unknown)."""

    def error(self, driver, message):
        """An unrecoverable error (the master removed the framework, a refused subscription);
        the driver is aborted after this returns."""


class SchedulerDriver(object):
    """What a scheduler may do; mesos.native.MesosSchedulerDriver implements it. Every method
    returns the driver's Status (mesos_pb2.DRIVER_*)."""

    def start(self):
        """Starts the driver (connects to the master in the background)."""

    def stop(self, failover=False):
        """Stops the driver. failover=False unregisters the framework (the master kills its
        tasks); failover=True keeps it, so a new scheduler can take over with its id."""

    def abort(self):
        """Aborts the driver: no more callbacks, no more calls; join() returns."""

    def join(self):
        """Waits for the driver to be stopped or aborted; returns its final Status."""

    def run(self):
        """start() then join()."""

    def requestResources(self, requests):
        """Asks the allocator for resources (a list of Request)."""

    def launchTasks(self, offerIds, tasks, filters=None):
        """Launches TaskInfos on the offers (an OfferID or a list of them)."""

    def killTask(self, taskId):
        """Kills a task; its terminal status arrives through statusUpdate."""

    def acceptOffers(self, offerIds, operations, filters=None):
        """Applies Offer.Operations to the offers."""

    def declineOffer(self, offerId, filters=None):
        """Declines an offer (Filters.refuse_seconds: how long not to offer it again)."""

    def reviveOffers(self, roles=None):
        """Removes filters and resumes offers (for the roles, or every role)."""

    def suppressOffers(self, roles=None):
        """Stops offers (for the roles, or every role) until reviveOffers."""

    def acknowledgeStatusUpdate(self, status):
        """Acknowledges a TaskStatus (only with implicitAcknowledgements=False)."""

    def sendFrameworkMessage(self, executorId, slaveId, data):
        """Sends bytes to an executor (at most once)."""

    def reconcileTasks(self, tasks):
        """Asks for the latest state of the tasks (a list of TaskStatus); an empty list asks
        for every task the master knows of the framework."""

    def updateFramework(self, frameworkInfo, suppressedRoles, offerConstraints=None):
        """Changes the FrameworkInfo (roles, capabilities...) and the suppressed roles."""


class Executor(object):
    """Callbacks of an executor; override the ones you need."""

    def registered(self, driver, executorInfo, frameworkInfo, slaveInfo):
        """The executor subscribed to its agent."""

    def reregistered(self, driver, slaveInfo):
        """The executor subscribed again after an agent restart."""

    def disconnected(self, driver):
        """The connection to the agent was lost (the agent restarts); the driver retries."""

    def launchTask(self, driver, task):
        """Run this TaskInfo; report with driver.sendStatusUpdate (TASK_RUNNING, ...)."""

    def killTask(self, driver, taskId):
        """Kill the task and send its terminal status (TASK_KILLED)."""

    def frameworkMessage(self, driver, message):
        """Bytes sent by the scheduler with sendFrameworkMessage."""

    def shutdown(self, driver):
        """Kill every task and exit; the agent kills the executor after a grace period."""

    def error(self, driver, message):
        """An unrecoverable error; the driver is aborted after this returns."""


class ExecutorDriver(object):
    """What an executor may do; mesos.native.MesosExecutorDriver implements it. Every method
    returns the driver's Status (mesos_pb2.DRIVER_*)."""

    def start(self):
        """Starts the driver (subscribes to the agent named by the environment)."""

    def stop(self):
        """Stops the driver."""

    def abort(self):
        """Aborts the driver."""

    def join(self):
        """Waits for the driver to be stopped or aborted; returns its final Status."""

    def run(self):
        """start() then join()."""

    def sendStatusUpdate(self, status):
        """Sends a TaskStatus to the framework (reliably: kept until acknowledged)."""

    def sendFrameworkMessage(self, data):
        """Sends bytes to the scheduler (at most once)."""
