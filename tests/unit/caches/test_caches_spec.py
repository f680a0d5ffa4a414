"""The environment files ts-caches writes: their contents, for any set of enabled caches."""

import subprocess

import pytest

from trainserver.caches import spec

ALL = tuple(spec.CACHES)
STORAGE = "/mnt/storage"


def assignments(text):
    return dict(line.split("=", 1) for line in text.splitlines()
                if line and not line.startswith("#"))


def test_every_variable_of_every_cache():
    assert spec.variables(STORAGE, ALL, per_person=False) == [
        ("PIP_CACHE_DIR", "/mnt/storage/cache/pip"),
        ("CONDA_PKGS_DIRS", "/mnt/storage/cache/conda/pkgs"),
        ("HF_HOME", "/mnt/storage/cache/huggingface"),
        ("TORCH_HOME", "/mnt/storage/cache/torch"),
        ("GOMODCACHE", "/mnt/storage/cache/go/mod"),
        ("GOCACHE", "/mnt/storage/cache/go/build"),
        ("npm_config_cache", "/mnt/storage/cache/npm"),
        ("CARGO_HOME", "/mnt/storage/cache/cargo"),
        ("TRAINSERVER_BUILD_CACHE", "/mnt/storage/cache/docker"),
    ]


def test_only_the_variables_of_enabled_caches():
    text = spec.container_env_text("/srv/data/", ["go", "pip"])
    assert assignments(text) == {"PIP_CACHE_DIR": "/srv/data/cache/pip",
                                 "GOMODCACHE": "/srv/data/cache/go/mod",
                                 "GOCACHE": "/srv/data/cache/go/build"}


def test_each_file_starts_with_the_header_and_is_recognised_as_ours():
    for text in (spec.profile_text(STORAGE, ALL), spec.environment_d_text(STORAGE, ALL),
                 spec.container_env_text(STORAGE, ALL), spec.apt_conf_text(STORAGE)):
        assert text.startswith(spec.HEADER + "\n")
        assert spec.is_ours(text)
    assert not spec.is_ours("export PIP_CACHE_DIR=/x\n" + spec.HEADER + "\n")
    assert not spec.is_ours("")


def test_the_token_stays_per_person_and_out_of_containers():
    profile = spec.profile_text(STORAGE, ["huggingface"])
    assert 'export HF_TOKEN_PATH="$HOME/.cache/huggingface/token"' in profile.splitlines()
    environment = assignments(spec.environment_d_text(STORAGE, ["huggingface"]))
    assert environment["HF_TOKEN_PATH"] == "${HOME}/.cache/huggingface/token"
    assert "HF_TOKEN_PATH" not in spec.container_env_text(STORAGE, ["huggingface"])
    assert "HF_TOKEN_PATH" not in spec.profile_text(STORAGE, ["pip"])


def test_the_profile_sets_the_variables_in_sh_and_bash(tmp_path):
    path = tmp_path / "caches.sh"
    path.write_text(spec.profile_text(STORAGE, ALL))
    for shell in ("sh", "bash"):
        shown = subprocess.run([shell, "-c", '. "$1"; echo "$HF_TOKEN_PATH|$GOCACHE|'
                                '$npm_config_cache|$TRAINSERVER_BUILD_CACHE"', shell, str(path)],
                               capture_output=True, text=True, check=True,
                               env={"HOME": "/home/alice", "PATH": "/usr/bin:/bin"})
        assert shown.stdout == ("/home/alice/.cache/huggingface/token|/mnt/storage/cache/go/"
                                "build|/mnt/storage/cache/npm|/mnt/storage/cache/docker\n")


def test_apt_conf_names_the_archives_directory():
    assert 'Dir::Cache::archives "/mnt/storage/cache/apt/archives/";' in \
        spec.apt_conf_text(STORAGE).splitlines()


def test_managed_files_follow_the_enabled_caches():
    files = spec.managed_files(STORAGE, ["apt"])
    assert files[spec.PROFILE] is None and files[spec.ENVIRONMENT_D] is None
    assert files[spec.CONTAINER_ENV] is None and files[spec.APT_CONF] is not None
    files = spec.managed_files(STORAGE, ["pip"])
    assert files[spec.APT_CONF] is None and "PIP_CACHE_DIR" in files[spec.PROFILE]
    assert all(value is None for value in spec.managed_files(STORAGE, []).values())


def test_pip_conf_block_only_with_pip_and_the_setting():
    assert spec.pip_cache_dir(STORAGE, ["pip"]) == "/mnt/storage/cache/pip"
    assert spec.pip_cache_dir(STORAGE, ["pip"], pip_conf=False) is None
    assert spec.pip_cache_dir(STORAGE, ["conda"]) is None


@pytest.mark.parametrize("storage", ["/mnt/my storage", "/mnt/$HOME", '/mnt/"x"', "relative"])
def test_a_storage_path_the_files_cannot_carry_is_refused(storage):
    with pytest.raises(spec.SpecError):
        spec.variables(storage, ["pip"])


def test_dirs_apply_manages():
    assert spec.relative_dirs("go") == ["cache/go", "cache/go/mod", "cache/go/build"]
    assert spec.relative_dirs("apt") == ["cache/apt", "cache/apt/archives",
                                         "cache/apt/archives/partial"]
    assert spec.relative_dirs("pip") == ["cache/pip"]
