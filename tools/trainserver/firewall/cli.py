"""ts-firewall: UFW and fail2ban at the server's edge, and Docker's published ports."""

import click

from trainserver.core import cli as core_cli
from trainserver.core.checks import CHECK_EXIT_STATUS
from trainserver.firewall import TOOL

# An apply waits this long for another apply; a check this long for another check.
APPLY_LOCK_WAIT = 300

EXIT_STATUS = {
    **CHECK_EXIT_STATUS,
    2: "check: at least one critical finding; apply: refused (the lockout guard, a jail file "
       "fail2ban rejects) or could not be done, and nothing after the failure was changed",
    3: "check: unknown (could not check); apply and plan: [firewall] lan_networks is empty, "
       "or another config or usage error",
}


def _log():
    import logging

    return logging.getLogger(__name__)


@core_cli.tool_group(TOOL, exit_status=EXIT_STATUS)
def cli():
    """Configure and check the host firewall (UFW), fail2ban's sshd jail, and Docker's ports.

    What is wanted comes from [firewall] in the config: incoming traffic denied, outgoing
    allowed; SSH ([firewall] ssh_port) and Traefik ([firewall] web_ports), tcp, allowed only from
    each of [firewall] lan_networks; nothing else added. ts-firewall's rules carry the ufw
    comment "trainserver"; rules anyone else added are left alone and named.

    Docker publishes container ports with iptables rules of its own that UFW never sees, so
    `check` lists every published port and reports any bound beyond the LAN.
    """


def _settings(tool):
    """[firewall] with its networks checked; a config gap is a config error (exit 3)."""
    from trainserver.core.errors import ConfigError
    from trainserver.firewall import plan

    config = tool.config
    problems = plan.config_problems(config)
    if problems:
        raise ConfigError([f"{tool.config_path}: {p}" for p in problems])
    return config["firewall"]


def _require_lan(tool, settings):
    from trainserver.core.errors import ConfigError

    if not settings["lan_networks"]:
        raise ConfigError([
            f"{tool.config_path}: [firewall] lan_networks: empty, so there is no LAN to allow "
            "SSH and the web ports from; name it (for example lan_networks = "
            "[\"192.168.1.0/24\"]) and run ts-firewall apply again"])


class _Prepared:
    """Everything apply would do, worked out before anything is changed."""

    def __init__(self, settings, state, ufw_plan, verdict, jail_text, old_jail):
        self.settings = settings
        self.state = state
        self.ufw_plan = ufw_plan
        self.verdict = verdict  # None when the firewall is not changed
        self.jail_text = jail_text
        self.old_jail = old_jail

    @property
    def jail_changed(self):
        return self.jail_text != self.old_jail


def _prepare(tool, settings):
    import os

    from trainserver.core.errors import ActionError, CommandError
    from trainserver.firewall import fail2ban, guard, plan, system

    try:
        state = system.ufw_state()
    except CommandError as exc:
        if system.missing_program(exc):
            raise ActionError("ufw is not installed: apt-get install ufw") from None
        raise
    ufw_plan = plan.plan_ufw(plan.wanted_rules(settings), state.status, state.policies,
                             state.added)
    verdict = None
    if ufw_plan.changed:
        session = guard.find_session(os.environ, os.getpid(), system.parent_of,
                                     system.environ_of, system.name_of)
        verdict = guard.judge(session, plan.networks(settings["lan_networks"]),
                              settings["ssh_port"], tool.config_path)
    return _Prepared(settings, state, ufw_plan, verdict, fail2ban.jail_text(settings),
                     system.read_jail())


def _show(prepared, dry_run, out=click.echo):
    """Print what apply does (or would do, under --dry-run)."""
    from trainserver.core.commands import format_argv

    ufw_plan = prepared.ufw_plan
    if prepared.verdict is not None:
        out(f"lockout guard: {prepared.verdict.message}")
    if ufw_plan.changed:
        count = len(ufw_plan.steps)
        out(f"ufw: {count} change{'s' if count != 1 else ''}{' (dry run: none made)' if dry_run else ''}")
        for what, argv in ufw_plan.steps:
            out(f"  {what}\n    {'would run' if dry_run else 'run'}: {format_argv(argv)}")
    else:
        out(f"ufw: nothing to change (active, incoming denied, {len(ufw_plan.present)} LAN "
            "rules present)")
    for rule in ufw_plan.foreign:
        out(f"  note: rule not added by ts-firewall, left alone: {rule.describe()}")


