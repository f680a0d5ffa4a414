"""fail2ban's sshd jail as ts-firewall writes it, and what `fail2ban-client status sshd` says.
Pure.

backend = systemd: Debian 12's fail2ban (1.0.2) defaults the sshd jail to the auto backend,
which watches /var/log/auth.log; Debian 12 installs no syslog daemon, so that file does not
exist and the jail (and with it fail2ban) fails to start. The systemd backend reads sshd's
messages from the journal; it needs python3-systemd (a Recommends of fail2ban, installed by
default). Debian 13's fail2ban (1.1.0) already uses the journal for sshd, so saying it again
there changes nothing. The filter's own journalmatch (_COMM=sshd) finds Debian's ssh.service.
The ban action stays the distribution's default (iptables-multiport on 12, nftables on 13):
its chain sits beside UFW's, and bans never show up among UFW's rules.
"""

import re

JAIL_FILE = "/etc/fail2ban/jail.d/trainserver.conf"
CONFIG_DIR = "/etc/fail2ban"
START_COMMAND = "systemctl enable --now fail2ban"


def _seconds(value):
    return int(round(float(value)))


def jail_text(settings):
    """The jail file for [firewall] `settings` (durations already in seconds)."""
    return (
        "# Written by ts-firewall apply from [firewall] in /etc/trainserver/trainserver.toml;\n"
        "# edit that file and run ts-firewall apply: changes made here are overwritten.\n"
        "[sshd]\n"
        "enabled = true\n"
        f"port = {settings['ssh_port']}\n"
        "backend = systemd\n"
        f"maxretry = {settings['fail2ban_maxretry']}\n"
        f"findtime = {_seconds(settings['fail2ban_findtime'])}\n"
        f"bantime = {_seconds(settings['fail2ban_bantime'])}\n"
    )


def parse_jail_status(text):
    """`fail2ban-client status sshd` -> {"currently failed": 0, "total banned": 3, ...} for the
    counters it prints."""
    counters = {}
    for line in text.splitlines():
        match = re.match(r"^[\s|`-]*([A-Za-z][A-Za-z ]*?):\s*(\d+)\s*$", line)
        if match:
            counters[match[1].strip().lower()] = int(match[2])
    return counters


def not_running(stderr):
    """fail2ban-client's words when no server answers on its socket."""
    return "Failed to access socket path" in stderr or "Is fail2ban running?" in stderr


def no_such_jail(stderr):
    return "does not exist" in stderr
