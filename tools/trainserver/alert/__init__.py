"""ts-alert: the one sink that turns findings into Telegram messages."""

# ts-alert's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-alert.
TOOL = "alert"
