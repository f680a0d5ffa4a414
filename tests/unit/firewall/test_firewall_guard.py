import ipaddress

from trainserver.firewall import guard

LAN = [ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("fd00::/64")]


def session(value, name="SSH_CONNECTION"):
    return guard.from_environ({name: value}, "this command")


def test_ssh_connection_and_ssh_client():
    found = session("10.0.0.7 50022 10.0.0.1 22")
    assert (str(found.address), found.server_port) == ("10.0.0.7", 22)
    assert found.where == "$SSH_CONNECTION of this command"
    client = session("10.0.0.7 50022 2222", "SSH_CLIENT")
    assert (str(client.address), client.server_port) == ("10.0.0.7", 2222)
    assert guard.from_environ({}, "x") is None
    assert guard.from_environ({"SSH_CONNECTION": "garbage"}, "x") is None


def test_ipv4_mapped_and_zone_are_unwrapped():
    assert str(session("::ffff:10.0.0.7 1 ::ffff:10.0.0.1 22").address) == "10.0.0.7"
    assert str(session("fe80::1%eth0 1 fe80::2%eth0 22").address) == "fe80::1"


def test_ancestors_are_searched_nearest_first():
    parents = {100: 90, 90: 80, 80: 1}
    environs = {90: {"SUDO_USER": "ann"}, 80: {"SSH_CONNECTION": "10.0.0.9 1 10.0.0.1 22"}}
    found = guard.find_session({}, 100, parents.get, environs.get, {80: "bash"}.get)
    assert str(found.address) == "10.0.0.9"
    assert found.where == "$SSH_CONNECTION of process 80 (bash)"
    own = guard.find_session({"SSH_CONNECTION": "10.0.0.3 1 10.0.0.1 22"}, 100, parents.get,
                             environs.get)
    assert str(own.address) == "10.0.0.3"
    assert guard.find_session({}, 100, {100: 1}.get, environs.get) is None
    # A loop in a faked tree ends.
    assert guard.find_session({}, 100, {100: 90, 90: 100}.get, {}.get) is None


def test_judge():
    path = "/etc/trainserver/trainserver.toml"
    assert guard.judge(None, LAN, 22, path).allowed
    assert guard.judge(session("127.0.0.1 1 127.0.0.1 22"), [], 22, path).allowed
    inside = guard.judge(session("10.0.0.7 1 10.0.0.1 22"), LAN, 22, path)
    assert inside.allowed and "covered by 10.0.0.0/24" in inside.message
    assert guard.judge(session("fd00::7 1 fd00::1 22"), LAN, 22, path).allowed
    outside = guard.judge(session("203.0.113.9 1 10.0.0.1 22"), LAN, 22, path)
    assert not outside.allowed
    assert "203.0.113.9" in outside.message and "10.0.0.0/24, fd00::/64" in outside.message
    assert "[firewall] lan_networks in /etc/trainserver/trainserver.toml" in outside.message
    other_port = guard.judge(session("10.0.0.7 1 10.0.0.1 2222"), LAN, 22, path)
    assert not other_port.allowed and "came in on port 2222" in other_port.message
