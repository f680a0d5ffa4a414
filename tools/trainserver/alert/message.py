"""The digest sent to Telegram: HTML-escaped, split under Telegram's 4096-character limit."""

import html
import time

from trainserver.alert.decide import NEW, REMINDER, RESOLVED, WORSE

# Telegram counts the message text after entity parsing, but splitting the HTML source below the
# limit is always safe: the tags only make the source longer than the text.
LIMIT = 4096

_ICON = {"critical": "\U0001F534", "warning": "\U0001F7E1", "unknown": "\u2754", "ok": "\u2705"}
_SILENCED = "\U0001F515"
_BELL = "\U0001F514"
_ORDER = {NEW: 0, WORSE: 1, REMINDER: 2, RESOLVED: 3}


def _when(epoch):
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


def _line(event):
    finding = event.finding
    severity = finding.severity.label
    if event.kind == RESOLVED:
        head = f"{_ICON['ok']} <b>RESOLVED</b>"
    else:
        head = f"{_ICON[severity]} <b>{severity.upper()}</b>"
    where = html.escape(f"{finding.tool}/{finding.check} {finding.subject}")
    text = f"{head} {where}: {html.escape(finding.summary)}"
    if finding.value is not None and event.kind != RESOLVED:
        detail = f"value {finding.value}"
        if finding.threshold is not None:
            detail += f", threshold {finding.threshold}"
        text += f" ({html.escape(detail)})"
    if event.kind == WORSE:
        lifted = "; its acknowledgement is lifted" if event.acknowledged else ""
        text += f" [worse, was {html.escape(event.previous.label)}{lifted}]"
    elif event.kind == REMINDER:
        text += f" [still open since {_when(event.since)}]"
    elif event.kind == RESOLVED:
        text += f" [was {html.escape(event.previous.label)} since {_when(event.since)}]"
    return text


def digest(events, host):
    """One HTML text for all `events` of a run (empty string when there are none)."""
    if not events:
        return ""
    ordered = sorted(events, key=lambda e: _ORDER[e.kind])
    header = f"<b>trainserver on {html.escape(host)}</b>"
    return "\n".join([header, *(_line(e) for e in ordered)])


def acknowledgement(record, host, removed=False):
    """The notice that a problem was acknowledged (or no longer is), so the team knows."""
    where = html.escape(f"{record['tool']}/{record['check']} {record['subject']}")
    header = f"<b>trainserver on {html.escape(host)}</b>"
    if removed:
        return (f"{header}\n{_BELL} <b>ACKNOWLEDGEMENT REMOVED</b> {where}: "
                f"{html.escape(record['summary'])} [reminders resume]")
    ack = record["ack"]
    until = f" until {_when(ack['until'])}" if ack.get("until") is not None else \
        " until it gets worse or is resolved"
    comment = f" ({html.escape(ack['comment'])})" if ack.get("comment") else ""
    return (f"{header}\n{_SILENCED} <b>ACKNOWLEDGED</b> {where}: "
            f"{html.escape(record['summary'])}{comment} [no reminders{until}]")


def unit_failed(unit, host, journal_tail, result="", limit=LIMIT):
    """The message for a systemd unit that failed: how it ended (`result`, such as "timeout,
    killed TERM"), then its last journal lines.

    The newest lines matter most: older ones are dropped until the message fits in one piece,
    so the <pre> block is never cut in two; how the unit ended is never dropped.
    """
    ended = f": {html.escape(result)}" if result else ""
    head = (f"<b>trainserver on {html.escape(host)}</b>\n"
            f"{_ICON['critical']} <b>UNIT FAILED</b> {html.escape(unit)}{ended}\n")
    lines = [html.escape(line) for line in journal_tail.strip().splitlines()] or ["(no journal lines)"]
    while len(lines) > 1 and len(head) + len("<pre></pre>") + len("\n".join(lines)) > limit:
        lines.pop(0)
    body = "\n".join(lines)[-(limit - len(head) - len("<pre></pre>")):]
    return f"{head}<pre>{body}</pre>"


def split(text, limit=LIMIT):
    """Pieces of `text`, each at most `limit` characters, cut between lines.

    A single line longer than the limit is cut inside, but never inside an entity such as &amp;
    (tags only open a line, in its first few characters, so a cut there is plain text).
    """
    pieces, current = [], ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = limit
            amp = line.rfind("&", 0, cut)
            if amp != -1 and ";" not in line[amp:cut]:
                cut = amp
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:]
        if current and len(current) + 1 + len(line) > limit:
            pieces.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        pieces.append(current)
    return pieces
