#!/usr/bin/python3
"""The guest side of the VM harness: install the .deb and run the job's tests as autopkgtest
would, or run the demo; report every step as a JSON line on the event port; power off.

Started at every boot by the image's ts-vm-boot unit, from the read-only job disk. What must
survive a reboot (which test is running, its reboot mark, the results so far) is kept in
/var/lib/ts-vm on the guest's root disk.

autopkgtest semantics (DEP-8): each test program runs as root in the unpacked source tree, with
AUTOPKGTEST_TMP (a fresh empty directory) and AUTOPKGTEST_ARTIFACTS set. A test reboots the
machine by calling /tmp/autopkgtest-reboot MARK; it is then run again after the boot with
AUTOPKGTEST_REBOOT_MARK=MARK. Output on stderr fails a test unless it has allow-stderr. A test
whose Depends are not installed fails: the guest has no network (unless the job asks for it,
as only the upgrade scenario does), so everything must be in the image. Lines a test prints as `STEP ok NAME` or `STEP FAIL NAME: WHY` become step results.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

JOB = "/run/ts-vm/job"
STATE_DIR = "/var/lib/ts-vm"
STATE = os.path.join(STATE_DIR, "state.json")
SOURCE = os.path.join(STATE_DIR, "src")
ARTIFACTS = os.path.join(STATE_DIR, "artifacts")
REBOOT_MARK = os.path.join(STATE_DIR, "reboot-mark")
RESULTS_DEVICE = "/dev/disk/by-id/virtio-tsresults"
KEXEC_FLAG = "/run/ts-vm-kexec"
EVENTS = "/dev/ttyS1"
KNOWN_RESTRICTIONS = {"needs-root", "isolation-machine", "isolation-container", "breaks-testbed",
                      "needs-reboot", "allow-stderr", "superficial", "rw-build-tree"}

_port = open(EVENTS, "w", buffering=1)
_port_lock = threading.Lock()


def emit(event, **fields):
    line = json.dumps({"event": event, "time": round(time.time(), 3), **fields})
    with _port_lock:
        _port.write(line + "\n")


def load_state():
    try:
        with open(STATE) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {"boot": 0, "index": 0, "results": [], "mark": None}


def save_state(state):
    os.makedirs(STATE_DIR, exist_ok=True)
    temporary = STATE + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(temporary, STATE)


def step(name, argv, **kwargs):
    """Run argv as one named step; its output goes to the event port; False when it failed."""
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        for line in text.splitlines():
            emit("output", test=name, stream=stream, line=line)
    status = "ok" if result.returncode == 0 else "fail"
    emit("step", name=name, status=status, rc=result.returncode,
         duration=round(time.monotonic() - started, 2))
    return result.returncode == 0


def network_up():
    """qemu's user-mode network (the job's "network": true), by systemd-networkd with DHCP;
    the image has no other network configuration. Persists across reboots, as an admin's
    would. True when a default route came up."""
    with open("/etc/systemd/network/80-ts-vm.network", "w") as handle:
        handle.write("[Match]\nName=en*\n\n[Network]\nDHCP=yes\n")
    # qemu's user-mode network answers DNS at 10.0.2.3; no resolver daemon in the image.
    if os.path.islink("/etc/resolv.conf"):
        os.unlink("/etc/resolv.conf")
    with open("/etc/resolv.conf", "w") as handle:
        handle.write("nameserver 10.0.2.3\n")
    subprocess.run(["systemctl", "enable", "--now", "systemd-networkd"], capture_output=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if _has_default_route():
            return True
        time.sleep(1)
    return False


def _has_default_route():
    # /proc/net/route: a default route has destination 00000000 (no iproute2 needed).
    with open("/proc/net/route") as handle:
        return any(line.split()[1] == "00000000" for line in list(handle)[1:] if line.split())


def first_boot(job):
    """None when the machine is ready for the tests, else what went wrong."""
    shutil.copytree(os.path.join(JOB, "src"), SOURCE, symlinks=True)
    deb = os.path.join(JOB, job["deb"])
    if job.get("network"):
        ok = network_up()
        emit("step", name="network up (qemu user-mode, systemd-networkd DHCP)",
             status="ok" if ok else "fail")
        if not ok:
            return "the network did not come up (no default route in 90 s)"
    if not job.get("install", True):
        # The harness's own tests (a hung guest): the package plays no part, and its
        # installation (about two minutes under TCG) would only delay the test.
        emit("step", name="install the trainserver .deb: not asked for", status="ok")
        return None
    # Offline: every dependency is in the image, and apt has no package lists to fetch from.
    if not step("install the trainserver .deb (apt, offline)",
                ["apt-get", "install", "-y", deb],
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}):
        return "apt could not install the .deb"
    return None


def missing_depends(test):
    missing = []
    for name in test["depends"]:
        if name in ("@", "@builddeps@"):
            continue
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True,
                                text=True).stdout
        if status != "install ok installed":
            missing.append(name)
    return missing


def _pump(stream, name, kind, seen, log):
    for line in stream:
        line = line.rstrip("\n")
        seen[kind] = True
        log.write(f"{kind}: {line}\n")
        emit("output", test=name, stream=kind, line=line)
        if kind == "stdout" and line.startswith("STEP "):
            _, status, rest = (line.split(" ", 2) + [""])[:3]
            emit("step", name=f"{name}: {rest}", status="ok" if status == "ok" else "fail")


def run_test(test, mark, timeout):
    """'pass', 'fail', 'skip' with a reason, or ('reboot', mark)."""
    unknown = set(test["restrictions"]) - KNOWN_RESTRICTIONS
    if unknown:
        return "skip", f"unknown restrictions: {', '.join(sorted(unknown))}"
    missing = missing_depends(test)
    if missing:
        return "fail", f"Depends not installed in the image (the guest is offline): {missing}"
    artifacts = os.path.join(ARTIFACTS, test["name"])
    os.makedirs(artifacts, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f"autopkgtest-{test['name']}.", dir="/var/tmp")
    with open("/tmp/autopkgtest-reboot", "w") as handle:
        # Written aside and renamed: the loop below must never read a half-written mark.
        handle.write(f'#!/bin/sh\nset -e\nprintf "%s" "$1" > {REBOOT_MARK}.new\nsync\n'
                     f'mv {REBOOT_MARK}.new {REBOOT_MARK}\nexec sleep infinity\n')
    os.chmod("/tmp/autopkgtest-reboot", 0o755)
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive",
        "AUTOPKGTEST_TMP": tmp, "ADTTMP": tmp,
        "AUTOPKGTEST_ARTIFACTS": artifacts, "ADT_ARTIFACTS": artifacts,
    }
    if mark:
        env["AUTOPKGTEST_REBOOT_MARK"] = mark
    program = os.path.join(SOURCE, test["path"])
    os.chmod(program, 0o755)
    seen = {}
    with open(os.path.join(artifacts, "log"), "a") as log:
        process = subprocess.Popen([program], cwd=SOURCE, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True)
        pumps = [threading.Thread(target=_pump, args=(s, test["name"], k, seen, log))
                 for s, k in ((process.stdout, "stdout"), (process.stderr, "stderr"))]
        for pump in pumps:
            pump.start()
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            if os.path.exists(REBOOT_MARK):
                with open(REBOOT_MARK) as handle:
                    requested = handle.read().strip()
                os.unlink(REBOOT_MARK)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return "reboot", requested
            if time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return "fail", f"timed out after {timeout} s"
            time.sleep(0.2)
        for pump in pumps:
            pump.join()
    shutil.rmtree(tmp, ignore_errors=True)
    if process.returncode != 0:
        return "fail", f"exit status {process.returncode}"
    if seen.get("stderr") and "allow-stderr" not in test["restrictions"]:
        return "fail", "wrote to stderr (and has no allow-stderr)"
    return "pass", ""


def collect(state):
    """Copy the journal of every boot, the artifacts and the results to the results disk."""
    target = "/run/ts-vm/results"
    os.makedirs(target, exist_ok=True)
    subprocess.run(["mount", RESULTS_DEVICE, target], check=True)
    try:
        with open(os.path.join(target, "journal.txt"), "w") as handle:
            subprocess.run(["journalctl", "--no-pager", "-o", "short-precise"], stdout=handle)
        if os.path.isdir(ARTIFACTS):
            shutil.copytree(ARTIFACTS, os.path.join(target, "artifacts"), dirs_exist_ok=True)
        with open(os.path.join(target, "results.json"), "w") as handle:
            json.dump(state["results"], handle, indent=2)
    finally:
        subprocess.run(["umount", target])


def finish(state, status):
    try:
        collect(state)
    except Exception as exc:  # the results are on the event port already: not fatal
        emit("warning", message=f"collecting the guest's logs: {exc}")
    emit("done", status=status, results=state["results"])
    subprocess.run(["systemctl", "poweroff"])
    sys.exit(0)


def main():
    with open(os.path.join(JOB, "job.json")) as handle:
        job = json.load(handle)
    state = load_state()
    state["boot"] += 1
    save_state(state)
    # The kernel, because a boot may be a kexec into another one (the upgrade scenario).
    emit("boot", number=state["boot"], kernel=os.uname().release)
    problem = first_boot(job) if state["boot"] == 1 else None
    if problem:
        state["results"].append({"name": "install", "status": "fail", "reason": problem})
        finish(state, "fail")
    if job["mode"] == "demo":
        demo = {"name": "demo", "path": job["demo"], "restrictions": ["allow-stderr"],
                "depends": []}
        emit("test-start", name="demo")
        status, reason = run_test(demo, None, job.get("timeout", 900))
        state["results"].append({"name": "demo", "status": status, "reason": reason})
        emit("test-end", name="demo", status=status, reason=reason)
        finish(state, status)
    tests = job["tests"]
    while state["index"] < len(tests):
        test = tests[state["index"]]
        mark = state.get("mark")
        emit("test-start", name=test["name"], mark=mark)
        started = time.monotonic()
        outcome, detail = run_test(test, mark, test.get("timeout", job.get("timeout", 900)))
        if outcome == "reboot":
            state["mark"] = detail
            save_state(state)
            emit("reboot", name=test["name"], mark=detail)
            subprocess.run(["sync"])
            # qemu boots the image's kernel (-kernel) at every reset: a test that must boot
            # another kernel (the upgrade's) loads it with `kexec -l` and creates KEXEC_FLAG.
            if os.path.exists(KEXEC_FLAG):
                os.unlink(KEXEC_FLAG)
                subprocess.run(["systemctl", "kexec"])
            else:
                subprocess.run(["systemctl", "reboot"])
            time.sleep(600)  # systemd stops this unit on the way down
            sys.exit(0)
        result = {"name": test["name"], "status": outcome, "reason": detail,
                  "duration": round(time.monotonic() - started, 1)}
        state["results"].append(result)
        state["index"] += 1
        state["mark"] = None
        save_state(state)
        emit("test-end", **result)
    failed = any(r["status"] == "fail" for r in state["results"])
    finish(state, "fail" if failed else "pass")


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as exc:
        emit("error", message=f"guest runner: {type(exc).__name__}: {exc}")
        subprocess.run(["systemctl", "poweroff"])
        raise
