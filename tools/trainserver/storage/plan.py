"""The plan of ts-storage apply: pure logic from the [storage] config and the facts found.

A plan is the list of steps that build the layout, each marked done or to do from the facts,
plus the refusals that stop apply before it changes anything. apply makes the plan again
before every step, so a step's "done" is its own result check: after a crash the next run
starts at the first step whose result is missing, and after success every step is done.

What apply may touch is decided here, and only here:
- devices named in [storage] by stable id, and nothing else;
- on the cache device only a new partition in the free space after every existing one;
- nothing mounted, held or opened exclusively, unless it is the layout itself;
- nothing carrying a signature apply did not make, unless --wipe is given and --confirm
  names that disk's serial;
- a filesystem labelled as apply labels it counts as made only when its devices are exactly
  the configured ones: one that spans another disk, or lacks one, is refused, never adopted.
"""

import os
from dataclasses import dataclass, field

from trainserver.storage import layout, parse


@dataclass
class LayoutFacts:
    """What survey.gather() found; every field has a harmless default for tests."""
    disks: list = field(default_factory=list)        # disks.discover(), with busy and sizes
    resolved: dict = field(default_factory=dict)     # configured id -> kernel path or None
    id_problems: dict = field(default_factory=dict)  # configured id -> why it is no usable id
    table: dict = None                               # sfdisk "partitiontable" of the cache disk
    table_error: str = None                          # why it could not be read (not "none")
    supers: dict = field(default_factory=dict)       # device -> bcache.parse_super() or None
    registered: dict = field(default_factory=dict)   # backing kernel name -> registration
    cache_sets: set = field(default_factory=set)     # registered cache set UUIDs
    bcache_loaded: bool = False                      # /sys/fs/bcache exists
    bcache_available: bool = False                   # loaded, or modprobe finds the module
    members: dict = field(default_factory=dict)      # mkfs member -> blkid signatures
    filesystems: dict = field(default_factory=dict)  # UUID of a labelled BTRFS -> num_devices
    mount: dict = None                               # parse.mount() of the mount point
    mount_point_entries: int = None                  # None: missing; -1: not a directory
    fstab_text: str = ""
    fstab_problem: str = None                        # findmnt --verify's errors, if any
    tree: dict = field(default_factory=dict)         # relative path -> kind found, or None
    systemd: bool = False                            # systemd is the running init
    scrub_timer_enabled: bool = None
    missing_programs: dict = field(default_factory=dict)  # program -> Debian package


@dataclass
class Step:
    key: str
    title: str
    done: bool
    command: list = None   # the program apply runs (<...> stands for what an earlier step makes)
    write: tuple = None    # (sysfs file, value) apply writes
    action: str = None     # what apply does in-process, when neither of the above
    skipped: str = None    # why the step does not apply on this machine
    prepare: list = None   # a program run before `command`, whose result is that command's

    def to_dict(self):
        return {"key": self.key, "title": self.title,
                "state": "skipped" if self.skipped else "done" if self.done else "to do",
                "prepare": self.prepare, "command": self.command,
                "write": {"path": self.write[0], "value": self.write[1]} if self.write else None,
                "action": self.action, "skipped": self.skipped}


@dataclass
class Plan:
    steps: list
    refusals: list
    notes: list

    @property
    def todo(self):
        return [step for step in self.steps if not step.done and not step.skipped]

    def to_dict(self):
        return {"steps": [step.to_dict() for step in self.steps], "refusals": self.refusals,
                "notes": self.notes, "nothing_to_do": not self.todo and not self.refusals}


@dataclass
class Settings:
    """The config apply works from, taken out of the [storage], [paths] and [snapshot] tables."""
    backing: list
    cache_device: str = ""
    cache: str = "bcache"
    profile: str = "raid10"
    mount_point: str = "/mnt/storage"
    mount_options: str = "noatime,compress=zstd:1,space_cache=v2"
    fstab: str = "/etc/fstab"
    users: list = field(default_factory=list)
    snapshot_dir: str = "snapshots"

    @classmethod
    def from_config(cls, config):
        table = config["storage"]
        return cls(backing=list(table["backing_devices"]), cache_device=table["cache_device"],
                   cache=table["cache"], profile=table["raid_profile"],
                   mount_point=config["paths"]["storage"], mount_options=table["mount_options"],
                   fstab=table["fstab"],
                   users=[entry["name"] for entry in config.effective["users"]["people"]],
                   snapshot_dir=config["snapshot"]["snapshot_dir"])


