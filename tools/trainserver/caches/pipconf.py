"""/etc/pip.conf: ts-caches owns one marked block in it, the admin everything else. Pure logic.

Why a block in pip.conf at all, when PIP_CACHE_DIR is in the environment: pip reads
/etc/pip.conf in every run, also where the environment files are not read (`sudo pip`, whose
env_reset drops the variable; cron jobs; system services; `ssh host pip ...`, which starts no
login shell). The variable still wins over the file, so a person can point pip elsewhere.

The block goes inside the admin's [global] section when there is one (pip's configparser
refuses a second [global]), else it brings its own [global] at the end. A cache-dir (or
no-cache-dir) the admin wrote anywhere outside the block is theirs to keep: then no block is
written, since a second key in the same section would make pip refuse the whole file.
"""

import re

from trainserver.caches.spec import BLOCK_BEGIN, BLOCK_END

_GLOBAL = re.compile(r"^\s*\[\s*global\s*\]\s*$")
_ADMIN_KEY = re.compile(r"^\s*(no[-_])?cache[-_]dir\s*[=:]", re.IGNORECASE)


class PipConfError(ValueError):
    """pip.conf holds a broken ts-caches block: nothing is changed."""


def split_block(text):
    """(the admin's lines, the block's lines or None): the file without ts-caches' block."""
    lines = text.splitlines()
    begins = [i for i, line in enumerate(lines) if line.strip() == BLOCK_BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == BLOCK_END]
    if not begins and not ends:
        return lines, None
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise PipConfError("its ts-caches block is broken (a BEGIN or END line is missing or "
                           "repeated): mend or remove the block by hand")
    start, end = begins[0], ends[0]
    return lines[:start] + lines[end + 1:], lines[start:end + 1]


def admin_setting(lines):
    """The admin's own cache-dir or no-cache-dir line, or None."""
    for line in lines:
        if _ADMIN_KEY.match(line):
            return line.strip()
    return None


def merge(text, cache_dir):
    """(new text, note): `text` with the block for `cache_dir` (None: without any block).

    The admin's lines stay as they are, in their order, comments included. The note says why
    no block was written, or is None."""
    lines, _ = split_block(text)
    note = None
    if cache_dir is not None:
        own = admin_setting(lines)
        if own:
            note = f"the admin's own {own!r} is kept: no ts-caches block"
            cache_dir = None
    if cache_dir is None:
        return _join(lines), note
    body = [f"cache-dir = {cache_dir}"]
    at = next((i for i, line in enumerate(lines) if _GLOBAL.match(line)), None)
    if at is not None:
        lines = lines[:at + 1] + [BLOCK_BEGIN] + body + [BLOCK_END] + lines[at + 1:]
    else:
        if lines and lines[-1].strip():
            lines.append("")
        lines += [BLOCK_BEGIN, "[global]"] + body + [BLOCK_END]
    return _join(lines), note


def _join(lines):
    return "\n".join(lines) + "\n" if lines else ""

