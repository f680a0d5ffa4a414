"""The one place external programs are started, and the one place --dry-run is kept.

Commands are argument lists, never shell strings. Each run has a timeout, and a failure carries
the program's stderr. A command marked as changing the system is logged and skipped under
`--dry-run`, while read-only commands still run so that plans stay accurate.

The flag is set once, by core.cli.dry_run_option, and read only through `dry_run()`: code that
changes the system without a command (a file written, a subvolume made through btrfsutil) asks
`dry_run()` before it acts, so there is one switch and one way to read it.
"""

import logging

from trainserver.core.errors import CommandError
from trainserver.core.masking import format_argv  # noqa: F401  (callers import it from here)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 300


class Result:
    """What a command printed and how it ended (a plain class: dataclasses cost start-up time)."""

    __slots__ = ("argv", "returncode", "stdout", "stderr", "dry_run")

    def __init__(self, argv, returncode, stdout, stderr, dry_run=False):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.dry_run = dry_run

    def __repr__(self):
        return f"Result(argv={self.argv!r}, returncode={self.returncode!r}, dry_run={self.dry_run!r})"


_state = {"dry_run": False}


def set_dry_run(enabled):
    """Set by core.cli.dry_run_option (and by tests); nothing else sets it."""
    _state["dry_run"] = bool(enabled)


def dry_run():
    """True under --dry-run: change nothing, say what would be changed."""
    return _state["dry_run"]


def run(argv, *, changes, timeout=DEFAULT_TIMEOUT, ok_codes=(0,), input=None, env=None, cwd=None):
    """Run `argv`; return a Result, or raise CommandError.

    changes: True when the command changes the system (skipped under --dry-run).
    ok_codes: exit statuses that are not failures (None: every status is returned).
    input: text written to the command's standard input.
    """
    if isinstance(argv, (str, bytes)):
        raise TypeError("commands are argument lists, never shell strings")
    argv = [str(a) for a in argv]
    if not argv:
        raise ValueError("empty command")
    if changes and dry_run():
        log.info("dry run, not running: %s", format_argv(argv))
        return Result(argv, 0, "", "", dry_run=True)
    log.debug("running: %s", format_argv(argv))

    from plumbum import local  # imported here: it costs ~70 ms of every tool's start-up
    from plumbum.commands.processes import CommandNotFound, ProcessTimedOut

    try:
        command = local[argv[0]][argv[1:]]
    except CommandNotFound:
        raise CommandError(argv, "program not found (is its package installed?)") from None
    if env:
        command = command.with_env(**env)
    if cwd:
        command = command.with_cwd(cwd)
    if input is not None:
        command = command << input
    try:
        returncode, stdout, stderr = command.run(retcode=None, timeout=timeout)
    except ProcessTimedOut:
        raise CommandError(argv, f"timed out after {timeout} s", timed_out=True) from None
    except FileNotFoundError:
        # An absolute path plumbum did not look up: the same words as a name not on PATH.
        raise CommandError(argv, "program not found (is its package installed?)") from None
    except OSError as exc:
        raise CommandError(argv, f"could not start: {exc.strerror}") from None
    if ok_codes is not None and returncode not in ok_codes:
        raise CommandError(argv, f"exit status {returncode}", returncode, stderr)
    return Result(argv, returncode, stdout, stderr)
