"""ts-alert: turn findings into Telegram messages; the one sink every check reports through."""

import sys
import time

import click

from trainserver.core import cli as core_cli
from trainserver.alert import TOOL

EXIT_QUEUED = 75  # EX_TEMPFAIL: not delivered now, kept for the next run


def _log():
    import logging  # not at module level: --help stays fast

    return logging.getLogger(__name__)


# How long a second ts-alert waits for the one holding the lock (checks often finish together).
LOCK_WAIT = 300
# The tables ts-alert needs: it keeps sending while any other table of the config is broken.
OWN_TABLES = ("paths", "alert")
# Created when pipe --queue-only queued a message: ts-alert-flush.path starts the delivery,
# whose unit removes it first (PathExists= is level-triggered: nothing is missed).
OUTBOX = "alert-outbox"


@core_cli.tool_group(TOOL, exit_status={
    0: "success: every message was delivered (or no chat is configured: journal only)",
    1: "pipe: the piped command's worst finding is a warning",
    2: "pipe: a critical finding (the piped command's, or pipe's own: the command failed, "
       "crashed, was killed or timed out without saying why)",
    3: "pipe: an unknown finding; any command: a usage or config error",
    75: "messages stay queued: Telegram cannot be reached now (network, 429, 5xx) and the "
        "next run sends them; or another ts-alert held the alert lock for 300 s",
    78: "alerts cannot be sent at all: the [alert] or [paths] table is invalid, the token "
        "file is missing or readable by others, or Telegram refuses the token or chat id",
})
def cli():
    """Turn findings into Telegram alerts: new or worse problems, reminders, resolved notices.

    Checks print findings as JSON lines (ts-smart check --json, ...). ts-alert keeps the open
    problems and a queue of undelivered messages in /var/lib/trainserver/alert.json, sends one
    digest per run, reminds about open problems on a diminishing schedule (1, 2, 4... days by
    default, see [alert] in the config), and writes every alert to the journal. A message that
    cannot be delivered (network down, Telegram busy) stays queued for the next run. A problem
    someone is dealing with can be acknowledged (ack): no reminders until it gets worse.

    \b
    In systemd units, checks and actions run under `ts-alert pipe`:
      ExecStart=/usr/bin/ts-alert pipe --queue-only -- /usr/bin/ts-smart check --json
      SuccessExitStatus=1 2 3
    pipe exits with the worst finding it took in (the command's, or its own when the command
    failed without saying why), so 1, 2 and 3 mean the news is on its way through ts-alert;
    any other status means the alert path itself failed, and OnFailure=ts-unit-failed@%n.service
    runs `ts-alert unit-failed UNIT`. With --queue-only the check's unit needs no network:
    ts-alert-flush.path starts ts-alert-flush.service, which delivers the queue.
    """


