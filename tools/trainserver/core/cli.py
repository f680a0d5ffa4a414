"""What every ts-* command line shares: common options, lazy config, and one error boundary.

Errors are caught once, here: each known kind becomes one clear message and a documented exit
status; a traceback is shown only with --verbose.
Start-up cost matters (tools run from timers, and --help must be quick): this module imports
only click and the error classes; logging, the config loader, the command runner and the lock
are imported when first used (logging alone is ~4 ms).
"""

import sys

import click

from trainserver import __version__
from trainserver.core.errors import ActionError, CommandError, ConfigError, LockHeld, SecretError

DEFAULT_CONFIG = "/etc/trainserver/trainserver.toml"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CRITICAL = 2
EXIT_UNKNOWN = 3  # also usage and config errors, as monitoring plugins do
EXIT_SOFTWARE = 70  # a bug: please report it with the --verbose traceback
# EX_TEMPFAIL from sysexits.h: "try again later". Units list it in SuccessExitStatus= so that a
# timer run that finds the previous run still busy is not a failure.
EXIT_LOCKED = 75
EXIT_INTERRUPTED = 130

COMMON_EXIT_STATUS = {
    EXIT_OK: "success",
    EXIT_UNKNOWN: "usage error, or the config file is missing or invalid",
    EXIT_LOCKED: "another run of the same tool holds its lock; nothing was done "
                 "(units treat this as success)",
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

    def lock(self, wait=0):
        """The tool's lock, in the configured lock directory (`wait`: seconds to wait for it)."""
        from trainserver.core.lock import ToolLock

        return ToolLock(self.tool, self.config["paths"]["lock_dir"], wait=wait)


_state = {"tool": "trainserver", "verbose": False, "logging": False}


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
    return logging.getLogger("trainserver")


def tool_group(tool, exit_status=None, **attrs):
    """Decorator making a click group for `ts-<tool>` with --config, --verbose and --version.

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


def _dry_run_callback(ctx, param, value):
    from trainserver.core import commands

    commands.set_dry_run(value)
    return value


dry_run_option = click.option(
    "-n", "--dry-run", is_flag=True, callback=_dry_run_callback, expose_value=True,
    help="Show what would be changed, and change nothing.")


def _error(message):
    _log().error("%s", message)


def main(group, args=None):
    """Run `group` as a console script and exit with its documented status."""
    _state["tool"] = group.name
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
    except SecretError as exc:
        _error(str(exc))
        status = EXIT_UNKNOWN
    except LockHeld as exc:
        _log().warning("%s", exc)
        status = EXIT_LOCKED
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    except ActionError as exc:
        _error(str(exc))
        status = EXIT_FAILURE
    except CommandError as exc:
        _error(str(exc))
        if _state["verbose"]:
            _log().exception("traceback:")
        status = EXIT_FAILURE
    except Exception as exc:  # the one boundary: anything else is a bug, reported in one line
        if _state["verbose"]:
            _log().exception("internal error: %s", exc)
        else:
            _error(f"internal error: {type(exc).__name__}: {exc} (run with --verbose for details)")
        status = EXIT_SOFTWARE
    sys.exit(status if isinstance(status, int) else EXIT_OK)
