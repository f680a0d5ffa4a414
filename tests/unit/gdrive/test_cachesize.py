"""The cache size rule: the smallest of the manual's share, the warning threshold with its
margin, and [snapshot] min_free; never below 0, and never 0 for rclone (0 is "no limit")."""

import pytest

from trainserver.gdrive.cachesize import (FLOOR, SMALLEST_LIMIT, Rule, Space, compute,
                                          drifted, explain)

TB = 10**12
GiB = 2**30
RULE = Rule(share_percent=80, full_warning_percent=90, margin_percent=5, min_free=100 * GiB)


@pytest.mark.parametrize("size,used,cache_used,rule,cache,binding", [
    # 10 TB, 2 TB of data: the manual's 80% of what is left binds (6.4 TB).
    (10 * TB, 2 * TB, 0, RULE, int(6.4 * TB), "share"),
    # Past half the disk the warning threshold binds: 85% of 10 TB - 5 TB = 3.5 TB, not 4 TB.
    (10 * TB, 5 * TB, 0, RULE, int(3.5 * TB), "warning"),
    # The cache already holding 1 TB is not "other": the same figures as with an empty cache.
    (10 * TB, 6 * TB, 1 * TB, RULE, int(3.5 * TB), "warning"),
    # Small disk: min_free binds (1 TB - 0.5 TB left 500 GB - 100 GiB).
    (1 * TB, 500 * 10**9, 0, Rule(80, 95, 0, 100 * GiB), 500 * 10**9 - 100 * GiB, "min_free"),
    # Already past the warning: nothing for the cache.
    (10 * TB, 9 * TB, 0, RULE, 0, "warning"),
    # Full disk, cache more than used would say (other clamps at 0).
    (10 * TB, 1 * TB, 2 * TB, RULE, 8 * TB, "share"),
    # min_free 0 ("guard off") and margin 0: the share still binds.
    (10 * TB, 1 * TB, 0, Rule(80, 90, 0, 0), int(7.2 * TB), "share"),
    # Ties go to the first (the manual's rule) so the explanation is stable.
    (100, 0, 0, Rule(80, 85, 5, 20), 80, "share"),
])
def test_rule_table(size, used, cache_used, rule, cache, binding):
    sizing = compute(Space(size, used, cache_used), rule)
    assert sizing.cache == cache
    assert sizing.binding == binding
    assert sizing.cache == max(0, min(sizing.share, sizing.warning, sizing.min_free))
    assert sizing.other == max(0, used - cache_used)


def test_a_full_cache_keeps_the_filesystem_below_the_warning_and_min_free_free():
    for used in range(0, 10 * TB, TB // 4):
        sizing = compute(Space(10 * TB, used, 0), RULE)
        if sizing.cache == 0:
            continue
        full = used + sizing.cache
        assert full <= 0.85 * 10 * TB + 1
        assert 10 * TB - full >= RULE.min_free


def test_rclone_never_gets_zero_and_small_caches_are_flagged():
    empty = compute(Space(10 * TB, 9 * TB, 0), RULE)
    assert empty.cache == 0 and empty.limit == SMALLEST_LIMIT and empty.too_small
    big = compute(Space(10 * TB, 1 * TB, 0), RULE)
    assert big.limit == big.cache and not big.too_small
    edge = compute(Space(FLOOR * 10, 0, 0), Rule(10, 100, 0, 0))
    assert edge.cache == FLOOR and not edge.too_small


@pytest.mark.parametrize("running,computed,expected", [
    (1000, 1100, False), (1000, 1101, True), (1000, 899, True), (1000, 900, False),
    (0, 5, True), (0, 0, False),
])
def test_drift_of_more_than_ten_percent(running, computed, expected):
    assert drifted(running, computed) is expected


def test_explanation_names_the_binding_figure_and_warns_when_too_small():
    space = Space(10 * TB, 9 * TB, 0, source="btrfs filesystem usage")
    lines = explain(space, RULE, compute(space, RULE))
    text = "\n".join(lines)
    assert "(warning binds)" in text
    assert "too full for a Drive cache" in text
    assert "rclone is given 1.0 MiB" in text
    ok = Space(10 * TB, 2 * TB, 0)
    assert "too full" not in "\n".join(explain(ok, RULE, compute(ok, RULE)))
