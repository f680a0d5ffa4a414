"""ts-users: accounts, subvolumes and SSH keys of the people in [users]; sshd hardening."""

import sys

import click

from trainserver.core import cli as core_cli
from trainserver.users import TOOL

LOCK = "users"
STATE_NAME = "users"

EXIT_STATUS = {
    1: "apply: done, with a warning (a person without a key, sshd not reloaded, an sshd "
       "setting overridden); list: an account differs from [users]",
    2: "apply and remove: refused (the reasons are printed, nothing was changed), a step "
       "failed (what was done stays done, and a re-run resumes there), or sshd -t refused "
       "the config (sshd was not reloaded)",
}


@core_cli.tool_group(TOOL, exit_status=EXIT_STATUS)
def cli():
    """The people of [users]: their accounts, subvolumes and SSH keys, and sshd's hardening.

    [users] is the one list of people on this server. For each person `ts-users apply` makes
    a Linux account (uid from [users], its own group, the shared group [users] group, sudo
    when sudo = true, the extra groups (docker by default), password locked: SSH keys only)
    with its home at [paths] storage/homes/NAME, and the person's subvolumes: homes/NAME,
    workspaces/NAME, tensorboard/NAME and docker-volumes/NAME-state (the same ones
    ts-storage makes), and ~/.ssh/authorized_keys from the keys in [users]. `ts-users remove`
    locks an account and snapshots its subvolumes; `ts-users list` shows how the accounts
    compare with [users].

    The package ships /etc/ssh/sshd_config.d/ml-train-server.conf: SSH keys only, no
    password or keyboard-interactive login, no root login, PAM on (key logins into accounts
    with a locked password need it). apply validates sshd's config with `sshd -t` before it
    reloads ssh.service, and never reloads a config sshd refuses.

    --root DIR works on the accounts of the system image at DIR (etc/passwd, etc/group,
    etc/shadow, etc/gshadow under DIR), as `useradd --root` does; the storage paths stay
    those of [paths] storage, and sshd is then checked at DIR/etc/ssh but never reloaded.
    """


_root_option = click.option(
    "--root", "root", metavar="DIR", default="/", show_default=True,
    type=click.Path(exists=True, file_okay=False),
    help="Work on the accounts of the system image at DIR, as useradd --root does; the "
         "storage paths stay those of [paths] storage.")


def _people(tool):
    from trainserver.core import people

    return people.from_config(tool.config)


def _storage(tool):
    return tool.config["paths"]["storage"]


def _root_args(root):
    from trainserver.core import accounts

    return accounts.root_args(root)


def _print_plan(plan, verb="to do"):
    from trainserver.core.commands import format_argv

    for step in plan.steps:
        click.echo(f"- {verb}: {step.title}")
        if step.command:
            click.echo(f"    $ {format_argv(step.command)}")
    _print_messages(plan)


def _print_messages(plan, refusals=True, notes=True):
    for subject, message in plan.notes if notes else ():
        click.echo(f"note: {subject}: {message}")
    for subject, message in plan.warnings:
        click.echo(f"warning: {subject}: {message}")
    if refusals:
        for subject, message in plan.refusals:
            click.echo(f"refused: {subject}: {message}")


def _announce(as_json):
    def announce(step):
        if not as_json:
            from trainserver.core.commands import format_argv

            click.echo(f"- {step.title}")
            if step.command:
                click.echo(f"    $ {format_argv(step.command)}")

    return announce


