"""ts-caches status: gather each cache's facts and size, and say what is not as apply sets it."""

from trainserver.caches import assess, facts, plan as plans, spec, walk
from trainserver.core import accounts, priority
from trainserver.core.units import format_size


def gather(settings):
    """(findings, [assess.CacheReport])."""
    findings = []
    gid = facts.group_id(settings)
    group = accounts.group(settings.group, settings.root)
    findings.append(assess.group_finding(settings.group, gid, list(group.members) if group
                                         else []))
    reports = []
    problem = facts.storage_problem(settings)
    if problem is None:
        try:
            spec.check_storage(settings.storage)
        except spec.SpecError as exc:
            problem = str(exc)
    want_all = plans.wants(settings.enabled, gid, facts.apt_uid(settings))
    if problem is None:
        priority.idle_io()
    for name in settings.enabled:
        cache = spec.CACHES[name]
        report = assess.CacheReport(name, settings.path(f"cache/{name}"), cache.shared)
        reports.append(report)
        if problem:
            report.unknown = problem
        elif cache.shared and gid is None:
            report.unknown = f"the group {settings.group} does not exist"
        else:
            _check_cache(settings, report, [w for w in want_all if w.cache == name], gid)
        findings.append(assess.cache_finding(report, settings.group))
    if problem is None:
        findings += _file_findings(settings)
    return findings, reports


def _check_cache(settings, report, want_list, gid):
    found = facts.all_dir_facts(settings, want_list)
    top = found[f"cache/{report.name}"]
    if not top.exists:
        report.exists = False
        return
    plan = plans.plan_dirs(want_list, found, settings.group)
    report.problems = [message for _, message in plan.problems]
    report.differences = [step.text() for step in plan.steps]
    if top.is_dir:
        report.subvolume = facts.is_subvolume(report.path)
        report.usage = walk.measure(report.path, gid if report.shared else None)
    else:
        report.usage = walk.Usage(report.path)


def _file_findings(settings):
    found = []
    wanted = spec.managed_files(settings.storage, settings.enabled)
    for relative, text in wanted.items():
        step, problem = plans.plan_file(facts.file_facts(settings, relative), text)
        if text is None and step is None and problem is None:
            continue  # not wanted and not there: nothing to report
        found.append(assess.file_finding("/" + relative, step, problem, None))
    step, problem, note = plans.plan_pip_conf(
        facts.file_facts(settings, spec.PIP_CONF),
        spec.pip_cache_dir(settings.storage, settings.enabled, settings.pip_conf))
    if step or problem or spec.pip_cache_dir(settings.storage, settings.enabled,
                                             settings.pip_conf):
        found.append(assess.file_finding("/" + spec.PIP_CONF, step, problem, note))
    return found


def render(findings, reports):
    """A table of the caches, then what is wrong; for people."""
    rows = [("CACHE", "SIZE", "FILES", "STATE", "PATH")]
    by_subject = {f.subject: f for f in findings if f.check == "cache"}
    total_bytes = total_files = 0
    seconds = 0.0
    for report in reports:
        finding = by_subject[report.name]
        usage = report.usage
        if usage is not None:
            total_bytes += usage.bytes
            total_files += usage.files
            seconds += usage.seconds
        state = finding.severity.label
        if finding.severity.label == "ok" and report.subvolume is False:
            state += " (plain directory)"
        rows.append((report.name, format_size(usage.bytes) if usage else "-",
                     f"{usage.files:,}" if usage else "-", state, report.path))
    rows.append(("total", format_size(total_bytes), f"{total_files:,}", "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [row[i].rjust(widths[i]) if i in (1, 2) else row[i].ljust(widths[i])
                 for i in range(len(widths))] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    lines.append(f"(walked in {seconds:.1f} s at idle I/O priority)")
    for finding in findings:
        if finding.severity.label != "ok":
            lines.append(f"{finding.severity.label}: {finding.summary}")
    for finding in findings:
        if finding.severity.label == "ok" and finding.check != "cache":
            lines.append(f"ok: {finding.summary}")
    return "\n".join(lines) + "\n"

