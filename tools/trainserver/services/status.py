"""The stack's state as findings, from the services Compose expects and `docker inspect`. Pure."""

from trainserver.core.findings import Finding, Severity
from trainserver.services import TOOL


def expected(document, profiles):
    """The services Compose starts, from `compose config` output: Compose v1 lists a service of
    a profile not enabled under `config --services` too, v2 does not."""
    import yaml

    services = (yaml.safe_load(document) or {}).get("services") or {}
    return sorted(name for name, service in services.items()
                  if not service.get("profiles") or set(service["profiles"]) & set(profiles))


def findings(expected, containers):
    """A finding per expected service.

    expected: {service name: container name or None}; containers: `docker inspect` objects of
    the project's containers.
    """
    by_service = {}
    for container in containers:
        labels = (container.get("Config") or {}).get("Labels") or {}
        service = labels.get("com.docker.compose.service")
        if service:
            by_service[service] = container
    result = []
    for service in sorted(expected):
        container = by_service.get(service)
        if container is None:
            result.append(Finding(TOOL, "service", service, Severity.CRITICAL,
                                  f"{service}: no container (ts-docker up starts it)"))
            continue
        result.append(_finding(service, container))
    return result


def _finding(service, container):
    state = container.get("State") or {}
    status = state.get("Status", "unknown")
    health = (state.get("Health") or {}).get("Status")
    name = container.get("Name", "").lstrip("/")
    if status != "running":
        code = state.get("ExitCode")
        why = f"{status}, exit code {code}" if status == "exited" else status
        return Finding(TOOL, "service", service, Severity.CRITICAL,
                       f"{service} ({name}): {why} (docker logs {name})", value=status)
    if health == "unhealthy":
        log = (state.get("Health") or {}).get("Log") or []
        last = (log[-1].get("Output") or "").strip().splitlines()[-1:] if log else []
        detail = f": {last[0]}" if last else ""
        return Finding(TOOL, "service", service, Severity.CRITICAL,
                       f"{service} ({name}): running, unhealthy{detail} (docker inspect {name})",
                       value=health)
    if health == "starting":
        return Finding(TOOL, "service", service, Severity.WARNING,
                       f"{service} ({name}): running, health check still starting",
                       value=health)
    text = "running, healthy" if health == "healthy" else "running (no health check)"
    return Finding(TOOL, "service", service, Severity.OK, f"{service} ({name}): {text}",
                   value=health or status)


def summary(finding_list):
    """Rows for `ts-docker status` without --json."""
    return [(f.subject, f.severity.label, f.summary) for f in finding_list]
