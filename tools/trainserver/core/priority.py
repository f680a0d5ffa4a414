"""Running at the idle I/O class and the lowest CPU priority: for walks over many files
(ts-quota, ts-caches) that must not slow the training jobs or the backup."""

import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)

# ioprio_set(2) has no wrapper in Python's os module.
_IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "i686": 289, "armv7l": 314, "ppc64le": 273,
               "s390x": 282, "riscv64": 30}
_IOPRIO_GET = {"x86_64": 252, "aarch64": 31, "i686": 290, "armv7l": 315, "ppc64le": 274,
               "s390x": 283, "riscv64": 31}
IOPRIO_CLASS_IDLE = 3
IOPRIO_WHO_PROCESS = 1
IOPRIO_CLASS_SHIFT = 13


def idle_io():
    """Put this process at the idle I/O class and the lowest CPU priority (best effort).

    Called before any worker starts: threads and forked processes inherit the I/O priority
    (verified on 6.18: ioprio_get in a new thread and a forked child both read class 3).
    Under systemd the unit has set both already (IOSchedulingClass=idle, Nice=19) and its
    system call filter refuses these calls: that is fine. Returns what is in effect, for the
    report."""
    number = _IOPRIO_SET.get(platform.machine())
    libc = ctypes.CDLL(None, use_errno=True)
    if number is not None:
        value = (IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT)
        if libc.syscall(number, IOPRIO_WHO_PROCESS, 0, value) != 0:
            log.debug("ioprio_set: %s", os.strerror(ctypes.get_errno()))
    # Under systemd's ~@resources filter setpriority() fails (EPERM): the unit's Nice= has
    # done it. getpriority() is allowed; nice(0) is not, as glibc makes it a setpriority().
    try:
        if os.getpriority(os.PRIO_PROCESS, 0) < 19:
            os.setpriority(os.PRIO_PROCESS, 0, 19)
    except OSError as exc:
        log.debug("setpriority: %s", exc)
    done = []
    get = _IOPRIO_GET.get(platform.machine())
    if get is not None:
        current = libc.syscall(get, IOPRIO_WHO_PROCESS, 0)
        if current >= 0:
            done.append("idle I/O class" if current >> IOPRIO_CLASS_SHIFT == IOPRIO_CLASS_IDLE
                        else "normal I/O class")
    try:
        done.append(f"nice {os.getpriority(os.PRIO_PROCESS, 0)}")
    except OSError as exc:
        log.debug("getpriority: %s", exc)
    return ", ".join(done)
