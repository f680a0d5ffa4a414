"""The firewall ts-firewall wants, from [firewall], and the ufw commands that get there. Pure.

Wanted: deny incoming, allow outgoing; `ssh_port` and each of `web_ports` (tcp) allowed from
each of `lan_networks`, nothing else added. Rules carry the comment "trainserver": ours are
deleted when no longer wanted, anyone else's are left alone and named. A wanted rule someone
already added without the comment counts as present (re-adding it would only relabel it).
"""

import ipaddress
from dataclasses import dataclass, field

from trainserver.firewall.ufwparse import COMMENT

WANTED_POLICIES = (("incoming", "deny"), ("outgoing", "allow"))


def networks(values):
    """`lan_networks` as ip_network objects (host bits allowed: "10.0.0.5/24" is 10.0.0.0/24)."""
    return [ipaddress.ip_network(value.strip(), strict=False) for value in values]


def config_problems(effective):
    """Cross-key problems of [firewall], as `[firewall] key: what (got VALUE)`."""
    problems = []
    for value in effective["firewall"]["lan_networks"]:
        try:
            ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            problems.append("[firewall] lan_networks: not an IPv4 or IPv6 network such as "
                            f"192.168.1.0/24 or fd00::/64 (got {value!r})")
    return problems


def ports(settings):
    """The tcp ports opened to the LAN: SSH first, then the web ports, each once."""
    seen = []
    for port in [settings["ssh_port"], *settings["web_ports"]]:
        if port not in seen:
            seen.append(port)
    return seen


@dataclass(frozen=True, order=True)
class Rule:
    network: str  # normalised: "10.0.0.0/24", "fd00::/64"
    port: int

    def add_argv(self):
        return ["ufw", "allow", "from", self.network, "to", "any", "port", str(self.port),
                "proto", "tcp", "comment", COMMENT]

    def describe(self):
        return f"{self.port}/tcp from {self.network}"


def wanted_rules(settings):
    return [Rule(str(network), port) for port in ports(settings)
            for network in networks(settings["lan_networks"])]


def _as_rule(added):
    shape = added.lan_rule()
    if shape is None:
        return None
    try:
        # ufw prints a /32 or /128 as a bare address.
        return Rule(str(ipaddress.ip_network(shape[0], strict=False)), shape[1])
    except ValueError:
        return None


@dataclass
class UfwPlan:
    steps: list = field(default_factory=list)  # (what, for people; argv), in the order to run
    present: list = field(default_factory=list)  # wanted rules already there
    missing: list = field(default_factory=list)  # wanted rules to add
    stale: list = field(default_factory=list)  # our rules no longer wanted (AddedRule)
    foreign: list = field(default_factory=list)  # someone else's rules, left alone (AddedRule)
    enable: bool = False

    @property
    def commands(self):
        return [argv for _, argv in self.steps]

    @property
    def changed(self):
        return bool(self.steps)


def plan_ufw(wanted, status, policies, added):
    """What to run so that ufw has the `wanted` rules and policies and is active.

    status: ufwparse.Status; policies: the policies in force (status' own when active, else
    /etc/default/ufw's); added: ufwparse.parse_added's rules.
    New rules are added before the policy changes and before our stale rules are deleted, so a
    firewall that is already active never passes through a state with less allowed than before
    and after.
    """
    plan = UfwPlan()
    have = {}
    for rule in added:
        as_rule = _as_rule(rule)
        if as_rule is not None and as_rule in wanted:
            have.setdefault(as_rule, rule)
        elif rule.comment == COMMENT:
            plan.stale.append(rule)
        else:
            plan.foreign.append(rule)
    for rule in wanted:
        if rule in have:
            plan.present.append(rule)
        else:
            plan.missing.append(rule)
            plan.steps.append((f"add rule: allow {rule.describe()}", rule.add_argv()))
    for direction, policy in WANTED_POLICIES:
        if policies.get(direction) != policy:
            plan.steps.append((f"default {direction} policy: {policies.get(direction, 'unknown')} -> {policy}",
                               ["ufw", "default", policy, direction]))
    for rule in plan.stale:
        plan.steps.append((f"delete our rule no longer wanted: {rule.describe()}", rule.delete_argv()))
    if not status.active:
        plan.enable = True
        plan.steps.append(("enable the firewall (now and at boot)", ["ufw", "--force", "enable"]))
    return plan
