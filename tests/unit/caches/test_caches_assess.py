"""ts-caches status findings: ok as apply sets it, warning when something was lost."""

from trainserver.caches import assess, walk
from trainserver.caches.plan import Step


def report(**changes):
    usage = walk.Usage("/mnt/storage/cache/pip", bytes=3 * 2**30, files=1200)
    values = dict(name="pip", path="/mnt/storage/cache/pip", shared=True, subvolume=True,
                  usage=usage)
    values.update(changes)
    return assess.CacheReport(**values)


def test_a_cache_as_applied_is_ok_with_its_size():
    finding = assess.cache_finding(report(), "mlusers")
    assert finding.severity.label == "ok"
    assert finding.key == ("caches", "cache", "pip")
    assert finding.value == 3 * 2**30
    assert "3.0 GiB in 1,200 files" in finding.summary and "shared with mlusers" in \
        finding.summary


def test_a_plain_directory_is_ok_and_said():
    finding = assess.cache_finding(report(subvolume=False), "mlusers")
    assert finding.severity.label == "ok" and "plain directory" in finding.summary


def test_lost_group_write_is_a_warning():
    finding = assess.cache_finding(report(differences=["cache/pip: mode 0755, want 2775"]),
                                   "mlusers")
    assert finding.severity.label == "warning"
    assert "mode 0755, want 2775" in finding.summary


def test_entries_the_group_cannot_use_are_a_warning():
    usage = walk.Usage("/x", bytes=10, files=2, unshared=1,
                       examples=[("hub/model.pt", "group 1000")])
    finding = assess.cache_finding(report(usage=usage), "mlusers")
    assert finding.severity.label == "warning"
    assert "hub/model.pt (group 1000)" in finding.summary and "--fix-existing" in \
        finding.summary


def test_apts_unshared_entries_do_not_count():
    usage = walk.Usage("/x", unshared=5)
    finding = assess.cache_finding(report(name="apt", shared=False, usage=usage), "mlusers")
    assert finding.severity.label == "ok" and "root's" in finding.summary


def test_missing_and_unknown():
    assert assess.cache_finding(report(exists=False), "g").severity.label == "warning"
    assert assess.cache_finding(report(unknown="not mounted"), "g").severity.label == "unknown"


def test_file_and_group_findings():
    step = Step("write", "/etc/pip.conf", "etc/pip.conf", "add the ts-caches block")
    assert assess.file_finding("/etc/pip.conf", step, None, None).severity.label == "warning"
    assert assess.file_finding("/etc/x", None, "not ours", None).severity.label == "warning"
    assert assess.file_finding("/etc/x", None, None, None).severity.label == "ok"
    assert assess.group_finding("mlusers", None, []).severity.label == "warning"
    ok = assess.group_finding("mlusers", 994, ["alice", "bob"])
    assert ok.severity.label == "ok" and ok.value == 2
