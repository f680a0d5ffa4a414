#!/usr/bin/python3
"""`make demo`, inside the guest: the installed suite doing its job on the emulated hardware
(one NVMe disk, four rotational IDE disks, systemd as PID 1). Run by tests/vm/guest/runner.py
after it installed the .deb; every line printed here is shown on the host as it happens.

It grows as tools land. Exits non-zero when a step that must work fails.
"""

import glob
import json
import os
import shlex
import subprocess
import sys
import time

STARTED = time.monotonic()
CONFIG = "/etc/trainserver/trainserver.toml"
STORAGE = "/mnt/storage"
RCLONE_CONFIG = "/etc/trainserver/rclone.conf"
DRIVE = "/srv/drive-standin/trainserver-backup"
summary = []


def section(title):
    print(f"\n== {title}", flush=True)


def show(*argv, ok=(0,), quiet=False):
    """Run argv, print it and its output; stop the demo when its exit status is not in ok."""
    print(f"$ {shlex.join(argv)}", flush=True)  # as it can be pasted back
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not quiet:
        sys.stdout.write(result.stdout)
    if result.returncode not in ok:
        print(f"FAILED: exit status {result.returncode}", flush=True)
        sys.exit(1)
    if result.returncode:
        print(f"(exit status {result.returncode})")
    sys.stdout.flush()
    return result


def snapshots():
    return json.loads(show("ts-snapshot", "list", "--json", quiet=True).stdout)["snapshots"]


def check(tool):
    """Run a check as its timer does (through ts-alert, JSON) and print its findings' table."""
    result = show(tool, "check", ok=(0, 1, 2, 3))
    summary.append(f"{tool} check: exit {result.returncode} "
                   f"({['ok', 'warning', 'critical', 'unknown'][result.returncode]})")


def _release():
    """PRETTY_NAME of /etc/os-release: the demo runs on Debian 13 or 12."""
    with open("/etc/os-release") as handle:
        for line in handle:
            key, _, value = line.strip().partition("=")
            if key == "PRETTY_NAME":
                return value.strip('"')
    return "Debian"


