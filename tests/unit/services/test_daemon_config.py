"""The plan of ts-docker configure: the merge, the driver, the refusals, the data root's place."""

import json

import pytest

from trainserver.services import daemon_config
from trainserver.services.daemon_config import Facts, Refusal, Settings

STORAGE = "/mnt/storage"
PATTERNS = ["homes/*", "docker-volumes", "tensorboard/*"]
COVERED = {"[snapshot] subvolumes": PATTERNS, "[backup] subvolumes": PATTERNS}


def settings(**changes):
    values = dict(daemon_json="/etc/docker/daemon.json", data_root="/mnt/storage/docker",
                  storage=STORAGE, snapshot_patterns=PATTERNS, backup_patterns=PATTERNS,
                  storage_driver="auto", log_max_size=50 * 2**20, log_max_files=5)
    values.update(changes)
    return Settings(**values)


def facts(current=None, fstype="btrfs", **changes):
    values = dict(current=current, fstype=fstype, data_root_exists=True)
    values.update(changes)
    return Facts(**values)


ADMIN = {"dns": ["10.0.0.1"], "registry-mirrors": ["https://mirror.example"],
         "log-opts": {"labels": "team", "max-size": "1g"}, "default-runtime": "runc"}


def test_the_admins_keys_stay_and_log_opts_are_merged():
    plan = daemon_config.make_plan(settings(), facts(json.loads(json.dumps(ADMIN))))
    config = plan.config
    assert config["dns"] == ["10.0.0.1"]
    assert config["registry-mirrors"] == ["https://mirror.example"]
    assert config["default-runtime"] == "runc"  # never ours, even with nvidia present
    assert config["log-opts"] == {"labels": "team", "max-size": "52428800", "max-file": "5"}
    assert config["data-root"] == "/mnt/storage/docker"
    assert config["storage-driver"] == "btrfs"
    assert config["log-driver"] == "json-file"
    assert config["live-restore"] is True
    # The admin's keys keep their place; ours come after.
    assert list(config)[:4] == list(ADMIN)
    assert {key for key, _, _ in plan.changes} == {
        "data-root", "storage-driver", "log-driver", "log-opts", "live-restore"}


def test_an_absent_file_gets_only_our_keys():
    plan = daemon_config.make_plan(settings(), facts(None, "ext4"))
    assert set(plan.config) == {"data-root", "storage-driver", "log-driver", "log-opts",
                                "live-restore"}
    assert plan.config["storage-driver"] == "overlay2"


def test_another_log_driver_is_kept_and_said():
    plan = daemon_config.make_plan(
        settings(), facts({"log-driver": "journald", "log-opts": {"tag": "x"}}))
    assert plan.config["log-driver"] == "journald"
    assert plan.config["log-opts"] == {"tag": "x"}
    assert any("journald" in note for note in plan.notes)


@pytest.mark.parametrize("n_bytes, text", [(50 * 2**20, "52428800"), (10**8, "100m"),
                                           (2 * 10**9, "2g"), (1500, "1500"), (3000, "3k")])
def test_sizes_are_written_so_dockerd_reads_the_same_bytes(n_bytes, text):
    assert daemon_config.docker_size(n_bytes) == text


@pytest.mark.parametrize("fstype, setting, driver", [
    ("btrfs", "auto", "btrfs"), ("ext4", "auto", "overlay2"), ("xfs", "auto", "overlay2"),
    ("btrfs", "btrfs", "btrfs"), ("ext4", "overlay2", "overlay2")])
def test_the_driver_follows_the_filesystem(fstype, setting, driver):
    assert daemon_config.choose_driver(fstype, setting) == driver


@pytest.mark.parametrize("fstype, setting, words", [
    ("ext4", "btrfs", "does not work on ext4"), ("btrfs", "overlay2", "btrfs needs btrfs"),
    ("tmpfs", "auto", "filesystem is tmpfs"), ("zfs", "auto", "filesystem is zfs"),
    ("", "auto", "filesystem is unknown")])
def test_a_driver_that_does_not_fit_is_refused(fstype, setting, words):
    with pytest.raises(Refusal, match=words):
        daemon_config.choose_driver(fstype, setting)


@pytest.mark.parametrize("driver, removed", [("aufs", "removed in Docker 24.0"),
                                             ("overlay", "removed in Docker 24.0"),
                                             ("devicemapper", "removed in Docker 25.0")])
def test_legacy_drivers_are_refused_with_the_reason(driver, removed):
    with pytest.raises(Refusal, match=removed):
        daemon_config.choose_driver("ext4", driver)
    with pytest.raises(Refusal, match=f"sets storage-driver {driver}, .*{removed}"):
        daemon_config.make_plan(settings(), facts({"storage-driver": driver}, "ext4"))


