"""ts-storage: the BTRFS RAID10 storage (bcache in front of the hard disks) and its health."""

# ts-storage's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-storage.
TOOL = "storage"
