"""ts-sync with the real rclone: a test rclone.conf names the configured remotes ("gcs" and
"gdrive") as rclone local backends in tmp dirs, so the real copy, sync, check and JSON-log
code paths run. No root needed.

Where a test needs rclone's upload limit to bite (a migration slow enough to be killed
half-way, the live bandwidth change), "gdrive" is a WebDAV remote served by `rclone serve
webdav` on 127.0.0.1 from a tmp dir: between two local backends rclone counts neither
direction as an upload, and an upload-only --bwlimit does not slow it (measured with rclone
1.60.1: 24 MB with --bwlimit 1M took 22.9 s, with 1M:off 0.12 s)."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from trainserver.core import rclone
from trainserver.core.errors import ActionError
from trainserver.core.lock import ToolLock

pytestmark = pytest.mark.skipif(not __import__("shutil").which("rclone"),
                                reason="rclone not installed")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tree(root):
    found = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = hashlib.sha256(handle.read()).hexdigest()
    return found


def findings(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


class Site:
    """A config, an rclone.conf and tmp dirs for the source, destination and backup dir."""

    def __init__(self, tmp_path, gdrive="local"):
        self.tmp = tmp_path
        self.src = tmp_path / "src"
        self.dst = tmp_path / "dst"
        self.state = tmp_path / "state"
        for directory in (self.src, self.state):
            directory.mkdir()
        self.conf = tmp_path / "rclone.conf"
        self.dav = None
        self.gdrive = gdrive
        if gdrive == "webdav":
            self.dst.mkdir()
            self.port = rclone.free_port()
            self.dav = subprocess.Popen(
                ["rclone", "serve", "webdav", str(self.dst), "--addr",
                 f"127.0.0.1:{self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                env={**os.environ, "RCLONE_CONFIG": str(tmp_path / "none.conf")})
            self._wait_for_port()
            remote = f"type = webdav\nurl = http://127.0.0.1:{self.port}/\nvendor = rclone\n"
        else:
            remote = "type = local\n"
        self.conf.write_text(f"[gcs]\ntype = local\n\n[gdrive]\n{remote}")
        self.conf.chmod(0o600)
        self.config = tmp_path / "trainserver.toml"
        self.configure()

    def _wait_for_port(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError("rclone serve webdav did not start")

    @property
    def destination(self):
        return "gdrive:" if self.gdrive == "webdav" else f"gdrive:{self.dst}"

    def configure(self, **sync):
        table = {"source": f"gcs:{self.src}", "destination": self.destination,
                 "backup_dir": f"gdrive:{self.tmp / 'deleted'}", **sync}
        network = table.pop("upload_limit", "100Mbit/s")
        self.config.write_text(
            f'[paths]\nstorage = "{self.tmp}"\nstate_dir = "{self.state}"\n'
            f'lock_dir = "{self.state}"\nmetrics_dir = "{self.state}/metrics"\n'
            f'secrets_dir = "{self.tmp}"\n[network]\nupload_limit = "{network}"\n'
            f'[gdrive]\nrclone_config = "{self.conf}"\n[sync]\n' +
            "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items()))

    def write(self, name, data):
        path = self.src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def argv(self, *args):
        return ["/usr/bin/python3", "-c", "from trainserver.sync.cli import main; main()",
                "--config", str(self.config), *args]

    def env(self, **extra):
        return {**os.environ, "PYTHONPATH": os.path.join(ROOT, "tools"),
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **extra}

    def tool(self, *args, timeout=120, **env):
        return subprocess.run(self.argv(*args), capture_output=True, text=True,
                              timeout=timeout, env=self.env(**env))

    def start(self, *args, **env):
        # Its own session: a SIGKILL of the group takes rclone down with it, as a crash or
        # systemd's kill of the unit's cgroup would.
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env(**env),
                                start_new_session=True)

    def close(self):
        if self.dav is not None:
            self.dav.kill()
            self.dav.wait()


@pytest.fixture
def site(tmp_path):
    made = []

    def make(gdrive="local"):
        made.append(Site(tmp_path / f"site{len(made)}", gdrive))
        return made[-1]

    for index in range(3):
        (tmp_path / f"site{index}").mkdir()
    try:
        yield make
    finally:
        for one in made:
            one.close()


def run_json(one, *args, **env):
    done = one.tool("run", "--json", *args, **env)
    return done, findings(done.stdout)


def test_incremental_copy_never_deletes(site):
    one = site()
    one.write("a.bin", os.urandom(1000))
    one.write("dir/b.bin", os.urandom(2000))
    done, found = run_json(one)
    assert done.returncode == 0, done.stderr
    assert found[0]["severity"] == "ok" and found[0]["value"] == 3000
    assert tree(one.dst) == tree(one.src)
    done, found = run_json(one)
    assert "copied 0 files" in found[0]["summary"], found
    one.write("a.bin", os.urandom(1001))
    os.unlink(one.src / "dir" / "b.bin")
    done, found = run_json(one)
    assert "copied 1 files (1.0 kB)" in found[0]["summary"], found
    assert (one.dst / "dir" / "b.bin").exists(), "copy mode deleted at the destination"
    record = json.loads((one.state / "sync.json").read_text())
    assert record["last_run"]["files"] == 1 and record["last_run"]["ok"]
    metrics = (one.state / "metrics" / "trainserver_sync.prom").read_text()
    assert "trainserver_sync_success 1" in metrics and "trainserver_sync_bytes 1001" in metrics
    assert json.loads((one.state / "jobs" / "sync.json").read_text())["last_run"]["ok"]


def test_mirror_moves_deleted_and_overwritten_files_into_the_dated_backup_dir(site):
    one = site()
    one.configure(mode="mirror")
    old = {"keep": os.urandom(100), "gone": os.urandom(200), "change": os.urandom(300)}
    for name, data in old.items():
        one.write(name, data)
    assert run_json(one)[0].returncode == 0
    os.unlink(one.src / "gone")
    one.write("change", b"new content")
    done, found = run_json(one)
    assert done.returncode == 0, done.stderr
    assert tree(one.dst) == tree(one.src)
    dated = os.listdir(one.tmp / "deleted")
    assert len(dated) == 1 and dated[0].endswith("Z"), dated
    kept = one.tmp / "deleted" / dated[0]
    assert (kept / "gone").read_bytes() == old["gone"]
    assert (kept / "change").read_bytes() == old["change"]


def test_max_delete_stops_a_runaway_deletion_loudly(site):
    one = site()
    one.configure(mode="mirror", max_delete=2)
    for n in range(6):
        one.write(f"f{n}", os.urandom(50))
    assert run_json(one)[0].returncode == 0
    for n in range(5):
        os.unlink(one.src / f"f{n}")
    done, found = run_json(one)
    assert done.returncode == 2, done.stderr
    assert found[0]["severity"] == "critical"
    assert "stopped by --max-delete 2" in found[0]["summary"]
    assert len(os.listdir(one.dst)) >= 4, "most of the destination must still be there"
    assert not json.loads((one.state / "sync.json").read_text())["last_run"]["ok"]


def test_a_backup_dir_rclone_would_refuse_is_refused_first(site):
    one = site()
    one.configure(mode="mirror", backup_dir=f"gdrive:{one.dst}/deleted")
    done, found = run_json(one)
    assert done.returncode == 2
    assert "overlaps the destination" in found[0]["summary"]


def test_a_run_while_the_previous_holds_the_lock_exits_75_naming_it(site):
    one = site()
    one.write("a", b"a")
    with ToolLock("sync", str(one.state), command="ts-sync run"):
        done, found = run_json(one)
    assert done.returncode == 75, done.stderr
    assert f"process {os.getpid()}" in done.stderr
    assert "ts-sync run" in found[0]["summary"]
    assert not one.dst.exists()


def test_dry_run_lists_and_changes_nothing(site):
    one = site()
    one.configure(mode="mirror")
    one.write("old", b"1")
    assert run_json(one)[0].returncode == 0
    os.unlink(one.src / "old")
    one.write("new", b"22")
    before = tree(one.dst)
    done = one.tool("run", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "would transfer: new (2 bytes)" in done.stdout
    assert "would delete (moved into the backup dir): old (1 bytes)" in done.stdout
    assert tree(one.dst) == before and not (one.tmp / "deleted").exists()


def test_not_configured_is_ok(site):
    one = site()
    one.configure(source="")
    done, found = run_json(one)
    assert done.returncode == 0 and "not configured" in found[0]["summary"]


def test_a_corrupted_destination_file_is_caught_by_the_check(site):
    one = site()
    for n in range(4):
        one.write(f"d/f{n}", os.urandom(4096))
    done = one.tool("migrate", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    verdict = findings(done.stdout)[-1]
    assert verdict["check"] == "verify" and "md5 checksums" in verdict["summary"]
    with open(one.dst / "d" / "f2", "r+b") as handle:  # same size: only a checksum sees it
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 1]))
    done = one.tool("migrate", "--verify-only", "--json")
    assert done.returncode == 2, done.stderr
    found = findings(done.stdout)
    assert {"subject": "d/f2", "severity": "critical"}.items() <= found[0].items()
    assert "differs" in found[0]["summary"]
    assert "1 mismatches" in found[-1]["summary"]
    assert (one.state / "sync-migrate-mismatches.txt").read_text() == "differ d/f2\n"


def test_migrate_needs_yes_and_estimates_with_the_manuals_verdict(site):
    one = site()
    one.write("a", b"1")
    done = one.tool("migrate")
    assert done.returncode == 3 and "--yes" in done.stderr
    done = one.tool("estimate", "50TB")
    assert "about 46 days" in done.stdout and "at least 67 days" in done.stdout
    assert "\"7-10 days\" is wrong" in done.stdout


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def complete(directory):
    return [entry.name for entry in os.scandir(directory)
            if entry.is_file() and entry.stat().st_size == 1_000_000]


def test_a_migration_killed_midway_resumes_and_verifies(site):
    one = site("webdav")
    one.configure(bandwidth="16Mbit/s")  # 2 MB/s: 12 MB take 6 s
    for n in range(12):
        one.write(f"f{n:02}", os.urandom(1_000_000))
    process = one.start("migrate", "--yes", "--json")
    try:
        _wait(lambda: len(complete(one.dst)) >= 5, 60, "some files at the destination")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    arrived = complete(one.dst)
    assert 0 < len(arrived) < 12
    done = one.tool("migrate", "--yes", "--json", timeout=180)
    assert done.returncode == 0, done.stderr
    copy, verdict = findings(done.stdout)
    files = int(copy["summary"].split("copied ")[1].split(" files")[0])
    assert files <= 12 - len(arrived), "the resumed migration copied again what had arrived"
    assert verdict["severity"] == "ok" and "sizes only" in verdict["summary"]  # WebDAV: no hash
    assert tree(one.dst) == tree(one.src)


def _rclone_control(parent_pid):
    """The remote control of the rclone that ts-sync (parent_pid) started: its port from the
    command line, its credentials from its environment."""
    def find():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) != parent_pid:
                        continue
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    argv = handle.read().decode().split("\0")
                with open(f"/proc/{pid}/environ", "rb") as handle:
                    env = dict(item.split("=", 1) for item in
                               handle.read().decode().split("\0") if "=" in item)
            except (OSError, IndexError, ValueError):
                continue
            if argv and argv[0].endswith("rclone") and "--rc-addr" in argv:
                port = int(argv[argv.index("--rc-addr") + 1].rsplit(":", 1)[1])
                return rclone.RemoteControl(port, env["RCLONE_RC_USER"],
                                            env["RCLONE_RC_PASS"])
        return None

    return _wait(find, 30, "rclone with its remote control")


def _tx(control):
    try:
        return control.call("core/bwlimit", timeout=2)["bytesPerSecondTx"]
    except ActionError:
        return None


HOLD_CLAIM = """
import sys
from trainserver.core.uplink import Uplink
claim = Uplink(sys.argv[1], "backup", float(sys.argv[2]), float(sys.argv[2]), adjustable=False)
print(claim.claim(), flush=True)
sys.stdin.read()
"""


def _hold_backup_claim(one, limit):
    """A child standing in for ts-backup: a fixed claim on the uplink (core.uplink, the
    mechanism ts-backup uses), held until its stdin closes."""
    child = subprocess.Popen([sys.executable, "-c", HOLD_CLAIM, str(one.state), str(limit)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": os.path.join(ROOT, "tools")})
    return child, float(child.stdout.readline())


def test_a_backup_starting_during_a_sync_halves_its_rate_live(site):
    one = site("webdav")
    one.configure(bandwidth="16Mbit/s", upload_limit="16Mbit/s")  # 2,000,000 B/s
    for n in range(20):
        one.write(f"f{n:02}", os.urandom(1_000_000))  # 10 s at the full rate
    process = one.start("run", "--json", TRAINSERVER_SYNC_SHARE_INTERVAL="0.3")
    child = None
    try:
        control = _rclone_control(process.pid)
        full = 1953 * 1024  # 2,000,000 B/s in whole KiB/s
        assert _wait(lambda: _tx(control), 30, "rc") == full
        child, backup_rate = _hold_backup_claim(one, 2_000_000)
        assert backup_rate == 1_000_000  # the backup takes half
        _wait(lambda: _tx(control) == 976 * 1024, 10, "the sync at half the uplink")
        child.stdin.close()
        child.wait()
        _wait(lambda: _tx(control) == full, 10, "the sync back at the whole uplink")
        out, err = process.communicate(timeout=120)
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, err
    assert "uplink: rate now 1.00 MB/s (sharing with: backup at 1.0 MB/s)" in err
    assert tree(one.dst) == tree(one.src)


def test_a_sync_waits_while_a_backup_holds_the_whole_uplink(site):
    one = site()
    one.configure(upload_limit="16Mbit/s")
    one.write("a", b"1")
    child, backup_rate = _hold_backup_claim(one, 2_000_000)
    try:
        assert backup_rate == 2_000_000
        process = one.start("run", "--json", TRAINSERVER_SYNC_SHARE_INTERVAL="0.3")
        time.sleep(2)
        assert process.poll() is None and not one.dst.exists(), "it must wait"
        child.stdin.close()
        child.wait()
        out, err = process.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert process.returncode == 0, err
    assert "waiting, [network] upload_limit is taken by backup at 2.0 MB/s" in err
    assert tree(one.dst) == tree(one.src)
