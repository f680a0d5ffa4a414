"""ts-quota: per-person storage usage (home plus workspace), with a grace period."""

import click

from trainserver.core import cli as core_cli
from trainserver.core.checks import CHECK_EXIT_STATUS
from trainserver.quota import TOOL

FEATURES_DIR = "/sys/fs/btrfs/features"


@core_cli.tool_group(TOOL, exit_status={
    **CHECK_EXIT_STATUS,
    2: "report: at least one critical finding; enable: simple quotas could not be switched "
       "on (or were refused); limits: a hard limit could not be set (refused for a person, "
       "no simple quotas, or the kernel refused a change)",
})
def cli():
    """Per-person storage usage: home plus workspace, a limit, and a grace period.

    Usage is what a person holds in [paths] storage/homes/NAME and storage/workspaces/NAME,
    nested subvolumes included; snapshots are not counted. A person's limit is their
    quota_limit in [[users.people]], else [quota] user_limit. Sizes are decimal, as disks are
    sold: "1TB" is 10^12 bytes; write "1TiB" for 2^40 bytes.

    \b
    The rule: more than the limit starts a grace period ([quota] grace, 7 days). During it
    the report says how many days are left and nothing is alerted. Over the limit for longer
    than the grace period is a finding at [quota] severity (warning). Usage counts as back
    under the limit only below the limit minus [quota] hysteresis (10GB), so someone hovering
    at the limit does not flap; until then the days keep counting. The state is kept in
    /var/lib/trainserver/quota.json and survives reboots.

    \b
    How usage is measured ([quota] method):
      walk    every file is visited, in parallel (one process per CPU, each with 4 threads
              so that several disk reads are in flight) at the idle I/O class and nice 19;
              allocated blocks are counted (as du does), hard links once. The report says
              how long the walk took.
      squota  BTRFS simple quotas (kernel 6.7 and later; Debian 13's 6.12 has them), read
              from /sys/fs/btrfs. They count only data written after they were switched on
              (ts-quota enable), so a subvolume that held data before is still walked.
      auto    simple quotas where they are on, the walk everywhere else (the default).
    Full BTRFS qgroups are never switched on and never read: with hourly snapshots they make
    snapshot cleanup hundreds of times slower. Found on, they are a warning finding.

    \b
    Hard limits (refusing writes) are optional and off by default: the server manual asks for
    alerts only. They are offered only where simple quotas are on. With [quota] hard_limit =
    true, `ts-quota limits` gives each person a BTRFS qgroup 1/UID that holds their home, their
    workspace and the subvolumes nested in them, limited to the person's limit: at the limit,
    writes to home and workspace fail with "Disk quota exceeded" (EDQUOT), for root too, at
    once (no grace period). Subvolumes created later inside a home or workspace join its
    qgroup by themselves; run `ts-quota limits` after `ts-users apply` (new people) and after
    changing a limit; `ts-quota report` warns ("hard limits not applied") while the kernel's
    limits differ from the config. A person whose home or workspace held data before simple
    quotas were switched on gets no hard limit: simple quotas never count that data.

    \b
    Schedule: ts-quota.timer runs `ts-alert pipe --queue-only -- ts-quota report --json`
    daily at 06:25. That is while the 06:00 backup reads the same disks: the walk runs at the
    idle I/O class and takes only its own lock (quota), never one the backup needs.
    ts-quota-digest.timer sends the monthly usage table on the 1st at 09:00 through
    `ts-alert notice` (a message, not an open problem).
    """


def _now(now):
    import time

    return time.time() if now is None else now


_now_option = core_cli.now_option("Judge the grace period as of this time (for tests, and to "
                                  "see what a date brings).")
_workers_option = click.option("--workers", type=click.IntRange(1, 256), default=None,
                               help="Walker processes, each with 4 threads (default: the number of "
                                    "CPUs).")


