"""The plan of `ts-docker configure`: what /etc/docker/daemon.json should hold, from facts.

Pure: no file is read and no program run here (daemon_apply gathers the facts and carries the
plan out). The admin's file is merged, never replaced: only the keys in OWNED change, and
log-opts only in its max-size and max-file; everything else keeps its value and its place.
"""

import copy
import difflib
import fnmatch
import json
import posixpath
from dataclasses import dataclass, field

# Keys this tool writes. default-runtime is not one of them: a workspace asks for GPUs itself,
# and a default of nvidia would put every container (databases, Traefik) on the GPU runtime.
OWNED = ("data-root", "storage-driver", "log-driver", "log-opts", "runtimes", "live-restore")
DEFAULT_DATA_ROOT = "/var/lib/docker"  # dockerd's own default, when the file names none
LOG_DRIVER = "json-file"
NVIDIA = "nvidia"

# Docker's deprecation table (docker/cli docs/deprecated.md): the version that removed each.
LEGACY_DRIVERS = {
    "aufs": "deprecated in Docker 19.03 and removed in Docker 24.0",
    "overlay": "the legacy overlay driver: deprecated in Docker 18.09 and removed in Docker "
               "24.0 (overlay2 replaces it)",
    "devicemapper": "deprecated in Docker 18.09, disabled by default in 23.0 and removed in "
                    "Docker 25.0",
}
# The driver each filesystem gets; overlay2 refuses btrfs as its backing filesystem, and the
# btrfs driver needs btrfs under the data root.
DRIVER_OF_FS = {"btrfs": "btrfs", "ext4": "overlay2", "xfs": "overlay2"}
DRIVERS = ("btrfs", "overlay2")


class Refusal(Exception):
    """configure will not do this; the message says why and what to do instead."""


@dataclass
class Settings:
    daemon_json: str
    data_root: str
    storage: str  # [paths] storage
    snapshot_patterns: list
    backup_patterns: list
    storage_driver: str = "auto"  # auto | btrfs | overlay2
    log_max_size: int = 50 * 2**20  # bytes
    log_max_files: int = 5


@dataclass
class Facts:
    current: object  # the file's JSON object, or None when the file does not exist
    fstype: str  # filesystem type under the data root (of its nearest existing ancestor)
    data_root_exists: bool
    parent_fstype: str = ""  # filesystem type of the data root's parent, when it is missing
    nvidia_runtime: str = ""  # path of nvidia-container-runtime, "" when absent
    nvidia_ctk: bool = False
    images: dict = field(default_factory=dict)  # {(root, driver): image count} now on disk


@dataclass
class Plan:
    config: dict  # the merged document
    changes: list = field(default_factory=list)  # (key, old, new)
    notes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    create_root: str = ""  # "", "subvolume" or "directory"
    driver: str = ""
    relocates: str = ""  # what makes dockerd look elsewhere for images ("" when nothing)

    @property
    def changed(self):
        return bool(self.changes)


def _parts(path):
    return [part for part in posixpath.normpath(path).split("/") if part]


def _matches_prefix(rel_parts, pattern_parts):
    return all(fnmatch.fnmatchcase(name, glob)
               for name, glob in zip(rel_parts, pattern_parts))


def coverage_problem(data_root, storage, covered):
    """Why `data_root` may not hold Docker's data, or None.

    covered: {what covers (e.g. "[snapshot] subvolumes"): glob patterns relative to storage}.
    A match covers everything below it (nested subvolumes are snapshotted and backed up too), so
    a data root inside one would put every image layer into hourly snapshots and daily uploads.
    A data root that is the storage itself, or above covered paths, would hold them.
    """
    root, top = _parts(data_root), _parts(storage)
    if root == top[:len(root)]:
        return (f"{data_root} is [paths] storage ({storage}) or holds it, and with it every "
                f"snapshotted and backed-up subvolume")
    if root[:len(top)] != top:
        return None
    rel = root[len(top):]
    for source, patterns in covered.items():
        for pattern in patterns:
            globs = _parts(pattern)
            if not globs or not _matches_prefix(rel, globs):
                continue
            if len(rel) >= len(globs):
                return (f"{data_root} is inside {posixpath.join(storage, pattern)}, which "
                        f"{source} covers (with every subvolume nested below it): each image "
                        f"layer would be snapshotted hourly and backed up daily")
            return (f"{data_root} holds {posixpath.join(storage, pattern)}, which {source} "
                    f"covers")
    return None


def suggest_root(settings, covered):
    """Where the data root should go instead: below the storage, else dockerd's default."""
    default = posixpath.join(settings.storage, "docker")
    if coverage_problem(default, settings.storage, covered) is None:
        return f"{default} (a subvolume of its own on the RAID) or {DEFAULT_DATA_ROOT}"
    return DEFAULT_DATA_ROOT


