"""The areas of the system test, in the order they are reported."""

import importlib

AREAS = ("storage", "gpu", "docker", "network", "monitoring", "backups", "alerts", "users",
         "timers")


def probes(config, only=()):
    """Every probe of the areas in `only` (all when empty), in report order."""
    found = []
    for area in AREAS:
        if only and area not in only:
            continue
        module = importlib.import_module(f"trainserver.doctor.areas.{area}")
        found.extend(module.probes(config))
    return found
