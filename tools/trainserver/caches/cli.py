"""ts-caches: the shared download caches under [paths] storage/cache."""

import click

from trainserver.core import cli as core_cli
from trainserver.core.checks import CHECK_EXIT_STATUS
from trainserver.caches import TOOL

EXIT_STATUS = {
    **CHECK_EXIT_STATUS,
    1: "status: a cache or a file is not as apply sets it (a warning)",
    2: "apply: something could not be done (the findings say what; the rest was done, and a "
       "re-run goes on from there)",
    3: "status: a cache could not be checked (the storage is not mounted), or a usage or "
       "config error",
}


@core_cli.tool_group(TOOL, exit_status=EXIT_STATUS)
def cli():
    """Share the download caches of pip, conda, Hugging Face, torch, Go, npm, cargo, apt and
    docker build between the people of this server.

    What is shared: one directory each under [paths] storage/cache (/mnt/storage/cache/pip,
    .../conda, .../huggingface, .../torch, .../go, .../npm, .../cargo, .../apt, .../docker),
    the subvolumes ts-storage apply makes; [caches] caches says which. A model or a wheel one
    person downloads is there for the others, once, on the RAID10 instead of in every home.

    How: each cache directory is root:<[users] group> (default mlusers), mode 2775 (setgid:
    what is created inside keeps the group), with the access ACL group:mlusers:rwx and the
    default ACL default:group:mlusers:rwx, default:mask::rwx. So a file a member creates with
    a umask of 022 is still writable by the others (the default ACL decides, not the umask),
    and a new directory inherits all of it. apt's cache is root's instead: root:root 0755,
    archives/partial owned by _apt, which apt downloads as.

    \b
    The variables (only those of the enabled caches):
      PIP_CACHE_DIR=/mnt/storage/cache/pip
      CONDA_PKGS_DIRS=/mnt/storage/cache/conda/pkgs
      HF_HOME=/mnt/storage/cache/huggingface
      HF_TOKEN_PATH=$HOME/.cache/huggingface/token (so a login's token stays private)
      TORCH_HOME=/mnt/storage/cache/torch
      GOMODCACHE=/mnt/storage/cache/go/mod  GOCACHE=/mnt/storage/cache/go/build
      npm_config_cache=/mnt/storage/cache/npm
      CARGO_HOME=/mnt/storage/cache/cargo
      TRAINSERVER_BUILD_CACHE=/mnt/storage/cache/docker

    Cargo has no variable for its registry alone, so all of CARGO_HOME is shared: the
    registry and git checkouts (the point), but also bin/ of `cargo install` (one install
    serves everyone, and anyone in the group can replace it) and credentials.toml: do not
    `cargo login` here, pass CARGO_REGISTRY_TOKEN instead. rustup's own files stay in each
    home (RUSTUP_HOME). Go makes its module cache read-only on purpose: `go clean -modcache`
    works for root only.

    The docker build cache is BuildKit's local cache directory; no tool reads a variable for
    it: `docker buildx build --cache-to type=local,dest=$TRAINSERVER_BUILD_CACHE/<project>,mode=max
    --cache-from type=local,src=$TRAINSERVER_BUILD_CACHE/<project>` (the docker-container
    buildx driver; buildx writes the cache as the person who runs it). The Docker daemon's
    own data is not here.

    The files apply writes, each below --root. pip.conf is the admin's file: only a marked
    block in it is ts-caches'. The others are ts-caches' alone and start with the line
    "# managed by ts-caches; edits are overwritten"; a file at their path without that line
    is never overwritten (apply reports it and exits 2).

    \b
      /etc/profile.d/trainserver-caches.sh           login shells (export lines)
      /etc/environment.d/60-trainserver-caches.conf  systemd user sessions, their units
      /etc/trainserver/caches.env                    containers (docker run --env-file)
      /etc/pip.conf                                  a marked block in [global]
      /etc/apt/apt.conf.d/50trainserver-cache        Dir::Cache::archives

    Containers: `docker run --env-file /etc/trainserver/caches.env -v
    /mnt/storage/cache:/mnt/storage/cache --group-add GID ...` (GID: the shared group's
    number); the compose stack reads the same file. The values are literal there (no
    $HOME), so HF_TOKEN_PATH is left out: pass a token as HF_TOKEN, never log in inside.

    /etc/pip.conf: PIP_CACHE_DIR already points pip at the cache wherever the environment
    files are read, and wins over any pip.conf; the block in /etc/pip.conf is for pip runs
    that read none of them (sudo, whose env_reset drops the variable; cron; services; `ssh
    host pip ...`). The admin's lines stay as written; an admin's own cache-dir or
    no-cache-dir in it wins, and then no block is written ([caches] pip_conf = false: never).

    THE TRUST MODEL. A shared writable cache lets any member of the group change what the
    others install and load: a wheel, a conda package or a Go build result swapped in the
    cache, a model file or a torch checkpoint (a pickle, which runs code when loaded) changed
    in place. The package managers check what they download, but mostly trust what already
    lies in their cache (unpacked packages, build results), and Hugging Face and torch.hub
    files are loaded as they lie. That is fine for a handful of people who trust each other, as on this server: they are in the
    docker group already, which is as good as root. Someone who does not trust the others
    points the variables at their own directories in their ~/.profile (unset HF_HOME
    TORCH_HOME ...; PIP_CACHE_DIR=~/.cache/pip, because /etc/pip.conf would still name the
    shared one) and in ~/.config/environment.d/. Anyone who may not be trusted must not be in
    [users] group.

    apt: apply points apt at /mnt/storage/cache/apt/archives. While the storage is not
    mounted, apt cannot download and says the archives directory is missing.
    """


