"""The probes' own decisions, on temporary files, local sockets and stand-in programs (no
root): what is SKIP, what is PASS and what is FAIL."""

import datetime as dt
import os
import socket
import threading
import time

from trainserver.doctor import tools
from trainserver.doctor.areas import alerts, backups, docker, network, storage, timers, users
from trainserver.doctor.results import FAIL, PASS, SKIP

UTC = dt.timezone.utc


# storage ---------------------------------------------------------------------------------

def test_storage_not_configured_skips_every_item(make_ctx):
    ctx = make_ctx()
    for probe in storage.probes(ctx.config)[:2]:
        result = probe.function(ctx)
        assert result.status == SKIP
        assert result.reason.startswith("storage not configured: [storage] names no devices "
                                        "and ")


def fake_bcache(sysfs, name, backing, mode):
    directory = sysfs / "devices" / backing / "bcache"
    directory.mkdir(parents=True)
    (directory / "cache_mode").write_text(mode + "\n")
    (directory / "state").write_text("clean\n")
    (directory / "dirty_data").write_text("0.0k\n")
    block = sysfs / "block" / name
    block.mkdir(parents=True)
    (block / "bcache").symlink_to(directory)


def test_bcache_in_writeback_passes_and_another_mode_fails_with_the_fix(make_ctx, tmp_path):
    sysfs = tmp_path / "sys"
    fake_bcache(sysfs, "bcache0", "sdb", "writethrough [writeback] writearound none")
    ctx = make_ctx()
    result = storage.bcache_mode(ctx, str(sysfs))
    assert (result.status, result.reason) == (PASS, "1 bcache device(s) in writeback: bcache0")
    fake_bcache(sysfs, "bcache1", "sdc", "[writethrough] writeback writearound none")
    result = storage.bcache_mode(ctx, str(sysfs))
    assert result.status == FAIL
    assert result.reason == "not writeback: bcache1 on sdc: writethrough"
    assert result.investigate == "echo writeback > /sys/block/bcache1/bcache/cache_mode"


def test_no_bcache_skips_unless_a_cache_device_is_configured(make_ctx, tmp_path):
    empty = tmp_path / "sys"
    empty.mkdir()
    assert storage.bcache_mode(make_ctx(), str(empty)).status == SKIP
    ctx = make_ctx('[storage]\ncache_device = "/dev/disk/by-id/nvme-x"\n')
    result = storage.bcache_mode(ctx, str(empty))
    assert result.status == FAIL and "nvme-x" in result.reason
    ctx = make_ctx('[storage]\ncache_device = "/dev/disk/by-id/nvme-x"\ncache = "none"\n')
    assert storage.bcache_mode(ctx, str(empty)).status == SKIP


# backups ---------------------------------------------------------------------------------

def snapshot_dirs(root, *relative):
    for rel in relative:
        os.makedirs(os.path.join(root, rel))


def test_newest_snapshot_across_nested_series_without_entering_snapshots(tmp_path):
    root = tmp_path / "snapshots"
    snapshot_dirs(root, "homes/alice/20261128T100000Z/deep/20301231T000000Z",
                  "homes/bob/20261128T120000Z", "homes/alice/project/20261128T110000Z",
                  "docker-volumes/20261127T230000Z", "homes/carol/not-a-snapshot")
    path, moment = backups.newest_snapshot(str(root))
    assert path == str(root / "homes/bob/20261128T120000Z")
    assert moment == dt.datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert backups.newest_snapshot(str(tmp_path / "missing")) is None


def storage_ctx(make_ctx, tmp_path, text=""):
    # backing_devices set: "configured" without a mount (the probes only read directories)
    return make_ctx('[storage]\nbacking_devices = ["/dev/disk/by-id/ata-a"]\n' + text)


def test_a_recent_snapshot_passes_an_old_one_fails(make_ctx, tmp_path):
    ctx = storage_ctx(make_ctx, tmp_path)
    assert backups.snapshot(ctx).status == FAIL  # none at all
    snapshot_dirs(tmp_path / "storage" / "snapshots", "homes/alice/20261128T120000Z")
    noon = dt.datetime(2026, 11, 28, 12, tzinfo=UTC).timestamp()
    result = backups.snapshot(ctx, now=noon + 40 * 60)
    assert result.status == PASS and result.reason.endswith(": 40 min old (limit 2 h)")
    result = backups.snapshot(ctx, now=noon + 5 * 3600)
    assert result.status == FAIL and result.reason.endswith("5 h old, older than 2 h")


