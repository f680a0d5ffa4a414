"""per-user services: each person's workspace SSH answering on the LAN address, and their
code-server and Jupyter answering through Traefik."""

import socket

from trainserver.doctor import parse
from trainserver.doctor.areas.docker import services_not_configured
from trainserver.doctor.results import FAIL, PASS, SKIP, Result
from trainserver.doctor.runner import Probe

AREA = "users"
HTTPS_PORT = 443


def _read_until(connection, end, limit):
    """What the peer sent until `end` (or `limit` bytes, or the connection closed)."""
    data = b""
    while end not in data and len(data) < limit:
        chunk = connection.recv(limit)
        if not chunk:
            break
        data += chunk
    return data


def ssh_banner(host, port, timeout):
    """(ok, reason): an SSH server sends its "SSH-2.0-..." version line first (RFC 4253)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.settimeout(timeout)
            data = _read_until(connection, b"\n", 255)
    except socket.timeout:
        return False, f"no banner within {timeout:.1f} s"
    except OSError as exc:
        return False, exc.strerror or str(exc)
    line = data.split(b"\n", 1)[0].strip().decode("ascii", "replace")
    if line.startswith("SSH-2.0-"):
        return True, line
    return False, f"not an SSH server: {line[:60]!r}" if line else "closed without a banner"


def https_status(address, hostname, timeout, port=HTTPS_PORT):
    """(code or None, problem): GET / over HTTPS to address:port, with hostname as SNI and
    Host. The certificate is not verified: Traefik serves its own self-signed one until the
    real certificate is set up, and what is tested here is the route, not the certificate."""
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=hostname) as connection:
                connection.settimeout(timeout)
                connection.sendall(f"GET / HTTP/1.1\r\nHost: {hostname}\r\nUser-Agent: "
                                   f"ts-doctor\r\nConnection: close\r\n\r\n".encode("ascii"))
                head = _read_until(connection, b"\r\n", 4096)
    except socket.timeout:
        return None, f"no answer within {timeout:.1f} s"
    except (OSError, ssl.SSLError) as exc:
        return None, getattr(exc, "strerror", None) or str(exc)
    code = parse.http_status(head.decode("latin-1"))
    return code, None if code else "not an HTTP answer"


def _ssh(person, port):
    def probe(ctx):
        address = ctx.config["services"]["lan_address"]
        ok, reason = ssh_banner(address, port, ctx.remaining())
        return Result(AREA, f"{person} ssh", PASS if ok else FAIL, f"{address}:{port}: {reason}")
    return probe


def _web(person, what, hostname):
    def probe(ctx):
        address = ctx.config["services"]["lan_address"]
        code, problem = https_status(address, hostname, ctx.remaining())
        if code is None:
            return Result(AREA, f"{person} {what}", FAIL, f"https://{hostname}/ via "
                          f"{address}: {problem}")
        ok, reason = parse.web_verdict(code)
        return Result(AREA, f"{person} {what}", PASS if ok else FAIL,
                      f"https://{hostname}/: {reason}")
    return probe


def _skip(reason):
    return lambda ctx: Result(AREA, "services", SKIP, reason)


def probes(config):
    from trainserver.core import people as people_module
    from trainserver.services import workspaces

    why = services_not_configured(config)
    if why:
        return [Probe(AREA, "services", _skip(why))]
    people = people_module.from_table(config["users"])
    if not len(people):
        return [Probe(AREA, "services", _skip("no people in [users]"))]
    address, domain = config["services"]["lan_address"], config["services"]["domain"]
    base = config["workspaces"]["ssh_port_base"]
    found = []
    for person in people:
        port = workspaces.ssh_port(person, base)
        found.append(Probe(AREA, f"{person.name} ssh", _ssh(person.name, port),
                           f"ssh -p {port} {person.name}@{address}"))
        for what in ("code", "jupyter"):
            hostname = f"{person.name}-{what}.{domain}"
            found.append(Probe(AREA, f"{person.name} {what}", _web(person.name, what, hostname),
                               f"curl -skI --resolve {hostname}:{HTTPS_PORT}:{address} "
                               f"https://{hostname}/"))
    return found
