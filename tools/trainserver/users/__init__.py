"""ts-users: the accounts, subvolumes and SSH keys of the people of [users]."""

# ts-users's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-users.
TOOL = "users"