def _run_report(tool, now, workers):
    """Measure, judge and store: (findings, the report document)."""
    import os

    from trainserver.core import people as people_module
    from trainserver.core.findings import Finding, Severity
    from trainserver.quota import grace, measure, report

    config = tool.config
    settings = config["quota"]
    storage = config["paths"]["storage"]
    state_file = tool.state_file("quota")
    state = state_file.load({})
    state = state if isinstance(state, dict) else {}
    if not os.path.isdir(storage):
        return [Finding(grace.TOOL, "run", "ts-quota report", Severity.UNKNOWN,
                        f"the storage {storage} is not there (not mounted?): no usage "
                        f"measured")], None
    people = people_module.from_config(config)
    trusted = _trusted(state, storage)
    measurement = measure.measure(config, people, method=settings["method"], workers=workers,
                                  trusted=trusted)
    rule = grace.Rule(settings["grace"], settings["hysteresis"],
                      Severity.parse(settings["severity"]))
    moment = _iso(now)
    previous = state.get("people", {}) if isinstance(state.get("people"), dict) else {}
    findings, states = list(measurement.findings), {}
    for usage in measurement.people:
        finding, states[usage.name] = grace.judge(usage.name, usage.total, usage.limit,
                                                  previous.get(usage.name), now, rule, moment)
        if usage.errors:
            finding.summary += (f"; {usage.errors} entries could not be read (first: "
                                f"{usage.first_error}), so this may be low")
        findings.append(finding)
    info = {"method": measurement.method, "walk_seconds": round(measurement.walk_seconds, 3),
            "walked_entries": measurement.walked_entries, "workers": measurement.workers,
            "priority": ", ".join(measurement.notes)}
    if measurement.walk_seconds:
        errors = sum(u.errors for u in measurement.people)
        findings.append(Finding(
            grace.TOOL, "walk", storage, Severity.UNKNOWN if errors else Severity.OK,
            f"walked {measurement.walked_entries:,} entries in {measurement.walk_seconds:.2f} s "
            f"({measurement.workers} workers, {info['priority']})"
            + (f"; {errors} could not be read" if errors else ""),
            value=round(measurement.walk_seconds, 2), time=moment))
    hard, finding = _hard_limits(tool, config, people, state, trusted, moment)
    if finding is not None:
        findings.append(finding)
    table = report.rows(measurement, states, now, rule.grace, hard)
    doc = report.document(table, info, now)
    state["people"] = states
    state["last_report"] = doc
    state_file.save(state)
    tool.write_metrics("trainserver_quota", report.metrics(doc))
    return findings, doc


def _hard_limits(tool, config, people, state, trusted, moment):
    """({name: the kernel's hard limit in bytes}, a finding or None): whether the kernel's
    limits are what [quota] hard_limit says (nothing is changed here)."""
    from trainserver.core.findings import Finding, Severity
    from trainserver.quota import enforce, grace

    storage = config["paths"]["storage"]
    wanted = config["quota"]["hard_limit"]
    if not wanted and enforce.STATE_KEY not in state:
        return {}, None
    try:
        found = enforce.survey(config, people, state, trusted)
    except enforce.Unavailable as exc:
        return {}, Finding(grace.TOOL, "limits", storage, Severity.WARNING,
                           f"[quota] hard_limit is on, but {exc}: no hard limits are set",
                           time=moment)
    except OSError as exc:
        return {}, Finding(grace.TOOL, "limits", storage, Severity.UNKNOWN,
                           f"the hard limits could not be read: {exc}", time=moment)
    if found is None:
        return {}, None
    names = {**found.recorded, **found.plan.wanted}
    hard = {name: found.kernel.limit(qgroup) for qgroup, name in names.items()
            if found.kernel.limit(qgroup) is not None}
    steps = found.plan.steps
    if steps:
        first = "; ".join(step.title for step in steps[:3]) + ("; ..." if len(steps) > 3 else "")
        return hard, Finding(grace.TOOL, "limits", storage, Severity.WARNING,
                             f"hard limits not applied: the kernel's differ from [quota] "
                             f"({len(steps)} change(s): {first}): run ts-quota limits",
                             value=len(steps), time=moment)
    if not wanted:
        return hard, None
    summary = f"hard limits match [quota] for {len(found.plan.wanted)} person(s)"
    if found.plan.refusals:
        summary += "; none for " + ", ".join(name for name, _ in found.plan.refusals) + \
            " (data from before simple quotas, which they never count)"
    return hard, Finding(grace.TOOL, "limits", storage, Severity.OK, summary,
                         value=len(found.plan.wanted), time=moment)


def _iso(epoch):
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _trusted(state, storage):
    """Subvolume ids `ts-quota enable` found empty, for this very filesystem only."""
    record = state.get("squota")
    if not isinstance(record, dict):
        return frozenset()
    try:
        from trainserver.quota import squota

        if record.get("fsid") != squota.fsid(storage):
            return frozenset()
    except OSError:
        return frozenset()
    return frozenset(i for i in record.get("trusted", ()) if isinstance(i, int))