_root_option = click.option(
    "--root", "root", metavar="DIR", default="/", show_default=True,
    type=click.Path(file_okay=False),
    help="Work on the system image at DIR: its etc/group, etc/passwd and the /etc files "
         "below DIR (as useradd --root does); the caches stay under [paths] storage.")


def _settings(tool, root):
    from trainserver.caches.facts import Settings

    return Settings.from_config(tool.config, root=root)


def _check_spec(settings):
    from trainserver.caches import spec
    from trainserver.core.errors import ActionError

    try:
        spec.check_storage(settings.storage)
    except spec.SpecError as exc:
        raise ActionError(str(exc)) from None


def _finding_of(outcome, verb):
    from trainserver.core.findings import Finding, Severity

    check = {"cache": "cache", "file": "file", "group": "group"}[outcome.kind]
    notes = "; ".join(outcome.notes)
    if outcome.error:
        done = f" (done before: {'; '.join(outcome.done)})" if outcome.done else ""
        return Finding(TOOL, check, outcome.subject, Severity.CRITICAL,
                       f"{outcome.subject}: {outcome.error}{done}")
    summary = (f"{outcome.subject}: {verb} " + "; ".join(outcome.done) if outcome.done
               else f"{outcome.subject}: nothing to change")
    if notes:
        summary += f" ({notes})"
    return Finding(TOOL, check, outcome.subject, Severity.OK, summary, len(outcome.done))


@cli.command()
@core_cli.reports(core_cli.ACTION)
@core_cli.dry_run_option
@_root_option
@click.option("--fix-existing", is_flag=True,
              help="Also give the group what is already inside the caches: group, group "
                   "permissions as the owner has them, the default ACL on directories. One walk "
                   "over every file at idle I/O priority: use it once after files were moved "
                   "or copied in; apply does it by itself when it first gives a cache to the "
                   "group.")
@click.pass_obj
def apply(tool, as_json, dry_run, root, fix_existing):
    """Make the shared caches and point every tool at them.

    Creates the group ([users] group, groupadd --system) when missing, each enabled cache
    (a BTRFS subvolume when missing, as ts-storage apply makes it; a plain directory already
    there is used as it is) with its owner, mode and ACL, and writes the files listed above.
    Only what differs is changed: a second run says "nothing to change". Refused while
    [paths] storage is not mounted or has no cache/ directory. A file at a path of ts-caches
    without its header is left alone and reported (exit 2); so is a broken ts-caches block in
    pip.conf. Caches removed from [caches] caches are left as they are; their variables go.
    """
    from trainserver.caches import apply as applying, facts
    from trainserver.core.checks import report
    from trainserver.core.errors import ActionError

    settings = _settings(tool, root)
    _check_spec(settings)
    problem = facts.storage_problem(settings)
    if problem:
        raise ActionError(problem)

    def announce(step):
        if not as_json:
            click.echo(f"{'would: ' if dry_run else ''}{step.text()}")

    with tool.lock():
        gid, group_outcome = applying.ensure_group(settings, announce)
        outcomes = [group_outcome]
        # Without the group nothing else is done: files pointing everyone at caches nobody
        # may write would only turn every download into a warning.
        if group_outcome.error is None:
            outcomes += applying.apply_dirs(settings, gid, announce, fix_existing=fix_existing)
            outcomes += applying.apply_files(settings, announce)
    verb = "would change:" if dry_run else "changed:"
    findings = [_finding_of(outcome, verb) for outcome in outcomes]
    if as_json:
        return report(findings, as_json)
    changed = sum(len(outcome.done) for outcome in outcomes)
    for outcome in outcomes:
        for note in outcome.notes:
            click.echo(f"note: {outcome.subject}: {note}")
    for finding in findings:
        if finding.severity.label != "ok":
            click.echo(f"{finding.severity.label}: {finding.summary}", err=True)
    if not changed:
        click.echo("nothing to change")
    elif dry_run:
        click.echo(f"dry run: {changed} changes would be made")
    else:
        click.echo(f"done: {changed} changes")
    from trainserver.core.findings import exit_status

    return exit_status(findings)


@cli.command()
@core_cli.reports(core_cli.CHECK)
@_root_option
@click.pass_obj
def status(tool, as_json, root):
    """Show each cache's size (allocated bytes, hard links once) and file count, and check
    that it is as apply sets it.

    A finding per cache (check "cache", the cache's name; value: bytes), per file (check
    "file") and for the group. Warning: a cache lost its group, mode or ACL (someone
    chmod'ed it), holds entries the group cannot use (moved in from a home: apply
    --fix-existing mends them), is missing, or a file is out of date or not ts-caches'.
    Unknown: the storage is not mounted. Walks every file at idle I/O priority, which takes
    a while on a big cache (measured here: 200,000 files in about 1 s with their metadata in
    memory, 4 s without).
    """
    from trainserver.caches import status as status_module
    from trainserver.core.checks import report

    settings = _settings(tool, root)
    findings, reports = status_module.gather(settings)
    if as_json:
        return report(findings, as_json)
    click.echo(status_module.render(findings, reports), nl=False)
    from trainserver.core.findings import exit_status

    return exit_status(findings)


def main():
    core_cli.main(cli)
