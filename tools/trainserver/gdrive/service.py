"""Every systemctl command this tool runs, in one place.

The tests put a stand-in `systemctl` first on PATH (the build machine has no systemd); it has
to understand exactly these command lines, so they stay few and fixed.
"""

from trainserver.core import commands
from trainserver.gdrive.settings import UNIT

SYSTEMCTL = "systemctl"
# A start waits for rclone's READY=1 (Type=notify): the mount is up when it returns.
START_TIMEOUT = 150


def is_enabled(unit=UNIT):
    result = commands.run([SYSTEMCTL, "is-enabled", "--quiet", unit], changes=False,
                          timeout=30, ok_codes=None)
    return result.returncode == 0


def enable(unit=UNIT):
    return commands.run([SYSTEMCTL, "enable", unit], changes=True, timeout=60)


def start(unit=UNIT):
    return commands.run([SYSTEMCTL, "start", unit], changes=True, timeout=START_TIMEOUT)


def reset_failed(unit=UNIT):
    """Forget a start limit hit, so that a restart by the check is not refused."""
    return commands.run([SYSTEMCTL, "reset-failed", unit], changes=True, timeout=30,
                        ok_codes=None)


def restart(unit=UNIT):
    return commands.run([SYSTEMCTL, "restart", unit], changes=True, timeout=START_TIMEOUT)


def try_restart(unit=UNIT):
    """Restart the unit only when it runs."""
    return commands.run([SYSTEMCTL, "try-restart", unit], changes=True, timeout=START_TIMEOUT)


def kill(unit=UNIT):
    """SIGKILL every process of the unit: a stopped (SIGSTOP) rclone never reads SIGTERM."""
    return commands.run([SYSTEMCTL, "kill", "--signal=SIGKILL", unit], changes=True,
                        timeout=30, ok_codes=None)