class _Run:
    """The pieces every delivering subcommand needs, from the [paths] and [alert] tables.

    Only those two tables are validated: a broken [backup] table must not silence the alert
    about it. When they cannot be used either, no alert can go out (AlertUnavailable, exit 78).
    """

    def __init__(self, tool, now=None, delivering=True):
        import os

        from trainserver.alert import decide
        from trainserver.core.errors import AlertUnavailable, ConfigError
        from trainserver.core.lock import ToolLock
        from trainserver.core.state import StateFile

        try:
            config, problems = tool.config_tables(OWN_TABLES)
        except ConfigError as exc:
            if not delivering:
                raise
            raise AlertUnavailable("; ".join(exc.problems)) from None
        for problem in problems:
            _log().warning("config: %s (ts-alert uses only [paths] and [alert])", problem)
        paths = config["paths"]
        self.config = config["alert"]
        self.state_dir = paths["state_dir"]
        self.state_file = StateFile(os.path.join(paths["state_dir"], "alert.json"))
        self.lock = ToolLock("alert", paths["lock_dir"], wait=LOCK_WAIT)
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
        """Deliver the queue: 0 delivered (or journal only), 75 some stay queued for the next
        run; raises AlertUnavailable when no run can deliver them until the admin acts."""
        from trainserver.alert import sink
        from trainserver.core.errors import AlertUnavailable, SecretError

        sink.drop_expired(doc, self.now, self.config["queue_max_age"])
        self.state_file.save(doc)
        try:
            sender = self.sender()
        except SecretError as exc:
            raise AlertUnavailable(f"{exc}; {len(doc['queue'])} message(s) stay queued") \
                from None
        if sender is None:
            if doc["queue"]:
                _log().info("no [alert] telegram_chat_id: %d message(s) kept in the "
                            "journal only", len(doc["queue"]))
                doc["queue"] = []
                self.state_file.save(doc)
            return core_cli.EXIT_OK
        _, error = sink.deliver(doc, sender, self.state_file.save)
        if error is None:
            return core_cli.EXIT_OK
        if error.status in (401, 403, 404):
            raise AlertUnavailable(
                f"Telegram refuses the bot token or chat id ({error}): check "
                f"{self.config['telegram_token_file']} and [alert] telegram_chat_id; "
                f"{len(doc['queue'])} message(s) stay queued")
        return EXIT_QUEUED

    def take_in(self, findings, deliver=True):
        """Decide and queue; deliver too, unless the delivery is left to ts-alert-flush."""
        from trainserver.alert import sink

        with self.lock:
            doc = sink.load(self.state_file)
            before = len(doc["queue"])
            sink.take_in(doc, findings, self.now, self.schedule, self.host)
            if deliver:
                return self.flush(doc)
            self.state_file.save(doc)
            if len(doc["queue"]) > before:
                self.kick()
            return core_cli.EXIT_OK

    def kick(self):
        """Tell ts-alert-flush.path that messages wait (the file it waits for)."""
        import os

        with open(os.path.join(self.state_dir, OUTBOX), "w", encoding="ascii") as handle:
            handle.write(f"{self.now:.0f}\n")


def _read_findings(lines):
    """Valid findings of `lines`, and the number of lines that were not findings (logged)."""
    from trainserver.core.findings import read_jsonl

    errors = []
    found = list(read_jsonl(lines, errors))
    for error in errors:
        _log().error("input %s", error)
    return found, len(errors)


_now_option = core_cli.now_option("Act as if it were this time (for tests, and to see when "
                                  "reminders fall due).")


@cli.command()
@_now_option
@click.pass_obj
def send(tool, now):
    """Read findings as JSON lines on standard input and send what deserves a message.

    A bad line is reported and skipped; the valid findings are still processed.
    """
    found, bad = _read_findings(sys.stdin)
    status = _Run(tool, now).take_in(found)
    return core_cli.EXIT_UNKNOWN if bad and status == core_cli.EXIT_OK else status


def _duration(ctx, param, value):
    """A duration option in seconds ("1h" -> 3600); None stays None; a bad one is a usage
    error (exit 3)."""
    from trainserver.core import units

    if value is None:
        return None
    try:
        return units.parse_duration(value)
    except units.UnitError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--timeout", default="1h", show_default=True, metavar="DURATION",
              callback=_duration, help="Stop the command after this long (a critical finding).")
@click.option("--queue-only", is_flag=True,
              help="Queue the messages and leave their delivery to ts-alert-flush.service "
                   "(started by ts-alert-flush.path), so the command's unit needs no network.")
