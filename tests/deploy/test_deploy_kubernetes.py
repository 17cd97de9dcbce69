"""The Kubernetes manifests: schema-valid offline, hardened, and consistent with each other."""

from __future__ import annotations

import os
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from driftwatch.config.loading import load_settings
from tests.support.tools import REPO_ROOT, kubectl_path

K8S_DIR = REPO_ROOT / "deploy" / "kubernetes"
KUSTOMIZATIONS = [K8S_DIR, K8S_DIR / "cronjob", K8S_DIR / "sidecar"]
RULES_FILE = REPO_ROOT / "deploy" / "prometheus" / "driftwatch.rules.yml"
SECRET_EXAMPLE = K8S_DIR / "secret.example.yaml"
# the oldest Kubernetes the manifests are meant for (CronJob timeZone, podFailurePolicy),
# and the newest the installed kubernetes-validate knows
KUBERNETES_VERSIONS = ["1.29", kubernetes_validate.utils.latest_version()]
CUSTOM_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
METRICS_PORT = 9647
CONFIG_KEY = "driftwatch.toml"
DAEMON_KEYS = {"listen", "interval_seconds", "max_age_seconds", "concurrency", "log_format"}


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.rglob("*.yaml") if p.name != "kustomization.yaml")


def documents() -> list[tuple[str, dict[str, Any]]]:
    """(file relative to deploy/kubernetes, document) for every manifest, example included."""
    return [
        (str(path.relative_to(K8S_DIR)), doc)
        for path in manifest_files()
        for doc in load_documents(path)
    ]


def kind(name: str) -> list[dict[str, Any]]:
    return [doc for _, doc in documents() if doc["kind"] == name]


def one(kind_name: str, name: str) -> dict[str, Any]:
    (found,) = [doc for doc in kind(kind_name) if doc["metadata"]["name"] == name]
    return found


def kustomization(directory: Path) -> dict[str, Any]:
    return yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))


def pod_templates() -> Iterator[tuple[str, dict[str, Any]]]:
    """(workload name, pod template) of every Deployment and CronJob."""
    for deployment in kind("Deployment"):
        yield deployment["metadata"]["name"], deployment["spec"]["template"]
    for cronjob in kind("CronJob"):
        yield cronjob["metadata"]["name"], cronjob["spec"]["jobTemplate"]["spec"]["template"]


def driftwatch_containers() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(workload name, pod spec, container) for each container running the driftwatch image."""
    return [
        (name, template["spec"], container)
        for name, template in pod_templates()
        for container in template["spec"]["containers"]
        if "/driftwatch:" in container["image"]
    ]


def container_ids(found: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> list[str]:
    return [f"{name}/{container['name']}" for name, _, container in found]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def builtin_documents() -> list[tuple[str, dict[str, Any]]]:
    return [(where, doc) for where, doc in documents() if doc["kind"] not in CUSTOM_KINDS]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    ("where", "doc"),
    builtin_documents(),
    ids=[f"{where}:{doc['kind']}" for where, doc in builtin_documents()],
)
def test_builtin_kinds_match_the_kubernetes_schema(
    where: str, doc: dict[str, Any], version: str
) -> None:
    """Every built-in object validates strictly (no unknown fields) against the API schema."""
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path)
        pytest.fail(f"{where}: {doc['kind']} {path}: {exc.message}")


def test_kustomizations_list_every_manifest_but_the_secret_example() -> None:
    """Each directory's kustomization lists its files; the Secret example is never applied."""
    for directory in KUSTOMIZATIONS:
        listed = kustomization(directory)["resources"]
        assert all((directory / entry).is_file() for entry in listed), directory
        present = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
        assert set(listed) == present - {SECRET_EXAMPLE.name}, directory
    assert kustomization(K8S_DIR)["namespace"] == kustomization(K8S_DIR / "cronjob")["namespace"]


