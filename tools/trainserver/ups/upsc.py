"""What upsc prints, read: its `variable: value` lines, and its errors in NUT's own words. Pure.

`upsc NAME` prints every variable of the UPS, one `name: value` line each, sorted by name
(the format of NUT's DDL dumps and dummy-ups's .dev files). On failure it exits 1 and prints
`Error: WHAT` on stderr, where WHAT is upsd's or the client library's own text, e.g.
"Data stale", "Driver not connected", "Unknown UPS", "Connection failure: Connection refused".
NUT's TLS set-up may add a line such as "Init SSL without certificate database" before it.
"""

import re

_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+):\s?(?P<value>.*)$")

# What each of upsc's errors means for the admin; the key is NUT's text up to its first colon,
# lower-cased. The words are added to NUT's own, never in place of them.
MEANINGS = {
    "data stale": "the driver has lost contact with the UPS (cable, USB, or the UPS itself)",
    "driver not connected": "upsd cannot reach the UPS's driver: is it running? "
                            "(systemctl status nut-driver.target)",
    "connection failure": "upsd is not answering (on the UPS's host: systemctl status "
                          "nut-server)",
    "unknown ups": "upsd knows no UPS of that name: compare [ups] name with `upsc -l`",
    "access denied": "upsd refuses this host (LISTEN and ACL in upsd.conf)",
}


def argv(name):
    """The command that reads every variable of UPS `name` (upsname[@host[:port]])."""
    return ["upsc", name]


def parse(text):
    """{variable: value} from upsc's output; lines that are not `name: value` are skipped."""
    variables = {}
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if match:
            variables[match["name"]] = match["value"].strip()
    return variables


def error_text(stderr):
    """NUT's own words from upsc's stderr: the text after "Error: ", or the last line."""
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    for line in lines:
        if line.startswith("Error:"):
            return line[len("Error:"):].strip()
    return lines[-1] if lines else ""


def meaning(nut_words):
    """What NUT's error means for the admin, or "" when it is not one of the known ones."""
    return MEANINGS.get(nut_words.split(":", 1)[0].strip().lower(), "")


def host_of(name):
    """The upsd a UPS name points at: "ups@host:port" -> "host:port"; "localhost" without one."""
    return name.split("@", 1)[1] if "@" in name else "localhost"
