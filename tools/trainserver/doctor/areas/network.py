"""network: the Cloudflare tunnel connected (ts-tunnel check), the internet reachable (a TCP
connection to [doctor] internet_address), the firewall active (ts-firewall check)."""

import socket

from trainserver.doctor import parse, tools
from trainserver.doctor.results import FAIL, PASS, SKIP, Result
from trainserver.doctor.runner import Probe

AREA = "network"


def tunnel(ctx):
    if not ctx.config["tunnel"]["enabled"]:
        return Result(AREA, "tunnel", SKIP, "tunnel not configured ([tunnel] enabled is false)")
    return tools.check(ctx, AREA, "tunnel", "ts-tunnel", ["check", "--json"])


def firewall(ctx):
    if not ctx.config["firewall"]["lan_networks"]:
        return Result(AREA, "firewall", SKIP,
                      "firewall not configured ([firewall] lan_networks is empty)")
    return tools.check(ctx, AREA, "firewall", "ts-firewall", ["check", "--json"])


def connect(host, port, timeout):
    """None when a TCP connection to host:port opens within timeout, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.timeout:
        return f"no answer within {timeout:.1f} s"
    except OSError as exc:
        return exc.strerror or str(exc)


def internet(ctx):
    address = ctx.config["doctor"]["internet_address"]
    if not address:
        return Result(AREA, "internet", SKIP, "[doctor] internet_address is empty")
    try:
        host, port = parse.host_port(address)
    except ValueError as exc:
        return Result(AREA, "internet", FAIL, f"[doctor] internet_address: {exc}")
    problem = connect(host, port, ctx.remaining())
    if problem:
        return Result(AREA, "internet", FAIL, f"TCP to {address}: {problem}")
    return Result(AREA, "internet", PASS, f"TCP to {address} connects")


def probes(config):
    address = config["doctor"]["internet_address"] or "HOST:PORT"
    try:
        host, port = parse.host_port(address)
    except ValueError:
        host, port = address, ""
    return [
        Probe(AREA, "tunnel", tunnel, "ts-tunnel check"),
        Probe(AREA, "internet", internet, f"nc -vz -w 5 {host} {port}".rstrip()),
        Probe(AREA, "firewall", firewall, "ts-firewall check"),
    ]