def test_secret_example_holds_only_a_placeholder() -> None:
    """The example Secret has one URL per target, each an obvious placeholder."""
    (secret,) = load_documents(SECRET_EXAMPLE)
    assert secret["kind"] == "Secret"
    assert "data" not in secret, "base64 would hide what the value is"
    for value in secret["stringData"].values():
        assert "REPLACE-ME" in value


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_kustomize_builds(directory: Path) -> None:
    """`kubectl kustomize` renders each directory, with the namespace and the image tag."""
    result = subprocess.run(
        [str(kubectl_path()), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    config = kustomization(directory)
    expected = [
        (doc["kind"], doc["metadata"]["name"])
        for entry in config["resources"]
        for doc in load_documents(directory / entry)
    ]
    assert sorted((doc["kind"], doc["metadata"]["name"]) for doc in built) == sorted(expected)
    if "namespace" in config:
        assert {doc["metadata"].get("namespace") for doc in built} == {config["namespace"]}


@pytest.mark.parametrize(
    ("workload", "pod", "container"),
    driftwatch_containers(),
    ids=container_ids(driftwatch_containers()),
)
def test_driftwatch_containers_are_hardened(
    workload: str, pod: dict[str, Any], container: dict[str, Any]
) -> None:
    """Non-root, read-only root, no privilege escalation, no capabilities, seccomp, limits."""
    pod_security = pod["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] > 0
    assert pod_security["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "add" not in security["capabilities"]
    assert security.get("privileged", False) is False
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][bound]), bound
    assert not container["image"].endswith(":latest")
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]], "/tmp must stay writable"


def config_path_of(container: dict[str, Any]) -> str:
    args = container["args"]
    return str(args[args.index("--config") + 1])


