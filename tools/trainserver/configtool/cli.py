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


def _split_name(name):
    """(table, key) of "TABLE.KEY"; a name the schema does not have is a usage error."""
    import difflib

    from trainserver.core import schema as config_schema

    names = [f"{table}.{key}" for table, key, _ in config_schema.walk_keys()]
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f'; did you mean "{close[0]}"?' if close else " (ts-config show lists them)"
        raise click.BadParameter(f"no such key: {name}{hint}", param_hint="TABLE.KEY")
    table, key = name.split(".", 1)
    return table, key


@cli.command()
@click.argument("name", metavar="TABLE.KEY")
@click.pass_obj
def get(tool, name):
    """Print one effective value, such as `ts-config get paths.secrets_dir`, for scripts.

    A string is printed as it is, anything else as JSON; values marked secret are masked, as
    in `show`. The file must be valid TOML and the key's own table valid; a problem in another
    table is logged as a warning and the value still printed, since the tools that read this
    key would read the same (the package's postinst reads paths.secrets_dir this way). Exit
    status 3 when the value cannot be read.
    """
    import json
    import logging

    from trainserver.core import config as config_module
    from trainserver.core import toml_text

    table, key = _split_name(name)
    # A file that is not TOML at all says nothing sure about any table: that is an error here,
    # where ts-alert's lenient reading would fall back to the defaults.
    config_module.parse_toml(config_module.read_text(tool.config_path), tool.config_path)
    config, problems = tool.config_tables([table])
    if problems:
        logging.getLogger(__name__).warning(
            "%s has problems outside [%s] (ts-config check lists them); [%s] %s is read all "
            "the same", config.path, table, table, key)
    value = toml_text.masked(config.effective)[table][key]
    click.echo(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


@cli.command()
def default():
    """Print the documented default config file (every key commented, with its default).

    The shipped /etc/trainserver/trainserver.toml is exactly this output.
    """
    from trainserver.core import toml_text

    click.echo(toml_text.default_text(), nl=False)


def main():
    core_cli.main(cli)
