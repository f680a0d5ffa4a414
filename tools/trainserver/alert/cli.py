"""ts-alert: turn findings into Telegram messages; the one sink every check reports through."""

import sys
import time

import click

from trainserver.core import cli as core_cli

EXIT_QUEUED = 1

def _log():
    import logging  # not at module level: --help stays fast

    return logging.getLogger("trainserver.alert")


# How long a second ts-alert waits for the one holding the lock (checks often finish together).
LOCK_WAIT = 300


@core_cli.tool_group("alert", exit_status={
    0: "success: every message was delivered (or no chat is configured: journal only)",
    1: "a message could not be delivered now; it stays queued and goes out on the next run "
       "(for pipe: the check's own exit status is returned instead)",
    3: "usage or config error, or (send) some input lines were not findings; the valid ones "
       "were still processed",
})
def cli():
    """Turn findings into Telegram alerts: new or worse problems, reminders, resolved notices.

    Checks print findings as JSON lines (ts-smart check --json, ...). ts-alert keeps the open
    problems and a queue of undelivered messages in /var/lib/trainserver/alert.json, sends one
    digest per run, reminds about open problems on a diminishing schedule (1, 2, 4... days by
    default, see [alert] in the config), and writes every alert to the journal. A message that
    cannot be delivered (network down, Telegram busy) stays queued for the next run.

    \b
    In systemd units, checks run under `ts-alert pipe`:
      ExecStart=/usr/bin/ts-alert pipe -- /usr/bin/ts-smart check --json
      SuccessExitStatus=1 2 3 75
    so that the check's own exit status decides the unit's result, and its findings reach
    Telegram; every unit has OnFailure=ts-unit-failed@%n.service, which runs
    `ts-alert unit-failed UNIT`.
    """


class _Run:
    """The pieces every subcommand needs, built from the config once."""

    def __init__(self, tool, now=None):
        from trainserver.alert import decide

        self.config = tool.config["alert"]
        self.state_file = tool.state_file("alert")
        self.lock = tool.lock(wait=LOCK_WAIT)
        self.now = now if now is not None else time.time()
        self.schedule = decide.Schedule(self.config["repeat_after"], self.config["repeat_max"])

    @property
    def host(self):
        import socket

        return socket.gethostname()

    def sender(self):
        """A Telegram sender, or None when no chat is configured (journal only)."""
        from trainserver.alert.telegram import Telegram
        from trainserver.core import secrets

        if not self.config["telegram_chat_id"]:
            return None
        token = secrets.read(self.config["telegram_token_file"])
        return Telegram(self.config["telegram_api_url"], token, self.config["telegram_chat_id"],
                        self.config["give_up_after"])

    def flush(self, doc):
        """Deliver the queue; return the exit status (0 delivered or journal only, 1 queued)."""
        from trainserver.alert import sink
        from trainserver.core.errors import SecretError

        sink.drop_expired(doc, self.now, self.config["queue_max_age"])
        self.state_file.save(doc)
        try:
            sender = self.sender()
        except SecretError as exc:
            _log().error("%s; %d message(s) stay queued", exc, len(doc["queue"]))
            return EXIT_QUEUED
        if sender is None:
            if doc["queue"]:
                _log().info("no [alert] telegram_chat_id: %d message(s) kept in the "
                                     "journal only", len(doc["queue"]))
                doc["queue"] = []
                self.state_file.save(doc)
            return core_cli.EXIT_OK
        _, error = sink.deliver(doc, sender, self.state_file.save)
        return EXIT_QUEUED if error else core_cli.EXIT_OK

    def take_in(self, findings):
        from trainserver.alert import sink

        with self.lock:
            doc = sink.load(self.state_file)
            sink.take_in(doc, findings, self.now, self.schedule, self.host)
            return self.flush(doc)


def _read_findings(lines):
    """Valid findings of `lines`, and the number of lines that were not findings (logged)."""
    from trainserver.core.findings import read_jsonl

    errors = []
    found = list(read_jsonl(lines, errors))
    for error in errors:
        _log().error("input %s", error)
    return found, len(errors)


_now_option = click.option("--now", type=float, default=None, hidden=True,
                           help="Pretend the time is this Unix time (for tests).")