@pytest.mark.parametrize(
    ("workload", "pod", "container"),
    driftwatch_containers(),
    ids=container_ids(driftwatch_containers()),
)
def test_config_comes_from_a_configmap_and_urls_from_secrets(
    workload: str,
    pod: dict[str, Any],
    container: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--config names the mounted ConfigMap key; its TOML loads; each url_env is a Secret ref."""
    config_path = Path(config_path_of(container))
    (mount,) = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == config_path.parent]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    items = {item["path"]: item["key"] for item in volume["configMap"]["items"]}
    key = items[config_path.name]
    assert key == CONFIG_KEY
    configmap = one("ConfigMap", volume["configMap"]["name"])
    text = configmap["data"][key]
    config = tomllib.loads(text)

    assert config["targets"], "no targets"
    for target in config["targets"]:
        assert {"name", "url_env", "alembic_ini", "metadata", "schemas"} <= set(target)
        assert target["alembic_ini"] == "/app/alembic.ini"
        env = {var["name"]: var for var in container.get("env", [])}
        assert target["url_env"] in env, f"{target['url_env']} is not set in the container"
        assert "secretKeyRef" in env[target["url_env"]]["valueFrom"], "a URL is a secret"
    if container["args"][0] == "serve":
        assert config.keys() >= DAEMON_KEYS
        assert config["listen"].endswith(f":{METRICS_PORT}")

    # the daemon's own settings model accepts the file (unknown keys are errors there)
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in [n for n in os.environ if n.startswith("DRIFTWATCH_")]:
        monkeypatch.delenv(name)
    (tmp_path / CONFIG_KEY).write_text(text, encoding="utf-8")
    settings = load_settings(tmp_path / CONFIG_KEY)
    assert [t.name for t in settings.targets] == [t["name"] for t in config["targets"]]


def daemon_container() -> dict[str, Any]:
    deployment = one("Deployment", "driftwatch")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def named_ports(container: dict[str, Any]) -> dict[str, int]:
    return {port["name"]: port["containerPort"] for port in container.get("ports", [])}


def test_daemon_probes_use_the_metrics_port() -> None:
    """Liveness on /healthz, readiness on /readyz, both on the container's metrics port."""
    container = daemon_container()
    assert named_ports(container) == {"metrics": METRICS_PORT}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        port = container[probe]["httpGet"]["port"]
        assert port in named_ports(container) or port == METRICS_PORT, probe


def test_sidecar_has_liveness_but_no_readiness_probe() -> None:
    """The sidecar must not gate the Control Plane pod's readiness on a database check."""
    deployment = one("Deployment", "control-plane")
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    sidecar = containers["driftwatch"]
    assert sidecar["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert "readinessProbe" not in sidecar
    assert named_ports(sidecar) == {"metrics": METRICS_PORT}
    listen = sidecar["args"][sidecar["args"].index("--listen") + 1]
    assert listen.endswith(f":{METRICS_PORT}")
    assert "DATABASE_URL" in {var["name"] for var in containers["control-plane"]["env"]}


def test_service_selects_the_daemon_pods_only() -> None:
    """The Service's selector matches the Deployment's pods, not the CronJob's."""
    service = one("Service", "driftwatch")
    selector = service["spec"]["selector"]
    deployment = one("Deployment", "driftwatch")
    assert selects(selector, deployment["spec"]["template"]["metadata"]["labels"])
    assert selects(deployment["spec"]["selector"]["matchLabels"], selector)
    for cronjob in kind("CronJob"):
        pod_labels = cronjob["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
        assert not selects(selector, pod_labels)
    (port,) = service["spec"]["ports"]
    assert port == {
        "name": "metrics",
        "port": METRICS_PORT,
        "targetPort": "metrics",
        "protocol": "TCP",
    }
    assert port["targetPort"] in named_ports(daemon_container())
    pdb = one("PodDisruptionBudget", "driftwatch")
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_servicemonitor_scrapes_the_service() -> None:
    """monitoring.coreos.com/v1, a selector matching the Service, its metrics port and path."""
    monitor = one("ServiceMonitor", "driftwatch")
    service = one("Service", "driftwatch")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    service_ports = {port["name"] for port in service["spec"]["ports"]}
    assert monitor["spec"]["endpoints"]
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in service_ports
        assert endpoint["path"] == "/metrics"
    # the job label is the Service's name; the alert rules select job=~".*driftwatch.*"
    assert "jobLabel" not in monitor["spec"]
    assert "driftwatch" in service["metadata"]["name"]


def test_podmonitor_scrapes_the_sidecar() -> None:
    """The PodMonitor selects the Control Plane pods and scrapes the sidecar's port."""
    monitor = one("PodMonitor", "control-plane-driftwatch")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    template = one("Deployment", "control-plane")["spec"]["template"]
    assert selects(monitor["spec"]["selector"]["matchLabels"], template["metadata"]["labels"])
    ports = {name for c in template["spec"]["containers"] for name in named_ports(c)}
    assert monitor["spec"]["podMetricsEndpoints"]
    for endpoint in monitor["spec"]["podMetricsEndpoints"]:
        assert endpoint["port"] in ports
        assert endpoint["path"] == "/metrics"
    # the job label is "<namespace>/<name>"; the alert rules select job=~".*driftwatch.*"
    assert "driftwatch" in monitor["metadata"]["name"]


def test_prometheusrule_is_the_rules_file() -> None:
    """spec.groups equals deploy/prometheus/driftwatch.rules.yml's groups, field by field."""
    rule = one("PrometheusRule", "driftwatch")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    rules_file = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    assert rule["spec"]["groups"] == rules_file["groups"], (
        "deploy/kubernetes/prometheusrule.yaml differs from the rules file: regenerate both "
        "(driftwatch rules [--format kubernetes])"
    )
    allowed_rule_keys = {"alert", "record", "expr", "for", "labels", "annotations"}
    for group in rule["spec"]["groups"]:
        assert group["name"]
        for entry in group["rules"]:
            assert set(entry) <= allowed_rule_keys
            assert "expr" in entry
            assert ("alert" in entry) != ("record" in entry)


def test_cronjob_runs_one_check_an_hour() -> None:
    """Hourly, never overlapping, `driftwatch check --format json`, pods not restarted."""
    cronjob = one("CronJob", "driftwatch-check")
    spec = cronjob["spec"]
    minute, *rest = spec["schedule"].split()
    assert minute.isdigit()
    assert rest == ["*", "*", "*", "*"]
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    args = container["args"]
    assert args[0] == "check"
    assert args[args.index("--format") + 1] == "json"
    # exit 1 (out of sync) fails the Job at once: retrying cannot change the answer
    (fail_on_drift,) = [
        rule
        for rule in spec["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
        if rule["action"] == "FailJob"
    ]
    assert fail_on_drift["onExitCodes"]["values"] == [1]
    assert fail_on_drift["onExitCodes"]["containerName"] == container["name"]
