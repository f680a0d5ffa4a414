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
def dockerd(request):
    """A dockerd of the test's own and an image in it; yields (docker argv prefix,
    DOCKER_HOST, image). Needs root and the Debian package docker.io."""
    tag = "ts-" + request.node.module.__name__.replace("_", "-").lower()
    yield from docker_engine.run_dockerd(tag)