@cli.command("report")
@core_cli.reports(core_cli.CHECK, job="quota")
@_now_option
@_workers_option
@click.pass_obj
def report_command(tool, as_json, now, workers):
    """Measure every person's usage, apply the grace rule, and print the table.

    The table has user, home, workspace, total, limit and since when the person has been over
    the limit (with the days of grace left). With --json it prints findings for ts-alert
    instead: one per person (tool quota, check usage, subject the name; ok during the grace
    period, [quota] severity after it), one for the walk with its duration, and warnings about
    how usage is measured (full qgroups found on). With [quota] hard_limit = true (or hard
    limits of ts-quota's still in the kernel) the table has a HARD LIMIT column, and a finding
    (check limits) says whether the kernel's limits match the config: a warning "hard limits
    not applied ... run ts-quota limits" until they do, also when simple quotas are off.
    trainserver_quota.prom is written for node-exporter (bytes per person and kind, limit,
    hard limit, over-limit-since, grace days left, walk duration). Two reports never overlap (the quota lock); no lock of the backup or the
    snapshots is taken. Quotas are never switched on here.
    """
    from trainserver.core import checks
    from trainserver.core.checks import CHECK_LOCK_WAIT
    from trainserver.quota import report

    now = _now(now)
    with tool.lock("quota", wait=CHECK_LOCK_WAIT):
        findings, doc = _run_report(tool, now, workers)
    if as_json or doc is None:
        return checks.report(findings, as_json)
    from trainserver.core.findings import Severity, exit_status

    click.echo(report.render_table(doc["people"]), nl=False)
    click.echo(report.describe(doc))
    for finding in findings:
        if finding.severity != Severity.OK and finding.check != "usage":
            click.echo(f"{finding.severity.label.upper()}: {finding.summary}")
    return exit_status(findings)


@cli.command()
@core_cli.json_option
@click.pass_obj
def show(tool, as_json):
    """Print the table of the last report (from the state; nothing is measured)."""
    import json

    from trainserver.quota import report

    doc = _last(tool)
    if doc is None:
        raise click.UsageError("no report yet: run ts-quota report first")
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        click.echo(report.render_table(doc["people"]), nl=False)
        click.echo(report.describe(doc))
    return core_cli.EXIT_OK


def _last(tool):
    state = tool.state_file("quota").load({})
    doc = state.get("last_report") if isinstance(state, dict) else None
    return doc if isinstance(doc, dict) and isinstance(doc.get("people"), list) else None


@cli.command()
@_now_option
@_workers_option
@click.pass_obj
def digest(tool, now, workers):
    """Print the monthly usage message: a title line, then the table.

    ts-quota-digest.timer runs `ts-alert notice --queue-only -- ts-quota digest` on the 1st
    of each month, which sends this text as one message (the manual's monthly quota
    reminder); it opens no problem. The last daily report's table is used when it is younger
    than [quota] max_age; otherwise usage is measured now (as ts-quota report does).
    """
    from trainserver.core.checks import CHECK_LOCK_WAIT
    from trainserver.core.errors import ActionError
    from trainserver.quota import report

    now = _now(now)
    doc = _last(tool)
    max_age = tool.config["quota"]["max_age"]
    if doc is None or not isinstance(doc.get("time"), (int, float)) or \
            now - doc["time"] > (max_age or float("inf")) or doc["time"] > now:
        with tool.lock("quota", wait=CHECK_LOCK_WAIT):
            findings, doc = _run_report(tool, now, workers)
        if doc is None:
            raise ActionError(findings[0].summary)
    click.echo(report.digest_text(doc), nl=False)
    return core_cli.EXIT_OK


@cli.command()
@core_cli.reports(core_cli.ACTION)
@core_cli.dry_run_option
@click.option("--yes", is_flag=True, help="Really switch simple quotas on.")
@click.option("--btrfs-features", "features_dir", default=FEATURES_DIR, hidden=True,
              help="The kernel's BTRFS features directory (tests simulate an older kernel).")
