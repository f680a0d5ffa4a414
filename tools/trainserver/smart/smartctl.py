"""The adapter: runs smartctl and reads udev. Everything else in ts-smart is pure."""

import logging
import shutil

from trainserver.core import commands
from trainserver.core.errors import CommandError
from trainserver.smart.assess import Reading
from trainserver.smart.scan import parse_scan

log = logging.getLogger(__name__)


def program():
    """smartctl from PATH, else Debian's /usr/sbin/smartctl (a user's PATH may lack sbin)."""
    return shutil.which("smartctl") or "/usr/sbin/smartctl"


def scan(timeout):
    """(devices, messages) from smartctl --scan-open --json; raises CommandError or ParseError."""
    result = commands.run([program(), "--scan-open", "--json"], changes=False, timeout=timeout,
                          ok_codes=None)
    return parse_scan(result.stdout)


def read_argv(device):
    """The smartctl command that reads one disk.

    --xall: everything, the self-test logs and SCT temperature limits included.
    --nocheck=standby: a disk in standby or sleep is not spun up; smartctl exits 2 and says so.
    --json=o: JSON, plus the text output, where smartctl 7.3 hides an NVMe drive's WCTEMP.
    -d TYPE from the scan: the type it detected, so no second autodetection can wake the disk.
    """
    argv = [program(), "--json=o", "--xall", "--nocheck=standby"]
    if device.type and not device.open_error:
        argv += ["-d", device.type]
    return argv + [device.name]


def read(device, timeout):
    """A Reading of one disk; smartctl's exit status is a bit mask, so any status is kept."""
    try:
        result = commands.run(read_argv(device), changes=False, timeout=timeout, ok_codes=None)
    except CommandError as exc:
        return Reading(device=device.name, error=str(exc))
    return Reading(device=device.name, stdout=result.stdout, returncode=result.returncode)


def identify(name):
    """(model, serial) of `name` from udev's database, or None (no udev, unknown device)."""
    try:
        import pyudev

        from trainserver.smart.identity import from_udev

        device = pyudev.Devices.from_device_file(pyudev.Context(), name)
        attributes = {}
        for key in ("model", "serial"):
            for node in (device, device.parent):
                value = node.attributes.get(key) if node is not None else None
                if value:
                    attributes[key] = value.decode("utf-8", "replace")
                    break
        return from_udev(dict(device.properties), attributes)
    except Exception as exc:  # a best-effort name: the device path is used instead
        log.debug("%s: no udev identity: %s", name, exc)
        return None
