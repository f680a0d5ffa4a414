"""ts-doctor: the system test of a live server, and the maintenance reminders."""

import click

from trainserver.core import cli as core_cli
from trainserver.doctor import TOOL
from trainserver.doctor.registry import AREAS
from trainserver.doctor.results import EXIT_FAILED, EXIT_PASSED, EXIT_USAGE

EXIT_STATUS = {
    EXIT_PASSED: "run: nothing failed (every item passed or was skipped); digest, "
                 "failover-done: done",
    EXIT_FAILED: "run: at least one item failed; digest: no section could be gathered",
    EXIT_USAGE: "a usage error, or the config file is missing or invalid: nothing was tested",
}


def _areas(ctx, param, value):
    chosen = []
    for text in value:
        for area in text.split(","):
            area = area.strip()
            if not area:
                continue
            if area not in AREAS:
                raise click.BadParameter(f"{area!r} is not an area (areas: {', '.join(AREAS)})")
            chosen.append(area)
    return tuple(dict.fromkeys(chosen))


def _run_options(function):
    function = core_cli.json_option(function)
    function = click.option("--send-test", is_flag=True,
                            help="Also send a Telegram test message through ts-alert test "
                                 "(alerts area; skipped without it).")(function)
    function = click.option("--only", "only", metavar="AREA", multiple=True, callback=_areas,
                            help=f"Test only these areas (repeat, or separate with commas): "
                                 f"{', '.join(AREAS)}.")(function)
    return function


@core_cli.tool_group(TOOL, exit_status=EXIT_STATUS, invoke_without_command=True)
@_run_options
@click.pass_context
def cli(ctx, as_json, send_test, only):
    """Test the whole server, as the manual's system test does: `ts-doctor` alone runs it.

    \b
    Each item is PASS, FAIL or SKIP, with the reason and the command to investigate:
      storage     RAID health (ts-storage check); every Data, Metadata and System chunk of
                  [storage] raid_profile, none "single" or "DUP" after a device replacement
                  (btrfs filesystem df); each bcache device in writeback mode
      gpu         nvidia-smi answering, the CUDA version, a small matrix product with torch
                  in a container of the workspace image (--gpus all)
      docker      every container of the stack running and healthy (ts-docker status)
      network     the Cloudflare tunnel connected (ts-tunnel check), the internet reachable
                  (TCP to [doctor] internet_address), the firewall active (ts-firewall check)
      monitoring  every Prometheus target up, Grafana's /api/health (asked inside their
                  containers with docker exec: Prometheus publishes no port)
      backups     the newest BTRFS snapshot younger than [doctor] snapshot_max_age, the last
                  successful ts-backup run younger than [doctor] backup_max_age
      alerts      with --send-test, a Telegram message through ts-alert test
      users       per person of [users]: the workspace's SSH banner on [services]
                  lan_address, code-server and Jupyter through Traefik (HTTPS with the
                  name <user>-code.<domain> / <user>-jupyter.<domain>; the certificate is
                  not verified, since Traefik may still serve its self-signed one: the
                  route is tested, not the certificate)
      timers      every installed ts-*.timer enabled and active, its service's last run
                  succeeded, and no scheduled job overdue (ts-alert overdue)

    A tool's own check is reused where there is one: its worst finding at ok is a PASS,
    anything worse a FAIL (warnings too), its one "not configured" finding a SKIP; a tool not
    installed is a SKIP. What is not set up (no GPU, no tunnel, no systemd) is a SKIP with
    the reason, never a FAIL.

    Probes run in parallel, each within [doctor] probe_timeout; one still running then is a
    FAIL "timed out after N s" and the run does not wait for it, so the whole test takes
    about probe_timeout at most. With --json: one object a line, {"area", "item", "status",
    "reason", "investigate", "seconds"}, then a last line {"total_seconds", "pass", "fail",
    "skip"}. Run it as root: the tools it calls read the storage and the state directory.
    """
    if ctx.invoked_subcommand is None:
        return _run(ctx.obj, as_json, send_test, only)
    return None


@cli.command("run")
@_run_options
@click.pass_obj
def run_command(tool, as_json, send_test, only):
    """Run the system test (the same as `ts-doctor` alone; see ts-doctor --help)."""
    return _run(tool, as_json, send_test, only)


def _run(tool, as_json, send_test, only):
    import sys
    import time

    from trainserver.doctor import registry, results, runner

    started = time.monotonic()
    config = tool.config
    timeout = config["doctor"]["probe_timeout"]
    probes = registry.probes(config, only)

    def make_context(deadline):
        return runner.Context(config=config, config_path=tool.config_path, deadline=deadline,
                              timeout=timeout, send_test=send_test)

    found = runner.run(probes, make_context, timeout)
    wall = time.monotonic() - started
    if as_json:
        sys.stdout.write(results.render_json(found, wall))
    else:
        sys.stdout.write(results.render_table(found, wall))
    sys.stdout.flush()
    return results.exit_status(found)


from trainserver.doctor import maintenance  # noqa: E402  (the digest and failover-done commands)

maintenance.register(cli)


def main():
    core_cli.main(cli)
