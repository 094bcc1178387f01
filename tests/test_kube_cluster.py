"""KubeCluster with the real `kubernetes` client, over HTTP, against the stateful FakeKube."""

from __future__ import annotations

import ast
import json
import math
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from core.cluster.base import Cluster
from core.cluster.kube import KubeCluster
from core.config import ClusterSettings
from core.errors import (
    ClusterError,
    ClusterUnavailableError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
)
from core.models import WorkloadKind, WorkloadRef
from tests.fake_kube import FakeKube, merge_patch, workload

KINDS = [k.value for k in WorkloadKind]
WEB = WorkloadRef(kind=WorkloadKind.DEPLOYMENT, namespace="team-a", name="web")
PATCH_WEB = r"/namespaces/team-a/deployments/web$"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as server:
        server.add(workload("Deployment", "team-a", "web", replicas=3))
        yield server


def make_cluster(kubeconfig: Path, **settings: Any) -> KubeCluster:
    values: dict[str, Any] = {"kubeconfig": str(kubeconfig), "request_timeout": 0.5, "retries": 5}
    values.update(settings)
    return KubeCluster(ClusterSettings(**values), backoff_base=0.01, backoff_cap=0.05)


@pytest.fixture
def cluster(fake: FakeKube, tmp_path: Path) -> Iterator[KubeCluster]:
    kube = make_cluster(fake.write_kubeconfig(tmp_path / "kubeconfig"))
    yield kube
    kube.close()


def replicas(
    fake: FakeKube, kind: str = "Deployment", ns: str = "team-a", name: str = "web"
) -> Any:
    obj = fake.get(kind, ns, name)
    assert obj is not None
    return obj["spec"].get("replicas")


# --- the fake itself ---------------------------------------------------------------------------


def test_merge_patch_null_deletes_and_does_not_mutate() -> None:
    target: dict[str, Any] = {
        "metadata": {"annotations": {"a": "1", "b": "2"}},
        "spec": {"list": [1, 2]},
    }
    merged = merge_patch(
        target, {"metadata": {"annotations": {"a": None, "c": "3"}}, "spec": {"list": [9]}}
    )
    assert merged == {"metadata": {"annotations": {"b": "2", "c": "3"}}, "spec": {"list": [9]}}
    assert target["metadata"]["annotations"] == {"a": "1", "b": "2"}  # unchanged


