"""monitoring: every Prometheus target up, Grafana answering.

Both are asked from inside their own containers (`docker exec` with the image's busybox
wget, which their compose health checks use too). Prometheus publishes no port (it is reached
through Traefik behind the admin's basic-auth), and its second network, `monitoring`, is
internal: from inside the container the answer depends on neither the route to a bridge
network, nor UFW, nor the admin password, and no container address has to be looked up.
"""

from trainserver.doctor import parse, tools
from trainserver.doctor.areas.docker import services_not_configured
from trainserver.doctor.results import FAIL, PASS, SKIP, Result
from trainserver.doctor.runner import Probe, run_command

AREA = "monitoring"
GPU_JOBS = ("dcgm",)
URLS = {"prometheus": "http://localhost:9090/api/v1/targets",
        "grafana": "http://localhost:3000/api/health"}


def _container(ctx, docker, service):
    project = ctx.config["services"]["project"]
    listed = run_command(ctx, [docker, "ps", "--filter", f"label=com.docker.compose.project="
                               f"{project}", "--filter", f"label=com.docker.compose.service="
                               f"{service}", "--filter", "status=running", "--format",
                               "{{.Names}}"])
    if listed.returncode:
        raise RuntimeError(f"docker ps failed: {listed.stderr.strip()}")
    names = listed.stdout.split()
    return names[0] if names else None


def _fetch(ctx, item, service):
    """(container, body) or a Result saying why there is none."""
    docker = tools.which(ctx, "docker")
    if docker is None:
        return Result(AREA, item, SKIP, "docker is not installed")
    why = services_not_configured(ctx.config)
    if why:
        return Result(AREA, item, SKIP, why)
    try:
        name = _container(ctx, docker, service)
    except RuntimeError as exc:
        return Result(AREA, item, FAIL, str(exc))
    if name is None:
        return Result(AREA, item, SKIP, f"the stack is not running (no running {service} "
                      f"container in project {ctx.config['services']['project']})",
                      "ts-docker status")
    seconds = max(1, int(ctx.remaining()))
    completed = run_command(ctx, [docker, "exec", name, "wget", "-q", "-T", str(seconds),
                                  "-O", "-", URLS[service]])
    if completed.returncode:
        return Result(AREA, item, FAIL, f"{URLS[service]} in {name}: exit status "
                      f"{completed.returncode}: {completed.stderr.strip() or 'no message'}",
                      f"docker logs {name}")
    return name, completed.stdout


def targets(ctx):
    fetched = _fetch(ctx, "prometheus targets", "prometheus")
    if isinstance(fetched, Result):
        return fetched
    name, body = fetched
    investigate = f"docker exec {name} wget -qO- {URLS['prometheus']}"
    # dcgm-exporter runs only in the stack's gpu profile, which ts-docker enables with the
    # nvidia runtime; Prometheus' config names it always. Without a driver its target is down
    # by design, and said so, not failed.
    ignore = GPU_JOBS if tools.which(ctx, "nvidia-smi") is None else ()
    try:
        up, down, ignored = parse.prometheus_targets(body, ignore)
    except ValueError as exc:
        return Result(AREA, "prometheus targets", FAIL, f"unexpected answer: {exc}", investigate)
    note = f" ({'; '.join(ignored)}: no GPU here, so not run)" if ignored else ""
    if down:
        return Result(AREA, "prometheus targets", FAIL, f"{len(down)} of "
                      f"{len(up) + len(down)} targets down: " + "; ".join(down) + note,
                      investigate)
    if not up:
        return Result(AREA, "prometheus targets", FAIL, "no active targets" + note, investigate)
    return Result(AREA, "prometheus targets", PASS, f"all {len(up)} targets up{note}",
                  investigate)


def grafana(ctx):
    fetched = _fetch(ctx, "grafana", "grafana")
    if isinstance(fetched, Result):
        return fetched
    name, body = fetched
    ok, reason = parse.grafana_health(body)
    return Result(AREA, "grafana", PASS if ok else FAIL, reason, f"docker logs {name}")


def probes(config):
    return [
        Probe(AREA, "prometheus targets", targets, "ts-docker status"),
        Probe(AREA, "grafana", grafana, "ts-docker status"),
    ]
