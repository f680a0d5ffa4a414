"""The one JSON Schema of /etc/trainserver/trainserver.toml.

Every key has a description and a default; the defaults are the server manual's values.
Keys of the custom formats "size", "rate" and "duration" are strings parsed by core.units;
"secret-file" names a file under the secrets directory that must not be readable by others.
The default config file is generated from this schema (`ts-config default`), and a test keeps the
shipped etc/trainserver/trainserver.toml equal to it.
"""

SCHEMA_ID = "https://trainserver.invalid/schema/trainserver.toml.json"


def _key(type_, default, description, unit=None, **extra):
    key = {"type": type_, "default": default, "description": description, **extra}
    if unit:
        key["x-unit"] = unit
    return key


def _size(default, description):
    return _key("string", default, description, unit="size", format="size")


def _rate(default, description):
    return _key("string", default, description, unit="rate", format="rate")


def _duration(default, description):
    return _key("string", default, description, unit="duration", format="duration")


def _secret(default, description):
    return _key("string", default, description, unit="secret file", format="secret-file")


def _path(default, description):
    return _key("string", default, description, unit="path", pattern="^/")


def _count(default, description, minimum=0):
    return _key("integer", default, description, minimum=minimum)


def _table(description, **properties):
    return {
        "type": "object",
        "description": description,
        "default": {},
        "additionalProperties": False,
        "properties": properties,
    }


NAME_PATTERN = "^[a-z_][a-z0-9_-]{0,31}$"  # what useradd accepts by default (NAME_REGEX)
# DNS labels of lower-case letters, digits and inner hyphens, dot-separated; or empty.
DOMAIN_PATTERN = "^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)?$"

# One person of [users] people. Keys left out take the [users] table's defaults (people.py).
PERSON = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "uid"],
    "properties": {
        "name": {"type": "string", "pattern": NAME_PATTERN,
                 "description": "Login name; also names the person's subvolumes."},
        "uid": {"type": "integer", "minimum": 1000, "maximum": 59999,
                "description": "User id (the server manual uses 1000-1004)."},
        "ssh_keys": {"type": "array", "items": {"type": "string", "minLength": 1},
                     "description": "Public key lines for authorized_keys."},
        "ssh_keys_file": {"type": "string", "pattern": "^(/.*)?$",
                          "description": "A file of public key lines (root's), added to "
                                         "ssh_keys."},
        "sudo": {"type": "boolean", "description": "Member of the sudo group."},
        "shell": {"type": "string", "pattern": "^/", "description": "Login shell."},
        "groups": {"type": "array", "items": {"type": "string", "pattern": NAME_PATTERN},
                   "description": "Extra groups (replaces [users] groups)."},
        "quota_limit": {"type": "string", "format": "size",
                        "description": "This person's own ts-quota limit."},
        "memory_limit": {"type": "string", "format": "size",
                         "description": "This person's workspace memory limit."},
        "memory_guarantee": {"type": "string", "format": "size",
                             "description": "This person's workspace memory guarantee."},
        "cpu_limit": {"type": "number", "exclusiveMinimum": 0,
                      "description": "This person's workspace CPU limit (cores)."},
        "ssh_port": {"type": "integer", "minimum": 1024, "maximum": 65535,
                     "description": "The host port of this person's workspace SSH."},
    },
}


