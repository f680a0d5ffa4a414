"""When ts-users reloads sshd, and what it reads from `sshd -T`."""

import os

import pytest

from trainserver.users import sshd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))
CONFFILE = os.path.join(ROOT, "etc", "ssh", "sshd_config.d", "ml-train-server.conf")


def valid(fingerprint="new"):
    return sshd.Check(valid=True, fingerprint=fingerprint)


def decide(check=None, lockout=False, last="old", systemd=True, active=True, image=False):
    return sshd.reload_decision(check or valid(), lockout, last, systemd, active, image)


def test_a_changed_valid_config_is_reloaded():
    assert decide() == (True, "reload ssh.service: its config changed")


@pytest.mark.parametrize("arguments,why", [
    ({"check": sshd.Check(valid=False, message="line 1: Bad configuration option")},
     "sshd refuses the config"),
    ({"check": sshd.Check(installed=False)}, "openssh-server is not installed"),
    ({"lockout": True}, "NOT RELOADED: no person with sudo = true in [users] has an SSH key"),
    ({"last": "new"}, "unchanged since ts-users last reloaded it"),
    ({"systemd": False}, "systemd is not running"),
    ({"active": False}, "ssh.service is not running"),
    ({"image": True}, "--root names a system image"),
])
def test_no_reload(arguments, why):
    reload, text = decide(**arguments)
    assert not reload and why in text


def test_an_invalid_config_is_never_reloaded_whatever_else_holds():
    assert decide(sshd.Check(valid=False), last=None)[0] is False


def test_effective_settings_overridden_by_an_earlier_file_are_named():
    effective = sshd.effective_settings(
        "port 22\nPasswordAuthentication yes\nusepam yes\npermitrootlogin without-password\n"
        "kbdinteractiveauthentication no\npubkeyauthentication yes\n"
        "authenticationmethods publickey\n")
    problems = sshd.setting_problems(effective, "/etc/ssh/sshd_config.d/ml-train-server.conf")
    assert [p.split(",")[0] for p in problems] == [
        "sshd runs with passwordauthentication yes", "sshd runs with permitrootlogin "
        "without-password"]


def test_the_shipped_conffile_sets_what_ts_users_checks():
    with open(CONFFILE) as handle:
        settings = {line.split()[0].lower(): line.split()[1].lower() for line in handle
                    if line.strip() and not line.startswith("#")}
    assert settings == sshd.WANTED
