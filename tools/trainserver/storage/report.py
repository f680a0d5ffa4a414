"""`ts-storage status`: the facts as a document and as text for people."""

import time

from trainserver.storage import assess


def document(facts, now):
    scrub = facts.scrub
    return {
        "mount_point": facts.mount_point,
        "mounted": facts.mount is not None,
        "mount": facts.mount,
        "expected_uuid": facts.expected_uuid,
        "mounted_from_expected_uuid": bool(facts.mount and facts.expected_uuid and
                                           facts.mount["uuid"] == facts.expected_uuid),
        "filesystem": facts.show,
        "usage": facts.usage,
        "device_errors": facts.stats,
        "last_scrub": scrub,
        "last_scrub_age_days": round((now - scrub["started"]) / 86400, 1)
        if scrub and scrub.get("started") else None,
        "qgroups_enabled": facts.qgroups,
        "bcache": facts.bcache,
        "problems": facts.problems,
    }


def text(facts, now):
    from trainserver.core.units import format_size

    lines = []
    point, mount = facts.mount_point, facts.mount
    expected = f"fstab: UUID {facts.expected_uuid}" if facts.expected_uuid else "no fstab entry"
    if mount is None:
        lines.append(f"{point}: NOT MOUNTED ({expected})")
    else:
        same = "" if not facts.expected_uuid or mount["uuid"] == facts.expected_uuid else \
            "  <-- NOT THE EXPECTED FILESYSTEM"
        degraded = "  DEGRADED" if "degraded" in mount["options"] else ""
        lines.append(f"{point}: {mount['fstype']} from UUID {mount['uuid']} ({expected})"
                     f"{same}{degraded}")
    if facts.show:
        label = facts.show["label"] or "(no label)"
        lines.append(f"filesystem: {label}, {facts.show['total']} devices"
                     + (", SOME MISSING" if facts.show["missing"] else ""))
    if facts.usage:
        overall, profiles = facts.usage["overall"], facts.usage["profiles"]
        lines.append("profiles: " + ", ".join(f"{kind} {p['profile']}"
                                              for kind, p in profiles.items()))
        used = overall["used"] / (overall.get("data_ratio") or 1)
        lines.append(f"space: {format_size(used)} used, {format_size(overall['free_estimated'])}"
                     f" free ({assess.used_percent(overall):.1f}% used), "
                     f"{format_size(overall['device_size'])} raw on the devices")
    if facts.show:
        lines.append("devices:")
        for device in facts.show["devices"]:
            errors = (facts.stats or {}).get(device["devid"])
            counted = sum(v for k, v in errors.items() if k != "device") if errors else "?"
            lines.append(f"  devid {device['devid']:<3} {device['path']:<28} "
                         f"{format_size(device['size']):>10}  errors {counted}")
    scrub = facts.scrub
    if scrub is None and "scrub" not in facts.problems and mount is not None:
        lines.append("last scrub: none on record")
    elif scrub:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(scrub["started"])) \
            if scrub.get("started") else "unknown time"
        age = f", {assess.ago(now - scrub['started'])}" if scrub.get("started") else ""
        lines.append(f"last scrub: {when}{age}, {scrub['status']}, "
                     f"{scrub.get('corrected_errors', 0)} corrected, "
                     f"{scrub.get('uncorrectable_errors', 0)} uncorrectable errors")
    if facts.qgroups is not None:
        lines.append(f"quotas (qgroups): {'ENABLED' if facts.qgroups else 'off'}")
    if mount is not None and not facts.bcache:
        lines.append("bcache: no bcache devices")
    for device in facts.bcache:
        ratio = f"{device['hit_ratio']}%" if device.get("hit_ratio") is not None else "?"
        lines.append(f"bcache: {device['name']} on {device['backing']}, cache set "
                     f"{device.get('cache_set') or 'NONE (detached)'}, {device['cache_mode']}, "
                     f"{device['state']}, {device.get('dirty_bytes')} bytes dirty, "
                     f"hit ratio {ratio}")
    for part, error in sorted(facts.problems.items()):
        lines.append(f"could not read the {part}: {error}")
    return "\n".join(lines) + "\n"
