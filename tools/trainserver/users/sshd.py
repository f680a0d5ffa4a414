"""sshd: validate the configuration, check what it really does, and reload it only when safe.

The package ships /etc/ssh/sshd_config.d/ml-train-server.conf (keys only, no root login). It
is validated with `sshd -t` before any reload: a config sshd cannot read is never loaded, and
the running sshd keeps serving with the old one, so a mistake cannot lock the admin out. The
effective settings (`sshd -T`) are compared with the conffile's, because sshd takes the first
value it reads: a file sorting before ml-train-server.conf in sshd_config.d (cloud images
ship 50-cloud-init.conf with PasswordAuthentication yes) wins over it.
"""

import hashlib
import os
from dataclasses import dataclass, field

from trainserver.core import commands

SSHD = "/usr/sbin/sshd"
SSHD_CONFIG = "/etc/ssh/sshd_config"
CONFFILE = "ml-train-server.conf"
PRIVSEP_DIR = "/run/sshd"  # sshd -t refuses to run without it; ssh.service makes it
UNIT = "ssh.service"  # Debian's and Ubuntu's name for the OpenSSH server unit

# What the conffile sets, as `sshd -T` prints it (lower-case keywords).
WANTED = {
    "passwordauthentication": "no",
    "kbdinteractiveauthentication": "no",
    "permitrootlogin": "no",
    "pubkeyauthentication": "yes",
    "usepam": "yes",
    "authenticationmethods": "publickey",
}


@dataclass
class Check:
    """The outcome of validating sshd's configuration."""

    installed: bool = True
    valid: bool = False
    message: str = ""  # sshd's own words when it refused the config
    effective: dict = field(default_factory=dict)
    fingerprint: str = ""  # of the effective config: what a reload would load
    conffile: str = ""
    conffile_present: bool = True
    skipped: str = ""  # why sshd was not asked (a dry run that would have to make /run/sshd)


def effective_settings(text):
    """{keyword: value} of `sshd -T` output (first word lower-case, the rest as printed)."""
    settings = {}
    for line in text.splitlines():
        keyword, _, value = line.strip().partition(" ")
        if keyword:
            settings.setdefault(keyword.lower(), value.strip())
    return settings


def setting_problems(effective, conffile):
    """What differs between sshd's effective settings and the conffile's."""
    problems = []
    for keyword, value in WANTED.items():
        got = effective.get(keyword)
        if got is not None and got.lower() != value:
            problems.append(f"sshd runs with {keyword} {got}, not {value}: a file read before "
                            f"{conffile} sets it (sshd keeps the first value it reads; look "
                            f"in {os.path.dirname(conffile)}, e.g. 50-cloud-init.conf)")
    return problems


def reload_decision(check, lockout_risk, last_fingerprint, systemd_running, active, image):
    """(reload?, why not or why): pure, so the rules are tested without an sshd."""
    if image:
        return False, "not reloaded: --root names a system image, not the running system"
    if not check.installed:
        return False, "not reloaded: openssh-server is not installed"
    if check.skipped:
        return False, f"not reloaded: {check.skipped}"
    if not check.valid:
        return False, "not reloaded: sshd refuses the config; the running sshd keeps its old one"
    if lockout_risk:
        return False, ("NOT RELOADED: no person with sudo = true in [users] has an SSH key; "
                       "a keys-only sshd without root login would lock the admin out. Add a "
                       "key to a sudo person, run ts-users apply, test a login, then reload")
    if last_fingerprint == check.fingerprint:
        return False, "sshd's config is unchanged since ts-users last reloaded it"
    if not systemd_running:
        return False, "not reloaded: systemd is not running here; reload sshd by hand"
    if not active:
        return False, f"not reloaded: {UNIT} is not running; it reads the config when it starts"
    return True, f"reload {UNIT}: its config changed"


def check(sshd=SSHD, config=SSHD_CONFIG):
    """Validate with `sshd -t -f CONFIG`, then read the effective config with -T."""
    result = Check(conffile=os.path.join(os.path.dirname(config), "sshd_config.d", CONFFILE))
    if not os.path.exists(sshd) or not os.path.exists(config):
        result.installed = False
        return result
    result.conffile_present = os.path.exists(result.conffile)
    if not os.path.isdir(PRIVSEP_DIR):
        if commands.dry_run():
            result.skipped = f"sshd -t not run: {PRIVSEP_DIR} is missing (sshd is not running)"
            return result
        # What ssh.service (RuntimeDirectory=sshd) and Debian's init script make before sshd
        # starts; without it sshd -t fails whatever the config says.
        os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)
    test = commands.run([sshd, "-t", "-f", config], changes=False, ok_codes=None, timeout=60)
    if test.returncode != 0:
        result.message = (test.stderr or test.stdout).strip() or f"exit status {test.returncode}"
        return result
    extended = commands.run([sshd, "-T", "-f", config], changes=False, ok_codes=None,
                            timeout=60)
    if extended.returncode != 0:
        result.message = (extended.stderr or extended.stdout).strip()
        return result
    result.valid = True
    result.effective = effective_settings(extended.stdout)
    result.fingerprint = hashlib.sha256(extended.stdout.encode()).hexdigest()
    return result


def systemd_running():
    return os.path.isdir("/run/systemd/system")


def active():
    found = commands.run(["systemctl", "is-active", "--quiet", UNIT], changes=False,
                         ok_codes=None, timeout=30)
    return found.returncode == 0


def reload():
    commands.run(["systemctl", "reload", UNIT], changes=True, timeout=120)
