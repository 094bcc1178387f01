"""manifests/: base, both overlays and monitoring build with `kubectl kustomize` (offline), and what
they build is what a platform team can apply as it is: Pod Security "restricted" on every
container, the replicas and rollout of each overlay, least-privilege RBAC, pinned images, and
configurations `core.config.load_config` accepts (with the overlay's NSCTL_* overrides)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from core.config import Config, load_config
from tests.kustomize import BUILDS, MANIFESTS, ROOT, Obj, build, granted, of_kind, one, rbac_rules

OVERLAYS = ("overlays/single", "overlays/ha")
DATA = "/var/lib/namespace-ctl"
FORBIDDEN_VERBS = {"delete", "deletecollection", "escalate", "bind", "impersonate", "*"}
CLUSTER_RULES = {
    ("", "namespaces", "list"),
    ("", "pods", "list"),  # why a woken workload is not ready (core.readiness)
    ("", "events", "create"),  # what kubectl events shows (core.events)
    *(
        ("apps", r, v)
        for r in ("deployments", "statefulsets", "daemonsets")
        for v in ("get", "list", "patch")
    ),
    *(("batch", "cronjobs", v) for v in ("get", "list", "patch")),
}


def version() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return str(project["version"])


def pod_spec(objects: list[Obj]) -> Obj:
    spec: Obj = one(objects, "Deployment", "namespace-ctl")["spec"]["template"]["spec"]
    return spec


def container(objects: list[Obj]) -> Obj:
    (only,) = pod_spec(objects)["containers"]
    return dict(only)


def all_containers(objects: list[Obj]) -> list[tuple[str, Obj]]:
    found = []
    for workload in objects:
        if workload["kind"] not in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"):
            continue
        template = workload["spec"].get("template") or workload["spec"]["jobTemplate"]["spec"]
        spec = template["spec"]
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            found.append((f"{workload['metadata']['name']}/{c['name']}", c))
    return found


def effective_config(objects: list[Obj], tmp_path: Path) -> Config:
    """The built ConfigMap's config.yaml with the container's literal NSCTL_* variables, as the
    pod reads it."""
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container(objects)["volumeMounts"]}
    args = container(objects)["args"]
    path = args[args.index("--config") + 1]
    (volume,) = [name for name, mount in mounts.items() if path.startswith(mount + "/")]
    config_map = one(objects, "ConfigMap", volumes[volume]["configMap"]["name"])
    target = tmp_path / Path(path).name
    target.write_text(config_map["data"][Path(path).name], encoding="utf-8")
    environ = {
        e["name"]: e["value"]
        for e in container(objects).get("env", [])
        if e["name"].startswith("NSCTL_") and "value" in e
    }
    return load_config(target, environ=environ)


@pytest.mark.parametrize("directory", BUILDS)
def test_every_directory_builds_offline(directory: str) -> None:
    objects = build(directory)
    assert objects
    for obj in objects:
        assert obj.get("apiVersion") and obj.get("kind") and obj["metadata"].get("name"), obj


@pytest.mark.parametrize("directory", ("base", *OVERLAYS))
def test_pod_security_restricted_on_every_container(directory: str) -> None:
    objects = build(directory)
    namespace = one(objects, "Namespace", "namespace-ctl")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["metadata"]["annotations"]["namespace-ctl.io/exclude"] == "true"
    spec = pod_spec(objects)
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (10001, 10001, 10001)
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
    containers = all_containers(objects)
    assert containers
    for name, c in containers:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add"), name
        assert sc["readOnlyRootFilesystem"] is True, name
        assert not sc.get("privileged"), name
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: /tmp must be an emptyDir"
    for volume in spec["volumes"]:
        assert "hostPath" not in volume


@pytest.mark.parametrize("directory", ("base", *OVERLAYS))
def test_the_container_serves_http_and_metrics_with_probes_and_the_downward_api(
    directory: str,
) -> None:
    objects = build(directory)
    c = container(objects)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": 3000, "metrics": 9090}
    args = c["args"]
    serve = args[args.index("serve") :]
    assert serve[serve.index("--port") + 1] == "3000"
    assert serve[serve.index("--metrics-port") + 1] == "9090"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    for secret in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        assert env[secret]["valueFrom"]["secretKeyRef"]["name"] == "namespace-ctl-slack"
    assert not [o for o in objects if o["kind"] == "Secret"], "secrets never in the repository"
    assert pod_spec(objects)["serviceAccountName"] == "namespace-ctl"


@pytest.mark.parametrize("directory", ("base", *OVERLAYS, "monitoring"))
def test_every_image_is_pinned_to_the_projects_version(directory: str) -> None:
    for name, c in all_containers(build(directory)):
        image = c["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image}"
        assert tag == version(), f"{name}: {image} is not this version ({version()})"


def test_single_one_replica_recreate_sqlite_on_a_volume(tmp_path: Path) -> None:
    objects = build("overlays/single")
    deployment = one(objects, "Deployment", "namespace-ctl")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claim = one(objects, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container(objects)["volumeMounts"]}
    assert volumes[mounts[DATA]]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert not of_kind(objects, "PodDisruptionBudget")
    config = effective_config(objects, tmp_path)
    assert config.store.backend == "sqlite"
    assert config.store.path == f"{DATA}/namespace-ctl.db"
    assert config.leader_election.enabled is False
    assert config.cluster.simulated is None and config.cluster.kubeconfig is None


def test_ha_two_replicas_rolling_pdb_spread_irsa_dynamodb(tmp_path: Path) -> None:
    objects = build("overlays/ha")
    deployment = one(objects, "Deployment", "namespace-ctl")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    labels = spec["template"]["metadata"]["labels"]
    pdb = one(objects, "PodDisruptionBudget", "namespace-ctl")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    spread = {c["topologyKey"]: c for c in pod_spec(objects)["topologySpreadConstraints"]}
    assert set(spread) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert spread["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == "ScheduleAnyway"
    for constraint in spread.values():
        assert constraint["maxSkew"] == 1
        assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()
    account = one(objects, "ServiceAccount", "namespace-ctl")
    role_arn = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role_arn.startswith("arn:aws:iam::") and "REPLACE" in role_arn  # a marked placeholder
    config = effective_config(objects, tmp_path)
    assert config.store.backend == "dynamodb" and config.store.table_prefix
    election = config.leader_election
    assert election.enabled is True
    assert election.lease_duration.total_seconds() == 15
    assert election.renew_deadline.total_seconds() == 10
    assert election.retry_period.total_seconds() == 2
    # The Role names exactly the Lease the config elects on.
    named = {
        name
        for rule in rbac_rules(objects)
        if "leases" in rule.get("resources", [])
        for name in rule.get("resourceNames", [])
    }
    assert named == {election.name}
    assert config.slack.notice_max_age.total_seconds() == 12 * 3600


@pytest.mark.parametrize("directory", ("base", *OVERLAYS))
def test_rbac_is_least_privilege(directory: str) -> None:
    objects = build(directory)
    for rule in rbac_rules(objects):
        for key in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert "*" not in rule.get(key, []), f"wildcard in {rule}"
        assert "secrets" not in rule.get("resources", []), rule
        assert not FORBIDDEN_VERBS & set(rule["verbs"]), rule
        assert not rule.get("nonResourceURLs"), rule
    cluster_role = one(objects, "ClusterRole", "namespace-ctl")
    assert granted([cluster_role]) == CLUSTER_RULES
    role = one(objects, "Role")
    assert role["metadata"]["namespace"] == "namespace-ctl"
    rules = [(tuple(r["verbs"]), tuple(r.get("resourceNames", []))) for r in role["rules"]]
    assert sorted(rules) == [(("create",), ()), (("get", "update"), ("namespace-ctl",))]
    assert {g for r in role["rules"] for g in r["apiGroups"]} == {"coordination.k8s.io"}
    assert {x for r in role["rules"] for x in r["resources"]} == {"leases"}
    for kind, role_name in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        binding = one(objects, kind)
        assert binding["roleRef"]["kind"] == role_name
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "namespace-ctl", "namespace": "namespace-ctl"}
        ]


@pytest.mark.parametrize("directory", ("base", *OVERLAYS))
def test_services_network_policy_and_the_ingress_expose_only_http(directory: str) -> None:
    objects = build(directory)
    labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    services = {s["metadata"]["name"]: s for s in of_kind(objects, "Service")}
    ports = {name: [p["name"] for p in s["spec"]["ports"]] for name, s in services.items()}
    assert ports == {"namespace-ctl": ["http"], "namespace-ctl-metrics": ["metrics"]}
    for service in services.values():
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
        assert service["spec"]["selector"].items() <= labels.items()
    policy = one(objects, "NetworkPolicy", "namespace-ctl")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    by_port = {p["port"]: rule for rule in policy["ingress"] for p in rule["ports"]}
    assert set(by_port) == {"http", "metrics"}
    assert "from" not in by_port["http"], "Slack reaches the http port from anywhere"
    (source,) = by_port["metrics"]["from"]
    assert source == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    }
    egress = {
        (p["port"], p.get("protocol", "TCP")) for rule in policy["egress"] for p in rule["ports"]
    }
    assert egress == {(53, "UDP"), (53, "TCP"), (443, "TCP")}


def test_the_ingress_example_routes_only_slack_events_to_http() -> None:
    docs = [
        d for d in yaml.safe_load_all((MANIFESTS / "examples" / "ingress.yaml").read_text()) if d
    ]
    (ingress,) = docs
    assert ingress["kind"] == "Ingress"
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/slack/events", "Exact")]
    backend = paths[0]["backend"]["service"]
    assert backend == {"name": "namespace-ctl", "port": {"name": "http"}}
    assert (
        "/metrics" not in (MANIFESTS / "examples" / "ingress.yaml").read_text().split("spec:", 1)[1]
    )
    for directory in ("base", *OVERLAYS):  # an example only: no build applies it
        assert not of_kind(build(directory), "Ingress")


def test_the_slack_secret_example_is_in_no_build() -> None:
    secret = yaml.safe_load((MANIFESTS / "examples" / "slack-secret.yaml").read_text())
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "namespace-ctl-slack"
    assert set(secret["stringData"]) == {"bot-token", "signing-secret"}


def test_monitoring_scrapes_the_metrics_service_port() -> None:
    monitor = one(build("monitoring"), "ServiceMonitor", "namespace-ctl")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    services = of_kind(build("overlays/ha"), "Service")
    selected = [
        s
        for s in services
        if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
    ]
    assert [s["metadata"]["name"] for s in selected] == ["namespace-ctl-metrics"]
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [
        selected[0]["metadata"]["namespace"]
    ]
