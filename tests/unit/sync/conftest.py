import os
import shutil
import subprocess

import pytest


@pytest.fixture
def remotes(tmp_path):
    """An rclone.conf naming the configured remotes ("gcs", "gdrive") as rclone local
    backends, and a runner of the real rclone with it: rclone(*argv) -> CompletedProcess."""
    if shutil.which("rclone") is None:
        pytest.skip("rclone not installed")
    conf = tmp_path / "rclone.conf"
    conf.write_text("[gcs]\ntype = local\n\n[gdrive]\ntype = local\n")
    conf.chmod(0o600)

    def rclone(*argv):
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=120,
                              env={**os.environ, "RCLONE_CONFIG": str(conf)})

    rclone.conf = str(conf)
    return rclone
