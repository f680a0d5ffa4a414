"""ts-doctor: the system test of a live server (the manual's 11-run-tests.sh)."""

# ts-doctor's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-doctor.
TOOL = "doctor"
