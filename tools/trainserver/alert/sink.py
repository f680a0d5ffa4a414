"""The alert state: open problems and the queue of undelivered messages.

Order of work, so that a crash or a network failure never loses an alert:
1. decide what to say, append the digest to the queue, save the state (atomically);
2. deliver the queue oldest first; after each delivered piece, save again.
A crash between a delivery and the save that follows means that piece is sent twice next run:
at least once, never zero times.
"""

import html
import logging
import re

from trainserver.alert import decide, message
from trainserver.alert.telegram import DeliveryError

log = logging.getLogger(__name__)

_LEVEL = {"critical": logging.ERROR, "warning": logging.WARNING, "unknown": logging.WARNING,
          "ok": logging.INFO}


def empty_state():
    return {"version": 1, "open": {}, "queue": []}


def load(state_file):
    doc = state_file.load(None) or empty_state()
    doc.setdefault("open", {})
    doc.setdefault("queue", [])
    doc["open"] = renamed_tools(doc["open"])
    return doc


def renamed_tools(open_problems):
    """Open problems kept under a tool's program name ("ts-backup", as ts-backup's findings
    said before every tool was named by its short name) moved to the short name ("backup").

    Without it such a problem would stay open forever: no finding names it again, so it is
    never reminded of nor resolved, and the same problem reported under the new name would be
    announced as new, its acknowledgement lost. When both keys are open, the one under the
    short name is the current one and is kept. The state is saved under the new keys by the
    next run that saves it."""
    from trainserver.core.naming import tool_of

    moved = {}
    for key, record in open_problems.items():
        short = tool_of(record.get("tool", ""))
        if short == record.get("tool"):
            continue
        new_key = decide.key_from(short, record["check"], record["subject"])
        if new_key not in open_problems:
            moved[new_key] = dict(record, tool=short)
        log.info("alert state: open problem %s/%s %s is now under %s", record["tool"],
                 record["check"], record["subject"], short)
        moved[key] = None
    if not moved:
        return open_problems
    result = {key: record for key, record in open_problems.items() if key not in moved}
    result.update((key, record) for key, record in moved.items() if record is not None)
    return result


def plain(text):
    """An HTML message as journal text."""
    return html.unescape(re.sub(r"</?(b|pre)>", "", text))


def journal(events):
    """Every alert goes to the journal too, at the finding's priority."""
    for event in events:
        finding = event.finding
        level = logging.INFO if event.kind == decide.RESOLVED else _LEVEL[finding.severity.label]
        log.log(level, "alert %s: %s %s/%s %s: %s", event.kind, finding.severity.label,
                finding.tool, finding.check, finding.subject, finding.summary)


def enqueue(doc, text, now):
    for piece in message.split(text):
        doc["queue"].append({"created": now, "text": piece})


def take_in(doc, findings, now, schedule, host):
    """Update open problems from `findings` and queue the digest; return the events."""
    doc["open"], events = decide.decide(doc["open"], findings, now, schedule)
    journal(events)
    text = message.digest(events, host)
    if text:
        enqueue(doc, text, now)
    return events


def drop_expired(doc, now, max_age):
    kept = [item for item in doc["queue"] if now - item["created"] <= max_age]
    dropped = len(doc["queue"]) - len(kept)
    if dropped:
        log.error("dropped %d queued message(s) older than the queue's age limit; they were "
                  "logged to the journal when first queued", dropped)
    doc["queue"] = kept


def deliver(doc, sender, save):
    """Send the queue oldest first, saving after each piece; return (sent, error or None)."""
    sent = 0
    while doc["queue"]:
        item = doc["queue"][0]
        try:
            sender.send(item["text"])
        except DeliveryError as exc:
            if exc.status == 400:
                # Telegram refuses this message itself (it will never be accepted): keep it in
                # the journal and let the rest of the queue through.
                log.error("telegram refused a message (%s); it is dropped from the queue:\n%s",
                          exc, plain(item["text"]))
                doc["queue"].pop(0)
                save(doc)
                continue
            log.warning("telegram: not delivered (%s); %d message(s) stay queued for the next run",
                        exc, len(doc["queue"]))
            return sent, exc
        doc["queue"].pop(0)
        sent += 1
        save(doc)
    return sent, None
