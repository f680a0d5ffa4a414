"""The table, the digest text and the metrics of a report."""

from trainserver.core import metrics as metrics_module
from trainserver.quota import report
from trainserver.quota.measure import Measurement, Usage

DAY = 86400
T0 = 1_800_000_000


def doc():
    alice = Usage("alice", 10**12, home=1_100 * 10**9, workspace=100 * 10**9,
                  sources={"home": "walk", "workspace": "walk"})
    bob = Usage("bob", 10**12, home=5 * 10**9, sources={"home": "walk", "workspace": "missing"})
    measurement = Measurement([alice, bob], "walk", walk_seconds=1.5, walked_entries=1234,
                              workers=2)
    states = {"alice": {"over_since": T0 - 3 * DAY}, "bob": {"over_since": None}}
    rows = report.rows(measurement, states, T0, 7 * DAY)
    return report.document(rows, {"method": "walk", "walk_seconds": 1.5, "walked_entries": 1234,
                                  "workers": 2, "priority": "idle I/O class"}, T0)


def test_table_has_every_column_and_the_grace_days():
    text = report.render_table(doc()["people"])
    lines = text.splitlines()
    assert lines[0].split() == ["USER", "HOME", "WORKSPACE", "TOTAL", "LIMIT", "OVER", "LIMIT",
                                "SINCE"]
    assert lines[1].split()[:9] == ["alice", "1.10", "TB", "100.0", "GB", "1.20", "TB", "1.00",
                                    "TB"]
    assert "(4 days of grace left)" in lines[1]
    assert lines[2].split()[:4] == ["bob", "5.0", "GB", "-"] and lines[2].endswith("-")


def test_digest_is_one_message_with_the_table_and_who_is_over():
    text = report.digest_text(doc())
    assert text.splitlines()[0].startswith("Storage usage per person, January 2027")
    assert "Over the limit: alice." in text and "USER" in text
    assert "the walk took 1.50 s for 1,234 entries" in text


def test_metrics_render():
    text = metrics_module.render(report.metrics(doc()))
    assert 'trainserver_quota_bytes{kind="total",user="alice"} 1200000000000' in text
    assert f'trainserver_quota_over_limit_since_seconds{{user="alice"}} {T0 - 3 * DAY}' in text
    assert 'trainserver_quota_over_limit_since_seconds{user="bob"} 0' in text
    assert "trainserver_quota_walk_duration_seconds 1.5" in text


def test_a_hard_limit_column_only_where_the_kernel_enforces_one():
    table = doc()["people"]
    assert "HARD" not in report.render_table(table)
    table[0]["hard_limit"] = 10**12
    lines = report.render_table(table).splitlines()
    assert lines[0].split()[5:8] == ["HARD", "LIMIT", "OVER"]
    assert lines[1].split()[9:11] == ["1.00", "TB"] and "(4 days of grace left)" in lines[1]
    assert lines[2].split()[8:] == ["-", "-"]
    text = metrics_module.render(report.metrics({**doc(), "people": table}))
    assert 'trainserver_quota_hard_limit_bytes{user="alice"} 1000000000000' in text
    assert 'hard_limit_bytes{user="bob"}' not in text