def _findings(plan, ran, subjects, dry_run=False):
    """One finding per subject: refused (critical), warned, or what changed."""
    from trainserver.core.findings import Finding, Severity

    done = {}
    for step in ran:
        done.setdefault(step.subject, []).append(step.title)
    if dry_run:
        for step in plan.steps:
            done.setdefault(step.subject, []).append(f"would {step.title}")
    refused, warned = {}, {}
    for subject, message in plan.refusals:
        refused.setdefault(subject, []).append(message)
    for subject, message in plan.warnings:
        warned.setdefault(subject, []).append(message)
    findings = []
    for subject in subjects:
        if subject in refused:
            findings.append(Finding(TOOL, "apply", subject, Severity.CRITICAL,
                                    "refused: " + "; ".join(refused[subject])))
            continue
        changes = done.get(subject, [])
        text = "; ".join(changes) if changes else "nothing to change"
        if subject in warned:
            findings.append(Finding(TOOL, "apply", subject, Severity.WARNING,
                                    "; ".join(warned[subject]) + f" ({text})",
                                    value=len(changes)))
        elif changes or subject != "users":
            findings.append(Finding(TOOL, "apply", subject, Severity.OK, text,
                                    value=len(changes)))
    return findings


def _sshd_finding(tool, people, plan, root, sshd_path, sshd_config, dry_run):
    """Validate sshd's config, reload it when that is safe and needed; the finding."""
    import os

    from trainserver.core.findings import Finding, Severity
    from trainserver.users import sshd

    image = os.path.realpath(root) != "/"
    config = sshd_config or (os.path.join(root, sshd.SSHD_CONFIG.lstrip("/")) if image
                             else sshd.SSHD_CONFIG)
    found = sshd.check(sshd_path or sshd.SSHD, config)
    if not found.installed:
        return Finding(TOOL, "sshd", "sshd", Severity.WARNING,
                       f"openssh-server is not installed ({sshd_path or sshd.SSHD} or {config} "
                       f"missing): sshd not checked, not reloaded")
    if found.skipped:
        return Finding(TOOL, "sshd", "sshd", Severity.OK, found.skipped)
    if not found.valid:
        return Finding(TOOL, "sshd", "sshd", Severity.CRITICAL,
                       f"sshd -t refuses the config: {found.message}; not reloaded: the "
                       f"running sshd keeps its old config. Fix the file it names, then run "
                       f"ts-users apply again")
    problems = sshd.setting_problems(found.effective, found.conffile)
    if not found.conffile_present:
        problems.insert(0, f"{found.conffile} is missing (restore it: apt-get install "
                           f"--reinstall -o Dpkg::Options::=--force-confmiss trainserver)")
    sudoers = [p for p in people if p.sudo and plan.keys.get(p.name)]
    state_file = tool.state_file(STATE_NAME)
    state = state_file.load({})
    state = state if isinstance(state, dict) else {}
    systemd = sshd.systemd_running()
    reload, why = sshd.reload_decision(found, not sudoers, state.get("sshd_fingerprint"),
                                       systemd, systemd and not image and sshd.active(), image)
    if reload and not dry_run:
        sshd.reload()
        state["sshd_fingerprint"] = found.fingerprint
        state_file.save(state)
        why = f"reloaded {sshd.UNIT}: its config changed"
    elif reload:
        why = f"would {why}"
    if not sudoers:
        problems.append(why)
    severity = Severity.WARNING if problems else Severity.OK
    summary = "; ".join(problems) if problems else f"config valid (sshd -t); {why}"
    return Finding(TOOL, "sshd", "sshd", severity, summary)


@cli.command()
@core_cli.reports(core_cli.ACTION)
@core_cli.dry_run_option
@_root_option
@click.option("--sshd", "sshd_path", metavar="PATH", hidden=True,
              help="The sshd program (tests).")
@click.option("--sshd-config", "sshd_config", metavar="PATH", hidden=True,
              help="sshd's main config file (tests).")
