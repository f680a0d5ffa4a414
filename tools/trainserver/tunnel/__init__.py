"""The Cloudflare tunnel (ts-tunnel): whether cloudflared, run in the services stack, is connected
to Cloudflare, read from its metrics server's /ready."""

# ts-tunnel's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-tunnel.
TOOL = "tunnel"
