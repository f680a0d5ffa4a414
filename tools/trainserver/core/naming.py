"""Names a run goes by: the tool ("backup" for ts-backup) and the command ("ts-backup run").

Findings carry the tool's short name, and "could not run" findings are keyed on the command, so
the boundary of a tool and `ts-alert pipe` around it must name both the same way.
"""

import os

PREFIX = "ts-"
# The group options that take a value (core.cli.tool_group): skipped when looking for the
# subcommand in an argument list.
VALUE_OPTIONS = ("--config",)


def tool_of(program):
    """The tool's short name from its program name or path: /usr/bin/ts-backup -> backup."""
    name = os.path.basename(program)
    return name[len(PREFIX):] if name.startswith(PREFIX) and len(name) > len(PREFIX) else name


def command_label(argv):
    """The program and its subcommand, as people call the run: "ts-backup run"."""
    if not argv:
        return ""
    words = [os.path.basename(argv[0])]
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
            continue
        if arg == "--":
            break
        if arg in VALUE_OPTIONS:
            skip = True
            continue
        if arg.startswith("-"):
            continue
        words.append(arg)
        break
    return " ".join(words)
