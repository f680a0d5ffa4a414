"""The shipped stack files in docker/: compose.yaml, Prometheus, Traefik, Grafana provisioning and
dashboards. Pure: parsed with PyYAML and json, no engine (tests/integration/test_stack_config.py
runs docker-compose and promtool on them).

The dashboards are checked against the metrics the tools really write: the names and label names
are read from the tools' own source (every `Metric(...)` and its `.add(..., label=...)` calls), and
that reading is checked in turn against the text the tools' pure metric builders render. A metric
renamed in a tool, or a label dropped, fails here until the dashboard follows.
"""

import ast
import json
import re
import types
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"
TOOLS = ROOT / "tools" / "trainserver"
DASHBOARDS = sorted((DOCKER / "grafana" / "dashboards").glob("*.json"))

ADMIN_ONLY = {"prometheus", "traefik", "portainer", "dozzle"}
HOSTNAMES = {"traefik": "traefik", "grafana": "grafana", "prometheus": "prometheus",
             "netdata": "health", "filebrowser": "files", "dozzle": "logs",
             "portainer": "portainer", "tensorboard": "tensorboard"}
EXPORTERS = {"node-exporter", "cadvisor", "dcgm-exporter"}
WEB_NETWORK = "trainserver-web"


def load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def compose():
    return load_yaml(DOCKER / "compose.yaml")


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def labels_of(service):
    labels = service.get("labels", {})
    if isinstance(labels, list):
        labels = dict(item.split("=", 1) for item in labels)
    return labels


def env_names(text):
    return set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))


# --- compose.yaml --------------------------------------------------------------------------------

def test_compose_is_the_compose_spec_with_every_service(compose, services):
    assert "version" not in compose
    assert set(services) == {"traefik", "netdata", "prometheus", "node-exporter", "cadvisor",
                             "dcgm-exporter", "grafana", "filebrowser", "dozzle", "portainer",
                             "tensorboard", "cloudflared"}


@pytest.mark.parametrize("name", ["traefik", "netdata", "prometheus", "node-exporter",
                                  "cadvisor", "dcgm-exporter", "grafana", "filebrowser",
                                  "dozzle", "portainer", "tensorboard", "cloudflared"])
def test_every_service_is_pinned_restarted_and_checked(services, name):
    service = services[name]
    image = service["image"]
    repository, _, tag = image.rpartition(":")
    assert repository and "/" not in tag, f"{name}: {image} has no tag"
    assert tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: {image} is not pinned"
    assert service["restart"] == "unless-stopped"
    if name == "portainer":
        # FROM scratch, no shell and no health subcommand: the file says so instead.
        assert "healthcheck" not in service
        text = (DOCKER / "compose.yaml").read_text()
        assert "No healthcheck: the image is built FROM scratch" in text
    else:
        test = service["healthcheck"]["test"]
        assert isinstance(test, list) and test[0] == "CMD", f"{name}: exec-form healthcheck"


def test_only_traefik_publishes_and_only_on_the_lan_address(services):
    """Item 4: Docker's published ports bypass UFW, so nothing else may have one."""
    published = {name: service["ports"] for name, service in services.items() if "ports" in service}
    assert set(published) == {"traefik"}
    for port in published["traefik"]:
        assert isinstance(port, str)
        assert re.fullmatch(r"\$\{LAN_ADDRESS(:\?[^}]*)?\}:(80|443):(80|443)", port), port
    for name, service in services.items():
        assert service.get("network_mode") != "host", f"{name} would listen on every address"


def test_networks_web_and_internal_monitoring(compose, services):
    networks = compose["networks"]
    assert networks["web"]["name"] == WEB_NETWORK
    assert networks["monitoring"]["internal"] is True
    for name in EXPORTERS:
        assert services[name]["networks"] == ["monitoring"], name
    for name in HOSTNAMES:
        assert "web" in services[name]["networks"], name
    for name in ("prometheus", "traefik"):
        assert "monitoring" in services[name]["networks"], f"{name} scrapes or is scraped"