def main():
    section(f"the machine: {_release()} under qemu, systemd as PID 1")
    show("uname", "-sr")
    show("systemctl", "is-system-running", ok=(0, 1))

    section("disks: one NVMe, four spinning IDE disks (the suite's storage hardware)")
    show("lsblk", "-d", "-e", "253", "-o", "NAME,MODEL,SERIAL,SIZE,ROTA,TRAN")
    hdds = sorted(glob.glob("/dev/disk/by-id/ata-TS-HDD-8T_*"))
    nvme = sorted(p for p in glob.glob("/dev/disk/by-id/nvme-*") if "-part" not in p)
    for path in hdds + nvme[:1]:
        print(f"  {path} -> {os.path.realpath(path)}")
    if len(hdds) != 4 or not nvme:
        print("FAILED: expected four IDE hard disks and one NVMe disk")
        sys.exit(1)
    summary.append(f"disks: {len(hdds)} hard disks, {len(nvme[:1])} NVMe")

    section("ts-storage discover: each disk, and the role it could take (nothing configured yet)")
    show("ts-storage", "discover")

    section("the package, installed offline with apt")
    show("dpkg-query", "-W", "-f=${Package} ${Version}\\n", "trainserver")
    show("ts-config", "check")

    section("timers, as the package enabled them")
    show("systemctl", "list-timers", "--all", "--no-pager", "ts-*")

    section("health checks on the emulated hardware (exit: 0 ok, 1 warning, 2 critical, 3 unknown)")
    check("ts-smart")
    check("ts-gpu-temp")
    check("ts-oom")

    section("a real OOM kill: a job in a 64 MiB memory cgroup asks for 512 MiB")
    show("systemd-run", "--wait", "--quiet", "--unit=demo-training-job", "-p", "MemoryMax=64M",
         "-p", "MemorySwapMax=0", "/usr/bin/python3", "-c", "x = bytearray(512 << 20)",
         ok=(1, 137, 247))
    print("ts-oom.service runs the check through ts-alert, the one sink for findings "
          "(no Telegram chat set here: the journal only):")
    show("systemctl", "start", "ts-oom.service")
    show("journalctl", "-u", "ts-oom.service", "-o", "cat", "--no-pager")
    opened = show("ts-alert", "status")
    summary.append("OOM kill: found by ts-oom.service, open in ts-alert: "
                   + ("yes" if "demo-training-job" in opened.stdout else "NO"))

    section("storage: the disks named in [storage], as an admin writes them")
    with open(CONFIG) as handle:
        text = handle.read()
    text = text.replace('\n#cache_device = ""\n', f'\ncache_device = "{nvme[0]}"\n')
    text = text.replace("\n#backing_devices = []\n", f"\nbacking_devices = {json.dumps(hdds)}\n")
    # docker.io is not in this guest: the people get no docker group here.
    text = text.replace('\n#groups = ["docker"]\n', '\ngroups = []\n')
    for name, uid, sudo in (("alice", 1000, "true"), ("bob", 1001, "false")):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@laptop",
                        "-f", f"/root/{name}-key"], check=True)
        with open(f"/root/{name}-key.pub") as handle:
            key = handle.read().strip()
        text += (f'\n[[users.people]]\nname = "{name}"\nuid = {uid}\nsudo = {sudo}\n'
                 f'ssh_keys = ["{key}"]\n')
    with open(CONFIG, "w") as handle:
        handle.write(text)
    show("ts-config", "check")
    show("ts-storage", "discover")

    section("ts-storage plan: every step apply would take, with its command (changes nothing)")
    show("ts-storage", "plan")

    section("ts-storage apply: bcache (writeback) on the NVMe in front of the hard disks, "
            "BTRFS RAID10, subvolumes, fstab by UUID")
    result = show("ts-storage", "apply", "--yes", ok=(0, 1, 2))
    summary.append(f"ts-storage apply: exit {result.returncode}"
                   + (" (layout built)" if result.returncode == 0 else " (FAILED)"))
    if result.returncode != 0:
        sys.exit(1)
    show("ts-storage", "apply", "--yes")  # a second run: nothing to do
    show("grep", STORAGE, "/etc/fstab")
    show("ts-storage", "status")

    section("people: ts-users apply makes the accounts of [users], their subvolumes and keys")
    result = show("ts-users", "apply", ok=(0, 1))
    show("ts-users", "apply")  # a second run: nothing to change
    show("ts-users", "list")
    summary.append(f"ts-users apply: exit {result.returncode}; alice and bob have accounts")

    section("shared caches: one download serves everyone (setgid, default ACLs)")
    show("ts-caches", "apply")
    show("runuser", "-l", "bob", "-c", "echo $HF_HOME; umask; touch $HF_HOME/from-bob")
    show("runuser", "-l", "alice", "-c", "echo alice >> $HF_HOME/from-bob; ls -l $HF_HOME")
    show("ts-caches", "status")
    summary.append("caches: a file bob made in the Hugging Face cache, alice wrote to")

    section("usage per person: ts-quota report (home + workspace; 1 TB, 7 days of grace)")
    show("runuser", "-l", "alice", "-c", "head -c 50000000 /dev/urandom > ~/weights.bin")
    result = show("ts-quota", "report", ok=(0, 1))
    summary.append(f"ts-quota report: exit {result.returncode}")
    with open(os.path.join(STORAGE, "homes/alice/train.py"), "w") as handle:
        handle.write("print('epoch 1')\n")
    # The default free-space floor (100 GiB) is above these small disks: set it as an admin would.
    with open(CONFIG) as handle:
        text = handle.read()
    with open(CONFIG, "w") as handle:
        handle.write(text.replace('\n#min_free = "100GiB"\n', '\nmin_free = "1GiB"\n'))
    show("ts-config", "check")

    section("storage health: the monthly scrub and the 6-hourly check, started by systemd now")
    show("systemctl", "start", "ts-storage-scrub.service")
    show("journalctl", "-u", "ts-storage-scrub.service", "-o", "cat", "--no-pager")
    result = show("ts-storage", "check", ok=(0, 1, 2, 3))
    summary.append(f"ts-storage check: exit {result.returncode} "
                   f"({['ok', 'warning', 'critical', 'unknown'][result.returncode]})")

    section("snapshots: the hourly timer's run, started by systemd now")
    before = {snap["path"] for snap in snapshots()}
    show("systemctl", "start", "ts-snapshot.service")
    show("journalctl", "-u", "ts-snapshot.service", "-o", "cat", "--no-pager")
    show("ts-snapshot", "list")
    # By subvolume: the hourly timer itself may run too when the demo crosses the hour (a CI
    # run's did, and made the count 14).
    series = {snap["subvolume"] for snap in snapshots() if snap["path"] not in before}
    summary.append(f"snapshots: {len(series)} subvolumes snapshotted by ts-snapshot.service")

    section("a user deletes a file; ts-snapshot restore brings it back (reflink)")
    os.unlink(os.path.join(STORAGE, "homes/alice/train.py"))
    show("ts-snapshot", "restore", os.path.join(STORAGE, "homes/alice/train.py"))
    show("cat", os.path.join(STORAGE, "homes/alice/train.py"))
    summary.append("restore: homes/alice/train.py back from its snapshot")

    section("off-site backup: restic through rclone (a local directory stands in for Drive)")
    with open(RCLONE_CONFIG, "w") as handle:
        handle.write("[gdrive]\ntype = local\n")
    os.chmod(RCLONE_CONFIG, 0o600)
    with open("/etc/trainserver/secrets/restic-password", "w") as handle:
        handle.write("demo password: keep a copy off the machine\n")
    os.chmod("/etc/trainserver/secrets/restic-password", 0o600)
    with open(CONFIG) as handle:
        text = handle.read()
    with open(CONFIG, "w") as handle:
        handle.write(text.replace('\n#repository = "rclone:gdrive:trainserver-backup"\n',
                                  f'\nrepository = "rclone:gdrive:{DRIVE}"\n'))
    show("ts-config", "check")
    show("ts-backup", "init")
    # The backup units' sandbox leaves the file system read-only but for what they need; the
    # stand-in for Drive is a local directory, so it gets a drop-in, as a repository on a NAS
    # mount would (systemctl edit ts-backup.service).
    for unit in ("ts-backup.service", "ts-backup-verify.service", "ts-backup-prune.service"):
        os.makedirs(f"/etc/systemd/system/{unit}.d", exist_ok=True)
        with open(f"/etc/systemd/system/{unit}.d/drive-standin.conf", "w") as handle:
            handle.write(f"[Service]\nReadWritePaths={os.path.dirname(DRIVE)}\n")
    show("cat", "/etc/systemd/system/ts-backup.service.d/drive-standin.conf")
    show("systemctl", "daemon-reload")
    print("ts-backup.service runs the daily backup through ts-alert (started by systemd now):")
    show("systemctl", "start", "ts-backup.service")
    show("journalctl", "-u", "ts-backup.service", "-o", "cat", "--no-pager")
    show("ts-backup", "snapshots")
    result = show("ts-backup", "status", ok=(0, 2, 3))
    summary.append("backup: ts-backup.service " +
                   ("succeeded" if result.returncode == 0 else f"FAILED (exit {result.returncode})"))
    show("ts-backup", "verify", ok=(0, 1, 2))
    with open(os.path.join(STORAGE, "homes/alice/train.py"), "w") as handle:
        handle.write("print('overwritten by mistake')\n")
    # The live file exists, so the restore is refused in its place without --overwrite:
    # the backup's version goes beside it, for alice to compare.
    beside = os.path.join(STORAGE, "homes/alice/train-from-backup.py")
    show("ts-backup", "restore", os.path.join(STORAGE, "homes/alice/train.py"), "--to", beside)
    show("cat", beside)
    summary.append("backup restore: homes/alice/train.py back beside the live file")

    section("the firewall: UFW for the LAN only, fail2ban's sshd jail (ts-firewall)")
    with open(CONFIG) as handle:
        text = handle.read()
    with open(CONFIG, "w") as handle:
        handle.write(text.replace('\n#lan_networks = []\n', '\nlan_networks = ["10.0.2.0/24"]\n'))
    show("ts-firewall", "plan")
    result = show("ts-firewall", "apply")
    show("ufw", "status", "verbose")
    # The hourly check, as its timer runs it (sandboxed, through ts-alert).
    show("systemctl", "start", "ts-firewall.service")
    show("journalctl", "-u", "ts-firewall.service", "-o", "cat", "--no-pager")
    checked = show("ts-firewall", "check", ok=(0, 1, 2, 3))
    summary.append(f"ts-firewall apply: exit {result.returncode}; ts-firewall check: exit "
                   f"{checked.returncode} ({['ok', 'warning', 'critical', 'unknown'][checked.returncode]})")

    section("ts-doctor: the manual's system test of the live server (probes in parallel)")
    # The guest has no network card: the internet probe would only say that.
    with open(CONFIG) as handle:
        text = handle.read()
    with open(CONFIG, "w") as handle:
        text = text.replace('\n#internet_address = "deb.debian.org:443"\n',
                            '\ninternet_address = ""  # the demo guest has no network card\n')
        # The default (10 s) is for real hardware; under software emulation, with the host
        # busy, one Python tool's start alone can take several seconds.
        handle.write(text.replace('\n#probe_timeout = "10s"\n',
                                  '\nprobe_timeout = "60s"  # an emulated machine\n'))
    started = time.monotonic()
    result = show("ts-doctor", ok=(0, 2))
    took = time.monotonic() - started
    # --json ends with the totals: {"total_seconds", "pass", "fail", "skip"}.
    lines = show("ts-doctor", "--json", ok=(0, 2), quiet=True).stdout.splitlines()
    total = json.loads(lines[-1])
    summary.append(f"ts-doctor: exit {result.returncode}, {total['pass']} PASS, "
                   f"{total['fail']} FAIL, {total['skip']} SKIP in {took:.1f} s")
    print("The monthly maintenance digest (ts-doctor-digest.timer sends it through ts-alert):")
    show("ts-doctor", "digest")

    section("no ts-* unit failed")
    show("systemctl", "list-units", "--failed", "--no-pager", "--plain", "ts-*")

    section("summary")
    for line in summary:
        print(f"  {line}")
    print(f"  guest time for the demo: {time.monotonic() - STARTED:.0f} s")


if __name__ == "__main__":
    main()
