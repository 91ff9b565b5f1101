"""deploy/ as far as it can be checked without a container engine: every YAML parses, the configs it
ships pass `check-config`, the image runs a command the package has, and the manifests use only the
port and paths the gateway serves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.app import create_app
from gateway.cli import main, parser
from gateway.config import Config, load_config
from gateway.publish.memory import MemoryPublisher
from gateway.settings import Storage

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
ENV_REF = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def manifests() -> dict[str, dict[str, Any]]:
    return {
        d["kind"]: d for path in sorted(K8S.glob("*.yaml")) for d in documents(path) if "kind" in d
    }


def dockerfile_instruction(name: str) -> str:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    found = [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(name + " ")]
    assert len(found) == 1, f"one {name} in deploy/Dockerfile"
    return found[0]


def env_refs(text: str) -> set[str]:
    """The env: references among the config's values (comments are not references)."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and (match := ENV_REF.fullmatch(value)):
            found.add(match[1])

    walk(yaml.safe_load(text))
    return found


def check(config_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> Config:
    """`webhook-gateway check-config` on the text, with each env: reference set; -> the config."""
    for name in env_refs(config_text):
        monkeypatch.setenv(name, f"test-value-of-{name}")
    path = tmp_path / "gateway.yaml"
    path.write_text(config_text)
    assert main(["check-config", "--config", str(path)]) == 0, capsys.readouterr().err
    assert "ok, 5 source(s)" in capsys.readouterr().out
    return load_config(path)


def routes(config: Config, tmp_path: Path) -> set[str]:
    app = create_app(
        config.model_copy(update={"storage": Storage(path=tmp_path / "state")}),
        publisher=MemoryPublisher(),
    )
    return {route.path for route in app.routes}


def configmap_text() -> str:
    return manifests()["ConfigMap"]["data"]["gateway.yaml"]


def container(kind: str = "StatefulSet") -> dict[str, Any]:
    (found,) = manifests()[kind]["spec"]["template"]["spec"]["containers"]
    return found


# -- every file -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", sorted(DEPLOY.rglob("*.y*ml")), ids=lambda p: str(p.relative_to(DEPLOY))
)
def test_every_yaml_file_parses(path: Path) -> None:
    assert documents(path)


# -- the image ------------------------------------------------------------------------------------


def test_the_image_runs_a_console_script_and_subcommand_the_package_has() -> None:
    entry = json.loads(dockerfile_instruction("ENTRYPOINT"))
    command = json.loads(dockerfile_instruction("CMD"))
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entry == ["webhook-gateway"] and "webhook-gateway" in scripts
    args = parser().parse_args(command)  # exits (SystemExit) on an unknown subcommand or flag
    assert args.command == "serve" and args.config == "/etc/webhook-gateway/gateway.yaml"


def test_the_image_is_slim_non_root_with_the_spool_on_a_volume(
    tmp_path, monkeypatch, capsys
) -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.findall(r"^FROM (\S+)", text, re.M)[-1] == "python:3.11-slim"
    assert dockerfile_instruction("USER") == "10001:10001"
    config = check((DEPLOY / "gateway.yaml").read_text(), tmp_path, monkeypatch, capsys)
    assert json.loads(dockerfile_instruction("VOLUME")) == [str(config.storage.path)]
    assert "COPY deploy/gateway.yaml /etc/webhook-gateway/gateway.yaml" in text
    assert dockerfile_instruction("EXPOSE") == str(config.listen.port)


def test_the_healthcheck_asks_healthz_on_the_configured_port(tmp_path, monkeypatch, capsys) -> None:
    config = check((DEPLOY / "gateway.yaml").read_text(), tmp_path, monkeypatch, capsys)
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", dockerfile_instruction("HEALTHCHECK"))
    assert url is not None
    assert int(url[1]) == config.listen.port
    assert url[2] == "/healthz" and url[2] in routes(config, tmp_path)
    assert "curl" not in dockerfile_instruction("HEALTHCHECK")  # python:3.11-slim has none


# -- docker compose -------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return documents(DEPLOY / "docker-compose.yml")[0]


def mounted_config(service: dict[str, Any]) -> Path:
    """The host file mounted where the service's --config points."""
    target = service["command"][service["command"].index("--config") + 1]
    for volume in service["volumes"]:
        host, _, rest = volume.partition(":")
        if rest.split(":")[0] == target:
            return (DEPLOY / host).resolve()
    raise AssertionError(f"nothing is mounted at {target}")


