"""The host side of the upgrade test (`make vm-upgrade`) that needs no qemu and no root: the
second package is the same files under a higher version, and only a job that asks for the
network gets one."""

import importlib.machinery
import importlib.util
import os
import subprocess
from types import SimpleNamespace

from tests.vm import harness


def load_upgrade():
    path = os.path.join(harness.HERE, "upgrade")
    loader = importlib.machinery.SourceFileLoader("vm_upgrade", path)
    spec = importlib.util.spec_from_loader("vm_upgrade", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def make_deb(tmp_path, version):
    tree = tmp_path / "pkg"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: trainserver\nVersion: {version}\nArchitecture: all\n"
        f"Maintainer: t <t@example.org>\nDescription: test\n")
    (tree / "etc" / "trainserver").mkdir(parents=True)
    (tree / "etc" / "trainserver" / "trainserver.toml").write_text("[paths]\n")
    deb = tmp_path / f"trainserver_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(deb)], check=True,
                   capture_output=True)
    return str(deb)


def contents(deb):
    listing = subprocess.run(["dpkg-deb", "-c", deb], check=True, capture_output=True,
                             text=True).stdout
    return sorted(line.split()[-1] for line in listing.splitlines())


def test_repack_raises_the_version_and_keeps_the_files(tmp_path):
    upgrade = load_upgrade()
    deb = make_deb(tmp_path, "0.1.0")
    out = tmp_path / "out"
    out.mkdir()
    repacked = upgrade.repack(deb, str(out))
    field = subprocess.run(["dpkg-deb", "-f", repacked, "Version"], check=True,
                           capture_output=True, text=True).stdout.strip()
    assert field == "0.1.0+upgrade1"
    assert os.path.basename(repacked) == "trainserver_0.1.0+upgrade1_all.deb"
    assert contents(repacked) == contents(deb)
    newer = subprocess.run(["dpkg", "--compare-versions", field, "gt", "0.1.0"])
    assert newer.returncode == 0, "apt would not see the repacked package as an upgrade"
    assert os.listdir(out) == [os.path.basename(repacked)], "the unpacked tree was left behind"


def test_only_a_job_that_asks_gets_the_network(tmp_path):
    image = SimpleNamespace(kernel="/k", initrd="/i")
    offline = harness._qemu_argv(image, str(tmp_path))
    online = harness._qemu_argv(image, str(tmp_path), network=True)
    assert offline[offline.index("-nic") + 1] == "none"
    assert online[online.index("-nic") + 1] == "user,model=virtio-net-pci"
    assert offline.count("-nic") == online.count("-nic") == 1
