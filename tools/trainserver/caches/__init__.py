"""ts-caches: the shared download caches under [paths] storage/cache."""

# ts-caches's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-caches.
TOOL = "caches"
