"""ts-docker: Docker set up for the storage, and the services stack with each person's workspace."""

# ts-docker's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-docker.
TOOL = "docker"
