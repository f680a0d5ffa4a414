"""The kernel log parser on records captured from real OOM kills (tests/fixtures/oom/README.md)."""

import pytest

from trainserver.oom import kernel_log
from trainserver.oom.kernel_log import Record

DOCKER_ID = "661bab0e70b394cc20a23527ba2cde38ba212a1c8899f07bffc63a87b53a0fe2"


def test_real_container_kill(records):
    (kill,) = kernel_log.find_kills(records("kmsg-docker-container.txt"))
    assert (kill.pid, kill.process, kill.uid) == (22643, "tail", 0)
    assert kill.task_memcg == kill.oom_memcg == f"/docker/{DOCKER_ID}"
    assert kill.constraint == "CONSTRAINT_MEMCG"
    assert kill.reason == "Memory cgroup out of memory"
    assert kill.total_vm_kb == 67060
    assert kill.rss_kb == 64512 + 1164 + 0
    assert kill.limit_kb == 65536  # --memory 64m
    assert kill.time == pytest.approx(1_700_000_000.0 + 1101.891070)


def test_cgroupfs_path_with_unrelated_records_first(records):
    found = records("kmsg-cgroupfs-path.txt")
    assert "EXT4-fs" in found[0].message
    (kill,) = kernel_log.find_kills(found)
    assert (kill.pid, kill.process, kill.limit_kb) == (19350, "python3", 51200)
    assert kill.memcg == "/docker/2829a98b81e419b5acd7c3a8e7c1b5ca6068be66569566db620978ea3cd45c91"


def test_systemd_scope_path(records):
    (kill,) = kernel_log.find_kills(records("kmsg-systemd-scope-path.txt"))
    assert kill.memcg == ("/system.slice/docker-8531d18a714b03912307bcffcafd5b62a44c19fa3b62fd1da7"
                          "79f7b0c04e141d.scope")
    assert kill.pid == 25061


def test_parent_limit_and_a_name_with_comma_and_parentheses(records):
    (kill,) = kernel_log.find_kills(records("kmsg-parent-limit-odd-name.txt"))
    assert kill.process == "my job, (x)"
    assert kill.oom_memcg == "/ts-fixture-parent"
    assert kill.task_memcg == "/ts-fixture-parent/child"
    assert kill.memcg == "/ts-fixture-parent/child"  # the victim's own cgroup
    assert kill.limit_kb == 51200  # the limit of the parent that ran out
    assert kill.rss_kb == 53760 + 5388


def test_kills_of_several_bursts_in_order(records):
    both = records("kmsg-systemd-scope-path.txt") + records("kmsg-parent-limit-odd-name.txt")
    assert [k.pid for k in kernel_log.find_kills(both)] == [25061, 25117]


def test_summary_without_its_kill_line_still_counts(records):
    found = [r for r in records("kmsg-docker-container.txt") if "Killed process" not in r.message]
    (kill,) = kernel_log.find_kills(found)
    assert (kill.pid, kill.process, kill.rss_kb) == (22643, "tail", None)
    assert kill.memcg == f"/docker/{DOCKER_ID}"


def test_kill_line_without_summary_has_no_cgroup(records):
    found = [r for r in records("kmsg-docker-container.txt") if not r.message.startswith("oom-kill:")]
    (kill,) = kernel_log.find_kills(found)
    assert kill.pid == 22643 and kill.memcg is None


def test_noise_alone_is_no_kill(records):
    found = [r for r in records("kmsg-docker-container.txt")
             if "Killed process" not in r.message and not r.message.startswith("oom-kill:")]
    assert len(found) > 100
    assert kernel_log.find_kills(found) == []


# Not captured (a global OOM cannot be provoked safely on a shared machine): built from the
# kernel's format strings in mm/oom_kill.c and mm/memcontrol.c, around a captured kill line.
GLOBAL = [
    "python3 invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, "
    "oom_score_adj=0",
    "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0-1,global_oom,"
    "task_memcg=/user.slice/user-1000.slice/session-4.scope,task=python3,pid=4242,uid=1000",
    "Out of memory: Killed process 4242 (python3) total-vm:33554432kB, anon-rss:30000000kB, "
    "file-rss:1024kB, shmem-rss:0kB, UID:1000 pgtables:60000kB oom_score_adj:0",
]


def test_global_oom_format():
    (kill,) = kernel_log.find_kills([Record(i, 1.0, "b", m) for i, m in enumerate(GLOBAL)])
    assert kill.oom_memcg is None
    assert kill.memcg == "/user.slice/user-1000.slice/session-4.scope"
    assert (kill.pid, kill.uid, kill.reason, kill.limit_kb) == (4242, 1000, "Out of memory", None)


def test_oom_group_kills_every_member(records):
    # memory.oom.group (cgroup v2 only, so not captured here): one summary, then one kill line
    # per member, announced by the "Tasks in" line; built around the captured container kill.
    captured = records("kmsg-docker-container.txt")
    kill_line = next(r for r in captured if "Killed process" in r.message)
    group = Record(0, kill_line.time, kill_line.boot_id,
                   f"Tasks in /docker/{DOCKER_ID} are going to be killed due to memory.oom.group set")
    sibling = Record(0, kill_line.time, kill_line.boot_id,
                     kill_line.message.replace("22643 (tail)", "22642 (sh)"))
    kills = kernel_log.find_kills([r for r in captured if r is not kill_line] + [kill_line, group, sibling])
    assert [(k.pid, k.memcg) for k in kills] == [(22643, f"/docker/{DOCKER_ID}"),
                                                  (22642, f"/docker/{DOCKER_ID}")]


def test_parse_kmsg_record_and_escapes():
    record = "6,609,1286796950,-;a\\x0ab\n SUBSYSTEM=mem\n"
    assert kernel_log.parse_kmsg(record) == (0, 609, 1286796950, "a\nb")
    assert kernel_log.parse_kmsg("14,610,1,-,caller=T1;from user space\n")[0] == 1
    assert kernel_log.parse_kmsg("not a record") is None


def test_journal_message_forms():
    assert kernel_log.journal_message("text") == "text"
    assert kernel_log.journal_message(list(b"caf\xc3\xa9 \xff")) == "caf\u00e9 \ufffd"
    assert kernel_log.journal_message(None) == ""
    assert kernel_log.journal_message([300, 1]) == ""
    assert kernel_log.journal_message(["a"]) == ""


def test_unfinished_is_a_recent_summary_without_its_kill_line(records):
    found = records("kmsg-docker-container.txt")
    summary = next(i for i, r in enumerate(found) if r.message.startswith("oom-kill:"))
    now = found[-1].time + 1
    assert kernel_log.unfinished(found, now) is None  # whole
    assert kernel_log.unfinished(found[:summary], now) is None  # no summary yet
    assert kernel_log.unfinished(found[:summary + 1], now) == summary
    assert kernel_log.unfinished(found[:summary + 1], now + 600) is None  # its kill line is lost
    # The kill line of another process does not finish it; the first unfinished one counts.
    other = records("kmsg-systemd-scope-path.txt")
    both = found[:summary + 1] + other
    later = [Record(r.position, now, r.boot_id, r.message) for r in both]
    assert kernel_log.unfinished(later, now) == summary
    timeless = [Record(r.position, None, r.boot_id, r.message) for r in found[:summary + 1]]
    assert kernel_log.unfinished(timeless, now) is None
