"""deploy/kubernetes: every manifest valid against the Kubernetes API (kubernetes-validate,
offline, strict), and the references between them checked: selectors, ports, probes,
secrets, the drain, the autoscaler, the register's address, each role's settings.
"""

from __future__ import annotations

import base64
import copy
import re
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .support import (
    DEFAULT_DRAIN_TIME,
    DEPLOY,
    KUBERNETES,
    KUBERNETES_VERSION,
    METRICS_PATHS,
    UNIT,
    load_all,
    port_of,
    role_of,
    tool,
    unknown_envvars,
    unknown_options,
)

Doc = dict[str, Any]
KUSTOMIZATION = KUBERNETES / "kustomization.yaml"
ROLES = {"register", "gateway", "worker", "api"}


def kustomization() -> Doc:
    doc: Doc = yaml.safe_load(KUSTOMIZATION.read_text())
    return doc


@cache
def documents() -> list[Doc]:
    """Every resource the kustomization lists (read once: copy before changing one)."""
    return [doc for name in kustomization()["resources"] for doc in load_all(KUBERNETES / name)]


def of_kind(kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == kind}


def containers(deployment: Doc) -> list[Doc]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


def env_values(container: Doc) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def role(container: Doc) -> tuple[str, list[str]]:
    return role_of([*container.get("command", ["gw"]), *container.get("args", [])])


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def selected(selector: dict[str, str]) -> list[str]:
    """The Deployments whose pods ``selector`` selects."""
    return [
        name
        for name, d in of_kind("Deployment").items()
        if matches(selector, d["spec"]["template"]["metadata"]["labels"])
    ]


def container_port(container: Doc, port: int | str) -> int:
    """A probe's or a Service's port (a number or a name) -> the container's port."""
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    if isinstance(port, str):
        assert port in ports, f"{container['name']} has no port named {port!r}"
        return int(ports[port])
    assert port in ports.values(), f"{container['name']} does not listen on {port}"
    return port


def test_kustomization_lists_every_manifest() -> None:
    listed = kustomization()["resources"]
    present = sorted(p.name for p in KUBERNETES.glob("*.y*ml") if p != KUSTOMIZATION)
    assert sorted(listed) == present
    assert len(listed) == len(set(listed))


def test_every_manifest_is_valid_for_the_pinned_kubernetes() -> None:
    docs = documents()
    assert {d["kind"] for d in docs} == {
        "Secret",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "PersistentVolumeClaim",
    }
    for doc in docs:  # strict: an unknown or misspelt field fails too
        version = kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        assert version == KUBERNETES_VERSION.rsplit(".", 1)[0]
    # the validator is offline and really strict: a misspelt field is refused
    gateway = copy.deepcopy(of_kind("Deployment")["gw-gateway"])
    gateway["spec"]["template"]["spec"]["terminationGracePeriod"] = 60
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(gateway, KUBERNETES_VERSION, strict=True)


def test_namespace_agnostic_and_one_image() -> None:
    images = {i["name"] for i in kustomization()["images"]}
    for doc in documents():
        assert "namespace" not in doc["metadata"], doc["metadata"]["name"]
        if doc["kind"] == "Deployment":
            for container in containers(doc):
                assert container["image"] in images, "the kustomization sets its tag"


def test_selectors_and_service_ports() -> None:
    deployments = of_kind("Deployment")
    for name, deployment in deployments.items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selected(selector) == [name], f"{name}'s selector is not its own"
    services = of_kind("Service")
    assert set(services) == {"gw-register", "gw-gateway", "gw-api", "gw-chat-web"}
    for service in services.values():
        (target,) = selected(service["spec"]["selector"])
        (container,) = containers(deployments[target])
        for port in service["spec"]["ports"]:
            container_port(container, port["targetPort"])
    assert selected(services["gw-gateway"]["spec"]["selector"]) == ["gw-gateway"]


def test_register_address_everyone_uses() -> None:
    service = of_kind("Service")["gw-register"]
    (port,) = service["spec"]["ports"]
    (register,) = containers(of_kind("Deployment")["gw-register"])
    assert container_port(register, port["targetPort"]) == port_of(
        env_values(register)["GW_REGISTER_LISTEN"]
    )
    assert of_kind("Deployment")["gw-register"]["spec"]["replicas"] == 1
    for name, deployment in of_kind("Deployment").items():
        for container in containers(deployment):
            if name != "gw-register":
                assert env_values(container)["GW_REGISTER"] == f"gw-register:{port['port']}"