def _http(
    fake: FakeKube, method: str, path: str, body: Any = None, ctype: str = ""
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {fake.token}", "Content-Type": ctype or "application/json"}
    request = urllib.request.Request(fake.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_fake_patch_null_deletes_over_http(fake: FakeKube) -> None:
    path = "/apis/apps/v1/namespaces/team-a/deployments/web"
    merge = "application/merge-patch+json"
    _http(fake, "PATCH", path, {"metadata": {"annotations": {"x": "1", "y": "2"}}}, merge)
    code, obj = _http(fake, "PATCH", path, {"metadata": {"annotations": {"x": None}}}, merge)
    assert code == 200 and obj["metadata"]["annotations"] == {"y": "2"}
    assert fake.get("Deployment", "team-a", "web")["metadata"]["annotations"] == {"y": "2"}  # type: ignore[index]


def test_fake_put_precondition_and_status_objects(fake: FakeKube) -> None:
    path = "/apis/apps/v1/namespaces/team-a/deployments/web"
    current = fake.get("Deployment", "team-a", "web")
    assert current is not None
    stale = json.loads(json.dumps(current))
    stale["metadata"]["resourceVersion"] = "1"
    stale["spec"]["replicas"] = 9
    code, status = _http(fake, "PUT", path, stale)
    assert code == 409 and status["kind"] == "Status" and status["reason"] == "Conflict"
    assert replicas(fake) == 3
    current["spec"]["replicas"] = 9
    code, obj = _http(fake, "PUT", path, current)
    assert code == 200 and obj["spec"]["replicas"] == 9
    assert int(obj["metadata"]["resourceVersion"]) > int(current["metadata"]["resourceVersion"])
    code, status = _http(fake, "GET", "/apis/apps/v1/namespaces/team-a/deployments/nope")
    assert (code, status["reason"], status["status"]) == (404, "NotFound", "Failure")


def test_fake_lists_are_valid_for_the_client_models(fake: FakeKube, cluster: KubeCluster) -> None:
    for kind in KINDS:
        fake.add(workload(kind, "team-b", f"x-{kind.lower()}"))
    client = cluster._api_client
    deployments = k8s.AppsV1Api(client).list_deployment_for_all_namespaces(limit=1)
    assert isinstance(deployments, k8s.V1DeploymentList)
    assert deployments.metadata is not None
    assert deployments.metadata.var_continue and deployments.metadata.remaining_item_count == 1
    assert len(k8s.AppsV1Api(client).list_stateful_set_for_all_namespaces().items) == 1
    assert len(k8s.AppsV1Api(client).list_daemon_set_for_all_namespaces().items) == 1
    assert len(k8s.BatchV1Api(client).list_cron_job_for_all_namespaces().items) == 1
    assert len(k8s.CoreV1Api(client).list_namespace().items) == 2
    web = k8s.AppsV1Api(client).read_namespaced_deployment("web", "team-a")
    assert web.spec.replicas == 3


def test_fake_injected_fault_changes_nothing_and_counts(fake: FakeKube) -> None:
    before = fake.get("Deployment", "team-a", "web")
    fake.inject("PATCH", PATCH_WEB, 503, times=2)
    body = {"spec": {"replicas": 0}}
    path = "/apis/apps/v1/namespaces/team-a/deployments/web"
    codes = [_http(fake, "PATCH", path, body, "application/merge-patch+json")[0] for _ in range(3)]
    assert codes == [503, 503, 200]
    assert fake.count("PATCH", "Deployment") == 3 and fake.total_requests == 3 and fake.writes == 1
    fake.reset_counters()
    assert fake.total_requests == 0 and not fake.requests
    assert before is not None and replicas(fake) == 0


def test_fake_runs_as_a_process_with_admin_endpoints(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_kube", "--latency", "0.001"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        objects = [workload("Deployment", "bench", f"d{i}") for i in range(3)]
        load = urllib.request.Request(
            f"{url}/_admin/load", json.dumps(objects).encode(), method="POST"
        )
        with urllib.request.urlopen(load, timeout=5) as response:
            assert json.loads(response.read())["objects"]["Deployment"] == 3
        kube = make_cluster(_kubeconfig(tmp_path, url))
        assert len(kube.list_workloads(WorkloadKind.DEPLOYMENT)) == 3
        kube.close()
        with urllib.request.urlopen(f"{url}/_admin/stats", timeout=5) as response:
            assert json.loads(response.read())["requests"] == {"LIST Deployment": 1}
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def _kubeconfig(tmp_path: Path, url: str) -> Path:
    fake = FakeKube()
    fake.host, fake.port = url.removeprefix("http://").split(":")[0], int(url.rsplit(":", 1)[1])
    return fake.write_kubeconfig(tmp_path / "kubeconfig")


# --- lists ----------------------------------------------------------------------------------


def test_list_paginates_cluster_wide_each_object_once(fake: FakeKube, cluster: KubeCluster) -> None:
    fake.delete_namespace("team-a")
    total = 1234
    for i in range(total):
        fake.add(workload("Deployment", f"ns-{i % 37:02d}", f"app-{i:04d}"))
    fake.reset_counters()
    items = cluster.list_workloads(WorkloadKind.DEPLOYMENT)
    keys = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items]
    assert len(keys) == total and len(set(keys)) == total
    assert all(o["kind"] == "Deployment" and o["apiVersion"] == "apps/v1" for o in items)
    assert fake.count("LIST", "Deployment") == math.ceil(total / 500) == fake.total_requests


@pytest.mark.parametrize("kind", KINDS)
def test_list_workloads_of_every_kind(fake: FakeKube, cluster: KubeCluster, kind: str) -> None:
    fake.add(workload(kind, "team-b", "one"))
    items = cluster.list_workloads(WorkloadKind(kind))
    assert [o["metadata"]["name"] for o in items if o["metadata"]["namespace"] == "team-b"] == [
        "one"
    ]
    assert {o["kind"] for o in items} == {kind}


def test_list_namespaces_with_labels_and_annotations(fake: FakeKube, cluster: KubeCluster) -> None:
    fake.add_namespace(
        "quiet", labels={"team": "q"}, annotations={"namespace-ctl.io/exclude": "true"}
    )
    infos = {ns.name: ns for ns in cluster.list_namespaces()}
    assert set(infos) == {"team-a", "quiet"}
    assert infos["quiet"].annotations == {"namespace-ctl.io/exclude": "true"}
    assert infos["quiet"].labels["team"] == "q"


def test_list_retries_a_failed_page(fake: FakeKube, cluster: KubeCluster) -> None:
    for i in range(600):
        fake.add(workload("CronJob", "jobs", f"job-{i:03d}"))
    fake.inject("GET", r"/cronjobs\?.*continue=", 503)
    fake.reset_counters()
    assert len(cluster.list_workloads(WorkloadKind.CRONJOB)) == 600
    assert fake.count("LIST", "CronJob") == 3


def test_list_restarts_when_the_continue_token_expired(
    fake: FakeKube, cluster: KubeCluster
) -> None:
    for i in range(1100):
        fake.add(workload("StatefulSet", "db", f"db-{i:04d}"))
    fake.inject("GET", r"/statefulsets\?.*continue=", 410)
    fake.reset_counters()
    items = cluster.list_workloads(WorkloadKind.STATEFULSET)
    assert len({o["metadata"]["name"] for o in items}) == len(items) == 1100
    assert fake.count("LIST", "StatefulSet") == 2 + 3  # two pages, the 410, then a full list


# --- get and patch --------------------------------------------------------------------------


def test_get_returns_the_stored_object(fake: FakeKube, cluster: KubeCluster) -> None:
    assert cluster.get_workload(WEB) == fake.get("Deployment", "team-a", "web")


def test_patch_applies_and_bumps_resource_version(fake: FakeKube, cluster: KubeCluster) -> None:
    before = cluster.get_workload(WEB)["metadata"]["resourceVersion"]
    body = {"metadata": {"annotations": {"namespace-ctl.io/original-replicas": "3"}}}
    after = cluster.patch_workload(WEB, {**body, "spec": {"replicas": 0}})
    assert after["spec"]["replicas"] == 0 == replicas(fake)
    assert after["metadata"]["annotations"] == {"namespace-ctl.io/original-replicas": "3"}
    assert int(after["metadata"]["resourceVersion"]) > int(before)
    assert after == fake.get("Deployment", "team-a", "web")
    assert fake.writes == 1


def test_patch_removes_keys_set_to_null(fake: FakeKube, cluster: KubeCluster) -> None:
    key = "namespace-ctl.io/original-replicas"
    cluster.patch_workload(WEB, {"metadata": {"annotations": {key: "3", "keep": "me"}}})
    stored = cluster.patch_workload(WEB, {"metadata": {"annotations": {key: None}}})
    assert stored["metadata"]["annotations"] == {"keep": "me"}


def test_stale_resource_version_conflicts_without_change(
    fake: FakeKube, cluster: KubeCluster
) -> None:
    read = cluster.get_workload(WEB)
    fake.patch("Deployment", "team-a", "web", {"spec": {"replicas": 5}})  # someone else's edit
    fake.reset_counters()
    body = {"metadata": {"resourceVersion": read["metadata"]["resourceVersion"]}}
    with pytest.raises(ConflictError, match=r"409.*re-read") as info:
        cluster.patch_workload(WEB, {**body, "spec": {"replicas": 0}})
    assert info.value.status == 409
    assert replicas(fake) == 5 and fake.writes == 0
    assert fake.count("PATCH", "Deployment") == 1  # a conflict is never retried


def test_dry_run_does_not_store(fake: FakeKube, cluster: KubeCluster) -> None:
    before = fake.get("Deployment", "team-a", "web")
    planned = cluster.patch_workload(WEB, {"spec": {"replicas": 0}}, dry_run=True)
    assert planned["spec"]["replicas"] == 0
    assert fake.get("Deployment", "team-a", "web") == before and fake.writes == 0


@pytest.mark.parametrize(
    ("status", "retry_after"), [(429, None), (500, None), (502, None), (503, None), (504, 0)]
)
def test_transient_errors_are_retried_and_applied_once(
    fake: FakeKube, cluster: KubeCluster, status: int, retry_after: float | None
) -> None:
    fake.inject("PATCH", PATCH_WEB, status, times=2, retry_after=retry_after)
    assert cluster.patch_workload(WEB, {"spec": {"replicas": 0}})["spec"]["replicas"] == 0
    assert fake.count("PATCH", "Deployment") == 3 and fake.writes == 1 and replicas(fake) == 0


def test_retry_after_is_honoured(fake: FakeKube, cluster: KubeCluster) -> None:
    fake.inject("PATCH", PATCH_WEB, 429, retry_after=1)
    started = time.monotonic()
    cluster.patch_workload(WEB, {"spec": {"replicas": 0}})
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 3.0
    assert fake.count("PATCH", "Deployment") == 2 and fake.writes == 1


def test_backoff_is_jittered_exponential_and_retry_after_capped(
    fake: FakeKube, tmp_path: Path
) -> None:
    sleeps: list[float] = []
    kube = KubeCluster(
        ClusterSettings(kubeconfig=str(fake.write_kubeconfig(tmp_path / "kc")), retries=5),
        backoff_base=0.2,
        backoff_cap=1.0,
        retry_after_cap=30.0,
        sleep=sleeps.append,
    )
    fake.inject("PATCH", PATCH_WEB, 503, times=4)
    fake.inject("PATCH", PATCH_WEB, 429, retry_after=3600)
    kube.patch_workload(WEB, {"spec": {"replicas": 0}})
    ceilings = [0.2, 0.4, 0.8, 1.0]
    assert all(c / 2 <= s <= c for s, c in zip(sleeps, ceilings, strict=False))
    assert sleeps[4] == 30.0 and len(sleeps) == 5 and fake.writes == 1


def test_read_timeout_is_retried_and_applied_once(fake: FakeKube, cluster: KubeCluster) -> None:
    fake.inject("PATCH", PATCH_WEB, 504, delay=1.5)  # longer than request_timeout=0.5
    started = time.monotonic()
    assert cluster.patch_workload(WEB, {"spec": {"replicas": 0}})["spec"]["replicas"] == 0
    assert time.monotonic() - started < 1.4  # gave up waiting, did not sit out the delay
    assert fake.count("PATCH", "Deployment") == 2 and fake.writes == 1


def test_get_timeout_is_retried(fake: FakeKube, cluster: KubeCluster) -> None:
    fake.inject("GET", PATCH_WEB, 504, delay=1.0)
    assert cluster.get_workload(WEB)["metadata"]["name"] == "web"
    assert fake.count("GET", "Deployment") == 2


def test_retries_exhausted_is_unavailable_and_changes_nothing(
    fake: FakeKube, cluster: KubeCluster
) -> None:
    fake.inject("PATCH", PATCH_WEB, 503, times=10)
    with pytest.raises(
        ClusterUnavailableError, match=r"patch Deployment/team-a/web: HTTP 503"
    ) as info:
        cluster.patch_workload(WEB, {"spec": {"replicas": 0}})
    assert "6 attempt(s)" in str(info.value) and info.value.status == 503
    assert fake.count("PATCH", "Deployment") == 6  # 1 + retries=5: urllib3 added none
    assert replicas(fake) == 3 and fake.writes == 0


def test_zero_retries_means_one_attempt(fake: FakeKube, tmp_path: Path) -> None:
    kube = make_cluster(fake.write_kubeconfig(tmp_path / "kc"), retries=0)
    fake.inject("GET", PATCH_WEB, 503, retry_after=1)  # urllib3 would retry a GET with this
    with pytest.raises(ClusterUnavailableError):
        kube.get_workload(WEB)
    assert fake.count("GET", "Deployment") == 1


def test_other_client_errors_are_not_retried(fake: FakeKube, cluster: KubeCluster) -> None:
    fake.inject("PATCH", PATCH_WEB, 422)
    with pytest.raises(ClusterError, match="HTTP 422") as info:
        cluster.patch_workload(WEB, {"spec": {"replicas": 0}})
    assert type(info.value) is ClusterError and fake.count("PATCH", "Deployment") == 1


# --- gone, forbidden, unreachable, bad configuration ----------------------------------------


def test_deleted_namespace_is_not_found(fake: FakeKube, cluster: KubeCluster) -> None:
    fake.delete_namespace("team-a")
    with pytest.raises(NotFoundError, match=r"get Deployment/team-a/web: HTTP 404"):
        cluster.get_workload(WEB)
    with pytest.raises(NotFoundError) as info:
        cluster.patch_workload(WEB, {"spec": {"replicas": 0}})
    assert info.value.status == 404 and fake.get("Deployment", "team-a", "web") is None
    assert cluster.list_workloads(WorkloadKind.DEPLOYMENT) == []


def test_forbidden_namespace(fake: FakeKube, cluster: KubeCluster) -> None:
    fake.forbid_namespace("team-a")
    with pytest.raises(ForbiddenError, match=r"HTTP 403.*cannot patch.*RBAC") as info:
        cluster.patch_workload(WEB, {"spec": {"replicas": 0}})
    assert info.value.status == 403 and replicas(fake) == 3
    with pytest.raises(ForbiddenError):
        cluster.get_workload(WEB)
    assert fake.count("PATCH", "Deployment") == 1


def test_rejected_token_is_forbidden(fake: FakeKube, tmp_path: Path) -> None:
    kube = make_cluster(fake.write_kubeconfig(tmp_path / "kc", token="wrong"))
    with pytest.raises(ForbiddenError, match=r"HTTP 401.*credentials"):
        kube.list_namespaces()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_fails_fast_and_clearly(tmp_path: Path) -> None:
    port = _closed_port()
    kube = make_cluster(_kubeconfig(tmp_path, f"http://127.0.0.1:{port}"))
    started = time.monotonic()
    with pytest.raises(ClusterUnavailableError) as info:
        kube.list_workloads(WorkloadKind.DEPLOYMENT)
    assert time.monotonic() - started < 2.0
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "cannot connect" in message
    assert "6 attempt(s)" in message


def test_stopped_server_is_unavailable(fake: FakeKube, cluster: KubeCluster) -> None:
    cluster.get_workload(WEB)  # a pooled keep-alive connection now exists
    fake.stop()
    with pytest.raises(ClusterUnavailableError):
        cluster.get_workload(WEB)


def test_missing_kubeconfig_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ClusterUnavailableError, match=str(missing)):
        KubeCluster(ClusterSettings(kubeconfig=str(missing)))


def test_unknown_context_names_file_and_context(fake: FakeKube, tmp_path: Path) -> None:
    path = fake.write_kubeconfig(tmp_path / "kc")
    with pytest.raises(ClusterUnavailableError, match=r"kc \(context staging\).*staging"):
        KubeCluster(ClusterSettings(kubeconfig=str(path), context="staging"))


def test_garbage_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "kc"
    path.write_text("just a string\n")
    with pytest.raises(ClusterUnavailableError, match="cannot load kubeconfig"):
        KubeCluster(ClusterSettings(kubeconfig=str(path)))


def test_own_configuration_not_the_global_default(fake: FakeKube, cluster: KubeCluster) -> None:
    port: Cluster = cluster  # mypy checks that KubeCluster implements the protocol
    assert port.concurrency == 32
    configuration = cluster._api_client.configuration
    assert configuration is not k8s.Configuration.get_default()
    assert configuration.connection_pool_maxsize >= cluster.concurrency == 32
    assert configuration.host == fake.url


# --- concurrency ------------------------------------------------------------------------------


def test_concurrent_patches_each_applied_once(fake: FakeKube, cluster: KubeCluster) -> None:
    refs = [
        WorkloadRef(kind=WorkloadKind.DEPLOYMENT, namespace=f"n{i % 5}", name=f"d{i}")
        for i in range(200)
    ]
    for ref in refs:
        fake.add(workload("Deployment", ref.namespace, ref.name, replicas=2))
    fake.inject("PATCH", r"/deployments/d1\d$", 503)  # some transient failures in the mix
    fake.latency = 0.002
    fake.reset_counters()
    with ThreadPoolExecutor(max_workers=cluster.concurrency) as pool:
        results = list(
            pool.map(lambda r: cluster.patch_workload(r, {"spec": {"replicas": 0}}), refs)
        )
    assert all(r["spec"]["replicas"] == 0 for r in results)
    assert fake.writes == 200
    assert all(replicas(fake, ns=r.namespace, name=r.name) == 0 for r in refs)


def test_token_refresh_hook_runs_at_most_once_per_interval() -> None:
    """The loader's hook re-applies the kubeconfig before every request; ours throttles it."""
    from concurrent.futures import ThreadPoolExecutor

    from core.cluster import kube

    calls: list[object] = []

    def loader_hook(conf: k8s.Configuration) -> None:  # like kube_config's: re-installs itself
        calls.append(conf)
        conf.refresh_api_key_hook = loader_hook

    configuration = k8s.Configuration()
    configuration.refresh_api_key_hook = loader_hook
    kube._throttle_token_refresh(configuration)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: configuration.refresh_api_key_hook(configuration), range(200)))
    assert calls == [configuration]


