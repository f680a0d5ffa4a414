"""ts-firewall against the real ufw, fail2ban and dockerd, never on this machine's own firewall.

Every ts-firewall run happens inside a network namespace and a mount namespace of the test's
own (one long-lived holder process; each command joins it with nsenter). In the mount namespace,
copies of /etc/ufw, /etc/default/ufw and /etc/fail2ban are bound over the originals and /run is
a fresh tmpfs, so ufw's files, its iptables rules (per network namespace), fail2ban's socket and
ts-firewall's jail file all live and die with the namespace. The copy of /etc/ufw/sysctl.conf
is emptied: its settings are per network namespace anyway, but nothing here should write
kernel settings. The holder is killed in teardown, and the test checks that no process is left
in the namespace.
"""

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

import docker_engine
from tests.conftest import tool_argv, tool_env
from tool_findings import findings_of

pytestmark = pytest.mark.root

DEBIAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
LAN = "10.0.0.0/24"
INSIDE = "10.0.0.7 50022 10.0.0.1 22"  # $SSH_CONNECTION of a session from the LAN
OUTSIDE = "203.0.113.9 50022 10.0.0.1 22"

SETUP = r"""
set -e
mount --make-rprivate /
mount --bind "$ROOT/etc-ufw" /etc/ufw
mount --bind "$ROOT/default-ufw" /etc/default/ufw
mount --bind "$ROOT/etc-fail2ban" /etc/fail2ban
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/lock
ip link set lo up
echo $$ > "$ROOT/holder.pid"
exec sleep infinity
"""


class Namespace:
    def __init__(self, root, pid):
        self.root = root
        self.pid = pid

    def run(self, argv, env=None, timeout=120, check=False):
        full_env = {"PATH": DEBIAN_PATH, "LANG": "C.UTF-8", **(env or {})}
        result = subprocess.run(["nsenter", "-t", str(self.pid), "--net", "--mount", "--", *argv],
                                capture_output=True, text=True, env=full_env, timeout=timeout)
        if check:
            assert result.returncode == 0, (argv, result.stdout, result.stderr)
        return result

    def tool(self, *args, ssh=INSIDE, env=None, as_sudo=False):
        """Run ts-firewall in the namespace from an SSH session from `ssh` ($SSH_CONNECTION).
        as_sudo: the variable is in the parent's environment only (a shell that forks the
        tool, as sudo does), not in the tool's."""
        full_env = tool_env(env)
        full_env.pop("SSH_CLIENT", None)
        full_env["SSH_CONNECTION"] = ssh
        full_env["PATH"] = DEBIAN_PATH
        hide = ["sh", "-c", '"$@"; exit $?', "-", "env", "-u", "SSH_CONNECTION"] if as_sudo else []
        return subprocess.run(["nsenter", "-t", str(self.pid), "--net", "--mount", "--", *hide,
                               *tool_argv("ts-firewall"), *args],
                              capture_output=True, text=True, env=full_env, timeout=300)

    def iptables(self):
        return self.run(["iptables", "-S"], check=True).stdout

    def ufw(self, *args):
        return self.run(["ufw", *args], check=True).stdout


def _net_ns(pid):
    return os.readlink(f"/proc/{pid}/ns/net")


def _processes_in(ns):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/net") == ns:
                found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.fixture
