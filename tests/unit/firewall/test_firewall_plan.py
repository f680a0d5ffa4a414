import ipaddress

from tests.unit.firewall.conftest import recorded
from trainserver.firewall import plan, ufwparse

SETTINGS = {"lan_networks": ["10.0.0.0/24", "fd00::/64"], "ssh_port": 22, "web_ports": [80, 443, 22]}
ACTIVE = ufwparse.Status(True, {"incoming": "deny", "outgoing": "allow", "routed": "deny"})
INACTIVE = ufwparse.Status(False, {})
DEBIAN = {"incoming": "deny", "outgoing": "allow", "routed": "deny"}


def added(*lines):
    return ufwparse.parse_added("\n".join(lines))


def ours(network, port):
    return f"ufw allow from {network} to any port {port} proto tcp comment 'trainserver'"


def test_wanted_rules_each_port_once_per_network():
    rules = plan.wanted_rules(SETTINGS)
    assert [r.describe() for r in rules] == [
        "22/tcp from 10.0.0.0/24", "22/tcp from fd00::/64", "80/tcp from 10.0.0.0/24",
        "80/tcp from fd00::/64", "443/tcp from 10.0.0.0/24", "443/tcp from fd00::/64"]
    assert rules[0].add_argv() == ["ufw", "allow", "from", "10.0.0.0/24", "to", "any", "port", "22",
                                   "proto", "tcp", "comment", "trainserver"]


def test_host_bits_are_normalised():
    assert plan.wanted_rules({"lan_networks": ["10.0.0.5/24"], "ssh_port": 22, "web_ports": []}) == [
        plan.Rule("10.0.0.0/24", 22)]


def test_config_problems_name_the_bad_network():
    effective = {"firewall": {"lan_networks": ["10.0.0.0/24", "10.0.0/33", "lan"]}}
    problems = plan.config_problems(effective)
    assert len(problems) == 2
    assert problems[0].startswith("[firewall] lan_networks: not an IPv4 or IPv6 network")
    assert problems[1].endswith("(got 'lan')")


def test_fresh_ufw_adds_every_rule_and_enables():
    result = plan.plan_ufw(plan.wanted_rules(SETTINGS), INACTIVE, DEBIAN, [])
    assert len(result.missing) == 6 and not result.present
    assert result.commands[-1] == ["ufw", "--force", "enable"]
    assert result.enable
    assert not [c for c in result.commands if c[1] == "default"]  # Debian's defaults already fit


def test_second_apply_changes_nothing():
    wanted = plan.wanted_rules(SETTINGS)
    lines = [ours(r.network, r.port) for r in wanted]
    result = plan.plan_ufw(wanted, ACTIVE, ACTIVE.policies, added(*lines))
    assert not result.changed and result.present == wanted


def test_removed_network_is_deleted_after_the_adds_and_others_are_left_alone():
    wanted = plan.wanted_rules({"lan_networks": ["10.0.0.0/24"], "ssh_port": 22, "web_ports": []})
    result = plan.plan_ufw(wanted, ACTIVE, ACTIVE.policies,
                           added(ours("fd00::/64", 22), "ufw allow 8080/tcp"))
    assert result.commands == [
        plan.Rule("10.0.0.0/24", 22).add_argv(),
        ["ufw", "delete", "allow", "from", "fd00::/64", "to", "any", "port", "22", "proto", "tcp"]]
    assert [r.text for r in result.foreign] == ["ufw allow 8080/tcp"]


def test_a_wanted_rule_added_by_someone_else_counts_as_present():
    wanted = [plan.Rule("10.0.0.5/32", 22)]
    result = plan.plan_ufw(wanted, ACTIVE, ACTIVE.policies,
                           added("ufw allow from 10.0.0.5 to any port 22 proto tcp"))
    assert not result.changed and not result.foreign


def test_policies_are_set_after_the_adds():
    wanted = [plan.Rule("10.0.0.0/24", 22)]
    result = plan.plan_ufw(wanted, ACTIVE, {"incoming": "allow", "outgoing": "deny"}, [])
    assert result.commands[0][:2] == ["ufw", "allow"]
    assert result.commands[1:] == [["ufw", "default", "deny", "incoming"],
                                   ["ufw", "default", "allow", "outgoing"]]


def test_recorded_mixed_rules():
    wanted = plan.wanted_rules({"lan_networks": ["10.0.0.0/24"], "ssh_port": 22, "web_ports": [443]})
    rules = ufwparse.parse_added(recorded("show-added-mixed.txt"))
    result = plan.plan_ufw(wanted, ACTIVE, ACTIVE.policies, rules)
    assert [r.describe() for r in result.missing] == ["443/tcp from 10.0.0.0/24"]
    assert [r.text for r in result.stale] == [ours("10.0.0.5", 443), ours("fd00::/64", 443)]
    assert len(result.foreign) == 8
    assert ipaddress.ip_network("10.0.0.0/24") in plan.networks(["10.0.0.0/24"])
