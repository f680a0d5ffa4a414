"""ts-firewall check's findings. Pure: the facts are read by system.py and passed in.

Every subject is stable from run to run (ts-alert keys a problem on tool, check and subject and
keeps a subject no run mentions as it was), so a problem that goes away is reported ok.
"""

from trainserver.core.findings import Finding, Severity
from trainserver.firewall import TOOL


def not_configured(config_path):
    return Finding(TOOL, "config", "lan_networks", Severity.OK,
                   f"not configured: [firewall] lan_networks is empty in {config_path} "
                   "(ts-firewall apply refuses until it names the LAN)")


def ufw_missing():
    return Finding(TOOL, "ufw", "ufw", Severity.CRITICAL,
                   "ufw is not installed, so nothing filters incoming traffic "
                   "(apt-get install ufw; ts-firewall apply)")


def ufw_unreadable(message):
    return Finding(TOOL, "ufw", "ufw", Severity.UNKNOWN, f"cannot read ufw: {message}")


def ufw_findings(state, plan):
    """state: system.UfwState; plan: plan.UfwPlan for the wanted rules."""
    found = []
    if state.status.active:
        found.append(Finding(TOOL, "ufw", "ufw", Severity.OK, "ufw is active", value="active"))
    else:
        found.append(Finding(TOOL, "ufw", "ufw", Severity.CRITICAL,
                             "ufw is inactive: every port is open (ts-firewall apply enables it)",
                             value="inactive"))
    incoming = state.policies.get("incoming", "unknown")
    when = "" if state.status.active else " (once enabled)"
    if incoming == "deny":
        severity, summary = Severity.OK, f"incoming policy: deny{when}"
    elif incoming == "reject":
        severity, summary = Severity.WARNING, (f"incoming policy: reject{when}, not deny: closed, "
                                               "but it answers scanners (ts-firewall apply)")
    else:
        severity, summary = Severity.CRITICAL, (f"incoming policy: {incoming}{when}: what no rule "
                                                "allows is let in (ts-firewall apply)")
    found.append(Finding(TOOL, "policy", "incoming", severity, summary, value=incoming,
                         threshold="deny"))
    if plan.missing:
        found.append(Finding(TOOL, "rules", "lan rules", Severity.CRITICAL,
                             f"{len(plan.missing)} of {len(plan.missing) + len(plan.present)} "
                             "LAN rules missing: "
                             + ", ".join(r.describe() for r in plan.missing) + " (ts-firewall apply)",
                             value=len(plan.missing), threshold=0))
    else:
        found.append(Finding(TOOL, "rules", "lan rules", Severity.OK,
                             f"all {len(plan.present)} LAN rules present: "
                             + ", ".join(r.describe() for r in plan.present), value=0, threshold=0))
    open_rules = [r for r in state.added if r.open_to_anywhere()]
    if open_rules:
        found.append(Finding(TOOL, "open", "rules open to anywhere", Severity.WARNING,
                             f"{len(open_rules)} rules allow every address: "
                             + "; ".join(r.describe() for r in open_rules)
                             + " (ufw delete ... if not meant)", value=len(open_rules), threshold=0))
    else:
        found.append(Finding(TOOL, "open", "rules open to anywhere", Severity.OK,
                             "no ufw rule allows every address", value=0, threshold=0))
    return found


def fail2ban_finding(result, missing=False):
    """result: the Result of `fail2ban-client status sshd` (None with missing=True)."""
    subject = "sshd jail"
    if missing:
        return Finding(TOOL, "fail2ban", subject, Severity.CRITICAL,
                       "fail2ban is not installed: nothing bans SSH password guessers "
                       "(apt-get install fail2ban; ts-firewall apply)")
    from trainserver.firewall import fail2ban

    if result.returncode == 0:
        counters = fail2ban.parse_jail_status(result.stdout)
        banned = counters.get("currently banned")
        failed = counters.get("currently failed")
        return Finding(TOOL, "fail2ban", subject, Severity.OK,
                       f"fail2ban's sshd jail is running: {banned} banned now, {failed} "
                       "failing", value=banned)
    words = (result.stderr or result.stdout).strip()
    if fail2ban.not_running(words):
        return Finding(TOOL, "fail2ban", subject, Severity.CRITICAL,
                       f"fail2ban is not running: nothing bans SSH password guessers "
                       f"({fail2ban.START_COMMAND}; journalctl -u fail2ban)")
    if fail2ban.no_such_jail(words):
        return Finding(TOOL, "fail2ban", subject, Severity.CRITICAL,
                       "fail2ban runs without an sshd jail (ts-firewall apply)")
    last = words.splitlines()[-1] if words else f"exit status {result.returncode}"
    return Finding(TOOL, "fail2ban", subject, Severity.UNKNOWN,
                   f"fail2ban-client status sshd failed: {last}")


def fail2ban_unreadable(message):
    return Finding(TOOL, "fail2ban", "sshd jail", Severity.UNKNOWN,
                   f"cannot ask fail2ban: {message}")


def docker_unavailable(reason):
    return Finding(TOOL, "docker-ports", "published ports", Severity.OK,
                   f"{reason}: no published container port", value=0)


def docker_unreadable(message):
    return Finding(TOOL, "docker-ports", "published ports", Severity.UNKNOWN,
                   f"cannot list containers: {message}")


def docker_finding(found, bad):
    """found: every ports.Binding; bad: [(Binding, reason)] reachable from outside the LAN."""
    if bad:
        return Finding(TOOL, "docker-ports", "published ports", Severity.CRITICAL,
                       f"{len(bad)} published container ports are open beyond the LAN, and "
                       "Docker's rules bypass UFW: "
                       + "; ".join(f"{b.describe()} ({why})" for b, why in bad)
                       + " (publish on 127.0.0.1 or a LAN address instead)",
                       value=len(bad), threshold=0)
    return Finding(TOOL, "docker-ports", "published ports", Severity.OK,
                   f"{len(found)} published container ports, none beyond the LAN", value=0,
                   threshold=0)
