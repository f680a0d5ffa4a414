"""ts-oom against real kernel OOM kills made here (root; a memory cgroup controller, /dev/kmsg).

A process is killed in a memory cgroup named as docker names its containers, and a real
container is killed under a dockerd of the test's own. Every fixture removes what it made
(cgroups, containers, images, the daemon, temporary directories), even when a test fails.
The cgroup is made in the v1 memory hierarchy where there is one, else in the unified (v2)
hierarchy, as docker's cgroupfs driver makes it on each.
"""

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
from docker_engine import DEBIAN_PATH, rmdir_unless_in_use

pytestmark = pytest.mark.root

MEMORY_V1 = "/sys/fs/cgroup/memory"
UNIFIED = "/sys/fs/cgroup"  # where cgroup v2 is mounted on a unified (v2-only) system
# Touches every page, so the memory is really charged to the cgroup.
HOG = ("import sys\n"
       "with open(sys.argv[1] + '/cgroup.procs', 'w') as f: f.write('0')\n"
       "hog = b'\\x01' * (200 << 20)\n")


def _findings(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture
def ts_oom(run_tool, tmp_path):
    """Runs `ts-oom check --json` with its state, lock, metrics and kill log under tmp_path."""
    config = tmp_path / "trainserver.toml"
    config.write_text(
        "[paths]\n"
        f'state_dir = "{tmp_path}/state"\nlock_dir = "{tmp_path}/lock"\n'
        f'metrics_dir = "{tmp_path}/metrics"\n'
        "[oom]\n"
        f'log_file = "{tmp_path}/log/oom-kills.log"\n')

    class Tool:
        log_file = tmp_path / "log" / "oom-kills.log"
        metrics_file = tmp_path / "metrics" / "trainserver_oom.prom"
        state_file = tmp_path / "state" / "oom.json"
        # No engine answers here unless a test says so.
        docker_host = f"unix://{tmp_path}/no-docker.sock"

        def check(self):
            # The kmsg reader, also where journald runs (auto would take the journal there):
            # these tests look at its saved position.
            result = run_tool("ts-oom", "--config", str(config), "check", "--json", "--source", "kmsg",
                              env={"PATH": DEBIAN_PATH, "DOCKER_HOST": self.docker_host})
            assert result.returncode in (0, 1, 2), result.stderr
            return result, _findings(result.stdout)

    return Tool()


def _rmdir_when_empty(path, timeout=10):
    """rmdir a cgroup once the kernel has let go of its last task."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _memory_hierarchy():
    """(root of the hierarchy with the memory controller, whether it is cgroup v2), or a skip."""
    if os.path.isfile(f"{MEMORY_V1}/memory.limit_in_bytes"):
        return MEMORY_V1, False
    try:
        with open(f"{UNIFIED}/cgroup.subtree_control") as handle:
            enabled = handle.read().split()
    except FileNotFoundError:
        pytest.skip("no memory cgroup controller: neither /sys/fs/cgroup/memory (v1) nor a "
                    "cgroup v2 hierarchy at /sys/fs/cgroup")
    if "memory" not in enabled:
        pytest.skip("cgroup v2: the memory controller is not enabled in "
                    "/sys/fs/cgroup/cgroup.subtree_control")
    return UNIFIED, True


def _write(path, text):
    with open(path, "w") as handle:
        handle.write(text)


@pytest.fixture
def docker_like_memcg():
    """<hierarchy>/docker/<64 hex> limited to 50M, as the cgroupfs driver makes it.

    Swap is limited too where the kernel accounts it, so that the hog is killed, not swapped
    out. On cgroup v2 the memory controller is enabled for /docker's children, as dockerd does.
    """
    root, v2 = _memory_hierarchy()
    parent = f"{root}/docker"
    made_parent = not os.path.isdir(parent)
    full_id = secrets.token_hex(32)
    path = f"{parent}/{full_id}"
    os.makedirs(parent, exist_ok=True)
    try:
        if v2:
            _write(f"{parent}/cgroup.subtree_control", "+memory")
        os.mkdir(path)
        if v2:
            _write(f"{path}/memory.max", "50M")
            if os.path.exists(f"{path}/memory.swap.max"):
                _write(f"{path}/memory.swap.max", "0")
        else:
            _write(f"{path}/memory.limit_in_bytes", "50M")
            if os.path.exists(f"{path}/memory.memsw.limit_in_bytes"):  # memory and swap together
                _write(f"{path}/memory.memsw.limit_in_bytes", "50M")
        yield full_id, path
    finally:
        if os.path.isdir(path):
            with open(f"{path}/cgroup.procs") as handle:
                for pid in handle.read().split():
                    os.kill(int(pid), signal.SIGKILL)
            _rmdir_when_empty(path)
        if made_parent:
            rmdir_unless_in_use(parent)


def _hog(cgroup):
    result = subprocess.run(["/usr/bin/python3", "-c", HOG, cgroup], capture_output=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr


def test_kill_in_a_docker_cgroup_is_found_once_and_repeats_are_critical(ts_oom, docker_like_memcg):
    full_id, cgroup = docker_like_memcg
    short = full_id[:12]
    ts_oom.check()  # from here on, only new kills
    _hog(cgroup)

    result, findings = ts_oom.check()
    mine = [f for f in findings if f["subject"] == short]
    assert len(mine) == 1, findings
    assert mine[0]["severity"] == "warning" and mine[0]["tool"] == "oom"
    assert "container " + short in mine[0]["summary"]
    assert "python3 (pid " in mine[0]["summary"] and "cgroup limit 50.0 MiB" in mine[0]["summary"]
    assert result.returncode >= 1
    (line,) = [line for line in ts_oom.log_file.read_text().splitlines() if short in line]
    assert f"container={short} memcg=/docker/{full_id} process=python3 pid=" in line
    assert "limit=51200kB" in line
    assert f'trainserver_oom_kills_total{{container="{short}"}} 1' in ts_oom.metrics_file.read_text()
    # Nothing lost since the first run (that one may have found the ring buffer overwritten).
    assert not [f for f in findings if f["check"] == "kernel-log" and f["severity"] != "ok"], findings

    # The cursor: the same kill is not reported again; the container's alert is resolved.
    result, findings = ts_oom.check()
    mine = [f for f in findings if f["subject"] == short]
    assert [f["severity"] for f in mine] == ["ok"], findings
    assert len([line for line in ts_oom.log_file.read_text().splitlines() if short in line]) == 1

    # A second kill of the same container within [oom] repeat_window (1d) is critical.
    _hog(cgroup)
    result, findings = ts_oom.check()
    mine = [f for f in findings if f["subject"] == short]
    assert [(f["severity"], f["value"]) for f in mine] == [("critical", 2)], findings
    assert result.returncode == 2
    state = json.loads(ts_oom.state_file.read_text())
    assert state["kmsg"]["boot_id"] == open("/proc/sys/kernel/random/boot_id").read().strip().replace("-", "")


def test_a_position_saved_in_another_boot_is_not_trusted(ts_oom, docker_like_memcg):
    full_id, cgroup = docker_like_memcg
    ts_oom.check()
    _hog(cgroup)
    # As after a reboot: the saved sequence number is far beyond this boot's records, but it
    # belongs to another boot, so the whole ring buffer is read again.
    state = json.loads(ts_oom.state_file.read_text())
    state["kmsg"] = {"boot_id": "0" * 32, "seq": 10**12}
    ts_oom.state_file.write_text(json.dumps(state))
    _, findings = ts_oom.check()
    assert [f["severity"] for f in findings if f["subject"] == full_id[:12]] == ["warning"], findings


def _last_kmsg_seq():
    from trainserver.oom import kmsg

    _, last, _ = kmsg.select(kmsg.raw_records(kmsg.DEVICE), None, "", 0.0)
    return last


def test_a_kill_missing_from_the_log_is_told_by_the_kernel_counter(ts_oom, docker_like_memcg):
    full_id, cgroup = docker_like_memcg
    ts_oom.check()
    _hog(cgroup)
    # As if the ring buffer had overwritten the kill before this run: skip past its records.
    state = json.loads(ts_oom.state_file.read_text())
    state["kmsg"]["seq"] = _last_kmsg_seq()
    ts_oom.state_file.write_text(json.dumps(state))
    result, findings = ts_oom.check()
    assert not [f for f in findings if f["subject"] == full_id[:12]]
    (gap,) = [f for f in findings if f["check"] == "kernel-log"]
    assert (gap["severity"], gap["value"], gap["subject"]) == ("warning", 1, "host"), findings
    assert "1 kill could not be attributed" in gap["summary"]
    assert result.returncode >= 1
    _, findings = ts_oom.check()
    assert [f["severity"] for f in findings if f["check"] == "kernel-log"] == ["ok"]


def test_a_metrics_file_that_cannot_be_written_loses_no_finding(ts_oom, docker_like_memcg):
    full_id, cgroup = docker_like_memcg
    short = full_id[:12]
    ts_oom.check()
    metrics_dir = ts_oom.metrics_file.parent
    shutil.rmtree(metrics_dir)
    metrics_dir.write_text("a file where the metrics directory should be\n")
    _hog(cgroup)
    result, findings = ts_oom.check()
    assert [f["severity"] for f in findings if f["subject"] == short] == ["warning"], result.stderr
    assert result.returncode == 1
    assert "metrics not written to" in result.stderr
    assert short in ts_oom.log_file.read_text()
    # Saved: the next run does not report it again, and the metrics come back with the directory.
    metrics_dir.unlink()
    _, findings = ts_oom.check()
    assert [f["severity"] for f in findings if f["subject"] == short] == ["ok"], findings
    assert f'trainserver_oom_kills_total{{container="{short}"}} 1' in ts_oom.metrics_file.read_text()


def test_kill_lines_written_from_user_space_are_ignored(ts_oom):
    ts_oom.check()
    fake = ("<4>Memory cgroup out of memory: Killed process 1 (ts-oom-test) total-vm:1kB, "
            "anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1kB oom_score_adj:0\n")
    with open("/dev/kmsg", "w") as handle:
        handle.write(fake)
    _, findings = ts_oom.check()
    assert not [f for f in findings if "ts-oom-test" in f["summary"]], findings


def test_unreadable_kernel_log_is_unknown(run_tool):
    with open("/proc/sys/kernel/dmesg_restrict") as handle:
        if handle.read().strip() != "1":
            pytest.skip("kernel.dmesg_restrict is 0: anyone may read /dev/kmsg here")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    tree = tempfile.mkdtemp(prefix="trainserver-test-", dir="/tmp")
    try:
        os.chmod(tree, 0o777)
        # A copy of the code nobody can read: the clone may sit under a directory only root enters.
        shutil.copytree(os.path.join(root, "tools"), os.path.join(tree, "tools"))
        with open(os.path.join(tree, "c.toml"), "w") as handle:
            handle.write(f'[paths]\nstate_dir = "{tree}/state"\nlock_dir = "{tree}/lock"\n'
                         f'metrics_dir = "{tree}/metrics"\n[oom]\nlog_file = "{tree}/oom.log"\n')
        code = "import sys; sys.argv[0] = 'ts-oom'; from trainserver.oom.cli import main; main()"
        result = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             "/usr/bin/python3", "-c", code, "--config", f"{tree}/c.toml", "check", "--json",
             "--source", "kmsg"],
            capture_output=True, text=True, timeout=60, cwd=tree,
            env={"PATH": DEBIAN_PATH, "PYTHONPATH": os.path.join(tree, "tools")})
        assert result.returncode == 3, result.stderr
        (finding,) = _findings(result.stdout)
        assert finding["severity"] == "unknown"
        assert "cannot read the kernel log (kmsg)" in finding["summary"]
        assert "Operation not permitted" in finding["summary"]
        assert not os.path.exists(f"{tree}/state/oom.json")
    finally:
        shutil.rmtree(tree)


def test_container_kill_is_attributed_to_its_name(ts_oom, dockerd):
    docker, host, image = dockerd
    ts_oom.docker_host = host
    ts_oom.check()
    name = f"ts-oom-test-{secrets.token_hex(4)}"
    # tail keeps a line that never ends in memory: 200 MB against a 64 MB limit.
    result = subprocess.run(docker + ["run", "--name", name, "--network", "none", "--memory", "64m",
                                      "--memory-swap", "64m", image,
                                      "sh", "-c", "head -c 200M /dev/zero | tail"],
                            capture_output=True, text=True, env={"PATH": DEBIAN_PATH}, timeout=120)
    assert result.returncode == 137, result.stderr
    full_id = subprocess.run(docker + ["inspect", "--format", "{{.Id}}", name], capture_output=True,
                             text=True, check=True, env={"PATH": DEBIAN_PATH}).stdout.strip()

    _, findings = ts_oom.check()
    mine = [f for f in findings if f["subject"] == name]
    assert [f["severity"] for f in mine] == ["warning"], findings
    assert f"container {name}: 1 new OOM kill" in mine[0]["summary"]
    assert "tail (pid " in mine[0]["summary"] and "cgroup limit 64.0 MiB" in mine[0]["summary"]
    (line,) = [line for line in ts_oom.log_file.read_text().splitlines() if name in line]
    # The cgroupfs driver's path, or the systemd driver's (dockerd's default where systemd runs
    # and cgroup v2 is used).
    assert (f"container={name} memcg=/docker/{full_id} process=tail" in line
            or f"container={name} memcg=/system.slice/docker-{full_id}.scope process=tail" in line), line
