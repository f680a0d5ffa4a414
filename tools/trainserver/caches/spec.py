"""What each shared cache is, which variables point at it, and the files that say so. Pure logic.

Every path here is relative to [paths] storage, or built from it; /etc paths are relative to the
root directory apply works on (--root), so tests write a throwaway image, never /etc.
"""

import re
from dataclasses import dataclass

HEADER = "# managed by ts-caches; edits are overwritten"
BLOCK_BEGIN = "# BEGIN ts-caches: managed by ts-caches; edits inside this block are overwritten"
BLOCK_END = "# END ts-caches"

PROFILE = "etc/profile.d/trainserver-caches.sh"
ENVIRONMENT_D = "etc/environment.d/60-trainserver-caches.conf"
CONTAINER_ENV = "etc/trainserver/caches.env"
PIP_CONF = "etc/pip.conf"
APT_CONF = "etc/apt/apt.conf.d/50trainserver-cache"

SHARED_MODE = 0o2775  # setgid: what a member creates keeps the shared group
ROOT_MODE = 0o755
PARTIAL_MODE = 0o700  # what apt itself gives archives/partial (owner _apt)

# The per-person place huggingface_hub keeps the login token, instead of $HF_HOME/token, which
# would be in the shared cache where every member can read it. A login shell and the systemd
# user manager expand $HOME; a container env file cannot, so containers get none.
HF_TOKEN_PATH = ("HF_TOKEN_PATH", "$HOME/.cache/huggingface/token",
                 "${HOME}/.cache/huggingface/token")


@dataclass(frozen=True)
class Cache:
    name: str
    shared: bool  # False: root's (apt), not the group's
    variables: tuple = ()  # (NAME, path relative to the cache directory, "" for the directory)
    subdirs: tuple = ()  # made by apply with the same ownership (the variables point there)
    note: str = ""


CACHES = {
    "pip": Cache("pip", True, (("PIP_CACHE_DIR", ""),)),
    "conda": Cache("conda", True, (("CONDA_PKGS_DIRS", "pkgs"),), ("pkgs",)),
    "huggingface": Cache("huggingface", True, (("HF_HOME", ""),)),
    "torch": Cache("torch", True, (("TORCH_HOME", ""),)),
    "go": Cache("go", True, (("GOMODCACHE", "mod"), ("GOCACHE", "build")), ("mod", "build")),
    "npm": Cache("npm", True, (("npm_config_cache", ""),)),
    # CARGO_HOME cannot name the registry alone: the whole of it is shared (bin/ of
    # `cargo install` and credentials.toml of `cargo login` too; see the man page).
    "cargo": Cache("cargo", True, (("CARGO_HOME", ""),)),
    "apt": Cache("apt", False, (), ("archives", "archives/partial"),
                 note="root's: apt downloads as _apt into archives/partial"),
    # No tool reads a variable for a BuildKit cache: this one is for people and scripts,
    # `--cache-to type=local,dest=$TRAINSERVER_BUILD_CACHE/<project>`.
    "docker": Cache("docker", True, (("TRAINSERVER_BUILD_CACHE", ""),)),
}

# Characters a value may hold so that a shell, systemd's environment.d and docker's --env-file
# (which takes values literally, quotes included) all read it the same.
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./@+,:-]*$")


class SpecError(ValueError):
    """The configured storage path cannot be written into the environment files."""


def check_storage(storage):
    if not _SAFE_PATH.match(storage):
        raise SpecError(f"[paths] storage {storage!r} holds characters that the environment "
                        f"files cannot carry unquoted (allowed: letters, digits and _./@+,:-)")


def cache_dir(storage, name):
    return f"{storage.rstrip('/')}/cache/{name}"


def relative_dirs(name):
    """The directories apply manages for cache `name`, relative to [paths] storage, parents
    first."""
    top = f"cache/{name}"
    return [top] + [f"{top}/{sub}" for sub in CACHES[name].subdirs]


