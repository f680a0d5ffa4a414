"""The [storage] rules a schema cannot say (core.config runs them for every tool and for
ts-config check)."""

import pytest

from trainserver.storage import layout, limits


@pytest.mark.parametrize("name", ["/dev/disk/by-id/../../loop4", "/dev/disk/by-id/..",
                                  "/dev/disk/by-id/./ata-X", "/dev/disk/by-id/sub/ata-X",
                                  "/dev/disk/by-id/"])
def test_a_device_name_that_is_no_entry_of_by_id_itself_is_a_config_problem(name):
    effective = {"storage": {"full_warning_percent": 90, "full_critical_percent": 98,
                             "scrub_max_age": "35d", "scrub_interval": "30d",
                             "cache_device": name,
                             "backing_devices": ["/dev/disk/by-id/ata-A", name]}}
    problems = limits.config_problems(effective)
    assert problems == [
        f"[storage] {key}: not an entry of /dev/disk/by-id itself: a stable id has no \".\" "
        f"or \"..\" component and no deeper path (ts-storage discover lists the ids) "
        f"(got {name!r})" for key in ("cache_device", "backing_devices.[1]")]
    effective["storage"].update(cache_device="", backing_devices=["/dev/disk/by-id/ata-A"])
    assert limits.config_problems(effective) == []


def test_a_stable_id_is_a_direct_entry_of_by_id():
    assert layout.stable_id_problem("/dev/disk/by-id/ata-TS-HDD-8T_TSHDD0001") is None
    assert layout.stable_id_problem("/dev/disk/by-id/wwn-0x5000c500a1b2c3d4") is None
    assert layout.stable_id_problem("/dev/sda").startswith("not a stable id")
    assert layout.stable_id_problem("/dev/disk/by-id/..x") is None  # a name, not a component
