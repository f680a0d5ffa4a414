"""ts-firewall: UFW and fail2ban for the server's edge, and Docker's published ports."""

# ts-firewall's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-firewall.
TOOL = "firewall"
