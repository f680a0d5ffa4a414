"""Reusing a ts-* tool's own check: run it with --json, turn its findings into one Result.

The sibling tools are found on PATH by their program names (the package installs them as
/usr/bin/ts-*; the tests put wrappers of the source tree's tools first on PATH), and given the
doctor's own --config, so both read the same file.
"""

import shutil

from trainserver.doctor import results
from trainserver.doctor.results import SKIP, Result
from trainserver.doctor.runner import run_command


def which(ctx, program):
    path = (ctx.env or {}).get("PATH") if ctx.env else None
    return shutil.which(program, path=path)


def check(ctx, area, item, program, args, investigate=None):
    """The Result of `PROGRAM --config PATH ARGS...` (ARGS ending in --json)."""
    from trainserver.core.findings import FindingsError, parse_line

    investigate = investigate or " ".join([program, *[a for a in args if a != "--json"]])
    path = which(ctx, program)
    if path is None:
        return Result(area, item, SKIP, f"{program} is not installed", investigate)
    completed = run_command(ctx, [path, "--config", ctx.config_path, *args])
    findings, bad = [], []
    for number, line in enumerate(completed.stdout.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            findings.append(parse_line(line, number))
        except FindingsError as exc:
            bad.append(str(exc))
    if bad and not findings:
        return Result(area, item, results.FAIL,
                      f"{program} printed no findings (exit status {completed.returncode}): "
                      f"{bad[0]}", investigate)
    return results.from_findings(area, item, findings, investigate, completed.returncode,
                                 completed.stderr)