def variables(storage, enabled, per_person=True):
    """[(NAME, value)] for the enabled caches, in the order of CACHES.

    per_person: add HF_TOKEN_PATH (for login shells and systemd user sessions, not containers);
    its value is returned in the shell's spelling."""
    check_storage(storage)
    found = []
    for name, cache in CACHES.items():
        if name not in enabled:
            continue
        for variable, sub in cache.variables:
            path = cache_dir(storage, name)
            found.append((variable, f"{path}/{sub}" if sub else path))
        if name == "huggingface" and per_person:
            found.append(HF_TOKEN_PATH[:2])
    return found


def _intro(storage, comment="#"):
    return [
        HEADER,
        f"{comment} The shared download caches under {storage.rstrip('/')}/cache (ts-caches(1)).",
        f"{comment} Every member of the shared group can change what is in them, and so what the",
        f"{comment} others install and load: someone who does not want that unsets these",
        f"{comment} variables in their own ~/.profile (and for pip sets PIP_CACHE_DIR=~/.cache/pip).",
    ]


def profile_text(storage, enabled):
    """/etc/profile.d/trainserver-caches.sh (login shells; sourced by sh and bash)."""
    lines = _intro(storage)
    for name, value in variables(storage, enabled):
        if name == HF_TOKEN_PATH[0]:
            lines.append("# Each person's Hugging Face token stays in their home, not in the "
                         "shared HF_HOME.")
            lines.append(f'export {name}="{value}"')
        elif name == "TRAINSERVER_BUILD_CACHE":
            lines += [
                "# Docker build cache (no tool reads this variable; BuildKit's local cache):",
                "#   docker buildx build --cache-to type=local,dest=$TRAINSERVER_BUILD_CACHE/<project>,mode=max \\",
                "#     --cache-from type=local,src=$TRAINSERVER_BUILD_CACHE/<project> ...",
                f"export {name}={value}",
            ]
        else:
            lines.append(f"export {name}={value}")
    return "\n".join(lines) + "\n"


def environment_d_text(storage, enabled):
    """/etc/environment.d/60-trainserver-caches.conf (systemd user sessions and their units)."""
    lines = _intro(storage)
    for name, value in variables(storage, enabled):
        if name == HF_TOKEN_PATH[0]:
            value = HF_TOKEN_PATH[2]  # environment.d expands ${HOME}
        lines.append(f"{name}={value}")
    return "\n".join(lines) + "\n"


def container_env_text(storage, enabled):
    """/etc/trainserver/caches.env, for `docker run --env-file` and compose's env_file."""
    lines = _intro(storage) + [
        "# For containers: docker run --env-file /etc/trainserver/caches.env \\",
        f"#   -v {storage.rstrip('/')}/cache:{storage.rstrip('/')}/cache --group-add GID ...",
        "# (GID: the shared group's number). Values are literal: no quotes, no expansion.",
        "# Pass a Hugging Face token as HF_TOKEN: a login inside the container would write it",
        "# into the shared HF_HOME.",
    ]
    lines += [f"{name}={value}" for name, value in variables(storage, enabled, per_person=False)]
    return "\n".join(lines) + "\n"


def apt_conf_text(storage):
    archives = cache_dir(storage, "apt") + "/archives/"
    check_storage(storage)
    return "\n".join([
        HEADER,
        "# Downloaded packages are kept on the shared storage (ts-caches(1)). apt needs",
        "# archives/partial there (owned by _apt, which downloads): ts-caches apply makes it.",
        f'Dir::Cache::archives "{archives}";',
    ]) + "\n"


def managed_files(storage, enabled):
    """{path relative to the root: wanted text, or None when the file should not be there}.

    pip.conf is not in here: it is the admin's file too, and only a block of it is ours."""
    group_caches = [name for name in enabled if CACHES[name].variables]
    return {
        PROFILE: profile_text(storage, enabled) if group_caches else None,
        ENVIRONMENT_D: environment_d_text(storage, enabled) if group_caches else None,
        CONTAINER_ENV: container_env_text(storage, enabled) if group_caches else None,
        APT_CONF: apt_conf_text(storage) if "apt" in enabled else None,
    }


def pip_cache_dir(storage, enabled, pip_conf=True):
    """The cache-dir for /etc/pip.conf's block, or None (no block)."""
    return cache_dir(storage, "pip") if pip_conf and "pip" in enabled else None


def is_ours(text):
    """Whether a whole file was written by ts-caches (its first line is the header)."""
    return text.split("\n", 1)[0].strip() == HEADER
