"""The workspace image's build context as text: stages, pins, healthcheck, sshd and supervisor.

The real build and run are in tests/integration/test_workspace_image.py (small flavour only: the
full flavour takes far longer than a test may); these checks also cover the full flavour's text.
"""

import configparser
import os
import re
import shlex
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CONTEXT = os.path.join(REPO, "docker", "workspace")


def _read(name):
    with open(os.path.join(CONTEXT, name)) as handle:
        return handle.read()


def _instructions():
    """(instruction, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in _read("Dockerfile").splitlines()
                                         if not line.lstrip().startswith("#")))
    return [tuple(line.strip().split(None, 1)) for line in text.splitlines() if line.strip()]


def _stages():
    stages, current = {}, None
    for instruction, args in _instructions():
        if instruction.upper() == "FROM":
            words = args.split()
            current = words[2] if len(words) == 3 and words[1].upper() == "AS" else words[0]
            stages[current] = {"from": words[0], "body": []}
        elif current is not None:
            stages[current]["body"].append((instruction.upper(), args))
    return stages


def _supervisor(name):
    parser = configparser.RawConfigParser()
    parser.read_string(_read(f"supervisor/{name}"))
    return parser


def test_base_image_is_a_build_argument_with_a_debian_default():
    instructions = _instructions()
    first_from = next(i for i, (word, _) in enumerate(instructions) if word.upper() == "FROM")
    assert ("ARG", "BASE_IMAGE=debian:bookworm") in instructions[:first_from]
    assert _stages()["base"]["from"] == "${BASE_IMAGE}"


def test_small_and_full_targets_build_on_each_other():
    stages = _stages()
    assert stages["small"]["from"] == "base"
    assert stages["full"]["from"] == "small"
    assert stages["code-server-build"]["from"] == "base"
    copies = [args for word, args in stages["small"]["body"] if word == "COPY"]
    assert any(args.startswith("--from=code-server-build /opt/code-server ") for args in copies)


def test_the_compiler_stays_in_the_builder_stage():
    small = " ".join(args for word, args in _stages()["small"]["body"] if word == "RUN")
    for package in ("build-essential", "libnode-dev", "npm "):
        assert package not in small


def test_works_with_the_classic_builder_of_docker_20_10():
    for word, args in _instructions():
        assert not (word.upper() == "RUN" and args.startswith("--mount")), args
        assert "--start-interval" not in args


def test_versions_are_pinned():
    args = dict(arg.split("=", 1) for word, arg in _instructions() if word.upper() == "ARG" and "=" in arg)
    assert re.fullmatch(r"\d+\.\d+\.\d+", args["CODE_SERVER_VERSION"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", args["JUPYTERLAB_VERSION"])
    text = _read("Dockerfile")
    assert '"code-server@${CODE_SERVER_VERSION}"' in text
    assert '"jupyterlab==${JUPYTERLAB_VERSION}"' in text
    assert "latest" not in text.lower()


def test_vendor_downloads_are_optional_and_off_by_default():
    instructions = _instructions()
    args = dict(arg.split("=", 1) for word, arg in instructions if word.upper() == "ARG" and "=" in arg)
    for name in ("INSTALL_JULIA", "INSTALL_GO", "INSTALL_RUSTUP"):
        assert args[name] == "0"
    urls = 0
    for word, arg in instructions:
        if word.upper() != "RUN":
            continue
        for url in re.finditer(r"https?://[^\s\"]+", arg):
            urls += 1
            before = arg[:url.start()]
            opened = before.rfind('if [ "$INSTALL_')
            assert opened >= 0 and "fi;" not in before[opened:], f"{url.group()} is not behind a switch"
            assert "latest" not in url.group()
    assert urls >= 3


def test_full_has_the_desktop_languages_and_applications():
    full = " ".join(args for word, args in _stages()["full"]["body"] if word == "RUN")
    packages = set(full.split())
    for package in ("kde-plasma-desktop", "tigervnc-standalone-server", "xrdp", "novnc", "python3",
                    "golang", "rustc", "cargo", "r-base", "nodejs", "firefox-esr", "libreoffice", "gimp",
                    "inkscape", "docker.io"):
        assert package in packages or package == "python3", package
    assert "julia" in full
    # Docker-in-Docker needs a privileged container, which the generator does not grant.
    assert "--privileged" in _read("Dockerfile")


def test_small_runs_sshd_jupyter_and_code_server_under_supervisor_with_a_healthcheck():
    small = _stages()["small"]["body"]
    installed = " ".join(args for word, args in small if word == "RUN").split()
    for package in ("openssh-server", "supervisor", "python3-venv", "nodejs"):
        assert package in installed
    healthchecks = [args for word, args in small if word == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "workspace-healthcheck" in healthchecks[0]
    entrypoint = [args for word, args in small if word == "ENTRYPOINT"]
    assert entrypoint and "workspace-entrypoint" in entrypoint[0]
    assert "exec /usr/bin/supervisord -n" in _read("entrypoint.sh")
    health = _read("healthcheck.py")
    assert '("127.0.0.1", 22)' in health and ":8888/api" in health and ":8080/healthz" in health


def test_supervised_services_run_as_the_person_and_keep_secrets_off_command_lines():
    programs = _supervisor("small.conf")
    assert {section.split(":", 1)[1] for section in programs.sections()} == {"sshd", "jupyter", "code-server"}
    assert not programs.has_option("program:sshd", "user")
    for name, port in (("jupyter", "8888"), ("code-server", "8080")):
        section = f"program:{name}"
        assert programs.get(section, "user") == "%(ENV_WORKSPACE_USER)s"
        command = programs.get(section, "command")
        assert port in command and "0.0.0.0" in command
        assert "/home/%(ENV_WORKSPACE_USER)s" in command
        assert not re.search(r"token|PASSWORD|hashed-password", command), command
    assert "--auth password" in programs.get("program:code-server", "command")
    # Only variables of the container contract are expanded.
    for name in ("small.conf", "full.conf"):
        assert set(re.findall(r"%\(ENV_(\w+)\)s", _read(f"supervisor/{name}"))) <= {"WORKSPACE_USER"}


def test_full_supervises_the_desktop_on_its_ports():
    desktop = _supervisor("full.conf")
    commands = {section.split(":", 1)[1]: desktop.get(section, "command") for section in desktop.sections()}
    assert "-rfbport 5901" in commands["vnc"]
    assert shlex.split(commands["novnc"])[-2:] == ["6080", "127.0.0.1:5901"]
    assert desktop.get("program:vnc", "user") == "%(ENV_WORKSPACE_USER)s"
    # xrdp fronts the same VNC display: the accounts have no password for a PAM login.
    assert commands["xrdp"].startswith("/usr/sbin/xrdp ") and "xrdp-sesman" not in commands
    xrdp = configparser.RawConfigParser()
    xrdp.read_string(_read("xrdp.ini"))
    sessions = [section for section in xrdp.sections() if xrdp.has_option(section, "lib")]
    assert [(xrdp.get(name, "lib"), xrdp.get(name, "ip"), xrdp.get(name, "port")) for name in sessions] == [
        ("libvnc.so", "127.0.0.1", "5901")]
    assert xrdp.get("Globals", "port") == "3389"


def test_sshd_takes_keys_only_and_keeps_host_keys_in_state():
    options = [line.split(None, 1) for line in _read("sshd-trainserver.conf").splitlines()
               if line.strip() and not line.startswith("#")]
    settings = dict((key.lower(), value) for key, value in options if key != "HostKey")
    assert settings["passwordauthentication"] == "no"
    assert settings["kbdinteractiveauthentication"] == "no"
    assert settings["permitrootlogin"] == "no"
    host_keys = [value for key, value in options if key == "HostKey"]
    assert host_keys and all(path.startswith("/state/ssh-host-keys/") for path in host_keys)


def test_entrypoint_never_copies_skel_nor_chowns_the_home():
    text = _read("entrypoint.sh")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "useradd -o -M " in code
    assert "skel" not in code and "chown -R" not in code and "usermod -u" not in code
    assert "-p '*'" in code  # not a locked account, which sshd refuses even for keys
    subprocess.run(["bash", "-n", os.path.join(CONTEXT, "entrypoint.sh")], check=True)
    subprocess.run(["bash", "-n", os.path.join(CONTEXT, "dind.sh")], check=True)


def test_every_copied_file_is_in_the_context():
    for word, args in _instructions():
        if word.upper() == "COPY" and not args.startswith("--from="):
            for source in args.split()[:-1]:
                assert os.path.exists(os.path.join(CONTEXT, source)), source


@pytest.mark.parametrize("suffix", [".crt", ".pem"])
def test_no_certificate_is_committed_in_the_context(suffix):
    assert not [name for name in os.listdir(os.path.join(CONTEXT, "ca-certificates")) if name.endswith(suffix)]
