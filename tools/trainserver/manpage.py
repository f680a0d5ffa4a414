"""Generate a section-1 man page for every ts-* console script from its click command.

Run at package build time: python3 -m trainserver.manpage --setup-cfg setup.cfg OUTDIR
The pages carry the same text as --help, so the two never disagree.
"""

import argparse
import configparser
import datetime
import importlib
import inspect
import os
import sys

import click

from trainserver import __version__


def console_scripts(setup_cfg):
    """[(script name, "module:function")] from setup.cfg's console_scripts."""
    parser = configparser.ConfigParser()
    parser.read(setup_cfg)
    text = parser.get("options.entry_points", "console_scripts", fallback="")
    scripts = []
    for line in text.splitlines():
        if "=" in line:
            name, target = (part.strip() for part in line.split("=", 1))
            scripts.append((name, target))
    return scripts


def load_command(target):
    """The click command behind a console-script target such as trainserver.x.cli:main.

    The convention is that each cli module's main() runs a module-level click object `cli`.
    """
    module_name, _ = target.split(":", 1)
    command = getattr(importlib.import_module(module_name), "cli", None)
    if not isinstance(command, click.Command):
        raise SystemExit(f"{module_name}: no click command named cli")
    return command


# The exit-status contract every tool keeps, in each page (trainserver(7) has it in full).
CONTRACT = ("Every ts-* tool keeps one contract (trainserver(7), EXIT STATUS): a check exits "
            "with its worst finding (0 ok, 1 warning, 2 critical, 3 unknown); an action that "
            "could not do its job exits 2, never 1, which would read as only a warning; with "
            "--json the failure is also printed as a finding (check \"run\"), which ts-alert "
            "pipe sends.")


def escape(text):
    """Text safe for roff: backslashes, hyphens and control characters at line starts."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def paragraphs(text):
    """Help text as roff paragraphs (click's \\b marks a block kept as written)."""
    out = []
    # Docstrings arrive indented; a \b block's layout is only right once they are dedented.
    for block in inspect.cleandoc(click.unstyle(text or "")).split("\n\n"):
        block = block.strip("\n")
        if block.startswith("\b"):
            out.append(".nf\n" + escape(block[1:].strip("\n")) + "\n.fi")
        else:
            out.append(escape(" ".join(line.strip() for line in block.splitlines())))
    return "\n.PP\n".join(b for b in out if b)


def options(ctx, command, skip=()):
    lines = []
    for param in command.get_params(ctx):
        record = None if param.name in skip else param.get_help_record(ctx)
        if record:
            flags, help_text = record
            lines.append(f".TP\n\\fB{escape(flags)}\\fR\n{escape(help_text)}")
    return "\n".join(lines)


def subcommands(ctx, group, prefix):
    """Sections for each subcommand of `group`, recursively for nested groups."""
    parts = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        sub_ctx = click.Context(command, info_name=name, parent=ctx)
        usage = " ".join(command.collect_usage_pieces(sub_ctx))
        parts.append(f'.SS "{escape(prefix + " " + name)} {escape(usage)}"')
        parts.append(paragraphs(command.help))
        option_text = options(sub_ctx, command, skip=("help",))
        if option_text:
            parts.append(".PP\nOptions:\n.RS\n" + option_text + "\n.RE")
        if isinstance(command, click.Group):
            parts.append(subcommands(sub_ctx, command, prefix + " " + name))
    return "\n".join(parts)


def render(name, command, date):
    ctx = click.Context(command, info_name=name)
    summary = (command.get_short_help_str(limit=200) or name).rstrip(".")
    usage = " ".join(command.collect_usage_pieces(ctx))
    page = [
        f'.TH {name.upper()} 1 "{date}" "trainserver {__version__}" "trainserver manual"',
        ".SH NAME",
        f"{name} \\- {escape(summary[0].lower() + summary[1:])}",
        ".SH SYNOPSIS",
        f".B {escape(name)}\n{escape(usage)}",
        ".SH DESCRIPTION",
        paragraphs(command.help),
        ".SH OPTIONS",
        options(ctx, command),
    ]
    if isinstance(command, click.Group):
        page += [".SH COMMANDS", subcommands(ctx, command, name)]
    exit_status = getattr(command, "exit_status", None)
    if exit_status:
        page.append(".SH EXIT STATUS")
        page += [f".TP\n{code}\n{escape(text)}" for code, text in exit_status.items()]
        page.append(".PP\n" + escape(CONTRACT))
    page += [
        ".SH FILES",
        ".TP\n/etc/trainserver/trainserver.toml\nThe configuration; see \\fBts\\-config\\fR(1).",
        ".TP\n/var/lib/trainserver\nState kept between runs.",
        ".SH SEE ALSO",
        "\\fBtrainserver\\fR(7), \\fBts\\-config\\fR(1)",
    ]
    return "\n".join(page) + "\n"


def build_date():
    """The changelog's date when building a package (reproducible builds), else today."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
            else datetime.datetime.now(datetime.timezone.utc))
    return when.strftime("%Y-%m-%d")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup-cfg", default="setup.cfg")
    parser.add_argument("outdir")
    args = parser.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    date = build_date()
    for name, target in console_scripts(args.setup_cfg):
        path = os.path.join(args.outdir, f"{name}.1")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(render(name, load_command(target), date))
        print(path, file=sys.stderr)


if __name__ == "__main__":
    main()
