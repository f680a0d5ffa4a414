"""ts-config: check, show and print the documented default of the suite's config file."""

import sys

import click

from trainserver.core import cli as core_cli
from trainserver.configtool import TOOL


def _secret_files(config):
    """(table, key, path) of every secret file the config names."""
    from trainserver.core import schema as config_schema

    for table, key, key_schema in config_schema.walk_keys():
        if key_schema.get("format") == "secret-file":
            yield table, key, config.effective[table][key]


def _secret_notes(config):
    """(table, key) -> state of each secret file, shown by `show`."""
    from trainserver.core import secrets

    return {(table, key): "secret file: " + secrets.describe(path)
            for table, key, path in _secret_files(config)}


def _loose_secret_problems(config):
    """Secret files that exist but are unsafe or unreadable: refused, so check fails on them.

    A secret that does not exist yet is only noted by `show`: which secrets a site needs depends
    on which tools it uses, and a fresh install has none.
    """
    from trainserver.core import secrets

    problems = []
    for table, key, path in _secret_files(config):
        try:
            secrets.check_file(path)
        except secrets.SecretError as exc:
            if exc.state != "missing":
                problems.append(f"{config.path}: [{table}] {key}: {exc}")
    return problems


@core_cli.tool_group(TOOL)
def cli():
    """Check and show the trainserver configuration (/etc/trainserver/trainserver.toml)."""


@cli.command()
@core_cli.json_option
@click.pass_obj
def check(tool, as_json):
    """Validate the config file; exit 0 when it is valid, 3 when it is not.

    Every problem is listed at once, one line each, naming the file, the table, the key, what is
    wrong and the value found. Secret files that others can read are problems too.
    """
    import json

    try:
        config = tool.config
        problems = _loose_secret_problems(config)
    except core_cli.ConfigError as exc:
        config, problems = None, exc.problems
    if as_json:
        json.dump({"path": tool.config_path, "valid": not problems, "problems": problems},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif problems:
        for problem in problems:
            click.echo(problem, err=True)
    else:
        click.echo(f"{config.path}: valid")
    return core_cli.EXIT_UNKNOWN if problems else core_cli.EXIT_OK


@cli.command()
@core_cli.json_option
@click.pass_obj
def show(tool, as_json):
    """Print the effective config: the file's values over the defaults, secrets masked.

    Secret files are shown by path with their state (present, missing, too open), never their
    content; values marked secret, such as ping URLs, are masked.
    """
    import json

    from trainserver.core import toml_text

    config = tool.config
    effective = toml_text.masked(config.effective)
    if as_json:
        json.dump(effective, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        click.echo(f"# effective config from {config.path}, defaults filled in, secrets masked\n")
        click.echo(toml_text.effective_text(effective, _secret_notes(config)), nl=False)


@cli.command()
def default():
    """Print the documented default config file (every key commented, with its default).

    The shipped /etc/trainserver/trainserver.toml is exactly this output.
    """
    from trainserver.core import toml_text

    click.echo(toml_text.default_text(), nl=False)


def main():
    core_cli.main(cli)
