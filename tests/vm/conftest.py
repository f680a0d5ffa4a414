import glob
import os

import pytest

from tests.vm import harness, image


@pytest.fixture(scope="session")
def deb():
    """The .deb under test: $TRAINSERVER_DEB, else the newest dist/trainserver_*_all.deb.

    Every VM test asks for it, so a missing qemu or mmdebstrap stops the session here with one
    line naming it, instead of a FileNotFoundError in each test."""
    try:
        harness.require_programs()
    except harness.MissingPrograms as exc:
        pytest.exit(str(exc), returncode=2)
    path = os.environ.get("TRAINSERVER_DEB")
    if not path:
        debs = sorted(glob.glob(os.path.join(harness.ROOT, "dist", "trainserver_*_all.deb")),
                      key=os.path.getmtime)
        assert debs, "no dist/trainserver_*_all.deb: run `make deb` (make vm-test does)"
        path = debs[-1]
    return os.path.abspath(path)


@pytest.fixture(scope="session")
def guest(deb):
    """The cached guest image (built on the first run)."""
    return image.ensure(deb)
