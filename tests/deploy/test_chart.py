"""The Helm chart and the images, checked without a cluster.

``scripts/check_chart`` lints the Dockerfiles and the chart and validates every rendered
profile against the Kubernetes schemas; these tests then read what it rendered and
assert the properties operators rely on: hardened containers, probes, GPUs where they
belong, NetworkPolicies for every component, and - so that the chart and the code
cannot drift apart - that every ``IMGEN_*`` variable and config key the chart sets is a
field of the settings class of the process that receives it.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "k8s" / "imgen"
IMAGES = REPO / "deploy" / "images"
HELM = REPO / ".cache" / "helm" / "bin" / "helm"
HELM_UNAVAILABLE = 77

#: Profile name (as scripts/check_chart writes it) -> what it is for.
PROFILES = ("default", "small", "large", "full-values")
GPU_PROFILES = ("default", "small", "large")
SECTIONS = ("gateway", "prompt", "inference", "compliance", "provenance", "storage")
GRPC_COMPONENTS = ("prompt", "compliance", "provenance", "storage", "inference", "inference-worker")
STATELESS = ("gateway", "prompt", "compliance", "provenance", "storage")
#: Variables set for libraries (boto3), not for imgen settings.
FOREIGN_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3"}
#: Gateway integrations the chart wires before the gateway reads them (see deploy/k8s/README.md).
GATEWAY_INTEGRATION_ENV = {
    "IMGEN_GATEWAY_ADMIN_PASSWORD": "admin_password",
    "IMGEN_GATEWAY_RATE_LIMIT_ADDR": "rate_limit_addr",
}

Manifest = dict[str, Any]
Rendered = dict[str, list[Manifest]]


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Manifest]]:
    """Run scripts/check_chart once; the manifests it rendered, by profile."""
    out = tmp_path_factory.mktemp("rendered")
    result = subprocess.run(
        [str(REPO / "scripts" / "check_chart")],
        cwd=REPO,
        env={**os.environ, "CHECK_CHART_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode == HELM_UNAVAILABLE:
        pytest.skip(f"helm cannot be downloaded here: {result.stdout.strip()}")
    assert result.returncode == 0, f"scripts/check_chart failed:\n{result.stdout}\n{result.stderr}"
    profiles: dict[str, list[Manifest]] = {}
    for name in PROFILES:
        text = (out / f"{name}.yaml").read_text()
        profiles[name] = [doc for doc in yaml.safe_load_all(text) if doc]
    return profiles


def helm_template(*args: str) -> subprocess.CompletedProcess[str]:
    """``helm template`` of the chart with extra arguments (the binary check_chart cached)."""
    scratch = REPO / ".cache" / "helm" / "home"
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(scratch / "cache"),
        "HELM_CONFIG_HOME": str(scratch / "config"),
        "HELM_DATA_HOME": str(scratch / "data"),
    }
    return subprocess.run(
        [str(HELM), "template", "imgen", str(CHART), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def of_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    return [doc for doc in docs if doc["kind"] == kind]


def by_component(docs: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {doc["metadata"]["labels"]["app.kubernetes.io/component"]: doc for doc in of_kind(docs, kind)}


def pod_specs(docs: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    """(object name, pod spec) of every workload."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def imgen_container(deployment: Manifest) -> Manifest:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def env_of(container: Manifest) -> dict[str, Manifest]:
    return {item["name"]: item for item in container.get("env", [])}


def settings_class(section: str) -> Any:
    module = importlib.import_module("gateway.main" if section == "gateway" else f"services.{section}.main")
    return module.Settings


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# ---------------------------------------------------------------------------- images


