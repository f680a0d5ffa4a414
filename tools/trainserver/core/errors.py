"""The errors the one error boundary (core.cli.main) turns into messages and exit statuses.

They live apart from the code that raises them so that a tool's start-up imports only this
small module, not the config loader, the command runner or the lock.
"""


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
    """Another run of the same tool holds its lock."""

    def __init__(self, path, pid):
        self.path = path
        self.pid = pid
        holder = f"process {pid}" if pid else "another process"
        super().__init__(f"another run holds the lock {path} ({holder}); not starting a second one")


class CommandError(Exception):
    """A command failed, timed out or could not be started; stderr is carried, secrets masked."""

    def __init__(self, argv, message, returncode=None, stderr=""):
        from trainserver.core import secrets
        from trainserver.core.commands import format_argv

        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = secrets.mask(stderr or "")
        detail = f": {self.stderr.strip()}" if self.stderr.strip() else ""
        super().__init__(f"{format_argv(argv)}: {message}{detail}")


class ActionError(Exception):
    """An action was refused or could not be done; the message says why and what to do."""
