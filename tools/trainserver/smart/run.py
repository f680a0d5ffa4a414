"""ts-smart check as it runs on the server: config, disks, state, metrics."""

import os
import time

from trainserver.core.errors import CommandError
from trainserver.smart import assess, smartctl
from trainserver.smart.parse import ParseError
from trainserver.smart.scan import configured


def devices_to_check(settings):
    """(devices, scan finding): [smart] devices when set, else smartctl --scan-open."""
    if settings["devices"]:
        devices = configured(settings["devices"])
        return devices, assess.scan_finding([d.name for d in devices], source="[smart] devices")
    try:
        devices, messages = smartctl.scan(settings["timeout"])
    except (CommandError, ParseError) as exc:
        return [], assess.scan_finding([], problem=str(exc))
    if not devices and os.geteuid() != 0:
        messages = [*messages, "not running as root: smartctl needs root to open disks"]
    return devices, assess.scan_finding([d.name for d in devices], messages)


def check(tool):
    """Read every disk, compare with the previous run, save state and metrics; the findings."""
    settings = tool.config["smart"]
    devices, scan_finding = devices_to_check(settings)
    readings = [smartctl.read(device, settings["timeout"]) for device in devices]
    state_file = tool.state_file("smart")
    now = int(time.time())
    outcome = assess.assess(readings, state_file.load({}), settings["temperature_warning"], now,
                            identify=smartctl.identify)
    state_file.save(outcome.state)
    # The state is saved already, so this run's counts are the next run's "previous": a
    # finding that a count rose is reported by this run only; write_metrics never raises for it.
    tool.write_metrics("trainserver_smart", outcome.metrics)
    return [scan_finding, *outcome.findings]


def scan(tool):
    """The devices ts-smart would check, and the scan's finding (for `ts-smart scan`)."""
    return devices_to_check(tool.config["smart"])
