"""What every ts-* command line shares: common options, lazy config, and one error boundary.

Errors are caught once, here: each known kind becomes one clear message and a documented exit
status; a traceback is shown only with --verbose. A command that reports findings (declared with
`reports`) also prints its failure as a finding under --json, so that `ts-alert pipe` and
anything else reading the findings sees why it failed, at the right severity.

The exit-status contract (trainserver(7)):
- a check exits with its worst finding, as monitoring plugins do: 0 ok, 1 warning, 2 critical,
  3 unknown (it could not check; also usage and config errors);
- an action that did its job exits 0, or 1 when a finding is a warning; an action that could
  not do its job exits 2 (critical), never 1: "only a warning" it is not;
- 70 is a bug, 75 a lock another run held for longer than this run would wait.
Start-up cost matters (tools run from timers, and --help must be quick): this module imports
only click and the error classes; logging, the config loader, the command runner and the lock
are imported when first used (logging alone is ~4 ms).
"""

import functools
import sys
import time

import click

from trainserver import __version__
from trainserver.core.errors import (ActionError, AlertUnavailable, CommandError, ConfigError,
                                     LockHeld, SecretError)

DEFAULT_CONFIG = "/etc/trainserver/trainserver.toml"

EXIT_OK = 0
EXIT_WARNING = 1
EXIT_CRITICAL = 2  # also: an action that could not do its job
EXIT_UNKNOWN = 3  # a check that could not check; also usage and config errors
EXIT_SOFTWARE = 70  # a bug: please report it with the --verbose traceback
# EX_TEMPFAIL from sysexits.h: "try again later": another run held the lock for as long as this
# one would wait. Under --json a finding says who held it (critical for an action, unknown for a
# check), and that is what ts-alert pipe reports.
EXIT_LOCKED = 75
# EX_CONFIG: ts-alert's own settings or token cannot be used, so no alert can be sent at all.
EXIT_ALERT_UNAVAILABLE = 78
EXIT_INTERRUPTED = 130

# What a command's failure is: a check that could not check is unknown, an action that could not
# do its job is critical.
CHECK, ACTION = "check", "action"
_FAILURE = {CHECK: EXIT_UNKNOWN, ACTION: EXIT_CRITICAL}

COMMON_EXIT_STATUS = {
    EXIT_OK: "success",
    EXIT_UNKNOWN: "usage error, or the config file is missing or invalid",
    EXIT_LOCKED: "another run held the lock for longer than this one waits; nothing was done "
                 "(with --json a finding names the holder)",
    EXIT_SOFTWARE: "internal error (run again with --verbose for the traceback)",
    EXIT_INTERRUPTED: "interrupted",
}


class ToolContext:
    """Per-invocation settings; the config is loaded on first use only."""

    def __init__(self, tool, config_path, verbose):
        self.tool = tool
        self.config_path = config_path
        self.verbose = verbose
        self._config = None

    @property
    def config(self):
        if self._config is None:
            from trainserver.core import config as config_module

            self._config = config_module.load(self.config_path)
        return self._config

    def state_file(self, name):
        """The tool's JSON state file NAME.json in the configured state directory."""
        import os

        from trainserver.core.state import StateFile

        return StateFile(os.path.join(self.config["paths"]["state_dir"], f"{name}.json"))

    def write_metrics(self, name, metrics):
        """Write METRICS_DIR/NAME.prom atomically (the directory is created if missing).

        Best effort: a check's findings matter more than its metrics, and a finding reported
        once (a count that rose, a new OOM kill) must not be lost because node-exporter's
        directory is unwritable. A failure is a warning; the path written, or None, is returned.
        """
        from trainserver.core import metrics as metrics_module

        directory = self.config["paths"]["metrics_dir"]
        try:
            return metrics_module.write_textfile(directory, name, metrics)
        except OSError as exc:
            _log().warning("metrics not written to %s (the findings are not affected): %s",
                           directory, exc)
            return None

    def lock(self, name=None, wait=0):
        """The lock NAME (default: the tool's own) in the configured lock directory; `wait`:
        seconds to wait for it before giving up with LockHeld."""
        from trainserver.core.lock import ToolLock

        return ToolLock(name or self.tool, self.config["paths"]["lock_dir"], wait=wait)

    def config_tables(self, tables):
        """(config, problems): only `tables` validated, problems elsewhere returned, not raised.

        For ts-alert, which must go on sending while another tool's table is broken."""
        from trainserver.core import config as config_module

        if self._config is not None:
            return self._config, []
        return config_module.load_tables(self.config_path, tables)


