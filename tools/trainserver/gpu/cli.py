"""ts-gpu-temp: GPU temperatures, thermal slowdown, and lost or missing GPUs, as findings."""

import click

from trainserver.core import cli as core_cli
from trainserver.core.checks import CHECK_EXIT_STATUS
from trainserver.gpu import TOOL


def _log():
    # Not imported at module level: `ts-gpu-temp --help` never loads logging otherwise.
    import logging

    return logging.getLogger(__name__)


def _load_state(state_file):
    try:
        return state_file.load({})
    except OSError as exc:
        # A check run by hand without root still reports temperatures; it just cannot tell
        # which GPUs went missing.
        _log().warning("cannot read %s (%s): GPUs seen before are not compared", state_file.path,
                       exc.strerror)
        return {}


def _best_effort(what, function, *args):
    try:
        function(*args)
    except OSError as exc:
        _log().warning("cannot write %s (%s); the findings are still reported", what,
                       exc.strerror or exc)


@core_cli.tool_group(TOOL, exit_status=CHECK_EXIT_STATUS)
def cli():
    """Check the NVIDIA GPUs' temperatures, and find GPUs that are lost or missing.

    The GPUs are read through NVML (the pynvml module) when it is installed, else with
    nvidia-smi. GPUs are remembered by UUID in the state directory (gpu.json), so a GPU that
    disappears is reported until it comes back or is forgotten. Metrics go to
    trainserver_gpu.prom in [paths] metrics_dir.
    """


@cli.command()
@core_cli.reports(core_cli.CHECK, job="gpu-temp")
@click.pass_obj
def check(tool, as_json):
    """Report every GPU's temperature against its thresholds.

    Per GPU (subject: UUID, name and index): ok; warning above [gpu] temperature_warning;
    critical at or above the GPU's own slowdown threshold, with hardware thermal slowdown
    active, when the driver says the GPU is lost, or when a GPU seen before is missing.
    Software thermal slowdown is shown, but is no warning by itself. No NVIDIA driver, or a
    driver that cannot be read, is one unknown finding (exit status 3); NVML not answering
    within [gpu] timeout (a hung driver) is one critical finding.
    """
    import time

    from trainserver.core import checks
    from trainserver.gpu import assess, metrics, reader
    from trainserver.gpu.readings import GpuReadError

    settings = tool.config["gpu"]
    with tool.lock(wait=checks.CHECK_LOCK_WAIT):
        state_file = tool.state_file("gpu")
        remembered = assess.remembered_gpus(_load_state(state_file))
        try:
            reading = reader.read_gpus(settings["timeout"])
        except GpuReadError as exc:
            findings = [assess.read_failure(exc, remembered)]
            gauges = metrics.build([], driver_up=False)
        else:
            for note in reading.notes:
                _log().warning("%s", note)
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            result = assess.assess(reading, remembered, settings["temperature_warning"], now)
            findings = result.findings
            _best_effort(state_file.path, state_file.save, result.state)
            gauges = metrics.build(result.gpus, driver_up=True)
        tool.write_metrics("trainserver_gpu", gauges)
    return checks.report(findings, as_json)


@cli.command()
@click.argument("uuids", nargs=-1, required=True, metavar="UUID...")
@core_cli.dry_run_option
@click.pass_obj
def forget(tool, uuids, dry_run):
    """Forget GPUs that were removed on purpose, so they are no longer reported missing.

    UUID is as shown in the findings (GPU-...). A GPU still present is remembered again by the
    next check. With --dry-run, says which it would forget (an unknown UUID is still an error).
    """
    from trainserver.core.checks import CHECK_LOCK_WAIT

    with tool.lock(wait=CHECK_LOCK_WAIT):
        state_file = tool.state_file("gpu")
        document = state_file.load({})
        gpus = document.get("gpus", {}) if isinstance(document, dict) else {}
        unknown = [uuid for uuid in uuids if uuid not in gpus]
        if unknown:
            known = ", ".join(sorted(gpus)) or "none"
            raise click.BadParameter(f"not remembered: {', '.join(unknown)} (remembered: {known})",
                                     param_hint="UUID")
        for uuid in uuids:
            del gpus[uuid]
            click.echo(f"would forget {uuid}" if dry_run else f"forgot {uuid}")
        if not dry_run:
            state_file.save({"gpus": gpus})
    return core_cli.EXIT_OK


def main():
    core_cli.main(cli)
