"""ts-gdrive-mount with the real rclone and a real FUSE mount: a remote named like [gdrive]
remote whose files live in a temp dir (rclone's alias of a local path: the local backend
does the work), the mount point and the cache in temp dirs.

This machine has no systemd, so a stand-in `systemctl` first on PATH does for
ts-gdrive-mount.service what systemd does with the unit: it gives `ts-gdrive-mount serve` a
NOTIFY_SOCKET and waits for rclone's READY=1 (Type=notify), kills and restarts it, and runs
`ts-gdrive-mount unmount` after it stops (ExecStopPost). The real unit under real systemd is
proven in the VM guest. Needs root, FUSE (/dev/fuse, fusermount) and rclone."""

import json
import os
import shutil
import signal
import stat
import subprocess
import textwrap
import time

import pytest

from trainserver.core.findings import parse_line

pytestmark = pytest.mark.root
GROUP_GID = 100  # Debian's "users": the [users] group of this test
MEMBER = ["setpriv", "--reuid=1000", f"--regid={GROUP_GID}", "--clear-groups"]
OTHER = ["setpriv", "--reuid=1001", "--regid=1001", "--clear-groups"]
CHECK_TIMEOUT = 3

# What systemd would do with ts-gdrive-mount.service, for exactly the command lines of
# trainserver.gdrive.service.
STANDIN = textwrap.dedent('''\
    #!/usr/bin/python3
    import os, signal, socket, subprocess, sys, time
    HERE = os.environ["GDRIVE_STANDIN"]
    TOOL = os.environ["GDRIVE_STANDIN_TOOL"]
    CONFIG = os.environ["GDRIVE_STANDIN_CONFIG"]
    UNIT = "ts-gdrive-mount.service"

    def path(name):
        return os.path.join(HERE, name)

    def main_pid():
        try:
            return int(open(path("main.pid")).read())
        except (OSError, ValueError):
            return None

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")

    def supervise():
        """The service manager's part: the notify socket, the main process, its end."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        address = path(f"notify-{os.getpid()}.sock")
        sock.bind(address)
        sock.settimeout(0.2)
        child = subprocess.Popen([TOOL, "--config", CONFIG, "serve"],
                                 env={**os.environ, "NOTIFY_SOCKET": address},
                                 stdout=open(path("serve.log"), "a"), stderr=subprocess.STDOUT)
        open(path("main.pid"), "w").write(str(child.pid))
        with open(path("started.pids"), "a") as handle:
            handle.write(f"{child.pid}\\n")
        while child.poll() is None:
            try:
                message = sock.recv(4096).decode()
            except socket.timeout:
                continue
            with open(path("notify.log"), "a") as handle:
                handle.write(f"{child.pid} {message}\\n")
            if "READY=1" in message.split("\\n"):
                open(path(f"ready-{child.pid}"), "w").close()
        open(path(f"exited-{child.pid}"), "w").write(str(child.returncode))
        os.unlink(address)

    def stop():
        pid = main_pid()
        if pid and alive(pid):
            os.kill(pid, signal.SIGTERM)
            os.kill(pid, signal.SIGCONT)  # as systemd does, so a stopped process sees it
            for _ in range(100):
                if not alive(pid):
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
        subprocess.run([TOOL, "--config", CONFIG, "unmount"], check=False)  # ExecStopPost

    def start():
        pid = main_pid()
        if pid and alive(pid):
            return 0
        before = main_pid()
        subprocess.Popen([sys.executable, __file__, "--supervise"], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pid = main_pid()
            if pid and pid != before:
                if os.path.exists(path(f"ready-{pid}")):
                    return 0
                if os.path.exists(path(f"exited-{pid}")):
                    sys.stderr.write(f"Job for {UNIT} failed (serve exited)\\n")
                    return 1
            time.sleep(0.05)
        sys.stderr.write(f"Job for {UNIT} timed out\\n")
        return 1

    def main(argv):
        if argv == ["--supervise"]:
            return supervise()
        with open(path("calls.log"), "a") as handle:
            handle.write(" ".join(argv) + "\\n")
        verb, unit = argv[0], argv[-1]
        assert unit == UNIT, argv
        if verb == "is-enabled":
            return 0 if os.path.exists(path("enabled")) else 1
        if verb == "enable":
            open(path("enabled"), "w").close()
            return 0
        if verb == "reset-failed":
            return 0
        if verb == "kill":
            assert argv[1] == "--signal=SIGKILL", argv
            pid = main_pid()
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)
            return 0
        if verb == "start":
            return start()
        if verb in ("restart", "try-restart"):
            if verb == "try-restart" and not (main_pid() and alive(main_pid())):
                return 0
            stop()
            return start()
        sys.stderr.write(f"stand-in systemctl: unknown command {argv}\\n")
        return 2

    sys.exit(main(sys.argv[1:]))
''')