@click.pass_obj
def enable(tool, as_json, dry_run, yes, features_dir):
    """Switch BTRFS simple quotas on for [paths] storage (never full qgroups).

    Refused where the kernel has no simple quotas (no /sys/fs/btrfs/features/simple_quota:
    kernels before 6.7, such as Debian 12's 6.1), and where full qgroups are on. Simple quotas
    count data from the moment they are switched on, so a person's subvolume that already
    holds data keeps being walked; subvolumes that are empty right after the switch (and every
    subvolume made later) are read from their quota. Those found empty are recorded in
    /var/lib/trainserver/quota.json. Switching them off again: `btrfs quota disable STORAGE`
    (btrfs-progs 6.7 or later also shows them: btrfs qgroup show). Needs --yes; with
    --dry-run it says what it would do. Running it again changes nothing.
    """
    import os

    from trainserver.core import checks
    from trainserver.core import people as people_module
    from trainserver.core.errors import ActionError
    from trainserver.core.findings import Finding, Severity
    from trainserver.quota import measure, squota

    storage = tool.config["paths"]["storage"]
    try:
        fs_dir, current = squota.usable(storage, features_dir)
    except squota.Unavailable as exc:
        raise ActionError(f"{exc}; usage keeps being measured by walking the files") from None

    def subvolumes():
        found = []
        for person in people_module.from_config(tool.config):
            for relative in (person.home, person.workspace):
                path = os.path.join(storage, relative)
                if os.path.isdir(path):
                    found.extend(measure._subvolumes(path))
        return found

    if current == squota.SIMPLE:
        message = f"simple quotas are already on for {storage}: nothing to change"
        click.echo(message, err=as_json)
        return checks.report([Finding(TOOL, "enable", storage, Severity.OK, message)],
                             as_json) if as_json else core_cli.EXIT_OK
    if dry_run:
        click.echo(f"would switch BTRFS simple quotas on for {storage}; the people's "
                   f"subvolumes that hold data then ({len(subvolumes())} exist now) keep "
                   f"being walked", err=as_json)
        return core_cli.EXIT_OK
    if not yes:
        raise click.UsageError("switching quotas on changes the filesystem: add --yes "
                               "(or --dry-run to see what it would do)")
    state_file = tool.state_file("quota")
    with tool.lock("quota", wait=0):
        squota.enable(storage)
        if squota.mode(fs_dir) != squota.SIMPLE:
            raise ActionError(f"simple quotas did not come on for {storage} "
                              f"(/sys/fs/btrfs/.../qgroups/mode is not squota)")
        # Empty after the switch: everything in it will be written later, and counted.
        trusted, walked = [], []
        for path, subvolume_id, _ in subvolumes():
            (trusted if _empty(path) else walked).append((path, subvolume_id))
        state = state_file.load({})
        state = state if isinstance(state, dict) else {}
        state["squota"] = {"fsid": squota.fsid(storage),
                           "enable_generation": squota.enable_generation(storage),
                           "trusted": [i for _, i in trusted]}
        state_file.save(state)
    message = (f"simple quotas switched on for {storage}; {len(trusted)} empty subvolume(s) "
               f"read from their quota, {len(walked)} that already hold data keep being walked"
               + (": " + ", ".join(os.path.relpath(p, storage) for p, _ in walked)
                  if walked else ""))
    click.echo(message, err=as_json)
    if as_json:
        return checks.report([Finding(TOOL, "enable", storage, Severity.OK, message)], True)
    return core_cli.EXIT_OK


@cli.command()
@core_cli.reports(core_cli.ACTION)
@core_cli.dry_run_option
@click.option("--btrfs-features", "features_dir", default=FEATURES_DIR, hidden=True,
              help="The kernel's BTRFS features directory (tests simulate an older kernel).")
