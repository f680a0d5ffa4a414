"""One vocabulary across the tools, checked over the source: one name per tool, --dry-run where
something changes and one way to read it, loggers named after their module, and a core whose
modules do not import one another in a circle."""

import ast
import importlib
import os
import subprocess
import sys

import click
import pytest

from trainserver.core import naming
from trainserver.manpage import console_scripts, load_command

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.dirname(importlib.import_module("trainserver").__file__)
SCRIPTS = console_scripts(os.path.join(ROOT, "setup.cfg"))


def sources():
    for directory, _, files in os.walk(PACKAGE):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8") as handle:
                    yield os.path.relpath(path, PACKAGE), ast.parse(handle.read(), path)


def calls(tree, name):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called == name:
                yield node


@pytest.mark.parametrize("script,target", SCRIPTS, ids=[s for s, _ in SCRIPTS])
def test_each_tool_has_one_name(script, target):
    """ts-X's command group, its findings' "tool" (the package's TOOL) and what ts-alert pipe
    makes of the program's name are one and the same."""
    package = importlib.import_module(target.split(":")[0].rsplit(".", 1)[0])
    assert load_command(target).name == script == f"ts-{package.TOOL}"
    assert naming.tool_of(f"/usr/bin/{script}") == package.TOOL


def test_findings_take_the_tool_name_from_its_one_place():
    literal = [f"{path}:{node.lineno}" for path, tree in sources()
               for node in calls(tree, "Finding")
               if node.args and isinstance(node.args[0], ast.Constant)]
    assert literal == [], "Finding(TOOL, ...) with the package's TOOL, not a string"


def test_every_module_logs_under_its_own_name():
    """logs.setup's handler sits on the root logger, so every module's records reach it."""
    named = [f"{path}:{node.lineno}" for path, tree in sources()
             for node in calls(tree, "getLogger")
             if not (len(node.args) == 1 and isinstance(node.args[0], ast.Name)
                     and node.args[0].id == "__name__")
             and not (path == os.path.join("core", "logs.py") and not node.args)]
    assert named == []


def test_dry_run_is_read_through_its_one_accessor():
    readers = []
    for path, tree in sources():
        if path == os.path.join("core", "commands.py"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("settings", "_state") \
                    and isinstance(node.value, ast.Name) and node.value.id == "commands":
                readers.append(f"{path}:{node.lineno}")
    assert readers == [], "read the flag with commands.dry_run()"


def test_the_accessor_follows_the_option():
    from trainserver.core import commands

    try:
        commands.set_dry_run(True)
        assert commands.dry_run() is True
        assert commands.run(["false"], changes=True).dry_run is True
    finally:
        commands.set_dry_run(False)
    assert commands.dry_run() is False


# Commands that change something and still have no --dry-run, and why.
WITHOUT_DRY_RUN = {
    # The alert path: what it changes is its own state and the chat, and a dry run of a
    # delivery would hide the very failure it exists to report.
    "ts-alert send", "ts-alert pipe", "ts-alert flush", "ts-alert notice", "ts-alert test",
    "ts-alert unit-failed",
}
# Commands that change nothing but their own bookkeeping (the state a check compares against,
# its metrics, its job record): a dry run would report the same findings.
CHECKS = {
    "ts-alert status", "ts-alert overdue", "ts-backup snapshots", "ts-backup status",
    "ts-backup verify", "ts-caches status", "ts-config check", "ts-config show",
    "ts-config default", "ts-config get", "ts-docker status", "ts-doctor run", "ts-doctor digest",
    "ts-firewall plan", "ts-firewall check", "ts-gdrive-mount cache-size",
    "ts-gdrive-mount stats", "ts-gpu-temp check", "ts-oom check", "ts-quota report",
    "ts-quota show", "ts-quota digest", "ts-smart check", "ts-smart scan", "ts-snapshot plan",
    "ts-snapshot list", "ts-storage discover", "ts-storage status", "ts-storage check",
    "ts-storage plan", "ts-sync estimate", "ts-sync status", "ts-tunnel check", "ts-ups check",
    "ts-ups status", "ts-users list",
}


def commands_of(script, target):
    group = load_command(target)
    if not isinstance(group, click.Group):
        return {script: group}
    return {f"{script} {name}": command for name, command in group.commands.items()}


def test_every_command_that_changes_something_has_dry_run():
    missing = []
    for script, target in SCRIPTS:
        for name, command in commands_of(script, target).items():
            options = {opt for param in command.params for opt in param.opts}
            if "--dry-run" not in options and name not in WITHOUT_DRY_RUN | CHECKS:
                missing.append(name)
    assert missing == [], "add core.cli.dry_run_option, or say above why it needs none"


CORE = ("commands", "errors", "secrets", "masking")


def core_imports():
    """{core module: core modules it imports, at the top or inside a function}."""
    graph = {}
    for path, tree in sources():
        if os.path.dirname(path) != "core":
            continue
        module = os.path.basename(path)[:-3]
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "trainserver.core":
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "trainserver.core."):
                found.add(node.module.split(".")[2])
            elif isinstance(node, ast.Import):
                found |= {alias.name.split(".")[2] for alias in node.names
                          if alias.name.startswith("trainserver.core.")}
        graph[module] = found - {module}
    return graph


def test_core_modules_do_not_import_one_another_in_a_circle():
    graph = core_imports()
    state = {}

    def visit(module, trail):
        if state.get(module) == "done":
            return None
        if module in trail:
            return trail[trail.index(module):] + [module]
        for imported in sorted(graph.get(module, ())):
            circle = visit(imported, trail + [module])
            if circle:
                return circle
        state[module] = "done"
        return None

    circles = [c for c in (visit(m, []) for m in sorted(graph)) if c]
    assert circles == []
    assert graph["masking"] == set()  # the leaf that commands, errors and secrets share


@pytest.mark.parametrize("module", CORE)
def test_each_core_module_imports_alone(module):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(PACKAGE))
    result = subprocess.run([sys.executable, "-c", f"import trainserver.core.{module}"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr


def test_every_now_option_is_the_core_one():
    """--now is an ISO 8601 time in every tool: each one is core.cli.now_option."""
    from trainserver.core import cli as core_cli

    own = [name for script, target in SCRIPTS
           for name, command in commands_of(script, target).items()
           for param in command.params
           if "--now" in param.opts and param.callback is not core_cli._moment]
    assert own == [], "use core.cli.now_option"


def test_both_restores_speak_one_vocabulary():
    """ts-snapshot restore and ts-backup restore: the same options, the same default place."""
    targets = dict(SCRIPTS)
    restores = [load_command(targets[script]).commands["restore"]
                for script in ("ts-snapshot", "ts-backup")]
    options = [sorted(opt for param in command.params for opt in param.opts)
               for command in restores]
    assert options[0] == options[1] == ["--dry-run", "--from", "--overwrite", "--to", "-n", "path"]
    helps = [{param.opts[0]: param.help for param in command.params
              if param.opts[0] in ("--to", "--overwrite")} for command in restores]
    assert helps[0]["--to"] == helps[1]["--to"] == "Where to put the copy [default: PATH itself]."
    for help_ in helps:
        assert "DEST.replaced-<UTC time>" in help_["--overwrite"]