class Drive:
    """The test's Drive remote, storage, config and stand-in systemd."""

    def __init__(self, tmp_path, tool):
        import pathlib
        import tempfile

        # Other users must reach the mount: pytest's own temp dirs are root's alone (0700).
        self.open_dir = pathlib.Path(tempfile.mkdtemp(prefix="ts-gdrive-test."))
        self.open_dir.chmod(0o755)
        self.src = tmp_path / "drive"
        self.storage = self.open_dir / "storage"
        self.mount = self.storage / "shared"
        self.cache = self.storage / "cache" / "gdrive"
        self.state = tmp_path / "state"
        self.secrets = tmp_path / "secrets"
        self.standin = tmp_path / "standin"
        for directory in (self.src, self.mount, self.cache, self.state, self.standin):
            directory.mkdir(parents=True)
        self.secrets.mkdir(mode=0o700)
        self.rclone_config = self.secrets / "rclone.conf"
        self.config = tmp_path / "trainserver.toml"
        self.config.write_text(
            f'[paths]\nstorage = "{self.storage}"\nstate_dir = "{self.state}"\n'
            f'lock_dir = "{self.state}"\nmetrics_dir = "{self.state}/metrics"\n'
            f'secrets_dir = "{self.secrets}"\n'
            f'[gdrive]\nrclone_config = "{self.rclone_config}"\n'
            f'check_timeout = "{CHECK_TIMEOUT}s"\nrestart_window = "1h"\n'
            f'restarts_critical = 3\n'
            f'[snapshot]\nmin_free = "1GiB"\n'
            f'[users]\ngroup = "users"\n')
        self.tool = tool
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        systemctl = bin_dir / "systemctl"
        systemctl.write_text(STANDIN)
        systemctl.chmod(0o755)
        self.env = {"PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin",
                    "GDRIVE_STANDIN": str(self.standin), "GDRIVE_STANDIN_TOOL": tool,
                    "GDRIVE_STANDIN_CONFIG": str(self.config)}

    def set_up(self):
        self.rclone_config.write_text(f"# the test's Drive\n[gdrive]\ntype = alias\n"
                                      f"remote = {self.src}\n")
        self.rclone_config.chmod(0o600)
        self.systemctl("enable", "ts-gdrive-mount.service")

    def systemctl(self, *args):
        result = subprocess.run(["systemctl", *args], capture_output=True, text=True,
                                env={**os.environ, **self.env}, timeout=120)
        assert result.returncode == 0, result.stderr + self.log()
        return result

    def run(self, *args, timeout=120):
        return subprocess.run([self.tool, "--config", str(self.config), *args],
                              capture_output=True, text=True, env={**os.environ, **self.env},
                              timeout=timeout)

    def check(self):
        started = time.monotonic()
        result = self.run("check", "--json")
        took = time.monotonic() - started
        findings = [parse_line(line) for line in result.stdout.splitlines()]
        return result, {f.check: f for f in findings}, took

    def record(self):
        return json.loads((self.state / "gdrive-mount.json").read_text())

    def restarts(self):
        return json.loads((self.state / "gdrive-check.json").read_text())["restarts"]

    def pid(self):
        return int((self.standin / "main.pid").read_text())

    def mounted(self):
        with open("/proc/self/mountinfo") as handle:
            return any(line.split()[4] == str(self.mount) and " - fuse.rclone " in line
                       for line in handle)

    def log(self):
        parts = []
        for name in ("serve.log", "notify.log", "calls.log"):
            path = self.standin / name
            if path.exists():
                parts.append(f"\n--- {name}\n{path.read_text()[-3000:]}")
        return "".join(parts)

    def close(self):
        """Every rclone started, continued and killed; the mount gone, also after a failure."""
        pids = []
        started = self.standin / "started.pids"
        if started.exists():
            pids = [int(line) for line in started.read_text().split()]
        for pid in pids:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
        for _ in range(50):
            if not self.mounted():
                break
            subprocess.run(["umount", "--lazy", str(self.mount)], capture_output=True)
            time.sleep(0.1)
        if not self.mounted():
            shutil.rmtree(self.open_dir, ignore_errors=True)


