"""The kill log: one line per kill appended to [oom] log_file, for people and grep."""

import json
import os
import re
import time

_PLAIN = re.compile(r"^[^\s\"=\\]+$")


def _value(value):
    if value is None:
        return "-"
    text = str(value)
    return text if _PLAIN.match(text) else json.dumps(text, ensure_ascii=False)


def _kb(value):
    return "-" if value is None else f"{value}kB"


def format_line(item):
    """time, container/cgroup, process, pid, memory, as key=value fields."""
    kill = item.kill
    when = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(kill.time)) if kill.time else "-"
    fields = [
        when,
        f"{'container' if item.container else 'cgroup'}={_value(item.subject)}",
        f"memcg={_value(kill.memcg)}",
        f"process={_value(kill.process)}",
        f"pid={kill.pid}",
        f"uid={_value(kill.uid)}",
        f"rss={_kb(kill.rss_kb)}",
        f"total_vm={_kb(kill.total_vm_kb)}",
        f"limit={_kb(kill.limit_kb)}",
    ]
    return " ".join(fields) + "\n"


def append(path, items):
    """Append one line per kill; the directory is created when missing."""
    if not items:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.writelines(format_line(item) for item in items)
        handle.flush()
        os.fsync(handle.fileno())
