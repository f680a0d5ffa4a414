#!/usr/bin/python3
"""The workspace's HEALTHCHECK: sshd answers on 22, Jupyter's /api and code-server's /healthz.

Jupyter's /api returns its version without a token; code-server's /healthz needs no password.
Exit 0 healthy, 1 unhealthy (Docker's contract), with one line saying what failed.
"""
import socket
import sys
import urllib.request

TIMEOUT = 3


def ssh_banner():
    with socket.create_connection(("127.0.0.1", 22), timeout=TIMEOUT) as conn:
        banner = conn.recv(256)
    if not banner.startswith(b"SSH-2.0-"):
        raise OSError(f"unexpected banner {banner[:40]!r}")


def http_ok(url):
    def check():
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            response.read(4096)
    return check


CHECKS = {
    "sshd :22": ssh_banner,
    "jupyter :8888/api": http_ok("http://127.0.0.1:8888/api"),
    "code-server :8080/healthz": http_ok("http://127.0.0.1:8080/healthz"),
}


def main():
    failed = []
    for name, check in CHECKS.items():
        try:
            check()
        except (OSError, ValueError) as exc:
            failed.append(f"{name}: {exc}")
    if failed:
        print("unhealthy: " + "; ".join(failed))
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
