"""ts-storage check's rules, on facts parsed from recorded real output."""

import copy

from tests.unit.storage.test_storage_parse import fixture
from trainserver.storage import assess, limits, parse
from trainserver.storage.assess import Facts, Limits

POINT = "/mnt/storage"
NOW = 1_800_000_000.0
UUID = "495223b3-43ab-4e79-b41a-131d65033424"


def healthy_facts(**changes):
    mount = {"target": POINT, "source": "/dev/sda", "uuid": UUID, "fstype": "btrfs",
             "options": ["rw", "noatime"]}
    scrub = parse.scrub_status(fixture("scrub-status-corrected.txt"))
    scrub.update(corrected_errors=0, csum_errors=0, started=NOW - 3 * 86400)
    stats = parse.device_stats(fixture("device-stats-corruption.json"))
    stats[1]["corruption_errs"] = 0
    facts = Facts(POINT, mount=mount, expected_uuid=UUID,
                  show=parse.show(fixture("show-raid10.txt")),
                  usage=parse.usage(fixture("usage-raid10.txt")), stats=stats, scrub=scrub,
                  qgroups=False)
    for name, value in changes.items():
        setattr(facts, name, value)
    return facts


def run(facts, state=None, limits_=None):
    findings, new_state = assess.assess(facts, NOW, limits_ or Limits(), state or {})
    return {(f.check, f.subject): f for f in findings}, new_state


def labels(found, check):
    return {f.severity.label for (c, _), f in found.items() if c == check}


def test_a_healthy_filesystem_is_all_ok():
    found, _ = run(healthy_facts())
    assert {f.severity.label for f in found.values()} == {"ok"}
    assert {c for c, _ in found} == {"mount", "devices", "device-errors", "scrub", "scrub-age",
                                     "space", "data-allocation", "metadata-allocation", "quotas"}


def test_not_mounted_is_critical_when_configured_and_one_ok_finding_when_not():
    found, _ = run(healthy_facts(mount=None))
    assert found[("mount", POINT)].severity.label == "critical"
    assert len(found) == 1  # nothing else can be checked
    # configured without a UUID= entry ([storage] names devices, or another fstab entry)
    found, _ = run(healthy_facts(mount=None, expected_uuid=None))
    assert found[("mount", POINT)].severity.label == "critical"
    assert "configured but not built or not mounted" in found[("mount", POINT)].summary
    # a machine that does not use the storage: said once, at ok
    reason = "not configured: [storage] names no devices and /etc/fstab has no entry for x"
    found, _ = run(healthy_facts(mount=None, expected_uuid=None, unconfigured=reason))
    [(key, finding)] = found.items()
    assert key == ("mount", POINT) and finding.severity.label == "ok"
    assert finding.summary.startswith(reason)
    # whatever the config says, a UUID the fstab expects makes it a problem
    found, _ = run(healthy_facts(mount=None, unconfigured=reason))
    assert found[("mount", POINT)].severity.label == "critical"


def test_another_filesystem_or_a_degraded_mount_is_critical():
    facts = healthy_facts()
    facts.mount = dict(facts.mount, uuid="ffff")
    assert run(facts)[0][("mount", POINT)].severity.label == "critical"
    facts = healthy_facts()
    facts.mount = parse.mount(fixture("findmnt-degraded.json"))
    facts.mount["uuid"] = UUID
    assert run(facts)[0][("mount", POINT)].severity.label == "critical"
    facts = healthy_facts()
    facts.mount = dict(facts.mount, fstype="ext4")
    assert run(facts)[0][("mount", POINT)].severity.label == "critical"


def test_a_missing_device_is_critical():
    found, _ = run(healthy_facts(show=parse.show(fixture("show-degraded.txt")),
                                 usage=parse.usage(fixture("usage-degraded.txt"))))
    devices = found[("devices", POINT)]
    assert devices.severity.label == "critical" and "1 of 4 devices missing" in devices.summary


