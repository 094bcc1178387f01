"""The simulated cluster: manifest loading, API-server patch semantics, persistence, threads."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.cluster.base import Cluster
from core.cluster.simulated import SIMULATED_NODES, SimulatedCluster, strategic_merge
from core.errors import ClusterError, ConfigError, ConflictError, NotFoundError
from core.models import OutcomeStatus, WorkloadKind, WorkloadRef
from core.scaling.base import ORIGINAL_REPLICAS, SLEEPING_NODE_LABEL
from core.scaling.registry import strategy_for

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cluster.yaml"
WORKLOAD_KINDS = {kind.value for kind in WorkloadKind}

Obj = dict[str, Any]


def ref(kind: WorkloadKind, namespace: str, name: str) -> WorkloadRef:
    return WorkloadRef(kind=kind, namespace=namespace, name=name)


def deployment(namespace: str, name: str, replicas: Any = 2, **meta: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}, **meta},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": "registry.example/app:1",
                            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
                        }
                    ]
                },
            },
        },
    }


def daemonset(namespace: str, name: str, status: Obj | None = None) -> Obj:
    obj = deployment(namespace, name)
    obj["kind"] = "DaemonSet"
    del obj["spec"]["replicas"]
    obj["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/os": "linux"}
    if status is not None:
        obj["status"] = status
    return obj


def write(path: Path, *documents: Any) -> Path:
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def small(tmp_path: Path) -> SimulatedCluster:
    manifests = write(
        tmp_path / "small.yaml",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
        deployment("team", "api", 3),
        deployment("team", "worker", 1),
        daemonset("team", "agent"),
    )
    return SimulatedCluster.from_manifests([manifests])


API = ref(WorkloadKind.DEPLOYMENT, "team", "api")


# ---- loading -------------------------------------------------------------------------------------


def test_loads_every_object_of_the_example_cluster() -> None:
    documents = [d for d in yaml.safe_load_all(EXAMPLE.read_text(encoding="utf-8")) if d]
    cluster = SimulatedCluster.from_manifests([EXAMPLE])
    typed: Cluster = cluster
    expected_namespaces = {d["metadata"]["name"] for d in documents if d["kind"] == "Namespace"}
    expected = {
        (d["kind"], d["metadata"]["namespace"], d["metadata"]["name"])
        for d in documents
        if d["kind"] in WORKLOAD_KINDS
    }
    loaded = {
        (kind.value, o["metadata"]["namespace"], o["metadata"]["name"])
        for kind in WorkloadKind
        for o in typed.list_workloads(kind)
    }
    assert loaded == expected
    assert {n.name for n in typed.list_namespaces()} == expected_namespaces
    assert len(expected_namespaces) >= 10 and len(expected) >= 30
    for kind in WorkloadKind:  # a realistic cluster has every kind
        assert any(k == kind.value for k, _, _ in expected)

    versions = [
        o["metadata"]["resourceVersion"] for k in WorkloadKind for o in cluster.list_workloads(k)
    ]
    assert len(set(versions)) == len(versions)
    by_name = {n.name: n for n in cluster.list_namespaces()}
    assert by_name["shared-services"].annotations == {"namespace-ctl.io/exclude": "true"}
    trainer = cluster.get_workload(ref(WorkloadKind.DEPLOYMENT, "ml-training", "trainer"))
    assert trainer["spec"]["replicas"] == 0
    backfill = cluster.get_workload(ref(WorkloadKind.CRONJOB, "data-pipeline", "backfill-2025"))
    assert backfill["spec"]["suspend"] is True
    shipper = cluster.get_workload(ref(WorkloadKind.DAEMONSET, "data-pipeline", "log-shipper"))
    assert shipper["status"]["desiredNumberScheduled"] == SIMULATED_NODES
    coredns = cluster.get_workload(ref(WorkloadKind.DEPLOYMENT, "kube-system", "coredns"))
    assert coredns["status"]["replicas"] == 2 and coredns["metadata"]["uid"]


def test_example_cluster_has_the_interesting_cases() -> None:
    cluster = SimulatedCluster.from_manifests([EXAMPLE])
    snapshots = {
        (kind, o["metadata"]["namespace"], o["metadata"]["name"]): strategy_for(kind).snapshot(o)
        for kind in WorkloadKind
        for o in cluster.list_workloads(kind)
    }
    without_requests = [key for key, snap in snapshots.items() if not snap.has_requests]
    assert without_requests == [(WorkloadKind.DEPLOYMENT, "mobile-backend", "push-notifier")]
    plans = {
        key: strategy_for(key[0])
        .plan_sleep(cluster.get_workload(ref(key[0], key[1], key[2])))
        .status
        for key in snapshots
    }
    unchanged = sorted(key[2] for key, status in plans.items() if status is OutcomeStatus.UNCHANGED)
    assert unchanged == ["backfill-2025", "trainer"]


def test_a_workload_namespace_exists_without_a_namespace_document(tmp_path: Path) -> None:
    cluster = SimulatedCluster.from_manifests([write(tmp_path / "m.yaml", deployment("solo", "a"))])
    assert [n.name for n in cluster.list_namespaces()] == ["solo"]
    assert cluster.get_workload(ref(WorkloadKind.DEPLOYMENT, "solo", "a"))["spec"]["replicas"] == 2


def test_list_items_directories_defaults_and_other_kinds(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    listed = {"apiVersion": "v1", "kind": "List", "items": [deployment("a", "one", None)]}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "b"}}
    write(folder / "1.yaml", listed, None, service)
    no_namespace = deployment("x", "two")
    del no_namespace["metadata"]["namespace"]
    write(folder / "2.yml", no_namespace)
    (folder / "README.md").write_text("not a manifest", encoding="utf-8")
    cluster = SimulatedCluster.from_manifests([folder])
    assert [n.name for n in cluster.list_namespaces()] == ["a", "b", "default"]
    one = cluster.get_workload(ref(WorkloadKind.DEPLOYMENT, "a", "one"))
    assert one["spec"]["replicas"] == 1  # the API server's default
    assert one["status"]["replicas"] == 1
    assert cluster.get_workload(ref(WorkloadKind.DEPLOYMENT, "default", "two"))


BAD_MANIFESTS = [
    (
        "kind: Namespace\nmetadata: {name: ok}\n---\nkind: [unclosed\n",
        "document 2",
        "not valid YAML",
    ),
    ("---\nmetadata: {name: x}\n", "document 1", "no kind"),
    ("kind: Namespace\nmetadata: {}\n", "document 1", "metadata.name"),
    ("- just\n- a list\n", "document 1", "not a Kubernetes object"),
    ("kind: List\nitems: {}\n", "document 1", "list of items"),
]


@pytest.mark.parametrize(("text", "where", "what"), BAD_MANIFESTS)
def test_malformed_yaml_is_a_config_error_naming_file_and_document(
    tmp_path: Path, text: str, where: str, what: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        SimulatedCluster.from_manifests([path])
    message = str(caught.value)
    assert str(path) in message and where in message and what in message


def _bad(**changes: Any) -> Obj:
    obj = deployment("team", "api")
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = obj
        for part in parents:
            node = node[part]
        node[last] = value
    return obj


BAD_WORKLOADS = [
    (_bad(spec__replicas="three"), "spec.replicas"),
    (_bad(spec__replicas=-1), "spec.replicas"),
    (_bad(apiVersion="extensions/v1beta1"), "apps/v1"),
    (_bad(metadata__annotations={"namespace-ctl.io/exclude": True}), "must be a string"),
    (_bad(metadata__name="Not_Valid"), "metadata.name"),
    (_bad(spec__selector={"matchLabels": {"app": "other"}}), "does not match"),
    (_bad(spec__template={"metadata": {"labels": {"app": "api"}}, "spec": {}}), "containers"),
    (
        _bad(
            spec__template__spec__containers=[
                {"name": "c", "resources": {"requests": {"cpu": "lots"}}}
            ]
        ),
        "lots",
    ),
]


@pytest.mark.parametrize(("bad", "what"), BAD_WORKLOADS)
def test_unsupported_workload_shapes_are_config_errors(tmp_path: Path, bad: Obj, what: str) -> None:
    path = write(
        tmp_path / "bad.yaml",
        deployment("team", "fine"),
        {"kind": "ConfigMap", "metadata": {"name": "c"}},
        bad,
    )
    with pytest.raises(ConfigError) as caught:
        SimulatedCluster.from_manifests([path])
    message = str(caught.value)
    assert str(path) in message and "document 3" in message and what in message


def test_bad_list_item_and_duplicates_are_named(tmp_path: Path) -> None:
    listed = {"kind": "List", "items": [deployment("a", "x"), _bad(spec__replicas="three")]}
    path = write(tmp_path / "list.yaml", listed)
    with pytest.raises(ConfigError, match=r"document 1, item 2: Deployment team/api"):
        SimulatedCluster.from_manifests([path])
    twice = write(tmp_path / "twice.yaml", deployment("a", "x"), deployment("a", "x"))
    with pytest.raises(ConfigError, match=r"document 2.*defined twice"):
        SimulatedCluster.from_manifests([twice])


def test_a_missing_manifest_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        SimulatedCluster.from_manifests([tmp_path / "nope.yaml"])


# ---- patch semantics -----------------------------------------------------------------------------


def test_strategic_merge_on_maps() -> None:
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2], "keep": "x"}
    assert strategic_merge(target, {"a": {"b": None}, "l": [3]}) == {
        "a": {"c": 2},
        "l": [3],
        "keep": "x",
    }
    assert strategic_merge(target, {"a": {"b": None, "c": None}}) == {"l": [1, 2], "keep": "x"}
    assert strategic_merge(target, {"a": {"$patch": "replace", "z": 1}})["a"] == {"z": 1}
    assert "a" not in strategic_merge(target, {"a": {"$patch": "delete"}})
    assert target == {"a": {"b": 1, "c": 2}, "l": [1, 2], "keep": "x"}


def test_patch_merges_bumps_the_version_and_null_deletes(small: SimulatedCluster) -> None:
    before = small.get_workload(API)
    after = small.patch_workload(
        API,
        {
            "metadata": {
                "annotations": {ORIGINAL_REPLICAS: "3"},
                "resourceVersion": before["metadata"]["resourceVersion"],
            },
            "spec": {"replicas": 0},
        },
    )
    assert after["spec"]["replicas"] == 0 and after["status"]["replicas"] == 0
    assert after["metadata"]["annotations"] == {ORIGINAL_REPLICAS: "3"}
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert small.get_workload(API) == after

    woke = small.patch_workload(
        API, {"metadata": {"annotations": {ORIGINAL_REPLICAS: None}}, "spec": {"replicas": 3}}
    )
    assert "annotations" not in woke["metadata"]  # emptied, so gone (as the API server omits it)
    assert woke["spec"] == before["spec"]


def test_a_patch_that_changes_nothing_keeps_the_resource_version(small: SimulatedCluster) -> None:
    before = small.get_workload(API)
    assert small.patch_workload(API, {"spec": {"replicas": 3}}) == before
    assert small.patch_workload(API, {"status": {"replicas": 9}}) == before


def test_stale_resource_version_is_a_conflict(small: SimulatedCluster) -> None:
    stale = small.get_workload(API)["metadata"]["resourceVersion"]
    small.set_replicas(API, 5)  # someone scales it by hand
    with pytest.raises(ConflictError) as caught:
        small.patch_workload(API, {"metadata": {"resourceVersion": stale}, "spec": {"replicas": 0}})
    assert caught.value.status == 409
    assert small.get_workload(API)["spec"]["replicas"] == 5
    current = small.get_workload(API)["metadata"]["resourceVersion"]
    patched = small.patch_workload(
        API, {"metadata": {"resourceVersion": current}, "spec": {"replicas": 0}}
    )
    assert patched["spec"]["replicas"] == 0


def test_not_found_and_delete_namespace(small: SimulatedCluster) -> None:
    with pytest.raises(NotFoundError):
        small.get_workload(ref(WorkloadKind.DEPLOYMENT, "team", "ghost"))
    with pytest.raises(NotFoundError):
        small.patch_workload(ref(WorkloadKind.STATEFULSET, "team", "api"), {"spec": {}})
    small.delete_namespace("team")
    assert small.list_namespaces() == []
    assert all(small.list_workloads(kind) == [] for kind in WorkloadKind)
    with pytest.raises(NotFoundError) as caught:
        small.patch_workload(API, {"spec": {"replicas": 0}})
    assert caught.value.status == 404
    with pytest.raises(NotFoundError):
        small.get_workload(API)
    with pytest.raises(NotFoundError):
        small.delete_namespace("team")


def test_dry_run_returns_the_result_without_storing_it(small: SimulatedCluster) -> None:
    before = small.get_workload(API)
    result = small.patch_workload(API, {"spec": {"replicas": 0}}, dry_run=True)
    assert result["spec"]["replicas"] == 0
    assert small.get_workload(API) == before


def test_invalid_results_are_refused_with_422(small: SimulatedCluster) -> None:
    before = small.get_workload(API)
    for body in (
        {"spec": {"replicas": -1}},
        {"spec": {"replicas": "three"}},
        {"metadata": {"annotations": {ORIGINAL_REPLICAS: 3}}},
        {"metadata": {"name": "renamed"}},
    ):
        with pytest.raises(ClusterError) as caught:
            small.patch_workload(API, body)
        assert caught.value.status == 422
    assert small.get_workload(API) == before


def test_daemonset_schedules_on_no_node_while_the_sleeping_key_is_there(
    small: SimulatedCluster,
) -> None:
    agent = ref(WorkloadKind.DAEMONSET, "team", "agent")
    strategy = strategy_for(WorkloadKind.DAEMONSET)
    assert small.get_workload(agent)["status"]["desiredNumberScheduled"] == SIMULATED_NODES
    plan = strategy.plan_sleep(small.get_workload(agent))
    assert plan.patch is not None
    asleep = small.patch_workload(agent, plan.patch)
    assert asleep["spec"]["template"]["spec"]["nodeSelector"][SLEEPING_NODE_LABEL] == "true"
    assert asleep["status"]["desiredNumberScheduled"] == 0
    wake = strategy.plan_wake(asleep)
    assert wake.patch is not None
    awake = small.patch_workload(agent, wake.patch)
    assert awake["spec"]["template"]["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert awake["status"]["desiredNumberScheduled"] == SIMULATED_NODES


def test_daemonset_keeps_a_node_count_given_in_its_manifest(tmp_path: Path) -> None:
    path = write(tmp_path / "ds.yaml", daemonset("t", "big", {"desiredNumberScheduled": 7}))
    cluster = SimulatedCluster.from_manifests([path])
    agent = ref(WorkloadKind.DAEMONSET, "t", "big")
    assert cluster.get_workload(agent)["status"]["desiredNumberScheduled"] == 7


def test_set_replicas_scales_like_kubectl(small: SimulatedCluster) -> None:
    scaled = small.set_replicas(API, 6)
    assert scaled["spec"]["replicas"] == 6 and scaled["status"]["replicas"] == 6
    with pytest.raises(ValueError):
        small.set_replicas(ref(WorkloadKind.DAEMONSET, "team", "agent"), 2)


def test_returned_objects_are_copies(small: SimulatedCluster) -> None:
    obj = small.get_workload(API)
    obj["spec"]["replicas"] = 99
    small.list_workloads(WorkloadKind.DEPLOYMENT)[0]["spec"]["replicas"] = 99
    assert small.get_workload(API)["spec"]["replicas"] == 3


# ---- persistence ---------------------------------------------------------------------------------


def test_state_is_persisted_and_reloaded_by_a_new_instance(tmp_path: Path) -> None:
    manifests = write(tmp_path / "m.yaml", deployment("team", "api", 3), deployment("b", "web"))
    state = tmp_path / "state" / "cluster.json"
    first = SimulatedCluster.from_manifests([manifests], state_path=state)
    assert not state.exists()  # nothing changed yet
    first.patch_workload(API, {"metadata": {"annotations": {ORIGINAL_REPLICAS: "3"}}})
    first.set_replicas(API, 0)
    first.delete_namespace("b")
    assert json.loads(state.read_text(encoding="utf-8"))["version"] == 1
    assert [p.name for p in state.parent.iterdir() if p.suffix == ".tmp"] == []

    manifests.unlink()  # the state file is read instead of the manifests
    second = SimulatedCluster.from_manifests([manifests], state_path=state)
    assert second.get_workload(API) == first.get_workload(API)
    assert [n.name for n in second.list_namespaces()] == ["team"]
    last = int(second.get_workload(API)["metadata"]["resourceVersion"])
    after = second.set_replicas(API, 2)
    assert int(after["metadata"]["resourceVersion"]) == last + 1  # the counter goes on


def test_a_live_instance_sees_another_process_changes(tmp_path: Path) -> None:
    manifests = write(tmp_path / "m.yaml", deployment("team", "api", 3))
    state = tmp_path / "cluster.json"
    bot = SimulatedCluster.from_manifests([manifests], state_path=state)
    cli = SimulatedCluster.from_manifests([manifests], state_path=state)
    cli.set_replicas(API, 1)
    assert bot.get_workload(API)["spec"]["replicas"] == 1
    bot.set_replicas(API, 4)
    assert cli.get_workload(API)["spec"]["replicas"] == 4


def test_dry_run_writes_no_state(tmp_path: Path) -> None:
    manifests = write(tmp_path / "m.yaml", deployment("team", "api", 3))
    state = tmp_path / "cluster.json"
    cluster = SimulatedCluster.from_manifests([manifests], state_path=state)
    cluster.patch_workload(API, {"spec": {"replicas": 0}}, dry_run=True)
    assert not state.exists()


def test_an_unreadable_state_file_is_a_config_error(tmp_path: Path) -> None:
    state = tmp_path / "cluster.json"
    state.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=str(state)):
        SimulatedCluster.from_manifests([EXAMPLE], state_path=state)


# ---- threads -------------------------------------------------------------------------------------


@pytest.mark.parametrize("persist", [False, True])
def test_concurrent_patches_from_16_threads_are_all_applied(tmp_path: Path, persist: bool) -> None:
    names = [f"app-{i:02d}" for i in range(16)]
    manifests = write(
        tmp_path / "m.yaml",
        deployment("shared", "hub", 1),
        *(deployment("team", n, 2) for n in names),
    )
    state = tmp_path / "cluster.json" if persist else None
    cluster = SimulatedCluster.from_manifests([manifests], state_path=state, concurrency=16)
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            own = ref(WorkloadKind.DEPLOYMENT, "team", names[i])
            obj = cluster.get_workload(own)
            plan = strategy_for(WorkloadKind.DEPLOYMENT).plan_sleep(obj)
            assert plan.patch is not None
            cluster.patch_workload(own, plan.patch)  # with its resourceVersion precondition
            shared = ref(WorkloadKind.DEPLOYMENT, "shared", "hub")
            for _ in range(5):  # everyone also annotates one shared object, without precondition
                cluster.patch_workload(
                    shared, {"metadata": {"annotations": {f"example.com/t{i}": str(i)}}}
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    def check(c: SimulatedCluster) -> None:
        objects = [
            o
            for o in c.list_workloads(WorkloadKind.DEPLOYMENT)
            if o["metadata"]["namespace"] == "team"
        ]
        assert [o["spec"]["replicas"] for o in objects] == [0] * 16
        assert all(o["metadata"]["annotations"][ORIGINAL_REPLICAS] == "2" for o in objects)
        shared = c.get_workload(ref(WorkloadKind.DEPLOYMENT, "shared", "hub"))
        assert {f"example.com/t{i}" for i in range(16)} <= set(shared["metadata"]["annotations"])
        versions = [o["metadata"]["resourceVersion"] for o in objects]
        assert len(set(versions)) == 16

    check(cluster)
    if state is not None:
        check(SimulatedCluster.from_manifests([manifests], state_path=state))
