"""ts-storage: the BTRFS RAID10 storage (bcache in front of the hard disks) and its health."""
