"""The guest images, Debian 12 (bookworm) and Debian 13 (trixie): each built once with
mmdebstrap, cached on the host by its inputs.

The image holds systemd, Debian's cloud kernel, the programs the suite drives and every package
the trainserver .deb depends on or recommends, so that `apt install ./trainserver_*.deb` in the
guest needs nothing from the network. It boots without a bootloader (-kernel/-initrd), from an
ext4 file made with `mkfs.ext4 -d` (no loop device). Each run boots a qcow2 overlay of it, so the
cached image is never changed.

Cache: CACHE_DIR/<suite>-<key>/{root.raw,vmlinuz,initrd.img,inputs.json}, where the key hashes
every input: the release, the package list (this file's and the .deb's Depends and Recommends), the mirrors,
this file itself and the baked guest file. The mirror's state is not an input: delete the cache
directory to pick up newer Debian packages. Builds are
serialised by a lock and land by an atomic rename, so two runs never build or use a half image.
"""

import fcntl
import glob
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE_DIR = os.environ.get("TRAINSERVER_VM_CACHE", "/var/cache/trainserver-tests/vm")
# Debian 13 is the stable release a server is installed with today: the default guest.
SUITES = ("trixie", "bookworm")
DEFAULT_SUITE = "trixie"
RELEASES = {"bookworm": "Debian 12", "trixie": "Debian 13"}


def sources(suite):
    # A release's current kernel package may be only in its -security suite (docs/vm-testing.md).
    return [f"deb http://deb.debian.org/debian {suite} main",
            f"deb http://deb.debian.org/debian {suite}-updates main",
            f"deb http://deb.debian.org/debian-security {suite}-security main"]


# What a storage server's guest needs besides the package's own dependencies: systemd as PID 1,
# the cloud kernel with its initramfs (bcache-tools adds its hook), and the programs the tools
# and the tests drive.
BASE_PACKAGES = [
    "systemd-sysv", "udev", "kmod", "dbus", "initramfs-tools", "zstd", "linux-image-cloud-amd64",
    "e2fsprogs", "util-linux", "procps", "python3", "btrfs-progs", "bcache-tools", "parted",
    "gdisk", "restic", "rclone", "fuse3", "smartmontools", "nvme-cli", "man-db",
]
IMAGE_SIZE = "3G"
KEEP_IMAGES = 2  # the most recently used images of each release kept in the cache
BAKED = os.path.join(HERE, "guest", "boot")  # baked into the image: starts the job's runner


def deb_dependencies(deb):
    """Package names the .deb depends on or recommends (first of alternatives, no versions)."""
    names = []
    for field in ("Depends", "Recommends"):
        text = subprocess.run(["dpkg-deb", "-f", deb, field], check=True, capture_output=True,
                              text=True).stdout
        for clause in text.split(","):
            name = clause.split("|")[0].split("(")[0].strip().split(":")[0]
            if name and name != "python3":
                names.append(name)
    return names


def _digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def inputs(deb, suite):
    return {
        "suite": suite,
        "sources": sources(suite),
        "packages": sorted(set(BASE_PACKAGES + deb_dependencies(deb))),
        "size": IMAGE_SIZE,
        "recipe": _digest(os.path.abspath(__file__)),  # this file: packages, customisation
        "baked": _digest(BAKED),
    }


def key_of(spec):
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


class Image:
    def __init__(self, directory, suite):
        self.directory = directory
        self.suite = suite
        self.release = RELEASES[suite]
        self.root = os.path.join(directory, "root.raw")
        self.kernel = os.path.join(directory, "vmlinuz")
        self.initrd = os.path.join(directory, "initrd.img")

    def touch(self):
        os.utime(self.directory)


