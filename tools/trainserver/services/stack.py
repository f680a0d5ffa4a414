"""The files ts-docker generates and the Compose command lines that use them.

Generated (under [paths] state_dir/compose): workspaces.yaml (the per-person services) and
stack.env (the values docker/compose.yaml reads). The shipped stack stays in
/usr/share/trainserver/docker, where an upgrade may replace it.
"""

import functools
import os
import secrets as secrets_module

from trainserver.core import units
from trainserver.core.errors import ActionError
from trainserver.services import compose, facts, workspaces

STACK_DIR = "/usr/share/trainserver/docker"
# ts-caches writes caches.env beside the config (/etc/trainserver), for containers.
CACHES_ENV = "caches.env"
REQUIRED = (("services", "domain"), ("services", "lan_address"))
# Secret files docker/compose.yaml mounts from [paths] secrets_dir.
GRAFANA_PASSWORD = "grafana-admin-password"
TRAEFIK_USERS = "traefik-users"
GRAFANA_UID = 472  # the grafana user of the grafana/grafana image
# The Cloudflare tunnel ([tunnel], compose profile "tunnel"): the env file holding its token, made
# from [tunnel] token_file, and the port cloudflared's metrics server listens on inside its
# container (docker/compose.yaml's --metrics).
TUNNEL_SERVICE = "cloudflared"
TUNNEL_PROFILE = "tunnel"
TUNNEL_ENV = "cloudflared.env"
TUNNEL_METRICS_PORT = 20241
TUNNEL_HEADER = ("# cloudflared ([tunnel] enabled): its token's env file and its metrics port, on "
                 "127.0.0.1 only.\n")


