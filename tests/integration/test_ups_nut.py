"""ts-ups check against NUT for real: the dummy-ups driver serving a .dev file, and upsd.

Each test starts its own driver and upsd, as root, in a private directory (NUT_CONFPATH,
NUT_STATEPATH, NUT_ALTPIDPATH) with upsd on 127.0.0.1 and a free port; /etc/nut is never read
or changed. ts-ups runs as the timer runs it, a process with a config written for the test, and
reads the UPS through the real upsc. The .dev file is rewritten while the driver runs (in
dummy-once mode the driver reads it again when its time stamp changes), as a UPS's state
changes during a power cut. Needs nut-server (dummy-ups, upsd) and nut-client (upsc).
"""

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from trainserver.core.findings import Severity, exit_status, parse_line

pytestmark = pytest.mark.root

SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
DRIVER = "/lib/nut/dummy-ups"
# /usr/sbin/upsd is Debian's wrapper that reads /etc/nut/nut.conf's MODE; the daemon is here.
UPSD = "/lib/nut/upsd"
UPS = "test"

HEALTHY = {"battery.charge": "100", "battery.runtime": "3600", "ups.status": "OL",
           "ups.test.result": "Done and passed"}


def today_minus(days):
    return (dt.date.today() - dt.timedelta(days=days)).isoformat()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Nut:
    """A dummy-ups driver and a upsd of the test's own; `stop` kills whatever still runs."""

    def __init__(self, root):
        for program in (DRIVER, UPSD):
            assert os.access(program, os.X_OK), f"{program} is missing: apt-get install nut-server"
        self.conf = root / "nut-conf"
        self.state = root / "nut-state"
        self.conf.mkdir()
        self.state.mkdir()
        self.port = free_port()
        self.name = f"{UPS}@127.0.0.1:{self.port}"
        self.dev = self.conf / f"{UPS}.dev"
        self.env = dict(os.environ, PATH=SYSTEM_PATH, NUT_CONFPATH=str(self.conf),
                        NUT_STATEPATH=str(self.state), NUT_ALTPIDPATH=str(self.state))
        (self.conf / "ups.conf").write_text(
            f"[{UPS}]\n  driver = dummy-ups\n  port = {UPS}.dev\n  desc = \"ts-ups test\"\n")
        # MAXAGE: how long upsd serves a silent driver's data before "Data stale" (default 15 s).
        (self.conf / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {self.port}\nMAXAGE 5\n")
        # upsd does not start without it; upsc needs no user.
        users = self.conf / "upsd.users"
        users.write_text("")
        users.chmod(0o600)
        self.driver = self.upsd = None
        self._stamp = time.time() - 3600

    def write(self, variables):
        self.dev.write_text("".join(f"{k}: {v}\n" for k, v in variables.items()))
        # dummy-once reads the file again when its time stamp changes: make sure it does, even
        # within one second.
        self._stamp += 10
        os.utime(self.dev, (self._stamp, self._stamp))

    def start_driver(self):
        self.driver = subprocess.Popen([DRIVER, "-a", UPS, "-u", "root", "-F"], env=self.env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start_upsd(self):
        self.upsd = subprocess.Popen([UPSD, "-u", "root", "-F"], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self, variables):
        self.write(variables)
        self.start_driver()
        self.start_upsd()
        self.wait_for(variables)

    def upsc(self):
        return subprocess.run(["upsc", self.name], capture_output=True, text=True,
                              env=self.env, timeout=10)

    def wait_for(self, variables=None, error=None, seconds=30):
        """Until upsc itself shows `variables` (the driver read the file) or says `error`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            result = self.upsc()
            if variables is not None and result.returncode == 0:
                lines = set(result.stdout.splitlines())
                if all(f"{k}: {v}" in lines for k, v in variables.items()):
                    return
            if error is not None and error in result.stderr:
                return
            time.sleep(0.25)
        raise AssertionError(f"upsc never showed {variables or error!r}: {result.stdout} "
                             f"{result.stderr}")

    def stop(self):
        for process in (self.driver, self.upsd):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
            if process is not None:
                process.wait(timeout=10)


@pytest.fixture
def nut(tmp_path):
    server = Nut(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ups(tmp_path, nut, run_tool):
    """ups.check(*args) -> (exit status, {check: finding}); ups.run(*args) -> the process."""

    config = tmp_path / "trainserver.toml"
    config.write_text("[paths]\n"
                      f'state_dir = "{tmp_path}/state"\n'
                      f'lock_dir = "{tmp_path}/lock"\n'
                      f'metrics_dir = "{tmp_path}/metrics"\n'
                      "[ups]\n"
                      f'name = "{nut.name}"\n'
                      'timeout = "3s"\n', encoding="utf-8")

    class Tool:
        metrics = tmp_path / "metrics" / "trainserver_ups.prom"
        state = tmp_path / "state" / "ups.json"

        @staticmethod
        def run(*args):
            return run_tool("ts-ups", "--config", str(config), *args, env={"PATH": SYSTEM_PATH})

        @classmethod
        def check(cls, *args):
            result = cls.run("check", "--json", *args)
            assert "Traceback" not in result.stderr, result.stderr
            findings = [parse_line(line, n) for n, line in enumerate(result.stdout.splitlines(), 1)]
            assert findings, result.stderr
            assert result.returncode == exit_status(findings), result.stdout
            assert {(f.tool, f.subject) for f in findings} == {("ups", nut.name)}
            by_check = {f.check: f for f in findings}
            assert len(by_check) == len(findings)
            return result.returncode, by_check

    return Tool


def severities(found):
    return {check: finding.severity.label for check, finding in found.items()}


def test_healthy_then_a_power_cut_then_low_battery_then_back(nut, ups):
    nut.start(dict(HEALTHY, **{"ups.test.date": today_minus(3)}))
    status, found = ups.check()
    assert status == 0, found
    assert severities(found) == {"connection": "ok", "charge": "ok", "runtime": "ok",
                                 "power": "ok", "replace-battery": "ok", "self-test": "ok"}
    assert found["power"].summary == "on line power (ups.status: OL)"
    assert found["self-test"].summary.startswith(
        f"the last self-test passed on {today_minus(3)}, ")
    assert found["self-test"].summary.endswith(f"(date: ups.test.date {today_minus(3)})")
    metrics = ups.metrics.read_text()
    label = f'{{ups="{nut.name}"}}'
    for line in (f"trainserver_ups_up{label} 1",
                 f"trainserver_ups_battery_charge_percent{label} 100",
                 f"trainserver_ups_runtime_seconds{label} 3600",
                 f"trainserver_ups_on_battery{label} 0"):
        assert line + "\n" in metrics
    assert f"trainserver_ups_self_test_age_seconds{label} " in metrics

    # The mains go: on battery, 8 minutes left.
    on_battery = dict(HEALTHY, **{"ups.test.date": today_minus(3), "ups.status": "OB DISCHRG",
                                  "battery.charge": "70", "battery.runtime": "480"})
    nut.write(on_battery)
    nut.wait_for(on_battery)
    status, found = ups.check()
    assert status == 1
    assert (found["power"].severity, found["runtime"].severity, found["charge"].severity) == (
        Severity.WARNING, Severity.WARNING, Severity.OK)
    assert found["power"].summary == ("on battery, mains power lost (runtime left 8 min, "
                                      "charge 70%); discharging (ups.status: OB DISCHRG)")
    assert f"trainserver_ups_on_battery{label} 1\n" in ups.metrics.read_text()

    # The battery runs low.
    low = dict(on_battery, **{"ups.status": "OB LB", "battery.charge": "15",
                              "battery.runtime": "150"})
    nut.write(low)
    nut.wait_for(low)
    status, found = ups.check()
    assert status == 2
    assert severities(found) == {"connection": "ok", "charge": "critical",
                                 "runtime": "critical", "power": "critical",
                                 "replace-battery": "ok", "self-test": "ok"}
    assert found["power"].summary.startswith("on battery with LOW BATTERY (runtime left 2 min "
                                             "30 s, charge 15%)")
    assert (found["charge"].value, found["charge"].threshold) == (15, 20)

    # Power is back and the UPS charges; the text table says the same as the findings.
    back = dict(low, **{"ups.status": "OL CHRG", "battery.charge": "60",
                        "battery.runtime": "2400"})
    nut.write(back)
    nut.wait_for(back)
    status, found = ups.check()
    assert status == 0
    assert found["power"].summary == "on line power; charging (ups.status: OL CHRG)"
    text = ups.run("check")
    assert text.returncode == 0 and "ups/power" in text.stdout and "OK" in text.stdout


def test_status_prints_what_upsc_prints(nut, ups):
    nut.start(HEALTHY)
    result = ups.run("status", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["ups"] == nut.name
    assert HEALTHY.items() <= document["variables"].items()
    assert document["variables"]["driver.name"] == "dummy-ups"
    text = ups.run("status")
    assert text.stdout == nut.upsc().stdout


def test_replace_battery_and_a_failed_self_test(nut, ups):
    nut.start(dict(HEALTHY, **{"ups.status": "OL RB", "ups.test.result": "Done and error",
                               "ups.test.date": today_minus(1)}))
    status, found = ups.check()
    assert status == 2
    assert severities(found)["replace-battery"] == "critical"
    assert severities(found)["self-test"] == "critical"
    assert found["self-test"].summary.startswith("the last self-test FAILED: 'Done and error'")


def test_an_old_self_test_is_a_warning(nut, ups):
    nut.start(dict(HEALTHY, **{"ups.test.date": today_minus(60)}))
    status, found = ups.check()
    assert status == 1
    test = found["self-test"]
    assert (test.severity, test.threshold) == (Severity.WARNING, 35.0)
    assert 59.5 <= test.value <= 61
    assert "longer ago than 35 days" in test.summary


def test_never_tested_is_a_warning_at_the_first_run(nut, ups):
    nut.start(dict(HEALTHY, **{"ups.test.result": "No test initiated"}))
    status, found = ups.check()
    assert status == 1
    assert found["self-test"].summary.startswith("no self-test recorded ('No test initiated')")


def test_without_a_test_date_the_state_dates_the_result(nut, ups):
    nut.start(HEALTHY)
    status, found = ups.check()
    assert status == 0
    assert "(date: when ts-ups first saw this result; the UPS gives no test date" in \
        found["self-test"].summary
    saved = json.loads(ups.state.read_text())["self_test"][nut.name]
    assert (saved["result"], saved["changed"]) == ("Done and passed", None)
    # Nothing changes for 40 days: the test is at least that old.
    later = dt.datetime.fromtimestamp(saved["first_seen"] + 40 * 86400, dt.timezone.utc)
    status, found = ups.check("--now", later.isoformat())
    assert status == 1
    assert "longer ago than 35 days" in found["self-test"].summary
    # A self-test runs and passes: its result changes, and the change dates it.
    running = dict(HEALTHY, **{"ups.test.result": "In progress", "ups.status": "OL TEST"})
    nut.write(running)
    nut.wait_for(running)
    status, found = ups.check("--now", later.isoformat())
    assert (status, found["self-test"].severity) == (0, Severity.OK)
    nut.write(HEALTHY)
    nut.wait_for(HEALTHY)
    status, found = ups.check("--now", later.isoformat())
    assert status == 0
    assert found["self-test"].summary.endswith("(date: when ts-ups saw the result change)")
    assert json.loads(ups.state.read_text())["self_test"][nut.name]["changed"] == \
        later.timestamp()


def lost(ups):
    status, found = ups.check()
    assert status == 2
    assert list(found) == ["connection"]
    label = f'{{ups="{found["connection"].subject}"}}'
    assert f"trainserver_ups_up{label} 0\n" in ups.metrics.read_text()
    assert "trainserver_ups_battery_charge_percent{" not in ups.metrics.read_text()
    return found["connection"]


def test_the_driver_killed_is_driver_not_connected(nut, ups):
    nut.start(HEALTHY)
    nut.driver.kill()
    nut.driver.wait(timeout=10)
    nut.wait_for(error="Driver not connected")
    connection = lost(ups)
    assert connection.severity == Severity.CRITICAL
    assert connection.summary.startswith("cannot read the UPS: Driver not connected; ")


def test_a_driver_that_stops_answering_is_data_stale(nut, ups):
    nut.start(HEALTHY)
    nut.driver.send_signal(signal.SIGSTOP)
    nut.wait_for(error="Data stale")  # upsd.conf MAXAGE 5
    connection = lost(ups)
    assert connection.value == "Data stale"
    assert "lost contact with the UPS" in connection.summary


def test_upsd_killed_is_a_connection_failure(nut, ups):
    nut.start(HEALTHY)
    nut.upsd.kill()
    nut.upsd.wait(timeout=10)
    connection = lost(ups)
    assert connection.value == "Connection failure: Connection refused"
    assert "upsd is not answering" in connection.summary
    status = ups.run("status")
    assert status.returncode == 3 and "Connection failure" in status.stderr


def test_a_hung_upsd_is_a_timeout(nut, ups):
    nut.start(HEALTHY)
    nut.upsd.send_signal(signal.SIGSTOP)
    started = time.monotonic()
    connection = lost(ups)
    assert time.monotonic() - started < 20
    assert connection.summary.startswith(f"no answer from upsd at 127.0.0.1:{nut.port} within "
                                         "3 s (upsc timed out)")


def test_an_unknown_ups_name_is_critical(nut, ups, tmp_path):
    nut.start(HEALTHY)
    config = tmp_path / "trainserver.toml"
    config.write_text(config.read_text().replace(nut.name, f"nosuch@127.0.0.1:{nut.port}"))
    result = ups.run("check", "--json")
    [finding] = [parse_line(line) for line in result.stdout.splitlines()]
    assert (result.returncode, finding.severity, finding.value) == (2, Severity.CRITICAL,
                                                                    "Unknown UPS")
    assert "upsc -l" in finding.summary
