"""ts-tunnel: whether the Cloudflare tunnel (cloudflared in the services stack) is connected."""

import click

from trainserver.core import cli as core_cli
from trainserver.core.checks import CHECK_EXIT_STATUS
from trainserver.tunnel import TOOL


@core_cli.tool_group(TOOL, exit_status=CHECK_EXIT_STATUS)
def cli():
    """Check the Cloudflare tunnel that makes the server's web services reachable from outside.

    \b
    The tunnel is run by cloudflared, a service of the stack (`ts-docker up` starts it, in
    the compose profile "tunnel", when [tunnel] enabled = true). It connects out to
    Cloudflare with the token in [tunnel] token_file, and Cloudflare sends the requests for
    *.<domain> through it to Traefik. Nothing needs to be opened in the firewall.

    cloudflared's metrics server, published on the loopback only ([tunnel]
    metrics_address), answers /ready with the number of connections it holds to
    Cloudflare's edge: that is what the check reads. The dashboard's public hostname
    settings are in /usr/share/trainserver/docker/README.md ("Cloudflare tunnel").
    """


@cli.command()
@core_cli.reports(core_cli.CHECK)
@click.pass_obj
def check(tool, as_json):
    """Report whether cloudflared is connected to Cloudflare.

    \b
    Findings (subject cloudflared, and the token file):
      ok        connected (N connections to Cloudflare): /ready said HTTP 200, N >= 1
      critical  not connected: cloudflared answers, with no connection (HTTP 503)
      critical  cloudflared is not running: nothing listens on [tunnel] metrics_address
      critical  no answer within [tunnel] timeout
      unknown   something else answered (named in the finding), or it could not be asked
      critical  the token file is missing, empty, not a tunnel token, or readable by
                group or others (chmod 600; `ts-docker up` refuses such a file)

    With [tunnel] enabled = false: one ok finding, "not configured". The number of
    connections goes to trainserver_tunnel_ready_connections in
    [paths] metrics_dir/trainserver_tunnel.prom.
    """
    from trainserver.core import checks
    from trainserver.core.errors import ActionError
    from trainserver.tunnel import ready

    settings = tool.config["tunnel"]
    if not settings["enabled"]:
        tool.write_metrics("trainserver_tunnel", ready.metrics(None))
        return checks.report([ready.not_configured()], as_json)
    try:
        host, port = ready.parse_address(settings["metrics_address"])
    except ready.AddressError as exc:
        raise ActionError(str(exc)) from None
    with tool.lock(wait=checks.CHECK_LOCK_WAIT):
        from trainserver.tunnel import probe

        result = ready.assess(settings["metrics_address"],
                              probe.get_ready(host, port, settings["timeout"]),
                              settings["timeout"])
        findings = [result.finding]
        findings.append(_token_finding(settings["token_file"]))
        tool.write_metrics("trainserver_tunnel", ready.metrics(result.connections))
    return checks.report(findings, as_json)


def _token_finding(path):
    from trainserver.core import secrets
    from trainserver.tunnel import ready, token

    try:
        value = secrets.read(path)
    except secrets.SecretError as exc:
        return ready.token_finding(path, exc)
    try:
        tunnel = token.tunnel_id(value)
    except token.TokenError as exc:
        return ready.token_finding(path, secrets.SecretError(f"{path}: {exc}", "invalid"))
    return ready.token_finding(path, None, tunnel)


def main():
    core_cli.main(cli)
