"""The host side of the VM harness: boot a cached Debian guest under qemu (TCG) with one
NVMe disk and four rotational IDE hard disks, hand it a job (the .deb, the source tree, which
tests to run), follow its events, and collect its logs.

The guest reports on its second serial port, one JSON object a line (tests/vm/guest/runner.py);
the first serial port is its console. Per run, everything lives in a fresh work directory (so
two runs never clash) that is removed at the end; the logs are copied to the output directory.
qemu runs in its own session and dies with the harness (PR_SET_PDEATHSIG), is killed at the
timeout, and is killed in a `finally` on any error or interrupt: no qemu survives a run.
"""

import ctypes
import glob
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RUNNER = os.path.join(HERE, "guest", "runner.py")

NVME_SIZE = "16G"
HDD_SIZE = "8G"
HDD_COUNT = 4  # the pc machine's two IDE buses, two units each
MEMORY = "2048"

# The programs the harness runs on the host (here and in image.py), and the Debian package of
# each: `make deps` installs them.
PROGRAMS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "mmdebstrap": "mmdebstrap",
    "mkfs.ext4": "e2fsprogs",
    "debugfs": "e2fsprogs",
    "dpkg-deb": "dpkg",
}


class MissingPrograms(Exception):
    """Programs the harness runs are not installed; the message names them in one line."""


def missing_programs(path=None):
    """The PROGRAMS not found on `path` (default: $PATH, where subprocess looks too)."""
    return [name for name in PROGRAMS if shutil.which(name, path=path) is None]


def require_programs(path=None):
    """Raise MissingPrograms before anything starts, rather than a FileNotFoundError from
    deep inside a run, minutes into it (an image build, a boot)."""
    missing = missing_programs(path)
    if missing:
        packages = " ".join(sorted({PROGRAMS[name] for name in missing}))
        raise MissingPrograms(f"the VM harness needs {', '.join(missing)}, not found on PATH: "
                              f"run `make deps` (or apt-get install {packages})")


@dataclass
class Test:
    """One autopkgtest program, from debian/tests/control."""

    name: str
    path: str
    restrictions: list
    depends: list

    @property
    def needs_machine(self):
        return "isolation-machine" in self.restrictions


def parse_control(path=os.path.join(ROOT, "debian", "tests", "control")):
    """The tests of a DEP-8 control file (deb822 paragraphs)."""
    tests = []
    with open(path) as handle:
        paragraphs = handle.read().split("\n\n")
    for paragraph in paragraphs:
        fields, last = {}, None
        for line in paragraph.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and last:
                fields[last] += " " + line.strip()
                continue
            last, _, value = line.partition(":")
            last = last.strip().lower()
            fields[last] = value.strip()
        if "tests" not in fields:
            continue
        directory = fields.get("tests-directory", "debian/tests")
        restrictions = fields.get("restrictions", "").replace(",", " ").split()
        depends = [d.strip() for d in fields.get("depends", "@").split(",") if d.strip()]
        for name in fields["tests"].replace(",", " ").split():
            tests.append(Test(name, f"{directory}/{name}", restrictions, depends))
    return tests


def machine_tests():
    return [test for test in parse_control() if test.needs_machine]


# The whole-machine tests each release's guest runs in CI. Both prove that the package installs,
# upgrades, purges, and keeps its storage healthy across reboots there (install-lifecycle,
# storage-health); Debian 12 runs the rest too (the failure matrix, people, the Drive mount).
# Running those twice would add some 17 minutes under TCG (the failure matrix alone takes 11)
# to prove Python code that behaves the same way on both. The demo runs on Debian 13.
SUITE_TESTS = {
    "bookworm": None,  # all
    "trixie": ("install-lifecycle", "storage-health"),
}


def suite_tests(suite):
    wanted = SUITE_TESTS[suite]
    return [test for test in machine_tests() if wanted is None or test.name in wanted]


