#!/usr/bin/python3
"""The restic releases the backup tests run: Debian 12's own (0.14, on PATH) and Debian 13's
(0.18), the newer behaviour ts-backup must also handle (--retry-lock, exit codes 10-12,
`restic features`, JSON exit errors).

Debian 13's restic is a static Go binary that runs on Debian 12. `make deps` fetches its .deb
with apt from Debian's archive (apt checks the archive's signature with the keyring Debian 12
ships), into a directory of its own: the system's restic is left as it is.

    tests/integration/restic_releases.py   fetch it (idempotent) and print the binary's path
"""

import os
import shutil
import subprocess
import sys
import tempfile

SUITE = "trixie"
CACHE = "/var/cache/trainserver-tests/restic-" + SUITE
BINARY = os.path.join(CACHE, "usr", "bin", "restic")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
MIRROR = "http://deb.debian.org/debian"


def newer():
    """The path of Debian 13's restic when `make deps` has fetched it, else None."""
    return BINARY if os.access(BINARY, os.X_OK) else None


def releases():
    """[(name, directory to put first on PATH or None for the system's restic)]."""
    found = [("restic-debian12", None)]
    found.append(("restic-debian13", os.path.dirname(BINARY) if newer() else None))
    return found


def _apt_options(scratch):
    # Its own sources, lists, cache and an empty dpkg status: the machine's apt state is not
    # touched and nothing is installed.
    os.makedirs(os.path.join(scratch, "sources"))
    with open(os.path.join(scratch, "sources", f"{SUITE}.sources"), "w") as handle:
        handle.write(f"Types: deb\nURIs: {MIRROR}\nSuites: {SUITE}\nComponents: main\n"
                     f"Signed-By: {KEYRING}\n")
    for rel in ("lists/partial", "cache/archives/partial"):
        os.makedirs(os.path.join(scratch, rel))
    status = os.path.join(scratch, "status")
    open(status, "w").close()
    options = {
        "Dir::Etc::SourceList": "/dev/null",
        "Dir::Etc::SourceParts": os.path.join(scratch, "sources"),
        "Dir::State::Lists": os.path.join(scratch, "lists"),
        "Dir::Cache": os.path.join(scratch, "cache"),
        "Dir::State::status": status,
        "APT::Architectures": "amd64",
        "Acquire::Languages": "none",
        "APT::Sandbox::User": "root",
    }
    argv = []
    for key, value in options.items():
        argv += ["-o", f"{key}={value}"]
    return argv


def fetch():
    if newer():
        return BINARY
    if os.uname().machine != "x86_64":
        raise SystemExit(f"restic_releases: only amd64 is fetched (this is {os.uname().machine})")
    scratch = tempfile.mkdtemp(prefix="ts-restic-fetch-")
    try:
        options = _apt_options(scratch)
        subprocess.run(["apt-get", "-q", *options, "update"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "-q", *options, "download", "restic"], check=True,
                       cwd=scratch, stdout=subprocess.DEVNULL)
        [deb] = [name for name in os.listdir(scratch) if name.endswith(".deb")]
        unpacked = CACHE + ".new"
        shutil.rmtree(unpacked, ignore_errors=True)
        # dpkg-deb makes the target but not its parents: a fresh machine has no cache yet.
        os.makedirs(os.path.dirname(CACHE), exist_ok=True)
        subprocess.run(["dpkg-deb", "--extract", os.path.join(scratch, deb), unpacked],
                       check=True)
        subprocess.run([os.path.join(unpacked, "usr", "bin", "restic"), "version"], check=True,
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(CACHE, ignore_errors=True)
        os.rename(unpacked, CACHE)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return BINARY


if __name__ == "__main__":
    if len(sys.argv) != 1:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    path = fetch()
    version = subprocess.run([path, "version"], capture_output=True, text=True).stdout.strip()
    print(f"{path}: {version}")
