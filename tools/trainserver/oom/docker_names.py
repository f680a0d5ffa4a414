"""Container names from the docker engine, when one answers.

The docker CLI is used (through commands.run) rather than the engine API: it honours
DOCKER_HOST, contexts and TLS settings the admin already has. A container that is gone
(`docker run --rm`, or removed since) or an engine that does not answer leaves its kills under
the short id; that is a fallback, never an error.
"""

import json
import logging

from trainserver.core import commands
from trainserver.core.errors import CommandError

log = logging.getLogger(__name__)

TIMEOUT = 30


def parse_inspect(text):
    """{full id: name} from `docker inspect` JSON (a list of objects; names lose their "/")."""
    try:
        items = json.loads(text) if text.strip() else []
    except json.JSONDecodeError:
        return {}
    names = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("Id") and item.get("Name"):
            names[item["Id"]] = item["Name"].lstrip("/")
    return names


def names(ids):
    """{full id: container name} for those of `ids` the engine knows."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    try:
        # Exit status 1 when some id is unknown; the known ones are still printed.
        result = commands.run(["docker", "inspect", "--type", "container", *ids],
                              changes=False, timeout=TIMEOUT, ok_codes=None)
    except CommandError as exc:
        log.info("container names unavailable, using short ids: %s", exc)
        return {}
    found = parse_inspect(result.stdout)
    if result.returncode != 0 and not found:
        last = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        log.info("container names unavailable, using short ids: %s", last)
    return found
