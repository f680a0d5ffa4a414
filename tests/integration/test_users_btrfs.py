"""ts-users on a real BTRFS (loop device), with accounts made by shadow's own tools in a
throwaway root (useradd --root), never the build machine's: people created with their
subvolumes and keys, a second run that changes nothing, uid and name conflicts refused before
any change, removal that keeps the data, and an sshd config that sshd -t refuses.
Needs root, btrfs-progs, python3-btrfsutil, passwd (useradd), openssh-server (sshd) and
openssh-client (ssh-keygen)."""

import json
import os
import shutil
import stat
import subprocess

import pytest

from trainserver.snapshot import naming
from trainserver.storage import layout

pytestmark = pytest.mark.root
btrfsutil = pytest.importorskip("btrfsutil", reason="python3-btrfsutil is a dependency")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFFILE = os.path.join(ROOT, "etc", "ssh", "sshd_config.d", "ml-train-server.conf")
SSHD = "/usr/sbin/sshd"
ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow")


def keygen(directory, name):
    path = os.path.join(directory, name)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path],
                   check=True)
    with open(path + ".pub") as handle:
        return handle.read().strip()


@pytest.fixture
def privsep_dir():
    """sshd -t needs /run/sshd, which ssh.service makes; removed again if the test made it."""
    made = not os.path.isdir("/run/sshd")
    try:
        yield
    finally:
        if made and os.path.isdir("/run/sshd") and not os.listdir("/run/sshd"):
            os.rmdir("/run/sshd")


