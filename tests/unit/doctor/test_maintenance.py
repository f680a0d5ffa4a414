"""The monthly maintenance digest's rules, against apt's real simulation output."""

import pathlib

from trainserver.doctor import maintenance as m

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "doctor"
DAY = 86400
NOW = 1_800_000_000.0


def test_apt_simulation_names_upgrades_and_security_ones():
    text = (FIXTURES / "apt-get-simulate-bookworm.txt").read_text()
    upgrades = {upgrade.name: upgrade for upgrade in m.parse_apt_simulation(text)}
    # Conf lines and the summary are not upgrades; each Inst line is one.
    assert set(upgrades) == {"base-files", "bash", "dpkg", "libpam0g", "libpam-modules-bin",
                             "libpam-modules", "libpam-runtime"}
    assert upgrades["bash"] == m.Upgrade("bash", "5.2.15-2+b8", "5.2.15-2+b13", False)
    assert upgrades["libpam0g"].security and upgrades["libpam-modules-bin"].security
    assert not upgrades["base-files"].security


def test_a_new_package_and_a_second_origin_are_read():
    text = ("Inst linux-image-6.1.0-40-amd64 (6.1.153-1 Debian-Security:12/stable-security, "
            "Debian:12.12/stable [amd64])\n"
            "Inst openssl [3.0.15-1~deb12u1] (3.0.17-1~deb12u2 Ubuntu:24.04/noble-security [amd64])\n")
    upgrades = m.parse_apt_simulation(text)
    assert [(u.name, u.old, u.security) for u in upgrades] == [
        ("linux-image-6.1.0-40-amd64", "", True), ("openssl", "3.0.15-1~deb12u1", True)]


def test_upgrades_section_names_security_updates_and_the_lists_age():
    upgrades = [m.Upgrade(f"pkg{i}", "1", "2", i % 2 == 0) for i in range(30)]
    lines = m.upgrades_section(upgrades, 3 * DAY)
    assert lines[0].startswith("Upgrades: 30 pending, 15 of them security updates")
    assert "3 days ago" in lines[0]
    assert lines[1].startswith("  security: pkg0, pkg10") and lines[1].endswith("and 3 more")
    assert m.upgrades_section([], None) == [
        "Upgrades: none pending (apt's package lists are from an unknown date)."]


def test_images_replaced_by_a_pull_or_old_are_named():
    fresh = m.Image("traefik:v3.1", NOW - 10 * DAY, "traefik", "sha256:a", "sha256:a")
    pulled = m.Image("grafana/grafana:11.1.0", NOW - 10 * DAY, "grafana", "sha256:b", "sha256:c")
    old = m.Image("prom/prometheus:v2.53.0", NOW - 200 * DAY, "prometheus", "sha256:d", "sha256:d")
    lines = m.images_section([fresh, pulled, old], NOW, 92 * DAY)
    assert lines[0] == ("Images: a newer image is already pulled for grafana/grafana:11.1.0. "
                        "Run: ts-docker up")
    assert "older than 92 days" in lines[1]
    assert lines[2] == "  prom/prometheus:v2.53.0: built 200 days ago"
    assert m.images_section([fresh], NOW, 92 * DAY) == [
        "Images: all 1 younger than 92 days, none replaced."]
    assert m.images_section([], NOW, 92 * DAY) == ["Images: no container of the stack is running."]


def test_failover_age_is_a_reminder_when_due():
    assert "none recorded" in m.failover_section(None, NOW, 92 * DAY)[0]
    done = {"time": NOW - 10 * DAY, "note": "pulled sdb"}
    assert m.failover_section(done, NOW, 92 * DAY) == [
        "Failover test: done on 2027-01-05 (pulled sdb), 10 days ago."]
    due = {"time": NOW - 100 * DAY, "note": ""}
    assert m.failover_section(due, NOW, 92 * DAY)[0].startswith("Failover test: due; the last")


def test_ups_section_reads_the_self_test_findings():
    assert m.ups_section([{"tool": "ups", "check": "config", "subject": "ups", "severity": "ok",
                           "summary": "not configured ([ups] name is empty)"}]) == [
        "UPS: not configured ([ups] name)."]
    findings = [{"check": "charge", "severity": "ok", "summary": "100%"},
                {"check": "self-test", "severity": "warning", "summary": "last self-test 40 days ago"}]
    assert m.ups_section(findings) == ["UPS self-test: last self-test 40 days ago (warning)"]


def test_ups_section_says_when_ts_ups_could_not_do_its_job():
    # As ts-ups check --json reports a config it cannot read: not "no self-test reported".
    findings = [{"tool": "ups", "check": "run", "subject": "ts-ups check", "severity": "unknown",
                 "summary": "ts-ups check could not do its job: config error: /x.toml: no such "
                            "file"}]
    assert m.ups_section(findings) == [
        "UPS: ts-ups check could not do its job: config error: /x.toml: no such file (unknown)"]


def test_digest_text_has_a_title_and_every_section():
    text = m.digest_text([["a"], ["b", "  c"]], NOW)
    assert text == "Monthly maintenance for 2027-01\na\nb\n  c\n"


def test_docker_times_with_nanoseconds_and_zones():
    assert m._docker_time("2024-06-01T12:00:00.123456789Z") == 1717243200.0
    assert m._docker_time("2024-06-01T14:00:00+02:00") == 1717243200.0
    assert m._docker_time("garbage") == 0.0
