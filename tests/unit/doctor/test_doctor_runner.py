"""The runner: parallel probes, one deadline, and a probe that overruns cut off."""

import os
import threading
import time

import pytest

from trainserver.doctor import runner
from trainserver.doctor.results import FAIL, PASS, Result


def context(deadline, timeout=1.0):
    return runner.Context(config={}, config_path="/nonexistent.toml", deadline=deadline,
                          timeout=timeout)


def passing(name, sleep=0.0):
    def probe(ctx):
        time.sleep(sleep)
        return Result("area", name, PASS, "fine")
    return runner.Probe("area", name, probe, f"investigate {name}")


def test_probes_run_in_parallel_and_keep_their_order():
    probes = [passing(f"p{n}", 0.3) for n in range(8)]
    started = time.monotonic()
    found = runner.run(probes, context, 5)
    took = time.monotonic() - started
    assert [r.item for r in found] == [f"p{n}" for n in range(8)]
    assert all(r.status == PASS for r in found)
    assert took < 1.5, f"8 probes of 0.3 s took {took:.2f} s: not in parallel"
    assert all(0.25 < r.seconds < 1.5 for r in found)
    assert found[0].investigate == "investigate p0"


def test_a_probe_that_sleeps_past_the_deadline_fails_and_is_not_waited_for():
    release = threading.Event()

    def hangs(ctx):
        release.wait(30)  # a probe stuck in a call without a timeout
        return Result("area", "hangs", PASS, "never seen")

    probes = [passing("quick"), runner.Probe("area", "hangs", hangs, "look")]
    started = time.monotonic()
    found = runner.run(probes, context, 0.5)
    took = time.monotonic() - started
    release.set()
    assert took < 0.9, f"the run took {took:.2f} s for a 0.5 s deadline"
    assert found[0].status == PASS
    assert (found[1].status, found[1].reason) == (FAIL, "timed out after 0.5 s")
    assert found[1].investigate == "look"


def test_a_probe_that_raises_is_a_fail_and_the_others_still_report():
    def broken(ctx):
        raise KeyError("paths")

    found = runner.run([runner.Probe("a", "broken", broken), passing("fine")], context, 2)
    assert found[0].status == FAIL
    assert found[0].reason == "the probe failed: KeyError: 'paths'"
    assert found[1].status == PASS


def test_a_probe_may_return_several_results():
    def many(ctx):
        return [Result("a", "one", PASS, "x"), Result("a", "two", FAIL, "y")]

    found = runner.run([runner.Probe("a", "many", many)], context, 2)
    assert [(r.item, r.status) for r in found] == [("one", PASS), ("two", FAIL)]


def test_run_command_is_given_the_time_left_and_kills_the_whole_group(tmp_path):
    marker = tmp_path / "child.pid"
    ctx = context(time.monotonic() + 1.0)
    started = time.monotonic()
    # The shell starts a grandchild that would outlive a kill of the shell alone.
    with pytest.raises(runner.ProbeTimeout) as caught:
        runner.run_command(ctx, ["/bin/sh", "-c", f"sleep 30 & echo $! > {marker}; wait"])
    took = time.monotonic() - started
    assert took < 1.5
    assert "timed out after" in str(caught.value)
    child = int(marker.read_text())
    for _ in range(50):
        if not os.path.exists(f"/proc/{child}") or \
                open(f"/proc/{child}/stat").read().split()[2] == "Z":
            break
        time.sleep(0.02)
    else:
        pytest.fail(f"the grandchild {child} outlived the timeout")


def test_run_command_returns_output_and_status():
    ctx = context(time.monotonic() + 5)
    completed = runner.run_command(ctx, ["/bin/sh", "-c", "echo out; echo err >&2; exit 4"])
    assert (completed.returncode, completed.stdout, completed.stderr) == (4, "out\n", "err\n")
    with pytest.raises(TypeError):
        runner.run_command(ctx, "echo no shell strings")
    with pytest.raises(FileNotFoundError):
        runner.run_command(ctx, ["/nonexistent/program"])
