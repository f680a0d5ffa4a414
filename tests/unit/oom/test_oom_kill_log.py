"""The kill log's lines."""

from trainserver.oom import kernel_log, kill_log
from trainserver.oom.repeats import Attributed


def test_line_of_a_captured_kill(records, tmp_path):
    (kill,) = kernel_log.find_kills(records("kmsg-parent-limit-odd-name.txt"))
    path = tmp_path / "log" / "oom-kills.log"
    kill_log.append(str(path), [Attributed(kill, kill.memcg, False)])
    kill_log.append(str(path), [Attributed(kill, "trainer", True)])
    first, second = path.read_text().splitlines()
    fields = first.split(" ", 1)[1]
    assert fields == ('cgroup=/ts-fixture-parent/child memcg=/ts-fixture-parent/child '
                      'process="my job, (x)" pid=25117 uid=0 rss=59148kB total_vm=218756kB limit=51200kB')
    assert second.split(" ")[1] == "container=trainer"


def test_missing_figures_are_dashes():
    kill = kernel_log.Kill(pid=5, process="x", time=None, boot_id="b")
    line = kill_log.format_line(Attributed(kill, "process x", False))
    assert line == '- cgroup="process x" memcg=- process=x pid=5 uid=- rss=- total_vm=- limit=-\n'
