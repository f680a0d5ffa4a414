"""ts-backup with the real restic and rclone: a repository behind an rclone remote of type
local (so restic's rclone backend really runs), on a real BTRFS with the storage's subvolumes.
Needs root (loop device, mounts, a private mount namespace), restic, rclone, btrfs-progs."""

import glob
import hashlib
import http.server
import json
import os
import signal
import subprocess
import threading
import time

import pytest
import restic_releases
from docker_engine import DEBIAN_PATH

pytestmark = pytest.mark.root
# Tests whose outcome restic's version could change run with both releases; the others (the
# containers, the snapshot step, the refusals before restic starts) with Debian 12's only.
DEBIAN12_ONLY = pytest.mark.parametrize("restic_release", ["restic-debian12"], indirect=True)
SUBVOLUMES = ["homes/alice", "homes/alice/proj", "homes/bob", "docker-volumes",
              "tensorboard/alice"]


def sh(*argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def tree(root):
    """{relative path: sha256} of every file under root."""
    found = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = hashlib.sha256(handle.read()).hexdigest()
    return found


def live(storage):
    """The tree of the backed-up data: the storage without the backup's own snapshot sets."""
    return {path: digest for path, digest in tree(storage).items()
            if not path.startswith("backup-snapshots/")}


class Pings(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        Pings.seen.append((self.path.split("?")[0], body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def pings():
    Pings.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ping/0c1d"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=[name for name, _ in restic_releases.releases()])
def restic_release(request):
    """{"name", "path": the PATH that finds this restic first, "version"}."""
    directory = dict(restic_releases.releases())[request.param]
    if request.param != "restic-debian12" and directory is None:
        pytest.skip(f"{request.param} is not fetched: run `make deps` "
                    "(tests/integration/restic_releases.py)")
    path = f"{directory}:{DEBIAN_PATH}" if directory else DEBIAN_PATH
    shown = sh("restic", "version", env={"PATH": path}).stdout
    version = tuple(int(part) for part in shown.split()[1].split("."))
    return {"name": request.param, "path": path, "version": version}


@pytest.fixture
def server(tmp_path, btrfs_mount, pings, restic_release):
    """A storage BTRFS with the backup set's subvolumes, a password file, an rclone config
    whose remote "gdrive" is a local directory, and a config naming all of it; restic is the
    release restic_release names."""
    storage = btrfs_mount("1G")
    for directory in ("homes", "tensorboard"):
        os.mkdir(os.path.join(storage, directory))
    for rel in SUBVOLUMES:
        sh("btrfs", "-q", "subvolume", "create", os.path.join(storage, rel))
        with open(os.path.join(storage, rel, "data.txt"), "w") as handle:
            handle.write(f"{rel}: first version\n")
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(mode=0o700)
    password = secrets_dir / "restic-password"
    password.write_text("correct horse battery staple\n")
    password.chmod(0o600)
    rclone_conf = tmp_path / "rclone.conf"
    # "offline": an sftp server on a port where nothing listens, as when the network is down.
    secret = sh("rclone", "obscure", "not-a-password").stdout.strip()
    rclone_conf.write_text("[gdrive]\ntype = local\n\n[offline]\ntype = sftp\nhost = 127.0.0.1\n"
                           f"port = 1\nuser = backup\npass = {secret}\n")
    rclone_conf.chmod(0o600)
    state = tmp_path / "state"
    config = tmp_path / "trainserver.toml"

    def configure(**backup):
        table = {"repository": f"rclone:gdrive:{tmp_path}/repo", "password_file": str(password),
                 "rclone_config": str(rclone_conf), "cache_dir": str(tmp_path / "cache"),
                 "healthcheck_url": pings, **backup}
        config.write_text(
            f'[paths]\nstorage = "{storage}"\nstate_dir = "{state}"\nlock_dir = "{state}"\n'
            f'metrics_dir = "{state}/metrics"\nsecrets_dir = "{secrets_dir}"\n[backup]\n' +
            "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items()))

    configure()
    yield {"storage": storage, "config": str(config), "repo": str(tmp_path / "repo"),
           "password": str(password), "state": state, "tmp": tmp_path, "configure": configure,
           "image": tmp_path / "btrfs-0.img", "restic": restic_release,
           "env": {"TRAINSERVER_CONFIG": str(config), "PATH": restic_release["path"]}}
    # The snapshot sets are subvolumes inside the mount: the mount's teardown takes them.


def backup(run_tool, server, *args):
    return run_tool("ts-backup", *args, env=server["env"])


def findings(result):
    return {(f["check"], f["subject"]): f for f in map(json.loads, result.stdout.splitlines())}


def restic(server, *args):
    return subprocess.run(["restic", "--repo", server["repo"], "--password-file",
                           server["password"], "--no-cache", *args], check=True,
                          capture_output=True, text=True, env={"PATH": server["restic"]["path"]})


def test_round_trip_through_the_rclone_backend(run_tool, server):
    created = backup(run_tool, server, "init")
    assert created.returncode == 0 and "created the repository" in created.stdout, created.stderr
    again = backup(run_tool, server, "init")
    assert again.returncode == 0 and "exists already" in again.stdout

    first = backup(run_tool, server, "run", "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    found = findings(first)
    repository = f"rclone:gdrive:{server['repo']}"
    assert found[("backup", repository)]["severity"] == "ok"
    assert "5 new" in found[("backup", repository)]["summary"]  # a data.txt per subvolume
    assert ("forget", repository) not in found  # the daily run does one job: the backup
    storage = server["storage"]
    [first_snapshot] = json.loads(backup(run_tool, server, "snapshots", "--json").stdout)
    old = server["tmp"] / "restored-first"
    restic(server, "restore", first_snapshot["id"], "--target", str(old))
    assert tree(str(old) + storage) == live(storage)

    with open(os.path.join(storage, "homes/alice/data.txt"), "a") as handle:
        handle.write("second version\n")
    with open(os.path.join(storage, "homes/bob/new.txt"), "w") as handle:
        handle.write("new\n")
    os.unlink(os.path.join(storage, "tensorboard/alice/data.txt"))
    second = backup(run_tool, server, "run", "--json")
    assert second.returncode == 0, second.stdout + second.stderr
    found = findings(second)
    assert "1 new, 1 changed, 3 unmodified" in found[("backup", repository)]["summary"]
    assert len(json.loads(backup(run_tool, server, "snapshots", "--json").stdout)) == 2
    weekly = backup(run_tool, server, "prune", "--json")
    assert weekly.returncode == 0, weekly.stdout + weekly.stderr
    found = findings(weekly)
    # Both runs fall on one day: keep_daily keeps that day's last. restic 0.14 forgets the
    # first; from 0.17 it keeps the oldest as well while the policy has periods to spare.
    forgotten = 1 if server["restic"]["version"] < (0, 17, 0) else 0
    assert f"forgot {forgotten}" in found[("forget", repository)]["summary"]
    assert found[("prune", repository)]["severity"] == "ok"
    assert found[("structure", repository)]["severity"] == "ok"

    listed = json.loads(backup(run_tool, server, "snapshots", "--json").stdout)
    assert len(listed) == 1 + (not forgotten)
    snapshot = listed[-1]
    # restic saw the original paths, never the snapshot set's: the parent was found (so
    # change detection worked) and forget grouped both runs together.
    assert snapshot["parent"] == first_snapshot["id"]
    assert sorted(snapshot["paths"]) == sorted(os.path.join(storage, rel) for rel in SUBVOLUMES)
    assert snapshot["tags"] == ["trainserver"] and snapshot["hostname"] == "trainserver"
    target = server["tmp"] / "restored"
    restic(server, "restore", snapshot["id"], "--target", str(target))
    assert tree(str(target) + storage) == live(storage)
    assert not os.path.exists(str(target) + storage + "/tensorboard/alice/data.txt")

    # Only the last backed-up snapshot set stays, as the reference for verification.
    sets = os.listdir(os.path.join(storage, "backup-snapshots"))
    assert len(sets) == 1 and not sets[0].endswith(".pending"), sets
    status = backup(run_tool, server, "status", "--json")
    assert status.returncode == 0
    record = json.loads(status.stdout)
    # 0.14's summary gives the short id, newer restic the whole one.
    assert snapshot["id"].startswith(record["last_success"]["snapshot_id"])
    assert len(record["last_success"]["snapshot_id"]) >= 8
    metrics = (server["state"] / "metrics" / "trainserver_backup.prom").read_text()
    assert "trainserver_backup_last_run_ok 1" in metrics
    assert "trainserver_backup_last_success_timestamp_seconds" in metrics
    paths = [path for path, _ in Pings.seen]
    assert paths == ["/ping/0c1d/start", "/ping/0c1d", "/ping/0c1d/start", "/ping/0c1d"], paths
    assert "backup done" in Pings.seen[-1][1]


@DEBIAN12_ONLY
def test_a_file_written_during_the_run_is_backed_up_as_it_was_at_snapshot_time(run_tool,
                                                                                  server):
    assert backup(run_tool, server, "init").returncode == 0
    log = os.path.join(server["storage"], "tensorboard/alice/events.log")
    stop = threading.Event()

    def write():
        with open(log, "a") as handle:
            count = 0
            while not stop.is_set():
                handle.write(f"step {count} " + "x" * 200 + "\n")
                handle.flush()
                count += 1
                time.sleep(0.001)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.3)
        result = backup(run_tool, server, "run", "--json")
    finally:
        stop.set()
        writer.join()
    assert result.returncode == 0, result.stdout + result.stderr
    sets = os.path.join(server["storage"], "backup-snapshots")
    kept = os.path.join(sets, os.listdir(sets)[0], "tensorboard%2Falice", "events.log")
    target = server["tmp"] / "restored"
    restic(server, "restore", "latest", "--target", str(target), "--include", log)
    restored = open(str(target) + log, "rb").read()
    assert restored == open(kept, "rb").read()  # the snapshot's state, byte for byte
    assert len(open(log, "rb").read()) > len(restored)  # while the live file went on growing


def test_an_unreadable_file_fails_the_backup_and_is_named(run_tool, server):
    assert backup(run_tool, server, "init").returncode == 0
    payload = os.urandom(64 * 1024)
    victim = os.path.join(server["storage"], "homes/bob/weights.bin")
    with open(victim, "wb") as handle:
        handle.write(payload)
    sh("sync")
    # Corrupt the file's only copy on the disk image: BTRFS then answers reads with EIO, as
    # a failing disk would make it do.
    with open(server["image"], "r+b") as handle:
        data = handle.read()
        offset = data.find(payload[:4096])
        assert offset >= 0
        handle.seek(offset)
        handle.write(b"\0" * 4096)
        handle.flush()
        os.fsync(handle.fileno())
    with open("/proc/sys/vm/drop_caches", "w") as handle:
        handle.write("3\n")
    result = backup(run_tool, server, "run", "--json")
    assert result.returncode == 2, result.stdout + result.stderr
    finding = findings(result)[("backup", f"rclone:gdrive:{server['repo']}")]
    assert finding["severity"] == "critical"
    assert "homes/bob/weights.bin" in finding["summary"] and "incomplete" in finding["summary"]
    status = json.loads(backup(run_tool, server, "status", "--json").stdout)
    assert status["last_run"]["ok"] is False and status["last_success"] is None
    assert Pings.seen[-1][0] == "/ping/0c1d/2"
    assert "weights.bin" in Pings.seen[-1][1]
    # The failed run's snapshot set is gone; no set is kept from a failed backup.
    assert os.listdir(os.path.join(server["storage"], "backup-snapshots")) == []


def test_a_missing_repository_fails_loudly_and_deletes_nothing(run_tool, server):
    server["configure"](repository=f"rclone:gdrive:{server['tmp']}/no-such-repo")
    before = tree(server["storage"])
    result = backup(run_tool, server, "run", "--json")
    assert result.returncode == 2
    finding = findings(result)[("backup", f"rclone:gdrive:{server['tmp']}/no-such-repo")]
    assert finding["severity"] == "critical" and "backup failed" in finding["summary"], finding
    # restic's own reason, whichever way this release prints it (a plain line, or JSON).
    assert "config" in finding["summary"], finding["summary"]
    assert "run ts-backup init" in finding["summary"], finding["summary"]
    assert tree(server["storage"]) == before
    assert os.listdir(os.path.join(server["storage"], "backup-snapshots")) == []
    assert backup(run_tool, server, "status").returncode == 2


def test_an_unreachable_repository_fails_loudly_and_deletes_nothing(run_tool, server):
    assert backup(run_tool, server, "init").returncode == 0
    assert backup(run_tool, server, "run", "--json").returncode == 0
    sets = os.path.join(server["storage"], "backup-snapshots")
    kept = os.listdir(sets)
    before = tree(server["storage"])
    server["configure"](repository="rclone:offline:/repo")
    result = backup(run_tool, server, "run", "--json")
    assert result.returncode == 2
    finding = findings(result)[("backup", "rclone:offline:/repo")]
    assert finding["severity"] == "critical", finding
    assert "connection refused" in finding["summary"], finding["summary"]
    assert tree(server["storage"]) == before and os.listdir(sets) == kept
    status = json.loads(backup(run_tool, server, "status", "--json").stdout)
    assert status["last_run"]["ok"] is False and status["last_success"]["ok"] is True


@DEBIAN12_ONLY
def test_dry_run_prints_the_commands_and_changes_nothing(run_tool, server):
    assert backup(run_tool, server, "init").returncode == 0
    result = backup(run_tool, server, "run", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    assert "dry run, not running: restic --repo rclone:gdrive:" in result.stderr
    assert "backup --json --host trainserver --tag trainserver --limit-upload 12207" in \
        result.stderr, result.stderr
    assert " unlock" not in result.stderr and " forget " not in result.stderr  # weekly's
    weekly = backup(run_tool, server, "prune", "--dry-run", "--json")
    assert weekly.returncode == 0, weekly.stderr
    commands = [line.split("dry run, not running: ", 1)[1] for line in weekly.stderr.splitlines()
                if "dry run, not running: restic" in line]
    assert [c.split("--cache-dir ", 1)[1].split(" ", 1)[1] for c in commands] == [
        "unlock", "forget --json --host trainserver --tag trainserver --group-by host,tags "
        "--keep-daily 7 --keep-weekly 52 --prune --max-unused 5%", "check"], commands
    assert "0c1d" not in result.stderr  # the healthcheck URL is a secret, and not pinged
    assert Pings.seen == []
    assert json.loads(backup(run_tool, server, "snapshots", "--json").stdout) == []
    assert not os.path.exists(os.path.join(server["storage"], "backup-snapshots"))
    assert not os.path.exists(server["state"] / "backup.json")


@DEBIAN12_ONLY
def test_a_missing_or_readable_password_file_is_refused(run_tool, server):
    os.chmod(server["password"], 0o644)
    result = backup(run_tool, server, "run", "--json")
    # The backup could not be made: critical, never a code that reads as a warning.
    assert result.returncode == 2 and "restic-password" in result.stderr, result.stderr
    (failure,) = findings(result).values()
    assert failure["severity"] == "critical" and "restic-password" in failure["summary"]
    os.chmod(server["password"], 0o600)
    assert backup(run_tool, server, "init").returncode == 0
    with open(server["password"], "w") as handle:
        handle.write("\n")  # restic trims the file: no password at all
    result = backup(run_tool, server, "run", "--json")
    assert result.returncode == 2 and "is empty" in result.stderr, result.stderr
    (failure,) = findings(result).values()
    assert failure["severity"] == "critical" and "restic-password" in failure["summary"]
    # Refused before the snapshots and before the start ping, as run's help says.
    assert not os.path.exists(os.path.join(server["storage"], "backup-snapshots"))
    assert Pings.seen == []
    os.unlink(server["password"])
    result = backup(run_tool, server, "init")
    assert result.returncode == 2 and "restic-password" in result.stderr


@DEBIAN12_ONLY
def test_a_backup_that_cannot_run_reaches_telegram_as_critical(run_tool, server, tool_path):
    """The first round's silent failure: rclone.conf missing, `ts-backup run --json` through
    `ts-alert pipe` as ts-backup.service runs it, to a local Bot API server."""
    from tests.bot_api import TOKEN, BotServer

    token = server["tmp"] / "secrets" / "telegram-token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    os.unlink(server["tmp"] / "rclone.conf")
    with BotServer() as bot:
        with open(server["config"], "a") as handle:
            handle.write(f'[alert]\ntelegram_chat_id = "-100123"\ntelegram_token_file = '
                         f'"{token}"\ntelegram_api_url = "{bot.url}"\n')
        result = run_tool("ts-alert", "pipe", "--", tool_path("ts-backup"), "run", "--json",
                          env=server["env"])
        assert result.returncode == 2, result.stderr
        (text,) = bot.texts()
        assert "CRITICAL</b> backup/run ts-backup run: ts-backup run could not do its job" in text
        assert "rclone.conf does not exist" in text
        status = run_tool("ts-alert", "status", env=server["env"]).stdout
        assert "open problems: 1" in status and "CRITICAL backup/run ts-backup run" in status
    assert not os.path.exists(server["repo"])


@DEBIAN12_ONLY
def test_verify_waits_for_a_backup_then_gives_up_with_a_finding(run_tool, server):
    """Verify on the 1st meets the daily backup: it waits, rather than skipping the month."""
    from trainserver.core.lock import ToolLock

    state = str(server["state"])
    held = ToolLock("backup", state, command="ts-backup run").acquire()
    threading.Timer(2, held.release).start()
    waited = backup(run_tool, server, "verify", "--json")
    assert "waiting up to 72000 s for the lock" in waited.stderr, waited.stderr
    assert waited.returncode in (1, 2)  # it verified (nothing backed up yet to compare)
    server["configure"](lock_wait="1s")
    with ToolLock("backup", state, command="ts-backup run"):
        gave_up = backup(run_tool, server, "verify", "--json")
    assert gave_up.returncode == 75
    (failure,) = findings(gave_up).values()
    assert failure["severity"] == "unknown"  # verify is a check: it could not verify
    assert "gave up after waiting 1 s" in failure["summary"]
    assert "held by ts-backup run" in failure["summary"]


# -- containers paused through the docker CLI, under a dockerd of the test's own --------------

def container(dockerd):
    docker, host, image = dockerd
    name = f"ts-backup-db-{os.urandom(3).hex()}"
    sh(*docker, "run", "--detach", "--name", name, "--network", "none", image, "sleep",
       "infinity", env={"PATH": DEBIAN_PATH})
    return name


def container_state(dockerd, name):
    return sh(*dockerd[0], "inspect", "--format", "{{.State.Status}}", name,
              env={"PATH": DEBIAN_PATH}).stdout.strip()


def backup_with_docker(run_tool, server, dockerd, *args):
    return run_tool("ts-backup", *args, env=dict(server["env"], DOCKER_HOST=dockerd[1]))


@DEBIAN12_ONLY
def test_containers_are_paused_only_while_the_snapshots_are_taken(run_tool, server, dockerd):
    import btrfsutil

    name = container(dockerd)
    server["configure"](containers=[name])
    assert backup(run_tool, server, "init").returncode == 0
    since = int(time.time()) - 1
    result = backup_with_docker(run_tool, server, dockerd, "run", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    until = int(time.time()) + 1
    events = [json.loads(line) for line in sh(
        *dockerd[0], "events", "--since", str(since), "--until", str(until), "--filter",
        f"container={name}", "--format", "{{json .}}", env={"PATH": DEBIAN_PATH}
    ).stdout.splitlines()]
    times = {event["status"]: event["timeNano"] / 1e9 for event in events
             if event["status"] in ("pause", "unpause")}
    assert set(times) == {"pause", "unpause"}, events
    sets = os.path.join(server["storage"], "backup-snapshots")
    snapshot = os.path.join(sets, os.listdir(sets)[0], "docker-volumes")
    taken = btrfsutil.subvolume_info(snapshot).otime
    # Paused before the snapshot, unpaused right after it and before restic started reading
    # (BTRFS reports the snapshot's creation time to the second here).
    assert int(times["pause"]) <= taken <= times["unpause"], (times, taken)
    [made] = json.loads(backup(run_tool, server, "snapshots", "--json").stdout)
    # restic's snapshot time is when it started reading: after the unpause.
    assert made["time"] >= time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(times["unpause"]))
    assert times["unpause"] - times["pause"] < 5
    finding = findings(result)[("pause", "containers")]
    assert finding["severity"] == "ok" and finding["value"] < 5
    assert container_state(dockerd, name) == "running"


@DEBIAN12_ONLY
def test_a_container_is_unpaused_even_when_the_snapshot_step_fails(run_tool, server, dockerd):
    name = container(dockerd)
    server["configure"](containers=[name])
    # A file where the snapshot sets' directory belongs: the snapshot step fails.
    with open(os.path.join(server["storage"], "backup-snapshots"), "w") as handle:
        handle.write("in the way\n")
    result = backup_with_docker(run_tool, server, dockerd, "run", "--json")
    assert result.returncode == 2, result.stdout + result.stderr
    finding = findings(result)[("backup", f"rclone:gdrive:{server['repo']}")]
    assert "the snapshots could not be taken" in finding["summary"], finding
    assert container_state(dockerd, name) == "running"


@DEBIAN12_ONLY
def test_an_engine_that_does_not_pause_in_time_fails_the_run_loudly(run_tool, server, dockerd):
    name = container(dockerd)
    server["configure"](containers=[name], pause_timeout="2s")
    assert backup(run_tool, server, "init").returncode == 0
    root = dockerd[1][len("unix://"):].rsplit("/", 1)[0]
    pid = int(open(f"{root}/dockerd.pid").read())
    os.kill(pid, signal.SIGSTOP)  # the engine takes the request and never answers
    try:
        started = time.monotonic()
        result = backup_with_docker(run_tool, server, dockerd, "run", "--json")
        took = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert result.returncode == 2, result.stdout + result.stderr
    found = findings(result)
    backup_finding = found[("backup", f"rclone:gdrive:{server['repo']}")]
    assert f"container {name} was not paused within 2 s" in backup_finding["summary"]
    assert found[("pause", "containers")]["severity"] == "critical"  # unpause unanswered too
    assert took < 30
    assert json.loads(backup(run_tool, server, "snapshots", "--json").stdout) == []
    assert not os.path.exists(os.path.join(server["storage"], "backup-snapshots")) or \
        os.listdir(os.path.join(server["storage"], "backup-snapshots")) == []


# -- verify, restore, prune, a killed backup ---------------------------------------------------

def add_files(storage):
    for rel in ("homes/alice/project", "homes/alice/project/runs", "homes/bob/data",
                "tensorboard/alice/run1"):
        os.makedirs(os.path.join(storage, rel), exist_ok=True)
        for index in range(5):
            with open(os.path.join(storage, rel, f"f{index}.bin"), "wb") as handle:
                handle.write(os.urandom(20000 + index))


def test_verify_checks_packs_in_turn_and_compares_a_restored_sample(run_tool, server):
    add_files(server["storage"])
    assert backup(run_tool, server, "init").returncode == 0
    assert backup(run_tool, server, "run", "--json").returncode == 0
    first = backup(run_tool, server, "verify", "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    found = findings(first)
    repository = f"rclone:gdrive:{server['repo']}"
    assert "subset 1/12" in found[("check", repository)]["summary"]
    sampled = found[("restore-sample", repository)]
    assert sampled["severity"] == "ok" and sampled["value"] > 0, sampled
    second = findings(backup(run_tool, server, "verify", "--json"))
    assert "subset 2/12" in second[("check", repository)]["summary"]

    # The snapshot the backup read, changed afterwards: the restored files no longer match.
    sets = os.path.join(server["storage"], "backup-snapshots")
    kept = os.path.join(sets, os.listdir(sets)[0])
    server["configure"](verify_sample_bytes="1GiB", verify_sample_dirs=100)
    for name in os.listdir(kept):
        sh("btrfs", "property", "set", os.path.join(kept, name), "ro", "false")
    for directory, _, names in os.walk(kept):
        for name in names:
            with open(os.path.join(directory, name), "ab") as handle:
                handle.write(b"changed")
    differ = backup(run_tool, server, "verify", "--json")
    assert differ.returncode == 2
    sampled = findings(differ)[("restore-sample", repository)]
    assert sampled["severity"] == "critical" and "differ from the snapshot" in sampled["summary"]


def test_a_corrupted_pack_makes_verify_critical(run_tool, server):
    add_files(server["storage"])
    server["configure"](verify_subsets=1)
    assert backup(run_tool, server, "init").returncode == 0
    assert backup(run_tool, server, "run", "--json").returncode == 0
    packs = sorted((os.path.getsize(p), p) for p in
                   glob.glob(os.path.join(server["repo"], "data", "*", "*")))
    size, pack = packs[-1]
    with open(pack, "r+b") as handle:
        handle.seek(size // 2)
        handle.write(b"\xff" * 64)
    result = backup(run_tool, server, "verify", "--json")
    assert result.returncode == 2, result.stdout + result.stderr
    check = findings(result)[("check", f"rclone:gdrive:{server['repo']}")]
    assert check["severity"] == "critical" and "subset 1/1 found errors" in check["summary"]
    # The damaged pack is named: `restic repair packs` and a look at the remote need its ID.
    assert f"damaged: pack {os.path.basename(pack)} (" in check["summary"], check["summary"]
    status = backup(run_tool, server, "status")
    assert "packs: no pack read by verify yet" in status.stdout, status.stdout


def test_the_weekly_job_finds_a_lost_pack_without_reading_data(run_tool, server):
    """Corruption found sooner: the weekly prune job's `restic check` (no data read) finds a
    pack that is gone or cut short, and names it; the monthly verify reads 1/12 at a time."""
    add_files(server["storage"])
    assert backup(run_tool, server, "init").returncode == 0
    assert backup(run_tool, server, "run", "--json").returncode == 0
    repository = f"rclone:gdrive:{server['repo']}"
    assert "packs: no pack read by verify yet" in backup(run_tool, server, "status").stdout
    verified = backup(run_tool, server, "verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    status = backup(run_tool, server, "status")
    assert "packs: 1 of 12 parts of the packs read without errors" in status.stdout, \
        status.stdout
    assert "a full read takes 12 months" in status.stdout
    packs = sorted((os.path.getsize(p), p) for p in
                   glob.glob(os.path.join(server["repo"], "data", "*", "*")))
    size, pack = packs[-1]
    os.truncate(pack, size // 2)
    result = backup(run_tool, server, "prune", "--json")
    assert result.returncode == 2, result.stdout + result.stderr
    found = findings(result)
    structure = found[("structure", repository)]
    assert structure["severity"] == "critical", structure
    assert f"pack {os.path.basename(pack)} (unexpected file size" in structure["summary"], \
        structure["summary"]
    assert found[("forget", repository)]["severity"] == "ok"


def test_restore_never_overwrites_live_data_unless_asked(run_tool, server):
    live = os.path.join(server["storage"], "homes/alice/data.txt")
    assert backup(run_tool, server, "init").returncode == 0
    assert backup(run_tool, server, "run", "--json").returncode == 0
    with open(live, "w") as handle:
        handle.write("edited after the backup\n")
    # The default destination is the path itself, as in ts-snapshot restore: refused while
    # it exists.
    refused = backup(run_tool, server, "restore", live)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"{live} exists: not overwritten" in refused.stderr
    assert "--to" in refused.stderr and "--overwrite" in refused.stderr
    assert open(live).read() == "edited after the backup\n"
    beside = live + ".from-backup"
    result = backup(run_tool, server, "restore", live, "--to", beside, "--from", "latest")
    assert result.returncode == 0, result.stderr
    assert open(beside).read() == "homes/alice: first version\n"
    assert open(live).read() == "edited after the backup\n"
    dry = backup(run_tool, server, "restore", live, "--overwrite", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would be kept as " + live + ".replaced-" in dry.stdout, dry.stdout
    assert open(live).read() == "edited after the backup\n"
    [snapshot] = json.loads(backup(run_tool, server, "snapshots", "--json").stdout)
    replaced = backup(run_tool, server, "restore", live, "--overwrite",
                      "--from", snapshot["short_id"])
    assert replaced.returncode == 0, replaced.stderr
    assert open(live).read() == "homes/alice: first version\n"
    [old] = [p for p in os.listdir(os.path.dirname(live)) if p.startswith("data.txt.replaced-")]
    assert f"the version it replaced is kept as {os.path.dirname(live)}/{old}" in \
        replaced.stdout
    assert open(os.path.join(os.path.dirname(live), old)).read() == "edited after the backup\n"
    assert not [p for p in os.listdir(os.path.dirname(live)) if p.startswith(".ts-backup-")]
    # --snapshot is gone: the source of a restore is --from in both tools.
    assert backup(run_tool, server, "restore", live, "--snapshot", "latest").returncode == 3


@DEBIAN12_ONLY
def test_restoring_a_whole_subvolume_over_itself_keeps_it_a_subvolume(run_tool, server):
    """ts-backup restore /mnt/storage/docker-volumes --to itself --overwrite made it a plain
    directory: the next backup skipped it. Its nested subvolume must come back too."""
    import btrfsutil

    storage = server["storage"]
    root = os.path.join(storage, "docker-volumes")
    state = os.path.join(root, "alice-state")
    sh("btrfs", "-q", "subvolume", "create", state)
    os.makedirs(os.path.join(root, "db"))
    for path, text in ((os.path.join(root, "db", "table"), "rows v1\n"),
                       (os.path.join(state, "model.ckpt"), "weights v1\n")):
        with open(path, "w") as handle:
            handle.write(text)
    assert backup(run_tool, server, "init").returncode == 0
    assert backup(run_tool, server, "run", "--json").returncode == 0
    backed_up = tree(root)
    with open(os.path.join(root, "db", "table"), "w") as handle:
        handle.write("rows v2\n")
    with open(os.path.join(state, "model.ckpt"), "w") as handle:
        handle.write("weights v2\n")
    os.unlink(os.path.join(root, "data.txt"))
    changed = tree(root)

    result = backup(run_tool, server, "restore", root, "--overwrite")
    assert result.returncode == 0, result.stdout + result.stderr
    assert btrfsutil.is_subvolume(root) and btrfsutil.is_subvolume(state)
    assert tree(root) == backed_up
    [aside] = [name for name in os.listdir(storage) if name.startswith("docker-volumes.replaced-")]
    aside = os.path.join(storage, aside)
    # The replaced copy is whole: its own files and its nested subvolume, as they were.
    assert btrfsutil.is_subvolume(aside) and btrfsutil.is_subvolume(os.path.join(aside,
                                                                                 "alice-state"))
    assert tree(aside) == changed
    assert not [name for name in os.listdir(storage) if name.startswith(".ts-backup-")]
    again = backup(run_tool, server, "run", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not [f for f in findings(again).values() if f["check"] == "source"], again.stdout
    [made] = json.loads(backup(run_tool, server, "snapshots", "--json").stdout)[-1:]
    assert root in made["paths"] and state in made["paths"]


@DEBIAN12_ONLY
def test_a_restore_that_finds_nothing_leaves_the_subvolume_alone(run_tool, server):
    root = os.path.join(server["storage"], "docker-volumes")
    assert backup(run_tool, server, "init").returncode == 0
    assert backup(run_tool, server, "run", "--json").returncode == 0
    before = tree(root)
    missing = os.path.join(server["storage"], "homes/bob")
    result = backup(run_tool, server, "restore", missing + "-never", "--to", root,
                    "--overwrite")
    assert result.returncode == 2 and "is not in snapshot" in result.stderr, result.stderr
    import btrfsutil

    assert btrfsutil.is_subvolume(root) and tree(root) == before
    assert not [n for n in os.listdir(server["storage"]) if ".replaced-" in n or
                n.startswith(".ts-backup-")]


def test_the_shared_swap_carries_live_nested_subvolumes_for_a_snapshot_restore(btrfs_mount):
    """core.subvolswap's "carry" policy, for ts-snapshot restore: its source (a BTRFS
    snapshot of the root) has an empty directory where a nested subvolume is, so the live
    nested subvolumes move into the restored root."""
    import btrfsutil

    from trainserver.core import subvolswap

    storage = btrfs_mount("1G")
    root = os.path.join(storage, "docker-volumes")
    btrfsutil.create_subvolume(root)
    btrfsutil.create_subvolume(os.path.join(root, "alice-state"))
    btrfsutil.create_subvolume(os.path.join(root, "alice-state", "inner"))
    with open(os.path.join(root, "own.txt"), "w") as handle:
        handle.write("v1\n")
    with open(os.path.join(root, "alice-state", "inner", "live.txt"), "w") as handle:
        handle.write("live\n")
    os.mkdir(os.path.join(storage, "snapshots"))
    snapshot = os.path.join(storage, "snapshots", "dv")
    btrfsutil.create_snapshot(root, snapshot, read_only=True)
    with open(os.path.join(root, "own.txt"), "w") as handle:
        handle.write("v2\n")
    new = os.path.join(storage, ".restoring-dv")
    subvolswap.prepare(root, new, subvolswap.CARRY,
                       make=lambda path: btrfsutil.create_snapshot(snapshot, path))
    aside = root + ".replaced-x"
    carried = subvolswap.swap(new, root, aside, subvolswap.CARRY)
    assert carried == ["alice-state"]
    assert open(os.path.join(root, "own.txt")).read() == "v1\n"
    assert open(os.path.join(root, "alice-state", "inner", "live.txt")).read() == "live\n"
    assert btrfsutil.is_subvolume(root) and not btrfsutil.get_subvolume_read_only(root)
    assert btrfsutil.is_subvolume(os.path.join(root, "alice-state", "inner"))
    assert open(os.path.join(aside, "own.txt")).read() == "v2\n"
    assert os.listdir(aside) == ["own.txt"]  # the nested ones moved, not copied
    assert not os.path.exists(new)
    with pytest.raises(Exception):
        subvolswap.check_replaceable(storage)  # the mount point itself is refused


def restic_backup_pid(repo):
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    argv = handle.read().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"restic") and b"backup" in argv and \
                    repo.encode() in b" ".join(argv):
                return int(entry)
    return None


def test_a_killed_backup_leaves_a_stale_lock_the_next_run_handles(run_tool, start_tool,
                                                                   server):
    assert backup(run_tool, server, "init").returncode == 0
    with open(os.path.join(server["storage"], "homes/bob/big.bin"), "wb") as handle:
        handle.write(os.urandom(8 * 2**20))
    server["configure"](bandwidth="256KiB/s")  # slow enough to be killed in the middle
    running = start_tool("ts-backup", "run", "--json", env=server["env"])
    try:
        deadline = time.monotonic() + 30
        pid = None
        while pid is None or not os.listdir(os.path.join(server["repo"], "locks")):
            assert time.monotonic() < deadline, "restic backup did not start"
            pid = restic_backup_pid(server["repo"])
            time.sleep(0.2)
        time.sleep(2)
        os.kill(pid, signal.SIGKILL)
        out, err = running.communicate(timeout=60)
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode == 2, out + err
    assert os.listdir(os.path.join(server["repo"], "locks")), "the killed run left no lock"
    assert os.listdir(os.path.join(server["storage"], "backup-snapshots")) == []

    server["configure"]()
    result = backup(run_tool, server, "run", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    found = findings(result)
    repository = f"rclone:gdrive:{server['repo']}"
    # A backup's lock is not exclusive: the stale one does not stop the next backup.
    assert "MiB added" in found[("backup", repository)]["summary"]  # what the re-upload cost
    assert os.listdir(os.path.join(server["repo"], "locks")), "the daily run unlocked"
    pruned = backup(run_tool, server, "prune", "--json")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    found = findings(pruned)
    # forget --prune and check need an exclusive lock: they ran, so the stale lock went first.
    for check in ("forget", "prune", "structure"):
        assert found[(check, repository)]["severity"] == "ok", found
    assert os.listdir(os.path.join(server["repo"], "locks")) == []


def test_a_no_change_backup_of_a_new_snapshot_stores_next_to_nothing(run_tool, server):
    """Each day's BTRFS snapshot has a new device ID. restic 0.14 stores it in every node, so
    every directory's metadata is stored again; newer restic is run with the feature flag that
    stores it only for hard links (restic.STABLE_DEVICE_IDS)."""
    storage = server["storage"]
    for number in range(40):
        directory = os.path.join(storage, "homes/alice", f"run-{number:02}")
        os.mkdir(directory)
        for index in range(10):
            with open(os.path.join(directory, f"metrics-{index}.json"), "w") as handle:
                handle.write(f'{{"run": {number}, "step": {index}}}\n')
    assert backup(run_tool, server, "init").returncode == 0
    assert backup(run_tool, server, "run", "--json").returncode == 0
    # Other subvolumes come and go between two daily runs (the hourly snapshots): the next
    # snapshot set cannot get the device numbers of the last one back.
    for number in range(3):
        os.stat(sh("btrfs", "-q", "subvolume", "create",
                   os.path.join(storage, f"other-{number}")).args[-1])
    result = backup(run_tool, server, "run", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads(backup(run_tool, server, "status", "--json").stdout)["last_run"]
    assert record["files_new"] == 0 and record["files_changed"] == 0
    if server["restic"]["version"] < (0, 17, 0):  # no `restic features` before
        # What ts-backup(8) says of Debian 12's restic: every directory is stored again.
        assert record["restic_features"] == ""
        assert record["dirs_changed"] >= 40 and record["bytes_added"] > 40 * 10 * 100, record
        return
    assert record["restic_features"] == "device-id-for-hardlinks"
    # Without the flag: about 340 bytes per file, over 130 KiB here with 0.14. Only the
    # subvolumes' roots change: each is a new snapshot's root directory.
    assert record["bytes_added"] < 4096, record
    assert record["dirs_changed"] <= len(SUBVOLUMES), record
