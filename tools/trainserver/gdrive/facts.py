"""What is true of the mount and the storage now (reads the system; never hangs).

The mount is never touched by this process itself: a stat stuck in the kernel's FUSE wait
(rclone stopped; this kernel sets no FUSE request timeout) would hang the check for good. The
stat runs in a forked child that is killed at the timeout; FUSE waits are killable. Whether
something is mounted comes from /proc/self/mountinfo, which never asks the filesystem
(os.path.ismount would stat it).
"""

import logging
import os
import select
import signal
import time

from trainserver.core import mountinfo
from trainserver.gdrive.health import MountFacts

log = logging.getLogger(__name__)

MOUNTINFO = mountinfo.MOUNTINFO


def parse_mountinfo(text, mount_point):
    """(fstype, source) of what is mounted at `mount_point` (the topmost), or None."""
    return mountinfo.parse_entry(text, mount_point)


def mount_entry(mount_point):
    return mountinfo.entry(mount_point, MOUNTINFO)


def probe(path, timeout):
    """("ok" | "timeout" | "error", errno, message) of stat and statvfs of `path`, done in a
    child process that is killed after `timeout` seconds (statvfs always asks the FUSE
    daemon; a stat may be answered from the kernel's attribute cache)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        code = 0
        try:
            os.close(reader)
            try:
                os.stat(path)
                os.statvfs(path)
                message = b"ok"
            except OSError as exc:
                message = f"{exc.errno or 0} {exc.strerror or exc}".encode()
            os.write(writer, message)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(writer)
    try:
        ready, _, _ = select.select([reader], [], [], timeout)
        answer = os.read(reader, 4096).decode(errors="replace") if ready else None
    finally:
        os.close(reader)
    if answer is None:
        os.kill(pid, signal.SIGKILL)
    _reap(pid)
    if answer is None:
        return "timeout", None, f"no answer within {timeout:g} s"
    if answer == "ok":
        return "ok", None, ""
    number, _, message = answer.partition(" ")
    try:
        return "error", int(number), message
    except ValueError:
        return "error", None, answer


def _reap(pid, patience=2.0):
    """Collect the child; a child still in the kernel after `patience` s is left as a zombie
    (it goes when this short-lived process exits) rather than waited for."""
    deadline = time.monotonic() + patience
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done or time.monotonic() > deadline:
            return
        time.sleep(0.02)


def process_state(pid):
    """running, stopped, zombie, gone, or other (the PID is not rclone's any more)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
            name = handle.read().strip()
    except (FileNotFoundError, ProcessLookupError):
        return "gone"
    # "PID (comm) S ...": comm may hold spaces and parentheses; the state follows the last ")".
    state = text[text.rindex(")") + 2:].split()[0]
    if state in ("Z", "X"):
        return "zombie"
    if name != "rclone":
        return "other"
    if state in ("T", "t"):
        return "stopped"
    return "running"


def gather(mount_point, pid, timeout):
    """MountFacts for `mount_point`; `pid`: the recorded rclone process (or None)."""
    entry = mount_entry(mount_point)
    process = process_state(pid) if pid else None
    if entry is None:
        return MountFacts(mount_point, mounted=False, probe="skipped", pid=pid, process=process)
    status, number, message = probe(mount_point, timeout)
    return MountFacts(mount_point, mounted=True, fstype=entry[0], probe=status,
                      probe_errno=number, probe_error=message, pid=pid, process=process)


def allocated(path):
    """(bytes allocated, regular files) under `path`, as du counts them (hard links once)."""
    total, files, seen = 0, 0, set()
    stack = [path]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # rclone removed it meanwhile
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
                total += info.st_blocks * 512
                continue
            if info.st_nlink > 1:
                if (info.st_dev, info.st_ino) in seen:
                    continue
                seen.add((info.st_dev, info.st_ino))
            total += info.st_blocks * 512
            if entry.is_file(follow_symlinks=False):
                files += 1
    return total, files


def filesystem(path):
    """(size, used, how) of the filesystem holding `path`, as ts-storage's space check counts
    them: on BTRFS from `btrfs filesystem usage -b` (logical bytes: raw used over the data
    ratio, so RAID10's second copy is not counted twice; size = used + free estimated), else
    statvfs (size = used + available, as df's percentage)."""
    entry = mount_entry(path)
    if entry and entry[0] == "btrfs":
        from trainserver.core import commands
        from trainserver.core.errors import CommandError
        from trainserver.storage import parse

        try:
            result = commands.run(["btrfs", "filesystem", "usage", "-b", path], changes=False,
                                  timeout=120)
            size, used = btrfs_figures(parse.usage(result.stdout)["overall"])
            return size, used, "btrfs filesystem usage"
        except (CommandError, parse.ParseError, KeyError) as exc:
            log.warning("btrfs filesystem usage %s failed (%s); using statvfs", path, exc)
    info = os.statvfs(path)
    used = (info.f_blocks - info.f_bfree) * info.f_frsize
    return used + info.f_bavail * info.f_frsize, used, "statvfs"


def btrfs_figures(overall):
    """(size, used) from `btrfs filesystem usage -b`'s overall figures, the way
    storage.assess.used_percent counts them."""
    used = overall["used"] / (overall.get("data_ratio") or 1)
    return int(used + overall["free_estimated"]), int(used)


def space(storage, cache_dir):
    """cachesize.Space of the storage, with what the cache directory holds now."""
    from trainserver.gdrive.cachesize import Space

    size, used, how = filesystem(storage)
    cache_used, _ = allocated(cache_dir)
    return Space(size=size, used=used, cache_used=cache_used, source=how)
