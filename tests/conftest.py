"""Where `trainserver` is imported from.

From the source tree by default (tools/ first on sys.path). With TRAINSERVER_TEST_INSTALLED=1,
as the autopkgtest runs them, from the installed package only, and that is asserted.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The helpers every test directory shares (tests/bot_api.py) import as tests.*, from wherever
# pytest was started.
if ROOT not in sys.path:
    sys.path.append(ROOT)

if os.environ.get("TRAINSERVER_TEST_INSTALLED") == "1":
    import trainserver

    assert trainserver.__file__.startswith("/usr/lib/python3/dist-packages/"), trainserver.__file__
else:
    sys.path.insert(0, os.path.join(ROOT, "tools"))


import subprocess  # noqa: E402

import pytest  # noqa: E402

# Hypothesis keeps a cache (its Unicode tables) in a storage directory; not in the source tree.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", "/tmp/trainserver-tests-hypothesis")
try:
    from hypothesis import settings as hypothesis_settings
except ImportError:  # only the property tests need it; they import it themselves
    pass
else:
    # No example database: the tests run from the source tree, from a package build and from
    # the installed package, and none of those should grow a .hypothesis/ directory.
    hypothesis_settings.register_profile("trainserver", database=None)
    hypothesis_settings.load_profile("trainserver")


def console_scripts():
    """{name: "module:function"} from setup.cfg (the tree's, also in the autopkgtest)."""
    from trainserver.manpage import console_scripts as read_scripts

    return dict(read_scripts(os.path.join(ROOT, "setup.cfg")))


def tool_argv(name):
    """How to start a ts-* tool: the installed script, or its entry point from the source tree."""
    if os.environ.get("TRAINSERVER_TEST_INSTALLED") == "1":
        return [f"/usr/bin/{name}"]
    module, function = console_scripts()[name].split(":")
    code = f"import sys; sys.argv[0] = {name!r}; from {module} import {function}; {function}()"
    return ["/usr/bin/python3", "-c", code]


def tool_env(env=None):
    full_env = dict(os.environ)
    full_env.pop("TRAINSERVER_CONFIG", None)
    full_env.pop("JOURNAL_STREAM", None)
    if os.environ.get("TRAINSERVER_TEST_INSTALLED") != "1":
        full_env["PYTHONPATH"] = os.path.join(ROOT, "tools")
    full_env.update(env or {})
    return full_env


@pytest.fixture
def tool_path(tmp_path):
    """tool_path("ts-backup") -> a program of that name that runs the tool under test.

    ts-alert pipe names a command's findings after its program (ts-backup -> backup); from the
    source tree the tool would otherwise run as `python3 -c ...`."""

    def make(name):
        if os.environ.get("TRAINSERVER_TEST_INSTALLED") == "1":
            return f"/usr/bin/{name}"
        import shlex

        directory = tmp_path / "tool-bin"
        directory.mkdir(exist_ok=True)
        path = directory / name
        path.write_text("#!/bin/sh\n"
                        f"PYTHONPATH={shlex.quote(os.path.join(ROOT, 'tools'))} "
                        f"exec {shlex.join(tool_argv(name))} \"$@\"\n")
        path.chmod(0o755)
        return str(path)

    return make


@pytest.fixture
def run_tool():
    """run_tool("ts-config", "check", env={...}) -> CompletedProcess with text output."""

    def run(name, *args, env=None, input=None):
        return subprocess.run(tool_argv(name) + list(args), capture_output=True, text=True,
                              env=tool_env(env), input=input, timeout=60)

    return run


@pytest.fixture
def start_tool():
    """start_tool("ts-alert", "send", ...) -> a running Popen (text pipes); the test ends it."""

    def start(name, *args, env=None):
        return subprocess.Popen(tool_argv(name) + list(args), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=tool_env(env))

    return start


def pytest_collection_modifyitems(config, items):
    """Tests marked root (loop devices, mounts) or vm (mmdebstrap --mode=root, root-owned
    images) are skipped, with the reason, for anyone but root; CI runs as root."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (run as root, as CI does)")
    for item in items:
        if "root" in item.keywords or "vm" in item.keywords:
            item.add_marker(skip)
