"""The Google Shared Drive mounted by rclone with a full VFS cache (ts-gdrive-mount).

Pure logic lives apart from the code that touches the system: cachesize (the cache size
rule), mountargs (the `rclone mount` argument list and environment), health (mount facts and
restart history -> findings), remoteconf (the rclone.conf section: text in, text out, plus
the one atomic 0600 write). facts.py reads the system (mountinfo, a stat in a child process
killed on timeout, process states, filesystem figures, the cache's allocated bytes);
service.py holds every systemctl command line, so a stand-in systemctl in the tests stays
small; settings.py reads the config; cli.py is the command line.
"""

# ts-gdrive-mount's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-gdrive-mount.
TOOL = "gdrive-mount"