def test_traefik_routes_each_hostname_and_guards_the_admin_ones(services):
    for name, host in HOSTNAMES.items():
        labels = labels_of(services[name])
        assert labels["traefik.enable"] == "true"
        router = "traefik.http.routers." + ("traefik" if name == "traefik" else name)
        assert labels[f"{router}.rule"] == f"Host(`{host}.${{DOMAIN}}`)"
        assert labels[f"{router}.entrypoints"] == "websecure"
        assert labels[f"{router}.tls"] == "true"
        middlewares = labels.get(f"{router}.middlewares", "")
        assert ("admin-auth@file" in middlewares) == (name in ADMIN_ONLY), name
    for name in EXPORTERS:
        assert not labels_of(services[name]), f"{name} is not routed"


def test_traefik_static_config(services):
    static = load_yaml(DOCKER / "traefik" / "traefik.yml")
    docker = static["providers"]["docker"]
    assert docker["exposedByDefault"] is False
    assert docker["network"] == WEB_NETWORK
    assert static["entryPoints"]["web"]["address"] == ":80"
    assert static["entryPoints"]["websecure"]["address"] == ":443"
    assert static["ping"]["entryPoint"] in static["entryPoints"]
    assert static["metrics"]["prometheus"]["entryPoint"] in static["entryPoints"]
    volumes = services["traefik"]["volumes"]
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in volumes
    assert "./traefik/traefik.yml:/etc/traefik/traefik.yml:ro" in volumes
    assert services["traefik"]["healthcheck"]["test"] == ["CMD", "traefik", "healthcheck",
                                                           "--ping"]


def test_admin_auth_reads_the_users_file_from_the_secrets_dir(services):
    dynamic = load_yaml(DOCKER / "traefik" / "dynamic" / "middlewares.yml")
    users_file = dynamic["http"]["middlewares"]["admin-auth"]["basicAuth"]["usersFile"]
    assert f"${{SECRETS_DIR}}/traefik-users:{users_file}:ro" in services["traefik"]["volumes"]


def test_node_exporter_reads_the_tools_metrics_dir(services):
    service = services["node-exporter"]
    flags = [arg for arg in service["command"] if arg.startswith("--collector.textfile.directory=")]
    assert len(flags) == 1
    directory = flags[0].split("=", 1)[1]
    assert f"${{METRICS_DIR}}:{directory}:ro" in service["volumes"]


def test_dcgm_exporter_needs_the_gpu_profile(services):
    for name, service in services.items():
        assert ("profiles" in service) == (name in ("dcgm-exporter", "cloudflared")), name
    service = services["dcgm-exporter"]
    assert service["profiles"] == ["gpu"]
    [device] = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]


