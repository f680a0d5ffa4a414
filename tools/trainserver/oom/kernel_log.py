"""Kernel log records, and the OOM kills they describe (pure: text in, kills out).

A kill shows up as a burst of records; two of them matter here (formats as printed by
mm/oom_kill.c and mm/memcontrol.c since Linux 5.0, unchanged in 6.1 and 6.12):

    oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,
        oom_memcg=/docker/<id>,task_memcg=/docker/<id>,task=python3,pid=19350,uid=0
    Memory cgroup out of memory: Killed process 19350 (python3) total-vm:218760kB,
        anon-rss:53760kB, file-rss:5372kB, shmem-rss:0kB, UID:0 pgtables:168kB oom_score_adj:0

The summary ("oom-kill:") names the cgroups; the "Killed process" line is the kill itself (the
kernel counts oom_kill in /proc/vmstat once per such line). A global OOM prints ",global_oom"
instead of ",oom_memcg=..." and "Out of memory: Killed process ...". With memory.oom.group,
one summary is followed by one "Killed process" line per member of the group, announced by
"Tasks in <cgroup> are going to be killed due to memory.oom.group set".
"""

import re
from dataclasses import dataclass

# /dev/kmsg: "prio,seq,usec,flags[,more];message\n" then optional " KEY=value" lines.
_KMSG = re.compile(r"^(?P<prio>\d+),(?P<seq>\d+),(?P<usec>\d+),[^;]*;(?P<message>[^\n]*)")
_KMSG_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")

# mems_allowed and nodemask are printed as lists ("0-1,3"), which may hold commas; the task's
# name (comm) may hold anything. So the fields are found by their order, and pid/uid anchor the end.
_SUMMARY = re.compile(
    r"oom-kill:constraint=(?P<constraint>[A-Z_]+),.*?"
    r"(?:,oom_memcg=(?P<oom_memcg>[^,]*)|,global_oom)"
    r"(?:,task_memcg=(?P<task_memcg>.*?))?"
    r",task=(?P<task>.*),pid=(?P<pid>\d+),uid=(?P<uid>\d+)\s*$")

_KILLED = re.compile(
    r"(?P<reason>Memory cgroup out of memory|Out of memory(?: \([^)]*\))?): "
    r"Killed process (?P<pid>\d+) \((?P<comm>.*)\) total-vm:(?P<total_vm>\d+)kB, "
    r"anon-rss:(?P<anon_rss>\d+)kB, file-rss:(?P<file_rss>\d+)kB, shmem-rss:(?P<shmem_rss>\d+)kB"
    r"(?:, UID:(?P<uid>\d+))?")

# Printed before the summary for the cgroup that hit its limit (v1 and v2 alike).
_MEMCG_USAGE = re.compile(r"^memory: usage (?P<usage>\d+)kB, limit (?P<limit>\d+)kB")
_GROUP = re.compile(r"^Tasks in (?P<memcg>\S+) are going to be killed due to memory\.oom\.group set")
_INVOKED = re.compile(r" invoked oom-killer: ")

# The kernel's own records; what user space writes to /dev/kmsg has another facility and is
# ignored, so that `echo "Killed process ..." > /dev/kmsg` cannot fake a kill.
KERNEL_FACILITY = 0

# A limit this high means "no limit" (PAGE_COUNTER_MAX pages, printed in kB).
_NO_LIMIT_KB = 2**50

# The kernel prints a kill's "Killed process" record right after its summary. A summary logged
# less than this long ago and not yet followed by it is taken for a read that ended between the
# two (or a journald that has not written the second yet), not for a lost kill line.
UNFINISHED_SECONDS = 60


@dataclass
class Record:
    """One kernel log record from either source.

    position: the source's own place (kmsg sequence number or journal cursor);
    time: seconds since the epoch (None when unknown); boot_id: the boot it was logged in.
    """

    position: object
    time: float
    boot_id: str
    message: str