def netns(tmp_path):
    for program in ("ufw", "fail2ban-client", "unshare", "nsenter", "iptables"):
        assert shutil.which(program, path=DEBIAN_PATH), f"{program} is missing"
    root = tmp_path / "ns"
    root.mkdir()
    shutil.copytree("/etc/ufw", root / "etc-ufw", symlinks=True)
    (root / "etc-ufw" / "sysctl.conf").write_text("")
    shutil.copy2("/etc/default/ufw", root / "default-ufw")
    shutil.copytree("/etc/fail2ban", root / "etc-fail2ban", symlinks=True)
    holder = subprocess.Popen(["unshare", "--net", "--mount", "--fork", "sh", "-c", SETUP],
                              env={"PATH": DEBIAN_PATH, "ROOT": str(root)},
                              start_new_session=True)
    ns = None
    try:
        deadline = time.monotonic() + 30
        pid_file = root / "holder.pid"
        while not (pid_file.exists() and pid_file.read_text().strip()):
            assert holder.poll() is None, "the namespace's holder died"
            assert time.monotonic() < deadline, "the namespace did not come up"
            time.sleep(0.05)
        pid = int(pid_file.read_text())
        ns = _net_ns(pid)
        assert ns != _net_ns(os.getpid()), "not a network namespace of its own"
        yield Namespace(root, pid)
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        if ns is not None:
            deadline = time.monotonic() + 10
            while _processes_in(ns) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _processes_in(ns), f"processes left in the test's namespace: {_processes_in(ns)}"


@pytest.fixture
def conf(tmp_path):
    def write(networks=(LAN,), ssh_port=22, web_ports=(80, 443), maxretry=4):
        path = tmp_path / "trainserver.toml"
        path.write_text(
            "[paths]\n"
            f'state_dir = "{tmp_path}/state"\n'
            f'lock_dir = "{tmp_path}/lock"\n'
            f'metrics_dir = "{tmp_path}/metrics"\n'
            "[firewall]\n"
            f"lan_networks = {json.dumps(list(networks))}\n"
            f"ssh_port = {ssh_port}\n"
            f"web_ports = {json.dumps(list(web_ports))}\n"
            f"fail2ban_maxretry = {maxretry}\n"
            'fail2ban_findtime = "15min"\n'
            'fail2ban_bantime = "2h"\n', encoding="utf-8")
        return str(path)

    return write


def by_check(result):
    return {f.check: f for f in findings_of(result)}


def user_input_rules(iptables_text):
    return sorted(line for line in iptables_text.splitlines()
                  if line.startswith("-A ufw-user-input"))


def jail_file(ns):
    return ns.root / "etc-fail2ban" / "jail.d" / "trainserver.conf"


def test_apply_rules_idempotence_and_removed_network(netns, conf):
    config = conf([LAN, "fd00:1::/64"])
    assert netns.ufw("status").startswith("Status: inactive")

    first = netns.tool("--config", config, "apply")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "the SSH session from 10.0.0.7 is covered by 10.0.0.0/24" in first.stdout
    status = netns.ufw("status", "verbose")
    assert "Status: active" in status
    assert "Default: deny (incoming), allow (outgoing)" in status
    added = netns.ufw("show", "added")
    for port in (22, 80, 443):
        assert f"ufw allow from {LAN} to any port {port} proto tcp comment 'trainserver'" in added
        assert f"ufw allow from fd00:1::/64 to any port {port} proto tcp comment 'trainserver'" in added
    assert user_input_rules(netns.iptables()) == sorted(
        f"-A ufw-user-input -s {LAN} -p tcp -m tcp --dport {port} -j ACCEPT" for port in (22, 80, 443))
    assert "-P INPUT DROP" in netns.iptables()
    six = netns.run(["ip6tables", "-S", "ufw6-user-input"], check=True).stdout
    assert "-A ufw6-user-input -s fd00:1::/64 -p tcp -m tcp --dport 22 -j ACCEPT" in six
    jail = jail_file(netns).read_text()
    assert "[sshd]\nenabled = true\nport = 22\nbackend = systemd\nmaxretry = 4\nfindtime = 900\nbantime = 7200\n" in jail
    # No fail2ban runs in the namespace, and no systemd: apply says what to run.
    assert "fail2ban: not running; start it with: systemctl enable --now fail2ban" in first.stdout

    rules_before, added_before = netns.iptables(), added
    again = netns.tool("--config", config, "apply")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "ufw: nothing to change (active, incoming denied, 6 LAN rules present)" in again.stdout
    assert "trainserver.conf unchanged" in again.stdout
    assert "lockout guard" not in again.stdout  # nothing to change: nothing to guard
    assert netns.iptables() == rules_before
    assert netns.ufw("show", "added") == added_before

    # Someone else's rule is named and left alone; our rules for a removed network go.
    netns.ufw("allow", "8080/tcp")
    removed = netns.tool("--config", conf([LAN]), "apply")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "delete our rule no longer wanted: ufw allow from fd00:1::/64 to any port 22" in removed.stdout
    assert "note: rule not added by ts-firewall, left alone: ufw allow 8080/tcp" in removed.stdout
    added = netns.ufw("show", "added")
    assert "fd00:1::/64" not in added
    assert "ufw allow 8080/tcp" in added
    assert "-s fd00:1::/64" not in netns.run(["ip6tables", "-S"], check=True).stdout
    assert f"-A ufw-user-input -s {LAN} -p tcp -m tcp --dport 22 -j ACCEPT" in netns.iptables()

    check = by_check(netns.tool("--config", conf([LAN]), "check", "--json"))
    assert check["ufw"].severity.label == "ok"
    assert check["policy"].severity.label == "ok"
    assert check["rules"].severity.label == "ok"
    assert check["open"].severity.label == "warning"
    assert "ufw allow 8080/tcp" in check["open"].summary
    assert check["fail2ban"].severity.label == "critical"
    assert "fail2ban is not running" in check["fail2ban"].summary


