"""One run of `ts-oom check`: read the kernel log since the last run, attribute, report, remember.

The order matters for a crash between steps: the kill log is appended before the state (with
the log position) is saved, so a crash may repeat a kill but never lose one. The metrics file
comes last and is best-effort: once the state is saved the kills will not be read again, so
their findings must be printed whatever happens to the metrics.
"""

import logging
import time

from trainserver.core.checks import CHECK_LOCK_WAIT
from trainserver.core.errors import CommandError
from trainserver.core.findings import Finding, Severity
from trainserver.core.metrics import Metric
from trainserver.oom import (attribution, crosscheck, docker_names, journal, kernel_log, kill_log,
                             kmsg, repeats, vmstat)

log = logging.getLogger(__name__)

STATE_NAME = "oom"
METRICS_NAME = "trainserver_oom"


def choose_source(requested="auto"):
    if requested != "auto":
        return requested
    return "journal" if journal.journald_runs() else "kmsg"


def _read(source, saved):
    if source == "journal":
        return journal.read(saved)
    return kmsg.read(saved)


def whole_kills(batch, now):
    """(batch, whether it was cut): a read that ended inside a kill's records is cut short
    before them, and keeps the position there, so that the next run reads that kill whole."""
    cut = kernel_log.unfinished(batch.records, now)
    return (batch, False) if cut is None else (batch.before(cut), True)


def metrics(memory, counter, now):
    kills = Metric("trainserver_oom_kills_total",
                   "OOM kills found in the kernel log, by container (or cgroup path).", "counter")
    for subject, total in sorted(memory.totals.items()):
        kills.add(total["kills"], container=subject)
    result = [kills]
    if counter is not None:
        result.append(Metric("trainserver_oom_kernel_kills",
                             "The kernel's count of OOM kills since boot (/proc/vmstat oom_kill).")
                      .add(counter))
    result.append(Metric("trainserver_oom_last_run_timestamp_seconds",
                         "When ts-oom check last completed.").add(round(now)))
    return result


def run(tool, source="auto", now=None):
    """Findings of one check run (the state, kill log and metrics are updated)."""
    settings = tool.config["oom"]
    state_file = tool.state_file(STATE_NAME)
    # Waits for its own previous run only: no action shares this lock.
    with tool.lock(wait=CHECK_LOCK_WAIT):
        state = state_file.load({})
        if not isinstance(state, dict):
            log.warning("%s: not a JSON object, starting afresh", state_file.path)
            state = {}
        source = choose_source(source)
        boot = kmsg.boot_id()
        # The counter before the log: a kill logged in between is then never taken for a loss.
        counter = vmstat.read_oom_kill()
        try:
            batch = _read(source, state.get(source))
        except (OSError, CommandError) as exc:
            log.error("cannot read the kernel log (%s): %s", source, exc)
            return [Finding(repeats.TOOL, repeats.CHECK_KILLS, repeats.HOST_SUBJECT, Severity.UNKNOWN,
                            f"cannot read the kernel log ({source}): {exc}")]
        # Again after the log: when it moved, the log may hold a kill the first read missed.
        counter_after = vmstat.read_oom_kill()
        now = time.time() if now is None else now
        batch, cut = whole_kills(batch, now)
        kills = kernel_log.find_kills(batch.records)
        ids = {attribution.container_id(k.memcg) for k in kills} - {None}
        names = docker_names.names(ids)
        attributed = [repeats.Attributed(k, *attribution.subject(k, names)) for k in kills]
        for item in attributed:
            log.info("OOM kill: %s %s", item.subject, repeats.describe_kill(item.kill))

        findings, memory = repeats.assess(attributed, repeats.Memory.from_state(state), now,
                                          settings["repeat_window"], settings["repeat_critical"])
        found_this_boot = sum(1 for k in kills if k.boot_id == boot)
        gap, balance = crosscheck.check(
            crosscheck.Balance.from_state(state.get("balance"), boot), counter, found_this_boot,
            batch.lost, settled=not cut and counter_after == counter)
        if gap:
            findings.append(gap)

        kill_log.append(settings["log_file"], attributed)
        state.update(memory.to_state())
        state["balance"] = balance.to_state()
        if batch.position is not None:
            state[source] = batch.position
        state["last_run"] = now
        state_file.save(state)
        tool.write_metrics(METRICS_NAME, metrics(memory, counter, now))
    return findings
