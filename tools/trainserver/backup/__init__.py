"""ts-backup: restic backups of the BTRFS snapshots into a repository reached through rclone."""