@cli.command()
@_now_option
@click.pass_obj
def send(tool, now):
    """Read findings as JSON lines on standard input and send what deserves a message.

    A bad line is reported and skipped; the valid findings are still processed.
    """
    found, bad = _read_findings(sys.stdin)
    status = _Run(tool, now).take_in(found)
    return core_cli.EXIT_UNKNOWN if bad else status


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--timeout", default="1h", show_default=True, metavar="DURATION",
              help="Stop the check after this long.")
@_now_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def pipe(tool, timeout, now, command):
    """Run COMMAND (a check printing --json findings), send its findings, exit with its status.

    The check's standard error passes through to the journal. Its exit status is returned
    unchanged, so systemd judges the check, not the delivery: a message that cannot be sent is
    queued for the next run. A check that exits 3 (unknown) without a finding, for example on a
    config error, is reported as an unknown finding of its own, resolved when it runs again.
    """
    from trainserver.core import commands, units
    from trainserver.core.findings import Finding, Severity

    result = commands.run(list(command), changes=False, ok_codes=None,
                          timeout=units.parse_duration(timeout))
    sys.stderr.write(result.stderr)
    found, _ = _read_findings(result.stdout.splitlines())
    name = command[0].rsplit("/", 1)[-1]
    if result.returncode == core_cli.EXIT_UNKNOWN and not found:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        found.append(Finding(name, "run", name, Severity.UNKNOWN,
                             f"{name} could not run its checks: {last}", value=result.returncode))
    elif result.returncode in (0, 1, 2):
        found.append(Finding(name, "run", name, Severity.OK, f"{name} ran its checks"))
    _Run(tool, now).take_in(found)
    return result.returncode


@cli.command()
@click.pass_obj
def test(tool):
    """Send a test message now (not queued): exit 0 when Telegram accepted it, 1 when not."""
    from trainserver.alert.telegram import DeliveryError

    run = _Run(tool)
    sender = run.sender()
    if sender is None:
        raise click.UsageError("[alert] telegram_chat_id is not set in the config")
    try:
        sender.send(f"<b>trainserver on {run.host}</b>\nts-alert test message: alerts reach this chat.")
    except DeliveryError as exc:
        _log().error("test message not delivered: %s", exc)
        return EXIT_QUEUED
    click.echo("test message delivered")
    return core_cli.EXIT_OK


@cli.command()
@core_cli.json_option
@click.pass_obj
def status(tool, as_json):
    """List the open problems and the messages waiting in the queue."""
    import json

    from trainserver.alert import sink

    doc = sink.load(tool.state_file("alert"))
    problems = sorted(doc["open"].values(), key=lambda r: (r["tool"], r["check"], r["subject"]))
    if as_json:
        json.dump({"open": problems, "queue": doc["queue"]}, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return core_cli.EXIT_OK
    stamp = lambda epoch: time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))  # noqa: E731
    click.echo(f"open problems: {len(problems)}")
    for record in problems:
        click.echo(f"  {record['severity'].upper():8} {record['tool']}/{record['check']} "
                   f"{record['subject']}: {record['summary']} (since {stamp(record['since'])}, "
                   f"reminders sent {record['reminders']})")
    click.echo(f"queued messages: {len(doc['queue'])}")
    for item in doc["queue"]:
        first = sink.plain(item["text"]).splitlines()[1:2] or [""]
        click.echo(f"  queued {stamp(item['created'])}: {first[0]}")
    return core_cli.EXIT_OK


@cli.command("unit-failed")
@click.argument("unit")
@click.pass_obj
def unit_failed(tool, unit):
    """Alert that systemd UNIT failed, with its last journal lines (run by OnFailure=)."""
    from trainserver.alert import message, sink
    from trainserver.core import commands
    from trainserver.core.errors import CommandError

    run = _Run(tool)
    lines = run.config["journal_lines"]
    try:
        tail = commands.run(["journalctl", "--unit", unit, "--lines", str(lines), "--no-pager",
                             "--output", "short-iso"], changes=False, timeout=60).stdout
    except CommandError as exc:
        tail = f"(journal not readable: {exc})"
    _log().error("alert: unit %s failed", unit)
    with run.lock:
        doc = sink.load(run.state_file)
        sink.enqueue(doc, message.unit_failed(unit, run.host, tail), run.now)
        return run.flush(doc)


def main():
    core_cli.main(cli)