def machine_groups(tests=None):
    """The whole-machine tests as guests to boot: a test that leaves the machine as it found
    it (no breaks-testbed) shares the guest of the next one that breaks it, and runs first;
    each test that breaks the testbed ends its guest, as DEP-8 asks. Boots are the slow part
    under TCG (about 30 s each, with the .deb's installation)."""
    groups, pending = [], []
    for test in machine_tests() if tests is None else tests:
        pending.append(test)
        if "breaks-testbed" in test.restrictions:
            groups.append(pending)
            pending = []
    if pending:
        groups.append(pending)
    return groups


@dataclass
class Outcome:
    status: str  # pass, fail, timeout, error
    results: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    output: list = field(default_factory=list)  # (test, stream, line)
    boots: int = 0
    duration: float = 0.0
    output_dir: str = ""
    problem: str = ""

    def failing_step(self):
        for step in self.steps:
            if step.get("status") == "fail":
                return step["name"]
        for result in self.results:
            if result.get("status") == "fail":
                return f"{result['name']}: {result.get('reason', '')}"
        return self.problem or None

    def report(self, console_lines=40, output_lines=40):
        """What a person needs when a run failed: the failing step and the logs' tails."""
        lines = [f"VM run {self.status}: failing step: {self.failing_step()}"]
        if self.output:
            lines.append(f"-- last {output_lines} lines of the guest's test output:")
            lines += [f"   {test} {stream}: {line}" for test, stream, line in
                      self.output[-output_lines:]]
        console = os.path.join(self.output_dir, "console.log")
        if os.path.exists(console):
            with open(console, errors="replace") as handle:
                tail = handle.read().replace("\r", "").splitlines()[-console_lines:]
            lines.append(f"-- last {len(tail)} lines of the guest console ({console}):")
            lines += [f"   {line}" for line in tail]
        return "\n".join(lines)


def wait_for_line(stream, text, timeout):
    """(the first line of the pipe `stream` that holds `text`, the lines before it); the line is
    None when the stream ended or `timeout` seconds passed first. The deadline holds whether
    lines keep coming or none ever comes: it reads the file descriptor through select, never
    with a read that could block. Output that came in the same read after the matching line is
    consumed too: afterwards the stream is only fit for draining."""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    pending, seen = b"", []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None, seen
        data = os.read(fd, 65536)
        if not data:
            if pending:
                seen.append(pending.decode(errors="replace"))
            return None, seen
        *lines, pending = (pending + data).split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace")
            if text in line:
                return line, seen
            seen.append(line)


def _die_with_parent():
    # qemu must not outlive the harness, even when the harness is killed with SIGKILL.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _source_files():
    """The unpacked source tree as autopkgtest would see it: the files git tracks (or all)."""
    if os.path.isdir(os.path.join(ROOT, ".git")):
        listed = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], check=True, capture_output=True).stdout
        return [name for name in listed.decode().split("\0") if name]
    names = []
    for directory, subdirs, files in os.walk(ROOT):
        subdirs[:] = [d for d in subdirs if d not in (".git", "dist", "__pycache__", ".pybuild")]
        names += [os.path.relpath(os.path.join(directory, f), ROOT) for f in files]
    return names


def newest_deb(suite, clean_build_only=False):
    """The newest trainserver_*_all.deb of dist/SUITE/ (the release's clean build,
    tests/build/clean-build), else of dist/ (`make deb`) unless clean_build_only; None when
    there is none."""
    dist = os.path.join(ROOT, "dist")
    for directory in [os.path.join(dist, suite)] + ([] if clean_build_only else [dist]):
        debs = sorted(glob.glob(os.path.join(directory, "trainserver_*_all.deb")),
                      key=os.path.getmtime)
        if debs:
            return os.path.abspath(debs[-1])
    return None