MIN_DISKS = {"raid10": 4, "raid1": 2}


def partition_node(disk_path, number):
    """The kernel's name for partition NUMBER of DISK: sda -> sda2, nvme0n1 -> nvme0n1p2."""
    return f"{disk_path}{'p' if disk_path[-1].isdigit() else ''}{number}"


def fstab_line(uuid, settings):
    return f"UUID={uuid} {settings.mount_point} btrfs {settings.mount_options} 0 0"


class _Planner:
    def __init__(self, settings, facts, wipe, confirmed):
        self.s = settings
        self.f = facts
        self.wipe = wipe
        self.confirmed = list(confirmed)
        self.refusals = []
        self.notes = []
        self.steps = []
        self.wipes = []  # confirmed erasures come first: nothing is built before they succeed
        self.by_path = {disk["path"]: disk for disk in facts.disks}
        self.parts = {part["path"]: (disk, part) for disk in facts.disks
                      for part in disk["partitions"]}
        self.bcache = settings.cache == "bcache"

    # -- naming and lookup

    @staticmethod
    def confirm_name(device_id, disk):
        """What --confirm must say for this disk: its serial, or its id's name when it has
        none (a loop device, a virtual disk)."""
        return disk.get("serial") or os.path.basename(device_id)

    def label(self, device_id, disk=None):
        serial = disk.get("serial") if disk else None
        return f"{device_id}" + (f" (serial {serial})" if serial else "")

    def refuse(self, message):
        if message not in self.refusals:
            self.refusals.append(message)

    def disk_for(self, device_id):
        """The discovered disk a configured id names, or None (with the refusal said)."""
        problem = layout.stable_id_problem(device_id) or self.f.id_problems.get(device_id)
        if problem:
            self.refuse(f"{device_id}: {problem}")
            return None
        path = self.f.resolved.get(device_id)
        if path is None:
            self.refuse(f"{device_id}: no such device")
            return None
        if path in self.parts:
            self.refuse(f"{device_id}: is a partition ({path}); name the whole disk")
            return None
        disk = self.by_path.get(path)
        if disk is None:
            self.refuse(f"{device_id}: {path} is not a disk this machine lists")
        return disk

    # -- the checks before anything is touched

    def check_config(self):
        s = self.s
        if not s.backing:
            self.refuse("[storage] backing_devices is empty: name the hard disks by stable id "
                        "(ts-storage discover lists them)")
        if self.bcache and not s.cache_device:
            self.refuse("[storage] cache_device is empty: name the NVMe disk by stable id, or "
                        "set cache = \"none\"")
        if not self.bcache and s.cache_device:
            self.notes.append(f"cache = \"none\": cache_device {s.cache_device} is not used")
        names = s.backing + ([s.cache_device] if self.bcache and s.cache_device else [])
        for name in sorted({n for n in names if names.count(n) > 1}):
            self.refuse(f"{name} is named twice in [storage]")
        needed = MIN_DISKS[s.profile]
        if s.backing and len(s.backing) < needed:
            if s.profile == "raid10":
                self.refuse(f"RAID10 needs at least 4 disks; [storage] backing_devices names "
                            f"{len(s.backing)}. RAID1 is used only when raid_profile = "
                            f"\"raid1\" asks for it")
            else:
                self.refuse(f"RAID1 needs at least 2 disks; backing_devices names "
                            f"{len(s.backing)}")
        for program, package in sorted(self.f.missing_programs.items()):
            self.refuse(f"{program} is not installed: apt install {package}")
        if self.bcache and not self.f.bcache_available:
            self.refuse("this kernel has no bcache module (modprobe bcache finds none): boot a "
                        "kernel with bcache, or set [storage] cache = \"none\" to put BTRFS "
                        "straight on the hard disks")

    def usage_problems(self, disk, allowed_holders=(), mounted_ok=False, busy_ok=False):
        """Refusals for a disk that is mounted, held or busy in a way the layout does not
        explain."""
        problems = []
        for item in [disk] + disk["partitions"]:
            if item["mounts"] and not (item is disk and mounted_ok):
                problems.append(f"{item['path']} is mounted on {', '.join(item['mounts'])}")
            holders = [h for h in item["holders"] if item is not disk or h not in allowed_holders]
            if holders:
                problems.append(f"{item['path']} is held by {', '.join(holders)}")
        if disk.get("busy") and not problems and not busy_ok:
            problems.append(f"{disk['path']} is open exclusively by another program")
        return problems

    def foreign_signature(self, item):
        sig = item["signatures"]
        what = sig.get("TYPE") or (f"a {sig['PTTYPE']} partition table" if sig.get("PTTYPE")
                                   else None)
        if what and sig.get("LABEL"):
            what += f" labelled {sig['LABEL']!r}"
        return what

    def wipe_or_refuse(self, device_id, disk, path, what):
        """A signature apply did not make: a wipe step when confirmed, else a refusal."""
        name = self.confirm_name(device_id, disk)
        where = f"{self.label(device_id, disk)}: " + (f"{path} " if path != device_id else "")
        if not self.wipe:
            self.refuse(f"{where}carries {what}; apply never overwrites data unless run with "
                        f"--wipe --confirm {name}")
        elif name not in self.confirmed:
            self.refuse(f"{where}carries {what}; --wipe needs --confirm {name} to erase it")
        else:
            self.wipes.append(Step(f"wipe:{path}", f"erase the signatures on {path} ({what})",
                                   False, command=["wipefs", "--all", path]))

    def check_confirmations(self, named):
        names = {self.confirm_name(device_id, disk) for device_id, disk in named if disk}
        for name in self.confirmed:
            if name not in names:
                self.refuse(f"--confirm {name}: not the serial of a disk named in [storage]; "
                            f"apply touches only those")

    # -- the steps

    def plan(self):
        self.check_config()
        if not self.s.backing or (self.bcache and not self.s.cache_device):
            return self.result()
        backing = [(i, self.disk_for(i)) for i in self.s.backing]
        cache_disk = self.disk_for(self.s.cache_device) if self.bcache else None
        paths = [d["path"] for _, d in backing if d] + ([cache_disk["path"]] if cache_disk else [])
        for path in sorted({p for p in paths if paths.count(p) > 1}):
            self.refuse(f"{path} is named twice in [storage] (under two ids)")
        self.check_confirmations(backing + [(self.s.cache_device, cache_disk)])
        if any(d is None for _, d in backing) or (self.bcache and cache_disk is None):
            return self.result()
        if self.bcache:
            members = self.plan_bcache(backing, cache_disk)
        else:
            members = self.plan_plain(backing)
        self.plan_filesystem(members)
        return self.result()

    def plan_plain(self, backing):
        """cache = "none": BTRFS straight on the hard disks."""
        signatures = [disk["signatures"] for _, disk in backing]
        uuids = {sig.get("UUID") for sig in signatures}
        complete = all(sig.get("TYPE") == "btrfs" and sig.get("LABEL") == layout.LABEL
                       for sig in signatures) and len(uuids) == 1
        mounted_ok = complete and self.f.mount is not None and self.f.mount["uuid"] in uuids
        for device_id, disk in backing:
            if disk["holds_root"]:
                self.refuse(f"{self.label(device_id, disk)}: holds the root filesystem")
                continue
            for problem in self.usage_problems(disk, mounted_ok=mounted_ok, busy_ok=mounted_ok):
                self.refuse(f"{self.label(device_id, disk)}: {problem}")
            what = self.foreign_signature(disk)
            if what and not complete:
                self.wipe_or_refuse(device_id, disk, device_id, what)
        members = {device_id: disk["signatures"] for device_id, disk in backing}
        return members

    def plan_bcache(self, backing, cache_disk):
        f, s = self.f, self.s
        if cache_disk["rotational"]:
            self.notes.append(f"{s.cache_device} is rotational: a slow cache")
        self.steps.append(Step("module", "load the bcache module", f.bcache_loaded,
                               command=["modprobe", "bcache"]))
        cset, node = self.plan_cache_partition(cache_disk)
        members = {}
        for device_id, disk in backing:
            member = self.plan_backing(device_id, disk, cset)
            if member:
                members[member] = f.members.get(member, {})
            else:
                members[f"<bcache device of {os.path.basename(device_id)}>"] = {}
        return members

    def plan_cache_partition(self, disk):
        """Steps for the cache partition; (cache set UUID or None, partition node)."""
        f, s = self.f, self.s
        device_id = s.cache_device
        # The cache disk may hold the OS, mounted and busy: only the new partition must be unused.
        table = f.table
        if f.table_error:
            self.refuse(f"{self.label(device_id, disk)}: its partition table cannot be read: "
                        f"{f.table_error}")
            return None, None
        if table is not None and table.get("label") != "gpt":
            self.refuse(f"{self.label(device_id, disk)}: has a {table.get('label')} partition "
                        f"table; apply adds the cache partition to GPT disks only")
            return None, None
        if table is None:
            what = self.foreign_signature(disk)
            if what:
                if disk["holds_root"]:
                    self.refuse(f"{self.label(device_id, disk)}: carries {what} and holds the "
                                f"root filesystem")
                    return None, None
                self.wipe_or_refuse(device_id, disk, device_id, what)
        ours = [p for p in (table or {}).get("partitions", [])
                if p.get("name") == layout.PARTITION_NAME]
        if len(ours) > 1:
            self.refuse(f"{self.label(device_id, disk)}: {len(ours)} partitions are named "
                        f"{layout.PARTITION_NAME}; remove all but one")
            return None, None
        sector = (table or {}).get("sectorsize") or disk.get("sector_size") or 512
        if ours:
            part = ours[0]
            node = part["node"]
            number = int(node[len(node.rstrip("0123456789")):])
            self.steps.append(Step("partition", f"create the cache partition {node} "
                                   f"({layout.PARTITION_NAME})", True))
        else:
            region = layout.free_region(table, disk["size"], sector)
            size = (region[1] - region[0] + 1) * sector if region else 0
            if size < layout.MIN_CACHE_BYTES:
                self.refuse(f"{self.label(device_id, disk)}: {size // 2**20} MiB free after "
                            f"the last partition; the cache partition needs at least "
                            f"{layout.MIN_CACHE_BYTES // 2**20} MiB")
                return None, None
            number = layout.next_partition_number(table)
            node = partition_node(disk["path"], number)
            self.steps.append(Step(
                "partition", f"create the cache partition {node} in the free space after the "
                f"existing partitions ({size / 2**30:.1f} GiB)", False,
                command=["sgdisk", f"--new={number}:{region[0]}:{region[1]}",
                         f"--typecode={number}:{layout.PARTITION_TYPE}",
                         f"--change-name={number}:{layout.PARTITION_NAME}", device_id]))
        kernel = self.parts.get(node)
        visible = kernel is not None and (
            not ours or kernel[1].get("start") in (None, ours[0]["start"] * sector))
        self.steps.append(Step("partition-visible", f"make the kernel see {node}", visible,
                               command=["partx", "--add", "--nr", str(number), disk["path"]]))
        superblock = f.supers.get(node)
        cset = superblock["cset_uuid"] if superblock and superblock["kind"] == "cache" else None
        if kernel:
            # Once a configured disk is attached, its bcache device holds the cache partition.
            ours_held = {os.path.basename(r["bcache_dev"]) for r in f.registered.values()
                         if cset and r.get("cache_set") == cset and r.get("bcache_dev")}
            in_use = kernel[1]["mounts"] + [h for h in kernel[1]["holders"] if h not in ours_held]
            if in_use:
                self.refuse(f"{node}: the cache partition is in use: {', '.join(in_use)}")
        if kernel and not cset:
            what = self.foreign_signature(kernel[1]) if not superblock else \
                "a bcache backing superblock"
            if what:
                self.wipe_or_refuse(device_id, disk, node, what)
        self.steps.append(Step("make-cache", f"make {node} a bcache cache device", bool(cset),
                               command=["make-bcache", "--cache", node]))
        self.steps.append(Step("register-cache", "register the cache set with the kernel",
                               bool(cset) and cset in f.cache_sets,
                               write=("/sys/fs/bcache/register", node)))
        return cset, node

    def plan_backing(self, device_id, disk, cset):
        """Steps for one hard disk; its bcache device when it exists, else None."""
        f = self.f
        path = disk["path"]
        name = os.path.basename(path)
        short = os.path.basename(device_id)
        if disk["holds_root"]:
            self.refuse(f"{self.label(device_id, disk)}: holds the root filesystem")
            return None
        superblock = f.supers.get(path)
        ours = bool(cset and superblock and superblock["kind"] == "backing"
                    and superblock["cset_uuid"] == cset)
        registered = f.registered.get(name) if ours else None
        holders = [os.path.basename(registered["bcache_dev"])] if registered and \
            registered["bcache_dev"] else []
        for problem in self.usage_problems(disk, allowed_holders=holders,
                                           busy_ok=bool(registered)):
            self.refuse(f"{self.label(device_id, disk)}: {problem}")
        if not ours:
            what = self.foreign_signature(disk)
            if superblock and what:
                what += (" of another cache set" if superblock["kind"] == "backing" else
                         " (a bcache cache device)")
            if what:
                self.wipe_or_refuse(device_id, disk, device_id, what)
        self.steps.append(Step(
            f"make-backing:{short}", f"make {short} a bcache backing device (writeback)", ours,
            command=["make-bcache", "--bdev", "--writeback", "--cset-uuid",
                     cset or "<cache set UUID>", device_id]))
        self.steps.append(Step(f"register:{short}", f"register {short} with the kernel",
                               bool(registered), write=("/sys/fs/bcache/register", path)))
        sysfs = f"/sys/class/block/{name}/bcache"
        attached = bool(registered and registered["cache_set"] == cset)
        if registered and registered["cache_set"] not in (None, cset):
            self.refuse(f"{self.label(device_id, disk)}: attached to another cache set "
                        f"{registered['cache_set']}")
        self.steps.append(Step(f"attach:{short}", f"attach {short} to the cache set", attached,
                               write=(f"{sysfs}/attach", cset or "<cache set UUID>")))
        self.steps.append(Step(f"writeback:{short}", f"set {short} to writeback",
                               bool(registered and registered["cache_mode"] == "writeback"),
                               write=(f"{sysfs}/cache_mode", "writeback")))
        return registered["bcache_dev"] if registered else None

    def btrfs_devices(self, uuid):
        """The kernel paths of every device found carrying the BTRFS with this UUID."""
        nodes = [node for disk in self.f.disks for node in [disk] + disk["partitions"]]
        nodes += [{"path": path, "signatures": sig} for path, sig in self.f.members.items()]
        return {node["path"] for node in nodes if node["signatures"].get("TYPE") == "btrfs"
                and node["signatures"].get("UUID") == uuid}

    def check_members(self, uuid, members):
        """Whether the labelled BTRFS with this UUID spans exactly the configured members;
        the refusal (or, when every configured disk carrying it is to be wiped, a note) names
        the devices it has beyond them and the ones it lacks."""
        configured = {self.f.resolved.get(name) or name: name for name in members}
        found = self.btrfs_devices(uuid)
        problems = []
        extra = sorted(found - set(configured))
        if extra:
            problems.append(f"spans {', '.join(extra)}, which [storage] does not name")
        lacking = [name for path, name in configured.items() if path not in found]
        if lacking:
            problems.append(f"does not span {', '.join(lacking)}")
        info = self.f.filesystems.get(uuid) or {}
        total = info.get("num_devices")
        if total is None:
            problems.append(f"its device count cannot be read "
                            f"({info.get('error') or 'no superblock read'})")
        elif total > len(found):
            absent = total - len(found)
            problems.append(f"{absent} of its {total} devices {'is' if absent == 1 else 'are'} "
                            f"not present on this machine")
        if not problems:
            return True
        what = f"the BTRFS labelled {layout.LABEL!r} (UUID {uuid}): {'; '.join(problems)}"
        wiped = {step.key.split(":", 1)[1] for step in self.wipes}
        carriers = [name for path, name in configured.items() if path in found]
        if carriers and all(name in wiped for name in carriers):
            self.notes.append(f"{what}; --wipe erases it on the configured disks")
        else:
            self.refuse(f"{what}. apply adopts a filesystem only when its devices are "
                        f"exactly the configured ones, and never builds over one that is not: "
                        f"make the two agree first (name its other devices in [storage], or "
                        f"btrfs device add/remove)")
        return False

    def plan_filesystem(self, members):
        f, s = self.f, self.s
        known = [sig for name, sig in members.items() if not name.startswith("<")]
        uuids = {sig.get("UUID") for sig in known}
        made = len(known) == len(members) and len(uuids) == 1 and all(
            sig.get("TYPE") == "btrfs" and sig.get("LABEL") == layout.LABEL for sig in known)
        uuid = uuids.pop() if made else None
        # "Done" only when the filesystem is exactly the configured devices: a labelled one
        # that spans another disk, or lacks one, is never adopted (and never mkfs'd over).
        labelled = sorted({sig.get("UUID") for sig in known if sig.get("TYPE") == "btrfs"
                           and sig.get("LABEL") == layout.LABEL} - {None})
        spans = {found: self.check_members(found, members) for found in labelled}
        made = made and spans.get(uuid, False)
        force = self.bcache and not made and any(sig for sig in known)
        self.steps.append(Step(
            "mkfs", f"make BTRFS {s.profile} (data and metadata) over {len(members)} devices",
            made, command=["mkfs.btrfs"] + (["--force"] if force else []) +
            ["--label", layout.LABEL, "--data", s.profile, "--metadata", s.profile,
             *members]))
        if force and self.bcache:
            self.notes.append("the new bcache devices show old bytes of the disks; mkfs.btrfs "
                              "runs with --force over them (the disks themselves were checked)")
        mounted = made and f.mount is not None and f.mount["uuid"] == uuid
        # A labelled filesystem mounted there with the wrong devices has its refusal above.
        if f.mount is not None and not mounted and f.mount["uuid"] not in labelled:
            self.refuse(f"{s.mount_point} is already mounted from {f.mount['source']}; apply "
                        f"mounts only the filesystem it makes there")
        elif not mounted and f.mount_point_entries == -1:
            self.refuse(f"{s.mount_point} exists and is not a directory")
        elif not mounted and f.mount_point_entries:
            self.refuse(f"{s.mount_point} is not empty ({f.mount_point_entries} entries): "
                        f"mounting over it would hide them")
        shown = uuid if made else "<new filesystem UUID>"
        # A mount by UUID finds only the devices the kernel has registered: without udev (a
        # container) or after a kill before the mount, nothing has. The scan registers them.
        self.steps.append(Step("mount", f"mount it on {s.mount_point}", mounted,
                               prepare=["btrfs", "device", "scan", *members],
                               command=["mount", "--types", "btrfs", "--options",
                                        s.mount_options, f"UUID={shown}", s.mount_point]))
        wanted = layout.tree(s.users, s.snapshot_dir)
        missing = [path for path, _ in wanted if f.tree.get(path) is None]
        for path, kind in wanted:
            found = f.tree.get(path)
            if found is not None and found != kind and not (kind == "directory" and
                                                             found == "subvolume"):
                self.refuse(f"{s.mount_point}/{path} is a {found}, not a {kind}: move it "
                            f"away first")
        self.steps.append(Step(
            "tree", "create the subvolume layout", mounted and not missing,
            action=(f"create under {s.mount_point}: " + ", ".join(
                f"{path}{'/' if kind == 'directory' else ''}" for path, kind in wanted
                if not mounted or path in missing)) + "; subvolumes are plain BTRFS "
            "subvolumes, no quotas"))
        entries = parse.fstab_entries(f.fstab_text, s.mount_point)
        in_fstab = uuid is not None and any(source == f"UUID={uuid}" for source, _ in entries)
        others = [line for source, line in entries if uuid is None or source != f"UUID={uuid}"]
        if others:
            self.refuse(f"{s.fstab} already mounts something else on {s.mount_point}: "
                        f"{others[0].strip()}")
        if not in_fstab and f.fstab_problem:
            self.refuse(f"{s.fstab} fails findmnt --verify; fix it before apply changes it: "
                        f"{f.fstab_problem}")
        self.steps.append(Step(
            "fstab", f"mount it by UUID at boot ({s.fstab})", in_fstab,
            action=f"append \"{fstab_line(shown, s)}\" to {s.fstab}: dated backup first, "
            "atomic write, findmnt --verify before and after"))
        timer = Step("scrub-timer", "enable the monthly scrub (ts-storage-scrub.timer)",
                     bool(f.scrub_timer_enabled),
                     command=["systemctl", "enable", "--now", "ts-storage-scrub.timer"])
        if not f.systemd:
            timer.skipped = "systemd is not running here"
        self.steps.append(timer)

    def result(self):
        return Plan(self.wipes + self.steps, self.refusals, self.notes)


def make(settings, facts, wipe=False, confirmed=()):
    """The Plan for SETTINGS over FACTS; --wipe and the --confirm names as given."""
    return _Planner(settings, facts, wipe, confirmed).plan()