class System:
    """A BTRFS storage with ts-storage's layout, an image root with an Ubuntu-like admin
    (uid 1000, in sudo), sshd's config with the shipped conffile, and a config file."""

    def __init__(self, storage, image, work, run_tool):
        self.storage, self.image, self.work, self._run = storage, image, work, run_tool
        self.config = os.path.join(work, "trainserver.toml")
        self.keys = {name: keygen(work, name) for name in ("alice", "bob", "alice-own")}

    def write_config(self, people):
        state = os.path.join(self.work, "state")
        lines = [f'[paths]\nstorage = "{self.storage}"\nstate_dir = "{state}"\n'
                 f'lock_dir = "{state}"\nmetrics_dir = "{state}/metrics"\n[users]']
        for person in people:
            lines.append("[[users.people]]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in person.items()]
        with open(self.config, "w") as handle:
            handle.write("\n".join(lines) + "\n")

    def run(self, tool, *args):
        return self._run(tool, *args, env={"TRAINSERVER_CONFIG": self.config,
                                           "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})

    def users(self, *args):
        return self.run("ts-users", *args[:1], "--root", self.image, *args[1:])

    def etc(self, name):
        with open(os.path.join(self.image, "etc", name)) as handle:
            return [line.rstrip("\n").split(":") for line in handle if line.strip()]

    def entry(self, name, file="passwd"):
        return next((fields for fields in self.etc(file) if fields[0] == name), None)

    def members(self, group):
        return set(filter(None, self.entry(group, "group")[3].split(",")))

    def path(self, rel):
        return os.path.join(self.storage, rel)

    def fingerprint(self):
        """What a run could change: account files and every path below storage."""
        found = {}
        for name in ACCOUNT_FILES:
            path = os.path.join(self.image, "etc", name)
            info = os.stat(path)
            with open(path, "rb") as handle:
                found[path] = (info.st_ino, info.st_mtime_ns, handle.read())
        for directory, dirs, files in os.walk(self.storage):
            for name in dirs + files:
                path = os.path.join(directory, name)
                info = os.lstat(path)
                if info.st_ino == 2:
                    # The empty directory a snapshot holds where a nested subvolume was: BTRFS
                    # makes it up, with a new time at each lookup.
                    continue
                found[path] = (info.st_ino, info.st_mtime_ns, info.st_mode, info.st_uid,
                               info.st_gid)
        return found


@pytest.fixture
def system(btrfs_mount, tmp_path, run_tool, privsep_dir):
    if not os.path.exists(SSHD) or shutil.which("useradd") is None:
        pytest.skip("needs openssh-server and passwd")
    storage = btrfs_mount()
    # The layout as ts-storage apply makes it, alice's subvolumes included: hers are root's
    # because her account does not exist yet (ts-users takes them over).
    for relative, kind in layout.tree(["alice"]):
        path = os.path.join(storage, relative)
        if kind == "subvolume":
            btrfsutil.create_subvolume(path)
        else:
            os.mkdir(path, 0o755)
    os.chmod(os.path.join(storage, "homes/alice"), 0o700)
    image = tmp_path / "image"
    (image / "etc" / "ssh" / "sshd_config.d").mkdir(parents=True)
    (image / "bin").mkdir()
    (image / "bin" / "bash").write_text("")
    (image / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n"
                                          "admin:x:1000:1000:Admin:/home/admin:/bin/bash\n")
    (image / "etc" / "group").write_text("root:x:0:\nsudo:x:27:admin\ndocker:x:995:\n"
                                         "video:x:44:\nadmin:x:1000:\n")
    (image / "etc" / "shadow").write_text("root:*:20000:0:99999:7:::\n"
                                          "admin:$6$salt$hash:20000:0:99999:7:::\n")
    (image / "etc" / "gshadow").write_text("root:*::\nsudo:*::admin\ndocker:!::\nvideo:*::\n"
                                           "admin:!::\n")
    for name in ("shadow", "gshadow"):
        (image / "etc" / name).chmod(0o600)
    shutil.copy("/etc/login.defs", image / "etc" / "login.defs")
    work = tmp_path / "work"
    work.mkdir()
    keygen(str(work), "host")
    conf_dir = image / "etc" / "ssh" / "sshd_config.d"
    shutil.copy(CONFFILE, conf_dir / "ml-train-server.conf")
    (image / "etc" / "ssh" / "sshd_config").write_text(
        f"HostKey {work}/host\nInclude {conf_dir}/*.conf\n")
    found = System(storage, str(image), str(work), run_tool)
    found.write_config([ALICE(found), BOB(found)])
    return found


def ALICE(system, **changes):
    return {"name": "alice", "uid": 1001, "sudo": True, "ssh_keys": [system.keys["alice"]],
            **changes}


def BOB(system, **changes):
    keys_file = os.path.join(system.work, "bob.keys")
    with open(keys_file, "w") as handle:
        handle.write(f"# bob's laptop\n{system.keys['bob']}\n")
    os.chmod(keys_file, 0o644)
    return {"name": "bob", "uid": 1002, "ssh_keys_file": keys_file, "groups": ["docker", "video"],
            **changes}


def subvolumes(name):
    return [f"homes/{name}", f"workspaces/{name}", f"tensorboard/{name}",
            f"docker-volumes/{name}-state"]


def test_apply_makes_accounts_subvolumes_and_keys_and_a_rerun_changes_nothing(system):
    result = system.users("apply")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "done: " in result.stdout
    assert "ok: sshd: config valid (sshd -t)" in result.stdout
    assert system.entry("admin")[2] == "1000"  # untouched
    for name, uid in (("alice", 1001), ("bob", 1002)):
        account = system.entry(name)
        assert account[2:4] == [str(uid), str(uid)]
        assert account[5:] == [system.path(f"homes/{name}"), "/bin/bash"]
        assert system.entry(name, "shadow")[1] == "!"  # locked: keys only
        assert system.entry(name, "group")[2] == str(uid)  # the person's own group
        for rel, mode in zip(subvolumes(name), (0o700, 0o700, 0o750, 0o700)):
            path = system.path(rel)
            info = os.stat(path)
            assert btrfsutil.is_subvolume(path), rel
            assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (uid, uid, mode), rel
        ssh_dir = os.stat(system.path(f"homes/{name}/.ssh"))
        keys_file = os.stat(system.path(f"homes/{name}/.ssh/authorized_keys"))
        assert (ssh_dir.st_uid, ssh_dir.st_gid, stat.S_IMODE(ssh_dir.st_mode)) == (uid, uid, 0o700)
        assert (keys_file.st_uid, keys_file.st_gid, stat.S_IMODE(keys_file.st_mode)) == \
            (uid, uid, 0o600)
        with open(system.path(f"homes/{name}/.ssh/authorized_keys")) as handle:
            assert system.keys[name] in handle.read()
    assert system.members("mlusers") == {"alice", "bob"}
    assert system.members("sudo") == {"admin", "alice"}
    assert system.members("docker") == {"alice", "bob"}
    assert system.members("video") == {"bob"}

    before = system.fingerprint()
    again = system.users("apply")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to change" in again.stdout
    assert system.fingerprint() == before
    listing = system.users("list", "--json")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    rows = {row["name"]: row for row in json.loads(listing.stdout)["people"]}
    assert rows["alice"]["matches"] and rows["bob"]["matches"]
    assert rows["alice"]["keys"] == 1 and rows["alice"]["workspace"] == system.path(
        "workspaces/alice")
    assert rows["bob"]["groups"] == ["bob", "docker", "mlusers", "video"]


def test_apply_repairs_key_modes_keeps_own_lines_and_takes_a_person_out_of_sudo(system):
    assert system.users("apply").returncode == 0
    keys_path = system.path("homes/alice/.ssh/authorized_keys")
    with open(keys_path, "a") as handle:
        handle.write(system.keys["alice-own"] + "\n")
    os.chmod(keys_path, 0o644)
    os.chmod(system.path("homes/alice/.ssh"), 0o755)
    system.write_config([ALICE(system, sudo=False), BOB(system, sudo=True)])
    listing = system.users("list")
    assert listing.returncode == 1 and "alice: remove alice from sudo" in listing.stdout
    result = system.users("apply")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "remove alice from sudo (sudo = false in [users])" in result.stdout
    assert system.members("sudo") == {"admin", "bob"}
    assert stat.S_IMODE(os.stat(keys_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(system.path("homes/alice/.ssh")).st_mode) == 0o700
    with open(keys_path) as handle:
        text = handle.read()
    assert system.keys["alice"] in text and system.keys["alice-own"] in text
    system.write_config([ALICE(system, ssh_keys=[]), BOB(system, sudo=True)])
    revoked = system.users("apply")
    assert revoked.returncode == 1  # alice has no key: a warning
    with open(keys_path) as handle:
        text = handle.read()
    assert system.keys["alice"] not in text and system.keys["alice-own"] in text


def test_uid_and_name_conflicts_are_refused_before_any_change(system):
    system.write_config([ALICE(system), {"name": "carol", "uid": 1000,
                                         "ssh_keys": [system.keys["bob"]]}])
    before = system.fingerprint()
    result = system.users("apply")
    assert result.returncode == 2, result.stdout + result.stderr
    assert ("uid 1000 belongs to 'admin' (Ubuntu's installer gives 1000 to the first "
            "account); pick another uid for carol in [users]") in result.stdout
    assert system.fingerprint() == before  # alice was not made either
    system.write_config([ALICE(system), {"name": "admin", "uid": 1003}])
    result = system.users("apply", "--json")
    assert result.returncode == 2
    findings = {f["subject"]: f for f in map(json.loads, result.stdout.splitlines())}
    assert findings["admin"]["severity"] == "critical"
    assert "account 'admin' exists with uid 1000, but [users] gives admin uid 1003" in \
        findings["admin"]["summary"]
    assert system.fingerprint() == before
    assert system.entry("mlusers", "group") is None


def test_a_plain_directory_and_a_writable_keys_file_are_refused(system):
    os.mkdir(system.path("workspaces/bob"))
    before = system.fingerprint()
    result = system.users("apply")
    assert result.returncode == 2
    assert "workspaces/bob is a plain directory, not a subvolume" in result.stdout
    assert system.fingerprint() == before
    os.rmdir(system.path("workspaces/bob"))
    os.chmod(BOB(system)["ssh_keys_file"], 0o666)
    before = system.fingerprint()
    result = system.users("apply")
    assert result.returncode == 2 and "can be written by others (mode 0666)" in result.stdout
    assert system.fingerprint() == before


def test_remove_keeps_the_data_snapshots_it_and_deletes_only_when_asked(system, run_tool):
    assert system.users("apply").returncode == 0
    with open(system.path("homes/bob/results.txt"), "w") as handle:
        handle.write("accuracy 0.93\n")
    btrfsutil.create_subvolume(system.path("homes/bob/models"))
    with open(system.path("homes/bob/models/model.pt"), "w") as handle:
        handle.write("weights")
    refused = system.users("remove", "bob")
    assert refused.returncode == 2 and "bob is still in [users]" in refused.stdout
    system.write_config([ALICE(system)])
    result = system.users("remove", "bob")
    assert result.returncode == 0, result.stdout + result.stderr
    shadow = system.entry("bob", "shadow")
    assert shadow[1].startswith("!") and shadow[7] == "1"  # locked and expired
    assert system.entry("bob")[2] == "1002"  # kept, so the files keep an owner
    with open(system.path("homes/bob/results.txt")) as handle:
        assert handle.read() == "accuracy 0.93\n"
    for rel in subvolumes("bob") + ["homes/bob/models"]:
        series = system.path(f"snapshots/{rel}")
        [name] = [n for n in os.listdir(series) if naming.parse_name(n)]
        snapshot = os.path.join(series, name)
        assert btrfsutil.is_subvolume(snapshot) and btrfsutil.get_subvolume_read_only(snapshot)
    [name] = [n for n in os.listdir(system.path("snapshots/homes/bob/models"))]
    with open(system.path(f"snapshots/homes/bob/models/{name}/model.pt")) as handle:
        assert handle.read() == "weights"
    # ts-snapshot reports them as ts-users remove's keepsakes: left alone, never pruned
    listing = json.loads(system.run("ts-snapshot", "list", "--json").stdout)
    keepsakes = {os.path.relpath(item["path"], system.path("snapshots")): item["why"]
                 for item in listing["foreign"]}
    assert {os.path.dirname(rel) for rel in keepsakes} == set(subvolumes("bob") +
                                                              ["homes/bob/models"])
    assert all("made by ts-users remove bob" in why for why in keepsakes.values()), keepsakes
    assert not listing["snapshots"]

    before = system.fingerprint()
    again = system.users("remove", "bob")
    assert again.returncode == 0 and "nothing to change" in again.stdout
    assert system.fingerprint() == before
    unconfirmed = system.users("remove", "bob", "--delete-data")
    assert unconfirmed.returncode == 3 and "--yes" in unconfirmed.stderr
    assert system.fingerprint() == before
    listing = system.users("list", "--json")
    [bob] = [row for row in json.loads(listing.stdout)["people"] if row["name"] == "bob"]
    assert bob["in_config"] is False and bob["matches"] is True  # removed

    deleted = system.users("remove", "bob", "--delete-data", "--yes")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    # Reading the files above changed the subvolumes (access times): before deleting, remove
    # took a snapshot of their state as it was at that moment.
    for rel in subvolumes("bob"):
        assert not os.path.lexists(system.path(rel))
        series = system.path(f"snapshots/{rel}")
        assert [n for n in os.listdir(series) if naming.parse_name(n)]
    newest = max(n for n in os.listdir(system.path("snapshots/homes/bob")) if naming.parse_name(n))
    with open(system.path(f"snapshots/homes/bob/{newest}/results.txt")) as handle:
        assert handle.read() == "accuracy 0.93\n"
    final = system.users("remove", "bob", "--delete-data", "--yes")
    assert final.returncode == 0 and "nothing to change" in final.stdout


def test_an_sshd_config_sshd_refuses_is_not_reloaded_and_apply_exits_2(system):
    broken = os.path.join(system.image, "etc/ssh/sshd_config.d/00-broken.conf")
    with open(broken, "w") as handle:
        handle.write("PasswordAuthentication maybe\n")
    result = system.users("apply", "--json")
    assert result.returncode == 2, result.stdout + result.stderr
    findings = {f["subject"]: f for f in map(json.loads, result.stdout.splitlines())}
    assert findings["sshd"]["severity"] == "critical"
    assert "sshd -t refuses the config" in findings["sshd"]["summary"]
    assert "00-broken.conf line 1" in findings["sshd"]["summary"]  # sshd's own words
    assert "not reloaded" in findings["sshd"]["summary"]
    assert findings["alice"]["severity"] == "ok"  # the accounts were made all the same
    with open(broken, "w") as handle:
        handle.write("PasswordAuthentication yes\n")  # valid, and wins over the conffile
    result = system.users("apply")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "sshd runs with passwordauthentication yes, not no" in result.stdout
    os.unlink(broken)
    result = system.users("apply", "--sshd-config",
                          os.path.join(system.image, "etc/ssh/sshd_config"))
    assert result.returncode == 0 and "config valid (sshd -t)" in result.stdout
