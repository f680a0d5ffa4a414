"""Reading a UPS through NUT: upsc, run through core.commands. The system side of ts-ups."""

from trainserver.ups import assess, upsc


class UpsReadError(Exception):
    """upsc gave no variables; `finding` says why, at the severity it deserves."""

    def __init__(self, finding):
        super().__init__(finding.summary)
        self.finding = finding


def read(name, timeout):
    """{variable: value} of UPS `name`, or UpsReadError."""
    from trainserver.core import commands
    from trainserver.core.errors import CommandError

    try:
        result = commands.run(upsc.argv(name), changes=False, timeout=timeout)
    except CommandError as exc:
        if exc.timed_out:
            raise UpsReadError(assess.timed_out(name, timeout, upsc.host_of(name))) from None
        if exc.returncode is None:
            if "program not found" in str(exc):
                raise UpsReadError(assess.not_installed(name)) from None
            raise UpsReadError(assess.connection_lost(name, str(exc), "")) from None
        words = upsc.error_text(exc.stderr)
        raise UpsReadError(assess.connection_lost(name, words, upsc.meaning(words))) from None
    variables = upsc.parse(result.stdout)
    if not variables:
        raise UpsReadError(assess.connection_lost(name, "upsc printed no variables", ""))
    return variables