_state = {"tool": "trainserver", "verbose": False, "logging": False, "short": "trainserver",
          "command": None, "kind": None, "json": False}


def _setup_logging(verbose):
    from trainserver.core import logs

    logs.setup(_state["tool"], verbose)
    _state["verbose"] = verbose
    _state["logging"] = True


def _log():
    """The boundary's logger; sets logging up when the error came before the group did."""
    import logging

    if not _state["logging"]:
        _setup_logging(False)
    return logging.getLogger(__name__)


def tool_group(tool, exit_status=None, **attrs):
    """Decorator making a click group for `ts-<tool>` with --config, --verbose and --version.

    `tool` is the package's TOOL (trainserver.<domain>.TOOL), the tool's one name: its findings
    carry it too, and `ts-alert pipe` derives it from the program's name (core.naming).

    `exit_status` maps the tool's own exit statuses to their meaning (for --help and the man page).
    """

    def decorator(function):
        @click.option("--config", "config_path", metavar="PATH", default=DEFAULT_CONFIG,
                      envvar="TRAINSERVER_CONFIG", show_default=True,
                      help="Config file (also $TRAINSERVER_CONFIG).")
        @click.option("-v", "--verbose", is_flag=True,
                      help="Log debug messages, and show tracebacks on errors.")
        @click.version_option(__version__, "--version", message="%(prog)s %(version)s")
        @click.pass_context
        def wrapper(ctx, config_path, verbose, **kwargs):
            # Here, not in an option callback: --help never gets this far and stays fast.
            _setup_logging(verbose)
            _state["short"] = tool
            ctx.obj = ToolContext(tool, config_path, verbose)
            return ctx.invoke(function, **kwargs)

        wrapper.__doc__ = function.__doc__
        wrapper.__click_params__ = wrapper.__click_params__ + getattr(function, "__click_params__", [])
        statuses = {**COMMON_EXIT_STATUS, **(exit_status or {})}
        group = click.group(name=f"ts-{tool}", **attrs)(wrapper)
        group.exit_status = dict(sorted(statuses.items()))
        group.epilog = "Exit status: " + "; ".join(f"{code} {text}" for code, text in group.exit_status.items()) + "."
        return group

    return decorator


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def reports(kind, job=None):
    """Decorator for a command that prints findings: adds --json, and tells the boundary what
    this command's failure is (CHECK: unknown, exit 3; ACTION: critical, exit 2), so that under
    --json the failure is printed as a finding too. `job` names the scheduled job whose runs are
    recorded for `ts-alert overdue` (core.jobs); a dry run records nothing."""

    def decorator(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            ctx = click.get_current_context()
            _state.update(command=f"{ctx.find_root().info_name} {ctx.info_name}", kind=kind,
                          json=bool(kwargs.get("as_json")))
            started = time.time()
            record = job and not kwargs.get("dry_run")
            try:
                status = function(*args, **kwargs)
            except BaseException as exc:
                if record:
                    _record(ctx.obj, job, _status_of(exc, kind), started)
                raise
            if record:
                _record(ctx.obj, job, status if isinstance(status, int) else EXIT_OK, started)
            return status

        return json_option(wrapper)

    return decorator


def _record(tool, job, status, started):
    """Best effort: the job's own outcome matters more than its record (a failure is logged)."""
    from trainserver.core import jobs

    try:
        jobs.record(tool.config["paths"]["state_dir"], job, status, started)
    except Exception as exc:  # never instead of the run's own outcome or error
        _log().warning("the run of %s was not recorded for the age check: %s", job, exc)


def _status_of(error, kind):
    """The exit status the boundary gives `error` in a command of `kind`."""
    failure = _FAILURE.get(kind, EXIT_CRITICAL)
    if isinstance(error, (ConfigError, click.ClickException)):
        return EXIT_UNKNOWN
    if isinstance(error, LockHeld):
        return EXIT_LOCKED
    if isinstance(error, AlertUnavailable):
        return EXIT_ALERT_UNAVAILABLE
    if isinstance(error, (SecretError, ActionError, CommandError)):
        return failure
    if isinstance(error, (KeyboardInterrupt, click.exceptions.Abort)):
        return EXIT_INTERRUPTED
    return EXIT_SOFTWARE


def _dry_run_callback(ctx, param, value):
    from trainserver.core import commands

    commands.set_dry_run(value)
    return value


dry_run_option = click.option(
    "-n", "--dry-run", is_flag=True, callback=_dry_run_callback, expose_value=True,
    help="Show what would be changed, and change nothing.")


def _moment(ctx, param, value):
    """--now's value as Unix seconds (None when not given); a bad one is a usage error."""
    if value is None:
        return None
    from trainserver.core.clock import parse_moment

    try:
        return parse_moment(value).timestamp()
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}") from None


