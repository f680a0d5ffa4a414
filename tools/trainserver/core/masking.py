"""Secret values masked in every log line, message and command line.

A leaf module: it imports nothing of trainserver, so that secrets (which reads the values),
commands (which logs command lines) and errors (whose CommandError carries a command line and
its stderr) can all use it without importing one another.
"""

_REGISTERED = set()
MASK = "********"


def register(value):
    """Mask `value` in every log line and command line from now on."""
    if value and len(value) >= 4:
        _REGISTERED.add(value)


def mask(text):
    """`text` with every registered secret replaced by a mask."""
    for value in sorted(_REGISTERED, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def format_argv(argv):
    """The command as a person would type it, with secrets masked (for logs only)."""
    import shlex  # here: errors imports this module at every tool's start-up

    # Each argument is masked before quoting: a quoted secret no longer matches the mask.
    return shlex.join(mask(str(a)) for a in argv)
