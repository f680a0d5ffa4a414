"""Disk health from smartctl (ts-smart).

Pure logic lives apart from the code that runs programs: exitstatus (smartctl's bit mask),
parse (smartctl --json output -> DiskReport), thresholds (DiskReport -> findings), history
(the previous run's counters, for "rising"), gauges (Prometheus metrics), identity (disk names
from udev properties), scan (smartctl --scan-open output). smartctl.py is the adapter that runs
smartctl and reads udev; assess.py ties one run together; cli.py is the command line.
"""

# ts-smart's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-smart.
TOOL = "smart"
