"""storage: the RAID's health (ts-storage check), every chunk still of the RAID profile, and
bcache in writeback mode."""

from trainserver.doctor import parse, tools
from trainserver.doctor.results import FAIL, PASS, SKIP, Result
from trainserver.doctor.runner import Probe, run_command

AREA = "storage"


def not_configured(config):
    """Why the storage is not configured, or None: the rule ts-storage and ts-snapshot use."""
    from trainserver.core.storage_setup import not_configured as why_not

    why = why_not(config)
    return f"storage {why}" if why else None


def health(ctx):
    why = not_configured(ctx.config)
    if why:
        return Result(AREA, "health", SKIP, why)
    return tools.check(ctx, AREA, "health", "ts-storage", ["check", "--json"])


def chunks(ctx):
    profile = ctx.config["storage"]["raid_profile"]
    mount = ctx.config["paths"]["storage"]
    item = f"chunks {profile}"
    why = not_configured(ctx.config)
    if why:
        return Result(AREA, item, SKIP, why)
    completed = run_command(ctx, ["btrfs", "filesystem", "df", "-b", mount])
    if completed.returncode:
        last = completed.stderr.strip().splitlines()[-1:] or ["no message"]
        return Result(AREA, item, FAIL, f"btrfs filesystem df failed (exit status "
                      f"{completed.returncode}): {last[0]}")
    ok, reason = parse.chunk_verdict(completed.stdout, profile)
    if ok:
        return Result(AREA, item, PASS, reason)
    # soft: chunks already of the profile are left alone, so the balance does only what is
    # needed. -m converts the system chunks with the metadata.
    return Result(AREA, item, FAIL, reason,
                  f"btrfs balance start -dconvert={profile},soft -mconvert={profile},soft {mount}")


def bcache_mode(ctx, sysfs="/sys"):
    from trainserver.storage import bcache

    settings = ctx.config["storage"]
    configured = bool(settings["cache_device"]) and settings["cache"] != "none"
    devices = bcache.devices(sysfs)
    if not devices:
        if configured:
            return Result(AREA, "bcache writeback", FAIL,
                          f"no bcache devices, but [storage] cache_device is "
                          f"{settings['cache_device']}", "ts-storage status")
        return Result(AREA, "bcache writeback", SKIP,
                      "no bcache devices ([storage] has no cache device configured)")
    wrong = [f"{d['name']} on {d['backing']}: {d['cache_mode'] or 'unknown'}"
             for d in devices if d["cache_mode"] != "writeback"]
    if wrong:
        first = next(d["name"] for d in devices if d["cache_mode"] != "writeback")
        return Result(AREA, "bcache writeback", FAIL, "not writeback: " + ", ".join(wrong),
                      f"echo writeback > /sys/block/{first}/bcache/cache_mode")
    return Result(AREA, "bcache writeback", PASS,
                  f"{len(devices)} bcache device(s) in writeback: " +
                  ", ".join(d["name"] for d in devices))


def probes(config):
    mount = config["paths"]["storage"]
    return [
        Probe(AREA, "health", health, "ts-storage check"),
        Probe(AREA, f"chunks {config['storage']['raid_profile']}", chunks,
              f"btrfs filesystem df {mount}"),
        Probe(AREA, "bcache writeback", bcache_mode,
              "cat /sys/block/bcache*/bcache/cache_mode"),
    ]
