import pytest

from tests.unit.firewall.conftest import recorded
from trainserver.firewall import ufwparse


def test_status_active_and_policies():
    status = ufwparse.parse_status(recorded("status-verbose-active.txt"))
    assert status.active
    assert status.policies == {"incoming": "deny", "outgoing": "allow", "routed": "deny"}
    rejecting = ufwparse.parse_status(recorded("status-verbose-reject.txt"))
    assert rejecting.policies["incoming"] == "reject" and rejecting.policies["outgoing"] == "deny"


def test_status_inactive_says_no_policies():
    status = ufwparse.parse_status(recorded("status-verbose-inactive.txt"))
    assert not status.active and status.policies == {}


def test_status_unknown_output_is_an_error():
    with pytest.raises(ufwparse.UfwParseError):
        ufwparse.parse_status("ERROR: You need to be root to run this script\n")


def test_default_file():
    assert ufwparse.parse_default_file(recorded("default-ufw-debian.txt")) == {
        "incoming": "deny", "outgoing": "allow", "routed": "deny"}
    assert ufwparse.parse_default_file(recorded("default-ufw-reject.txt"))["incoming"] == "reject"


def test_show_added_none():
    assert ufwparse.parse_added(recorded("show-added-none.txt")) == []


def test_show_added_shapes():
    rules = ufwparse.parse_added(recorded("show-added-mixed.txt"))
    by_text = {r.text: r for r in rules}
    ours = by_text["ufw allow from 10.0.0.0/24 to any port 22 proto tcp comment 'trainserver'"]
    assert ours.comment == "trainserver"
    assert ours.lan_rule() == ("10.0.0.0/24", 22)
    assert ours.delete_argv() == ["ufw", "delete", "allow", "from", "10.0.0.0/24", "to", "any",
                                  "port", "22", "proto", "tcp"]
    assert not ours.open_to_anywhere()
    # ufw prints a /32 as the bare address.
    assert by_text["ufw allow from 10.0.0.5 to any port 443 proto tcp comment 'trainserver'"].lan_rule() == (
        "10.0.0.5", 443)
    open_ones = [r.text for r in rules if r.open_to_anywhere()]
    # "ufw allow from any to any port 9000 proto tcp" is shown by ufw as "ufw allow 9000/tcp".
    assert open_ones == ["ufw allow 8080/tcp", "ufw allow OpenSSH", "ufw limit 2222/tcp",
                         "ufw allow 9000/tcp"]
    # Not open to anywhere: a source, a deny, a route rule, an outgoing rule.
    for text in ("ufw allow in on lo from 10.1.0.0/16 port 53 to 10.0.0.1 port 53 proto udp",
                 "ufw deny from 1.2.3.4", "ufw route allow in on eth0 out on eth1",
                 "ufw allow out 53/udp"):
        assert not by_text[text].open_to_anywhere(), text
        assert by_text[text].lan_rule() is None
    assert by_text["ufw allow out 53/udp"].direction == "out"
    assert by_text["ufw route allow in on eth0 out on eth1"].route
