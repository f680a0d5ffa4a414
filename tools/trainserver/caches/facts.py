"""What is there: the caches' directories, the files ts-caches writes, the shared group."""

import os
import stat
from dataclasses import dataclass

from trainserver.caches import acl, plan as plans
from trainserver.core import accounts, commands


@dataclass(frozen=True)
class Settings:
    storage: str
    group: str
    enabled: tuple
    pip_conf: bool
    root: str = "/"

    @classmethod
    def from_config(cls, config, root="/"):
        caches = config["caches"]
        return cls(storage=config["paths"]["storage"], group=config["users"]["group"],
                   enabled=tuple(dict.fromkeys(caches["caches"])),
                   pip_conf=caches["pip_conf"], root=root)

    def path(self, relative):
        """A path under [paths] storage."""
        return os.path.join(self.storage, relative)

    def etc(self, relative):
        """A path under the root directory (etc/...)."""
        return os.path.join(self.root, relative)


def storage_problem(settings):
    """Why the caches cannot be made or checked now, or None."""
    if not os.path.ismount(settings.storage):
        return (f"{settings.storage} is not mounted ([paths] storage): the caches live on "
                f"the storage filesystem")
    if not os.path.isdir(settings.path("cache")):
        return (f"{settings.path('cache')} does not exist: run ts-storage apply first, which "
                f"makes the cache subvolumes")
    return None


def group_id(settings):
    found = accounts.group(settings.group, settings.root)
    return found.gid if found else None


def apt_uid(settings):
    found = accounts.account("_apt", settings.root)
    return found.uid if found else None


def read_acl(path):
    result = commands.run(["getfacl", "--numeric", "--absolute-names", "--omit-header", "--",
                           path], changes=False, timeout=60)
    return acl.parse(result.stdout)


def dir_facts(settings, relative, with_acl):
    path = settings.path(relative)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return plans.DirFacts(relative, False)
    is_dir = stat.S_ISDIR(st.st_mode)
    return plans.DirFacts(relative, True, is_dir, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode),
                          read_acl(path) if is_dir and with_acl else None)


def all_dir_facts(settings, want_list):
    return {want.relative: dir_facts(settings, want.relative, want.with_acl)
            for want in want_list}


def file_facts(settings, relative):
    path = settings.etc(relative)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return plans.FileFacts(relative, False)
    if stat.S_ISLNK(st.st_mode):
        return plans.FileFacts(relative, True, is_link=True)
    if not stat.S_ISREG(st.st_mode):
        return plans.FileFacts(relative, True)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        text = None
    return plans.FileFacts(relative, True, text=text, mode=stat.S_IMODE(st.st_mode))


def is_subvolume(path):
    """True, False, or None when that cannot be told (not BTRFS, btrfsutil missing)."""
    try:
        import btrfsutil  # imported here: --help must not pay for it
    except ImportError:
        return None
    try:
        return btrfsutil.is_subvolume(path)
    except btrfsutil.BtrfsUtilError:
        return None


def on_btrfs(path):
    return is_subvolume(path) is not None
