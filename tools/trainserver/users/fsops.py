"""Files inside people's homes, reached without following a link the person could plant.

A home belongs to its person, who can replace .ssh or authorized_keys with a symbolic link to
any file of root's between two of ts-users's steps. So every path below [paths] storage is
opened one component at a time with O_NOFOLLOW, and changes are made through the descriptors
(fchown, fchmod, a rename inside the opened .ssh): a planted link makes the step fail, and
never redirects root's write.
"""

import os

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_dir(storage, rel):
    """A descriptor of the directory `rel` below `storage`, no link followed on the way."""
    fd = os.open(storage, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in [p for p in rel.split("/") if p]:
            if part in (".", ".."):
                raise ValueError(f"{rel!r}: not a plain relative path")
            inner = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _split(rel):
    parent, _, name = rel.rpartition("/")
    return parent, name


def read_text(storage, rel):
    """The text of the file `rel`, or None when it does not exist."""
    parent, name = _split(rel)
    try:
        dir_fd = open_dir(storage, parent)
    except FileNotFoundError:
        return None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, encoding="utf-8", errors="surrogateescape") as handle:
        return handle.read()


def set_owner(storage, rel, uid, gid, mode):
    """chown and chmod the directory or file `rel` through a descriptor."""
    parent, name = _split(rel)
    dir_fd = open_dir(storage, parent)
    try:
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except NotADirectoryError:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    try:
        if uid is not None:
            os.fchown(fd, uid, -1 if gid is None else gid)
        if mode is not None:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


def make_dir(storage, rel, uid, gid, mode):
    parent, name = _split(rel)
    dir_fd = open_dir(storage, parent)
    try:
        os.mkdir(name, 0o700, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    set_owner(storage, rel, uid, gid, mode)


def write_file(storage, rel, content, uid, gid, mode):
    """Replace the file `rel` atomically: a temporary file in the same directory, owner and
    mode set on it before the rename, the directory synced."""
    parent, name = _split(rel)
    dir_fd = open_dir(storage, parent)
    try:
        temporary = f".{name}.ts-users.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                     os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
                handle.write(content)
                handle.flush()
                os.fchown(handle.fileno(), uid, gid)
                os.fchmod(handle.fileno(), mode)
                os.fsync(handle.fileno())
            os.rename(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            try:
                os.unlink(temporary, dir_fd=dir_fd)
            except FileNotFoundError:
                pass
            raise
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