def copy_source_tree(destination):
    """Copy the source tree (_source_files: uncommitted edits included, build output not) to
    `destination`: the guest's job, a clean build's source package, a fresh machine's clone."""
    for name in _source_files():
        source = os.path.join(ROOT, name)
        if not os.path.lexists(source):
            continue  # deleted but not yet committed
        target = os.path.join(destination, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def _make_job_disk(work, deb, job, extra_debs=()):
    tree = os.path.join(work, "job")
    os.makedirs(os.path.join(tree, "debs"))
    shutil.copy(RUNNER, os.path.join(tree, "runner.py"))
    for path in (deb, *extra_debs):
        shutil.copy(path, os.path.join(tree, "debs"))
    # The runner installs "deb" at the first boot; "extra_debs" are for the test to install
    # (the upgrade scenario's second package), as paths relative to the job disk.
    job = {**job, "deb": f"debs/{os.path.basename(deb)}",
           "extra_debs": [f"debs/{os.path.basename(path)}" for path in extra_debs]}
    with open(os.path.join(tree, "job.json"), "w") as handle:
        json.dump(job, handle, indent=2)
    copy_source_tree(os.path.join(tree, "src"))
    image = os.path.join(work, "job.raw")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "tsjob", "-d", tree, image, "256M"], check=True,
                   stdout=subprocess.DEVNULL)
    shutil.rmtree(tree)
    return image


def _qemu_argv(image, work, network=False):
    def drive(name, path, fmt="raw", **extra):
        options = ",".join([f"file={path}", "if=none", f"id={name}", f"format={fmt}"] +
                           [f"{k}={v}" for k, v in extra.items()])
        return ["-drive", options]

    argv = ["qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2",
            "-m", MEMORY, "-machine", "pc", "-nodefaults", "-display", "none",
            # Offline unless the job asks: only the upgrade scenario (tests/vm/upgrade) needs
            # Debian's mirror, through qemu's user-mode network (NAT, its DNS at 10.0.2.3).
            "-nic", "user,model=virtio-net-pci" if network else "none",
            "-kernel", image.kernel, "-initrd", image.initrd,
            "-append", "root=/dev/vda rw console=ttyS0,115200 panic=-1",
            *drive("root", os.path.join(work, "root.qcow2"), fmt="qcow2"),
            "-device", "virtio-blk-pci,drive=root",
            *drive("job", os.path.join(work, "job.raw"), readonly="on"),
            "-device", "virtio-blk-pci,drive=job,serial=tsjob",
            *drive("results", os.path.join(work, "results.raw")),
            "-device", "virtio-blk-pci,drive=results,serial=tsresults",
            *drive("nvme0", os.path.join(work, "nvme0.raw")),
            "-device", "nvme,serial=NVME0001,drive=nvme0",
            "-serial", f"file:{os.path.join(work, 'console.log')}",
            "-serial", f"file:{os.path.join(work, 'events.log')}",
            "-pidfile", os.path.join(work, "qemu.pid")]
    for index in range(HDD_COUNT):
        argv += drive(f"hdd{index}", os.path.join(work, f"hdd{index}.raw"))
        # IDE, so that ATA SMART is real; rotation_rate makes the guest see a spinning disk.
        argv += ["-device", f"ide-hd,bus=ide.{index // 2},unit={index % 2},drive=hdd{index},"
                            f"serial=TSHDD000{index + 1},model=TS-HDD-8T,rotation_rate=7200"]
    return argv


