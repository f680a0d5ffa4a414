"""debian/trainserver.postinst and postrm, run with sh as dpkg runs them, on this machine's
/etc and /var/lib seen through an overlay in a mount namespace of their own.

The scripts name absolute paths (/etc/trainserver, /var/lib/trainserver) and are tested
unchanged: each step runs in a new mount namespace in which /etc and /var/lib are overlays whose
upper layers live in the test's temporary directory, so what a step writes is kept for the next
step and never reaches the machine. `ts-config` on PATH is the source tree's entry point.
"""

import os
import subprocess

import pytest

pytestmark = pytest.mark.root

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POSTINST = os.path.join(ROOT, "debian", "trainserver.postinst")
POSTRM = os.path.join(ROOT, "debian", "trainserver.postrm")
DEFAULT = "/etc/trainserver/secrets"
SITE = "/etc/trainserver-site/secrets"  # a configured secrets_dir whose parent is missing too
RECORD = "/var/lib/trainserver/secrets-dir"

# Refuses to go on unless both overlays are mounted: the scripts below remove and write under
# /etc and /var/lib.
OVERLAYS = r"""
set -e
for dir in /etc /var/lib; do
    layer="$LAYERS$dir"
    mkdir -p "$layer/upper" "$layer/work"
    mount -t overlay overlay -o "lowerdir=$dir,upperdir=$layer/upper,workdir=$layer/work" "$dir"
    [ "$(findmnt -n -o FSTYPE --mountpoint "$dir")" = overlay ] || exit 99
done
set +e
"""


class Machine:
    """This machine as it was before the package was first installed, in overlays."""

    def __init__(self, tmp_path, tool_bin):
        self.layers = str(tmp_path / "layers")
        self.tool_bin = tool_bin
        self.run(f"rm -rf /etc/trainserver /var/lib/trainserver {os.path.dirname(SITE)}")

    def run(self, script, tools=True, **env):
        path = "/usr/sbin:/usr/bin:/sbin:/bin"
        if tools:
            path = f"{self.tool_bin}:{path}"
        result = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", OVERLAYS + script],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, **env, "PATH": path, "LAYERS": self.layers})
        assert result.returncode != 99, "the overlays were not mounted"
        return result

    def configure(self, config=None):
        """The package's config written (None: the shipped default), then `postinst configure`."""
        if config is None:
            with open(os.path.join(ROOT, "etc", "trainserver", "trainserver.toml")) as handle:
                config = handle.read()
        script = ("mkdir -p /etc/trainserver"
                  ' && printf %s "$CONFIG" >/etc/trainserver/trainserver.toml'
                  f" && sh {POSTINST} configure")
        return self.run(script, CONFIG=config)

    def purge(self):
        """`postrm purge` as dpkg runs it: the tools and the config already removed."""
        return self.run(f"rm -f /etc/trainserver/trainserver.toml && sh {POSTRM} purge",
                        tools=False)

    def stat(self, path):
        """"MODE OWNER:GROUP" of `path`, or None when it is missing."""
        result = self.run(f"stat -c '%a %U:%G' {path}")
        return result.stdout.strip() if result.returncode == 0 else None

    def read(self, path):
        result = self.run(f"cat {path}")
        return result.stdout if result.returncode == 0 else None


@pytest.fixture
def machine(tmp_path, tool_path):
    return Machine(tmp_path, os.path.dirname(tool_path("ts-config")))


def test_the_configured_directory_is_made_kept_as_the_admin_left_it_and_purged(machine):
    configured = machine.configure(f'[paths]\nsecrets_dir = "{SITE}"\n')
    assert configured.returncode == 0, configured.stderr
    assert configured.stderr == ""
    assert machine.stat(SITE) == "700 root:root"
    assert machine.stat(DEFAULT) is None, "the default was made, not the configured directory"
    assert machine.read(RECORD) == f"{SITE}\n"

    # An upgrade: the admin's mode is kept and the record does not grow.
    assert machine.run(f"chmod 750 {SITE}").returncode == 0
    assert machine.configure(f'[paths]\nsecrets_dir = "{SITE}"\n').returncode == 0
    assert machine.stat(SITE) == "750 root:root"
    assert machine.read(RECORD) == f"{SITE}\n"

    purged = machine.purge()
    assert purged.returncode == 0, purged.stderr
    assert machine.stat(SITE) is None
    assert machine.stat("/var/lib/trainserver") is None
    assert machine.stat("/etc/trainserver") is None


def test_purge_keeps_a_secrets_directory_that_holds_a_file(machine):
    assert machine.configure(f'[paths]\nsecrets_dir = "{SITE}"\n').returncode == 0
    assert machine.run(f"echo password >{SITE}/restic-password").returncode == 0
    assert machine.purge().returncode == 0
    assert machine.read(f"{SITE}/restic-password") == "password\n"
    assert machine.stat("/var/lib/trainserver") is None


def test_the_shipped_config_gives_the_default_directory(machine):
    configured = machine.configure()
    assert configured.returncode == 0, configured.stderr
    assert machine.stat(DEFAULT) == "700 root:root"
    assert machine.read(RECORD) == f"{DEFAULT}\n"
    assert machine.purge().returncode == 0
    assert machine.stat("/etc/trainserver") is None


def test_a_default_directory_made_before_the_record_existed_is_purged(machine):
    """As an older version left it: the default directory, no record."""
    assert machine.configure().returncode == 0
    assert machine.run(f"rm {RECORD}").returncode == 0
    assert machine.purge().returncode == 0
    assert machine.stat(DEFAULT) is None


@pytest.mark.parametrize("config, why", [
    ("[paths\n", "not valid TOML"),
    ('[paths]\nsecrets_dir = "relative"\n', "expected an absolute path"),
])
def test_a_config_that_cannot_be_read_never_fails_the_installation(machine, config, why):
    configured = machine.configure(config)
    assert configured.returncode == 0, configured.stderr
    assert why in configured.stderr
    assert f"[paths] secrets_dir could not be read; using {DEFAULT}" in configured.stderr
    assert machine.stat(DEFAULT) == "700 root:root"
    assert machine.read(RECORD) == f"{DEFAULT}\n"


def test_when_ts_config_cannot_answer_the_default_is_used(machine):
    configured = machine.run(f"mkdir -p /etc/trainserver && sh {POSTINST} configure", tools=False)
    assert configured.returncode == 0, configured.stderr
    assert "using /etc/trainserver/secrets" in configured.stderr
    assert machine.stat(DEFAULT) == "700 root:root"


def test_a_directory_the_package_did_not_make_is_left_alone(machine):
    assert machine.run(f"mkdir -p -m 755 {SITE}").returncode == 0
    assert machine.configure(f'[paths]\nsecrets_dir = "{SITE}"\n').returncode == 0
    assert machine.stat(SITE) == "755 root:root"
    assert machine.read(RECORD) is None
    assert machine.purge().returncode == 0
    assert machine.stat(SITE) == "755 root:root", "purge removed a directory it did not make"


def test_a_secrets_dir_that_cannot_be_made_never_fails_the_installation(machine):
    assert machine.run(f"mkdir -p {os.path.dirname(SITE)} && touch {SITE}").returncode == 0
    configured = machine.configure(f'[paths]\nsecrets_dir = "{SITE}"\n')
    assert configured.returncode == 0, configured.stderr
    assert f"{SITE} could not be made" in configured.stderr
    assert machine.read(RECORD) is None
