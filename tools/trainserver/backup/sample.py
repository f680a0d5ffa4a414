"""Which part of the last backup `verify` restores and compares: pure logic.

Whole directories, not single files: restic slows down with many --include patterns (500
patterns measured 5x slower than one directory, docs/measured.md), so the sample is a few random
directories whose trees fit the byte budget, and every file under them is compared.
"""

import os


def subtree_sizes(files):
    """{directory: (file count, bytes)} of every directory holding FILES ({path: size}) in its
    tree, the root ("") included."""
    sizes = {}
    for path, size in files.items():
        directory = os.path.dirname(path)
        while True:
            count, total = sizes.get(directory, (0, 0))
            sizes[directory] = (count + 1, total + size)
            if not directory:
                break
            directory = os.path.dirname(directory)
    return sizes


def _related(a, b):
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def choose(files, rng, max_dirs=20, max_bytes=2**30):
    """Random directories (relative paths) whose trees together stay within MAX_BYTES; none
    inside another. FILES: {relative path: size}. An empty tree gives []."""
    sizes = subtree_sizes(files)
    candidates = sorted(d for d, (count, total) in sizes.items() if d and count and
                        total <= max_bytes)
    if not candidates:
        # Every directory is over the budget: its smallest one, so verify still reads data.
        candidates = sorted((d for d in sizes if d), key=lambda d: sizes[d][1])[:1]
    rng.shuffle(candidates)
    chosen, used = [], 0
    for directory in candidates:
        if len(chosen) >= max_dirs:
            break
        total = sizes[directory][1]
        if chosen and used + total > max_bytes:
            continue
        if any(_related(directory, other) for other in chosen):
            continue
        chosen.append(directory)
        used += total
    return sorted(chosen)


def files_under(files, directories):
    """The FILES under any of DIRECTORIES, sorted."""
    return sorted(path for path in files
                  if any(path.startswith(directory + "/") for directory in directories))
