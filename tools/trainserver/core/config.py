"""Load and validate /etc/trainserver/trainserver.toml.

Every problem is collected and reported at once, one line each, as
`FILE: [table] key: what is wrong (got VALUE)`, so an admin fixes the file in one pass.
"""

import json

from trainserver.core import schema as config_schema
from trainserver.core import units
from trainserver.core.errors import ConfigError

__all__ = ["Config", "ConfigError", "load", "load_tables", "validate"]


class Config:
    """The effective config: the file's values over the schema's defaults.

    `effective` holds values as written (for display); `table()` returns a table with sizes,
    rates and durations parsed into bytes, bytes per second and seconds.
    """

    def __init__(self, path, effective, schema=config_schema.SCHEMA):
        self.path = path
        self.effective = effective
        self._schema = schema

    def table(self, name):
        table_schema = self._schema["properties"][name]["properties"]
        parsed = {}
        for key, value in self.effective[name].items():
            parser = units.PARSERS.get(table_schema[key].get("format"))
            parsed[key] = parser(value) if parser else value
        return parsed

    def __getitem__(self, name):
        return self.table(name)


def _describe_value(value):
    return json.dumps(value, ensure_ascii=False)


def _location(path, error_path):
    parts = list(error_path)
    if not parts:
        return f"{path}:"
    table, rest = parts[0], parts[1:]
    where = f"{path}: [{table}]"
    if rest:
        where += " " + ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in rest)
    return where + ":"


_TYPE_NAMES = {
    "string": 'a string (in quotes, e.g. "text")',
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list [ ... ]",
    "object": "a table",
}


# Keys that moved to another table: a config written for an older version names them, and the
# admin is told where they went instead of only "unknown key".
MOVED = {
    ("storage", "users"): "moved to [users] people: write each person as a [[users.people]] "
                          "table with name and uid after the [users] table (see trainserver(7))",
}


def _unknown_key_messages(path, error):
    import difflib

    known = list(error.schema.get("properties", {}))
    unknown = sorted(set(error.instance) - set(known))
    messages = []
    for name in unknown:
        is_table = not error.path
        what = "unknown table" if is_table else "unknown key"
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f'; did you mean "{close[0]}"?' if close else f"; known: {', '.join(known)}"
        where = f"{path}: [{name}]:" if is_table else _location(path, [*error.path, name])
        moved = MOVED.get(tuple(error.path) + (name,))
        if moved:
            messages.append(f"{where} {moved}")
            continue
        messages.append(f"{where} {what}{hint}")
    return messages


def _message(path, error):
    """One human line for one jsonschema error."""
    if error.validator == "additionalProperties":
        return _unknown_key_messages(path, error)
    where = _location(path, error.path)
    got = f"(got {_describe_value(error.instance)})"
    validator, expected = error.validator, error.validator_value
    if validator == "type":
        what = f"expected {_TYPE_NAMES.get(expected, expected)}"
    elif validator == "minimum":
        what = f"must be at least {expected}"
    elif validator == "maximum":
        what = f"must be at most {expected}"
    elif validator == "enum":
        what = "must be one of " + ", ".join(_describe_value(e) for e in expected)
    elif validator == "pattern":
        what = {"^/": "expected an absolute path"}.get(expected, f"must match {expected}")
    elif validator == "format":
        what = _format_problem(expected, error.instance)
    else:
        what = error.message
    return [f"{where} {what} {got}"]


def _format_problem(fmt, value):
    parser = units.PARSERS.get(fmt)
    if parser:
        try:
            parser(value)
        except units.UnitError as exc:
            return str(exc)
    return f"expected {fmt}"


def _format_checker():
    import jsonschema  # imported here: it costs ~100 ms, and --help must stay fast

    checker = jsonschema.FormatChecker(formats=())
    for name, parser in units.PARSERS.items():
        # A checker's falsy result fails the format: "0" (a size or duration of 0) parses to 0.
        checker.checks(name, raises=units.UnitError)(
            lambda value, parser=parser: parser(value) is not None)
    checker.checks("secret-file")(lambda value: isinstance(value, str) and value.startswith("/"))
    return checker


