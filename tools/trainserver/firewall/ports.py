"""Docker's published ports against the LAN allow-list. Pure.

Docker publishes a port with its own iptables rules (DNAT in PREROUTING, ACCEPT in DOCKER)
that packets meet before UFW's INPUT chain ever sees them, so UFW cannot close it: a port
published on 0.0.0.0 is open to every network the host is on. The only safe bindings are the
loopback and addresses inside [firewall] lan_networks.
"""

import ipaddress
from dataclasses import dataclass

_EVERY_ADDRESS = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class Binding:
    container: str
    host_ip: str  # "" (old engines) means every address, as 0.0.0.0 does
    host_port: str
    container_port: str  # "80/tcp"

    def describe(self):
        host = self.host_ip or "0.0.0.0"
        host = f"[{host}]" if ":" in host else host
        return f"{self.container} {host}:{self.host_port}->{self.container_port}"


def bindings(inspected):
    """Bindings of running containers, from `docker inspect` objects."""
    found = []
    for container in inspected:
        if not ((container.get("State") or {}).get("Running", True)):
            continue
        name = (container.get("Name") or container.get("Id", "?")[:12]).lstrip("/")
        published = ((container.get("NetworkSettings") or {}).get("Ports")) or {}
        for container_port, hosts in sorted(published.items()):
            for host in hosts or ():  # None: exposed, not published
                found.append(Binding(name, host.get("HostIp") or "", str(host.get("HostPort", "")),
                                     container_port))
    return found


def exposure(binding, lan_networks):
    """Why `binding` is reachable from outside the LAN, or None when it is not."""
    if binding.host_ip in _EVERY_ADDRESS:
        return "every address"
    try:
        address = ipaddress.ip_address(binding.host_ip.split("%", 1)[0])
    except ValueError:
        return f"unknown address {binding.host_ip!r}"
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None
    if any(n.version == address.version and address in n for n in lan_networks):
        return None
    return "outside lan_networks"


def exposed(found, lan_networks):
    """[(Binding, reason)] for each binding reachable from outside the LAN."""
    return [(b, why) for b in found for why in [exposure(b, lan_networks)] if why]
