"""ts-caches apply on a real BTRFS (loop device) and a throwaway system image: the caches made
as ts-storage apply makes them, then shared; two real test users (uids of the image's group
file) write each other's files, a third, not in the group, cannot. Needs root, btrfs-progs,
acl (setfacl/getfacl) and passwd (useradd, groupadd). Never touches the build machine's
accounts: every account and group is made under --root."""

import configparser
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap

import pytest

from trainserver.core import accounts
from trainserver.core.findings import parse_line
from trainserver.storage import layout

pytestmark = pytest.mark.root
btrfsutil = pytest.importorskip("btrfsutil", reason="python3-btrfsutil is a dependency")

GROUP = "mlusers"
ALICE, BOB, CAROL = 61001, 61002, 61003  # unused uids: made only in the throwaway image
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
ADMIN_PIP_CONF = textwrap.dedent("""\
    # the admin's own pip settings
    [global]
    timeout = 60

    [install]
    no-warn-script-location = true
    """)


@pytest.fixture
def world():
    """A BTRFS at a path every test user can reach (pytest's tmp_path is root's alone), the
    cache subvolumes as ts-storage apply makes them, a throwaway root image and a config.
    Everything is unmounted, detached and removed afterwards, also when the test fails."""
    base = tempfile.mkdtemp(prefix="ts-caches-test-", dir="/tmp")
    os.chmod(base, 0o755)
    device = None
    mount_point = os.path.join(base, "storage")
    try:
        image = os.path.join(base, "btrfs.img")
        subprocess.run(["truncate", "-s", "1G", image], check=True)
        device = subprocess.run(["losetup", "--find", "--show", image], check=True,
                                capture_output=True, text=True).stdout.strip()
        subprocess.run(["mkfs.btrfs", "-q", device], check=True, capture_output=True)
        os.mkdir(mount_point)
        subprocess.run(["mount", device, mount_point], check=True)
        # ts-storage apply's tree: cache/ a directory, each cache a root-owned 0755 subvolume.
        os.mkdir(os.path.join(mount_point, "cache"), 0o755)
        for name in layout.CACHES:
            btrfsutil.create_subvolume(os.path.join(mount_point, "cache", name))
        root = os.path.join(base, "root")
        os.makedirs(os.path.join(root, "etc"))
        for name in ("group", "gshadow", "passwd", "shadow", "login.defs"):
            if os.path.exists(f"/etc/{name}"):
                shutil.copy2(f"/etc/{name}", os.path.join(root, "etc", name))
        with open(os.path.join(root, "etc", "pip.conf"), "w") as handle:
            handle.write(ADMIN_PIP_CONF)
        state = os.path.join(base, "state")
        config = os.path.join(base, "trainserver.toml")
        with open(config, "w") as handle:
            handle.write(f'[paths]\nstorage = "{mount_point}"\nstate_dir = "{state}"\n'
                         f'lock_dir = "{state}"\nmetrics_dir = "{state}/metrics"\n'
                         f'[users]\ngroup = "{GROUP}"\n')
        yield {"storage": mount_point, "root": root, "config": config}
    finally:
        if os.path.ismount(mount_point):
            if subprocess.run(["umount", mount_point]).returncode != 0:
                subprocess.run(["umount", "--lazy", mount_point])
        if device:
            subprocess.run(["losetup", "--detach", device])
        shutil.rmtree(base, ignore_errors=True)


def caches(run_tool, world, *args):
    return run_tool("ts-caches", *args, "--root", world["root"],
                    env={"TRAINSERVER_CONFIG": world["config"], "PATH": PATH})


def findings(result):
    return [parse_line(line) for line in result.stdout.splitlines() if line.strip()]