def validate(data, path, schema=config_schema.SCHEMA):
    """Return every problem of `data` against the schema, as message lines (empty: valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema, format_checker=_format_checker())
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.path]):
        problems.extend(_message(path, error))
    return problems


def parse_toml(text, path):
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)".
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None


def read_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ConfigError([
            f"{path}: no such file. Create it with the documented defaults: "
            f"ts-config default > {path} (or reinstall trainserver to restore the shipped one)"
        ]) from None
    except PermissionError:
        raise ConfigError([f"{path}: permission denied: run as root, or pass --config"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a directory, not a config file"]) from None


def merge_defaults(data, schema=config_schema.SCHEMA):
    effective = config_schema.defaults(schema)
    for table, values in data.items():
        effective[table].update(values)
    return effective


# Each domain's rules across keys that a schema cannot say (an empty retention policy, say), as
# "module:function"; imported only when a config is loaded, so every tool and `ts-config check`
# apply them all.
CROSS_CHECKS = ("trainserver.core.people:config_problems",
                "trainserver.snapshot.policy:config_problems",
                "trainserver.storage.limits:config_problems",
                "trainserver.services.workspaces:config_problems",
                "trainserver.firewall.plan:config_problems")


def cross_checks():
    import importlib

    found = []
    for name in CROSS_CHECKS:
        module, function = name.split(":")
        found.append(getattr(importlib.import_module(module), function))
    return found


def load(path, schema=config_schema.SCHEMA, checks=None):
    """Read, validate and complete the config file; raise ConfigError listing every problem.

    `checks` are callables (effective config dict) -> list of problem strings, run after the
    schema passes (default: CROSS_CHECKS for the suite's own schema).
    """
    if checks is None:
        checks = cross_checks() if schema is config_schema.SCHEMA else ()
    path = str(path)
    data = parse_toml(read_text(path), path)
    problems = validate(data, path, schema)
    if problems:
        raise ConfigError(problems)
    effective = merge_defaults(data, schema)
    problems = [f"{path}: {problem}" for check in checks for problem in check(effective)]
    if problems:
        raise ConfigError(problems)
    return Config(path, effective, schema)


def _table_texts(text):
    """{table name: its text} for each [table] section, so one can be read while another
    section of the file is not valid TOML."""
    import re

    header = re.compile(r"^\s*\[\s*([A-Za-z0-9_-]+)\s*\]\s*(#.*)?$")
    sections, name, lines = {}, None, []
    for line in text.splitlines():
        found = header.match(line)
        if found:
            if name:
                sections[name] = "\n".join(lines)
            name, lines = found.group(1), [line]
        elif name:
            lines.append(line)
    if name:
        sections[name] = "\n".join(lines)
    return sections


def load_tables(path, tables, schema=config_schema.SCHEMA):
    """(Config, problems): the config with only `tables` validated and the others at their
    defaults, and the problems found anywhere else (not raised).

    For the alert path, which must keep working when another tool's table, or another section's
    TOML, is broken. A problem in one of `tables` itself still raises ConfigError.
    """
    path = str(path)
    text = read_text(path)
    try:
        data = parse_toml(text, path)
        problems = validate(data, path, schema)
    except ConfigError as exc:
        problems = list(exc.problems)
        data = {}
        for name, section in _table_texts(text).items():
            if name in tables:
                data.update(parse_toml(section, f"{path} [{name}]"))
    own_schema = {**schema, "properties": {name: schema["properties"][name] for name in tables},
                  "additionalProperties": True}
    own = {name: data[name] for name in tables if name in data}
    own_problems = validate(own, path, own_schema)
    if own_problems:
        raise ConfigError(own_problems)
    effective = merge_defaults(own, schema)
    return Config(path, effective, schema), problems