def test_requests_through_the_real_loader_refresh_the_token_once(
    fake: FakeKube, cluster: KubeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes.config import kube_config

    applied: list[object] = []
    real_set_config = kube_config.KubeConfigLoader._set_config
    monkeypatch.setattr(
        kube_config.KubeConfigLoader,
        "_set_config",
        lambda self, conf: applied.append(conf) or real_set_config(self, conf),
    )
    for _ in range(30):
        cluster.get_workload(WEB)
    assert len(applied) <= 1


def test_status_never_imports_the_clients_generated_apis_or_models(
    fake: FakeKube, tmp_path: Path
) -> None:
    """Their import builds hundreds of pydantic model classes (about 0.6 s of every CLI call,
    bench/cold_start.py) that namespace-ctl never uses: it reads raw JSON."""
    config = tmp_path / "config.yaml"
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    config.write_text(f"cluster:\n  kubeconfig: {kubeconfig}\nstore:\n  path: {tmp_path}/a.db\n")
    probe = (
        "import sys, bot.cli\n"
        f"code = bot.cli.main(['--config', {str(config)!r}, 'status'])\n"
        "loaded = [m for m in sys.modules if m.startswith('kubernetes.client.')]\n"
        "heavy = [m for m in loaded if '.api.' in m or '.models.' in m]\n"
        "print(repr((code, len(loaded), heavy)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    code, loaded, heavy = ast.literal_eval(done.stderr.strip().splitlines()[-1])
    assert code == 0, done.stdout + done.stderr
    assert "team-a" in done.stdout  # it did read the cluster: the namespace is listed
    assert loaded > 0 and heavy == []
