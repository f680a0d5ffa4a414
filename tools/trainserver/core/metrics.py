"""Prometheus textfile-collector files (`trainserver_*` metrics), written atomically."""

import math
import os
from dataclasses import dataclass, field

from trainserver.core.state import atomic_write

PREFIX = "trainserver_"


@dataclass
class Metric:
    name: str
    help: str
    type: str = "gauge"
    samples: list = field(default_factory=list)  # [(labels dict, value)]

    def add(self, value, **labels):
        self.samples.append((labels, value))
        return self


def _escape_label(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _format_value(value):
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def render(metrics):
    lines = []
    for metric in metrics:
        if not metric.name.startswith(PREFIX):
            raise ValueError(f"metric {metric.name} must start with {PREFIX}")
        if metric.type not in ("gauge", "counter", "untyped"):
            raise ValueError(f"metric {metric.name}: unsupported type {metric.type}")
        help_text = metric.help.replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(f"# HELP {metric.name} {help_text}")
        lines.append(f"# TYPE {metric.name} {metric.type}")
        for labels, value in metric.samples:
            label_text = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(labels.items()))
            name = f"{metric.name}{{{label_text}}}" if label_text else metric.name
            lines.append(f"{name} {_format_value(value)}")
    return "\n".join(lines) + "\n"


def write_textfile(directory, name, metrics):
    """Write DIRECTORY/NAME.prom (e.g. trainserver_backup.prom) atomically."""
    path = os.path.join(directory, f"{name}.prom")
    atomic_write(path, render(metrics), mode=0o644)
    return path
