from tests.unit.firewall.conftest import recorded
from trainserver.firewall import fail2ban


def test_jail_text():
    text = fail2ban.jail_text({"ssh_port": 2222, "fail2ban_maxretry": 5, "fail2ban_findtime": 600,
                               "fail2ban_bantime": 3600.0})
    assert text.endswith("[sshd]\nenabled = true\nport = 2222\nbackend = systemd\nmaxretry = 5\n"
                         "findtime = 600\nbantime = 3600\n")
    assert text.startswith("# Written by ts-firewall apply")


def test_recorded_status():
    assert fail2ban.parse_jail_status(recorded("fail2ban-status-sshd.txt")) == {
        "currently failed": 0, "total failed": 0, "currently banned": 0, "total banned": 0}
    assert fail2ban.not_running(recorded("fail2ban-status-not-running.txt"))
    assert fail2ban.no_such_jail(recorded("fail2ban-status-no-jail.txt"))
    assert not fail2ban.not_running(recorded("fail2ban-status-no-jail.txt"))
