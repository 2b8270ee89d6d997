"""Pieces both drivers share: logging, the callback guard, the life cycle (DriverBase), the
current user, master URLs."""
import atexit
import logging
import os
import pwd
import sys
import threading
import traceback
import weakref

from mesos.interface import mesos_pb2

LOG = logging.getLogger('mesos.native')

# The C libraries' log levels (CM_SCHEDULER_LOG_* / CM_EXECUTOR_LOG_*) -> logging levels.
_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}


def log_library_line(level, message):
    LOG.log(_LEVELS.get(level, logging.INFO), '%s', message)


def current_user():
    """The user Mesos's driver puts in FrameworkInfo.user when the framework leaves it empty."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return os.environ.get('USER', '') or str(os.getuid())


def invoke(target, name, *args):
    """Calls target.<name>(*args) if the class defines it. Returns (called, error): a missing
    callback is a no-op; an exception is printed (as Mesos's bindings do) and returned so the
    driver can abort."""
    fn = getattr(target, name, None)
    if fn is None:
        return False, None
    try:
        fn(*args)
        return True, None
    except Exception as e:  # a callback must not kill the driver's thread
        sys.stderr.write('Exception in %s.%s:\n' % (type(target).__name__, name))
        traceback.print_exc()
        return True, e


class DriverBase(object):
    """The v0 driver life cycle both drivers share: the status under a condition, abort(),
    join(), run() and the guarded callback. A subclass sets _TARGET (the attribute holding the
    framework's callback object) and _JOIN_TIMEOUT (how long join() lets the library's last
    calls go out), calls _init_driver() and implements start() and stop()."""

    _TARGET = None
    _JOIN_TIMEOUT = 10.0

    def _init_driver(self):
        self._cond = threading.Condition()
        self._status = mesos_pb2.DRIVER_NOT_STARTED
        self._connected = False
        self._registered = False
        self._conn = None
        self._loop_ident = None

    def abort(self):
        with self._cond:
            if self._status != mesos_pb2.DRIVER_RUNNING:
                return self._status
            self._status = mesos_pb2.DRIVER_ABORTED
            if self._conn is not None:
                self._conn.stop()
            self._cond.notify_all()
            return self._status

    def join(self):
        with self._cond:
            while self._status == mesos_pb2.DRIVER_RUNNING:
                self._cond.wait()
            status, conn = self._status, self._conn
        # Let the last calls (a TEARDOWN, queued updates) go out before the program goes on,
        # unless join runs on the driver's own thread (a callback), which must not wait for
        # itself.
        if conn is not None and threading.get_ident() != self._loop_ident:
            conn.join(self._JOIN_TIMEOUT)
        return status

    def run(self):
        status = self.start()
        if status != mesos_pb2.DRIVER_RUNNING:
            return status
        return self.join()

    def _callback(self, name, *args):
        """Runs a framework callback unless the driver stopped; an exception aborts it."""
        with self._cond:
            if self._status != mesos_pb2.DRIVER_RUNNING:
                return False
        called, err = invoke(getattr(self, self._TARGET), name, self, *args)
        if err is not None:
            self.abort()
            return False
        return True


def live_drivers():
    """A set of the drivers whose loop threads must end before the interpreter does (they
    call into Python): a driver adds itself once started; at exit each is stopped and given
    5 s."""
    live = weakref.WeakSet()

    def stop_all():
        for d in list(live):
            conn = d._conn
            if conn is not None and conn.running:
                conn.stop()
                conn.join(5.0)

    atexit.register(stop_all)
    return live


class MasterError(ValueError):
    pass


def resolve_master(master, depth=0):
    """Mesos's master argument -> what libcmscheduler takes.

    host:port, http[s]://host:port and zk://... pass through; master@host:port (a libprocess
    PID) loses its prefix; file:///path is replaced by the file's first line, which may itself
    be any of these (as Mesos reads it). Raises MasterError naming the problem."""
    if not isinstance(master, str):
        raise MasterError('master must be a str, not %s' % type(master).__name__)
    master = master.strip()
    if not master:
        raise MasterError('master is empty')
    if master.startswith('file://'):
        if depth > 0:
            raise MasterError('%s: a file:// master may not point to another file://' % master)
        path = master[len('file://'):]
        try:
            with open(path) as f:
                content = f.read(65536)
        except OSError as e:
            raise MasterError('cannot read the master from %s: %s' % (path, e.strerror))
        lines = [l.strip() for l in content.splitlines() if l.strip()]
        if not lines:
            raise MasterError('%s is empty' % path)
        return resolve_master(lines[0], depth + 1)
    if master.startswith('master@'):
        master = master[len('master@'):]
    if any(c.isspace() or ord(c) < 0x20 for c in master):
        raise MasterError('master %r has white space or a control character' % master)
    return master
