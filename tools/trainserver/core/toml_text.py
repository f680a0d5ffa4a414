"""Writing the config back out as TOML: the effective config and the documented default file."""

import json
import textwrap

from trainserver.core import schema as config_schema
from trainserver.core.secrets import MASK


def value(item):
    """A TOML literal for the value kinds the schema allows (strings, numbers, booleans, lists)."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, (int, float)):
        return repr(item)
    if isinstance(item, str):
        # JSON string escapes are valid TOML basic-string escapes.
        return json.dumps(item, ensure_ascii=False)
    if isinstance(item, dict):
        return "{" + ", ".join(f"{key} = {value(v)}" for key, v in item.items()) + "}"
    if isinstance(item, list):
        if any(isinstance(v, dict) for v in item):
            # An inline table must stay on one line; the list of them need not.
            return "[\n" + "".join(f"    {value(v)},\n" for v in item) + "]"
        return "[" + ", ".join(value(v) for v in item) + "]"
    raise TypeError(f"no TOML form for {type(item).__name__}")


def masked(effective, schema=config_schema.SCHEMA):
    """`effective` with every x-secret value replaced by a mask."""
    result = {table: dict(values) for table, values in effective.items()}
    for table, key, key_schema in config_schema.walk_keys(schema):
        if key_schema.get("x-secret") and result[table].get(key):
            result[table][key] = MASK
    return result


def effective_text(effective, notes=None, schema=config_schema.SCHEMA):
    """The effective config as TOML; `notes` maps (table, key) to a comment shown after the key."""
    notes = notes or {}
    lines = []
    for table, table_schema in schema["properties"].items():
        lines.append(f"[{table}]")
        for key in table_schema["properties"]:
            line = f"{key} = {value(effective[table][key])}"
            note = notes.get((table, key))
            lines.append(f"{line}  # {note}" if note else line)
        lines.append("")
    return "\n".join(lines)


HEADER = """\
# /etc/trainserver/trainserver.toml: the configuration of the trainserver suite; see trainserver(7).
#
# Every key is listed, commented out, with its meaning, its unit and its default. To change one,
# remove the leading "#" and edit the value. Unknown keys are errors, so a typo is never ignored.
# Check the file after editing with: ts-config check
#
# Units are written the way people say them:
#   sizes      "1TB" = 10^12 bytes (decimal: kB MB GB TB PB),
#              "1TiB" = 2^40 bytes (binary: KiB MiB GiB TiB PiB); a bare number is bytes
#   rates      "100Mbit/s" or "100Mbps" are bits per second, "12MB/s" or "12MiB/s" bytes per second
#   durations  "90s", "15min", "6h", "30d", "2w", "1h 30min" (no months or years)
# Secrets never go in this file: keys ending in _file name files under /etc/trainserver/secrets/
# that only root may read (chmod 600).
"""


def default_text(schema=config_schema.SCHEMA):
    """The documented default config, shipped as /etc/trainserver/trainserver.toml."""
    lines = [HEADER]
    for table, table_schema in schema["properties"].items():
        lines.append("")
        lines.extend(f"# {line}" for line in textwrap.wrap(table_schema["description"], 96))
        lines.append(f"[{table}]")
        for key, key_schema in table_schema["properties"].items():
            lines.append("")
            lines.extend(f"# {line}" for line in textwrap.wrap(key_schema["description"], 96))
            unit = key_schema.get("x-unit") or {
                "integer": "whole number", "number": "number", "array": "list",
                "boolean": "true or false"
            }.get(key_schema["type"], "text")
            extra = ""
            if "enum" in key_schema:
                extra = " One of: " + ", ".join(value(v) for v in key_schema["enum"]) + "."
            elif "exclusiveMinimum" in key_schema:
                extra = f" More than {value(key_schema['exclusiveMinimum'])}."
            elif "minimum" in key_schema or "maximum" in key_schema:
                low, high = key_schema.get("minimum"), key_schema.get("maximum")
                extra = f" Range: {low if low is not None else ''}..{high if high is not None else ''}."
            lines.append(f"# Unit: {unit}. Default: {value(key_schema['default'])}.{extra}")
            if "x-example" in key_schema:
                # A list of tables has no one-line default worth uncommenting: show its form.
                lines.append("# For example:")
                lines.extend(f"#{line}" for line in key_schema["x-example"])
            else:
                lines.append(f"#{key} = {value(key_schema['default'])}")
    return "\n".join(lines) + "\n"
