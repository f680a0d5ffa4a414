"""ts-doctor digest and failover-done with the real programs: apt-get's simulation of this
machine's pending upgrades, a private dockerd whose "stack" runs an image that a later build
replaced under the same tag, ts-ups on PATH, and the failover record in the state directory."""

import os
import subprocess
import time

import pytest

import docker_engine
from tests.conftest import tool_argv, tool_env

pytestmark = pytest.mark.root

DEBIAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
PROJECT = "digesttest"


@pytest.fixture(scope="module")
def engine():
    yield from docker_engine.run_dockerd("ts-doctor-digest")


@pytest.fixture
def digest(tmp_path, tool_path):
    config = tmp_path / "trainserver.toml"
    config.write_text(f'[paths]\nstate_dir = "{tmp_path / "state"}"\nlock_dir = "{tmp_path}"\n'
                      f'[services]\nproject = "{PROJECT}"\n'
                      '[doctor]\nimage_max_age = "1s"\nfailover_max_age = "92d"\n')
    bin_dir = os.path.dirname(tool_path("ts-ups"))

    def run(*args, env=None):
        return subprocess.run(tool_argv("ts-doctor") + ["--config", str(config), *args],
                              capture_output=True, text=True, timeout=120,
                              env=tool_env({"PATH": f"{bin_dir}:{DEBIAN_PATH}", **(env or {})}))

    return run


def test_digest_names_upgrades_replaced_and_old_images_and_the_failover_age(engine, digest):
    docker, host, image = engine
    env = {"PATH": DEBIAN_PATH}
    subprocess.run(docker + ["run", "-d", "--name", "digest-web", "--label",
                             f"com.docker.compose.project={PROJECT}", image, "sleep", "600"],
                   check=True, capture_output=True, env=env)
    try:
        # A newer build of the same tag, as `docker compose pull` leaves it: the container
        # still runs the old image.
        subprocess.run(docker + ["commit", "digest-web", image], check=True, capture_output=True,
                       env=env)
        time.sleep(2)  # older than image_max_age (1 s)
        result = digest("digest", env={"DOCKER_HOST": host})
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].startswith("Monthly maintenance for ")
        expected = subprocess.run(["apt-get", "--simulate", "-o", "Debug::NoLocking=true",
                                   "dist-upgrade"], capture_output=True, text=True,
                                  env=env).stdout.count("\nInst ")
        if expected:
            assert f"Upgrades: {expected} pending" in result.stdout, result.stdout
        else:
            assert "Upgrades: none pending" in result.stdout, result.stdout
        assert f"Images: a newer image is already pulled for {image}. Run: ts-docker up" in lines
        assert any(line.startswith(f"  {image}: built ") for line in lines), result.stdout
        assert "UPS: not configured ([ups] name)." in lines, result.stdout
        assert any(line.startswith("Failover test: none recorded") for line in lines)

        recorded = digest("failover-done", "--note", "pulled sdc")
        assert recorded.returncode == 0 and "recorded the failover test" in recorded.stdout
        again = digest("digest", env={"DOCKER_HOST": host})
        assert any(line.startswith("Failover test: done on ") and "(pulled sdc)" in line
                   for line in again.stdout.splitlines()), again.stdout
        later = digest("digest", "--now", time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(
            time.time() + 100 * 86400)), env={"DOCKER_HOST": host})
        assert any(line.startswith("Failover test: due; the last was on ")
                   for line in later.stdout.splitlines()), later.stdout
    finally:
        subprocess.run(docker + ["rm", "-f", "digest-web"], capture_output=True, env=env)


def test_a_part_that_cannot_be_gathered_is_a_line_not_the_end(digest):
    # No engine at that address: the images part says why, the rest is still sent.
    result = digest("digest", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 0, result.stderr
    assert any(line.startswith("Images: could not be checked: ")
               for line in result.stdout.splitlines()), result.stdout
    assert "Upgrades: " in result.stdout


def test_failover_done_dry_run_records_nothing(digest, tmp_path):
    result = digest("failover-done", "--dry-run")
    assert result.returncode == 0 and "would record" in result.stdout
    assert not (tmp_path / "state" / "doctor.json").exists()
