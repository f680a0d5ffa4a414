from tests.unit.firewall.conftest import recorded
from trainserver.core.commands import Result
from trainserver.firewall import assess, plan, ports, system, ufwparse

SETTINGS = {"lan_networks": ["10.0.0.0/24"], "ssh_port": 22, "web_ports": [443]}


def findings_for(status_file, added_text, policies=None):
    status = ufwparse.parse_status(recorded(status_file))
    added = ufwparse.parse_added(added_text)
    state = system.UfwState(status, policies or status.policies, added)
    result = plan.plan_ufw(plan.wanted_rules(SETTINGS), status, state.policies, added)
    return {f.check: f for f in assess.ufw_findings(state, result)}


def test_recorded_active_firewall():
    found = findings_for("status-verbose-active.txt", recorded("show-added-mixed.txt"))
    assert found["ufw"].severity.label == "ok"
    assert found["policy"].severity.label == "ok"
    assert found["rules"].severity.label == "critical"
    assert "443/tcp from 10.0.0.0/24" in found["rules"].summary
    assert found["open"].severity.label == "warning" and found["open"].value == 4


def test_inactive_and_rejecting():
    found = findings_for("status-verbose-inactive.txt", "", {"incoming": "reject"})
    assert found["ufw"].severity.label == "critical"
    assert found["policy"].severity.label == "warning"
    assert "once enabled" in found["policy"].summary
    assert found["open"].severity.label == "ok"
    allowing = findings_for("status-verbose-inactive.txt", "", {"incoming": "allow"})
    assert allowing["policy"].severity.label == "critical"


def test_fail2ban_findings():
    ok = assess.fail2ban_finding(Result([], 0, recorded("fail2ban-status-sshd.txt"), ""))
    assert ok.severity.label == "ok" and ok.value == 0
    down = assess.fail2ban_finding(Result([], 255, "", recorded("fail2ban-status-not-running.txt")))
    assert down.severity.label == "critical" and "systemctl enable --now fail2ban" in down.summary
    no_jail = assess.fail2ban_finding(Result([], 255, "", recorded("fail2ban-status-no-jail.txt")))
    assert no_jail.severity.label == "critical" and "without an sshd jail" in no_jail.summary
    assert assess.fail2ban_finding(None, missing=True).severity.label == "critical"
    odd = assess.fail2ban_finding(Result([], 1, "", "something else"))
    assert odd.severity.label == "unknown"


def test_docker_finding_names_container_port_and_address():
    bad = [(ports.Binding("web", "0.0.0.0", "8080", "80/tcp"), "every address")]
    finding = assess.docker_finding([b for b, _ in bad], bad)
    assert finding.severity.label == "critical"
    assert "web 0.0.0.0:8080->80/tcp (every address)" in finding.summary
    assert assess.docker_finding([], []).severity.label == "ok"
    assert assess.docker_unavailable("docker is not installed").severity.label == "ok"
