"""ts-config: check and show /etc/trainserver/trainserver.toml."""

# ts-config's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-config.
TOOL = "config"
