"""The errors the one error boundary (core.cli.main) turns into messages and exit statuses.

They live apart from the code that raises them so that a tool's start-up imports only this
small module, not the config loader, the command runner or the lock. They import only the
masking leaf, never secrets or commands (which import this module).
"""

from trainserver.core.masking import format_argv, mask


class ConfigError(Exception):
    """The config could not be used; `problems` holds one message per problem."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class SecretError(Exception):
    """A secret file is missing, unsafe or empty; the message says how to fix it.

    `state` is a short word for listings: missing, unreadable, not-a-file, too-open or empty.
    """

    def __init__(self, message, state):
        super().__init__(message)
        self.state = state


class LockHeld(Exception):
    """Another run holds the lock, and went on holding it for as long as this run would wait.

    `holder` is what the holder wrote into the lock file (core.lock.Holder), or None.
    """

    def __init__(self, path, pid=None, holder=None, waited=0.0):
        self.path = path
        self.pid = pid if pid is not None else getattr(holder, "pid", None)
        self.holder = holder
        self.waited = waited
        who = holder.describe() if holder is not None else (
            f"process {self.pid}" if self.pid else "another process")
        if waited >= 1:
            what = f"gave up after waiting {_span(waited)} for the lock {path}, held by {who}"
        else:
            what = f"another run holds the lock {path} ({who})"
        super().__init__(f"{what}; nothing was done")


def _span(seconds):
    """A wait in the largest unit that says it (90 s, 12 min, 3 h 5 min)."""
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


class CommandError(Exception):
    """A command failed, timed out or could not be started; stderr is carried, secrets masked.

    `timed_out` tells a command stopped at its timeout from one that never started (both have
    no exit status)."""

    def __init__(self, argv, message, returncode=None, stderr="", timed_out=False):
        self.argv = list(argv)
        self.returncode = returncode
        self.timed_out = timed_out
        self.stderr = mask(stderr or "")
        detail = f": {self.stderr.strip()}" if self.stderr.strip() else ""
        super().__init__(f"{format_argv(argv)}: {message}{detail}")


class ActionError(Exception):
    """An action was refused or could not be done; the message says why and what to do."""


class AlertUnavailable(Exception):
    """ts-alert cannot send alerts at all: its own [alert] settings, its token, or Telegram
    refusing the token. Kept apart from a config error of a check (exit 3, delivered as an
    unknown finding), because nothing can deliver this one: the unit must fail."""
