"""Pieces both drivers share: logging, the callback guard, the current user, master URLs."""
import logging
import os
import pwd
import sys
import traceback

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