def choose_driver(fstype, setting):
    """The storage driver for a data root on `fstype`; raise Refusal when none fits."""
    if setting in LEGACY_DRIVERS:
        raise Refusal(f"storage driver {setting} is refused: {LEGACY_DRIVERS[setting]}; "
                      f"use btrfs on BTRFS, overlay2 on ext4 or xfs")
    fitting = DRIVER_OF_FS.get(fstype)
    if fitting is None:
        raise Refusal(f"the data root's filesystem is {fstype or 'unknown'}: Docker's btrfs "
                      f"driver needs BTRFS, overlay2 needs ext4 or xfs (xfs with ftype=1); "
                      f"put [docker] data_root on one of those")
    if setting in ("auto", "", None):
        return fitting
    if setting not in DRIVERS:
        raise Refusal(f"storage driver {setting} is not one configure sets (btrfs or overlay2)")
    if setting != fitting:
        raise Refusal(f"[docker] storage_driver = {setting} does not work on {fstype} (the "
                      f"data root's filesystem): {fstype} needs {fitting}")
    return setting


def docker_size(n_bytes):
    """A size for json-file's max-size that dockerd reads as exactly `n_bytes`: its k/m/g are
    decimal, and a plain number is bytes."""
    for suffix, factor in (("g", 10**9), ("m", 10**6), ("k", 10**3)):
        if n_bytes % factor == 0:
            return f"{n_bytes // factor}{suffix}"
    return str(n_bytes)


def old_location(current):
    """(data root, storage driver or "") that dockerd uses with the file as it is."""
    current = current or {}
    return current.get("data-root") or current.get("graph") or DEFAULT_DATA_ROOT, \
        current.get("storage-driver", "")


def make_plan(settings, facts):
    """The merged daemon.json and what changes; raise Refusal when configure must not act."""
    current = facts.current if facts.current is not None else {}
    if not isinstance(current, dict):
        raise Refusal(f"{settings.daemon_json} holds JSON that is not an object: fix it by hand")
    covered = {"[snapshot] subvolumes": settings.snapshot_patterns,
               "[backup] subvolumes": settings.backup_patterns}
    if not posixpath.isabs(settings.data_root):
        raise Refusal(f"[docker] data_root must be an absolute path (got {settings.data_root})")
    data_root = posixpath.normpath(settings.data_root)
    problem = coverage_problem(data_root, settings.storage, covered)
    if problem:
        raise Refusal(f"{problem}. Put [docker] data_root at {suggest_root(settings, covered)}")
    existing_driver = current.get("storage-driver")
    if existing_driver in LEGACY_DRIVERS:
        raise Refusal(f"{settings.daemon_json} sets storage-driver {existing_driver}, "
                      f"{LEGACY_DRIVERS[existing_driver]}: its images cannot be carried over; "
                      f"save what you need (docker save), remove the key, and run configure "
                      f"again")
    if "graph" in current:
        raise Refusal(f"{settings.daemon_json} sets \"graph\", the old name of data-root "
                      f"(removed in Docker 23): remove it; configure sets data-root")
    driver = choose_driver(facts.fstype, settings.storage_driver)

    plan = Plan(config=copy.deepcopy(current), driver=driver)
    config = plan.config

    def put(key, value):
        if config.get(key) != value:
            plan.changes.append((key, config.get(key), value))
            config[key] = value

    put("data-root", data_root)
    put("storage-driver", driver)
    if config.get("log-driver", LOG_DRIVER) != LOG_DRIVER:
        plan.notes.append(f"log-driver {config['log-driver']} is the admin's and is kept; "
                          f"log rotation (log-opts max-size, max-file) is json-file's and was "
                          f"not set")
    else:
        put("log-driver", LOG_DRIVER)
        opts = config.get("log-opts")
        if opts is not None and not isinstance(opts, dict):
            raise Refusal(f"{settings.daemon_json}: log-opts is not an object: fix it by hand")
        wanted = {**(opts or {}), "max-size": docker_size(settings.log_max_size),
                  "max-file": str(settings.log_max_files)}
        put("log-opts", wanted)
    _plan_nvidia(plan, facts)
    put("live-restore", True)

    old_root, old_driver = old_location(facts.current)
    moved = posixpath.normpath(old_root) != data_root
    if not old_driver:  # dockerd chose it: the one whose images lie in the old root
        on_disk = {d for (root, d), count in facts.images.items() if root == old_root and count}
        old_driver = on_disk.pop() if len(on_disk) == 1 else ""
    if moved:
        plan.relocates = f"the data root ({old_root} to {data_root})"
    elif old_driver and old_driver != driver:
        plan.relocates = f"the storage driver ({old_driver} to {driver})"
    for (root, images_driver), count in sorted(facts.images.items()):
        if count and (moved or images_driver != driver):
            plan.warnings.append(
                f"{count} images of driver {images_driver} in {root} will no longer be seen "
                f"by Docker (they stay there, nothing is deleted): pull or load them again, "
                f"and remove {root} by hand once they are not needed")
    if not facts.data_root_exists:
        plan.create_root = "subvolume" if facts.parent_fstype == "btrfs" else "directory"
    return plan