@click.pass_obj
def limits(tool, as_json, dry_run, features_dir):
    """Make the kernel's hard limits what [quota] hard_limit says.

    \b
    With hard_limit = true, for each person of [users]:
    - a level-1 qgroup 1/UID is created (or taken over) for the person;
    - the qgroups (0/ID) of their home, their workspace and every subvolume nested in them
      are put in it, and any other member is taken out;
    - it is limited (max_referenced) to the person's quota_limit, else [quota] user_limit.
    Subvolumes created later inside a home or workspace join the qgroup by themselves; one
    moved in from elsewhere, and a person added later, need another run (ts-quota report
    warns until then). A person already over the limit is a warning: their writes fail until
    they free space.

    \b
    Refused:
    - everything, where simple quotas are not on (run ts-quota enable first), the kernel has
      none, or full qgroups are on;
    - for one person (the others get theirs): a home or workspace that is a plain directory,
      or a subvolume that held data before simple quotas were switched on (they never count
      it, so the limit would be too lenient by that much). To give such a person a hard
      limit, copy their data (cp --reflink=never) into new subvolumes.

    With hard_limit = false, and for people no longer in [users], the qgroups ts-quota made
    (recorded in /var/lib/trainserver/quota.json) are taken apart: members out, qgroup and
    limit removed. Qgroups ts-quota did not make are left alone. With --dry-run it says what
    it would change; a second run says "nothing to change". `btrfs qgroup show -prce STORAGE`
    shows the result (btrfs-progs 6.2 reads simple quotas' qgroups too).
    """
    from trainserver.core import checks
    from trainserver.core import people as people_module
    from trainserver.core.errors import ActionError
    from trainserver.core.findings import Finding, Severity
    from trainserver.quota import enforce

    config = tool.config
    storage = config["paths"]["storage"]
    people = people_module.from_config(config)
    state_file = tool.state_file("quota")
    with tool.lock("quota", wait=0):
        state = state_file.load({})
        state = state if isinstance(state, dict) else {}
        try:
            found = enforce.survey(config, people, state, _trusted(state, storage),
                                   features_dir)
        except enforce.Unavailable as exc:
            raise ActionError(f"no hard limits: {exc}") from None
        if found is None:
            message = ("hard limits are off ([quota] hard_limit = false) and simple quotas "
                       "are not on: nothing to change")
            click.echo(message, err=as_json)
            return checks.report([Finding(TOOL, "limits", storage, Severity.OK, message)],
                                 True) if as_json else core_cli.EXIT_OK
        plan = found.plan
        done, failed = [], None
        kept = dict(found.recorded)
        if not dry_run:
            try:
                for step in plan.steps:
                    enforce.carry_out(storage, step)
                    done.append(step)
                    if step.action == "destroy":
                        kept.pop(step.qgroup, None)
                    else:
                        kept[step.qgroup] = step.subject
                    if not as_json:
                        click.echo(f"- {step.title}")
            except OSError as exc:
                failed = (step, exc)
            finally:
                # What ts-quota made is recorded even when a step failed, so that a later run
                # can take it apart.
                for qgroup, name in plan.wanted.items():
                    if qgroup in kept or failed is None:
                        kept[qgroup] = name
                enforce.record(state, found.fsid, kept)
                state_file.save(state)
    findings = _limits_findings(plan, done, failed, dry_run, storage, config, people)
    if as_json:
        return checks.report(findings, True)
    if dry_run:
        for step in plan.steps:
            click.echo(f"would {step.title}")
    for name, text in plan.notes:
        click.echo(f"note: {name}: {text}")
    for name, text in plan.warnings:
        click.echo(f"warning: {name}: {text}")
    for name, text in plan.refusals:
        click.echo(f"refused: {name}: {text}")
    if failed is not None:
        click.echo(f"failed: {failed[0].title}: {failed[1].strerror or failed[1]}")
    elif not plan.steps:
        click.echo("nothing to change: the kernel's hard limits match [quota]"
                   if config["quota"]["hard_limit"] else
                   "nothing to change: hard limits are off and none of ts-quota's are left")
    elif not dry_run:
        click.echo(f"done: {len(done)} change(s)")
    from trainserver.core.findings import exit_status

    return exit_status(findings)


def _limits_findings(plan, done, failed, dry_run, storage, config, people):
    """One finding per person (and per removed qgroup's owner): refused or failed (critical),
    over the limit already (warning), or what changed."""
    from trainserver.core.findings import Finding, Severity

    changes = {}
    for step in (plan.steps if dry_run else done):
        changes.setdefault(step.subject, []).append(("would " if dry_run else "") + step.title)
    subjects = list(dict.fromkeys([*people.names(), *changes]))
    refused, warned, noted = dict(plan.refusals), {}, dict(plan.notes)
    for name, text in plan.warnings:
        warned.setdefault(name, []).append(text)
    findings = []
    if failed is not None:
        step, exc = failed
        refused[step.subject] = (f"the kernel refused to {step.title}: "
                                 f"{exc.strerror or exc}")
    for subject in subjects:
        text = "; ".join(changes.get(subject, [])) or "nothing to change"
        if subject in noted:
            text += f" ({noted[subject]})"
        if subject in refused:
            findings.append(Finding(TOOL, "limits", subject, Severity.CRITICAL,
                                    f"no hard limit: {refused[subject]}"))
        elif subject in warned:
            findings.append(Finding(TOOL, "limits", subject, Severity.WARNING,
                                    "; ".join(warned[subject]) + f" ({text})"))
        elif subject in changes or subject in noted or config["quota"]["hard_limit"]:
            findings.append(Finding(TOOL, "limits", subject, Severity.OK, text,
                                    value=len(changes.get(subject, []))))
    if not findings:
        findings.append(Finding(TOOL, "limits", storage, Severity.OK,
                                "hard limits are off: nothing to change"))
    return findings


def _empty(path):
    """True when the subvolume holds nothing of its own (nested subvolumes apart)."""
    import os

    with os.scandir(path) as entries:
        for entry in entries:
            if not (entry.is_dir(follow_symlinks=False) and
                    entry.inode() == 256 and entry.stat(follow_symlinks=False).st_dev !=
                    os.stat(path).st_dev):
                return False
    return True


def main():
    core_cli.main(cli)