@click.pass_obj
def apply(tool, as_json, dry_run, root, sshd_path, sshd_config):
    """Make the accounts, subvolumes and SSH keys of [users] what [users] says, then check
    and reload sshd.

    \b
    For each person, in this order:
    - the account: created with useradd (uid, its own group, home [paths] storage/homes/NAME
      without copying /etc/skel, shell, groups); an account of the same name and uid is
      adopted and brought in line (home, shell, groups); the password is locked ("!" in
      /etc/shadow): SSH keys only. An account that ts-users remove expired is unexpired;
    - groups: the shared [users] group (created with groupadd --system when missing), sudo
      when sudo = true, the extra groups (docker by default). ts-users takes a person out of
      the groups it manages (the shared group, sudo, the extra groups of [users]) when
      [users] no longer names them, e.g. from sudo when sudo = false; other groups are left
      alone;
    - the subvolumes homes/NAME (0700), workspaces/NAME (0700), tensorboard/NAME (0750, so a
      TensorBoard container run as the person can read it) and docker-volumes/NAME-state
      (0700), owned by the person and the person's group. The mode is set when ts-users
      creates a subvolume or takes it over from root (ts-storage makes them root's while the
      account does not exist); later a person's own chmod stays, except that nobody else may
      write into a home (sshd would refuse the keys);
    - ~/.ssh (0700) and ~/.ssh/authorized_keys (0600), written atomically: the keys of
      ssh_keys and of ssh_keys_file between two marker lines; lines outside them are the
      person's own and stay.

    \b
    Refused, before anything changes:
    - [paths] storage is not a mounted BTRFS with homes/, workspaces/, tensorboard/ and
      docker-volumes (run ts-storage apply first);
    - an account of the person's name with another uid, or the uid held by another name
      (Ubuntu's installer gives uid 1000 to the first account);
    - a group of [users] that does not exist (docker: install docker.io first);
    - a plain directory, file or link where a subvolume, ~/.ssh or authorized_keys should be;
    - a key line that is not an SSH public key; an ssh_keys_file not owned by root or
      writable by others.

    Then sshd: `sshd -t` validates /etc/ssh/sshd_config with everything it includes, and
    `sshd -T` shows what sshd would really do: a setting of ml-train-server.conf that an
    earlier file overrides is a warning. ssh.service is reloaded only when its effective
    config changed since ts-users last reloaded it, and never when sshd -t fails (exit 2:
    the running sshd keeps its old config) or when no person with sudo = true has a key (a
    keys-only sshd without root login would lock the admin out: warning, not reloaded).
    A second run changes nothing and says so.
    """
    from trainserver.core.checks import report
    from trainserver.users import execute, facts as facts_module, plan as plans

    people = _people(tool)
    storage = _storage(tool)
    root_args = _root_args(root)

    def replan():
        return plans.make(people, facts_module.gather(people, storage, root), root_args)

    subjects = ["users", *people.names()]
    with tool.lock(LOCK):
        first = replan()
        if dry_run or first.refusals:
            if not as_json:
                _print_plan(first, "would")
                if not first.steps and not first.refusals:
                    click.echo("nothing to change: the accounts, subvolumes and keys match "
                               "[users]")
            findings = _findings(first, [], subjects, dry_run=True)
            if first.refusals:
                if not as_json:
                    click.echo("refused: nothing was changed")
                return report(findings, as_json) if as_json else core_cli.EXIT_CRITICAL
        else:
            try:
                ran, final = execute.carry_out(replan, storage, _announce(as_json))
            except execute.Refused as refused:  # the facts changed under the run
                if not as_json:
                    _print_messages(refused.plan)
                return report(_findings(refused.plan, refused.ran, subjects), as_json) \
                    if as_json else core_cli.EXIT_CRITICAL
            if not as_json:
                _print_messages(final, refusals=False, notes=not ran)
                click.echo(f"done: {len(ran)} change(s)" if ran else
                           "nothing to change: the accounts, subvolumes and keys match "
                           "[users]")
            findings = _findings(final, ran, subjects)
            first = final
            _forget_removals(tool, people.names())
        findings.append(_sshd_finding(tool, people, first, root, sshd_path, sshd_config,
                                      dry_run))
    return _report(findings, as_json)


def _forget_removals(tool, names):
    """A person back in [users] is no longer removed: a later remove snapshots afresh."""
    state_file = tool.state_file(STATE_NAME)
    state = state_file.load({})
    removals = state.get("removals", {}) if isinstance(state, dict) else {}
    if any(name in removals for name in names):
        state["removals"] = {k: v for k, v in removals.items() if k not in names}
        state_file.save(state)


