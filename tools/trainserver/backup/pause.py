"""Pause Docker containers for the few seconds the snapshots take, through the docker CLI.

Containers are paused one by one with a hard timeout each, and every container a pause was
tried on is unpaused in a `finally`, so none is left paused whatever fails: a `docker pause`
killed at its timeout may still be carried out by the engine afterwards, so it is unpaused
too ("is not paused" is then fine). A container that cannot be paused in time fails the
backup: snapshots of a half-written state are what the pause is there to prevent.
"""

import contextlib
import shutil
import time

from trainserver.core import commands
from trainserver.core.errors import CommandError


class PauseError(Exception):
    """A container could not be paused in time: the backup must not go on."""


@contextlib.contextmanager
def paused(containers, timeout, report):
    """Pause CONTAINERS while the block runs. `report` is a dict that receives "seconds"
    (how long they stayed paused), "skipped" (why no pause happened) and "unpause_errors"."""
    report.setdefault("unpause_errors", [])
    if not containers:
        report["skipped"] = "no containers configured ([backup] containers)"
        yield
        return
    if shutil.which("docker") is None:
        report["skipped"] = (f"docker is not installed, so {', '.join(containers)} were not "
                             f"paused")
        yield
        return
    tried, started = [], time.monotonic()
    try:
        for name in containers:
            tried.append(name)
            try:
                commands.run(["docker", "pause", name], changes=True, timeout=timeout)
            except CommandError as exc:
                raise PauseError(f"container {name} was not paused within {timeout:g} s, so "
                                 f"no snapshot was taken: {exc}") from None
        yield
    finally:
        for name in reversed(tried):
            try:
                commands.run(["docker", "unpause", name], changes=True, timeout=timeout)
            except CommandError as exc:
                if "is not paused" not in (exc.stderr or ""):
                    report["unpause_errors"].append(f"container {name} may still be paused: "
                                                    f"{exc}")
        report["seconds"] = time.monotonic() - started
