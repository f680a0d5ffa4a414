"""ts-oom: find kernel OOM kills since the last run and attribute them to containers."""

import click

from trainserver.core import cli as core_cli
from trainserver.core.checks import CHECK_EXIT_STATUS
from trainserver.oom import TOOL


@core_cli.tool_group(TOOL, exit_status=CHECK_EXIT_STATUS)
def cli():
    """Report kernel OOM kills, attributed to containers.

    ts-oom.timer runs `ts-oom check --json` every 30 minutes through ts-alert.
    """


@cli.command()
@core_cli.reports(core_cli.CHECK, job="oom")
@click.option("--source", type=click.Choice(["auto", "journal", "kmsg"]), default="auto",
              show_default=True,
              help="Where to read the kernel log: the journal (where systemd is PID 1), "
                   "/dev/kmsg, or whichever this machine has.")
@click.pass_obj
def check(tool, as_json, source):
    """Report the OOM kills logged since the last run, one finding per container.

    The kernel log is read from where the last run stopped (a journal cursor, or the /dev/kmsg
    sequence number and boot id, kept in the state directory as oom.json). Each kill is
    attributed through its memory cgroup to a docker container (named by `docker inspect` when
    the engine answers, which honours DOCKER_HOST; else the short id), or to its cgroup path.
    New kills are a warning; [oom] repeat_critical kills of one container within
    [oom] repeat_window are critical. A run without new kills reports ok for each container with
    recent kills, or one ok "no OOM kills". When /proc/vmstat's oom_kill rose by more than the
    kills found, a warning says the log lost some. Kills are appended to [oom] log_file, and
    trainserver_oom.prom is written for node-exporter.
    """
    from trainserver.core.checks import report
    from trainserver.oom import check as check_module

    return report(check_module.run(tool, source=source), as_json)


def main():
    core_cli.main(cli)