def ensure(deb, suite=DEFAULT_SUITE, log=print):
    """The cached image of `suite` for `deb`'s dependencies, built first when missing."""
    if suite not in SUITES:
        raise ValueError(f"no guest image for {suite!r} (have: {', '.join(SUITES)})")
    spec = inputs(deb, suite)
    directory = os.path.join(CACHE_DIR, f"{suite}-{key_of(spec)}")
    os.makedirs(CACHE_DIR, exist_ok=True)
    with open(os.path.join(CACHE_DIR, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(directory, "inputs.json")):
            started = time.monotonic()
            log(f"building the {RELEASES[suite]} guest image {os.path.basename(directory)} "
                f"(once; cached in "
                f"{CACHE_DIR})")
            _build(spec, directory)
            log(f"guest image built in {time.monotonic() - started:.0f} s")
        image = Image(directory, suite)
        image.touch()
        _prune_old(suite, keep=directory)
    return image


def _prune_old(suite, keep):
    images = sorted(glob.glob(os.path.join(CACHE_DIR, f"{suite}-*")), key=os.path.getmtime,
                    reverse=True)
    for directory in images[KEEP_IMAGES:]:
        if directory != keep:
            shutil.rmtree(directory, ignore_errors=True)


def _build(spec, directory):
    work = tempfile.mkdtemp(prefix=".build-", dir=CACHE_DIR)
    try:
        rootfs = os.path.join(work, "rootfs")
        subprocess.run(
            ["mmdebstrap", "--mode=root", "--variant=minbase", "--quiet",
             "--include=" + ",".join(spec["packages"]), spec["suite"], rootfs, *spec["sources"]],
            check=True)
        _customize(rootfs)
        boot = os.path.join(rootfs, "boot")
        [kernel] = glob.glob(os.path.join(boot, "vmlinuz-*"))
        [initrd] = glob.glob(os.path.join(boot, "initrd.img-*"))
        shutil.copy(kernel, os.path.join(work, "vmlinuz"))
        shutil.copy(initrd, os.path.join(work, "initrd.img"))
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", rootfs,
                        os.path.join(work, "root.raw"), spec["size"]], check=True,
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(rootfs)
        with open(os.path.join(work, "inputs.json"), "w") as handle:
            json.dump(spec, handle, indent=2)
        os.rename(work, directory)
    finally:
        if os.path.exists(work):
            shutil.rmtree(work, ignore_errors=True)


def _write(rootfs, path, text, mode=0o644):
    target = os.path.join(rootfs, path.lstrip("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as handle:
        handle.write(text)
    os.chmod(target, mode)


def _link(rootfs, path, target):
    link = os.path.join(rootfs, path.lstrip("/"))
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(target, link)


def _customize(rootfs):
    # An empty machine-id: systemd makes a fresh one at first boot (each run's overlay).
    _write(rootfs, "/etc/machine-id", "")
    _write(rootfs, "/etc/hostname", "ts-vm\n")
    _write(rootfs, "/etc/fstab", "/dev/vda / ext4 rw,errors=remount-ro 0 1\n")
    # A persistent journal: the logs of every boot of a scenario are collected at its end.
    os.makedirs(os.path.join(rootfs, "var/log/journal"), exist_ok=True)
    with open(BAKED) as handle:
        _write(rootfs, "/usr/local/sbin/ts-vm-boot", handle.read(), mode=0o755)
    # Type=simple after multi-user.target: a oneshot that waited for the system to be up would
    # deadlock boot (docs/vm-testing.md).
    _write(rootfs, "/etc/systemd/system/ts-vm-boot.service", "\n".join([
        "[Unit]",
        "Description=trainserver VM test: run the job on the job disk",
        "After=multi-user.target",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=/usr/local/sbin/ts-vm-boot",
        "StandardOutput=journal+console",
        "StandardError=journal+console",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]))
    _link(rootfs, "/etc/systemd/system/multi-user.target.wants/ts-vm-boot.service",
          "/etc/systemd/system/ts-vm-boot.service")
    # Nothing in the guest may reach for the network or compete with the scenario at boot.
    for unit in ("apt-daily.timer", "apt-daily-upgrade.timer", "man-db.timer",
                 "e2scrub_all.timer", "fstrim.timer"):
        _link(rootfs, f"/etc/systemd/system/{unit}", "/dev/null")
