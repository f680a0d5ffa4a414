"""The trainserver_ups_* metrics, for node-exporter's textfile collector (trainserver_ups.prom)."""

from trainserver.core.metrics import Metric


def build(name, gauges):
    """Metrics for one UPS (label ups: its name as configured) from an assess.Gauges.

    A value the UPS does not report, or that could not be read, is left out rather than
    written as 0: a missing runtime is not an empty battery."""
    labels = {"ups": name}
    up = Metric("trainserver_ups_up",
                "1 when upsc could read the UPS through NUT; 0 when it could not.")
    up.add(1 if gauges.up else 0, **labels)
    charge = Metric("trainserver_ups_battery_charge_percent",
                    "Battery charge in percent (NUT battery.charge).")
    runtime = Metric("trainserver_ups_runtime_seconds",
                     "Runtime left on battery in seconds at the present load (NUT "
                     "battery.runtime).")
    on_battery = Metric("trainserver_ups_on_battery",
                        "1 when the UPS runs on battery (OB in ups.status), 0 on line power.")
    test_age = Metric("trainserver_ups_self_test_age_seconds",
                      "Seconds since the last battery self-test (ups.test.date, or when "
                      "ts-ups saw its result change).")
    for metric, value in ((charge, gauges.charge), (runtime, gauges.runtime),
                          (test_age, gauges.self_test_age)):
        if value is not None:
            metric.add(value, **labels)
    if gauges.on_battery is not None:
        on_battery.add(1 if gauges.on_battery else 0, **labels)
    return [up, charge, runtime, on_battery, test_age]
