"""ts-ups: the UPS's battery, power source and self-test, read from NUT (upsc), as findings."""

import click

from trainserver.core import cli as core_cli
from trainserver.core.checks import CHECK_EXIT_STATUS
from trainserver.ups import TOOL


def _log():
    import logging

    return logging.getLogger(__name__)


def _load_state(state_file):
    try:
        return state_file.load({})
    except OSError as exc:
        # A check run by hand without root still reports; only the remembered self-test
        # result, for a UPS that gives no ups.test.date, is missing.
        _log().warning("cannot read %s (%s): self-test results seen before are not compared",
                       state_file.path, exc.strerror)
        return {}


@core_cli.tool_group(TOOL, exit_status=CHECK_EXIT_STATUS)
def cli():
    """Check the UPS through NUT: battery charge, runtime left, on battery, the last self-test.

    The UPS is read with upsc (Debian package nut-client) from the upsd named by [ups] name
    ("ups@localhost"). NUT itself (nut-server: the UPS's driver and upsd) is set up by the
    admin in /etc/nut. Shutting the server down on low battery is NUT's upsmon's job, not this
    tool's: ts-ups only reports, every 15 minutes (ts-ups.timer), through ts-alert. Metrics go
    to trainserver_ups.prom in [paths] metrics_dir; the self-test results seen are kept in the
    state directory (ups.json).
    """


@cli.command()
@core_cli.reports(core_cli.CHECK, job="ups")
@core_cli.now_option("Judge the self-test's age as of this time.")
@click.pass_obj
def check(tool, as_json, now):
    """Report the UPS's health as findings (tool "ups", subject: [ups] name).

    \b
    connection       upsc answered (ok); NUT's own error, such as "Data stale", "Driver not
                     connected", "Connection failure" or "Unknown UPS" (critical); no answer
                     within [ups] timeout (critical); upsc not installed (unknown)
    charge           battery.charge below [ups] charge_warning_percent (warning) or
                     charge_critical_percent (critical)
    runtime          battery.runtime below [ups] runtime_warning or runtime_critical
    power            ups.status: OL on line power (ok); OB on battery (warning, with the
                     runtime left); LB low battery, FSD, OFF (critical); OVER, BYPASS,
                     ALARM (warning); other flags are named
    replace-battery  RB in ups.status (critical)
    self-test        ups.test.result and its date: failed (critical); a warning, aborted,
                     none recorded, or older than [ups] self_test_max_age (warning)

    The self-test's date is ups.test.date where the UPS gives one, else when ts-ups saw the
    result change (or first saw it); the summary says which. A variable the UPS does not
    report is said at ok; an empty [ups] name is one finding at ok: not configured.
    """
    from trainserver.core import checks
    from trainserver.ups import assess, metrics, reader

    settings = tool.config["ups"]
    name = settings["name"]
    if now is None:
        import time

        now = time.time()
    if not name:
        return checks.report([assess.not_configured()], as_json)
    with tool.lock(wait=checks.CHECK_LOCK_WAIT):
        try:
            variables = reader.read(name, settings["timeout"])
        except reader.UpsReadError as exc:
            findings = [exc.finding]
            gauges = assess.Gauges(up=False)
        else:
            state_file = tool.state_file("ups")
            state = _load_state(state_file)
            result = assess.assess(name, variables, assess.Limits.from_config(settings), state,
                                   now)
            findings, gauges = result.findings, result.gauges
            if result.state != state:
                try:
                    state_file.save(result.state)
                except OSError as exc:
                    _log().warning("cannot write %s (%s); the findings are still reported",
                                   state_file.path, exc.strerror or exc)
        tool.write_metrics("trainserver_ups", metrics.build(name, gauges))
    return checks.report(findings, as_json)


@cli.command()
@core_cli.json_option
@click.pass_obj
def status(tool, as_json):
    """Print every variable NUT reports for the UPS, as upsc does (for ts-doctor, the
    monthly digest, and people).

    With --json, one object: {"ups": NAME, "variables": {NAME: VALUE, ...}}. No UPS
    configured prints so and exits 0; a UPS that cannot be read is one line on stderr and
    exit status 3.
    """
    import json

    from trainserver.ups import reader

    name = tool.config["ups"]["name"]
    if not name:
        if as_json:
            click.echo(json.dumps({"ups": None, "variables": {}}))
        else:
            click.echo("no UPS configured ([ups] name is empty)")
        return core_cli.EXIT_OK
    try:
        variables = reader.read(name, tool.config["ups"]["timeout"])
    except reader.UpsReadError as exc:
        raise click.ClickException(f"{name}: {exc}") from None
    if as_json:
        click.echo(json.dumps({"ups": name, "variables": variables}, ensure_ascii=False))
    else:
        for key, value in variables.items():
            click.echo(f"{key}: {value}")
    return core_cli.EXIT_OK


def main():
    core_cli.main(cli)