@pytest.fixture
def drive(tmp_path, tool_path):
    if shutil.which("rclone") is None or not os.path.exists("/dev/fuse"):
        pytest.skip("needs rclone and /dev/fuse")
    made = Drive(tmp_path, tool_path("ts-gdrive-mount"))
    try:
        yield made
    finally:
        made.close()


def as_user(user, *argv):
    return subprocess.run([*user, *argv], capture_output=True, text=True, timeout=60)


def wait_for(predicate, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_not_set_up_is_quiet(drive):
    result, found, _ = drive.check()
    assert result.returncode == 0, result.stderr
    assert found["mount"].severity.label == "ok" and "not set up" in found["mount"].summary
    drive.rclone_config.write_text("[gdrive]\ntype = alias\nremote = /nonexistent\n")
    drive.rclone_config.chmod(0o600)
    result, found, _ = drive.check()  # the remote is there, the service not enabled
    assert result.returncode == 0 and "is not enabled" in found["mount"].summary


def test_mount_serves_the_group_and_fills_the_cache(drive):
    payload = os.urandom(3 * 2**20)
    (drive.src / "dataset.bin").write_bytes(payload)
    drive.set_up()
    drive.systemctl("start", "ts-gdrive-mount.service")
    assert drive.mounted(), drive.log()
    pid = drive.pid()
    # serve became rclone in the same process, and rclone itself told "systemd" it is ready.
    assert open(f"/proc/{pid}/comm").read().strip() == "rclone"
    assert drive.record()["pid"] == pid
    assert f"{pid} READY=1" in (drive.standin / "notify.log").read_text()
    assert stat.S_IMODE((drive.state / "gdrive-mount.json").stat().st_mode) == 0o600
    cmdline = open(f"/proc/{pid}/cmdline").read().split("\0")
    assert "--vfs-cache-mode" in cmdline and drive.record()["rc"]["password"] not in cmdline

    # Modes: every member of the group reads and writes, others only read.
    info = os.stat(drive.mount / "dataset.bin")
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o664, 0, GROUP_GID)
    assert stat.S_IMODE(os.stat(drive.mount).st_mode) == 0o775
    read = subprocess.run([*MEMBER, "sha256sum", str(drive.mount / "dataset.bin")],
                          capture_output=True, text=True, timeout=60)
    assert read.returncode == 0, read.stderr
    assert read.stdout.split()[0] == __import__("hashlib").sha256(payload).hexdigest()
    wrote = as_user(MEMBER, "sh", "-c", f"echo from-alice > {drive.mount}/alice.txt")
    assert wrote.returncode == 0, wrote.stderr
    added = as_user(MEMBER, "sh", "-c", f"echo more >> {drive.mount}/dataset.bin")
    assert added.returncode == 0, added.stderr
    refused = as_user(OTHER, "sh", "-c", f"echo x > {drive.mount}/mallory.txt")
    assert refused.returncode != 0 and "Permission denied" in refused.stderr
    assert as_user(OTHER, "cat", str(drive.mount / "alice.txt")).stdout == "from-alice\n"
    # Uploaded to the Drive after the write-back delay (5 s).
    assert wait_for(lambda: (drive.src / "alice.txt").exists()
                    and (drive.src / "alice.txt").read_text() == "from-alice\n"), drive.log()
    assert not (drive.src / "mallory.txt").exists()

    # The read filled the cache.
    vfs = drive.cache / "vfs"
    on_disk = sum(f.stat().st_blocks * 512 for f in vfs.rglob("*") if f.is_file())
    assert on_disk >= len(payload)
    stats = drive.run("stats", "--json")
    assert stats.returncode == 0, stats.stderr
    shown = json.loads(stats.stdout)
    # rclone's own byte count is refreshed at its cache poll (every minute); its file count
    # and the walk of the directory are current.
    assert shown["source"] == "remote control" and shown["files"] >= 2
    assert shown["max_size"] == drive.record()["limit"] and shown["max_age"] == 30 * 86400
    assert shown["bytes_on_disk"] >= len(payload)

    result, found, _ = drive.check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert found["mount"].severity.label == "ok" and "answers" in found["mount"].summary
    metrics = (drive.state / "metrics" / "trainserver_gdrive.prom").read_text()
    assert "trainserver_gdrive_mount_up 1" in metrics

    resize = drive.run("resize", "--json")
    assert resize.returncode == 0, resize.stderr
    assert "stands" in resize.stdout and drive.pid() == pid  # within 10%: no restart


