"""ts-snapshot: read-only BTRFS snapshots with counted retention."""
