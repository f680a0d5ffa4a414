import os

import pytest

from tests.vm import harness, image

# `make check` runs the guests in two streams side by side, each a pytest run that picks its stream
# with $TRAINSERVER_VM_STREAM. A guest alone uses its second vCPU only part of the time (with one
# it was 1.4 times slower), so two guests on this machine's two cores finish in about 70% of the
# time of one after the other. Stream 2 starts after the integration tests and the null autopkgtest
# (and, in CI, the fresh machine's demo), so it has the shorter guests. Each alone, in one CI run
# under TCG (minutes): the Debian 12 failure-matrix guest 29.5, Debian 13 install-lifecycle 17 (14
# since its units are verified in one run), Debian 12 install-lifecycle 11, Debian 13
# storage-health 9, the harness's own tests 3, integration 10, the fresh machine's demo 12; side by
# side, each about 1.4 times that (docs/vm-testing.md).
STREAMS = {
    "1": ("bookworm:failure-matrix+people+gdrive-mount+storage-health",
          "trixie:install-lifecycle"),
    "2": ("bookworm:install-lifecycle", "trixie:storage-health",
          "test_a_hung_guest_is_killed_at_the_timeout_and_its_log_shown",
          "test_an_interrupted_run_leaves_no_qemu_and_no_images",
          "test_the_demo_runs_to_its_end"),
}


def stream_key(item):
    """A scenario's id (SUITE:TEST+TEST...), or the test function's name."""
    callspec = getattr(item, "callspec", None)
    return callspec.id if callspec is not None else item.originalname


def pytest_collection_modifyitems(config, items):
    """With $TRAINSERVER_VM_STREAM, only that stream's tests run. A test in no stream is a
    usage error, so that a new scenario cannot be left out of `make check` unnoticed."""
    wanted = os.environ.get("TRAINSERVER_VM_STREAM")
    if not wanted:
        return
    if wanted not in STREAMS:
        raise pytest.UsageError(f"TRAINSERVER_VM_STREAM={wanted}: no such stream "
                                f"(tests/vm/conftest.py has {', '.join(STREAMS)})")
    vm_items = [item for item in items if item.get_closest_marker("vm")]
    assigned = {key for keys in STREAMS.values() for key in keys}
    unassigned = [stream_key(item) for item in vm_items if stream_key(item) not in assigned]
    if unassigned:
        raise pytest.UsageError("in no stream of tests/vm/conftest.py STREAMS: " +
                                ", ".join(unassigned))
    keep = [item for item in items if stream_key(item) in STREAMS[wanted]]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep


def _deb_for(suite):
    """$TRAINSERVER_DEB_<SUITE> (`make check`: the release's clean build), else $TRAINSERVER_DEB
    (`make vm-test`: this machine's build), else the newest dist/SUITE/trainserver_*_all.deb,
    else the newest dist/trainserver_*_all.deb."""
    path = (os.environ.get(f"TRAINSERVER_DEB_{suite.upper()}")
            or os.environ.get("TRAINSERVER_DEB"))
    if path:
        return os.path.abspath(path)
    path = harness.newest_deb(suite)
    if path is None:
        raise AssertionError(f"no dist/{suite}/ nor dist/ trainserver_*_all.deb: run `make deb` "
                             f"(make vm-test does)")
    return path


class Guests:
    """The .deb and the cached guest image of each release, built on first use."""

    def __init__(self):
        self._images = {}

    def deb(self, suite):
        return _deb_for(suite)

    def image(self, suite):
        if suite not in self._images:
            self._images[suite] = image.ensure(self.deb(suite), suite)
        return self._images[suite]


@pytest.fixture(scope="session")
def guests():
    """Every VM test asks for it, so a missing qemu or mmdebstrap stops the session here with
    one line naming it, instead of a FileNotFoundError in each test."""
    try:
        harness.require_programs()
    except harness.MissingPrograms as exc:
        pytest.exit(str(exc), returncode=2)
    return Guests()


@pytest.fixture(scope="session")
def deb(guests):
    """The .deb of the default release (Debian 13)."""
    return guests.deb(image.DEFAULT_SUITE)


@pytest.fixture(scope="session")
def guest(guests):
    """The default release's cached guest image (built on the first run)."""
    return guests.image(image.DEFAULT_SUITE)