def test_compose_config_passes_check_config_with_the_env_compose_passes(
    tmp_path, monkeypatch, capsys
) -> None:
    services = compose()["services"]
    for name in ("gateway", "topics"):
        path = mounted_config(services[name])
        passed = set(services[name]["environment"])
        assert env_refs(path.read_text()) <= passed, (
            f"{name}: an env: reference compose does not pass"
        )
        check(path.read_text(), tmp_path, monkeypatch, capsys)
        parser().parse_args(services[name]["command"])


def test_compose_runs_kafka_in_kraft_mode_and_creates_topics_before_the_gateway(
    tmp_path, monkeypatch, capsys
) -> None:
    services = compose()["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert set(kafka["environment"]["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    advertised = kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"].split("://", 1)[1]
    config = check(mounted_config(services["gateway"]).read_text(), tmp_path, monkeypatch, capsys)
    assert config.kafka.bootstrap_servers == [advertised]
    topics = parser().parse_args(services["topics"]["command"])
    assert (topics.command, topics.action) == ("topics", "create")
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert (
        services["gateway"]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    )


def test_compose_publishes_the_configured_port_and_keeps_the_spool(
    tmp_path, monkeypatch, capsys
) -> None:
    gateway = compose()["services"]["gateway"]
    config = check(mounted_config(gateway).read_text(), tmp_path, monkeypatch, capsys)
    (port,) = gateway["ports"]
    assert int(port.rsplit(":", 1)[1]) == config.listen.port
    assert any(
        v.split(":")[1] == str(config.storage.path) and not v.startswith(".")
        for v in gateway["volumes"]
    ), "the spool lives on a named volume"


# -- kubernetes -----------------------------------------------------------------------------------


def test_configmap_config_passes_check_config(tmp_path, monkeypatch, capsys) -> None:
    check(configmap_text(), tmp_path, monkeypatch, capsys)


def test_every_env_reference_comes_from_the_secret_in_each_workload() -> None:
    refs = env_refs(configmap_text())
    for kind in ("StatefulSet", "Job"):
        env = {e["name"]: e.get("valueFrom", {}) for e in container(kind).get("env", [])}
        assert refs <= set(env), f"{kind}: env: references without an env entry"
        assert all("secretKeyRef" in env[name] for name in refs), (
            f"{kind}: secrets come from a Secret"
        )


def test_probes_and_ports_are_what_the_gateway_serves(tmp_path, monkeypatch, capsys) -> None:
    config = check(configmap_text(), tmp_path, monkeypatch, capsys)
    served = routes(config, tmp_path)
    gateway = container()
    ports = {p["name"]: p["containerPort"] for p in gateway["ports"]}
    assert list(ports.values()) == [config.listen.port]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = gateway[probe]["httpGet"]
        assert get["path"] in served
        assert ports.get(get["port"], get["port"]) == config.listen.port
    target = manifests()["Service"]["spec"]["ports"][0]["targetPort"]
    assert ports.get(target, target) == config.listen.port
    ingress_paths = [
        p["path"] for rule in manifests()["Ingress"]["spec"]["rules"] for p in rule["http"]["paths"]
    ]
    assert all("/webhooks/{source}".startswith(p) for p in ingress_paths)


def test_the_workloads_run_commands_the_cli_has_and_mount_what_they_name(
    tmp_path, monkeypatch, capsys
) -> None:
    config = check(configmap_text(), tmp_path, monkeypatch, capsys)
    statefulset = manifests()["StatefulSet"]
    for kind in ("StatefulSet", "Job"):
        c = container(kind)
        args = parser().parse_args(c["args"])
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        assert Path(args.config).parent == Path(mounts["config"])
        assert Path(args.config).name in manifests()["ConfigMap"]["data"]
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert {m["name"]: m["mountPath"] for m in container()["volumeMounts"]}[
        claim["metadata"]["name"]
    ] == str(config.storage.path)


def test_selectors_and_targets_line_up() -> None:
    found = manifests()
    labels = found["StatefulSet"]["spec"]["template"]["metadata"]["labels"]
    for kind in ("StatefulSet", "PodDisruptionBudget"):
        assert found[kind]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert found["Service"]["spec"]["selector"].items() <= labels.items()
    target = found["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (
        "StatefulSet",
        found["StatefulSet"]["metadata"]["name"],
    )
    assert found["StatefulSet"]["spec"]["serviceName"] == found["Service"]["metadata"]["name"]
    assert found["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    listed = set(documents(K8S / "kustomization.yaml")[0]["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == on_disk


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_the_manifests() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60
    )
    assert rendered.returncode == 0, rendered.stderr
    kinds = {d["kind"] for d in yaml.safe_load_all(rendered.stdout) if d}
    assert {
        "StatefulSet",
        "Service",
        "ConfigMap",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Job",
        "Ingress",
    } <= kinds