def _plan_nvidia(plan, facts):
    config = plan.config
    runtimes = config.get("runtimes")
    if runtimes is not None and not isinstance(runtimes, dict):
        raise Refusal("daemon.json: runtimes is not an object: fix it by hand")
    if runtimes and NVIDIA in runtimes:
        plan.notes.append("runtimes.nvidia is already there and is kept as it is")
        return
    if not facts.nvidia_runtime:
        if facts.nvidia_ctk:
            plan.warnings.append("nvidia-ctk is installed but nvidia-container-runtime is not "
                                 "on PATH: no nvidia runtime added (reinstall "
                                 "nvidia-container-toolkit)")
        return
    new = {**(runtimes or {}), NVIDIA: {"path": facts.nvidia_runtime, "runtimeArgs": []}}
    plan.changes.append(("runtimes", runtimes, new))
    config["runtimes"] = new


def render(config):
    """The file's text: two-space indents, the admin's key order, a final newline."""
    return json.dumps(config, indent=2, ensure_ascii=False) + "\n"


def diff(old_text, new_text, path):
    return "".join(difflib.unified_diff(old_text.splitlines(True), new_text.splitlines(True),
                                        fromfile=f"{path} (now)", tofile=f"{path} (new)"))


def parse(text, path):
    """The file's JSON object (None for an empty file); raise Refusal when it is not JSON."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Refusal(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}): fix it by "
                      f"hand first; configure does not overwrite a file it cannot read") from None


_TYPES = {"data-root": str, "storage-driver": str, "log-driver": str, "log-opts": dict,
          "runtimes": dict, "live-restore": bool}


def type_problems(text):
    """What is wrong with the keys configure writes, for a dockerd without --validate."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        return [f"not valid JSON: {exc.msg} at line {exc.lineno}"]
    if not isinstance(config, dict):
        return ["not a JSON object"]
    problems = []
    for key, kind in _TYPES.items():
        if key in config and not isinstance(config[key], kind):
            problems.append(f"{key}: expected {kind.__name__}, got {type(config[key]).__name__}")
    opts = config.get("log-opts")
    for key, value in opts.items() if isinstance(opts, dict) else ():
        if not isinstance(value, str):
            problems.append(f"log-opts.{key}: dockerd wants a string, got {json.dumps(value)}")
    runtimes = config.get("runtimes")
    if isinstance(runtimes, dict):
        for name, runtime in runtimes.items():
            if not isinstance(runtime, dict) or not isinstance(runtime.get("path"), str):
                problems.append(f"runtimes.{name}: expected an object with a path")
    if isinstance(config.get("data-root"), str) and not posixpath.isabs(config["data-root"]):
        problems.append("data-root: not an absolute path")
    return problems


# Options on dockerd's command line that set the same thing as a key this tool writes: dockerd
# refuses to start when a directive comes both ways.
FLAGS_OF_KEY = {"data-root": ("--data-root", "-g", "--graph"),
                "storage-driver": ("--storage-driver", "-s"),
                "log-driver": ("--log-driver",), "log-opts": ("--log-opt",),
                "runtimes": ("--add-runtime",), "live-restore": ("--live-restore",)}


def flag_conflicts(argv, keys):
    """The keys among `keys` that dockerd's command line `argv` also sets."""
    found = []
    for key in keys:
        for flag in FLAGS_OF_KEY.get(key, ()):
            if any(arg == flag or arg.startswith(flag + "=") or
                   (flag in ("-g", "-s") and arg.startswith(flag) and len(arg) > 2)
                   for arg in argv):
                found.append((key, flag))
                break
    return found


def exec_start_argv(text):
    """The argv of `systemctl show --property=ExecStart --value` output: "{ path=... ;
    argv[]=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS ; ignore_errors=no ; ... }"."""
    import shlex

    argv = []
    for part in text.split(" ; "):
        part = part.strip().lstrip("{").strip()
        if part.startswith("argv[]="):
            argv += shlex.split(part[len("argv[]="):])
    return argv


def docker_opts(text):
    """The words of DOCKER_OPTS in /etc/default/docker (a shell variable assignment)."""
    import shlex

    argv = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("DOCKER_OPTS="):
            try:
                words = shlex.split(line[len("DOCKER_OPTS="):])
                argv = shlex.split(words[0]) if words else []
            except ValueError:
                argv = []
    return argv