def test_check_repairs_a_killed_and_a_stopped_rclone_and_repeats_turn_critical(drive):
    (drive.src / "a.txt").write_text("hello\n")
    drive.set_up()
    drive.systemctl("start", "ts-gdrive-mount.service")
    first = drive.pid()

    # A dead rclone: killed outright.
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: not os.path.exists(f"/proc/{first}/comm")
                    or open(f"/proc/{first}/stat").read().rsplit(")", 1)[1].split()[0] == "Z")
    result, found, _ = drive.check()
    assert result.returncode == 1, result.stdout + result.stderr + drive.log()
    mount = found["mount"]
    assert mount.severity.label == "warning" and f"(PID {first})" in mount.summary
    assert "works again" in mount.summary and "1st restart within 1 h" in mount.summary
    second = drive.pid()
    assert second != first and (drive.mount / "a.txt").read_text() == "hello\n"

    # A hung one: rclone stopped. Every access waits; the check must not.
    os.kill(second, signal.SIGSTOP)
    result, found, took = drive.check()
    assert result.returncode == 1, result.stdout + result.stderr + drive.log()
    mount = found["mount"]
    assert f"did not return within {CHECK_TIMEOUT} s" in mount.summary
    assert f"rclone (PID {second}) is stopped" in mount.summary
    assert "2nd restart" in mount.summary
    # The stat's timeout, a kill, a stop and a start: seconds, never a hang.
    assert took < CHECK_TIMEOUT + 25, took
    third = drive.pid()
    assert third != second and (drive.mount / "a.txt").read_text() == "hello\n"
    calls = (drive.standin / "calls.log").read_text()
    assert "kill --signal=SIGKILL ts-gdrive-mount.service" in calls

    # A third repair within the window is critical.
    os.kill(third, signal.SIGKILL)
    result, found, _ = drive.check()
    assert result.returncode == 2, result.stdout + result.stderr
    assert found["mount"].severity.label == "critical"
    assert "keeps failing" in found["mount"].summary
    assert len(drive.restarts()) == 3
    assert (drive.mount / "a.txt").read_text() == "hello\n"

    # Healthy again: ok, and the count stays in the summary while in the window.
    result, found, _ = drive.check()
    assert result.returncode == 0 and "3 restarts by this check within 1 h" in \
        found["mount"].summary


def test_a_missing_mount_is_restarted_and_dry_run_repairs_nothing(drive):
    drive.set_up()
    drive.systemctl("start", "ts-gdrive-mount.service")
    pid = drive.pid()
    # Stopped cleanly behind the check's back: rclone unmounts and exits.
    os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not drive.mounted())
    dry = drive.run("check", "--json", "--dry-run")
    assert dry.returncode == 1 and "dry run: would restart the mount" in dry.stdout
    assert not drive.mounted()
    result, found, _ = drive.check()
    assert result.returncode == 1, result.stdout + result.stderr + drive.log()
    assert found["mount"].severity.label == "warning" and drive.mounted()
