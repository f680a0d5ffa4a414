"""Text and JSON shapes of plans and listings."""


def _age(now, moment):
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "in future"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {rest // 60}min" if hours else f"{rest // 60}min"


def entry_json(entry, plan):
    snap = entry.snapshot
    return {
        "subvolume": snap.series,
        "name": snap.name,
        "path": snap.path,
        "time": snap.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "local_time": snap.time.astimezone(plan.policy.timezone).isoformat(),
        "age_seconds": int((plan.now - snap.time).total_seconds()),
        "action": "keep" if entry.keep else "delete",
        "reasons": list(entry.decision.reasons),
    }


def plan_json(plan):
    return {
        "now": plan.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timezone": str(plan.policy.timezone),
        "snapshots": [entry_json(entry, plan) for entry in plan.entries()],
        "foreign": [{"path": item.path, "why": item.why} for item in plan.foreign],
    }


def plan_text(plan, show_age=False):
    zone = plan.policy.timezone
    lines = []
    for series, entries in plan.series.items():
        kept = sum(entry.keep for entry in entries)
        lines.append(f"{series}: {len(entries)} snapshots, keep {kept}, "
                     f"delete {len(entries) - kept}")
        for entry in reversed(entries):  # newest first, as people read listings
            snap = entry.snapshot
            local = snap.time.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")
            action = "keep  " if entry.keep else "DELETE"
            age = f"  {_age(plan.now, snap.time):>9}" if show_age else ""
            why = ", ".join(entry.decision.reasons) or "no rule keeps it"
            lines.append(f"  {action} {snap.name}  {local}{age}  {why}")
    if not plan.series:
        lines.append("no snapshots")
    for item in plan.foreign:
        lines.append(f"left alone: {item.path}: {item.why}")
    return "\n".join(lines) + "\n"

