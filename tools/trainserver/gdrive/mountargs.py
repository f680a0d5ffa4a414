"""The `rclone mount` command line and environment from the settings: pure logic.

Why each flag (rclone 1.60):
- --vfs-cache-mode full: reads are kept in the cache, so a second read is a local-disk read;
  writes land in the cache first and are uploaded after --vfs-write-back (5 s).
- --cache-dir on the storage's cache/gdrive subvolume (never snapshotted or backed up),
  --vfs-cache-max-age and the computed --vfs-cache-max-size (in bytes: "B"; a bare number
  would be KiB to rclone).
- --allow-other: other users than root see the mount (root runs fusermount, so fuse.conf's
  user_allow_other is not needed); --default-permissions: the kernel enforces the modes below
  (without it FUSE lets everyone write whatever the modes say);
  --uid 0 --gid <[users] group> --umask 0002: directories 0775, files 0664, so every member of
  the group reads and writes and everyone else reads.
- The remote control on 127.0.0.1 (core.rclone.RemoteControl), its credentials in the
  environment, for `stats` and the daily re-check.
Environment: RCLONE_CONFIG, and GOGC=off GOMEMLIMIT=<go_memory_limit>: reads from the cache are
bound by rclone's own garbage collection; this roughly doubled them (docs/measured.md).
"""

RCLONE = "rclone"


def source(remote):
    """The rclone path mounted: the whole Shared Drive of `remote`."""
    return f"{remote}:"


def mount_argv(settings, cache_limit, gid, rc_flags=(), extra=()):
    """The argument list of the mount (rclone runs in the foreground: systemd watches it)."""
    return [RCLONE, "mount", source(settings.remote), settings.mount_point,
            "--vfs-cache-mode", "full",
            "--cache-dir", settings.cache_dir,
            "--vfs-cache-max-age", f"{int(settings.cache_max_age)}s",
            "--vfs-cache-max-size", f"{int(cache_limit)}B",
            "--allow-other", "--default-permissions",
            "--uid", "0", "--gid", str(int(gid)), "--umask", "0002",
            *rc_flags, *extra]


def go_environment(memory_limit):
    """GOGC/GOMEMLIMIT for the rclone process ({} when memory_limit is 0: Go's defaults)."""
    if not memory_limit:
        return {}
    return {"GOGC": "off", "GOMEMLIMIT": str(int(memory_limit))}


def environment(settings, rc_environment=None):
    """What the mount's environment adds to the service's."""
    return {"RCLONE_CONFIG": settings.rclone_config,
            **go_environment(settings.go_memory_limit),
            **(rc_environment or {})}


def flag_names(argv):
    """The --flags of an argument list (to check them against rclone's own list)."""
    return sorted({a.split("=", 1)[0] for a in argv if a.startswith("--")})