def test_restic_age_from_the_job_record(make_ctx, tmp_path):
    from trainserver.core import jobs

    ctx = storage_ctx(make_ctx, tmp_path)
    state = ctx.config["paths"]["state_dir"]
    assert backups.restic(ctx).reason == "no successful ts-backup run on record"
    jobs.record(state, "backup", 2, 1000.0, 1100.0)
    assert backups.restic(ctx).reason == ("no successful ts-backup run on record; the last run "
                                          "failed with exit status 2")
    jobs.record(state, "backup", 0, 2000.0, 5000.0)
    result = backups.restic(ctx, now=5000.0 + 3 * 3600)
    assert (result.status, result.reason) == (PASS, "last success 3 h old (limit 26 h)")
    jobs.record(state, "backup", 2, 90000.0, 90100.0)
    result = backups.restic(ctx, now=5000.0 + 27 * 3600)
    assert result.status == FAIL
    assert result.reason == "last success 27 h old, older than 26 h; the last run failed " \
                            "with exit status 2"


def test_restic_skips_without_a_repository(make_ctx, tmp_path):
    ctx = storage_ctx(make_ctx, tmp_path, '[backup]\nrepository = ""\n')
    assert backups.restic(ctx).status == SKIP


# network ---------------------------------------------------------------------------------

def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    return server


def test_internet_passes_when_the_address_accepts_and_fails_when_refused(make_ctx):
    server = listener()
    port = server.getsockname()[1]
    try:
        ctx = make_ctx(f'[doctor]\ninternet_address = "127.0.0.1:{port}"\n')
        assert network.internet(ctx).status == PASS
    finally:
        server.close()
    result = network.internet(make_ctx(f'[doctor]\ninternet_address = "127.0.0.1:{port}"\n'))
    assert (result.status, result.reason) == (FAIL, f"TCP to 127.0.0.1:{port}: Connection "
                                                    f"refused")
    assert network.internet(make_ctx('[doctor]\ninternet_address = ""\n')).status == SKIP


def test_tunnel_and_firewall_skip_when_not_configured(make_ctx):
    ctx = make_ctx()
    assert network.tunnel(ctx).reason == "tunnel not configured ([tunnel] enabled is false)"
    assert network.firewall(ctx).status == SKIP


# tools: a sibling's findings -------------------------------------------------------------

def stand_in(directory, name, script):
    path = directory / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


FINDING = '{"tool": "tunnel", "check": "ready", "subject": "cloudflared", "severity": "%s", ' \
          '"summary": "%s"}'


