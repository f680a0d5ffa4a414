"""Runs rclone for ts-sync: under a claim on the shared uplink, its JSON log read as it comes.

The uplink loop (core.uplink): before rclone starts, this process claims its share of
[network] upload_limit (capped by [sync] bandwidth) as an adjustable uploader; a share of 0
(ts-backup started alone and holds the whole uplink) means waiting, polling, with the holder
logged. rclone starts with that --bwlimit and its remote control on 127.0.0.1 (credentials in
its environment); every SHARE_INTERVAL seconds the share is computed again and, when it
changed, set live through the remote control (`core/bwlimit`) and written into the claim.
"""

import collections
import logging
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field

from trainserver.core import rclone
from trainserver.core.commands import format_argv
from trainserver.core.errors import ActionError
from trainserver.sync.jsonlog import Log, describe

log = logging.getLogger(__name__)

# Seconds between two looks at the share; tests set TRAINSERVER_SYNC_SHARE_INTERVAL shorter.
SHARE_INTERVAL = float(os.environ.get("TRAINSERVER_SYNC_SHARE_INTERVAL", "10"))
WAIT_LOG_EVERY = 600.0   # while waiting for the uplink, say so again this often
TAIL_LINES = 60          # rclone's last lines, for the heartbeat and the finding


@dataclass
class Outcome:
    returncode: int
    log: Log
    tail: list = field(default_factory=list)
    rates: list = field(default_factory=list)   # [(time, bytes per second)] as set
    waited: float = 0.0                          # seconds waited for the uplink


def _share_text(rate, others):
    from trainserver.core.uplink import describe

    return f"{rate / 1e6:.2f} MB/s (sharing with: {describe(others)})"


def wait_for_share(uplink, interval, sleep=time.sleep, clock=time.monotonic):
    """The share once it is above 0; waits (polling every `interval` s) while it is 0."""
    rate, others = uplink.current_share()
    if rate > 0:
        return rate, 0.0
    started = clock()
    told = None
    while rate <= 0:
        now = clock()
        if told is None or now - told >= WAIT_LOG_EVERY:
            from trainserver.core.uplink import describe

            log.info("uplink: waiting, [network] upload_limit is taken by %s",
                     describe(others))
            told = now
        sleep(interval)
        rate, others = uplink.current_share()
    log.info("uplink: free again after %.0f s", clock() - started)
    return rate, clock() - started


def run(build, settings, claim_name, dry_run=False, on_record=None, interval=None):
    """Run the rclone command `build(rate, control_flags)` returns; an Outcome.

    A dry run uploads nothing: no claim, no remote control, the full share as its rate.
    `on_record(record, rate)` is called for each JSON log line (progress)."""
    interval = SHARE_INTERVAL if interval is None else interval
    env = {**os.environ, **rclone.environment(settings.rclone_config)}
    if dry_run:
        return _execute(build(min(settings.bandwidth, settings.upload_limit), []), env,
                        on_record, None, None, interval)
    from trainserver.core.uplink import Uplink

    uplink = Uplink(settings.lock_dir, claim_name, settings.upload_limit, settings.bandwidth,
                    adjustable=True)
    try:
        rate, waited = wait_for_share(uplink, interval)
        uplink.claim(rate)
        control = rclone.RemoteControl(rclone.free_port())
        env.update(control.environment())
        log.info("uplink: starting at %s", _share_text(rate, uplink.others()))
        outcome = _execute(build(rate, control.flags()), env, on_record, uplink, control,
                           interval, rate)
        outcome.waited = waited
        return outcome
    finally:
        uplink.release()


def _execute(argv, env, on_record, uplink, control, interval, rate=None):
    log.debug("running: %s", format_argv(argv))
    parsed = Log()
    tail = collections.deque(maxlen=TAIL_LINES)
    rates = [(time.time(), rate)] if rate is not None else []
    current = {"rate": rate}
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, errors="replace",
                                   env=env)
    except FileNotFoundError:
        raise ActionError(f"{argv[0]}: program not found (is the rclone package "
                          "installed?)") from None

    def read():
        for line in process.stdout:
            record = parsed.feed(line)
            if record is None:
                continue
            tail.append(line.rstrip("\n"))
            if record.get("level") in ("error", "plain"):
                log.warning("rclone: %s", describe(record))
            if on_record:
                on_record(record, current["rate"])

    reader = threading.Thread(target=read, name="rclone-log", daemon=True)
    reader.start()
    try:
        while True:
            try:
                process.wait(timeout=interval)
                break
            except subprocess.TimeoutExpired:
                pass
            if uplink is not None:
                _adjust(uplink, control, current, rates)
    except BaseException:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    finally:
        reader.join(timeout=30)
    return Outcome(process.returncode, parsed, list(tail), rates)


def _adjust(uplink, control, current, rates):
    """Set rclone's limit to this uploader's share now, when it changed."""
    rate, others = uplink.current_share()
    if rate == current["rate"]:
        return
    try:
        control.call("core/bwlimit", {"rate": rclone.upload_limit(rate)})
    except ActionError as exc:
        # Its remote control may not listen yet; the next round tries again.
        log.warning("uplink: could not change rclone's limit: %s", exc)
        return
    uplink.claim(rate)
    log.info("uplink: rate now %s", _share_text(rate, others))
    current["rate"] = rate
    rates.append((time.time(), rate))
