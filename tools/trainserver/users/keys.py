"""SSH public key lines and the block of authorized_keys that ts-users manages. Pure logic.

ts-users owns only the lines between its two marker lines; everything else in a person's
authorized_keys is the person's own and is left as it is. When the block is first added to a
file that has none, lines holding a key the config names are taken into the block, so that
taking a key out of [users] later really revokes it.
"""

import base64
import binascii
import struct

BEGIN = ("# managed by ts-users: the keys of [users] in the trainserver config; change them "
         "there, not here")
END = "# end of the keys managed by ts-users; lines below and above are your own"
KEY_PREFIXES = ("ssh-", "ecdsa-", "sk-")


class NotAKey(ValueError):
    """A line that is not a public key; the message says why."""


def _tokens(line):
    """Split at blanks outside double quotes (authorized_keys options may quote blanks)."""
    tokens, current, quoted, escaped = [], "", False, False
    for char in line:
        if escaped:
            current += char
            escaped = False
        elif char == "\\" and quoted:
            current += char
            escaped = True
        elif char == '"':
            current += char
            quoted = not quoted
        elif char in " \t" and not quoted:
            if current:
                tokens.append(current)
            current = ""
        else:
            current += char
    if quoted:
        raise NotAKey("an option's quote is not closed")
    if current:
        tokens.append(current)
    return tokens


def parse(line):
    """(options, key type, base64 blob, comment) of an authorized_keys line, or NotAKey.

    The blob must be base64 whose first field names the same key type as the line: what
    `ssh-keygen -l` would accept, without running it."""
    tokens = _tokens(line.strip())
    index = next((i for i, t in enumerate(tokens) if t.startswith(KEY_PREFIXES)), None)
    if index is None:
        raise NotAKey("no key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-..., sk-...)")
    if index > 1:
        raise NotAKey("more than one word before the key type")
    if index + 1 >= len(tokens):
        raise NotAKey(f"no key after the type {tokens[index]}")
    kind, blob = tokens[index], tokens[index + 1]
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        named = raw[4:4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        raise NotAKey(f"the key after {kind} is not base64 key data") from None
    if named != kind:
        raise NotAKey(f"the key data is of type {named!r}, the line says {kind}")
    options = tokens[0] if index == 1 else ""
    return options, kind, blob, " ".join(tokens[index + 2:])


def identity(line):
    """(type, blob) of a key line, or None for a line that holds no key."""
    try:
        _, kind, blob, _ = parse(line)
    except NotAKey:
        return None
    return kind, blob


def collect(inline, file_lines, keys_file):
    """(keys, problems) of one person: the inline keys, then the keys file's lines (blank
    lines and # comments skipped), each once, in that order."""
    keys, problems, seen = [], [], set()
    sources = [(f"ssh_keys[{n}]", line) for n, line in enumerate(inline)]
    sources += [(f"{keys_file} line {n}", line) for n, line in enumerate(file_lines or (), 1)
                if line.strip() and not line.lstrip().startswith("#")]
    for where, line in sources:
        line = line.strip()
        try:
            _, kind, blob, _ = parse(line)
        except NotAKey as exc:
            problems.append(f"{where} is not an SSH public key: {exc} (got {_short(line)!r})")
            continue
        if (kind, blob) not in seen:
            seen.add((kind, blob))
            keys.append(line)
    return keys, problems


def _short(line, width=60):
    return line if len(line) <= width else line[:width - 3] + "..."


def split(text):
    """(lines before the block, managed lines or None when there is no block, lines after)."""
    lines = text.splitlines()
    try:
        begin = lines.index(BEGIN)
        end = lines.index(END, begin + 1)
    except ValueError:
        return lines, None, []
    return lines[:begin], lines[begin + 1:end], lines[end + 1:]


def merge(text, keys):
    """The authorized_keys text with `keys` as ts-users's block and the person's own lines
    kept. `text` None: no file yet."""
    before, managed, after = split(text or "")
    if managed is None:
        wanted = {identity(key) for key in keys}
        # The first time: a configured key already in the file moves into the block.
        own = [line for line in before if identity(line) is None or identity(line) not in wanted]
        before, after = [], own
    block = [BEGIN, *keys, END]
    return "\n".join(before + block + after) + "\n"


def counts(text):
    """(keys in ts-users's block, the person's own key lines) of an authorized_keys text."""
    before, managed, after = split(text or "")
    own = sum(1 for line in before + after if identity(line) is not None)
    return (sum(1 for line in managed or () if identity(line) is not None), own)