@_now_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def pipe(tool, timeout, queue_only, now, command):
    """Run COMMAND (a check or action printing --json findings), send its findings, and exit
    with the worst of them.

    The command's standard error passes through to the journal. Its exit status never
    vanishes: when its own findings do not explain it (no finding, a status 1-3 worse than its
    findings, a crash, a kill, a timeout, a program that will not start), pipe adds a finding
    (TOOL, run, "ts-TOOL SUBCOMMAND") from its last stderr lines: unknown for exit 3, critical
    otherwise. When the command ran to its end, that finding is ok, which resolves an earlier
    failure. pipe's exit status is the worst finding's (0 ok, 1 warning, 2 critical,
    3 unknown); a message that cannot be delivered now is queued for the next run.
    """
    from trainserver.alert import outcome
    from trainserver.core import commands
    from trainserver.core.errors import CommandError
    from trainserver.core.findings import exit_status

    argv = list(command)
    status, stdout, stderr, problem = None, "", "", None
    try:
        result = commands.run(argv, changes=False, ok_codes=None, timeout=timeout)
        status, stdout, stderr = result.returncode, result.stdout, result.stderr
    except CommandError as exc:
        problem = (f"timed out after {timeout:g} s and was stopped" if exc.timed_out
                   else "could not be started (is it installed?)")
        stderr = exc.stderr or str(exc)
    sys.stderr.write(stderr)
    found, bad = _read_findings(stdout.splitlines())
    own = outcome.run_finding(argv, status, found, bad, stderr, problem)
    if own is not None:
        found.append(own)
    _Run(tool, now).take_in(found, deliver=not queue_only)
    return exit_status(found)


@cli.command()
@_now_option
@click.pass_obj
def flush(tool, now):
    """Deliver the queued messages now (what ts-alert-flush.service runs when pipe
    --queue-only queued some, and every 15 minutes for what an earlier try left queued)."""
    from trainserver.alert import sink

    run = _Run(tool, now)
    with run.lock:
        doc = sink.load(run.state_file)
        if not doc["queue"]:
            return core_cli.EXIT_OK
        return run.flush(doc)


@cli.command()
@click.pass_obj
def test(tool):
    """Send a test message now (not queued): exit 0 when Telegram accepted it, 2 when not."""
    from trainserver.alert.telegram import DeliveryError

    run = _Run(tool)
    sender = run.sender()
    if sender is None:
        raise click.UsageError("[alert] telegram_chat_id is not set in the config")
    try:
        sender.send(f"<b>trainserver on {run.host}</b>\nts-alert test message: alerts reach this chat.")
    except DeliveryError as exc:
        _log().error("test message not delivered: %s", exc)
        return core_cli.EXIT_CRITICAL
    click.echo("test message delivered")
    return core_cli.EXIT_OK


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--title", metavar="TEXT",
              help="The message's title (default: the first line of the text).")
@click.option("--timeout", default="1h", show_default=True, metavar="DURATION",
              callback=_duration, help="Stop COMMAND after this long (nothing is sent).")
@click.option("--queue-only", is_flag=True,
              help="Queue the message and leave its delivery to ts-alert-flush.service.")
@_now_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def notice(tool, title, timeout, queue_only, now, command):
    """Send one message that is not a problem: the text of standard input, or what COMMAND
    prints.

    For reports that are news, not alarms, such as the monthly usage table
    (`ts-alert notice --queue-only -- ts-quota digest`). The text is sent as it is (in a
    fixed-width block), with TITLE (or its first line) above it, through the same queue as
    every alert: a network failure keeps it for the next run. It opens no problem, so there
    are no reminders and no resolved notice. When COMMAND fails, nothing is sent and notice
    exits 2 (its unit fails, and OnFailure= reports that).
    """
    import html

    from trainserver.alert import sink
    from trainserver.core import commands
    from trainserver.core.errors import ActionError, CommandError

    if command:
        try:
            text = commands.run(list(command), changes=False, timeout=timeout).stdout
        except CommandError as exc:
            raise ActionError(f"no notice sent: {exc}") from None
    else:
        text = sys.stdin.read()
    lines = text.strip("\n").splitlines()
    if title is None and lines:
        title, lines = lines[0], lines[1:]
    if not title and not lines:
        raise click.UsageError("nothing to send: the text is empty")
    run = _Run(tool, now)
    body = f"\n<pre>{html.escape(chr(10).join(lines))}</pre>" if lines else ""
    message = (f"<b>trainserver on {html.escape(run.host)}</b>\n"
               f"<b>{html.escape(title or '')}</b>{body}")
    _log().info("notice: %s", title)
    with run.lock:
        doc = sink.load(run.state_file)
        sink.enqueue(doc, message, run.now)
        if queue_only:
            run.state_file.save(doc)
            run.kick()
            return core_cli.EXIT_OK
        return run.flush(doc)