class Stack:
    def __init__(self, config, stack_dir=None, config_dir="/etc/trainserver"):
        self.config = config
        self.stack_dir = stack_dir or STACK_DIR
        self.caches_env = os.path.join(config_dir, CACHES_ENV)
        self.state = os.path.join(config["paths"]["state_dir"], "compose")

    @property
    def base(self):
        return os.path.join(self.stack_dir, "compose.yaml")

    @property
    def overlay(self):
        return os.path.join(self.state, "workspaces.yaml")

    @property
    def env_file(self):
        return os.path.join(self.state, "stack.env")

    @property
    def project(self):
        return self.config["services"]["project"]

    def missing_settings(self):
        return [f"[{table}] {key}" for table, key in REQUIRED if not self.config[table][key]]

    def people(self):
        from trainserver.core import people

        return people.from_config(self.config)

    @functools.cached_property
    def nvidia_runtime(self):
        """Read once: the workspaces' GPUs and the gpu profile both follow it."""
        return facts.nvidia_runtime(self.config["docker"]["daemon_json"])

    def workspaces(self):
        people = self.people()
        return workspaces.plan(people, self.config["workspaces"], facts.account_ids(people),
                               nvidia_runtime=self.nvidia_runtime)

    def env_values(self):
        paths = self.config["paths"]
        return {
            "DOMAIN": self.config["services"]["domain"],
            "LAN_ADDRESS": self.config["services"]["lan_address"],
            "STORAGE": paths["storage"],
            "METRICS_DIR": paths["metrics_dir"],
            "SECRETS_DIR": paths["secrets_dir"],
            "DOCKER_DATA_ROOT": self.config["docker"]["data_root"],
        }

    def render(self, workspace_list, secrets_dir=None):
        """{path: (text, mode)} of the generated files; `secrets_dir` replaces [paths]
        secrets_dir (a check of the files before the passwords exist)."""
        settings = {
            "storage": self.config["paths"]["storage"],
            "domain": self.config["services"]["domain"],
            "lan_address": self.config["services"]["lan_address"],
            "secrets_dir": secrets_dir or self.config["paths"]["secrets_dir"],
            "env_files": [self.caches_env] if os.path.exists(self.caches_env) else [],
        }
        stack_env = (compose.stack_env(self.env_values()), 0o644)
        if not self.tunnel_enabled:
            return {self.overlay: (compose.render(workspace_list, settings), 0o644),
                    self.env_file: stack_env}
        env_path = os.path.join(settings["secrets_dir"], TUNNEL_ENV)
        overlay = compose.render(workspace_list, settings,
                                 {TUNNEL_SERVICE: self.tunnel_service(env_path)}, TUNNEL_HEADER)
        return {self.overlay: (overlay, 0o644), self.env_file: stack_env,
                env_path: (self.tunnel_env(), 0o600)}

    @property
    def tunnel_enabled(self):
        return bool(self.config["tunnel"]["enabled"])

    def tunnel_service(self, env_path):
        """What the generated file adds to compose.yaml's cloudflared: its token and its
        published metrics port. Here rather than in compose.yaml because Compose 1.29 reads the
        env_file of every service, in an enabled profile or not, and refuses a missing one."""
        from trainserver.tunnel import ready

        address = self.config["tunnel"]["metrics_address"]
        try:
            host, port = ready.parse_address(address)
        except ready.AddressError as exc:
            raise ActionError(str(exc)) from None
        if host != "127.0.0.1":
            raise ActionError(f"[tunnel] metrics_address must be 127.0.0.1:PORT (got {address}): "
                              f"Docker publishes it past UFW, and cloudflared's metrics server "
                              f"also serves its configuration and debug pages")
        return {"env_file": [env_path],
                "ports": [f"127.0.0.1:{port}:{TUNNEL_METRICS_PORT}"]}

    def tunnel_env(self):
        """The env file's text, from [tunnel] token_file (refused when others can read it)."""
        from trainserver.core import secrets
        from trainserver.tunnel import token

        path = self.config["tunnel"]["token_file"]
        try:
            return token.env_text(secrets.read(path))
        except token.TokenError as exc:
            raise ActionError(f"{path}: {exc}") from None

    def missing_secrets(self, workspace_list):
        secrets_dir = self.config["paths"]["secrets_dir"]
        return [w.name for w in workspace_list
                if not os.path.exists(compose.secret_env_path(secrets_dir, w.name))]

    def _create_secret(self, path, text, mode, owner=0):
        """A secret file made once: O_EXCL, so one already there is never overwritten."""
        os.makedirs(self.config["paths"]["secrets_dir"], mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chown(path, owner, 0)
        return path

    def make_secret(self, name):
        """A workspace's passwords, made once (0600 root)."""
        values = {key: secrets_module.token_urlsafe(18) for key in compose.SECRET_KEYS}
        path = compose.secret_env_path(self.config["paths"]["secrets_dir"], name)
        return self._create_secret(path, compose.secret_env(values), 0o600)

    def grafana_password(self):
        return os.path.join(self.config["paths"]["secrets_dir"], GRAFANA_PASSWORD)

    def traefik_users(self):
        return os.path.join(self.config["paths"]["secrets_dir"], TRAEFIK_USERS)

    def make_grafana_password(self):
        """Grafana's admin password, made once. Owned by Grafana's uid inside its image, 0400:
        Compose bind-mounts a file secret as it is, and Grafana does not run as root."""
        return self._create_secret(self.grafana_password(),
                                   secrets_module.token_urlsafe(18) + "\n", 0o400, GRAFANA_UID)

    def compose_argv(self, program, overlay=None, env_file=None, profiles=()):
        argv = [*program, "--project-name", self.project, "--env-file", env_file or self.env_file,
                "--file", self.base, "--file", overlay or self.overlay]
        for profile in profiles:
            argv += ["--profile", profile]
        return argv

    def profiles(self):
        return ((["gpu"] if self.nvidia_runtime else [])
                + ([TUNNEL_PROFILE] if self.tunnel_enabled else []))


def limits_text(workspace):
    return (f"memory {units.format_size(workspace.memory_limit)} (guaranteed "
            f"{units.format_size(workspace.memory_guarantee)}), {workspace.cpus:g} CPUs, "
            f"SSH port {workspace.ssh_port}{', GPUs' if workspace.gpus else ''}")
