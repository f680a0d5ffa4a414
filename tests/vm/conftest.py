import os

import pytest

from tests.vm import harness, image


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
