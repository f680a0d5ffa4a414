"""The manual's maintenance schedule as one monthly message, and the failover test's record.

The manual asks for `apt upgrade` monthly, a UPS battery check monthly, a failover test and
image updates quarterly. None of that is a fault a check can alert on, so ts-doctor-digest.timer
sends one message a month (`ts-alert notice --queue-only -- ts-doctor digest`) that says what
is due: pending upgrades (security ones named), the stack's images that are old or that a pull
has already replaced, the UPS self-test's age and the failover test's age.

Everything here is known offline: the upgrades are what `apt-get --simulate dist-upgrade` says
from the package lists apt-daily.timer last fetched (their age is in the message); an image's age
is its build date; "replaced" means its tag now names another image than the container runs.
A section that cannot be gathered says why in the message; the digest fails (exit 2, so the
unit fails and OnFailure= reports it) only when no section could be gathered at all.
"""

import dataclasses
import json
import os
import re
import time

import click

STATE_NAME = "doctor"  # STATE_DIR/doctor.json
DAY = 86400

# Inst NAME [OLD] (NEW ORIGIN:VERSION/ARCHIVE[, ORIGIN:VERSION/ARCHIVE] [ARCH]) ...
_INST = re.compile(r"^Inst (?P<name>\S+)(?: \[(?P<old>[^\]]*)\])? \((?P<new>\S+) (?P<origins>[^\[]*)\[")


@dataclasses.dataclass(frozen=True)
class Upgrade:
    name: str
    old: str
    new: str
    security: bool


def parse_apt_simulation(text):
    """The packages `apt-get --simulate dist-upgrade` would install or upgrade.

    A package is a security update when one of the archives offering the new version is a
    security archive (Debian-Security:12/stable-security, Ubuntu's jammy-security)."""
    upgrades = []
    for line in text.splitlines():
        match = _INST.match(line)
        if not match:
            continue
        origins = [part.strip() for part in match["origins"].split(",") if part.strip()]
        security = any(origin.split(":", 1)[0].endswith("-Security")
                       or origin.rsplit("/", 1)[-1].endswith("-security") for origin in origins)
        upgrades.append(Upgrade(match["name"], match["old"] or "", match["new"], security))
    return upgrades


def upgrades_section(upgrades, lists_age, now_names=12):
    """Lines about pending upgrades; `lists_age`: seconds since apt last fetched its lists."""
    fetched = ("apt's package lists are from "
               + (_age_words(lists_age) + " ago" if lists_age is not None else "an unknown date"))
    if not upgrades:
        return [f"Upgrades: none pending ({fetched})."]
    security = sorted(upgrade.name for upgrade in upgrades if upgrade.security)
    lines = [f"Upgrades: {len(upgrades)} pending, {len(security)} of them security updates "
             f"({fetched}). Run: apt update && apt upgrade"]
    if security:
        shown = security[:now_names]
        more = f" and {len(security) - len(shown)} more" if len(security) > len(shown) else ""
        lines.append("  security: " + ", ".join(shown) + more)
    return lines


@dataclasses.dataclass(frozen=True)
class Image:
    """An image the stack runs: `reference` as compose names it."""

    reference: str
    created: float  # build time of the image the container runs (epoch seconds)
    container: str
    running_id: str
    current_id: str  # what the reference names now (another id: a pull replaced it)


def images_section(images, now, max_age):
    """Lines about the stack's images: replaced by a pull, or older than `max_age`."""
    if not images:
        return ["Images: no container of the stack is running."]
    replaced = sorted({image.reference for image in images
                       if image.current_id and image.current_id != image.running_id})
    old = sorted({(image.reference, image.created) for image in images
                  if image.created and now - image.created > max_age})
    lines = []
    if replaced:
        lines.append("Images: a newer image is already pulled for " + ", ".join(replaced)
                     + ". Run: ts-docker up")
    if old:
        lines.append(f"Images older than {_age_words(max_age)} (the quarterly update is due; "
                     "change the tag in compose.yaml, then ts-docker up):")
        lines.extend(f"  {reference}: built {_age_words(now - created)} ago"
                     for reference, created in old)
    if not lines:
        lines.append(f"Images: all {len({image.reference for image in images})} younger than "
                     f"{_age_words(max_age)}, none replaced.")
    return lines