def dockerfile_stages(path: Path) -> dict[str, list[str]]:
    """Instructions of each named stage (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if match:
            current = stages.setdefault(match.group(1) or f"stage{len(stages)}", [])
        current.append(line)
    return stages


@pytest.mark.parametrize(
    ("dockerfile", "final_stages"),
    [("Dockerfile.cpu", ("gateway", "services")), ("Dockerfile.cuda", ("inference",))],
)
def test_images_run_imgen_serve_as_a_non_root_user_with_a_healthcheck(
    dockerfile: str, final_stages: tuple[str, ...]
) -> None:
    path = IMAGES / dockerfile
    stages = dockerfile_stages(path)
    text = path.read_text()
    for name in final_stages:
        instructions = " ".join(stages[name])
        assert re.search(r"USER 10001", instructions), f"{dockerfile}:{name} does not drop root"
        assert "HEALTHCHECK" in instructions, f"{dockerfile}:{name} has no HEALTHCHECK"
    assert 'ENTRYPOINT ["imgen", "serve"]' in text
    for base in re.findall(r"^ARG \w+_IMAGE=(\S+)$", text, re.MULTILINE):
        repository, _, tag = base.rpartition(":")
        assert repository and tag and tag != "latest", f"{dockerfile}: base image {base} is not pinned by tag"


def test_gateway_image_is_built_without_torch() -> None:
    stages = dockerfile_stages(IMAGES / "Dockerfile.cpu")
    gateway_build = " ".join(stages["build-gateway"] + stages["gateway"])
    assert ".[gateway,storage]" in gateway_build
    assert "torch" not in gateway_build
    assert "--from=build-gateway" in " ".join(stages["gateway"])


@pytest.mark.parametrize(
    ("dockerfile", "stage"), [("Dockerfile.cpu", "build-services"), ("Dockerfile.cuda", "build")]
)
def test_images_install_torch_before_the_project(dockerfile: str, stage: str) -> None:
    text = "\n".join(dockerfile_stages(IMAGES / dockerfile)[stage])
    assert text.index('"torch==2.13.0"') < text.index('pip install ".[')
    assert text.index('pip install ".[') < text.index('--no-deps "open-clip-torch==3.3.0"')


def test_healthcheck_knows_every_service_port() -> None:
    sys.path.insert(0, str(IMAGES))
    try:
        healthcheck = importlib.import_module("healthcheck")
    finally:
        sys.path.remove(str(IMAGES))
    for section in SECTIONS:
        assert healthcheck.DEFAULT_PORTS[section] == settings_class(section).model_fields["port"].default
    command = ["/opt/imgen/bin/python", "/opt/imgen/bin/imgen", "serve", "storage"]
    assert healthcheck.served_service(command) == "storage"
    assert healthcheck.served_service(["redis-server"]) is None
    assert healthcheck.service_port("storage", {"IMGEN_STORAGE_PORT": "6000"}) == 6000
    assert healthcheck.service_port("gateway", {}) == 8470


# ---------------------------------------------------------------------------- security


@pytest.mark.parametrize("profile", PROFILES)
def test_every_container_is_non_root_with_a_read_only_root_filesystem(
    rendered: Rendered, profile: str
) -> None:
    for name, spec in pod_specs(rendered[profile]):
        pod_ctx = spec.get("securityContext", {})
        for container in spec.get("initContainers", []) + spec["containers"]:
            ctx = container.get("securityContext", {})
            where = f"{profile}: {name}/{container['name']}"
            assert ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is True, where
            assert ctx.get("runAsUser", pod_ctx.get("runAsUser", 1)) != 0, where
            assert ctx.get("readOnlyRootFilesystem") is True, where
            assert ctx.get("allowPrivilegeEscalation") is False, where
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], where
            seccomp = ctx.get("seccompProfile", pod_ctx.get("seccompProfile", {}))
            assert seccomp.get("type") == "RuntimeDefault", where


@pytest.mark.parametrize("profile", PROFILES)
def test_imgen_pods_write_only_to_tmp_and_the_data_dir(rendered: Rendered, profile: str) -> None:
    for deployment in of_kind(rendered[profile], "Deployment"):
        if deployment["metadata"]["labels"]["app.kubernetes.io/component"].startswith("ratelimit"):
            continue
        container = imgen_container(deployment)
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        data_dir = env_of(container)["IMGEN_DATA_DIR"]["value"]
        assert "/tmp" in mounts and data_dir in mounts
        writable = {path for path, mount in mounts.items() if not mount.get("readOnly")}
        assert writable <= {"/tmp", data_dir}, deployment["metadata"]["name"]


@pytest.mark.parametrize("profile", PROFILES)
def test_the_chart_creates_no_secrets(rendered: Rendered, profile: str) -> None:
    assert not of_kind(rendered[profile], "Secret")
    for name, spec in pod_specs(rendered[profile]):
        for container in spec["containers"]:
            for item in container.get("env", []):
                secret_like = re.search(r"KEY|TOKEN|SECRET|DATABASE_URL", item["name"])
                if secret_like and not item["name"].endswith("_PATH"):
                    assert "valueFrom" in item, f"{name}: {item['name']} is a literal, not a Secret reference"


# ---------------------------------------------------------------------------- probes and wiring


@pytest.mark.parametrize("profile", PROFILES)
def test_every_deployment_has_probes(rendered: Rendered, profile: str) -> None:
    for deployment in of_kind(rendered[profile], "Deployment"):
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert "livenessProbe" in container and "readinessProbe" in container, component
        if component in GRPC_COMPONENTS:
            container = imgen_container(deployment)
            grpc_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "grpc")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert container[probe]["grpc"]["port"] == grpc_port, f"{component} {probe}"
        if component == "gateway":
            container = imgen_container(deployment)
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert "startupProbe" in container


@pytest.mark.parametrize("profile", PROFILES)
def test_inference_workers_get_a_generous_startup(rendered: Rendered, profile: str) -> None:
    deployments = by_component(rendered[profile], "Deployment")
    worker = imgen_container(deployments["inference-worker"])["startupProbe"]
    prompt = imgen_container(deployments["prompt"])["startupProbe"]
    assert worker["failureThreshold"] * worker["periodSeconds"] >= 900
    assert worker["failureThreshold"] > prompt["failureThreshold"]


@pytest.mark.parametrize("profile", GPU_PROFILES)
def test_inference_workers_request_gpus_on_the_gpu_pool(rendered: Rendered, profile: str) -> None:
    deployments = by_component(rendered[profile], "Deployment")
    worker = deployments["inference-worker"]
    spec = worker["spec"]["template"]["spec"]
    resources = imgen_container(worker)["resources"]
    expected = 2 if profile == "large" else 1
    assert resources["requests"]["nvidia.com/gpu"] == expected
    assert resources["limits"]["nvidia.com/gpu"] == expected
    assert spec["nodeSelector"]
    assert any(t.get("key") == "nvidia.com/gpu" for t in spec["tolerations"])
    assert env_of(imgen_container(worker))["IMGEN_INFERENCE_DEVICE"]["value"] == "cuda"
    for component, deployment in deployments.items():
        if component != "inference-worker":
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                assert "nvidia.com/gpu" not in container.get("resources", {}).get("requests", {}), component


@pytest.mark.parametrize("profile", PROFILES)
def test_service_addresses_point_at_rendered_services(rendered: Rendered, profile: str) -> None:
    docs = rendered[profile]
    services = {doc["metadata"]["name"]: doc for doc in of_kind(docs, "Service")}
    deployments = by_component(docs, "Deployment")
    for component, deployment in deployments.items():
        if component.startswith("ratelimit"):
            continue
        env = env_of(imgen_container(deployment))
        for target in ("prompt", "inference", "compliance", "provenance", "storage"):
            host, _, port = env[f"IMGEN_{target.upper()}_ADDR"]["value"].rpartition(":")
            service_name, namespace = host.split(".")[:2]
            assert namespace == "imgen"
            service = services[service_name]
            assert int(port) in {p["port"] for p in service["spec"]["ports"]}
            backend = deployments[service["spec"]["selector"]["app.kubernetes.io/component"]]
            container = imgen_container(backend)
            assert env_of(container)[f"IMGEN_{target.upper()}_PORT"]["value"] == port
            assert container["args"] == [target]
    # The inference Service reaches the API pods, never the GPU workers.
    inference_service = services["imgen-inference"]
    assert inference_service["spec"]["selector"]["app.kubernetes.io/component"] == "inference"


@pytest.mark.parametrize("profile", PROFILES)
def test_inference_api_serves_without_workers_or_models(rendered: Rendered, profile: str) -> None:
    api = env_of(imgen_container(by_component(rendered[profile], "Deployment")["inference"]))
    assert api["IMGEN_INFERENCE_WORKERS"]["value"] == "0"
    assert yaml.safe_load(api["IMGEN_INFERENCE_PRELOAD_MODELS"]["value"]) == []
    assert api["IMGEN_INFERENCE_DEVICE"]["value"] == "cpu"


# ---------------------------------------------------------------------------- chart <-> code drift


def env_names_by_section(docs: list[Manifest]) -> dict[str, set[str]]:
    """IMGEN_* names each settings section receives, over every imgen container and the hook Job."""
    names: dict[str, set[str]] = {}
    for doc in docs:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        if component.startswith("ratelimit"):
            continue
        section = "inference" if component in ("inference-worker", "migrations") else component
        for container in doc["spec"]["template"]["spec"]["containers"]:
            names.setdefault(section, set()).update(env_of(container))
    return names


def unknown_env_names(section: str, names: set[str]) -> set[str]:
    settings = settings_class(section)
    fields = set(settings.model_fields)
    unknown = set()
    for name in names - FOREIGN_ENV - {"IMGEN_CONFIG"}:
        own = f"IMGEN_{section.upper()}_"
        if name.startswith(own) and name[len(own) :].lower() in fields:
            continue
        shared = name.removeprefix("IMGEN_").lower()
        if shared in settings.shared_fields and shared in fields:
            continue
        unknown.add(name)
    return unknown


@pytest.mark.parametrize("profile", PROFILES)
def test_env_vars_are_fields_of_the_settings_classes(rendered: Rendered, profile: str) -> None:
    for section, names in env_names_by_section(rendered[profile]).items():
        unknown = unknown_env_names(section, names) - set(GATEWAY_INTEGRATION_ENV)
        assert not unknown, f"{profile}: {section} gets variables its Settings lacks: {sorted(unknown)}"


@pytest.mark.parametrize(("variable", "field"), sorted(GATEWAY_INTEGRATION_ENV.items()))
def test_gateway_integrations_are_read_by_the_gateway(rendered: Rendered, variable: str, field: str) -> None:
    assert variable in env_names_by_section(rendered["full-values"])["gateway"]
    if field not in settings_class("gateway").model_fields:
        pytest.skip(f"gateway Settings has no '{field}' yet: the chart sets {variable} for it (README)")


@pytest.mark.parametrize("profile", PROFILES)
def test_config_file_keys_are_fields_of_the_settings_classes(rendered: Rendered, profile: str) -> None:
    from services.shared.settings import ServiceSettings

    config_maps = of_kind(rendered[profile], "ConfigMap")
    (config_map,) = [doc for doc in config_maps if doc["metadata"]["name"] == "imgen-config"]
    document = yaml.safe_load(config_map["data"]["config.yaml"])
    assert set(document) <= {"common", *SECTIONS}
    for section, values in document.items():
        cls = ServiceSettings if section == "common" else settings_class(section)
        unknown = set(values or {}) - set(cls.model_fields)
        assert not unknown, f"{profile}: config section {section} has unknown keys: {sorted(unknown)}"
        if section != "common":
            cls(**{k: v for k, v in (values or {}).items()})  # the values validate, too


def test_env_var_drift_is_detected() -> None:
    assert unknown_env_names("prompt", {"IMGEN_PROMPT_CATALOG_PATH", "IMGEN_STORAGE_ADDR"}) == set()
    assert unknown_env_names("prompt", {"IMGEN_PROMPT_CATALOGUE_PATH"}) == {"IMGEN_PROMPT_CATALOGUE_PATH"}
    assert unknown_env_names("storage", {"IMGEN_PROMPT_PORT"}) == {"IMGEN_PROMPT_PORT"}


# ---------------------------------------------------------------------------- catalog


def test_the_catalogs_the_chart_ships_are_valid() -> None:
    from services.prompt.catalog import parse_catalog

    parse_catalog((CHART / "files" / "catalog.yaml").read_text(), "files/catalog.yaml")
    full = yaml.safe_load((CHART / "ci" / "full-values.yaml").read_text())
    parse_catalog(full["catalog"]["content"], "ci/full-values.yaml")


@pytest.mark.parametrize("profile", PROFILES)
def test_catalog_is_mounted_so_that_edits_reach_the_prompt_service(rendered: Rendered, profile: str) -> None:
    docs = rendered[profile]
    prompt = by_component(docs, "Deployment")["prompt"]
    container = imgen_container(prompt)
    path = env_of(container)["IMGEN_PROMPT_CATALOG_PATH"]["value"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "catalog"]
    assert "subPath" not in mount, "a subPath mount never sees ConfigMap updates"
    assert path == f"{mount['mountPath']}/catalog.yaml"
    assert "checksum/catalog" not in prompt["spec"]["template"]["metadata"].get("annotations", {})
    (catalog,) = [doc for doc in of_kind(docs, "ConfigMap") if doc["metadata"]["name"] == "imgen-catalog"]
    assert "models" in yaml.safe_load(catalog["data"]["catalog.yaml"])


# ---------------------------------------------------------------------------- network policies


def allowed_sources(docs: list[Manifest], component: str) -> dict[int | str, set[str] | None]:
    """Port -> components allowed to reach it (None: any source)."""
    pod_labels = by_component(docs, "Deployment")[component]["spec"]["template"]["metadata"]["labels"]
    allowed: dict[int | str, set[str] | None] = {}
    for policy in of_kind(docs, "NetworkPolicy"):
        if not selects(policy["spec"]["podSelector"].get("matchLabels", {}), pod_labels):
            continue
        for rule in policy["spec"].get("ingress", []):
            sources: set[str] | None
            if "from" not in rule:
                sources = None
            else:
                sources = {
                    peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                    for peer in rule["from"]
                    if "podSelector" in peer
                } or {"<namespace>"}
            for port in rule["ports"]:
                previous = allowed.get(port["port"], set())
                allowed[port["port"]] = None if sources is None or previous is None else previous | sources
    return allowed


@pytest.mark.parametrize("profile", PROFILES)
def test_network_policies_exist_for_every_component(rendered: Rendered, profile: str) -> None:
    docs = rendered[profile]
    policies = of_kind(docs, "NetworkPolicy")
    deny = [p for p in policies if p["metadata"]["name"].endswith("default-deny")]
    assert len(deny) == 1 and "ingress" not in deny[0]["spec"]
    for deployment in of_kind(docs, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        own = [
            p for p in policies if p not in deny and selects(p["spec"]["podSelector"]["matchLabels"], labels)
        ]
        assert own, f"no NetworkPolicy for {deployment['metadata']['name']}"
        assert selects(deny[0]["spec"]["podSelector"]["matchLabels"], labels)


@pytest.mark.parametrize("profile", PROFILES)
def test_only_the_gateway_is_reachable_from_outside(rendered: Rendered, profile: str) -> None:
    docs = rendered[profile]
    metrics = 9090
    expected = {
        "prompt": {"gateway"},
        "inference": {"gateway"},
        "compliance": {"gateway", "inference-worker"},
        "provenance": {"inference-worker"},
        "storage": {"gateway", "inference-worker"},
    }
    for component, callers in expected.items():
        port = int(
            env_of(imgen_container(by_component(docs, "Deployment")[component]))[
                f"IMGEN_{'INFERENCE' if component == 'inference' else component.upper()}_PORT"
            ]["value"]
        )
        allowed = allowed_sources(docs, component)
        assert allowed[port] == callers, f"{profile}: {component}"
        assert set(allowed) <= {port, metrics}, f"{profile}: {component} opens {sorted(map(str, allowed))}"
    worker = allowed_sources(docs, "inference-worker")
    assert set(worker) == {metrics}
    gateway = allowed_sources(docs, "gateway")
    assert set(gateway) == {"http"}


# ---------------------------------------------------------------------------- scaling


@pytest.mark.parametrize("profile", ("default", "large"))
def test_stateless_services_autoscale_and_workers_scale_on_queue_depth(
    rendered: Rendered, profile: str
) -> None:
    docs = rendered[profile]
    hpas = by_component(docs, "HorizontalPodAutoscaler")
    assert set(STATELESS) <= set(hpas)
    deployments = by_component(docs, "Deployment")
    for component in hpas:
        assert "replicas" not in deployments[component]["spec"], f"{component}: replicas fight the HPA"
    (scaled,) = of_kind(docs, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployments["inference-worker"]["metadata"]["name"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "postgresql"
    assert trigger["metadata"]["query"] == "SELECT count(*) FROM jobs WHERE state='IN_QUEUE'"
    (auth,) = of_kind(docs, "TriggerAuthentication")
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    assert "replicas" not in deployments["inference-worker"]["spec"]


def test_queue_depth_hpa_follows_the_table_prefix(rendered: Rendered) -> None:
    docs = rendered["full-values"]
    hpa = by_component(docs, "HorizontalPodAutoscaler")["inference-worker"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "External"
    assert not of_kind(docs, "ScaledObject")
    assert (
        "prod_"
        in env_of(imgen_container(by_component(docs, "Deployment")["inference-worker"]))[
            "IMGEN_INFERENCE_TABLE_PREFIX"
        ]["value"]
    )
    keda = helm_template(
        "-f", str(CHART / "ci" / "full-values.yaml"), "--set", "inference.worker.autoscaling.mode=keda"
    )
    assert keda.returncode == 0, keda.stderr
    assert "SELECT count(*) FROM prod_jobs WHERE state='IN_QUEUE'" in keda.stdout


def test_small_profile_is_one_gpu_without_crds(rendered: Rendered) -> None:
    docs = rendered["small"]
    kinds = {doc["kind"] for doc in docs}
    assert not kinds & {"ScaledObject", "ServiceMonitor", "TriggerAuthentication", "HorizontalPodAutoscaler"}
    assert by_component(docs, "Deployment")["inference-worker"]["spec"]["replicas"] == 1
    assert of_kind(docs, "PersistentVolumeClaim"), "local object storage needs a volume"


@pytest.mark.parametrize("profile", PROFILES)
def test_disruption_budgets_never_block_a_drain(rendered: Rendered, profile: str) -> None:
    pdbs = by_component(rendered[profile], "PodDisruptionBudget")
    assert set(STATELESS) | {"inference", "inference-worker"} <= set(pdbs)
    for pdb in pdbs.values():
        assert "minAvailable" not in pdb["spec"] and pdb["spec"]["maxUnavailable"] >= 1


# ---------------------------------------------------------------------------- hooks, CRDs, guards


@pytest.mark.parametrize("profile", PROFILES)
def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(rendered: Rendered, profile: str) -> None:
    (job,) = of_kind(rendered[profile], "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "services.inference.migrate"]
    assert "IMGEN_INFERENCE_DATABASE_URL" in env_of(container)
    volumes = job["spec"]["template"]["spec"].get("volumes", [])
    # A pre-install hook runs before the release's ConfigMaps exist.
    assert all("configMap" not in v for v in volumes)


def test_crds_render_only_when_enabled(rendered: Rendered) -> None:
    assert not of_kind(rendered["default"], "ServiceMonitor")
    (monitor,) = of_kind(rendered["large"], "ServiceMonitor")
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == {"metrics", "http"}
    none = helm_template("--set", "inference.worker.autoscaling.mode=none")
    assert none.returncode == 0, none.stderr
    assert "keda.sh" not in none.stdout


def test_ratelimit_and_redis_are_optional_and_private(rendered: Rendered) -> None:
    assert "ratelimit" not in by_component(rendered["default"], "Deployment")
    docs = rendered["full-values"]
    assert {"ratelimit", "ratelimit-redis"} <= set(by_component(docs, "Deployment"))
    assert allowed_sources(docs, "ratelimit")[8081] == {"gateway"}
    assert allowed_sources(docs, "ratelimit-redis")[6379] == {"ratelimit"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "config.storage.backend=local"], "storage.persistence.enabled"),
        (
            ["--set", "config.storage.backend=local", "--set", "storage.persistence.enabled=true"],
            "ReadWriteOnce",
        ),
        (["--set", "secrets.database.existingSecret="], "secrets.database.existingSecret"),
        (["--set", "secrets.watermarkKey.existingSecret="], "watermark key"),
        (["--set", "inference.worker.autoscaling.mode=cpu"], "inference.worker.autoscaling.mode"),
        (["--set", "gatway.replicas=3"], "Additional property gatway is not allowed"),
        (["--set", "inference.tablePrefix=x;drop"], "inference.tablePrefix"),
    ],
)
def test_the_chart_refuses_values_that_would_not_work(
    rendered: Rendered, args: list[str], message: str
) -> None:
    result = helm_template(*args)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_each_process_builds_its_settings_from_what_the_chart_gives_it(
    rendered: Rendered, profile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rendered env and config file, as a pod would see them, validate as that process's Settings."""
    docs = rendered[profile]
    config_maps = {doc["metadata"]["name"]: doc for doc in of_kind(docs, "ConfigMap")}
    config_file = tmp_path / "config.yaml"
    config_file.write_text(config_maps["imgen-config"]["data"]["config.yaml"])
    for component, deployment in by_component(docs, "Deployment").items():
        if component.startswith("ratelimit"):
            continue
        container = imgen_container(deployment)
        for name in [n for n in os.environ if n.startswith("IMGEN_")]:
            monkeypatch.delenv(name)
        for item in container["env"]:
            # Secret values are opaque to the chart: a well-formed stand-in.
            monkeypatch.setenv(item["name"], item.get("value", "ab" * 32))
        monkeypatch.setenv("IMGEN_CONFIG", str(config_file))
        (section,) = container["args"]
        settings = settings_class(section)()
        assert settings.host == "0.0.0.0"
        assert settings.port == next(
            p["containerPort"] for p in container["ports"] if p["name"] in ("grpc", "http")
        )
        assert str(settings.data_dir) == env_of(container)["IMGEN_DATA_DIR"]["value"]
        if component == "inference":
            assert settings.workers == 0 and settings.preload_models == []
        if component == "inference-worker":
            assert settings.device == "cuda" and settings.workers >= 1


@pytest.mark.parametrize("profile", GPU_PROFILES)
def test_rollouts_never_need_a_spare_gpu_or_a_second_volume_attachment(
    rendered: Rendered, profile: str
) -> None:
    deployments = by_component(rendered[profile], "Deployment")
    worker = deployments["inference-worker"]["spec"]["strategy"]
    assert worker["rollingUpdate"]["maxSurge"] == 0
    storage = deployments["storage"]
    claims = [v for v in storage["spec"]["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v]
    if claims:
        assert storage["spec"]["strategy"]["type"] == "Recreate"