def _report(findings, as_json):
    from trainserver.core import findings as findings_module
    from trainserver.core.checks import report

    if as_json:
        return report(findings, as_json)
    for finding in findings:  # the rest was printed as the steps ran
        if finding.subject == "sshd":
            click.echo(f"{finding.severity.label}: {finding.subject}: {finding.summary}")
    return findings_module.exit_status(findings)


@cli.command()
@core_cli.reports(core_cli.ACTION)
@core_cli.dry_run_option
@_root_option
@click.argument("user")
@click.option("--delete-data", is_flag=True,
              help="Also delete the person's subvolumes, each only after its snapshot is "
                   "verified read-only and current. Needs --yes.")
@click.option("--yes", is_flag=True, help="Confirm --delete-data.")
@click.pass_obj
def remove(tool, as_json, dry_run, root, user, delete_data, yes):
    """Lock USER's account and snapshot USER's subvolumes, leaving the data in place.

    USER must already be out of [users] (else the next apply would bring the account back).
    The account is locked (password locked, and expired, so that SSH keys stop working too:
    a locked password alone does not stop a key login) but not deleted, so that the files
    keep their owner; processes USER still runs are not stopped. Each of USER's subvolumes
    (homes/USER, workspaces/USER, tensorboard/USER, docker-volumes/USER-state, and any
    subvolume nested in them) is snapshotted read-only to
    [paths] storage/[snapshot] snapshot_dir/SUBVOLUME/UTC-TIME, the naming ts-snapshot uses.
    ts-snapshot lists them as this removal's keepsakes and never prunes them nor deletes them
    for space: delete one by hand (`btrfs subvolume delete`) when it is no longer needed.

    With --delete-data --yes the subvolumes are then deleted, each only once its snapshot
    exists, is read-only and holds the subvolume's current state. A re-run changes nothing.
    """
    import datetime as dt

    from trainserver.snapshot import naming
    from trainserver.users import execute, facts as facts_module, plan as plans

    if delete_data and not yes and not dry_run:
        raise click.UsageError("--delete-data deletes USER's subvolumes after snapshotting "
                               "them: add --yes to confirm (or --dry-run to see the plan)")
    people = _people(tool)
    storage = _storage(tool)
    snapshot_dir = tool.config["snapshot"]["snapshot_dir"].strip("/")
    root_args = _root_args(root)
    state_file = tool.state_file(STATE_NAME)

    def recorded():
        state = state_file.load({})
        return (state.get("removals", {}) if isinstance(state, dict) else {}).get(user, {})

    def replan():
        name = naming.name_for(dt.datetime.now(dt.timezone.utc))
        found = facts_module.gather_removal(user, storage, snapshot_dir, root, recorded())
        return plans.removal(user, people, found, snapshot_dir, name, delete_data, root_args)

    def record(step):
        if step.action != "snapshot":
            return
        import os

        state = state_file.load({})
        state = state if isinstance(state, dict) else {}
        state.setdefault("removals", {}).setdefault(user, {})[step.path] = \
            os.path.basename(step.target)
        state_file.save(state)

    with tool.lock(LOCK):
        first = replan()
        if dry_run or first.refusals:
            if not as_json:
                _print_plan(first, "would")
                if first.refusals:
                    click.echo("refused: nothing was changed")
                elif not first.steps:
                    click.echo(f"nothing to change: {user} is locked and snapshotted")
            findings = _findings(first, [], [user], dry_run=True)
            return _report(findings, as_json) if as_json else (
                core_cli.EXIT_CRITICAL if first.refusals else core_cli.EXIT_OK)
        try:
            ran, final = execute.carry_out(replan, storage, _announce(as_json), after=record)
        except execute.Refused as refused:
            if not as_json:
                _print_messages(refused.plan)
            return _report(_findings(refused.plan, refused.ran, [user]), as_json) \
                if as_json else core_cli.EXIT_CRITICAL
    if not as_json:
        _print_messages(final, refusals=False, notes=not ran)
        click.echo(f"done: {len(ran)} change(s)" if ran else
                   f"nothing to change: {user} is locked and snapshotted")
    return _report(_findings(final, ran, [user]), as_json) if as_json else core_cli.EXIT_OK