@pytest.mark.parametrize("root", ["/mnt/storage/homes/alice/docker", "/mnt/storage/homes/bob",
                                  "/mnt/storage/docker-volumes/x", "/mnt/storage/docker-volumes",
                                  "/mnt/storage/tensorboard/alice/d"])
def test_a_data_root_in_a_covered_subvolume_is_refused(root):
    problem = daemon_config.coverage_problem(root, STORAGE, COVERED)
    assert problem and "is inside" in problem
    with pytest.raises(Refusal, match="Put \\[docker\\] data_root at /mnt/storage/docker"):
        daemon_config.make_plan(settings(data_root=root), facts())


@pytest.mark.parametrize("root, words", [
    ("/mnt/storage", "is \\[paths\\] storage"), ("/mnt/storage/", "is \\[paths\\] storage"),
    ("/mnt", "holds it"), ("/", "holds it"),
    ("/mnt/storage/homes", "holds /mnt/storage/homes/\\*"),
    ("/mnt/storage/tensorboard", "holds /mnt/storage/tensorboard/\\*")])
def test_a_data_root_holding_covered_paths_is_refused(root, words):
    with pytest.raises(Refusal, match=words):
        daemon_config.make_plan(settings(data_root=root), facts())


@pytest.mark.parametrize("root", ["/mnt/storage/docker", "/mnt/storage/docker-volumesX",
                                  "/mnt/storage/workspaces/docker", "/var/lib/docker",
                                  "/mnt/storagedocker", "/srv/docker"])
def test_other_data_roots_are_fine(root):
    assert daemon_config.coverage_problem(root, STORAGE, COVERED) is None


def test_backup_patterns_count_too_and_the_suggestion_avoids_them():
    covered = {"[snapshot] subvolumes": ["homes/*"], "[backup] subvolumes": ["docker"]}
    problem = daemon_config.coverage_problem("/mnt/storage/docker", STORAGE, covered)
    assert "[backup] subvolumes" in problem
    assert daemon_config.suggest_root(settings(), covered) == "/var/lib/docker"


def test_a_relative_data_root_is_refused():
    with pytest.raises(Refusal, match="absolute"):
        daemon_config.make_plan(settings(data_root="docker"), facts())


def test_the_nvidia_runtime_is_added_only_when_the_toolkit_is_there():
    present = daemon_config.make_plan(
        settings(), facts({"runtimes": {"crun": {"path": "/usr/bin/crun"}}},
                          nvidia_runtime="/usr/bin/nvidia-container-runtime"))
    assert present.config["runtimes"] == {
        "crun": {"path": "/usr/bin/crun"},
        "nvidia": {"path": "/usr/bin/nvidia-container-runtime", "runtimeArgs": []}}
    assert "default-runtime" not in present.config
    absent = daemon_config.make_plan(settings(), facts({}))
    assert "runtimes" not in absent.config and not absent.warnings
    ctk_only = daemon_config.make_plan(settings(), facts({}, nvidia_ctk=True))
    assert "runtimes" not in ctk_only.config
    assert any("nvidia-container-runtime is not" in warning for warning in ctk_only.warnings)


def test_an_existing_nvidia_runtime_is_kept():
    mine = {"runtimes": {"nvidia": {"path": "/opt/nv/runtime", "args": []}}}
    plan = daemon_config.make_plan(settings(), facts(mine, nvidia_runtime="/usr/bin/ncr"))
    assert plan.config["runtimes"] == mine["runtimes"]


def test_a_second_run_changes_nothing():
    first = daemon_config.make_plan(settings(), facts(dict(ADMIN),
                                                      nvidia_runtime="/usr/bin/ncr"))
    text = daemon_config.render(first.config)
    again = daemon_config.make_plan(settings(), facts(daemon_config.parse(text, "f"),
                                                      nvidia_runtime="/usr/bin/ncr"))
    assert not again.changed and daemon_config.render(again.config) == text


def test_images_left_behind_are_warned_about_never_deleted():
    images = {("/var/lib/docker", "overlay2"): 12}
    moved = daemon_config.make_plan(settings(), facts({}, images=images))
    assert len(moved.warnings) == 1
    assert "12 images of driver overlay2 in /var/lib/docker" in moved.warnings[0]
    assert "nothing is deleted" in moved.warnings[0]
    # Same root, other driver: hidden as well.
    same_root = daemon_config.make_plan(
        settings(data_root="/var/lib/docker"), facts({}, "btrfs", images=images))
    assert same_root.warnings
    # Same root and driver: nothing is hidden.
    kept = daemon_config.make_plan(settings(data_root="/var/lib/docker"),
                                   facts({}, "ext4", images=images))
    assert not kept.warnings


