"""ts-oom: kernel OOM kills, found in the kernel log and attributed to containers."""

# ts-oom's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-oom.
TOOL = "oom"
