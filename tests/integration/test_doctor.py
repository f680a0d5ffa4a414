"""ts-doctor against a real BTRFS RAID10 over four loop devices, with the real ts-storage and
ts-snapshot on PATH: the chunk check passes, fails naming a "single" chunk after a metadata
conversion, and passes again after the balance it names; a real snapshot is found; the timers
and the GPU skip here with the reason; the internet probe passes, fails and is cut at
probe_timeout; HTTPS through a TLS server with SNI. Needs root, btrfs-progs, openssl."""

import json
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

pytestmark = pytest.mark.root


@pytest.fixture
def setup(tmp_path, raid10, tool_path):
    """(config writer, env): the source tree's ts-* tools as programs on PATH first."""
    bin_dir = os.path.dirname(tool_path("ts-storage"))
    for name in ("ts-snapshot", "ts-alert", "ts-doctor"):
        tool_path(name)
    env = {"PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin"}

    def write(doctor=""):
        state = tmp_path / "state"
        path = tmp_path / "trainserver.toml"
        path.write_text(f'[paths]\nstorage = "{raid10["mount"]}"\nstate_dir = "{state}"\n'
                        f'lock_dir = "{state}"\nmetrics_dir = "{state}/metrics"\n'
                        f'[storage]\nfstab = "{tmp_path}/fstab"\n'
                        f'[snapshot]\nsubvolumes = ["homes/*"]\n'
                        f'[backup]\nrepository = ""\n'
                        f'[doctor]\n{doctor}\n')
        return str(path)

    return write, env


def doctor(run_tool, env, config, *args):
    started = time.monotonic()
    result = run_tool("ts-doctor", "--config", config, "--json", *args, env=env)
    took = time.monotonic() - started
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines, result.stderr
    by_item = {(item["area"], item["item"]): item for item in lines[:-1]}
    return result.returncode, by_item, lines[-1], took


def test_storage_backups_timers_gpu_on_a_real_raid10(run_tool, setup, raid10):
    write, env = setup
    mount = raid10["mount"]
    config = write('internet_address = ""')
    subprocess.run(["btrfs", "subvolume", "create", f"{mount}/homes"], check=True,
                   capture_output=True)
    subprocess.run(["btrfs", "subvolume", "create", f"{mount}/homes/alice"], check=True,
                   capture_output=True)
    created = run_tool("ts-snapshot", "--config", config, "create", "--json", env=env)
    assert created.returncode == 0, created.stdout + created.stderr
    # ts-storage check warns until a scrub is on record: the doctor would fail on it.
    subprocess.run(["btrfs", "scrub", "start", "-B", mount], check=True, capture_output=True)

    status, found, total, took = doctor(run_tool, env, config)
    print(json.dumps(total), f"{took:.2f} s with start-up")
    health = found[("storage", "health")]
    assert health["status"] == "PASS", health
    chunks = found[("storage", "chunks raid10")]
    assert (chunks["status"], chunks["reason"]) == ("PASS", "Data, Metadata, System: all RAID10")
    assert found[("storage", "bcache writeback")]["status"] == "SKIP"
    snapshot = found[("backups", "snapshot")]
    assert snapshot["status"] == "PASS", snapshot
    assert f"{mount}/snapshots/homes/alice/" in snapshot["reason"]
    assert found[("backups", "restic")]["reason"] == \
        "backup not configured ([backup] repository is empty)"
    if not os.path.isdir("/run/systemd/system"):
        assert found[("timers", "ts-*.timer")] == {
            **found[("timers", "ts-*.timer")], "status": "SKIP", "reason": "systemd is not running"}
        assert found[("timers", "jobs overdue")]["status"] == "SKIP"
    if shutil.which("nvidia-smi") is None:
        assert found[("gpu", "nvidia-smi")]["reason"] == "no NVIDIA driver (nvidia-smi not found)"
        assert found[("gpu", "compute")]["status"] == "SKIP"
    assert status == 0, [item for item in found.values() if item["status"] == "FAIL"]

    # A device replacement done without a convert leaves "single" chunks: here, by converting
    # the metadata (and with it the system chunks) on purpose.
    subprocess.run(["btrfs", "balance", "start", "-f", "-mconvert=single", mount], check=True,
                   capture_output=True)
    status, found, total, took = doctor(run_tool, env, config, "--only", "storage")
    chunks = found[("storage", "chunks raid10")]
    assert status == 2
    assert chunks["status"] == "FAIL"
    assert "System single" in chunks["reason"] and "Metadata single" in chunks["reason"]
    assert "Data" not in chunks["reason"]
    assert chunks["investigate"] == ("btrfs balance start -dconvert=raid10,soft "
                                     f"-mconvert=raid10,soft {mount}")
    # The command it names repairs it.
    subprocess.run(shlex.split(chunks["investigate"]), check=True, capture_output=True)
    status, found, total, took = doctor(run_tool, env, config, "--only", "storage")
    assert found[("storage", "chunks raid10")]["status"] == "PASS"


