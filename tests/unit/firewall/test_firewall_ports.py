import ipaddress
import json

from tests.unit.firewall.conftest import recorded
from trainserver.firewall import ports

LAN = [ipaddress.ip_network("10.0.0.0/24")]


def test_recorded_bindings():
    found = ports.bindings(json.loads(recorded("docker-inspect-ports.json")))
    assert sorted(b.describe() for b in found) == [
        "both 0.0.0.0:18084->8080/udp", "both [::]:18084->8080/udp",
        "local 127.0.0.1:18082->80/tcp", "open 0.0.0.0:18081->80/tcp"]
    bad = ports.exposed(found, LAN)
    assert sorted((b.describe(), why) for b, why in bad) == [
        ("both 0.0.0.0:18084->8080/udp", "every address"),
        ("both [::]:18084->8080/udp", "every address"),
        ("open 0.0.0.0:18081->80/tcp", "every address")]


def binding(host_ip):
    return ports.Binding("web", host_ip, "8080", "80/tcp")


def test_addresses():
    assert ports.exposure(binding(""), LAN) == "every address"
    assert ports.exposure(binding("::1"), LAN) is None
    assert ports.exposure(binding("127.0.0.53"), LAN) is None
    assert ports.exposure(binding("10.0.0.1"), LAN) is None
    assert ports.exposure(binding("::ffff:10.0.0.1"), LAN) is None
    assert ports.exposure(binding("192.0.2.4"), LAN) == "outside lan_networks"
    assert ports.exposure(binding("fd00::1"), LAN) == "outside lan_networks"


def test_stopped_containers_are_skipped():
    doc = {"Name": "/x", "State": {"Running": False},
           "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "80"}]}}}
    assert ports.bindings([doc]) == []
