"""The digest's text: HTML escaping and splitting under Telegram's 4096 characters."""

import html

from trainserver.alert import decide, message
from trainserver.core.findings import Finding, Severity


def event(kind, severity="critical", subject="disk <A> & co", summary="5 > 4 sectors", **kw):
    finding = Finding("smart", "realloc", subject, Severity.parse(severity), summary,
                      value=kw.pop("value", None), threshold=kw.pop("threshold", None))
    return decide.Event(kind, finding, **kw)


def test_digest_escapes_html_and_orders_new_first():
    text = message.digest([event("resolved", "ok", since=0, previous=Severity.WARNING),
                           event("new", value=18, threshold=17)], "gpu<box>")
    lines = text.splitlines()
    assert lines[0] == "<b>trainserver on gpu&lt;box&gt;</b>"
    assert "CRITICAL</b> smart/realloc disk &lt;A&gt; &amp; co: 5 &gt; 4 sectors" in lines[1]
    assert "(value 18, threshold 17)" in lines[1]
    assert "RESOLVED" in lines[2] and "[was warning since" in lines[2]
    assert "<A>" not in text


def test_no_events_no_digest():
    assert message.digest([], "host") == ""


def test_split_keeps_every_line_and_stays_under_the_limit():
    lines = [f"line {i} " + "x" * 90 for i in range(200)]
    pieces = message.split("\n".join(lines))
    assert len(pieces) > 1
    assert all(len(p) <= 4096 for p in pieces)
    assert "\n".join(pieces).splitlines() == lines


def test_split_cuts_an_overlong_line_but_never_inside_an_entity():
    line = html.escape("a" * 4094 + "&&&" + "b" * 5000)
    pieces = message.split(line)
    assert all(len(p) <= 4096 for p in pieces)
    assert "".join(pieces) == line
    for piece in pieces:
        assert html.unescape(piece).count("&") == piece.count("&amp;")


def test_split_short_text_is_one_piece():
    assert message.split("a\nb") == ["a\nb"]


def test_unit_failed_keeps_the_newest_journal_lines_in_one_piece():
    tail = "\n".join(f"Nov 28 03:00:{i:02d} ts-smart[1]: line {i} <&>" for i in range(400))
    text = message.unit_failed("ts-smart.service", "box", tail)
    assert len(text) <= 4096
    assert text.endswith("line 399 &lt;&amp;&gt;</pre>")
    assert "line 0 " not in text
    assert text.count("<pre>") == 1 and message.split(text) == [text]


def test_unit_failed_never_drops_how_the_unit_ended():
    """A long journal tail dropped the result line once; it belongs to the head."""
    tail = "\n".join(f"Dec 06 04:10:{i % 60:02d} ts-smart[1]: " + "x" * 200 for i in range(60))
    text = message.unit_failed("ts-smart.service", "box", tail, "result timeout, killed TERM")
    assert len(text) <= 4096
    assert "UNIT FAILED</b> ts-smart.service: result timeout, killed TERM\n<pre>" in text
