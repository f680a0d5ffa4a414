"""The daily GCS→Drive copy and the one-time migration (ts-sync), both through rclone.

Pure logic lives apart from the code that runs programs: plan (the settings from the config
and the rclone argument lists for run, mirror, migrate, check, size and dry runs), jsonlog
(rclone's --use-json-log lines -> a summary, errors, the upload cap, what a dry run would
change; `rclone check --combined` -> mismatches), estimate (time left from the bandwidth and
Drive's daily cap), report (findings, the state record, metrics). runner.py is the adapter that
runs rclone under the shared uplink (core.uplink) and reads its log as it comes; job.py ties a
run, a migration and a check together; cli.py is the command line.
"""

# ts-sync's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-sync.
TOOL = "sync"