def as_user(uid, gid, groups, code):
    """Run `code` in a process of uid/gid with exactly `groups` as supplementary groups and a
    umask of 022 (subprocess forks, then setgroups, setgid, setuid, umask, as login does)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], user=uid, group=gid,
                          extra_groups=groups, umask=0o022, capture_output=True, text=True,
                          timeout=60, cwd="/")


def add_user(root, uid, name, groups):
    argv = ["useradd", *accounts.root_args(root), "--uid", str(uid), "--user-group",
            "--no-create-home", "--shell", "/usr/sbin/nologin"]
    if groups:
        argv += ["--groups", ",".join(groups)]
    subprocess.run(argv + [name], check=True, env={"PATH": PATH})
    account = accounts.account(name, root)
    supplementary = [g.gid for g in accounts.groups(root) if name in g.members]
    return account.uid, account.gid, supplementary


def getfacl(path):
    return subprocess.run(["getfacl", "--numeric", "--absolute-names", "--omit-header", path],
                          check=True, capture_output=True, text=True).stdout


def test_apply_shares_caches_between_two_real_users(run_tool, world):
    storage, root = world["storage"], world["root"]
    assert accounts.group(GROUP, root) is None  # the image starts without the group
    btrfsutil.delete_subvolume(os.path.join(storage, "cache", "docker"))

    dry = caches(run_tool, world, "apply", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would: cache/pip: mode 0755, want 2775" in dry.stdout.splitlines()
    assert accounts.group(GROUP, root) is None
    assert stat.S_IMODE(os.stat(os.path.join(storage, "cache", "pip")).st_mode) == 0o755
    assert not os.path.exists(os.path.join(root, "etc", "profile.d"))
    with open(os.path.join(root, "etc", "pip.conf")) as handle:
        assert handle.read() == ADMIN_PIP_CONF

    first = caches(run_tool, world, "apply", "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    found = {(f.check, f.subject): f for f in findings(first)}
    assert found[("group", GROUP)].summary.startswith(f"{GROUP}: changed:")
    assert all(f.severity.label == "ok" for f in found.values()), first.stdout
    gid = accounts.group(GROUP, root).gid
    assert gid < 1000  # groupadd --system

    second = caches(run_tool, world, "apply")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "nothing to change"
    again = caches(run_tool, world, "apply", "--json")
    assert all(f.summary.endswith("nothing to change") for f in findings(again)), again.stdout

    # What apply set: root:mlusers 2775 and the ACLs, except apt's root's cache.
    for name in ("pip", "conda", "conda/pkgs", "huggingface", "torch", "go", "go/mod",
                 "go/build", "npm", "cargo", "docker"):
        st = os.stat(os.path.join(storage, "cache", name))
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, gid, 0o2775), name
        text = getfacl(os.path.join(storage, "cache", name))
        for entry in (f"group:{gid}:rwx", f"default:group:{gid}:rwx", "default:mask::rwx"):
            assert entry in text.split(), (name, text)
    apt = os.stat(os.path.join(storage, "cache", "apt", "archives"))
    assert (apt.st_uid, apt.st_gid, stat.S_IMODE(apt.st_mode)) == (0, 0, 0o755)
    partial = os.stat(os.path.join(storage, "cache", "apt", "archives", "partial"))
    apt_account = accounts.account("_apt", root)
    assert partial.st_uid == (apt_account.uid if apt_account else 0)
    assert stat.S_IMODE(partial.st_mode) == 0o700
    assert btrfsutil.is_subvolume(os.path.join(storage, "cache", "docker"))  # made again
    gdrive = os.stat(os.path.join(storage, "cache", "gdrive"))  # rclone's: never touched
    assert (gdrive.st_gid, stat.S_IMODE(gdrive.st_mode)) == (0, 0o755)

    # Two people of the group, and one outside it, in the image's own files.
    alice = add_user(root, ALICE, "tsalice", [GROUP])
    bob = add_user(root, BOB, "tsbob", [GROUP])
    carol = add_user(root, CAROL, "tscarol", [])
    assert {"tsalice", "tsbob"} <= set(accounts.group(GROUP, root).members)
    assert gid in alice[2] and gid in bob[2] and gid not in carol[2]
    pip = os.path.join(storage, "cache", "pip")

    made = as_user(*alice, f"""
        import os
        os.chdir({pip!r})
        fd = os.open("a.txt", os.O_CREAT | os.O_WRONLY, 0o666)
        os.write(fd, b"from alice\\n")
        os.close(fd)
        os.mkdir("adir")
        with open("adir/inner.txt", "w") as handle:
            handle.write("inner\\n")
        """)
    assert made.returncode == 0, made.stderr
    for relative in ("a.txt", "adir", "adir/inner.txt"):
        st = os.lstat(os.path.join(pip, relative))
        assert st.st_uid == ALICE and st.st_gid == gid, relative
        assert st.st_mode & stat.S_IWGRP, (relative, oct(st.st_mode))  # despite umask 022
    assert os.stat(os.path.join(pip, "adir")).st_mode & stat.S_ISGID
    assert f"default:group:{gid}:rwx" in getfacl(os.path.join(pip, "adir")).split()

    changed = as_user(*bob, f"""
        import os
        os.chdir({pip!r})
        with open("a.txt", "a") as handle:
            handle.write("from bob\\n")
        with open("adir/b.txt", "w") as handle:
            handle.write("bob's\\n")
        os.rename("adir/inner.txt", "adir/inner-renamed.txt")
        """)
    assert changed.returncode == 0, changed.stderr
    with open(os.path.join(pip, "a.txt")) as handle:
        assert handle.read() == "from alice\nfrom bob\n"
    assert os.stat(os.path.join(pip, "adir", "b.txt")).st_gid == gid
    removed = as_user(*bob, f"""
        import os
        os.unlink({os.path.join(pip, "a.txt")!r})
        """)
    assert removed.returncode == 0, removed.stderr
    assert not os.path.exists(os.path.join(pip, "a.txt"))

    refused = as_user(*carol, f"""
        import os, sys
        os.chdir({pip!r})
        denied = 0
        for attempt in (lambda: open("c.txt", "w"), lambda: open("adir/b.txt", "a"),
                        lambda: os.unlink("adir/b.txt"), lambda: open("adir/c.txt", "w")):
            try:
                attempt()
            except PermissionError:
                denied += 1
        print(open("adir/b.txt").read().strip())  # reading is allowed (other r-x)
        sys.exit(0 if denied == 4 else 1)
        """)
    assert refused.returncode == 0, refused.stdout + refused.stderr
    assert refused.stdout.strip() == "bob's"

    # The profile works in a shell, and the other files say the same.
    profile = os.path.join(root, "etc", "profile.d", "trainserver-caches.sh")
    shown = subprocess.run(["bash", "-c", '. "$1"; echo "$HF_HOME"; echo "$HF_TOKEN_PATH"; '
                            'echo "$GOMODCACHE"', "bash", profile], capture_output=True,
                           text=True, check=True, env={"HOME": "/home/tsalice", "PATH": PATH})
    assert shown.stdout.splitlines() == [f"{storage}/cache/huggingface",
                                         "/home/tsalice/.cache/huggingface/token",
                                         f"{storage}/cache/go/mod"]
    with open(os.path.join(root, "etc", "trainserver", "caches.env")) as handle:
        env_file = handle.read()
    assert f"HF_HOME={storage}/cache/huggingface\n" in env_file
    assert "HF_TOKEN_PATH" not in env_file
    with open(os.path.join(root, "etc", "environment.d", "60-trainserver-caches.conf")) as handle:
        assert f"PIP_CACHE_DIR={storage}/cache/pip\n" in handle.read()

    # pip.conf: the admin's lines stay, and pip's own (strict) parser reads one [global].
    pip_conf = os.path.join(root, "etc", "pip.conf")
    with open(pip_conf) as handle:
        text = handle.read()
    for line in ADMIN_PIP_CONF.splitlines():
        assert line in text.splitlines()
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    assert parser.get("global", "cache-dir") == f"{storage}/cache/pip"
    assert parser.get("global", "timeout") == "60"
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                            text=True, env={"PIP_CONFIG_FILE": pip_conf, "PATH": PATH,
                                            "HOME": "/nonexistent"})
    if listed.returncode == 0:  # pip is there (python3-pip)
        assert f"global.cache-dir='{storage}/cache/pip'" in listed.stdout, listed.stdout

    # apt reads the archive directory from the file apply wrote.
    apt_conf = os.path.join(root, "etc", "apt", "apt.conf.d", "50trainserver-cache")
    dump = subprocess.run(["apt-config", "-c", apt_conf, "dump"], capture_output=True,
                          text=True, check=True).stdout
    assert f'Dir::Cache::archives "{storage}/cache/apt/archives/";' in dump

    status = caches(run_tool, world, "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    by_subject = {f.subject: f for f in findings(status) if f.check == "cache"}
    assert by_subject["pip"].severity.label == "ok"
    assert by_subject["pip"].value > 0


def test_status_finds_what_was_lost_and_apply_mends_it(run_tool, world):
    storage = world["storage"]
    assert caches(run_tool, world, "apply").returncode == 0
    gid = accounts.group(GROUP, world["root"]).gid
    torch = os.path.join(storage, "cache", "torch")
    # Someone chmod'ed a cache, and someone moved a file in from a home (own group, 0600).
    os.chmod(os.path.join(storage, "cache", "npm"), 0o755)
    moved = os.path.join(torch, "hub", "model.pt")
    os.makedirs(os.path.dirname(moved))
    with open(moved, "wb") as handle:
        handle.write(b"x" * 10000)
    os.chown(moved, ALICE, ALICE)
    os.chmod(moved, 0o600)
    # A plain directory where a subvolume should be: accepted, and said.
    btrfsutil.delete_subvolume(os.path.join(storage, "cache", "cargo"))
    os.mkdir(os.path.join(storage, "cache", "cargo"))

    status = caches(run_tool, world, "status", "--json")
    assert status.returncode == 1, status.stdout + status.stderr
    by_subject = {f.subject: f for f in findings(status) if f.check == "cache"}
    assert by_subject["npm"].severity.label == "warning"
    assert "mode 0755, want 2775" in by_subject["npm"].summary
    assert by_subject["torch"].severity.label == "warning"
    assert "hub/model.pt" in by_subject["torch"].summary
    assert by_subject["torch"].value >= 10000
    assert by_subject["pip"].severity.label == "ok"
    assert by_subject["cargo"].severity.label == "warning"  # until apply gives it the group

    text = caches(run_tool, world, "status")
    assert text.returncode == 1
    assert "torch" in text.stdout and "warning" in text.stdout

    mended = caches(run_tool, world, "apply", "--fix-existing")
    assert mended.returncode == 0, mended.stdout + mended.stderr
    st = os.stat(moved)
    assert st.st_gid == gid and stat.S_IMODE(st.st_mode) == 0o660
    hub = os.stat(os.path.dirname(moved))
    assert hub.st_gid == gid and hub.st_mode & stat.S_ISGID
    assert f"default:group:{gid}:rwx" in getfacl(os.path.dirname(moved)).split()
    after = caches(run_tool, world, "status", "--json")
    assert after.returncode == 0, after.stdout
    cargo = [f for f in findings(after) if f.subject == "cargo"][0]
    assert "a plain directory, not a subvolume" in cargo.summary
    assert caches(run_tool, world, "apply").stdout.strip() == "nothing to change"


def test_foreign_file_is_left_alone_and_reported(run_tool, world):
    root = world["root"]
    os.makedirs(os.path.join(root, "etc", "profile.d"))
    foreign = os.path.join(root, "etc", "profile.d", "trainserver-caches.sh")
    with open(foreign, "w") as handle:
        handle.write("export PIP_CACHE_DIR=/somewhere/else\n")
    result = caches(run_tool, world, "apply", "--json")
    assert result.returncode == 2, result.stdout + result.stderr
    bad = [f for f in findings(result) if f.severity.label != "ok"]
    assert [(f.check, f.subject, f.severity.label) for f in bad] == [
        ("file", "/etc/profile.d/trainserver-caches.sh", "critical")]
    with open(foreign) as handle:
        assert handle.read() == "export PIP_CACHE_DIR=/somewhere/else\n"
    assert os.path.exists(os.path.join(root, "etc", "environment.d",
                                       "60-trainserver-caches.conf"))
    status = caches(run_tool, world, "status", "--json")
    assert status.returncode == 1
    assert json.loads(status.stdout.splitlines()[0])["tool"] == "caches"


def test_refuses_when_the_storage_is_not_mounted(run_tool, tmp_path):
    config = tmp_path / "trainserver.toml"
    config.write_text(f'[paths]\nstorage = "{tmp_path}/nothing"\nstate_dir = "{tmp_path}"\n'
                      f'lock_dir = "{tmp_path}"\n')
    result = run_tool("ts-caches", "apply", "--json", "--root", str(tmp_path),
                      env={"TRAINSERVER_CONFIG": str(config), "PATH": PATH})
    assert result.returncode == 2
    [finding] = findings(result)
    assert finding.severity.label == "critical" and "not mounted" in finding.summary
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "group").write_text(f"{GROUP}:x:990:\n")
    status = run_tool("ts-caches", "status", "--json", "--root", str(tmp_path),
                      env={"TRAINSERVER_CONFIG": str(config), "PATH": PATH})
    assert status.returncode == 3, status.stdout
    unknown = [f for f in findings(status) if f.severity.label == "unknown"]
    assert {f.subject for f in unknown} == {"pip", "conda", "huggingface", "torch", "go", "npm",
                                            "cargo", "apt", "docker"}