TABLES = {
    "paths": _table(
        "Where the suite keeps and finds things.",
        storage=_path("/mnt/storage", "Mount point of the BTRFS RAID10 storage filesystem."),
        state_dir=_path("/var/lib/trainserver",
                        "Directory for the tools' state (alert history, last runs). "
                        "dpkg --purge removes it."),
        lock_dir=_path("/run/lock", "Directory of the per-tool lock files (one flock per tool)."),
        secrets_dir=_path("/etc/trainserver/secrets",
                          "Directory where ts-docker and ts-gdrive-mount keep the secrets they "
                          "make or copy (workspace passwords, Grafana's admin password, "
                          "traefik-users, cloudflared.env, the Drive service account's key); "
                          "root, 0700. The secret files other keys name (telegram_token_file, "
                          "password_file, token_file, rclone_config) have defaults of their own "
                          "and do not follow this key: when you move it, point them into it "
                          "too. The package's postinst makes this directory (root, 0700) when "
                          "it is missing at install or upgrade, and never changes one that "
                          "exists; dpkg --purge removes it only when it is empty and the "
                          "package made it, so the secrets are kept."),
        metrics_dir=_path("/var/lib/prometheus/node-exporter",
                          "node-exporter's textfile-collector directory; *.prom files are "
                          "written there atomically."),
    ),
    "alert": _table(
        "Telegram alerts sent by ts-alert, the one sink for every check's findings.",
        telegram_chat_id=_key("string", "",
                              "Telegram chat id that receives the alerts (empty: alerts are only "
                              "written to the journal)."),
        telegram_token_file=_secret("/etc/trainserver/secrets/telegram-token",
                                    "File holding the Telegram bot token."),
        telegram_api_url=_key("string", "https://api.telegram.org",
                              "Base URL of the Telegram Bot API.", pattern="^https?://"),
        repeat_after=_duration("1d",
                               "First reminder of a problem that is still open; each later "
                               "reminder waits twice as long (1, 2, 4... days)."),
        repeat_max=_duration("7d", "Reminders never wait longer than this."),
        give_up_after=_duration("2min",
                                "How long one run keeps retrying Telegram (429 retry_after, 5xx, "
                                "timeouts) before it leaves the digest queued for the next run."),
        queue_max_age=_duration("30d", "Queued messages older than this are dropped (and logged)."),
        journal_lines=_count(30, "Journal lines of a failed unit sent with its failure alert.",
                             minimum=1),
    ),
    "users": _table(
        "The people of this server: the one list every tool reads. ts-users makes their "
        "accounts, ts-storage and ts-users their subvolumes (homes/<name>, workspaces/<name>, "
        "tensorboard/<name>, docker-volumes/<name>-state), ts-quota counts their usage.",
        shell=_key("string", "/bin/bash", "Login shell of a person who names none.",
                   pattern="^/"),
        groups=_key("array", ["docker"],
                    "Extra groups of a person who names none. Membership of docker is as good "
                    "as root on this machine: every person of this list is trusted.",
                    items={"type": "string", "pattern": NAME_PATTERN}),
        group=_key("string", "mlusers",
                   "The group every person belongs to: it owns the shared caches "
                   "(ts-caches), so what one person downloads serves the others.",
                   pattern=NAME_PATTERN),
        people=_key("array", [],
                    "One [[users.people]] table per person, after every other [users] key. "
                    "name and uid are required; ssh_keys (a list of public key lines), "
                    "ssh_keys_file, sudo, shell, groups and quota_limit are optional and "
                    "default to the keys above (and [quota] user_limit); so are the "
                    "workspace's memory_limit, memory_guarantee, cpu_limit and ssh_port "
                    "(defaults in [workspaces]).", items=PERSON,
                    **{"x-example": ['[[users.people]]', 'name = "alice"', 'uid = 1000',
                                     'ssh_keys = ["ssh-ed25519 AAAAC3... alice@laptop"]',
                                     'sudo = true']}),
    ),
    "storage": _table(
        "The storage layout built by ts-storage: bcache in front of the hard disks, BTRFS RAID10.",
        cache_device=_key("string", "",
                          "NVMe disk that holds the bcache cache partition, by stable id "
                          "(/dev/disk/by-id/...). Empty: not configured.",
                          pattern="^(/dev/disk/by-id/.+)?$"),
        backing_devices=_key("array", [],
                             "Hard disks that become bcache backing devices, by stable id.",
                             items={"type": "string", "pattern": "^/dev/disk/by-id/"}),
        cache=_key("string", "bcache",
                                "Cache in front of the hard disks: \"bcache\" or \"none\".",
                                enum=["bcache", "none"]),
        raid_profile=_key("string", "raid10",
                          "BTRFS profile for data and metadata. raid1 only when asked for here.",
                          enum=["raid10", "raid1"]),
        mount_options=_key("string", "noatime,compress=zstd:1,space_cache=v2",
                           "Mount options of the storage filesystem."),
        scrub_interval=_duration("30d", "How often the whole filesystem is scrubbed."),
        scrub_max_age=_duration("35d", "A last scrub older than this is a warning (ts-storage "
                                "check)."),
        full_warning_percent=_key("integer", 90,
                                  "A filesystem more than this full is a warning; so is a data "
                                  "or metadata chunk type this full with no unallocated space "
                                  "left to grow.", minimum=1, maximum=100),
        full_critical_percent=_key("integer", 98, "A filesystem more than this full is critical.",
                                   minimum=1, maximum=100),
        fstab=_path("/etc/fstab", "The fstab holding the storage's UUID= entry: ts-storage apply "
                    "adds it, ts-storage check compares the mounted filesystem with it."),
        check_max_age=_duration("7h", "ts-alert overdue warns when ts-storage check (every 6 "
                                "hours) has not run for longer than this (\"0\": never)."),
        lock_wait=_duration("1h", "How long the scrub waits for a running apply (or another "
                            "scrub) before giving up with a finding (ts-storage check never "
                            "waits for them: it has a lock of its own)."),
    ),
    "snapshot": _table(
        "Read-only BTRFS snapshots of homes, docker-volumes and TensorBoard logs (ts-snapshot). "
        "Retention counts periods that contain snapshots, so downtime never empties a tier.",
        subvolumes=_key("array", ["homes/*", "docker-volumes", "tensorboard/*"],
                        "Subvolumes to snapshot, as glob patterns relative to [paths] storage. "
                        "Subvolumes nested inside a match are snapshotted too, each on its own.",
                        items={"type": "string", "minLength": 1}),
        snapshot_dir=_key("string", "snapshots",
                          "Directory below [paths] storage holding <subvolume>/<UTC time> "
                          "snapshots.", minLength=1),
        keep_hourly=_count(24, "Hourly snapshots kept: the first of each hour."),
        keep_daily=_count(7, "Daily snapshots kept: the first at or after daily_at each day."),
        keep_weekly=_count(4, "Weekly snapshots kept: the first at or after weekly_at each week."),
        daily_at=_key("string", "02:00", "Local time from which a day's snapshot counts as its "
                      "daily one.", pattern="^([01][0-9]|2[0-3]):[0-5][0-9]$"),
        weekly_at=_key("string", "Sun 03:00", "Local weekday and time from which a week's "
                       "snapshot counts as its weekly one.",
                       pattern="^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([01][0-9]|2[0-3]):[0-5][0-9]$"),
        timezone=_key("string", "",
                      "Time zone of the hourly, daily and weekly periods, such as Europe/Berlin "
                      "(empty: the machine's own, from /etc/localtime)."),
        min_age=_duration("1h", "A snapshot younger than this is never deleted."),
        min_free=_size("100GiB", "Free-space floor: below it the oldest unprotected snapshots "
                       "are deleted one at a time, each measured, until free space is above it "
                       "or deletions stop giving space back (never a subvolume's newest, newest "
                       "daily or newest weekly, nor one younger than min_age). \"0\" turns "
                       "the guard off."),
        max_age=_duration("3h", "ts-alert overdue warns when no hourly run of ts-snapshot has "
                          "succeeded for longer than this (\"0\": never)."),
        lock_wait=_duration("45min", "How long a run waits for another ts-snapshot run (a long "
                            "prune, a restore) to finish before it gives up with a finding."),
    ),
    "backup": _table(
        "Off-site restic backups to Google Drive through rclone.",
        repository=_key("string", "rclone:gdrive:trainserver-backup",
                        "restic repository (an rclone: remote on Google Drive)."),
        password_file=_secret("/etc/trainserver/secrets/restic-password",
                              "File holding the restic repository password."),
        bandwidth=_rate("100Mbit/s", "Upload bandwidth limit."),
        keep_daily=_count(7, "Daily backups kept by the weekly restic forget --prune."),
        keep_weekly=_count(52, "Weekly backups kept by the weekly restic forget --prune."),
        healthcheck_url=_key("string", "",
                             "healthchecks.io ping URL (empty: no pings). Masked in output: "
                             "anyone with it can ping.", pattern="^(https?://.*)?$",
                             **{"x-secret": True}),
        subvolumes=_key("array", ["homes/*", "docker-volumes", "tensorboard/*"],
                        "Subvolumes backed up, as glob patterns relative to [paths] storage "
                        "(subvolumes nested in a match are backed up too). Each is snapshotted "
                        "read-only first, and restic reads the snapshot under the original "
                        "path.", items={"type": "string", "minLength": 1}),
        host=_key("string", "trainserver", "The fixed host name restic records; forget groups "
                  "by it and the tag, so renaming the machine does not start a new history.",
                  minLength=1),
        tag=_key("string", "trainserver", "The tag on every backup this tool makes.",
                 minLength=1),
        snapshot_dir=_key("string", "backup-snapshots",
                          "Directory below [paths] storage for the read-only snapshots a backup "
                          "reads; the last backed-up set is kept for verification.",
                          minLength=1),
        rclone_config=_path("/etc/trainserver/rclone.conf",
                            "rclone's config file, defining the repository's remote (root, "
                            "0600: it holds the Drive token)."),
        cache_dir=_path("/var/cache/trainserver/restic", "restic's local cache."),
        containers=_key("array", [],
                        "Docker containers paused (docker pause) while the snapshots are "
                        "taken, so what they write is consistent on disk; unpaused right after, "
                        "whatever fails.", items={"type": "string", "minLength": 1}),
        pause_timeout=_duration("30s", "How long pausing or unpausing one container may take; "
                                "a container not paused in time fails the backup."),
        prune_max_unused=_key("string", "5%",
                              "restic prune --max-unused: how much unused space the weekly "
                              "prune may leave in the repository (repacking less of it "
                              "saves Drive traffic).", pattern="^([0-9]+(\\.[0-9]+)?%|unlimited|"
                              "[0-9]+(\\.[0-9]+)?[KMGT]?)$"),
        verify_subsets=_count(12, "The monthly verify reads this fraction of the packs (1/N, "
                              "the next one each time): every pack is read once in N months "
                              "(ts-backup status shows when).",
                              minimum=1),
        verify_sample_bytes=_size("1GiB", "How much of the last backup the monthly verify "
                                  "restores and compares with its BTRFS snapshot."),
        verify_sample_dirs=_count(20, "The sample is at most this many random directories "
                                  "(restic slows down with many include patterns).",
                                  minimum=1),
        max_age=_duration("26h", "ts-alert overdue reports critical when no backup has succeeded "
                          "for longer than this (the daily run plus a margin; \"0\": never)."),
        verify_max_age=_duration("35d", "ts-alert overdue warns when the monthly restore "
                                 "verification has not verified for longer than this."),
        prune_max_age=_duration("8d", "ts-alert overdue warns when the weekly prune job "
                                "(forget --prune, check) has not succeeded for longer than this."),
        lock_wait=_duration("20h", "How long run, verify and prune wait for one another (they "
                            "share one lock; a first upload takes hours) before giving up with "
                            "a finding, instead of skipping the day's or the month's run."),
    ),
    "network": _table(
        "The office uplink, shared by everything that uploads.",
        upload_limit=_rate("100Mbit/s",
                           "All uploads together stay within this: while ts-backup and ts-sync "
                           "(or its migration) upload at the same time they split it (ts-sync "
                           "changes its rate live through rclone's remote control; restic's is "
                           "fixed for its run). Each tool's own bandwidth caps its share."),
    ),
    "gdrive": _table(
        "The Google Shared Drive mounted at [paths] storage/<mount_dir> by rclone with a full "
        "local cache (ts-gdrive-mount).",
        remote=_key("string", "gdrive", "Name of the rclone remote of the Shared Drive "
                    "(ts-gdrive-mount setup writes it into rclone_config).",
                    pattern="^[A-Za-z0-9_][A-Za-z0-9_. -]*$"),
        rclone_config=_secret("/etc/trainserver/secrets/rclone.conf",
                              "rclone's config file: the Shared Drive remote and ts-sync's "
                              "source (root, 0600: it holds credentials; rclone saves refreshed "
                              "tokens into it)."),
        mount_dir=_key("string", "shared", "Mount point below [paths] storage (ts-storage "
                       "apply makes it as an empty directory).", minLength=1),
        cache_dir=_key("string", "cache/gdrive", "rclone's VFS cache below [paths] storage "
                       "(a subvolume ts-storage apply makes; never snapshotted or backed up).",
                       minLength=1),
        cache_max_age=_duration("30d", "Files not read for this long leave the cache."),
        cache_share_percent=_key("integer", 80,
                                 "The cache may use this share of the space left after user "
                                 "data and snapshots; it is also capped so the filesystem stays "
                                 "cache_margin_percent below [storage] full_warning_percent and "
                                 "[snapshot] min_free stays free (ts-gdrive-mount cache-size).",
                                 minimum=1, maximum=100),
        cache_margin_percent=_key("integer", 5,
                                  "Percentage points of the filesystem kept free below "
                                  "[storage] full_warning_percent when the cache is full.",
                                  minimum=0, maximum=50),
        go_memory_limit=_size("256MiB",
                              "Memory rclone's Go runtime may use before it collects garbage "
                              "(GOGC=off GOMEMLIMIT=<this>): reads from the cache run about "
                              "twice as fast as with Go's defaults, for about 300 MB of "
                              "memory. \"0\": Go's defaults."),
        check_timeout=_duration("10s", "A stat of the mount point that takes longer means a "
                                "hung mount (ts-gdrive-mount check)."),
        restart_window=_duration("1h", "Restarts within this window count together."),
        restarts_critical=_count(3, "Restarts by the check within restart_window that make "
                                 "its finding critical (fewer are a warning).", minimum=1),
        check_max_age=_duration("30min", "ts-alert overdue warns when ts-gdrive-mount check "
                                "(every 5 minutes) has not run for longer than this (\"0\": "
                                "never)."),
    ),
    "sync": _table(
        "The daily copy of customer data from Google Cloud Storage to the Shared Drive "
        "(ts-sync), and the one-time migration.",
        source=_key("string", "",
                    "rclone path of the data to copy, such as \"gcs:customer-bucket/incoming\" "
                    "(a remote defined in [gdrive] rclone_config). Empty: ts-sync is not "
                    "configured and its daily run does nothing."),
        destination=_key("string", "gdrive:ingest",
                         "rclone path the data is copied to (a folder of the Shared Drive)."),
        mode=_key("string", "copy",
                  "\"copy\" adds and updates files and never deletes at the destination; "
                  "\"mirror\" also deletes what left the source, moving deleted and "
                  "overwritten files into backup_dir instead of losing them.",
                  enum=["copy", "mirror"]),
        backup_dir=_key("string", "gdrive:ingest-deleted",
                        "Mirror mode: rclone path (same remote as destination, outside it) under "
                        "which each run's deleted and overwritten files go, in a dated folder."),
        max_delete=_count(1000, "Mirror mode: a run that would delete more files than this "
                          "stops (rclone --max-delete) and fails loudly."),
        bandwidth=_rate("100Mbit/s", "ts-sync's own upload limit ([network] upload_limit "
                        "caps all uploads together)."),
        daily_upload_cap=_size("750GB", "Google Drive's upload cap per account and day: "
                               "runs stop at it (--drive-stop-on-upload-limit) and the "
                               "migration's estimate counts with it."),
        healthcheck_url=_key("string", "",
                             "healthchecks.io ping URL (empty: no pings). Masked in output.",
                             pattern="^(https?://.*)?$", **{"x-secret": True}),
        max_age=_duration("26h", "ts-alert overdue warns when no daily ts-sync run has "
                          "succeeded for longer than this (\"0\": never)."),
    ),
    "smart": _table(
        "Disk health from smartctl (ts-smart).",
        devices=_key("array", [],
                     "Disks to check, as smartctl device names or stable ids (empty: every disk "
                     "smartctl --scan-open finds).", items={"type": "string", "pattern": "^/dev/"}),
        temperature_warning=_key("integer", 60,
                                 "Disk temperature warning in °C, used only for a disk that "
                                 "reports no limit of its own.", minimum=20, maximum=100),
        timeout=_duration("2min", "How long one smartctl call may take."),
        max_age=_duration("26h", "ts-alert overdue warns when the daily ts-smart check has not "
                          "run for longer than this (\"0\": never)."),
    ),
    "gpu": _table(
        "GPU temperature checks (ts-gpu-temp).",
        temperature_warning=_key("integer", 80, "A GPU hotter than this many °C is a warning.",
                                 minimum=30, maximum=120),
        timeout=_duration("1min", "How long one NVML read or nvidia-smi call may take; NVML "
                          "not answering within it is a critical finding (a hung driver)."),
        max_age=_duration("1h", "ts-alert overdue warns when ts-gpu-temp (every 15 minutes) has "
                          "not run for longer than this (\"0\": never, e.g. without a GPU)."),
    ),
    "oom": _table(
        "Kernel OOM kills, attributed to containers (ts-oom).",
        log_file=_path("/var/log/trainserver/oom-kills.log",
                       "Every kill found is appended here, one line each."),
        repeat_window=_duration("1d", "Window in which kills in one container count together."),
        repeat_critical=_count(2, "Kills in one container within repeat_window that make the "
                                  "finding critical (a single kill is a warning).", minimum=2),
        max_age=_duration("2h", "ts-alert overdue warns when ts-oom (every 30 minutes) has not "
                          "run for longer than this (\"0\": never)."),
    ),
    "quota": _table(
        "Per-user storage usage (ts-quota): home plus workspace, with a grace period.",
        user_limit=_size("1TB", "Storage a person may use (home plus workspace) before the grace "
                         "period starts. \"1TB\" is 10^12 bytes; write \"1TiB\" for 2^40."),
        grace=_duration("7d", "How long a person may stay above user_limit, without an alert, "
                        "before the finding turns into a problem."),
        severity=_key("string", "warning", "Severity once the grace period is over.",
                      enum=["warning", "critical"]),
        hysteresis=_size("10GB", "A person above the limit counts as back under it only below "
                         "user_limit minus this (at most a tenth of the limit), so hovering at the "
                         "limit does not flap."),
        method=_key("string", "auto",
                    "How usage is measured: \"walk\" walks the files (idle I/O priority, in "
                    "parallel); \"squota\" reads BTRFS simple quotas (kernel 6.7 and later, "
                    "switched on by ts-quota enable); \"auto\" uses simple quotas where they "
                    "are on and walks otherwise. Simple quotas count only data written after "
                    "they were switched on, so a subvolume that held data before is walked "
                    "either way. Full qgroups are never used.",
                    enum=["auto", "walk", "squota"]),
        hard_limit=_key("boolean", False,
                        "Also refuse writes past a person's limit (user_limit or their "
                        "quota_limit), on home and workspace together: a person at the limit "
                        "gets \"Disk quota exceeded\" (EDQUOT) on writes there, with no grace "
                        "period. Needs BTRFS simple quotas, switched on by ts-quota enable; "
                        "`ts-quota limits` sets the limits in the kernel (run it after ts-users "
                        "apply and after changing a limit). A person whose home or workspace "
                        "held data before simple quotas were switched on gets none (that data "
                        "is never counted). Off by default: the manual asks only for alerts."),
        max_age=_duration("26h", "ts-alert overdue warns when the daily ts-quota report has not "
                          "run for longer than this (\"0\": never)."),
    ),
    "caches": _table(
        "Shared download caches under [paths] storage/cache (ts-caches): writable by every "
        "member of [users] group.",
        caches=_key("array", ["pip", "conda", "huggingface", "torch", "go", "npm", "cargo",
                              "apt", "docker"],
                    "Caches made shared and pointed at by the environment.",
                    items={"type": "string", "enum": ["pip", "conda", "huggingface", "torch",
                                                      "go", "npm", "cargo", "apt", "docker"]}),
        pip_conf=_key("boolean", True,
                      "Also set pip's cache-dir in /etc/pip.conf (a marked block; the admin's "
                      "own lines stay), for pip runs that get no login environment: sudo, "
                      "cron, services, `ssh host pip ...`."),
    ),
    "docker": _table(
        "The Docker engine under the services stack (ts-docker configure writes its "
        "daemon.json).",
        daemon_json=_path("/etc/docker/daemon.json",
                          "Docker's daemon config: ts-docker configure merges its keys into "
                          "it, keeping the admin's."),
        data_root=_path("/mnt/storage/docker",
                        "Docker's data root (images, containers, build cache). Never inside a "
                        "subvolume ts-snapshot or ts-backup covers ([snapshot] subvolumes, "
                        "[backup] subvolumes, and what is nested in them): every image layer "
                        "would be snapshotted hourly and uploaded daily. Made as a BTRFS "
                        "subvolume of its own when its parent is BTRFS."),
        storage_driver=_key("string", "auto",
                            "Docker's storage driver: \"auto\" takes btrfs on BTRFS and "
                            "overlay2 on ext4 or xfs.", enum=["auto", "btrfs", "overlay2"]),
        log_max_size=_size("50MiB", "A container's log file is rotated at this size."),
        log_max_files=_count(5, "Rotated log files kept per container.", minimum=1),
    ),
    "services": _table(
        "The services stack run with Docker Compose (ts-docker): Traefik routes "
        "<name>.<domain> to the shared services and each person's workspace.",
        domain=_key("string", "",
                    "Domain of the stack's hostnames: grafana.<domain>, <user>.<domain> (the "
                    "desktop), <user>-code.<domain>, <user>-jupyter.<domain>. Empty: not "
                    "configured (ts-docker compose refuses).",
                    pattern=DOMAIN_PATTERN),
        lan_address=_key("string", "",
                         "The server's LAN address (IPv4): the only address Traefik (80, "
                         "443) and the workspaces' SSH ports are published on. Docker's "
                         "published ports bypass UFW, so nothing is published on all "
                         "addresses. Empty: not configured (ts-docker compose refuses)."),
        project=_key("string", "trainserver", "Docker Compose project name of the stack.",
                     pattern="^[a-z0-9][a-z0-9_-]*$"),
    ),
    "workspaces": _table(
        "Each person's workspace container (workspace-<name>), generated from [users] by "
        "ts-docker compose. A person's [[users.people]] table may set memory_limit, "
        "memory_guarantee, cpu_limit and ssh_port of their own.",
        image=_key("string", "trainserver/workspace:full",
                   "Image of the workspaces (ts-docker build makes it from "
                   "/usr/share/trainserver/docker/workspace)."),
        memory_limit=_size("32GiB", "Memory a workspace may use; above it the kernel kills "
                           "in it (the manual's MEMORY_LIMIT_GB)."),
        memory_guarantee=_size("8GiB", "Memory reserved for a workspace when the machine runs "
                               "short (the manual's MEMORY_GUARANTEE_GB)."),
        cpu_limit=_key("number", 8, "CPU cores a workspace may use (the manual's CPU_LIMIT).",
                       exclusiveMinimum=0),
        shm_size=_size("8GiB", "Size of a workspace's /dev/shm (PyTorch's data loaders share "
                       "batches through it)."),
        ssh_port_base=_key("integer", 2200,
                           "A person's workspace SSH port is this plus their uid modulo 1000 "
                           "(uid 1001: 2201), unless their table sets ssh_port.",
                           minimum=1024, maximum=64535),
        gpus=_key("string", "auto",
                  "GPUs given to the workspaces: \"all\", \"none\", or \"auto\" (all when "
                  "Docker has the nvidia runtime).", enum=["auto", "all", "none"]),
    ),
    "firewall": _table(
        "The host firewall (UFW) and fail2ban, set up by ts-firewall apply and checked by "
        "ts-firewall check.",
        lan_networks=_key("array", [],
                          "Networks (CIDR, IPv4 or IPv6) allowed to reach SSH and Traefik. "
                          "Empty: not configured (ts-firewall apply refuses; check says so "
                          "once, at ok).",
                          items={"type": "string", "minLength": 1}),
        ssh_port=_key("integer", 22, "Port of the host's sshd.", minimum=1, maximum=65535),
        web_ports=_key("array", [80, 443], "Traefik's ports, allowed from lan_networks only.",
                       items={"type": "integer", "minimum": 1, "maximum": 65535}),
        fail2ban_maxretry=_count(5, "Failed SSH logins from one address before it is banned.",
                                 minimum=1),
        fail2ban_findtime=_duration("10min", "The window in which those failures count."),
        fail2ban_bantime=_duration("1h", "How long an address stays banned."),
    ),
    "tunnel": _table(
        "The Cloudflare tunnel: cloudflared runs in the services stack (compose profile "
        "\"tunnel\") and routes *.<domain> to Traefik; ts-tunnel check reads its readiness.",
        enabled=_key("boolean", False,
                     "Run and check the tunnel. false: ts-tunnel check says \"not "
                     "configured\" once, at ok, and ts-doctor skips it."),
        token_file=_secret("/etc/trainserver/secrets/cloudflared-token",
                           "File holding the tunnel's token (from the Cloudflare dashboard)."),
        metrics_address=_key("string", "127.0.0.1:20241",
                             "HOST:PORT of cloudflared's metrics server, whose /ready says "
                             "whether the tunnel has a connection to Cloudflare (published "
                             "on the loopback only).",
                             pattern="^[^\\s:]+:[0-9]{1,5}$"),
        timeout=_duration("5s", "How long the check waits for /ready."),
    ),
    "ups": _table(
        "The UPS, read through NUT (upsc) by ts-ups check; the manual's monthly battery "
        "check.",
        name=_key("string", "",
                  "NUT's name of the UPS, as upsc takes it (\"ups@localhost\"). Empty: no UPS "
                  "(ts-ups check says \"not configured\" once, at ok; ts-doctor skips it)."),
        charge_warning_percent=_count(50, "Battery charge below this is a warning."),
        charge_critical_percent=_count(20, "Battery charge below this is critical."),
        runtime_warning=_duration("10min", "Runtime left below this is a warning."),
        runtime_critical=_duration("5min", "Runtime left below this is critical."),
        self_test_max_age=_duration("35d",
                                    "The last battery self-test older than this is a warning "
                                    "(the manual tests the battery monthly)."),
        timeout=_duration("10s", "How long upsc may take."),
        check_max_age=_duration("1h", "ts-alert overdue warns when ts-ups check (every 15 "
                                "minutes) has not run for longer than this (\"0\": never)."),
    ),
    "doctor": _table(
        "ts-doctor, the system test of a live server, and the monthly maintenance digest.",
        probe_timeout=_duration("10s", "Each probe is given up after this; probes run in "
                                "parallel."),
        internet_address=_key("string", "deb.debian.org:443",
                              "HOST:PORT reached over TCP to prove the internet is reachable. "
                              "Empty: not probed (SKIP)."),
        backup_max_age=_duration("26h", "The last successful restic backup must be younger."),
        snapshot_max_age=_duration("2h", "The newest BTRFS snapshot must be younger."),
        failover_max_age=_duration("92d",
                                   "The manual's quarterly failover test: the digest reminds "
                                   "when the last one recorded (ts-doctor failover-done) is "
                                   "older."),
        image_max_age=_duration("92d",
                                "The manual's quarterly image update: the digest names the "
                                "stack's images older than this."),
    ),
}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "trainserver configuration",
    "description": "/etc/trainserver/trainserver.toml: one table per tool plus [paths] and [alert].",
    "type": "object",
    "additionalProperties": False,
    "properties": TABLES,
}


def walk_keys(schema=SCHEMA):
    """Yield (table, key, key schema) for every key, in schema order."""
    for table, table_schema in schema["properties"].items():
        for key, key_schema in table_schema["properties"].items():
            yield table, key, key_schema


def defaults(schema=SCHEMA):
    """The whole config with every default filled in."""
    result = {}
    for table, key, key_schema in walk_keys(schema):
        result.setdefault(table, {})[key] = key_schema["default"]
    return result
