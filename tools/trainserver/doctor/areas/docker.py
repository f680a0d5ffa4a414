"""Docker: every container of the stack running and healthy (ts-docker status)."""

from trainserver.doctor import tools
from trainserver.doctor.results import SKIP, Result
from trainserver.doctor.runner import Probe

AREA = "docker"


def services_not_configured(config):
    services = config["services"]
    if not services["domain"] or not services["lan_address"]:
        return "services not configured: [services] domain or lan_address is empty"
    return None


def containers(ctx):
    if tools.which(ctx, "docker") is None:
        return Result(AREA, "containers", SKIP, "docker is not installed")
    why = services_not_configured(ctx.config)
    if why:
        return Result(AREA, "containers", SKIP, why)
    return tools.check(ctx, AREA, "containers", "ts-docker", ["status", "--json"])


def probes(config):
    return [Probe(AREA, "containers", containers, "ts-docker status")]