def _ack_command(record):
    import shlex

    return shlex.join(["ts-alert", "ack", record["tool"], record["check"], record["subject"]])


@cli.command()
@core_cli.json_option
@click.pass_obj
def status(tool, as_json):
    """List the open problems (acknowledged ones apart) and the messages waiting in the queue."""
    import json

    from trainserver.alert import sink

    doc = sink.load(_Run(tool, delivering=False).state_file)
    problems = sorted(doc["open"].values(), key=lambda r: (r["tool"], r["check"], r["subject"]))
    if as_json:
        json.dump({"open": problems, "queue": doc["queue"]}, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return core_cli.EXIT_OK
    stamp = lambda epoch: time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))  # noqa: E731
    active = [r for r in problems if not r.get("ack")]
    silenced = [r for r in problems if r.get("ack")]
    click.echo(f"open problems: {len(active)}")
    for record in active:
        click.echo(f"  {record['severity'].upper():8} {record['tool']}/{record['check']} "
                   f"{record['subject']}: {record['summary']} (since {stamp(record['since'])}, "
                   f"reminders sent {record['reminders']})")
        click.echo(f"           acknowledge: {_ack_command(record)}")
    click.echo(f"acknowledged: {len(silenced)}")
    for record in silenced:
        ack = record["ack"]
        until = f" until {stamp(ack['until'])}" if ack.get("until") is not None else ""
        comment = f": {ack['comment']}" if ack.get("comment") else ""
        click.echo(f"  {record['severity'].upper():8} {record['tool']}/{record['check']} "
                   f"{record['subject']}: {record['summary']} (acknowledged "
                   f"{stamp(ack['time'])}{until}{comment}; reminders again if worse than "
                   f"{ack['severity']})")
    click.echo(f"queued messages: {len(doc['queue'])}")
    for item in doc["queue"]:
        first = sink.plain(item["text"]).splitlines()[1:2] or [""]
        click.echo(f"  queued {stamp(item['created'])}: {first[0]}")
    return core_cli.EXIT_OK


def _change_ack(tool, key_parts, change, now, dry_run=False):
    """Apply `change(open problems, key)` under the lock, queue its notice and deliver it.

    A dry run checks that the problem is open (a usage error when not), then changes, queues
    and sends nothing."""
    from trainserver.alert import decide, sink

    run = _Run(tool, now)
    key = decide.key_from(*key_parts)
    with run.lock:
        doc = sink.load(run.state_file)
        try:
            doc["open"], notice = change(doc["open"], key, run)
        except decide.NotOpen:
            known = sorted(doc["open"].values(), key=lambda r: (r["tool"], r["check"],
                                                                r["subject"]))
            listing = "".join(f"\n  {_ack_command(r)}" for r in known) or " (none is open)"
            raise click.UsageError(f"no open problem {' '.join(key_parts)!r}; the open "
                                   f"ones:{listing}") from None
        if dry_run:
            return core_cli.EXIT_OK
        if notice:
            sink.enqueue(doc, notice, run.now)
        return run.flush(doc)


@cli.command()
@click.argument("tool_name", metavar="TOOL")
@click.argument("check")
@click.argument("subject")
@click.option("--comment", default="", metavar="TEXT", help="Why, or who deals with it.")
@click.option("--for", "duration", metavar="DURATION", callback=_duration,
              help="End the acknowledgement after this long (e.g. 30d); default: until the "
                   "problem gets worse or is resolved.")
@_now_option
@core_cli.dry_run_option
@click.pass_obj
def ack(tool, tool_name, check, subject, comment, duration, now, dry_run):
    """Acknowledge an open problem: no reminders until it gets worse.

    TOOL, CHECK and SUBJECT are as `ts-alert status` shows them (it prints the command to
    paste). The acknowledgement is kept in the alert state (/var/lib/trainserver), so it
    survives reboots and upgrades; it ends when the problem is resolved, when it gets worse
    than it has been since (a counter that rises again, a warning that turns critical), or
    after --for. The chat is told, so everyone knows someone is on it.
    """
    from trainserver.alert import decide, message

    def change(problems, key, run):
        problems, record = decide.acknowledge(problems, key, run.now, comment,
                                              run.now + duration if duration else None)
        if not dry_run:
            _log().info("acknowledged %s/%s %s", tool_name, check, subject)
        return problems, message.acknowledgement(record, run.host)

    status = _change_ack(tool, (tool_name, check, subject), change, now, dry_run)
    click.echo(f"{'would acknowledge' if dry_run else 'acknowledged'} {tool_name}/{check} "
               f"{subject}")
    return status


