"""What ufw (0.36) says about itself: `ufw status verbose`, `ufw show added`, /etc/default/ufw.

Pure parsers. `show added` is read for the rules because it lists them whether or not the
firewall is active, in the very words that `ufw delete` takes back; `status verbose` is read for
whether the firewall is active and for the policies it runs with.
"""

import re
import shlex
from dataclasses import dataclass

# The comment ts-firewall puts on its own rules: a rule with it is ours to delete.
COMMENT = "trainserver"

# /etc/default/ufw's iptables targets in the words `ufw default` takes.
_TARGETS = {"DROP": "deny", "REJECT": "reject", "ACCEPT": "allow"}
_DEFAULT_KEYS = {"DEFAULT_INPUT_POLICY": "incoming", "DEFAULT_OUTPUT_POLICY": "outgoing",
                 "DEFAULT_FORWARD_POLICY": "routed"}
_ANYWHERE = ("any", "0.0.0.0/0", "::/0")
_ACTIONS = ("allow", "deny", "reject", "limit")


class UfwParseError(ValueError):
    """ufw printed something these parsers do not know."""


@dataclass(frozen=True)
class Status:
    active: bool
    policies: dict  # {"incoming": "deny", ...}; empty when ufw is inactive (it does not say)


def parse_status(text):
    """`ufw status verbose` (or plain `ufw status`) -> Status."""
    active = None
    policies = {}
    for line in text.splitlines():
        if line.startswith("Status:"):
            word = line.split(":", 1)[1].strip()
            if word not in ("active", "inactive"):
                raise UfwParseError(f"ufw status: unknown status {word!r}")
            active = word == "active"
        elif line.startswith("Default:"):
            for part in line.split(":", 1)[1].split(","):
                match = re.fullmatch(r"\s*([\w-]+) \((\w+)\)\s*", part)
                if not match:
                    raise UfwParseError(f"ufw status: cannot read the policy {part.strip()!r}")
                policies[match[2]] = match[1]
    if active is None:
        raise UfwParseError("ufw status printed no 'Status:' line")
    return Status(active, policies)


def parse_default_file(text):
    """/etc/default/ufw -> {"incoming": "deny", "outgoing": "allow", "routed": "deny"}: the
    policies ufw loads when enabled (what `ufw default` writes), readable while inactive."""
    policies = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key in _DEFAULT_KEYS:
            target = value.strip().strip("\"'")
            policies[_DEFAULT_KEYS[key]] = _TARGETS.get(target, target.lower())
    return policies


@dataclass(frozen=True)
class AddedRule:
    """One line of `ufw show added`, e.g. `ufw allow from 10.0.0.0/24 to any port 22 proto tcp
    comment 'trainserver'`."""

    text: str  # as ufw printed it, "ufw " included
    words: tuple  # the rule's words after "ufw", comment left out
    comment: str = None

    @property
    def route(self):
        return self.words[:1] == ("route",)

    @property
    def action(self):
        return next((w for w in self.words if w in _ACTIONS), None)

    @property
    def direction(self):
        """"in" or "out" (a rule without either is incoming)."""
        rest = self.words[1:] if self.route else self.words
        return "out" if len(rest) > 1 and rest[1] == "out" else "in"

    @property
    def source(self):
        """The word after "from", or None: from anywhere."""
        words = list(self.words)
        if "from" in words:
            index = words.index("from")
            if index + 1 < len(words):
                return words[index + 1]
        return None

    def lan_rule(self):
        """(network, port) when this is exactly the shape ts-firewall adds, else None."""
        words = self.words
        if (len(words) == 9 and words[0] == "allow" and words[1] == "from" and words[3:6] == ("to", "any", "port")
                and words[7:] == ("proto", "tcp") and words[6].isdigit()):
            return words[2], int(words[6])
        return None

    def open_to_anywhere(self):
        """An incoming allow (or limit) rule that any address on the internet matches."""
        if self.route or self.direction != "in" or self.action not in ("allow", "limit"):
            return False
        return self.source is None or self.source in _ANYWHERE

    def delete_argv(self):
        return ["ufw", "delete", *self.words]

    def describe(self):
        return self.text


def parse_added(text):
    """`ufw show added` -> [AddedRule] in ufw's order."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("ufw "):
            continue  # the heading, and "(None)" when there are no rules
        try:
            words = shlex.split(line)[1:]
        except ValueError as exc:
            raise UfwParseError(f"ufw show added: cannot read {line!r}: {exc}") from None
        comment = None
        if "comment" in words:
            index = words.index("comment")
            comment = words[index + 1] if index + 1 < len(words) else ""
            words = words[:index] + words[index + 2:]
        rules.append(AddedRule(line, tuple(words), comment))
    return rules