def test_counted_errors_warn_from_the_first_run_and_every_rise_is_critical():
    facts = healthy_facts()
    facts.stats[2]["read_io_errs"] = 3
    found, state = run(facts)  # the first run: counted before ts-storage looked
    assert labels(found, "device-errors") == {"ok", "warning"}
    (first,) = [f for f in found.values() if f.severity.label == "warning"]
    assert "read_io_errs 3 (first reading" in first.summary
    assert "btrfs device stats --reset" in first.summary
    facts.stats[3]["corruption_errs"] = 1
    found, state = run(facts, state)
    assert labels(found, "device-errors") == {"ok", "warning", "critical"}
    found, state = run(facts, state)  # steady: still counted, still a warning, never ok
    assert labels(found, "device-errors") == {"ok", "warning"}
    assert sum("unchanged since the previous run" in f.summary for f in found.values()) == 2
    for name in ("write_io_errs", "flush_io_errs", "generation_errs", "read_io_errs"):
        rising = copy.deepcopy(facts)
        rising.stats[1][name] += 1
        assert "critical" in labels(run(rising, state)[0], "device-errors"), name
    reset = copy.deepcopy(facts)
    for row in reset.stats.values():
        row.update(read_io_errs=0, corruption_errs=0)
    assert labels(run(reset, state)[0], "device-errors") == {"ok"}


def test_counters_are_remembered_per_filesystem_and_devid():
    facts = healthy_facts()
    _, state = run(facts, {"counters": {"other-fs/1": {"read_io_errs": 9}}})
    assert f"{UUID}/1" in state["counters"] and "other-fs/1" in state["counters"]


def test_scrub_results_and_age():
    corrected = healthy_facts()
    corrected.scrub["corrected_errors"] = 2
    assert run(corrected)[0][("scrub", POINT)].severity.label == "warning"
    bad = healthy_facts()
    bad.scrub["uncorrectable_errors"] = 1
    assert run(bad)[0][("scrub", POINT)].severity.label == "critical"
    old = healthy_facts()
    old.scrub["started"] = NOW - 36 * 86400
    found, _ = run(old)
    assert found[("scrub-age", POINT)].severity.label == "warning"
    assert "36 days ago" in found[("scrub-age", POINT)].summary
    assert run(healthy_facts(scrub=None))[0][("scrub", POINT)].severity.label == "warning"
    aborted = healthy_facts()
    aborted.scrub["status"] = "aborted"
    assert run(aborted)[0][("scrub", POINT)].severity.label == "warning"


def test_space_thresholds():
    def at(percent):
        facts = healthy_facts()
        overall = facts.usage["overall"]
        logical_total = overall["used"] / 2 + overall["free_estimated"]
        overall["used"] = int(2 * logical_total * percent / 100)
        overall["free_estimated"] = int(logical_total * (100 - percent) / 100)
        return run(facts)[0][("space", POINT)].severity.label

    assert (at(50), at(91), at(99)) == ("ok", "warning", "critical")
    exactly = healthy_facts()
    exactly.usage["overall"].update(used=180, free_estimated=10)  # RAID10: 90 of 100 used
    assert run(exactly)[0][("space", POINT)].severity.label == "ok"  # "more than 90%"


def test_a_full_chunk_type_counts_only_without_unallocated_space():
    facts = healthy_facts()
    facts.usage["profiles"]["metadata"]["used"] = facts.usage["profiles"]["metadata"]["size"]
    assert run(facts)[0][("metadata-allocation", POINT)].severity.label == "ok"
    facts.usage["overall"]["device_unallocated"] = 0
    assert run(facts)[0][("metadata-allocation", POINT)].severity.label == "critical"


def test_quotas_and_unreadable_parts():
    found, _ = run(healthy_facts(qgroups=True))
    assert found[("quotas", POINT)].severity.label == "warning"
    facts = healthy_facts(stats=None)
    facts.problems["device error counters"] = "btrfs: exit status 1"
    found, _ = run(facts)
    assert found[("device error counters", POINT)].severity.label == "unknown"


def test_config_rules_across_keys():
    effective = {"storage": {"full_warning_percent": 98, "full_critical_percent": 90,
                             "scrub_max_age": "20d", "scrub_interval": "30d"}}
    problems = limits.config_problems(effective)
    assert len(problems) == 2
    assert problems[0].startswith("[storage] full_warning_percent: must be below")
    assert "scrub_max_age" in problems[1] and "'20d'" in problems[1]
