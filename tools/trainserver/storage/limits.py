"""The [storage] thresholds of ts-storage check, and the config rules a schema cannot say."""

from trainserver.core import units
from trainserver.storage.assess import Limits
from trainserver.storage.layout import stable_id_problem


def from_config(table):
    return Limits(full_warning_percent=table["full_warning_percent"],
                  full_critical_percent=table["full_critical_percent"],
                  scrub_max_age=float(table["scrub_max_age"]))


def config_problems(effective):
    table = effective["storage"]
    problems = []
    if table["full_warning_percent"] >= table["full_critical_percent"]:
        problems.append(f"[storage] full_warning_percent: must be below full_critical_percent "
                        f"({table['full_critical_percent']}) (got "
                        f"{table['full_warning_percent']})")
    # The effective config holds the values as written ("35d"); the schema has checked them.
    if units.parse_duration(table["scrub_max_age"]) < units.parse_duration(table["scrub_interval"]):
        problems.append(f"[storage] scrub_max_age: must not be shorter than scrub_interval "
                        f"({table['scrub_interval']}), or every scheduled scrub is late (got "
                        f"{table['scrub_max_age']!r})")
    named = [("cache_device", table["cache_device"])] if table.get("cache_device") else []
    named += [(f"backing_devices.[{index}]", name)
              for index, name in enumerate(table.get("backing_devices", []))]
    for key, name in named:
        problem = stable_id_problem(name)
        if problem:
            problems.append(f"[storage] {key}: {problem} (got {name!r})")
    return problems
