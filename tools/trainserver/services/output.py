"""How every ts-docker action prints its findings: one JSON line each under --json, else the
summaries (problems on standard error, with their severity); the exit status is the worst."""

import click


def finish(findings, as_json, lines=()):
    from trainserver.core.checks import report
    from trainserver.core.findings import Severity, exit_status

    if as_json:
        return report(findings, True)
    for line in lines:
        click.echo(line)
    for finding in findings:
        if finding.severity != Severity.OK:
            click.echo(f"{finding.severity.label}: {finding.summary}", err=True)
        else:
            click.echo(finding.summary)
    return exit_status(findings)