def test_every_setting_is_one_its_role_reads() -> None:
    roles = set()
    for name, deployment in of_kind("Deployment").items():
        for container in containers(deployment):
            role_name, args = role(container)
            roles.add(role_name)
            assert not unknown_options(role_name, args), name
            names = [e["name"] for e in container.get("env", [])]
            unknown = unknown_envvars(role_name, names)
            assert not unknown, f"{name}: {role_name} reads no {unknown}"
            assert "GW_SECRET" in names, f"{name}: internal links need the secret"
    assert roles == ROLES | {"web"}


def test_secrets_come_from_the_secret() -> None:
    secrets = of_kind("Secret")
    refs = []
    for deployment in of_kind("Deployment").values():
        for container in containers(deployment):
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]["stringData"], ref
                    refs.append((entry["name"], ref["key"]))
                elif entry["name"] in ("GW_SECRET", "GW_AUTH_SECRET"):
                    pytest.fail(f"{entry['name']} written in a manifest")
    assert {r[0] for r in refs} == {"GW_SECRET", "GW_AUTH_SECRET", "GW_API_KEY"}
    # Every variable maps to one key, everywhere.
    assert len(set(refs)) == 3, refs
    # The placeholder auth secret is too short for a gateway (32 bytes at least), and the
    # placeholder API key for gw api, so a base applied with its placeholders serves nobody.
    placeholder = secrets["gw-secret"]["stringData"]["auth-secret"]
    assert len(placeholder.encode()) < 32
    from business.httpapi.auth import parse_keys
    from common.exceptions import ConfigError

    with pytest.raises(ConfigError):
        parse_keys([secrets["gw-secret"]["stringData"]["api-key"]])


def test_probes_and_metrics() -> None:
    for name, deployment in of_kind("Deployment").items():
        template = deployment["spec"]["template"]
        for container in containers(deployment):
            role_name, _ = role(container)
            live, ready = container["livenessProbe"], container["readinessProbe"]
            if role_name == "web":  # the page itself
                assert container_port(container, live["httpGet"]["port"]) == port_of(
                    env_values(container)["CHAT_LISTEN"]
                )
                continue
            metrics = port_of(env_values(container)["GW_METRICS_LISTEN"])
            for probe, path in (
                (live, METRICS_PATHS["liveness"]),
                (ready, METRICS_PATHS["readiness"]),
            ):
                assert probe["httpGet"]["path"] == path, name
                assert container_port(container, probe["httpGet"]["port"]) == metrics, name
            annotations = template["metadata"]["annotations"]
            assert annotations["prometheus.io/scrape"] == "true"
            assert int(annotations["prometheus.io/port"]) == metrics
            assert annotations["prometheus.io/path"] == "/metrics"


def test_pods_run_as_the_image_user() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    uid = int(re.findall(r"^USER (\d+)", dockerfile, re.MULTILINE)[-1])
    for name, deployment in of_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == uid, name
        for container in containers(deployment):
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_gateway_announces_its_pod_ip_and_drains() -> None:
    deployment = of_kind("Deployment")["gw-gateway"]
    pod = deployment["spec"]["template"]["spec"]
    (gateway,) = pod["containers"]
    env = {e["name"]: e for e in gateway["env"]}
    assert env["GW_LAN_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["GW_INTERNAL_LISTEN"]["value"] == "0.0.0.0"
    values = env_values(gateway)
    internal = int(values["GW_START_PORT"])
    assert container_port(gateway, "internal") == internal
    assert container_port(gateway, "ws") == port_of(values["GW_LISTEN"])
    # preStop: a pause for the endpoints to drop the pod, then `gw drain` on this pod
    command = gateway["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    steps = [shlex.split(step) for step in command[2].split(";")]
    assert steps[0][0] == "sleep" and steps[1][0] == "exec"
    pause, drain = float(steps[0][1]), steps[1][1:]
    role_name, args = role_of(drain)
    assert role_name == "drain" and not unknown_options("drain", args)
    assert args == ["--gateway", "tcp://${GW_LAN_IP}:${GW_START_PORT}"]
    for variable in re.findall(r"\$\{(\w+)\}", command[2]):
        assert variable in env, f"preStop uses {variable}, which the container lacks"
    # the pod gets time for the pause, the drain and the exit
    drain_time = float(values.get("GW_DRAIN_TIME", DEFAULT_DRAIN_TIME))
    assert pod["terminationGracePeriodSeconds"] >= pause + drain_time + 10
    # a rollout adds a gateway before draining one
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_disruption_budget_covers_the_gateways() -> None:
    (budget,) = of_kind("PodDisruptionBudget").values()
    assert selected(budget["spec"]["selector"]["matchLabels"]) == ["gw-gateway"]
    replicas = of_kind("Deployment")["gw-gateway"]["spec"]["replicas"]
    assert budget["spec"]["maxUnavailable"] < replicas


def test_workers_autoscale_and_roll_one_at_a_time() -> None:
    (hpa,) = of_kind("HorizontalPodAutoscaler").values()
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    worker = of_kind("Deployment")[target["name"]]
    (container,) = containers(worker)
    assert role(container)[0] == "worker"
    assert env_values(container)["GW_WORKER_COUNT"] == "1"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert container["resources"]["requests"]["cpu"], "CPU utilization needs a CPU request"
    assert "replicas" not in worker["spec"], "the autoscaler owns the count"
    assert 1 < hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    rolling = worker["spec"]["strategy"]["rollingUpdate"]
    assert (rolling["maxSurge"], rolling["maxUnavailable"]) == (1, 0)


def test_the_http_api_is_served_and_rolls_without_a_gap() -> None:
    from business.httpapi.server import STOP_TIMEOUT

    deployment = of_kind("Deployment")["gw-api"]
    pod = deployment["spec"]["template"]["spec"]
    (api,) = pod["containers"]
    assert role(api)[0] == "api"
    assert container_port(api, "http") == port_of(env_values(api)["GW_API_LISTEN"])
    (port,) = of_kind("Service")["gw-api"]["spec"]["ports"]
    assert port["targetPort"] == "http" and port["port"] == container_port(api, "http")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod["terminationGracePeriodSeconds"] > STOP_TIMEOUT  # requests in progress finish


def test_chat_web_keeps_its_database() -> None:
    deployment = of_kind("Deployment")["gw-chat-web"]
    pod = deployment["spec"]["template"]["spec"]
    (web,) = pod["containers"]
    assert role(web)[0] == "web"
    claims = of_kind("PersistentVolumeClaim")
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in web["volumeMounts"]}
    database = env_values(web)["CHAT_DB"]
    folder = database.rsplit("/", 1)[0]
    claim = volumes[mounts[folder]]["persistentVolumeClaim"]["claimName"]
    assert claim in claims
    # a ReadWriteOnce SQLite file: one pod, and never two at once during a rollout
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]