@cli.command()
@click.argument("tool_name", metavar="TOOL")
@click.argument("check")
@click.argument("subject")
@_now_option
@core_cli.dry_run_option
@click.pass_obj
def unack(tool, tool_name, check, subject, now, dry_run):
    """Remove an acknowledgement: the problem's reminders resume on their schedule."""
    from trainserver.alert import decide, message

    def change(problems, key, run):
        problems, record, had = decide.unacknowledge(problems, key)
        if not had:
            return problems, None
        if not dry_run:
            _log().info("acknowledgement removed: %s/%s %s", tool_name, check, subject)
        return problems, message.acknowledgement(record, run.host, removed=True)

    status = _change_ack(tool, (tool_name, check, subject), change, now, dry_run)
    click.echo(f"{'would not be acknowledged' if dry_run else 'not acknowledged'}: "
               f"{tool_name}/{check} {subject}")
    return status


@cli.command()
@core_cli.reports(core_cli.CHECK)
@core_cli.now_option("Judge the ages as of this time.")
@click.pass_obj
def overdue(tool, as_json, now):
    """Check that every scheduled job succeeded recently enough (hourly, from
    ts-alert-overdue.timer).

    Each job's last success is recorded by the job itself (/var/lib/trainserver/jobs/). A job
    whose last success is older than its limit is a finding: the backup ([backup] max_age,
    26 h) is critical; the restore verification (verify_max_age, 35 days), the weekly prune
    (prune_max_age), the hourly snapshots ([snapshot] max_age) and the checks (smart, storage
    check, gpu-temp, oom, the daily quota report: their max_age) are warnings. A job with no
    success on record is watched from the first run of this check, and is a finding once its
    limit has passed. A limit of "0" turns a job's age check off. The scrub's age is judged
    by ts-storage check, from btrfs's own record.
    """
    from trainserver.core import checks, jobs

    config = tool.config
    if now is None:
        now = time.time()
    state_dir = config["paths"]["state_dir"]
    limits = {job.name: config[job.limit[0]][job.limit[1]] for job in jobs.JOBS.values()}
    records = {name: jobs.load(state_dir, name) for name in jobs.JOBS}
    state_file = tool.state_file("overdue")
    saved = state_file.load({})
    watched = saved.get("watched", {}) if isinstance(saved, dict) else {}
    findings, watched = jobs.assess(jobs.JOBS.values(), limits, records, watched, now)
    state_file.save({"watched": watched})
    return checks.report(findings, as_json)


def _monitor_result():
    """How systemd says the failed unit ended (OnFailure= units get MONITOR_* since v251)."""
    import os

    result = os.environ.get("MONITOR_SERVICE_RESULT")
    if not result:
        return ""
    code, status = os.environ.get("MONITOR_EXIT_CODE", ""), os.environ.get("MONITOR_EXIT_STATUS", "")
    detail = f", {code} {status}".rstrip() if code else ""
    return f"result {result}{detail}"


@cli.command("unit-failed")
@click.argument("unit")
@click.pass_obj
def unit_failed(tool, unit):
    """Alert that systemd UNIT failed, with how it ended and its last journal lines (run by
    OnFailure=ts-unit-failed@%n.service)."""
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
    result = _monitor_result()
    _log().error("alert: unit %s failed%s", unit, f" ({result})" if result else "")
    with run.lock:
        doc = sink.load(run.state_file)
        sink.enqueue(doc, message.unit_failed(unit, run.host, tail, result), run.now)
        return run.flush(doc)


def main():
    core_cli.main(cli)
