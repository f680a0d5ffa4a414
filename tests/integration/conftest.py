import os

import pytest

import docker_engine


@pytest.fixture
def btrfs_mount(tmp_path):
    """A fresh BTRFS on a loop device over a sparse file, mounted; torn down even on failure.

    `btrfs_mount(size="1G")` returns the mount point. Needs root, btrfs-progs and util-linux.
    """
    import subprocess

    made = []

    def make(size="1G"):
        image = tmp_path / f"btrfs-{len(made)}.img"
        mount_point = tmp_path / f"storage-{len(made)}"
        mount_point.mkdir()
        subprocess.run(["truncate", "-s", size, str(image)], check=True)
        device = subprocess.run(["losetup", "--find", "--show", str(image)], check=True,
                                capture_output=True, text=True).stdout.strip()
        made.append((mount_point, device, image))
        subprocess.run(["mkfs.btrfs", "-q", device], check=True, capture_output=True)
        subprocess.run(["mount", device, str(mount_point)], check=True)
        return str(mount_point)

    try:
        yield make
    finally:
        for mount_point, device, image in reversed(made):
            if os.path.ismount(mount_point):
                if subprocess.run(["umount", str(mount_point)]).returncode != 0:
                    subprocess.run(["umount", "--lazy", str(mount_point)])
            subprocess.run(["losetup", "--detach", device])
            image.unlink(missing_ok=True)


@pytest.fixture
def raid10(tmp_path):
    """Four 512 MiB loop devices, BTRFS RAID10 (label tstest) mounted at tmp_path/storage,
    tmp_path/fstab naming it and tmp_path/trainserver.toml pointing at both, with state, locks
    and metrics in tmp_path/state. Yields {"mount", "devices", "images", "config", "uuid"};
    everything is unmounted, detached and removed afterwards, also when the test fails.
    Needs root and btrfs-progs."""
    import glob
    import subprocess

    images, devices, uuid = [], [], None
    mount_point = tmp_path / "storage"
    mount_point.mkdir()
    try:
        for index in range(4):
            image = tmp_path / f"disk{index}.img"
            subprocess.run(["truncate", "-s", "512M", str(image)], check=True)
            images.append(image)
            devices.append(subprocess.run(["losetup", "--find", "--show", str(image)], check=True,
                                          capture_output=True, text=True).stdout.strip())
        subprocess.run(["mkfs.btrfs", "-q", "-L", "tstest", "-d", "raid10", "-m", "raid10",
                        *devices], check=True, capture_output=True)
        subprocess.run(["mount", devices[0], str(mount_point)], check=True)
        uuid = subprocess.run(["findmnt", "-no", "UUID", str(mount_point)], check=True,
                              capture_output=True, text=True).stdout.strip()
        (tmp_path / "fstab").write_text(f"UUID={uuid} {mount_point} btrfs noatime 0 0\n")
        config = tmp_path / "trainserver.toml"
        state = tmp_path / "state"
        config.write_text(f'[paths]\nstorage = "{mount_point}"\nstate_dir = "{state}"\n'
                          f'lock_dir = "{state}"\nmetrics_dir = "{state}/metrics"\n'
                          f'[storage]\nfstab = "{tmp_path}/fstab"\n')
        yield {"mount": str(mount_point), "devices": devices, "images": images,
               "config": str(config), "uuid": uuid}
    finally:
        if os.path.ismount(mount_point):
            if subprocess.run(["umount", str(mount_point)]).returncode:
                subprocess.run(["umount", "--lazy", str(mount_point)])
        for device in devices:
            subprocess.run(["losetup", "--detach", device], capture_output=True)
        for image in images:
            image.unlink(missing_ok=True)
        # btrfs-progs keeps each filesystem's scrub results in /var/lib/btrfs: not ours to keep
        if uuid:
            for leftover in glob.glob(f"/var/lib/btrfs/scrub.*{uuid}*"):
                os.unlink(leftover)


@pytest.fixture
def dockerd(request):
    """A dockerd of the test's own and an image in it; yields (docker argv prefix,
    DOCKER_HOST, image). Needs root and the Debian package docker.io."""
    tag = "ts-" + request.node.module.__name__.replace("_", "-").lower()
    yield from docker_engine.run_dockerd(tag)