def ups_section(findings):
    """Lines about the UPS's self-test, from `ts-ups check --json` findings."""
    if not findings:
        return ["UPS: ts-ups check reported nothing."]
    # ts-ups could not do its job (its config unreadable, say): that, not "no self-test".
    failed = [finding for finding in findings
              if finding.get("check") == "run" and finding.get("severity") != "ok"]
    if failed:
        return [f"UPS: {finding.get('summary', '')} ({finding.get('severity')})"
                for finding in failed]
    if len(findings) == 1 and "not configured" in findings[0].get("summary", ""):
        return ["UPS: not configured ([ups] name)."]
    tests = [finding for finding in findings if "test" in str(finding.get("check", ""))]
    if not tests:
        return ["UPS: no self-test reported by ts-ups check."]
    return [f"UPS self-test: {finding.get('summary', '')} ({finding.get('severity')})"
            for finding in tests]


def failover_section(record, now, max_age):
    """Lines about the quarterly failover test, from the record `failover-done` keeps."""
    if not record or not isinstance(record.get("time"), (int, float)):
        return ["Failover test: none recorded. After running the procedure: "
                "ts-doctor failover-done --note TEXT"]
    age = now - record["time"]
    when = time.strftime("%Y-%m-%d", time.gmtime(record["time"]))
    note = f" ({record['note']})" if record.get("note") else ""
    if age > max_age:
        return [f"Failover test: due; the last was on {when}{note}, {_age_words(age)} ago "
                f"(every {_age_words(max_age)})."]
    return [f"Failover test: done on {when}{note}, {_age_words(age)} ago."]


def digest_text(sections, now):
    """The message: a title line, then each section's lines."""
    month = time.strftime("%Y-%m", time.gmtime(now))
    lines = [f"Monthly maintenance for {month}"]
    for section in sections:
        lines.extend(section)
    return "\n".join(lines) + "\n"


def _age_words(seconds):
    seconds = max(0, seconds)
    if seconds < 2 * 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * DAY:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // DAY)} days"


# What touches the system: each gatherer returns its section's lines, or raises with why not.

def _gather_upgrades(timeout):
    from trainserver.core import commands

    # NoLocking: the simulation reads the lists only, and must not wait for or block apt.
    result = commands.run(["apt-get", "--simulate", "-o", "Debug::NoLocking=true",
                           "dist-upgrade"], changes=False, timeout=timeout)
    return upgrades_section(parse_apt_simulation(result.stdout), _lists_age())


def _lists_age():
    """Seconds since apt's lists were last fetched (the newest Release file), or None."""
    directory = "/var/lib/apt/lists"
    try:
        stamps = [entry.stat().st_mtime for entry in os.scandir(directory)
                  if entry.name.endswith(("Release", "InRelease"))]
    except OSError:
        return None
    return time.time() - max(stamps) if stamps else None


def _gather_images(project, timeout, now, max_age):
    import shutil

    from trainserver.core import commands

    if not shutil.which("docker"):
        return ["Images: Docker is not installed."]
    listed = commands.run(["docker", "ps", "--filter", f"label=com.docker.compose.project={project}",
                           "--format", "{{.Names}}"], changes=False, timeout=timeout)
    names = listed.stdout.split()
    if not names:
        return images_section([], now, max_age)
    containers = json.loads(commands.run(["docker", "inspect", *names], changes=False,
                                         timeout=timeout).stdout)
    references = sorted({container["Config"]["Image"] for container in containers})
    found = json.loads(commands.run(["docker", "image", "inspect", *references, *(
        container["Image"] for container in containers)], changes=False, timeout=timeout,
        ok_codes=(0, 1)).stdout or "[]")
    by_tag = {}
    created = {}
    for image in found:
        created[image["Id"]] = _docker_time(image.get("Created", ""))
        for tag in image.get("RepoTags") or []:
            by_tag[tag] = image["Id"]
    images = []
    for container in containers:
        reference = container["Config"]["Image"]
        tag = reference if ":" in reference.rsplit("/", 1)[-1] else reference + ":latest"
        images.append(Image(reference, created.get(container["Image"], 0.0),
                            container["Name"].lstrip("/"), container["Image"],
                            by_tag.get(tag, by_tag.get(reference, ""))))
    return images_section(images, now, max_age)


