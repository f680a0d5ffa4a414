"""The kernel's own count of OOM kills since boot (oom_kill in /proc/vmstat, Linux 4.13+)."""

VMSTAT = "/proc/vmstat"


def parse_oom_kill(text):
    """The oom_kill counter in vmstat text, or None when the kernel has none."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == "oom_kill":
            return int(value)
    return None


def read_oom_kill(path=VMSTAT):
    with open(path, encoding="ascii") as handle:
        return parse_oom_kill(handle.read())
