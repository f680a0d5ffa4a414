"""UPS health (ts-ups): the manual's monthly battery check, read from NUT with upsc.

ts-ups only reports: battery charge, runtime left, the power source, the last self-test, and a
lost connection to the UPS, as findings for ts-alert. Shutting the server down on low battery
is NUT's upsmon's job, not this tool's: upsmon acts within seconds of the UPS saying "low
battery", while this check runs every 15 minutes and only tells people.
"""

# ts-ups's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-ups.
TOOL = "ups"