class _Events:
    """New JSON lines on the event port's file, as they arrive."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.partial = ""

    def read(self):
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        text = self.partial + data.decode("utf-8", "replace").replace("\r", "")
        *lines, self.partial = text.split("\n")
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                if line.strip():
                    events.append({"event": "noise", "line": line})
        return events


def _kill(process):
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def _extract_results(work, output_dir):
    target = os.path.join(output_dir, "guest")
    os.makedirs(target, exist_ok=True)
    # debugfs reads the guest's ext4 results disk without mounting it (no loop device needed).
    subprocess.run(["debugfs", "-R", f"rdump / {target}", os.path.join(work, "results.raw")],
                   capture_output=True)


def run(image, deb, output_dir, job, timeout=600, show=print, show_output=False, extra_debs=()):
    """Boot the guest for `job` ({"mode": "tests", "tests": [...]} or {"mode": "demo", ...};
    "network": true gives it qemu's user-mode network; "install": false boots it without
    installing the .deb); return an Outcome. `extra_debs` travel on the job disk beside `deb`.
    Logs end up in output_dir: console.log, events.jsonl, guest/."""
    os.makedirs(output_dir, exist_ok=True)
    outcome = Outcome("error", output_dir=output_dir)
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="ts-vm-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    process = None
    try:
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", image.root, "-F", "raw",
                        os.path.join(work, "root.qcow2")], check=True)
        for name, size in [("nvme0", NVME_SIZE)] + [(f"hdd{i}", HDD_SIZE)
                                                     for i in range(HDD_COUNT)]:
            subprocess.run(["truncate", "-s", size, os.path.join(work, f"{name}.raw")], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "tsresults",
                        os.path.join(work, "results.raw"), "512M"], check=True,
                       stdout=subprocess.DEVNULL)
        _make_job_disk(work, deb, job, extra_debs)
        process = subprocess.Popen(_qemu_argv(image, work, network=job.get("network", False)),
                                   stdin=subprocess.DEVNULL,
                                   stdout=open(os.path.join(work, "qemu.out"), "w"),
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=_die_with_parent)
        events = _Events(os.path.join(work, "events.log"))
        deadline = started + timeout
        done = None
        with open(os.path.join(output_dir, "events.jsonl"), "w") as record:
            while done is None:
                for event in events.read():
                    record.write(json.dumps(event) + "\n")
                    done = _follow(event, outcome, started, show, show_output) or done
                if done is not None:
                    break
                if process.poll() is not None:
                    outcome.status = "error"
                    outcome.problem = f"qemu exited (status {process.returncode}) before the " \
                                      f"guest reported the end"
                    break
                if time.monotonic() > deadline:
                    outcome.status = "timeout"
                    outcome.problem = f"the guest did not finish within {timeout} s: killed"
                    break
                time.sleep(0.2)
        if done is not None:
            outcome.status = done
            try:  # the guest powers off after its last event
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if process is not None:
            _kill(process)
        for name in ("console.log", "qemu.out"):
            if os.path.exists(os.path.join(work, name)):
                shutil.copy(os.path.join(work, name), output_dir)
        if os.path.exists(os.path.join(work, "results.raw")):
            _extract_results(work, output_dir)
        shutil.rmtree(work, ignore_errors=True)
        outcome.duration = time.monotonic() - started
    return outcome


def _follow(event, outcome, started, show, show_output):
    """Record one event and show progress; the final status when the guest is done."""
    kind = event.get("event")
    clock = f"[{time.monotonic() - started:5.0f}s]"
    if kind == "boot":
        outcome.boots = event["number"]
        kernel = f", kernel {event['kernel']}" if event.get("kernel") else ""
        show(f"{clock} guest up (boot {event['number']}{kernel})")
    elif kind == "step":
        outcome.steps.append(event)
        mark = "ok  " if event["status"] == "ok" else "FAIL"
        show(f"{clock}   {mark} {event['name']}")
    elif kind == "output":
        outcome.output.append((event["test"], event["stream"], event["line"]))
        if show_output:
            show(event["line"])
    elif kind == "test-start":
        after = f" (after reboot, mark {event['mark']!r})" if event.get("mark") else ""
        show(f"{clock} test {event['name']}{after}")
    elif kind == "reboot":
        show(f"{clock} test {event['name']} reboots the guest (mark {event['mark']!r})")
    elif kind == "test-end":
        outcome.results.append(event)
        reason = f": {event['reason']}" if event.get("reason") else ""
        show(f"{clock} test {event['name']}: {event['status'].upper()}{reason}")
    elif kind == "warning":
        show(f"{clock} warning: {event['message']}")
    elif kind == "error":
        outcome.problem = event["message"]
        show(f"{clock} ERROR {event['message']}")
        return "error"
    elif kind == "done":
        if not outcome.results:
            outcome.results = event.get("results", [])
        return event["status"]
    return None