def test_a_sibling_tools_findings_decide_and_its_absence_skips(make_ctx, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # Only the stand-ins: the installed package (autopkgtest) has the real ts-tunnel in /usr/bin.
    monkeypatch.setenv("PATH", str(bin_dir))
    ctx = make_ctx()
    result = tools.check(ctx, "network", "tunnel", "ts-tunnel", ["check", "--json"])
    assert (result.status, result.reason) == (SKIP, "ts-tunnel is not installed")
    stand_in(bin_dir, "ts-tunnel", f"echo '{FINDING % ('critical', '/ready says 503')}'\n"
                                   f"[ \"$1\" = --config ] && [ \"$3\" = check ] || exit 9\n"
                                   "exit 2\n")
    result = tools.check(ctx, "network", "tunnel", "ts-tunnel", ["check", "--json"])
    assert (result.status, result.reason) == (FAIL, "critical: /ready says 503")
    assert result.investigate == "ts-tunnel check"
    stand_in(bin_dir, "ts-tunnel", f"echo '{FINDING % ('ok', 'not configured: off')}'\n")
    assert tools.check(ctx, "network", "tunnel", "ts-tunnel", ["check"]).status == SKIP
    stand_in(bin_dir, "ts-tunnel", "echo garbage; exit 3\n")
    result = tools.check(ctx, "network", "tunnel", "ts-tunnel", ["check"])
    assert result.status == FAIL and result.reason.startswith("ts-tunnel printed no findings")


def test_docker_skips_without_docker_or_services(make_ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert docker.containers(make_ctx()).reason == "docker is not installed"


# users -----------------------------------------------------------------------------------

def serve_once(server, payload):
    def answer():
        connection, _ = server.accept()
        with connection:
            connection.sendall(payload)
            time.sleep(0.2)
    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def test_ssh_banner_pass_and_fail():
    server = listener()
    host, port = server.getsockname()
    try:
        serve_once(server, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
        assert users.ssh_banner(host, port, 2) == (True, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3")
        serve_once(server, b"HTTP/1.1 400 Bad Request\r\n")
        ok, reason = users.ssh_banner(host, port, 2)
        assert not ok and reason.startswith("not an SSH server")
        # accepts, says nothing: cut at the timeout
        started = time.monotonic()
        ok, reason = users.ssh_banner(host, port, 0.5)
        assert not ok and reason == "no banner within 0.5 s"
        assert time.monotonic() - started < 1.5
    finally:
        server.close()


def test_users_probes_follow_people_and_skip_without_services(make_ctx):
    assert [p.item for p in users.probes(make_ctx().config)] == ["services"]
    ctx = make_ctx('[services]\ndomain = "lab.example"\nlan_address = "192.0.2.10"\n'
                   '[users]\n[[users.people]]\nname = "alice"\nuid = 1001\n'
                   '[[users.people]]\nname = "bob"\nuid = 1002\nssh_port = 2302\n')
    probes = users.probes(ctx.config)
    assert [p.item for p in probes] == ["alice ssh", "alice code", "alice jupyter",
                                        "bob ssh", "bob code", "bob jupyter"]
    assert probes[0].investigate == "ssh -p 2201 alice@192.0.2.10"
    assert probes[3].investigate == "ssh -p 2302 bob@192.0.2.10"
    assert probes[1].investigate == ("curl -skI --resolve alice-code.lab.example:443:192.0.2.10 "
                                     "https://alice-code.lab.example/")


# alerts, timers --------------------------------------------------------------------------

def test_alerts_skip_without_send_test_or_chat(make_ctx):
    assert alerts.telegram(make_ctx()).reason == "run with --send-test to send one"
    assert alerts.telegram(make_ctx(send_test=True)).status == SKIP  # no chat id


def test_timers_skip_without_systemd(make_ctx, tmp_path):
    assert timers.systemd_running(str(tmp_path)) is False
    (tmp_path / "run" / "systemd" / "system").mkdir(parents=True)
    assert timers.systemd_running(str(tmp_path)) is True
    if not timers.systemd_running():
        assert timers.timers(make_ctx()).reason == "systemd is not running"


# monitoring (a stand-in docker: no engine here) -----------------------------------------

def test_monitoring_asks_inside_the_running_containers(make_ctx, tmp_path, monkeypatch):
    from trainserver.doctor.areas import monitoring

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    targets = ('{"status":"success","data":{"activeTargets":['
               '{"labels":{"job":"node","instance":"node-exporter:9100"},"health":"up"},'
               '{"labels":{"job":"dcgm","instance":"dcgm-exporter:9400"},"health":"down",'
               '"lastError":"no such host"}]}}')
    stand_in(bin_dir, "docker", f"""echo "$@" >> {tmp_path}/calls
case "$1" in
  ps) case "$*" in *service=prometheus*) echo ts-prometheus-1;; *service=grafana*) ;; esac;;
  exec) echo '{targets}';;
esac
""")
    ctx = make_ctx('[services]\ndomain = "lab.example"\nlan_address = "192.0.2.10"\n'
                   'project = "lab"\n')
    result = monitoring.targets(ctx)
    assert result.status == PASS  # dcgm is down by design without a GPU
    assert result.reason == ("all 1 targets up (dcgm dcgm-exporter:9400: down (no such host): "
                             "no GPU here, so not run)")
    calls = (tmp_path / "calls").read_text().splitlines()
    assert "label=com.docker.compose.project=lab" in calls[0]
    assert calls[1].startswith("exec ts-prometheus-1 wget -q -T ")
    assert calls[1].endswith(" -O - http://localhost:9090/api/v1/targets")
    grafana = monitoring.grafana(ctx)
    assert grafana.status == SKIP and grafana.reason.startswith("the stack is not running")