def _docker_time(text):
    """Docker's RFC 3339 time with nanoseconds as epoch seconds (0.0 when unreadable)."""
    import datetime as dt

    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if not match:
        return 0.0
    zone = "+00:00" if match[2] == "Z" else match[2]
    return dt.datetime.fromisoformat(match[1] + zone).timestamp()


def _gather_ups(config_path, timeout):
    import shutil

    from trainserver.core import commands

    program = shutil.which("ts-ups")
    if not program:
        return ["UPS: ts-ups is not installed."]
    # ts-doctor's own --config: the digest speaks of the machine that config describes. A
    # check exits with its worst severity: any status up to 3 still printed its findings.
    result = commands.run([program, "--config", config_path, "check", "--json"], changes=False,
                          timeout=timeout, ok_codes=(0, 1, 2, 3))
    findings = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return ups_section(findings)


def failover_record(state_file):
    doc = state_file.load({})
    record = doc.get("failover") if isinstance(doc, dict) else None
    return record if isinstance(record, dict) else None


def register(group):
    """Add `digest` and `failover-done` to ts-doctor's command group."""
    from trainserver.core import cli as core_cli

    @group.command()
    @core_cli.now_option("Judge ages as of this time.")
    @click.pass_obj
    def digest(tool, now):
        """Print the monthly maintenance message: a title line, then what is due.

        ts-doctor-digest.timer runs `ts-alert notice --queue-only -- ts-doctor digest` on the
        1st of each month at 09:15, which sends this text as one message (it opens no
        problem). It names pending apt upgrades (security updates by name, from the package
        lists apt last fetched), the stack's images older than [doctor] image_max_age or
        already replaced by a pull, the UPS self-test (ts-ups check) and the failover test's
        age ([doctor] failover_max_age, recorded by failover-done). A part that cannot be
        gathered says why; the digest fails (exit 2) only when none could be.
        """
        from trainserver.core.errors import ActionError

        now = _now(now)
        config = tool.config
        timeout = config["doctor"]["probe_timeout"] * 3
        gatherers = (
            ("Upgrades", lambda: _gather_upgrades(timeout)),
            ("Images", lambda: _gather_images(config["services"]["project"], timeout, now,
                                              config["doctor"]["image_max_age"])),
            ("UPS", lambda: _gather_ups(tool.config_path, timeout)),
            ("Failover test", lambda: failover_section(
                failover_record(tool.state_file(STATE_NAME)), now,
                config["doctor"]["failover_max_age"])),
        )
        sections, failed = [], []
        for name, gather in gatherers:
            try:
                sections.append(gather())
            except Exception as exc:  # one part's failure is a line of the message, not its end
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                sections.append([f"{name}: could not be checked: {reason}"])
                failed.append(name)
        if len(failed) == len(gatherers):
            raise ActionError("no part of the maintenance digest could be gathered: "
                              + "; ".join(line for section in sections for line in section))
        click.echo(digest_text(sections, now), nl=False)
        return core_cli.EXIT_OK

    @group.command("failover-done")
    @click.option("--note", default="", metavar="TEXT",
                  help="What was tested, and how it went (shown in the digest).")
    @core_cli.dry_run_option
    @core_cli.now_option("Record this time instead of now.")
    @click.pass_obj
    def failover_done(tool, note, dry_run, now):
        """Record that the quarterly failover test was run today.

        Run it after going through the failover procedure of the server manual (pull a disk's
        cable or fail it with `btrfs replace`, watch the alerts, restore redundancy; take the
        UPS off the mains and watch the runtime). The monthly digest reminds when the last
        record is older than [doctor] failover_max_age.
        """
        now = _now(now)
        state = tool.state_file(STATE_NAME)
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now))
        if dry_run:
            click.echo(f"would record the failover test at {when}")
            return core_cli.EXIT_OK
        doc = state.load({})
        doc = doc if isinstance(doc, dict) else {}
        doc["failover"] = {"time": now, "note": note}
        state.save(doc)
        click.echo(f"recorded the failover test at {when}")
        return core_cli.EXIT_OK


def _now(now):
    return time.time() if now is None else now
