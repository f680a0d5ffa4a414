"""What every check command does with its findings: print them, and exit with the worst.

With --json, one finding a line for ts-alert (or any other reader); otherwise an aligned table
for people. The exit status is the worst severity (0 ok, 1 warning, 2 critical, 3 unknown).
"""

import sys

# How long a check waits for its own previous run (never for an action's lock: checks have
# their own). A run holding it longer than this is hung.
CHECK_LOCK_WAIT = 600


def report(findings, as_json, stream=None):
    """Print `findings` and return the exit status for them."""
    # Imported here: check tools import this module for CHECK_EXIT_STATUS on their --help path.
    from trainserver.core import findings as findings_module

    stream = stream or sys.stdout
    findings = list(findings)
    if as_json:
        findings_module.write_jsonl(findings, stream)
    elif findings:
        stream.write(findings_module.render_table(findings))
    else:
        stream.write("nothing to check\n")
    return findings_module.exit_status(findings)


CHECK_EXIT_STATUS = {
    0: "every subject is ok",
    1: "at least one warning, no critical finding",
    2: "at least one critical finding",
    3: "unknown: a subject could not be checked, or a usage or config error",
}
