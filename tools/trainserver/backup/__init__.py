"""ts-backup: restic backups of the BTRFS snapshots into a repository reached through rclone."""

# ts-backup's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-backup.
TOOL = "backup"