def test_grafana_password_from_a_secret_file_and_provisioning_read_only(compose, services):
    grafana = services["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == \
        "/run/secrets/grafana-admin-password"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in grafana["environment"]
    assert grafana["secrets"] == ["grafana-admin-password"]
    assert compose["secrets"]["grafana-admin-password"]["file"] == \
        "${SECRETS_DIR}/grafana-admin-password"
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./grafana/dashboards:/etc/grafana/dashboards:ro" in grafana["volumes"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DOCKER / "grafana" / "dashboards" / Path(home).name).is_file()


def test_tensorboard_and_filebrowser_mounts(services):
    assert "${STORAGE}/tensorboard:/logs:ro" in services["tensorboard"]["volumes"]
    mounts = services["filebrowser"]["volumes"]
    text = json.dumps(mounts)
    assert "homes" not in text and "workspaces" not in text, "FileBrowser acts as root for all"
    assert "${STORAGE}/tensorboard:/srv/tensorboard:ro" in mounts


def test_every_relative_mount_exists_and_every_variable_is_in_the_example_env():
    text = (DOCKER / "compose.yaml").read_text()
    compose = yaml.safe_load(text)
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith("./"):
                assert (DOCKER / source).exists(), source
    example = {line.split("=", 1)[0] for line in (DOCKER / "stack.env.example").read_text()
               .splitlines() if line and not line.startswith("#")}
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert env_names(body) == example


# --- Prometheus -----------------------------------------------------------------------------------

def test_prometheus_scrapes_every_exporter_by_its_service_name(services):
    config = load_yaml(DOCKER / "prometheus" / "prometheus.yml")
    targets = {job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
               for job in config["scrape_configs"]}
    assert targets == {"prometheus": ["localhost:9090"], "node": ["node-exporter:9100"],
                       "cadvisor": ["cadvisor:8080"], "dcgm": ["dcgm-exporter:9400"],
                       "traefik": ["traefik:8082"]}
    for job, [target] in targets.items():
        host = target.split(":")[0]
        if host != "localhost":
            assert "monitoring" in services[host]["networks"], job
    static = load_yaml(DOCKER / "traefik" / "traefik.yml")
    metrics_entry = static["metrics"]["prometheus"]["entryPoint"]
    assert static["entryPoints"][metrics_entry]["address"] == ":8082"
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in \
        services["prometheus"]["volumes"]


# --- Grafana provisioning -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def datasource_uid():
    [source] = load_yaml(DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml")[
        "datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    return source["uid"]


def test_the_dashboard_provider_points_at_the_mounted_dashboards(services):
    [provider] = load_yaml(DOCKER / "grafana" / "provisioning" / "dashboards" /
                           "trainserver.yml")["providers"]
    assert provider["type"] == "file"
    path = provider["options"]["path"]
    assert f"./grafana/dashboards:{path}:ro" in services["grafana"]["volumes"]
    assert DASHBOARDS and DOCKER / "grafana" / "dashboards" / "trainserver.json" in DASHBOARDS


def panels_of(board):
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_structure(path, datasource_uid):
    board = json.loads(path.read_text())
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["uid"] and len(board["uid"]) <= 40
    panels = list(panels_of(board))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        here = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not here & cells, f"{panel['title']} overlaps another panel"
        cells |= here
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == datasource_uid, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource_uid
            assert target["expr"].strip()
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults.get("unit"), f"{panel['title']}: no unit"
        if panel["type"] in ("stat", "bargauge"):
            assert len(defaults["thresholds"]["steps"]) >= 2 or panel.get("options", {}).get(
                "colorMode") == "value", f"{panel['title']}: no thresholds"


def test_the_trainserver_dashboard_covers_every_area():
    board = json.loads((DOCKER / "grafana" / "dashboards" / "trainserver.json").read_text())
    exprs = " ".join(t["expr"] for p in panels_of(board) for t in p.get("targets", []))
    for prefix in ("trainserver_smart_", "trainserver_gpu_", "trainserver_backup_",
                   "trainserver_snapshot_", "trainserver_quota_", "trainserver_oom_",
                   "trainserver_sync_", "trainserver_gdrive_"):
        assert prefix in exprs, prefix
    ages = [p for p in panels_of(board) if p["type"] == "stat"
            and any("time() -" in t["expr"] for t in p["targets"])]
    assert ages and all(p["fieldConfig"]["defaults"]["unit"] == "s" for p in ages)
    assert all(len(p["fieldConfig"]["defaults"]["thresholds"]["steps"]) >= 3 for p in ages)


# --- the metrics the tools write ------------------------------------------------------------------

def _constant(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _walk_scope(scope):
    """The nodes of a module's top level or of a function, without other functions' bodies
    (a variable name means one thing per function)."""
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))


def _loop_bound(node, name, parents):
    """Whether a `for` loop around `node` binds `name`."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.For) and any(isinstance(bound, ast.Name) and bound.id == name
                                             for bound in ast.walk(node.target)):
            return True
    return False


class _Module:
    """The Metric(...) names of one module, and the label names of their .add(...) calls."""

    def __init__(self, path):
        self.path = path
        self.tree = ast.parse(path.read_text(), str(path))
        self.functions = {node.name: node for node in ast.walk(self.tree)
                          if isinstance(node, ast.FunctionDef)}
        self.templates = {}  # helper name -> (prefix, index of the suffix argument)
        self.unreadable = []
        understood = set()
        # A helper `def gauge(name, ...): return Metric(f"trainserver_smart_{name}", ...)`: its
        # callers' constant arguments give the names.
        for function in self.functions.values():
            for node in ast.walk(function):
                if self._is_metric(node) and isinstance(node.args[0], ast.JoinedStr):
                    parts = node.args[0].values
                    params = [arg.arg for arg in function.args.args]
                    if (len(parts) == 2 and _constant(parts[0])
                            and isinstance(parts[1], ast.FormattedValue)
                            and isinstance(parts[1].value, ast.Name)
                            and parts[1].value.id in params):
                        self.templates[function.name] = (parts[0].value,
                                                         params.index(parts[1].value.id))
                        understood.add(node)
        for node in ast.walk(self.tree):
            if (self._is_metric(node) and isinstance(node.args[0], ast.JoinedStr)
                    and node not in understood):
                self.unreadable.append(f"{self.path}:{node.lineno}")

    @staticmethod
    def _is_metric(node):
        return (isinstance(node, ast.Call) and node.args and
                (getattr(node.func, "id", None) == "Metric"
                 or getattr(node.func, "attr", None) == "Metric"))

    def _name(self, node):
        """The metric name a call builds, or None when it builds none."""
        if self._is_metric(node):
            name = _constant(node.args[0])
            if name is None and not isinstance(node.args[0], ast.JoinedStr):
                self.unreadable.append(f"{self.path}:{node.lineno}")
            return name
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in self.templates:
            prefix, index = self.templates[node.func.id]
            suffix = _constant(node.args[index]) if len(node.args) > index else None
            if suffix is None:
                self.unreadable.append(f"{self.path}:{node.lineno}")
                return None
            return prefix + suffix
        return None

    def _dict_keys(self, call):
        """Keys of the dict literal a module function returns, for `**labels` arguments."""
        function = self.functions.get(getattr(call.func, "id", None)) if isinstance(
            call, ast.Call) else None
        if function is None:
            return None
        returns = [node.value for node in ast.walk(function) if isinstance(node, ast.Return)]
        if len(returns) == 1 and isinstance(returns[0], ast.Dict) and all(
                _constant(key) for key in returns[0].keys):
            return {key.value for key in returns[0].keys}
        return None

    def metrics(self):
        found = {}  # name -> set of label names, or None when a call's labels cannot be read
        added = set()
        for scope in [self.tree, *self.functions.values()]:
            variables, label_dicts = {}, {}
            nodes = list(_walk_scope(scope))
            for node in nodes:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                        node.targets[0], ast.Name):
                    root = node.value
                    while (isinstance(root, ast.Call) and isinstance(root.func, ast.Attribute)
                           and root.func.attr == "add"):
                        root = root.func.value
                    name = self._name(root)
                    if name:
                        variables[node.targets[0].id] = [name]
                    keys = self._dict_keys(node.value)
                    if keys is not None:
                        label_dicts[node.targets[0].id] = keys
            # A name also assigned something else may hold other labels: unknown. A loop that
            # binds the name makes it unknown inside that loop only (see _loop_bound).
            for node in nodes:
                if isinstance(node, ast.Assign) and self._dict_keys(node.value) is None:
                    for target in node.targets:
                        for bound in ast.walk(target):
                            if isinstance(bound, ast.Name):
                                label_dicts.pop(bound.id, None)
            parents = {child: node for node in nodes for child in ast.iter_child_nodes(node)}
            for node in nodes:
                # `for metric, value in ((media, ...), (used, ...)): metric.add(...)`
                if (isinstance(node, ast.For) and isinstance(node.target, ast.Tuple)
                        and isinstance(node.target.elts[0], ast.Name)
                        and isinstance(node.iter, (ast.Tuple, ast.List))):
                    firsts = [item.elts[0] for item in node.iter.elts
                              if isinstance(item, (ast.Tuple, ast.List))]
                    if firsts and all(isinstance(first, ast.Name) and first.id in variables
                                      for first in firsts):
                        variables[node.target.elts[0].id] = [
                            name for first in firsts for name in variables[first.id]]
            for node in nodes:
                name = self._name(node)
                if name:
                    found.setdefault(name, set())
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "add"):
                    continue
                receiver = node.func.value
                while (isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute)
                       and receiver.func.attr == "add"):
                    receiver = receiver.func.value
                if isinstance(receiver, ast.Name):
                    names = variables.get(receiver.id, [])
                else:
                    names = [self._name(receiver)] if self._name(receiver) else []
                if not names:
                    continue
                labels = set()
                for keyword in node.keywords:
                    if keyword.arg is not None:
                        labels.add(keyword.arg)
                    elif (isinstance(keyword.value, ast.Name) and keyword.value.id in label_dicts
                          and not _loop_bound(node, keyword.value.id, parents)):
                        labels |= label_dicts[keyword.value.id]
                    else:
                        labels = None
                        break
                for name in names:
                    added.add(name)
                    known = found.setdefault(name, set())
                    found[name] = None if known is None or labels is None else known | labels
        # A metric whose .add calls were not seen has labels we do not know: the dashboards'
        # label checks skip it rather than guess.
        return {name: labels if name in added else None for name, labels in found.items()}


def _tool_metrics():
    catalog, unreadable = {}, []
    for path in sorted(TOOLS.rglob("*.py")):
        if path.parent.name == "core" and path.name == "metrics.py":
            continue
        module = _Module(path)
        for name, labels in module.metrics().items():
            catalog[name] = None if labels is None or catalog.get(name, set()) is None else \
                catalog.get(name, set()) | labels
        unreadable += module.unreadable
    return catalog, unreadable


@pytest.fixture(scope="module")
def tool_metrics():
    catalog, unreadable = _tool_metrics()
    assert not unreadable, f"metric names the test cannot read: {unreadable}"
    return catalog


def _rendered(text):
    found = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ", line)
        labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', match.group(2) or ""))
        found.setdefault(match.group(1), set()).update(labels)
    return found


def _render_examples():
    """Metrics text from the tools' own pure builders, with every optional series present."""
    from trainserver.backup import report as backup_report
    from trainserver.core.metrics import render
    from trainserver.gdrive import actions as gdrive_actions
    from trainserver.gpu import metrics as gpu_metrics
    from trainserver.oom import check as oom_check
    from trainserver.quota import report as quota_report
    from trainserver.sync import report as sync_report

    run = {"time": 1000.0, "ok": True, "duration": 12.0, "bytes_added": 4096, "files_new": 3,
           "files_changed": 1, "snapshot_id": "6ea2b202", "snapshot_seconds": 2.0,
           "paused_seconds": 2.5}
    sync_run = {"time": 1000.0, "ok": True, "outcome": "ok", "bytes": 10, "files": 1,
                "errors": 0, "duration": 3.0}
    person = {"user": "alice", "home": 1, "workspace": 2, "total": 3, "limit": 10,
              "over_since": 900, "grace_days_left": 4, "hard_limit": 20}
    reading = types.SimpleNamespace(lost=False, temperature=70, slowdown=90, reasons=0x20,
                                    hw_thermal_slowdown=None, sw_thermal_slowdown=None)
    gpu = types.SimpleNamespace(uuid="GPU-1", name="A100", index=0, reading=reading)
    memory = types.SimpleNamespace(totals={"workspace-alice": {"kills": 2}})
    return [
        render(backup_report.metrics({"last_run": run, "last_success": run})),
        render(sync_report.metrics({"last_run": sync_run, "last_success": sync_run})),
        render(quota_report.metrics({"time": 1000, "people": [person], "walk_seconds": 1,
                                     "walked_entries": 5})),
        render(gpu_metrics.build([gpu], True)),
        render(oom_check.metrics(memory, 7, 1000.0)),
        render(gdrive_actions._metrics(True, 1 << 30, 1)),
    ]


def test_the_source_reading_agrees_with_what_the_tools_render(tool_metrics):
    rendered = {}
    for text in _render_examples():
        rendered.update(_rendered(text))
    assert len(rendered) >= 30
    for name, labels in rendered.items():
        assert name in tool_metrics, f"{name} rendered but not found in the source"
        assert tool_metrics[name] == labels, name


def test_the_source_reading_finds_every_tool(tool_metrics):
    prefixes = {name.split("_")[1] for name in tool_metrics}
    assert {"backup", "snapshot", "smart", "gpu", "quota", "oom", "sync", "gdrive"} <= prefixes
    assert tool_metrics["trainserver_smart_temperature_celsius"] == {"device", "model", "serial"}
    assert tool_metrics["trainserver_snapshot_count"] == {"subvolume"}


PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "time", "vector", "rate", "irate", "increase",
    "delta", "idelta", "deriv", "changes", "resets", "abs", "ceil", "floor", "round", "clamp",
    "clamp_min", "clamp_max", "label_replace", "label_join", "histogram_quantile", "sort",
    "sort_desc", "timestamp", "absent", "scalar", "max_over_time", "min_over_time",
    "avg_over_time", "sum_over_time", "count_over_time", "last_over_time", "e", "inf", "nan",
}
KNOWN_EXPORTER_PREFIXES = ("node_", "container_", "DCGM_", "traefik_", "up")


