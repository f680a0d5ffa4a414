"""bcache: sysfs value parsing and the check's rules (the sysfs reader itself runs for real in
the guest: debian-tests/storage-health)."""

import pytest

from tests.unit.storage.test_storage_assess import healthy_facts, run
from trainserver.storage import bcache


@pytest.mark.parametrize("text, mode", [
    ("writethrough [writeback] writearound none", "writeback"),
    ("[writethrough] writeback writearound none", "writethrough"),
    ("", None),
])
def test_cache_mode_is_the_bracketed_one(text, mode):
    assert bcache.parse_cache_mode(text) == mode


@pytest.mark.parametrize("text, size", [
    ("0.0k", 0), ("512", 512), ("1.5M", 1572864), ("12G", 12 * 2**30), ("2.0k", 2048),
])
def test_bcache_sizes(text, size):
    assert bcache.parse_size(text) == size


def test_a_size_that_is_not_one_is_refused():
    with pytest.raises(ValueError):
        bcache.parse_size("lots")


def device(**changes):
    base = {"name": "bcache0", "backing": "sda", "uuid": "0f1e2d3c-aaaa-bbbb-cccc-000000000001",
            "state": "clean", "cache_mode": "writeback", "dirty_bytes": 0, "hit_ratio": 87,
            "cache_set": "5e3c0bd9-0000-1111-2222-333344445555", "cache_io_errors": 0}
    return {**base, **changes}


def bcache_label(dev):
    found, _ = run(healthy_facts(bcache=[dev]))
    [(key, finding)] = [(k, f) for k, f in found.items() if k[0] == "bcache"]
    return finding


def test_writeback_and_attached_is_ok_and_named_by_disk_and_uuid_not_by_bcacheN():
    finding = bcache_label(device())
    assert finding.severity.label == "ok"
    assert finding.subject == "bcache on sda (0f1e2d3c)"
    assert "hit ratio 87%" in finding.summary


def test_detached_inconsistent_and_stuck_dirty_data_are_critical():
    assert bcache_label(device(state="no cache", cache_set=None)).severity.label == "critical"
    assert bcache_label(device(state="inconsistent")).severity.label == "critical"
    stuck = bcache_label(device(state="dirty", dirty_bytes=2**20, cache_io_errors=3))
    assert stuck.severity.label == "critical" and "I/O errors" in stuck.summary


def test_dirty_data_alone_is_normal_in_writeback():
    assert bcache_label(device(state="dirty", dirty_bytes=2**20)).severity.label == "ok"


def test_a_mode_other_than_writeback_is_a_warning():
    assert bcache_label(device(cache_mode="writethrough")).severity.label == "warning"