def _jail_diff(prepared):
    import difflib

    from trainserver.firewall import fail2ban

    old = (prepared.old_jail or "").splitlines(keepends=True)
    new = prepared.jail_text.splitlines(keepends=True)
    return "".join(difflib.unified_diff(old, new, fail2ban.JAIL_FILE + (" (now)" if old else " (absent)"),
                                        fail2ban.JAIL_FILE + " (new)"))


@cli.command()
@click.pass_obj
def plan(tool):
    """Show what `ts-firewall apply` would change, and change nothing.

    Reads ufw's rules (`ufw show added`), its state and policies, and the fail2ban jail file,
    and prints each ufw command apply would run, the jail file's difference, and what the
    lockout guard would say. Rules ts-firewall did not add are named as notes.
    """
    from trainserver.firewall import fail2ban

    settings = _settings(tool)
    _require_lan(tool, settings)
    prepared = _prepare(tool, settings)
    _show(prepared, dry_run=True)
    if prepared.verdict is not None and not prepared.verdict.allowed:
        click.echo("apply would refuse (see the lockout guard above)")
    if prepared.jail_changed:
        click.echo(f"fail2ban: {fail2ban.JAIL_FILE} would be written:")
        click.echo(_jail_diff(prepared), nl=False)
    else:
        click.echo(f"fail2ban: {fail2ban.JAIL_FILE} is up to date")
    return core_cli.EXIT_OK


@cli.command()
@core_cli.dry_run_option
@click.pass_obj
def apply(tool, dry_run):
    """Configure UFW and fail2ban's sshd jail from [firewall]; idempotent.

    UFW: adds each missing LAN rule (`ufw allow from NET to any port P proto tcp comment
    trainserver`), sets the default policies (`ufw default deny incoming`, `ufw default allow
    outgoing`), deletes ts-firewall's own rules that are no longer wanted (a network removed
    from lan_networks), and enables the firewall (`ufw --force enable`). New rules go in
    before anything is taken away.

    The lockout guard: before any ufw change, the address of the SSH session this command runs
    in ($SSH_CONNECTION, or that of the nearest parent process that has it, as under sudo) must
    be inside lan_networks and have come in on ssh_port; otherwise apply refuses, changes
    nothing, and exits 2. With no SSH session (the console) there is nothing to lock out.

    fail2ban: writes /etc/fail2ban/jail.d/trainserver.conf (the sshd jail: port ssh_port,
    backend systemd, maxretry, findtime and bantime from the config) only when it differs,
    after `fail2ban-client -t` accepted it on a copy of /etc/fail2ban; a file fail2ban refuses
    is never installed (exit 2, the old file kept). A running fail2ban is reloaded; one that is
    not running is started with `systemctl enable --now fail2ban` when systemd runs the
    machine, and otherwise named as the command to run.

    A second apply changes nothing and says so. With --dry-run every command and the jail
    file's difference are printed and nothing is changed (the guard and fail2ban's test still
    run, so a refusal shows).
    """
    from trainserver.core.errors import ActionError
    from trainserver.firewall import fail2ban, system

    settings = _settings(tool)
    _require_lan(tool, settings)
    with tool.lock(wait=APPLY_LOCK_WAIT):
        prepared = _prepare(tool, settings)
        if prepared.verdict is not None and not prepared.verdict.allowed:
            raise ActionError(prepared.verdict.message + "; nothing was changed")
        if prepared.jail_changed:
            passed, words = system.test_jail(prepared.jail_text)
            if not passed:
                raise ActionError(f"fail2ban refuses the new {fail2ban.JAIL_FILE}, so it was not "
                                  f"installed (the old one is kept) and nothing was changed: "
                                  f"{words}")
        _show(prepared, dry_run)
        for _, argv in prepared.ufw_plan.steps:
            system.run_ufw(argv)
        _apply_fail2ban(prepared, dry_run)
    return core_cli.EXIT_OK