def _expression_facts(expr):
    """(metric names, label names in matchers per metric, grouping label names) of a query."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values are not names
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors: [5m], [$__range]
    grouping = set()
    for clause in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)",
                             text):
        grouping |= {word.strip() for word in clause.split(",") if word.strip()}
    text_no_groups = re.sub(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names, matchers = [], {}
    for match in re.finditer(r"(?<![\w$])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?(\s*\()?",
                             text_no_groups):
        word, selector, call = match.groups()
        if call or word in PROMQL_WORDS:
            continue
        names.append(word)
        if selector:
            matchers.setdefault(word, set()).update(
                re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", selector))
    return names, matchers, grouping


def test_expression_reading():
    names, matchers, grouping = _expression_facts(
        'sum by (kind) (trainserver_quota_bytes{kind=~"home|workspace"}) / on (user) '
        'trainserver_quota_limit_bytes and rate(x_total[$__range])')
    assert names == ["trainserver_quota_bytes", "trainserver_quota_limit_bytes", "x_total"]
    assert matchers == {"trainserver_quota_bytes": {"kind"}}
    assert grouping == {"kind", "user"}


def _targets():
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in panels_of(board):
            for target in panel.get("targets", []):
                yield pytest.param(target, id=f"{path.stem}:{panel['title']}:{target['refId']}")


@pytest.mark.parametrize("target", list(_targets()))
def test_every_query_names_metrics_the_tools_or_exporters_write(target, tool_metrics):
    names, matchers, grouping = _expression_facts(target["expr"])
    assert names, f"{target['expr']} names no metric"
    for name in names:
        if name.startswith("trainserver_"):
            assert name in tool_metrics, f"{name}: no tool writes it"
        else:
            assert name.startswith(KNOWN_EXPORTER_PREFIXES), f"{name}: unknown metric"
    ours = [name for name in names if name.startswith("trainserver_")]
    for name in ours:
        labels = tool_metrics[name]
        if labels is None:
            continue
        for label in matchers.get(name, set()):
            assert label in labels, f"{name} has no label {label}"
        for label in grouping:
            assert label in labels, f"{name} has no label {label} (used in by/on)"
    legend_labels = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
    if ours and len(ours) == len(names) and all(tool_metrics[n] is not None for n in ours):
        aggregated = re.search(r"\b(sum|min|max|avg|count)\b\s*(by\s*\(|\()", target["expr"])
        if aggregated and "by" not in aggregated.group(2):
            available = set()
        elif aggregated:
            available = grouping
        else:
            available = set().union(*(tool_metrics[n] for n in ours))
        assert legend_labels <= available, f"legend {legend_labels} not in {available}"