def now_option(help_text):
    """--now TIME: the time a command acts as of, written as every tool takes it (ISO 8601,
    UTC unless it names an offset), passed to the command as `now` in Unix seconds, or None."""
    return click.option("--now", metavar="TIME", callback=_moment,
                        help=f"{help_text} An ISO 8601 time such as 2026-11-28T16:00Z (UTC "
                             "unless it names an offset).")


def _error(message):
    _log().error("%s", message)


def _failure_finding(message, status):
    """Under --json, a reporting command's failure as a finding on stdout, keyed on the command
    (tool, "run", "ts-backup run"): the key `ts-alert pipe` resolves when the command next runs
    to its end."""
    if not (_state["json"] and _state["kind"] and _state["command"]):
        return
    from trainserver.core.findings import Finding, Severity

    if status == EXIT_UNKNOWN or _state["kind"] == CHECK:
        severity = Severity.UNKNOWN
    else:
        severity = Severity.CRITICAL
    finding = Finding(_state["short"], "run", _state["command"], severity,
                      f"{_state['command']} could not do its job: {message}")
    sys.stdout.write(finding.to_json() + "\n")
    sys.stdout.flush()


def main(group, args=None):
    """Run `group` as a console script and exit with its documented status."""
    _state.update(tool=group.name, command=None, kind=None, json=False)
    try:
        status = group.main(args=args, prog_name=group.name, standalone_mode=False)
    except click.exceptions.Exit as exc:
        status = exc.exit_code
    except click.exceptions.Abort:
        status = EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        status = EXIT_UNKNOWN
    except ConfigError as exc:
        for problem in exc.problems:
            _error(problem)
        status = EXIT_UNKNOWN
        _failure_finding("config error: " + "; ".join(exc.problems), status)
    except LockHeld as exc:
        _error(str(exc))
        status = EXIT_LOCKED
        _failure_finding(str(exc), status)
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    except AlertUnavailable as exc:
        _error(f"alerts cannot be sent: {exc}")
        status = EXIT_ALERT_UNAVAILABLE
    except (SecretError, ActionError, CommandError) as exc:
        _error(str(exc))
        if isinstance(exc, CommandError) and _state["verbose"]:
            _log().exception("traceback:")
        status = _status_of(exc, _state["kind"])
        _failure_finding(str(exc), status)
    except Exception as exc:  # the one boundary: anything else is a bug, reported in one line
        if _state["verbose"]:
            _log().exception("internal error: %s", exc)
        else:
            _error(f"internal error: {type(exc).__name__}: {exc} (run with --verbose for details)")
        status = EXIT_SOFTWARE
        _failure_finding(f"internal error: {type(exc).__name__}: {exc}", status)
    sys.exit(status if isinstance(status, int) else EXIT_OK)