def test_dry_run_changes_nothing(netns, conf):
    before = netns.iptables(), netns.ufw("show", "added"), (netns.root / "default-ufw").read_text()
    result = netns.tool("--config", conf(), "apply", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("would run: ufw allow from 10.0.0.0/24 to any port 22 proto tcp comment trainserver"
            in result.stdout)
    assert "would run: ufw --force enable" in result.stdout
    assert "would write /etc/fail2ban/jail.d/trainserver.conf" in result.stdout
    assert "+port = 22" in result.stdout
    shown = netns.tool("--config", conf(), "plan")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "would run: ufw --force enable" in shown.stdout
    assert "fail2ban: /etc/fail2ban/jail.d/trainserver.conf would be written:" in shown.stdout
    refusing = netns.tool("--config", conf(), "plan", ssh=OUTSIDE)
    assert refusing.returncode == 0 and "apply would refuse" in refusing.stdout
    after = netns.iptables(), netns.ufw("show", "added"), (netns.root / "default-ufw").read_text()
    assert after == before
    assert netns.ufw("status").startswith("Status: inactive")
    assert not jail_file(netns).exists()


def test_guard_refuses_a_session_from_outside_the_lan(netns, conf):
    before = netns.iptables(), netns.ufw("show", "added")
    result = netns.tool("--config", conf(), "apply", ssh=OUTSIDE)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "203.0.113.9" in result.stderr and "10.0.0.0/24" in result.stderr
    assert "[firewall] lan_networks" in result.stderr and "nothing was changed" in result.stderr
    assert (netns.iptables(), netns.ufw("show", "added")) == before
    assert netns.ufw("status").startswith("Status: inactive")
    assert not jail_file(netns).exists()

    # IPv4-mapped IPv6 (sshd listening on ::) is the same address.
    mapped = netns.tool("--config", conf(), "apply", "--dry-run",
                        ssh="::ffff:10.0.0.7 50022 ::ffff:10.0.0.1 22")
    assert mapped.returncode == 0, mapped.stdout + mapped.stderr
    assert "covered by 10.0.0.0/24" in mapped.stdout

    # Active firewall, then a change that would drop the session's network: refused too.
    assert netns.tool("--config", conf(), "apply").returncode == 0
    before = netns.iptables(), netns.ufw("show", "added")
    moved = netns.tool("--config", conf(["192.168.5.0/24"]), "apply")
    assert moved.returncode == 2
    assert "10.0.0.7" in moved.stderr and "192.168.5.0/24" in moved.stderr
    assert (netns.iptables(), netns.ufw("show", "added")) == before
    # Under sudo the variable is gone; the parent's environment still tells.
    sudo_like = netns.tool("--config", conf(["192.168.5.0/24"]), "apply", "--dry-run", ssh=OUTSIDE,
                           as_sudo=True)
    assert sudo_like.returncode == 2, sudo_like.stdout + sudo_like.stderr
    assert "203.0.113.9" in sudo_like.stderr and "$SSH_CONNECTION of process" in sudo_like.stderr
    assert "(sh)" in sudo_like.stderr


def test_empty_lan_is_a_config_gap(netns, conf):
    result = netns.tool("--config", conf([]), "apply")
    assert result.returncode == 3
    assert "[firewall] lan_networks: empty" in result.stderr
    check = by_check(netns.tool("--config", conf([]), "check", "--json"))
    assert list(check) == ["config"] and check["config"].severity.label == "ok"
    assert "not configured" in check["config"].summary


def test_check_on_a_bare_firewall(netns, conf):
    check = by_check(netns.tool("--config", conf(), "check", "--json"))
    assert check["ufw"].severity.label == "critical" and "inactive" in check["ufw"].summary
    assert check["policy"].severity.label == "ok"  # Debian's /etc/default/ufw says DROP
    assert check["rules"].severity.label == "critical"
    assert "22/tcp from 10.0.0.0/24" in check["rules"].summary
    assert check["docker-ports"].severity.label == "ok"


# fail2ban: the real fail2ban-client -t on a config directory of the test's own.

def test_jail_file_tested_by_fail2ban(tmp_path):
    from trainserver.firewall import fail2ban, system

    config_dir = tmp_path / "fail2ban"
    shutil.copytree("/etc/fail2ban", config_dir, symlinks=True)
    jail = config_dir / "jail.d" / "trainserver.conf"
    settings = {"ssh_port": 2222, "fail2ban_maxretry": 5, "fail2ban_findtime": 600,
                "fail2ban_bantime": 3600}
    good = fail2ban.jail_text(settings)
    passed, words = system.test_jail(good, str(config_dir), str(jail))
    assert passed, words
    system.install_jail(good, str(jail))
    # What the file would be without backend = systemd: Debian 12's default, auth.log, absent.
    broken = good.replace("backend = systemd\n", "logpath = /nonexistent/auth.log\n")
    passed, words = system.test_jail(broken, str(config_dir), str(jail))
    assert not passed
    assert "Have not found any log file for sshd jail" in words
    broken = good.replace("[sshd]\n", "")  # keys outside any section: not an INI file
    passed, words = system.test_jail(broken, str(config_dir), str(jail))
    assert not passed and words
    assert jail.read_text() == good  # the trial never touched the installed file
    dump = subprocess.run(["fail2ban-client", "-c", str(config_dir), "-d"], capture_output=True,
                          text=True, check=True).stdout
    assert "['add', 'sshd', 'systemd']" in dump
    assert "['set', 'sshd', 'maxretry', 5]" in dump
    assert "['set', 'sshd', 'findtime', '600']" in dump
    assert "['set', 'sshd', 'bantime', '3600']" in dump
    assert "'port', '2222'" in dump or "port=2222" in dump or "'2222'" in dump


def test_apply_keeps_the_old_jail_when_fail2ban_refuses(netns, conf):
    assert netns.tool("--config", conf(), "apply").returncode == 0
    good = jail_file(netns).read_text()
    rules = netns.iptables(), netns.ufw("show", "added")
    # A .local naming a filter that does not exist: fail2ban -t refuses the config with the new
    # jail file (maxretry changed) as it would with the old.
    (netns.root / "etc-fail2ban" / "jail.d" / "zz-broken.local").write_text(
        "[sshd]\nfilter = no-such-filter\n")
    refused = netns.tool("--config", conf(web_ports=(443,), maxretry=3), "apply")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "fail2ban refuses the new /etc/fail2ban/jail.d/trainserver.conf" in refused.stderr
    assert jail_file(netns).read_text() == good
    assert (netns.iptables(), netns.ufw("show", "added")) == rules  # checked before any change


def test_fail2ban_running_jail_seen_by_check(netns, conf, tmp_path):
    """A real fail2ban-server in the namespace. There is no journald here, so a .local makes the
    sshd jail read a log file of the test's (backend polling); its database and log stay in tmp."""
    assert netns.tool("--config", conf(), "apply").returncode == 0
    log = tmp_path / "auth.log"
    log.write_text("")
    (netns.root / "etc-fail2ban" / "jail.d" / "zz-test.local").write_text(
        f"[sshd]\nbackend = polling\nlogpath = {log}\n")
    (netns.root / "etc-fail2ban" / "fail2ban.d" / "zz-test.local").write_text(
        f"[Definition]\nlogtarget = {tmp_path}/fail2ban.log\ndbfile = :memory:\n")
    netns.run(["fail2ban-client", "-x", "start"], check=True, timeout=60)
    try:
        check = by_check(netns.tool("--config", conf(), "check", "--json"))
        assert check["fail2ban"].severity.label == "ok", check["fail2ban"].summary
        assert "sshd jail is running: 0 banned now" in check["fail2ban"].summary
        again = netns.tool("--config", conf(), "apply")
        assert again.returncode == 0 and "unchanged" in again.stdout
        changed = netns.tool("--config", conf(ssh_port=22, web_ports=(80, 443, 8443)), "apply")
        assert changed.returncode == 0, changed.stdout + changed.stderr
        assert "unchanged" in changed.stdout  # the jail does not name the web ports
        reloaded = netns.tool("--config", conf(maxretry=3), "apply")
        assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
        assert "fail2ban: reloading (fail2ban-client reload)" in reloaded.stdout
        assert netns.run(["fail2ban-client", "get", "sshd", "maxretry"], check=True).stdout.strip() == "3"
    finally:
        netns.run(["fail2ban-client", "stop"], timeout=60)


# Docker's published ports, with a real dockerd of the test's own.

@pytest.fixture(scope="module")
def bridged_dockerd():
    yield from docker_engine.run_dockerd_bridged("ts-firewall-ports")


def test_published_ports_beyond_the_lan(netns, conf, bridged_dockerd):
    docker, host, image = bridged_dockerd
    env = {"PATH": DEBIAN_PATH}
    subprocess.run(docker + ["run", "-d", "--name", "open", "-p", "0.0.0.0:18081:80", image,
                             "sleep", "600"], check=True, capture_output=True, env=env)
    subprocess.run(docker + ["run", "-d", "--name", "local", "-p", "127.0.0.1:18082:80", image,
                             "sleep", "600"], check=True, capture_output=True, env=env)
    try:
        check = by_check(netns.tool("--config", conf(), "check", "--json",
                                       env={"DOCKER_HOST": host}))
        ports = check["docker-ports"]
        assert ports.severity.label == "critical", ports.summary
        assert "open 0.0.0.0:18081->80/tcp (every address)" in ports.summary
        assert "18082" not in ports.summary
        assert ports.value == 1
        subprocess.run(docker + ["rm", "-f", "open"], check=True, capture_output=True, env=env)
        check = by_check(netns.tool("--config", conf(), "check", "--json",
                                       env={"DOCKER_HOST": host}))
        assert check["docker-ports"].severity.label == "ok", check["docker-ports"].summary
        assert check["docker-ports"].summary.startswith("1 published container ports, none beyond")
    finally:
        subprocess.run(docker + ["rm", "-f", "open", "local"], capture_output=True, env=env)
    # No engine at that address: ok, "not running".
    check = by_check(netns.tool("--config", conf(), "check", "--json",
                                   env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"}))
    assert check["docker-ports"].severity.label == "ok"
    assert "not running" in check["docker-ports"].summary