def _rows(people, facts, plan):
    import os

    from trainserver.users import keys as keys_module

    by_name = {a.name: a for a in facts.accounts}
    by_gid = {g.gid: g.name for g in facts.groups}
    rows = []
    for person in people:
        account = by_name.get(person.name)
        groups = []
        if account is not None:
            groups = [by_gid.get(account.gid, str(account.gid))] + sorted(
                g.name for g in facts.groups if person.name in g.members)
        managed, own = keys_module.counts(facts.authorized.get(person.name))
        differences = [s.title for s in plan.of(person.name)] + \
            [m for s, m in plan.refusals if s in (person.name, "users")]
        shadow = facts.shadow.get(person.name)
        rows.append({
            "name": person.name, "uid": person.uid,
            "account_uid": account.uid if account else None,
            "groups": groups, "keys": managed, "own_keys": own,
            "home": os.path.join(facts.storage, person.home),
            "workspace": os.path.join(facts.storage, person.workspace),
            "locked": bool(shadow and shadow.locked),
            "in_config": True, "matches": not differences, "differences": differences})
    configured = set(people.names())
    members = {m for g in facts.groups if g.name == people.group for m in g.members}
    for name in sorted(members - configured):
        account = by_name.get(name)
        shadow = facts.shadow.get(name)
        removed = bool(shadow and shadow.locked and shadow.expired(facts.today))
        rows.append({
            "name": name, "uid": account.uid if account else None,
            "account_uid": account.uid if account else None,
            "groups": sorted(g.name for g in facts.groups if name in g.members),
            "keys": None, "own_keys": None, "home": account.home if account else None,
            "workspace": None, "locked": removed, "in_config": False, "matches": removed,
            "differences": [] if removed else [
                f"{name} is in group {people.group} but not in [users], and can still log "
                f"in: ts-users remove {name}"]})
    return rows


@cli.command(name="list")
@core_cli.json_option
@_root_option
@click.pass_obj
def list_(tool, as_json, root):
    """Show each person of [users]: uid, groups, SSH keys (in ts-users's block, and the
    person's own), home, workspace, and whether the account matches [users] (what apply
    would change, or refuse, is listed under it). Accounts in the shared group that [users]
    no longer names are shown too: a removed (locked and expired) one matches. Changes
    nothing. Exit 0 when everything matches, 1 when something differs (run ts-users apply)."""
    import json

    from trainserver.users import facts as facts_module, plan as plans

    people = _people(tool)
    storage = _storage(tool)
    found = facts_module.gather(people, storage, root)
    rows = _rows(people, found, plans.make(people, found, _root_args(root)))
    if as_json:
        json.dump({"people": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        header = ("NAME", "UID", "GROUPS", "KEYS", "HOME", "WORKSPACE", "MATCHES")
        table = [header] + [(
            row["name"], str(row["uid"]), ",".join(row["groups"]) or "-",
            "-" if row["keys"] is None else f"{row['keys']}+{row['own_keys']}",
            row["home"] or "-", row["workspace"] or "-",
            ("yes" if row["matches"] else "no") if row["in_config"] else
            ("removed" if row["matches"] else "not in [users]"))
            for row in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        for line in table:
            click.echo("  ".join(cell.ljust(width) for cell, width in
                                 zip(line, widths)).rstrip())
        for row in rows:
            for difference in row["differences"]:
                click.echo(f"{row['name']}: {difference}")
        if not rows:
            click.echo("nobody in [users]")
    return core_cli.EXIT_OK if all(row["matches"] for row in rows) else core_cli.EXIT_WARNING


def main():
    core_cli.main(cli)
