"""ts-oom: kernel OOM kills, found in the kernel log and attributed to containers."""