def _apply_fail2ban(prepared, dry_run):
    from trainserver.firewall import fail2ban, system

    if prepared.jail_changed:
        click.echo(f"fail2ban: {'would write' if dry_run else 'writing'} {fail2ban.JAIL_FILE} "
                   "(fail2ban-client -t accepts it):")
        click.echo(_jail_diff(prepared), nl=False)
        if not dry_run:
            system.install_jail(prepared.jail_text)
    else:
        click.echo(f"fail2ban: {fail2ban.JAIL_FILE} unchanged")
    running = system.fail2ban_running()
    if running:
        if prepared.jail_changed:
            click.echo(f"fail2ban: {'would reload' if dry_run else 'reloading'} "
                       "(fail2ban-client reload)")
            system.fail2ban_reload()
        return
    if system.systemd_booted():
        click.echo(f"fail2ban: not running; {'would run' if dry_run else 'running'}: "
                   f"{fail2ban.START_COMMAND}")
        system.fail2ban_start()
    else:
        # No systemd (a container, a chroot): starting services is not ts-firewall's to do.
        click.echo(f"fail2ban: not running; start it with: {fail2ban.START_COMMAND}")


@cli.command()
@core_cli.reports(core_cli.CHECK)
@click.pass_obj
def check(tool, as_json):
    """Report the firewall's state as findings.

    \b
    ufw       ufw installed and active (inactive or missing: critical)
    policy    the default incoming policy is deny (reject: warning; allow: critical)
    rules     every wanted LAN rule present; the missing ones are named (critical)
    open      ufw rules that allow every address (warning; anyone's, not only ours)
    fail2ban  fail2ban's sshd jail running (`fail2ban-client status sshd`; not: critical)
    docker-ports  every running container's published ports: any bound to 0.0.0.0, ::, or
              an address outside lan_networks is critical, with container, port and
              address (Docker's rules bypass UFW); the loopback is fine. The docker CLI is
              used, so $DOCKER_HOST is honoured; no docker, or no engine running, is ok.
    With [firewall] lan_networks empty, one finding at ok says "not configured".
    """
    from trainserver.core import checks

    settings = _settings(tool)
    if not settings["lan_networks"]:
        from trainserver.firewall import assess

        return checks.report([assess.not_configured(tool.config_path)], as_json)
    with tool.lock("firewall-check", wait=checks.CHECK_LOCK_WAIT):
        findings = _ufw_findings(settings) + [_fail2ban_finding(), _docker_finding(settings)]
    return checks.report(findings, as_json)


def _ufw_findings(settings):
    from trainserver.core.errors import CommandError
    from trainserver.firewall import assess, plan, system
    from trainserver.firewall.ufwparse import UfwParseError

    try:
        state = system.ufw_state()
    except CommandError as exc:
        if system.missing_program(exc):
            return [assess.ufw_missing()]
        return [assess.ufw_unreadable(str(exc))]
    except (UfwParseError, OSError) as exc:
        return [assess.ufw_unreadable(str(exc))]
    ufw_plan = plan.plan_ufw(plan.wanted_rules(settings), state.status, state.policies,
                             state.added)
    return assess.ufw_findings(state, ufw_plan)


def _fail2ban_finding():
    from trainserver.core.errors import CommandError
    from trainserver.firewall import assess, system

    try:
        return assess.fail2ban_finding(system.jail_status())
    except CommandError as exc:
        if system.missing_program(exc):
            return assess.fail2ban_finding(None, missing=True)
        return assess.fail2ban_unreadable(str(exc))


def _docker_finding(settings):
    from trainserver.core.errors import CommandError
    from trainserver.firewall import assess, plan, ports, system

    try:
        containers = system.docker_containers()
    except system.DockerUnavailable as exc:
        return assess.docker_unavailable(str(exc))
    except (CommandError, ValueError) as exc:
        return assess.docker_unreadable(str(exc))
    found = ports.bindings(containers)
    return assess.docker_finding(found, ports.exposed(found, plan.networks(settings["lan_networks"])))


def main():
    core_cli.main(cli)
