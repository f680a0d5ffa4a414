"""ts-snapshot: read-only BTRFS snapshots with counted retention."""

# ts-snapshot's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-snapshot.
TOOL = "snapshot"
