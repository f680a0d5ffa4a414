"""trainserver.core.metrics: Prometheus textfile-collector output."""

import os
import stat

import pytest

from trainserver.core.metrics import Metric, render, write_textfile


def test_render_help_type_and_samples():
    metric = Metric("trainserver_backup_last_success_seconds", "Time of the last good backup.")
    metric.add(1700000000, repo="b2").add(1690000000, repo="local")
    assert render([metric]) == (
        "# HELP trainserver_backup_last_success_seconds Time of the last good backup.\n"
        "# TYPE trainserver_backup_last_success_seconds gauge\n"
        'trainserver_backup_last_success_seconds{repo="b2"} 1700000000\n'
        'trainserver_backup_last_success_seconds{repo="local"} 1690000000\n'
    )


def test_render_several_metrics_and_types():
    text = render([
        Metric("trainserver_a", "A.", "counter").add(1),
        Metric("trainserver_b", "B.", "untyped").add(2),
    ])
    assert text.splitlines() == [
        "# HELP trainserver_a A.", "# TYPE trainserver_a counter", "trainserver_a 1",
        "# HELP trainserver_b B.", "# TYPE trainserver_b untyped", "trainserver_b 2",
    ]


def test_metric_without_samples_has_only_help_and_type():
    assert render([Metric("trainserver_x", "X.")]) == "# HELP trainserver_x X.\n# TYPE trainserver_x gauge\n"


def test_labels_are_sorted():
    text = render([Metric("trainserver_x", "X.").add(1, zone="z", alpha="a", mid="m")])
    assert text.splitlines()[-1] == 'trainserver_x{alpha="a",mid="m",zone="z"} 1'


def test_label_values_are_escaped():
    text = render([Metric("trainserver_x", "X.").add(1, path="C:\\dir", say='a "b"', two="l1\nl2")])
    assert text.splitlines()[-1] == 'trainserver_x{path="C:\\\\dir",say="a \\"b\\"",two="l1\\nl2"} 1'


def test_help_is_escaped_and_stays_on_one_line():
    text = render([Metric("trainserver_x", "back\\slash\nsecond line")])
    assert text.splitlines()[0] == "# HELP trainserver_x back\\\\slash\\nsecond line"
    assert len(text.splitlines()) == 2


@pytest.mark.parametrize("value, expected", [
    (3, "3"),
    (3.0, "3"),
    (0, "0"),
    (-7, "-7"),
    (2.5, "2.5"),
    (0.1, "0.1"),
    (True, "1"),
    (2**53, "9007199254740992.0"),
    (float("nan"), "NaN"),
    (float("inf"), "+Inf"),
    (float("-inf"), "-Inf"),
])
def test_value_formatting(value, expected):
    text = render([Metric("trainserver_x", "X.").add(value)])
    assert text.splitlines()[-1] == f"trainserver_x {expected}"


@pytest.mark.parametrize("name", ["backup_ok", "node_backup_ok", "trainserverx_ok", "Trainserver_ok"])
def test_names_without_the_prefix_are_refused(name):
    with pytest.raises(ValueError, match="must start with trainserver_"):
        render([Metric(name, "X.").add(1)])


def test_unsupported_type_is_refused():
    with pytest.raises(ValueError, match="unsupported type histogram"):
        render([Metric("trainserver_x", "X.", "histogram")])


def test_write_textfile(tmp_path):
    metrics = [Metric("trainserver_backup_ok", "1 when the last backup worked.").add(1, repo="b2")]
    path = write_textfile(str(tmp_path), "trainserver_backup", metrics)
    assert path == os.path.join(str(tmp_path), "trainserver_backup.prom")
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == render(metrics)
    assert os.listdir(tmp_path) == ["trainserver_backup.prom"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_write_textfile_replaces_and_creates_the_directory(tmp_path):
    directory = tmp_path / "textfile_collector"
    write_textfile(str(directory), "trainserver_x", [Metric("trainserver_x", "X.").add(1)])
    path = write_textfile(str(directory), "trainserver_x", [Metric("trainserver_x", "X.").add(2)])
    assert open(path, encoding="utf-8").read().endswith("trainserver_x 2\n")
    assert os.listdir(directory) == ["trainserver_x.prom"]


def test_write_textfile_with_a_bad_metric_keeps_the_old_file(tmp_path):
    good = [Metric("trainserver_x", "X.").add(1)]
    path = write_textfile(str(tmp_path), "trainserver_x", good)
    with pytest.raises(ValueError):
        write_textfile(str(tmp_path), "trainserver_x", [Metric("bad_name", "X.").add(2)])
    assert open(path, encoding="utf-8").read() == render(good)
    assert os.listdir(tmp_path) == ["trainserver_x.prom"]
