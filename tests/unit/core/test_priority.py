import errno
import os

import seccomp

from trainserver.core import priority

# What systemd's SystemCallFilter=~@resources makes fail with EPERM in every ts-* unit.
RESOURCES = ("ioprio_set", "nice", "setpriority", "sched_setattr", "sched_setscheduler",
             "setrlimit", "prlimit64")


def in_child(function):
    """Run `function` in a forked child; return its exit status (0: no exception)."""
    pid = os.fork()
    if pid == 0:
        try:
            function()
            code = 0
        except BaseException:  # noqa: B902  the child reports any failure as its status
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_idle_io_lowers_the_priority():
    def lowered():
        said = priority.idle_io()
        assert os.getpriority(os.PRIO_PROCESS, 0) == 19
        assert "nice 19" in said

    assert in_child(lowered) == 0


def test_idle_io_survives_the_units_system_call_filter():
    # The units set Nice= and IOSchedulingClass= themselves and refuse these calls: the walk
    # must go on (a PermissionError here failed ts-quota.service in the guest).
    def filtered():
        rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        for name in RESOURCES:
            rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
        rules.load()
        said = priority.idle_io()
        assert "nice" in said, said

    assert in_child(filtered) == 0
