"""The lockout guard: never enable the firewall, or change its rules, when the SSH rule would
not cover the SSH session this command runs in. Pure (the process readers are passed in).

Where the session's address comes from, in this order:
1. this process's $SSH_CONNECTION ("client port server port"), else $SSH_CLIENT;
2. the same variables in the environment of each ancestor process, nearest first: sudo and
   su leave them out of the command's environment, but the login shell sshd started, above
   them in the process tree, has them.
`who -m` and loginctl were not used: both are unreliable in the cases that matter (no utmp
entry for a sudo inside tmux; no logind in a container). A session of tmux or screen whose
server was started from another SSH session reports that session's address; a command run
from a console, a timer or cron has no SSH session and so nothing to protect.
"""

import ipaddress
from dataclasses import dataclass

VARIABLES = ("SSH_CONNECTION", "SSH_CLIENT")


@dataclass(frozen=True)
class Session:
    address: object  # ipaddress.IPv4Address or IPv6Address (an IPv4-mapped one unwrapped)
    server_port: int  # the port it came in on (None when not known)
    where: str  # where it was found, for messages


def _address(text):
    text = text.strip().split("%", 1)[0]  # a link-local address's zone
    address = ipaddress.ip_address(text)
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def from_environ(environ, where):
    """The session in an environment mapping, or None."""
    for name in VARIABLES:
        value = environ.get(name)
        if not value:
            continue
        words = value.split()
        try:
            address = _address(words[0])
        except (ValueError, IndexError):
            continue
        # SSH_CONNECTION: client, client port, server, server port; SSH_CLIENT: client,
        # client port, server port.
        port_word = words[3] if name == "SSH_CONNECTION" and len(words) >= 4 else (
            words[2] if name == "SSH_CLIENT" and len(words) >= 3 else None)
        port = int(port_word) if port_word and port_word.isdigit() else None
        return Session(address, port, f"${name} of {where}")
    return None


def find_session(environ, pid, parent_of, environ_of, name_of=None):
    """The current SSH session: from `environ`, else from the nearest ancestor of `pid` that
    has one. parent_of(pid) -> parent pid or 0; environ_of(pid) -> mapping or None;
    name_of(pid) -> a program name, for messages."""
    session = from_environ(environ, "this command")
    if session is not None:
        return session
    seen = set()
    pid = parent_of(pid)
    while pid and pid > 1 and pid not in seen:
        seen.add(pid)
        env = environ_of(pid)
        if env:
            name = name_of(pid) if name_of else None
            session = from_environ(env, f"process {pid}" + (f" ({name})" if name else ""))
            if session is not None:
                return session
        pid = parent_of(pid)
    return None


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    message: str


def judge(session, lan_networks, ssh_port, config_path):
    """Whether changing the firewall keeps `session` in. lan_networks: ip_network objects."""
    if session is None:
        return Verdict(True, "no SSH session found (not in this command's environment nor its "
                             "parents'): nothing to lock out")
    address = session.address
    if address.is_loopback:
        return Verdict(True, f"the SSH session comes from {address} (loopback), which UFW "
                             "always lets in")
    names = ", ".join(str(n) for n in lan_networks) or "none"
    fix = (f"add a network that holds {address} to [firewall] lan_networks in {config_path} "
           "(or run ts-firewall apply from the console)")
    if session.server_port is not None and session.server_port != ssh_port:
        return Verdict(False, f"refusing to change the firewall: the current SSH session "
                              f"({session.where}) came in on port {session.server_port}, but "
                              f"[firewall] ssh_port is {ssh_port}, so no rule would let it in; "
                              f"set [firewall] ssh_port to the port sshd listens on in "
                              f"{config_path}")
    covering = [n for n in lan_networks if n.version == address.version and address in n]
    if covering:
        return Verdict(True, f"the SSH session from {address} is covered by {covering[0]}")
    return Verdict(False, f"refusing to change the firewall: the current SSH session comes from "
                          f"{address} ({session.where}), which is in none of [firewall] "
                          f"lan_networks ({names}); this would lock you out. To fix: {fix}")
