"""What the storage layout is made of, and the arithmetic of the cache partition: pure logic.

The layout is docs/design.md's: each person's subvolumes (core.people: home, workspace, TensorBoard
logs, container state) so that snapshots and usage work per person, docker-volumes and each shared cache as a subvolume, and
plain directories around them. `shared` stays an empty directory: it is the rclone mount point.
"""

from trainserver.core import people

# The BTRFS label apply gives the filesystem; with the partition name below it tells what apply
# made from what it must never touch.
LABEL = "trainserver"
# The GPT name of the bcache cache partition apply creates on the cache device.
PARTITION_NAME = "trainserver-bcache"
PARTITION_TYPE = "8300"  # "Linux filesystem": sgdisk has no code of its own for bcache
CACHES = ("pip", "conda", "huggingface", "torch", "apt", "go", "npm", "cargo", "docker", "gdrive")
# Below this the cache is not worth a partition (make-bcache needs some hundred buckets).
MIN_CACHE_BYTES = 2**30
ALIGN_BYTES = 2**20  # partitions start and end on 1 MiB boundaries, as sgdisk and parted do
GPT_ENTRIES_BYTES = 128 * 128  # 128 entries of 128 bytes: what sgdisk writes
BY_ID = "/dev/disk/by-id/"


def stable_id_problem(name):
    """Why NAME is not a disk's entry in /dev/disk/by-id itself, or None.

    The text alone: "/dev/disk/by-id/../../sdb" starts like a stable id and names a kernel
    name, which changes between boots; a deeper path is no entry udev makes either.
    """
    if not name.startswith(BY_ID):
        return "not a stable id; name disks by /dev/disk/by-id/... (ts-storage discover lists them)"
    entry = name[len(BY_ID):]
    if not entry or "/" in entry or entry in (".", ".."):
        return ("not an entry of /dev/disk/by-id itself: a stable id has no \".\" or \"..\" "
                "component and no deeper path (ts-storage discover lists the ids)")
    return None


def tree(users, snapshot_dir="snapshots"):
    """[(relative path, "directory" | "subvolume")], parents before children."""
    entries = [(name, "directory") for name in
               ("homes", "workspaces", "tensorboard", "cache", snapshot_dir, "shared")]
    entries.append(("docker-volumes", "subvolume"))
    entries += [(f"cache/{name}", "subvolume") for name in CACHES]
    for user in users:
        entries += [(relative, "subvolume") for relative in people.subvolumes(user)]
    return entries


def owner_of(relative, users):
    """The person whose subvolume `relative` is, or None."""
    for user in users:
        if relative in people.subvolumes(user):
            return user
    return None


def last_usable_sector(total_sectors, sector_size):
    """The last sector a GPT partition may use: before the backup entries and header."""
    entries = -(-GPT_ENTRIES_BYTES // sector_size)
    return total_sectors - 1 - entries - 1


def free_region(table, disk_bytes, sector_size):
    """(first, last) sector of the free space after the last partition, 1 MiB aligned, or None.

    `table` is sfdisk's "partitiontable" (None: the disk has no partition table yet, and
    sgdisk will write a new GPT). Only space after every partition counts: a gap between
    existing partitions is left alone, so nothing before the cache partition moves.
    """
    align = max(ALIGN_BYTES // sector_size, 1)
    if table is None:
        first_usable, last_usable, ends = 34, last_usable_sector(disk_bytes // sector_size,
                                                                 sector_size), []
    else:
        first_usable, last_usable = table["firstlba"], table["lastlba"]
        ends = [part["start"] + part["size"] for part in table.get("partitions", [])]
    start = max([first_usable, align] + ends)
    start = -(-start // align) * align
    end = (last_usable + 1) // align * align - 1
    if end < start:
        return None
    return start, end


def next_partition_number(table):
    used = {_number(part["node"]) for part in (table or {}).get("partitions", [])}
    number = 1
    while number in used:
        number += 1
    return number


def _number(node):
    digits = ""
    for char in reversed(node):
        if not char.isdigit():
            break
        digits = char + digits
    return int(digits)