def test_a_missing_data_root_is_made_a_subvolume_on_btrfs():
    on_btrfs = daemon_config.make_plan(
        settings(), facts({}, data_root_exists=False, parent_fstype="btrfs"))
    assert on_btrfs.create_root == "subvolume"
    on_ext4 = daemon_config.make_plan(
        settings(), facts({}, "ext4", data_root_exists=False, parent_fstype="ext4"))
    assert on_ext4.create_root == "directory"


@pytest.mark.parametrize("current, words", [
    ([1, 2], "not an object"), ({"log-opts": "max-size=1m"}, "log-opts is not an object"),
    ({"graph": "/srv/d"}, "graph"), ({"runtimes": []}, "runtimes is not an object")])
def test_files_configure_cannot_merge_are_refused(current, words):
    with pytest.raises(Refusal, match=words):
        daemon_config.make_plan(settings(), facts(current))


def test_a_file_that_is_not_json_is_refused():
    with pytest.raises(Refusal, match="not valid JSON \\(line 1"):
        daemon_config.parse("{\"dns\": [}", "/etc/docker/daemon.json")
    assert daemon_config.parse("  \n", "f") is None


@pytest.mark.parametrize("text, words", [
    ("{", "not valid JSON"), ("[]", "not a JSON object"),
    ('{"live-restore": "yes"}', "live-restore: expected bool"),
    ('{"log-opts": {"max-file": 5}}', "log-opts.max-file: dockerd wants a string"),
    ('{"runtimes": {"nvidia": {}}}', "runtimes.nvidia: expected an object with a path"),
    ('{"data-root": "docker"}', "data-root: not an absolute path")])
def test_type_validation_finds_what_dockerd_would_refuse(text, words):
    assert any(words in problem for problem in daemon_config.type_problems(text))


def test_the_rendered_plan_passes_type_validation():
    plan = daemon_config.make_plan(settings(), facts(dict(ADMIN), nvidia_runtime="/x/ncr"))
    assert daemon_config.type_problems(daemon_config.render(plan.config)) == []


@pytest.mark.parametrize("argv, conflicts", [
    (["/usr/sbin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"], []),
    (["dockerd", "--data-root=/srv/docker"], [("data-root", "--data-root")]),
    (["dockerd", "-g", "/srv/docker", "--log-opt", "max-size=1m"],
     [("data-root", "-g"), ("log-opts", "--log-opt")]),
    (["dockerd", "-s", "overlay2", "--live-restore"],
     [("storage-driver", "-s"), ("live-restore", "--live-restore")])])
def test_keys_also_on_dockerds_command_line_are_found(argv, conflicts):
    keys = ["data-root", "storage-driver", "log-opts", "live-restore"]
    assert daemon_config.flag_conflicts(argv, keys) == conflicts


def test_the_diff_shows_old_and_new():
    text = daemon_config.diff('{"dns": []}\n', '{\n  "dns": []\n}\n', "/etc/docker/daemon.json")
    assert "--- /etc/docker/daemon.json (now)" in text and '+  "dns": []' in text


def test_what_relocates_docker_is_known_also_when_dockerd_chose_the_driver():
    images = {("/var/lib/docker", "overlay2"): 3}
    same = daemon_config.make_plan(settings(data_root="/var/lib/docker"),
                                   facts({}, "ext4", images=images))
    assert same.changes and same.relocates == ""  # keys written, nothing moves
    driver = daemon_config.make_plan(settings(data_root="/var/lib/docker"),
                                     facts({}, "btrfs", images=images))
    assert driver.relocates == "the storage driver (overlay2 to btrfs)"
    moved = daemon_config.make_plan(settings(), facts({}, images=images))
    assert moved.relocates == "the data root (/var/lib/docker to /mnt/storage/docker)"


# Debian 12's docker.io unit as `systemctl show docker.service --property=ExecStart --value`
# prints it (the format of systemd's ExecStart property).
EXEC_START = ("{ path=/usr/sbin/dockerd ; argv[]=/usr/sbin/dockerd -H fd:// "
              "--containerd=/run/containerd/containerd.sock $DOCKER_OPTS ; ignore_errors=no ; "
              "start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }")


def test_dockerds_command_line_is_read_from_the_unit_and_etc_default():
    assert daemon_config.exec_start_argv(EXEC_START) == [
        "/usr/sbin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock",
        "$DOCKER_OPTS"]
    assert daemon_config.exec_start_argv("") == []
    text = '# Use DOCKER_OPTS to modify the daemon startup options.\n' \
           '#DOCKER_OPTS="--dns 8.8.8.8"\nDOCKER_OPTS="--dns 8.8.8.8 --data-root /srv/d"\n'
    assert daemon_config.docker_opts(text) == ["--dns", "8.8.8.8", "--data-root", "/srv/d"]
    assert daemon_config.docker_opts('DOCKER_OPTS="unclosed\n') == []
    assert daemon_config.flag_conflicts(daemon_config.docker_opts(text), ["data-root"]) == [
        ("data-root", "--data-root")]