def test_kustomize_builds_the_same_resources() -> None:
    kubectl = tool("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    done = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES)],
        capture_output=True,
        text=True,
        timeout=60 * UNIT,
    )
    assert done.returncode == 0, done.stderr
    built = [d for d in yaml.safe_load_all(done.stdout) if d]
    key = sorted((d["kind"], d["metadata"]["name"]) for d in built)
    assert key == sorted((d["kind"], d["metadata"]["name"]) for d in documents())
    (image,) = kustomization()["images"]
    for doc in built:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "gatewayworker"
        if doc["kind"] == "Deployment":
            for container in containers(doc):
                assert container["image"] == f"{image['name']}:{image['newTag']}"


def test_the_overlay_in_the_readme_builds(tmp_path: Path) -> None:
    """deploy/README.md's overlay: namespace, image, the real secret, the addresses."""
    kubectl = tool("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    readme = (DEPLOY / "README.md").read_text()
    (block,) = [
        b for b in re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL) if "secretGenerator" in b
    ]
    overlay = tmp_path / "deploy" / "overlays" / "production"
    overlay.mkdir(parents=True)
    shutil.copytree(KUBERNETES, tmp_path / "deploy" / "kubernetes")
    (overlay / "kustomization.yaml").write_text(block)
    (overlay / "secret.env").write_text(
        "secret=s3cr3t\nauth-secret=" + "a" * 40 + "\napi-key=" + "k" * 24 + "\n"
    )
    done = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=60 * UNIT
    )
    assert done.returncode == 0, done.stderr
    built = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(done.stdout) if d}
    assert {d["metadata"]["namespace"] for d in built.values()} == {"chat"}
    secret = built[("Secret", "gw-secret")]
    assert "stringData" not in secret, "the placeholders are gone"
    assert base64.b64decode(secret["data"]["secret"]) == b"s3cr3t"
    assert set(secret["data"]) == set(of_kind("Secret")["gw-secret"]["stringData"])
    gateway = containers(built[("Deployment", "gw-gateway")])[0]
    assert env_values(gateway)["GW_PUBLIC_ADDRESS"] == "chat.example.org:443"
    assert len(gateway["env"]) == len(containers(of_kind("Deployment")["gw-gateway"])[0]["env"])
    web = containers(built[("Deployment", "gw-chat-web")])[0]
    assert env_values(web)["CHAT_WS_URL"] == "wss://chat.example.org/"
    assert gateway["image"] == "registry.example.com/gatewayworker-py:0.1.0"
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()
    assert "secret.env" in (DEPLOY / ".gitignore").read_text().split()
    for doc in built.values():
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