@dataclass
class Kill:
    pid: int
    process: str
    time: float
    boot_id: str
    task_memcg: str = None
    oom_memcg: str = None
    constraint: str = None
    uid: int = None
    total_vm_kb: int = None
    rss_kb: int = None  # anon + file + shmem: what the process held when it was killed
    limit_kb: int = None  # the memory limit of oom_memcg, when the kernel printed it
    reason: str = None

    @property
    def memcg(self):
        """The cgroup to attribute the kill to: the victim's own, else the one out of memory."""
        return self.task_memcg or self.oom_memcg


def parse_kmsg(raw):
    """(facility, seq, usec, message) of one /dev/kmsg record, or None when it is not one."""
    match = _KMSG.match(raw)
    if not match:
        return None
    prio = int(match["prio"])
    message = _KMSG_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), match["message"])
    return prio >> 3, int(match["seq"]), int(match["usec"]), message


def journal_message(value):
    """MESSAGE of a journal JSON entry: a string, or a list of byte values when not UTF-8."""
    if isinstance(value, list):
        try:
            return bytes(value).decode("utf-8", errors="replace")
        except (TypeError, ValueError):
            return ""
    return value if isinstance(value, str) else ""


def unfinished(records, now, seconds=UNFINISHED_SECONDS):
    """Index of the first recent summary in `records` whose kill line is not after it, or None.

    A read that stops there must end before that summary (and have the next run read it again
    with its kill line): counted now, as a kill without its line, the kill line on its own
    next run would count it a second time. A summary older than `seconds` (by `now`) has lost
    its kill line, and counts as a kill without one.
    """
    first = None
    killed_later = set()
    for index in range(len(records) - 1, -1, -1):
        record = records[index]
        match = _SUMMARY.search(record.message)
        if match:
            if (int(match["pid"]) not in killed_later and record.time is not None
                    and record.time > now - seconds):
                first = index
            continue
        match = _KILLED.search(record.message)
        if match:
            killed_later.add(int(match["pid"]))
    return first


def find_kills(records):
    """The kills described by `records` (in log order), one per "Killed process" line.

    A summary whose "Killed process" line is missing still counts as a kill, without memory
    figures, so that no kill goes unreported (a read that may have ended between the two is cut
    short before the summary by the caller: see unfinished()).
    """
    kills = []
    summaries = {}  # pid -> (record, match, limit_kb), waiting for their kill line
    limit_kb = None
    group_memcg = None
    for record in records:
        message = record.message
        if _INVOKED.search(message):
            limit_kb, group_memcg = None, None
            continue
        match = _MEMCG_USAGE.match(message)
        if match:
            limit = int(match["limit"])
            limit_kb = limit if limit < _NO_LIMIT_KB else None
            continue
        match = _GROUP.match(message)
        if match:
            group_memcg = match["memcg"]
            continue
        match = _SUMMARY.search(message)
        if match:
            summaries[int(match["pid"])] = (record, match, limit_kb)
            continue
        match = _KILLED.search(message)
        if match:
            pid = int(match["pid"])
            kill = Kill(pid=pid, process=match["comm"], time=record.time, boot_id=record.boot_id,
                        total_vm_kb=int(match["total_vm"]), reason=match["reason"],
                        rss_kb=int(match["anon_rss"]) + int(match["file_rss"]) + int(match["shmem_rss"]),
                        uid=int(match["uid"]) if match["uid"] is not None else None,
                        limit_kb=limit_kb)
            summary = summaries.pop(pid, None)
            if summary:
                _apply_summary(kill, *summary)
            elif group_memcg:
                kill.task_memcg = group_memcg
            kills.append(kill)
    for pid, (record, match, summary_limit) in summaries.items():
        kill = Kill(pid=pid, process=match["task"], time=record.time, boot_id=record.boot_id)
        _apply_summary(kill, record, match, summary_limit)
        kills.append(kill)
    kills.sort(key=lambda k: (k.time or 0))
    return kills


def _apply_summary(kill, record, match, limit_kb):
    kill.constraint = match["constraint"]
    kill.oom_memcg = match["oom_memcg"]
    kill.task_memcg = match["task_memcg"]
    kill.uid = int(match["uid"])
    if kill.limit_kb is None:
        kill.limit_kb = limit_kb
