"""Run a program with snapshots bound over their original paths; started under
`unshare --mount --propagation private`, so the binds exist for that program alone.

    python3 -m trainserver.backup.bindrun SNAPSHOT=ORIGINAL ... -- PROGRAM ARG ...

restic then backs up /mnt/storage/homes/alice while reading the read-only snapshot: the paths
it records stay the same from run to run, so its parent snapshot, change detection and
`forget` grouping work, and the data is the state at snapshot time. Everything else on the
machine keeps seeing the live subvolumes. Exits 125 when a bind fails, before the program runs.
"""

import os
import subprocess
import sys


def parse(argv):
    """([(snapshot, original)], program argv) from the command line."""
    if "--" not in argv:
        raise ValueError("usage: bindrun SNAPSHOT=ORIGINAL ... -- PROGRAM ARG ...")
    split = argv.index("--")
    binds = []
    for spec in argv[:split]:
        snapshot, sep, original = spec.partition("=")
        if not sep or not snapshot.startswith("/") or not original.startswith("/"):
            raise ValueError(f"not SNAPSHOT=ORIGINAL with absolute paths: {spec!r}")
        binds.append((snapshot, original))
    program = argv[split + 1:]
    if not program:
        raise ValueError("no program after --")
    # A parent before the subvolumes nested in it: a child's bind lands inside the parent's
    # snapshot (where the nested subvolume is an empty directory), not under the live one.
    binds.sort(key=lambda pair: pair[1].rstrip("/").count("/"))
    return binds, program


def main(argv=None):
    try:
        binds, program = parse(sys.argv[1:] if argv is None else argv)
    except ValueError as exc:
        print(f"bindrun: {exc}", file=sys.stderr)
        return 125
    for snapshot, original in binds:
        done = subprocess.run(["mount", "--bind", snapshot, original], capture_output=True,
                              text=True)
        if done.returncode != 0:
            print(f"bindrun: cannot bind {snapshot} over {original}: {done.stderr.strip()}",
                  file=sys.stderr)
            return 125
    os.execvp(program[0], program)
    return 127  # not reached: execvp raises when it cannot run the program


if __name__ == "__main__":
    sys.exit(main())
