"""ts-doctor's command line as a real process (no root): exit statuses, --json, --only,
`run` and the group alone, and the run's wall time bounded by probe_timeout."""

import json
import socket
import time

import pytest

AREAS = ("storage", "gpu", "docker", "network", "monitoring", "backups", "alerts", "users",
         "timers")


@pytest.fixture
def config(tmp_path):
    def write(text=""):
        path = tmp_path / "trainserver.toml"
        state = tmp_path / "state"
        path.write_text(f'[paths]\nstorage = "{tmp_path}/storage"\nstate_dir = "{state}"\n'
                        f'lock_dir = "{state}"\nmetrics_dir = "{state}/metrics"\n' + text)
        return str(path)
    return write


def doctor(run_tool, config_path, *args):
    return run_tool("ts-doctor", "--config", config_path, *args,
                    env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def items(result):
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return lines[:-1], lines[-1]


def test_nothing_configured_is_all_skip_or_pass_and_exits_0(run_tool, config):
    result = doctor(run_tool, config('[doctor]\ninternet_address = ""\n'), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    found, total = items(result)
    assert {item["area"] for item in found} == set(AREAS)
    assert [item["area"] for item in found] == sorted(
        (item["area"] for item in found), key=AREAS.index)
    for item in found:
        assert list(item) == ["area", "item", "status", "reason", "investigate", "seconds"]
        assert item["status"] in ("PASS", "SKIP")
        assert item["reason"]
    assert total["fail"] == 0 and total["total_seconds"] < 10


def test_a_refused_internet_address_fails_with_exit_2_and_run_is_the_same(run_tool, config):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.close()  # nothing listens there now: refused
    path = config(f'[doctor]\ninternet_address = "127.0.0.1:{port}"\n')
    for args in (["--json", "--only", "network"], ["run", "--json", "--only", "network"]):
        result = doctor(run_tool, path, *args)
        assert result.returncode == 2, result.stderr
        found, total = items(result)
        internet = next(item for item in found if item["item"] == "internet")
        assert internet["status"] == "FAIL"
        assert internet["reason"] == f"TCP to 127.0.0.1:{port}: Connection refused"
        assert internet["investigate"] == f"nc -vz -w 5 127.0.0.1 {port}"
        assert {item["area"] for item in found} == {"network"}
    table = doctor(run_tool, path, "--only", "network,alerts")
    assert table.returncode == 2
    assert "FAIL" in table.stdout and "investigate: nc -vz" in table.stdout
    assert table.stdout.splitlines()[-1].startswith("0 passed, 1 failed, 3 skipped in ")


def test_a_probe_that_hangs_is_cut_at_probe_timeout(run_tool, config):
    # A listener whose accept queue is full: the kernel drops further SYNs, so a connect hangs
    # (what a firewall that drops, or a dead route, does to the real probe).
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))
    try:
        path = config(f'[doctor]\ninternet_address = "127.0.0.1:{port}"\nprobe_timeout = "2s"\n')
        started = time.monotonic()
        result = doctor(run_tool, path, "--json")
        took = time.monotonic() - started
    finally:
        filler.close()
        server.close()
    assert result.returncode == 2
    found, total = items(result)
    internet = next(item for item in found if item["item"] == "internet")
    assert internet["status"] == "FAIL"
    assert internet["reason"].startswith(f"TCP to 127.0.0.1:{port}: no answer within 1.")
    assert total["total_seconds"] < 2.5
    print(f"ts-doctor with a hanging probe and probe_timeout 2 s: {total['total_seconds']} s "
          f"inside, {took:.2f} s with the interpreter's start")
    assert took < 5


def test_usage_and_config_errors_exit_3(run_tool, config, tmp_path):
    result = doctor(run_tool, config(), "--only", "kitchen")
    assert result.returncode == 3
    assert "'kitchen' is not an area" in result.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[doctor]\nprobe_timeout = "soon"\n')
    result = doctor(run_tool, str(bad))
    assert result.returncode == 3
    assert "probe_timeout" in result.stderr


def test_help_names_the_areas_and_the_exit_statuses(run_tool):
    result = run_tool("ts-doctor", "--help")
    assert result.returncode == 0
    for area in AREAS:
        assert area in result.stdout
    assert "2 run: at least one item failed" in " ".join(result.stdout.split())
    assert "digest" in result.stdout and "failover-done" in result.stdout