def test_internet_refused_listening_and_hanging(run_tool, setup):
    write, env = setup
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    try:
        status, found, total, took = doctor(
            run_tool, env, write(f'internet_address = "127.0.0.1:{port}"'), "--only", "network")
        assert found[("network", "internet")]["status"] == "PASS"
        server.accept()[0].close()  # the doctor's connection, which held the one queue slot
        # accept queue full: further connects hang, as behind a dropping firewall
        filler = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            config = write(f'internet_address = "127.0.0.1:{port}"\nprobe_timeout = "3s"')
            status, found, total, took = doctor(run_tool, env, config)
        finally:
            filler.close()
    finally:
        server.close()
    internet = found[("network", "internet")]
    assert status == 2 and internet["status"] == "FAIL"
    assert "no answer within" in internet["reason"]
    print(f"whole run with a hanging probe, probe_timeout 3 s: {total['total_seconds']} s "
          f"measured inside, {took:.2f} s with the interpreter's start")
    assert total["total_seconds"] < 3.5
    assert took < 6
    status, found, total, took = doctor(
        run_tool, env, write(f'internet_address = "127.0.0.1:{port}"'), "--only", "network")
    assert found[("network", "internet")]["reason"] == \
        f"TCP to 127.0.0.1:{port}: Connection refused"


@pytest.fixture
def tls_server(tmp_path):
    """A TLS server on 127.0.0.1 with a self-signed certificate (as Traefik's default) that
    answers like Traefik: 302 for alice-code.lab.example (by SNI), 404 for other names."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=TRAEFIK DEFAULT CERT", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    seen = []
    context.sni_callback = lambda sock, name, ctx: seen.append(name)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                raw, _ = server.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(raw, server_side=True) as connection:
                    request = connection.recv(4096).decode()
                    host = next(line.split(":", 1)[1].strip() for line in request.splitlines()
                                if line.lower().startswith("host:"))
                    code = "302 Found" if host == "alice-code.lab.example" else "404 Not Found"
                    connection.sendall(f"HTTP/1.1 {code}\r\nContent-Length: 0\r\n\r\n".encode())
            except (OSError, ssl.SSLError, StopIteration):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], seen
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_https_through_a_self_signed_tls_server_by_name(tls_server):
    from trainserver.doctor import parse
    from trainserver.doctor.areas import users

    port, seen = tls_server
    code, problem = users.https_status("127.0.0.1", "alice-code.lab.example", 5, port=port)
    assert (code, problem) == (302, None)
    assert parse.web_verdict(code)[0]
    code, problem = users.https_status("127.0.0.1", "bob-jupyter.lab.example", 5, port=port)
    assert code == 404 and not parse.web_verdict(code)[0]
    assert seen == ["alice-code.lab.example", "bob-jupyter.lab.example"]
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    closed = free.getsockname()[1]
    free.close()
    assert users.https_status("127.0.0.1", "x.lab.example", 2, port=closed) == (
        None, "Connection refused")
