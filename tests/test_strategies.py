"""The sleep and wake strategies, per kind, on plain Kubernetes JSON objects.

Patches are checked by applying them with a strategic merge of our own (`apply`), written here
independently of the simulated cluster's.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.models import OutcomeStatus, WorkloadKind
from core.scaling.base import (
    ANNOTATION_PREFIX,
    ORIGINAL_NODE_SELECTOR,
    ORIGINAL_REPLICAS,
    ORIGINAL_SUSPEND,
    SLEEPING_NODE_LABEL,
    Plan,
    WorkloadStrategy,
)
from core.scaling.cronjob import CRONJOB
from core.scaling.daemonset import DAEMONSET
from core.scaling.deployment import DEPLOYMENT, ReplicaStrategy
from core.scaling.quantities import QuantityError, parse_quantity, pod_requests
from core.scaling.registry import STRATEGIES, strategy_for
from core.scaling.statefulset import STATEFULSET

Obj = dict[str, Any]
CHANGED, UNCHANGED, DRIFT, FAILED = (
    OutcomeStatus.CHANGED,
    OutcomeStatus.UNCHANGED,
    OutcomeStatus.DRIFT,
    OutcomeStatus.FAILED,
)
REPLICA_STRATEGIES = [DEPLOYMENT, STATEFULSET]
GARBAGE_COUNTS = [
    "abc",
    "-1",
    "3.5",
    "",
    " 3",
    "3 ",
    "+3",
    "1e3",
    "0x10",
    "٣",
    "99999999999",
    "null",
]


# ---- builders and a strategic merge of our own ---------------------------------------------------


def _pod(cpu: str | None = "250m", memory: str | None = "256Mi") -> Obj:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: Obj = {"name": "app", "image": "registry.example/app:1"}
    if requests:
        container["resources"] = {"requests": requests}
    return {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [container]}}


def _meta(annotations: dict[str, str] | None, rv: str | None = "42") -> Obj:
    meta: Obj = {"name": "x", "namespace": "team", "labels": {"app": "x"}}
    if rv is not None:
        meta["resourceVersion"] = rv
    if annotations is not None:
        meta["annotations"] = dict(annotations)
    return meta


def replica_obj(
    replicas: int | None = 3,
    annotations: dict[str, str] | None = None,
    kind: str = "Deployment",
    rv: str | None = "42",
) -> Obj:
    spec: Obj = {"selector": {"matchLabels": {"app": "x"}}, "template": _pod()}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": _meta(annotations, rv), "spec": spec}


def daemonset_obj(
    selector: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    scheduled: int | None = 3,
) -> Obj:
    template = _pod("100m", "128Mi")
    if selector is not None:
        template["spec"]["nodeSelector"] = dict(selector)
    obj: Obj = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta(annotations),
        "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": template},
    }
    if scheduled is not None:
        obj["status"] = {"desiredNumberScheduled": scheduled}
    return obj


def cronjob_obj(suspend: bool | None = False, annotations: dict[str, str] | None = None) -> Obj:
    spec: Obj = {
        "schedule": "*/5 * * * *",
        "jobTemplate": {"spec": {"template": _pod("500m", "1Gi")}},
    }
    if suspend is not None:
        spec["suspend"] = suspend
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _meta(annotations),
        "spec": spec,
    }


def merge(target: Any, patch: Any) -> Any:
    """Strategic merge on maps: recursive, None deletes, a map emptied by deletions disappears."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            child = merge(out.get(key), value)
            if child or not any(v is None for v in value.values()):
                out[key] = child
            else:
                out.pop(key, None)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply(obj: Obj, plan: Plan) -> Obj:
    """The object after `plan`, checking the patch's resourceVersion precondition."""
    if plan.patch is None:
        return copy.deepcopy(obj)
    assert plan.patch["metadata"].get("resourceVersion") == obj["metadata"].get("resourceVersion")
    result: Obj = merge(obj, plan.patch)
    return result


def ours(obj: Obj) -> dict[str, str]:
    annotations = obj["metadata"].get("annotations") or {}
    return {k: v for k, v in annotations.items() if k.startswith(ANNOTATION_PREFIX)}


def selector_of(obj: Obj) -> dict[str, str] | None:
    selector: dict[str, str] | None = obj["spec"]["template"]["spec"].get("nodeSelector")
    return selector


# ---- Deployment / StatefulSet --------------------------------------------------------------------


@pytest.fixture(params=REPLICA_STRATEGIES, ids=lambda s: s.kind.value)
def replicas(request: pytest.FixtureRequest) -> ReplicaStrategy:
    strategy: ReplicaStrategy = request.param
    return strategy


def test_sleep_scales_to_zero_and_keeps_the_count_in_the_same_patch(
    replicas: ReplicaStrategy,
) -> None:
    plan = replicas.plan_sleep(replica_obj(3, kind=replicas.kind.value))
    assert plan.status is CHANGED
    assert plan.detail == "replicas 3 -> 0"
    assert plan.patch == {
        "metadata": {"annotations": {ORIGINAL_REPLICAS: "3"}, "resourceVersion": "42"},
        "spec": {"replicas": 0},
    }


def test_missing_replicas_count_as_one(replicas: ReplicaStrategy) -> None:
    plan = replicas.plan_sleep(replica_obj(None))
    assert plan.status is CHANGED
    assert plan.patch is not None
    assert plan.patch["metadata"]["annotations"] == {ORIGINAL_REPLICAS: "1"}
    assert replicas.snapshot(replica_obj(None)).replicas == 1


def test_already_at_zero_is_left_alone_without_annotation(replicas: ReplicaStrategy) -> None:
    plan = replicas.plan_sleep(replica_obj(0))
    assert (plan.status, plan.patch, plan.detail) == (UNCHANGED, None, "already at 0")
    assert replicas.plan_wake(replica_obj(0)).status is UNCHANGED


def test_asleep_at_zero_is_unchanged(replicas: ReplicaStrategy) -> None:
    for annotation in ("3", "garbage"):
        plan = replicas.plan_sleep(replica_obj(0, {ORIGINAL_REPLICAS: annotation}))
        assert (plan.status, plan.patch) == (UNCHANGED, None)


@pytest.mark.parametrize("old", ["3", "0", "abc", ""])
def test_scaled_up_while_asleep_is_drift_and_the_new_count_wins(
    replicas: ReplicaStrategy, old: str
) -> None:
    plan = replicas.plan_sleep(replica_obj(5, {ORIGINAL_REPLICAS: old}))
    assert plan.status is DRIFT
    assert plan.patch == {
        "metadata": {"annotations": {ORIGINAL_REPLICAS: "5"}, "resourceVersion": "42"},
        "spec": {"replicas": 0},
    }
    assert "5" in plan.detail


def test_wake_restores_the_count_and_removes_the_annotation(replicas: ReplicaStrategy) -> None:
    plan = replicas.plan_wake(replica_obj(0, {ORIGINAL_REPLICAS: "3"}))
    assert plan.status is CHANGED
    assert plan.detail == "replicas 0 -> 3"
    assert plan.patch == {
        "metadata": {"annotations": {ORIGINAL_REPLICAS: None}, "resourceVersion": "42"},
        "spec": {"replicas": 3},
    }


def test_wake_keeps_a_count_changed_while_asleep(replicas: ReplicaStrategy) -> None:
    for annotation in ("3", "garbage"):
        plan = replicas.plan_wake(replica_obj(5, {ORIGINAL_REPLICAS: annotation}))
        assert plan.status is CHANGED
        assert plan.detail == "kept 5 (changed while asleep)"
        assert plan.patch == {
            "metadata": {"annotations": {ORIGINAL_REPLICAS: None}, "resourceVersion": "42"}
        }


def test_wake_without_annotation_is_unchanged(replicas: ReplicaStrategy) -> None:
    for count in (0, 3):
        plan = replicas.plan_wake(replica_obj(count, {"team.example/owner": "ana"}))
        assert (plan.status, plan.patch) == (UNCHANGED, None)


@pytest.mark.parametrize("garbage", GARBAGE_COUNTS)
def test_wake_with_a_garbage_annotation_fails_and_invents_nothing(
    replicas: ReplicaStrategy, garbage: str
) -> None:
    plan = replicas.plan_wake(replica_obj(0, {ORIGINAL_REPLICAS: garbage}))
    assert (plan.status, plan.patch) == (FAILED, None)
    assert ORIGINAL_REPLICAS in plan.detail
    assert json.dumps(garbage) in plan.detail
    assert "by hand" in plan.detail


def test_patch_has_no_precondition_when_the_object_has_no_resource_version(
    replicas: ReplicaStrategy,
) -> None:
    plan = replicas.plan_sleep(replica_obj(2, rv=None))
    assert plan.patch is not None
    assert "resourceVersion" not in plan.patch["metadata"]


def test_replicas_that_are_not_a_number_fail(replicas: ReplicaStrategy) -> None:
    obj = replica_obj(3)
    obj["spec"]["replicas"] = "three"
    assert replicas.plan_sleep(obj).status is FAILED
    obj["metadata"]["annotations"] = {ORIGINAL_REPLICAS: "3"}
    assert replicas.plan_wake(obj).status is FAILED


def test_replica_is_sleeping_and_snapshot(replicas: ReplicaStrategy) -> None:
    assert not replicas.is_sleeping(replica_obj(3))
    assert replicas.is_sleeping(replica_obj(0, {ORIGINAL_REPLICAS: "3"}))
    assert replicas.snapshot(replica_obj(3)).replicas == 3
    assert replicas.snapshot(replica_obj(0, {ORIGINAL_REPLICAS: "4"})).replicas == 4
    assert replicas.snapshot(replica_obj(0, {ORIGINAL_REPLICAS: "abc"})).replicas == 0
    assert replicas.snapshot(replica_obj(6, {ORIGINAL_REPLICAS: "4"})).replicas == 6
    snap = replicas.snapshot(replica_obj(3))
    assert snap.kind is replicas.kind and snap.name == "x"
    assert (snap.cpu_cores, snap.memory_gib, snap.has_requests) == (0.25, 0.25, True)


# ---- DaemonSet -----------------------------------------------------------------------------------


@pytest.mark.parametrize("selector", [None, {}, {"kubernetes.io/os": "linux", "pool": "general"}])
def test_daemonset_sleep_merges_the_sleeping_key_and_keeps_the_selector(
    selector: dict[str, str] | None,
) -> None:
    obj = daemonset_obj(selector)
    plan = DAEMONSET.plan_sleep(obj)
    assert plan.status is CHANGED
    assert plan.patch is not None
    assert plan.patch["metadata"]["resourceVersion"] == "42"
    stored = plan.patch["metadata"]["annotations"][ORIGINAL_NODE_SELECTOR]
    assert json.loads(stored) == (selector or {})
    asleep = apply(obj, plan)
    assert selector_of(asleep) == {**(selector or {}), SLEEPING_NODE_LABEL: "true"}
    assert DAEMONSET.is_sleeping(asleep)


def test_daemonset_with_no_selector_stores_empty_json() -> None:
    plan = DAEMONSET.plan_sleep(daemonset_obj())
    assert plan.patch is not None
    assert plan.patch["metadata"]["annotations"][ORIGINAL_NODE_SELECTOR] == "{}"


@pytest.mark.parametrize("selector", [None, {"kubernetes.io/os": "linux", "pool": "general"}])
def test_daemonset_wake_restores_the_selector_exactly(selector: dict[str, str] | None) -> None:
    obj = daemonset_obj(selector)
    asleep = apply(obj, DAEMONSET.plan_sleep(obj))
    assert DAEMONSET.plan_sleep(asleep).status is UNCHANGED
    plan = DAEMONSET.plan_wake(asleep)
    assert (plan.status, plan.detail) == (CHANGED, "nodeSelector restored")
    assert apply(asleep, plan) == obj


@pytest.mark.parametrize("before", [None, {"pool": "general"}])
def test_daemonset_selector_key_added_while_asleep_is_kept_at_wake(
    before: dict[str, str] | None,
) -> None:
    """Issue 15: a key added while asleep was dropped at wake (README: a workload changed while
    asleep keeps its new value)."""
    obj = daemonset_obj(before)
    asleep = apply(obj, DAEMONSET.plan_sleep(obj))
    asleep["spec"]["template"]["spec"]["nodeSelector"]["zone"] = "b"
    plan = DAEMONSET.plan_wake(asleep)
    assert (plan.status, plan.detail) == (
        CHANGED,
        "nodeSelector restored with the changes made while asleep",
    )
    awake = apply(asleep, plan)
    assert selector_of(awake) == {**(before or {}), "zone": "b"}
    assert ORIGINAL_NODE_SELECTOR not in ours(awake)


def test_daemonset_selector_value_changed_while_asleep_keeps_the_new_value() -> None:
    obj = daemonset_obj({"pool": "general"})
    asleep = apply(obj, DAEMONSET.plan_sleep(obj))
    asleep["spec"]["template"]["spec"]["nodeSelector"]["pool"] = "gpu"
    assert selector_of(apply(asleep, DAEMONSET.plan_wake(asleep))) == {"pool": "gpu"}


def test_daemonset_sleeping_key_removed_while_asleep_is_drift() -> None:
    asleep = daemonset_obj(
        {"pool": "gpu", SLEEPING_NODE_LABEL: "true"}, {ORIGINAL_NODE_SELECTOR: '{"pool":"a"}'}
    )
    del asleep["spec"]["template"]["spec"]["nodeSelector"][SLEEPING_NODE_LABEL]
    plan = DAEMONSET.plan_sleep(asleep)
    assert plan.status is DRIFT
    again = apply(asleep, plan)
    assert selector_of(again) == {"pool": "gpu", SLEEPING_NODE_LABEL: "true"}
    assert json.loads(ours(again)[ORIGINAL_NODE_SELECTOR]) == {"pool": "gpu"}
    assert selector_of(apply(again, DAEMONSET.plan_wake(again))) == {"pool": "gpu"}


def test_daemonset_wake_keeps_a_selector_changed_while_asleep() -> None:
    obj = daemonset_obj({"pool": "gpu"}, {ORIGINAL_NODE_SELECTOR: '{"pool":"a"}'})
    plan = DAEMONSET.plan_wake(obj)
    assert plan.status is CHANGED
    assert plan.patch == {
        "metadata": {"annotations": {ORIGINAL_NODE_SELECTOR: None}, "resourceVersion": "42"}
    }
    assert "changed while asleep" in plan.detail


def test_daemonset_with_the_key_but_no_annotation_is_left_alone() -> None:
    obj = daemonset_obj({SLEEPING_NODE_LABEL: "true"})
    assert DAEMONSET.plan_sleep(obj).status is UNCHANGED
    assert DAEMONSET.plan_wake(obj).status is UNCHANGED
    assert not DAEMONSET.is_sleeping(obj)


@pytest.mark.parametrize("garbage", ["not json", "", "[]", "null", '{"pool": 1}', "{'a': 'b'}"])
def test_daemonset_garbage_annotation_fails(garbage: str) -> None:
    obj = daemonset_obj({SLEEPING_NODE_LABEL: "true"}, {ORIGINAL_NODE_SELECTOR: garbage})
    plan = DAEMONSET.plan_wake(obj)
    assert (plan.status, plan.patch) == (FAILED, None)
    assert ORIGINAL_NODE_SELECTOR in plan.detail and json.dumps(garbage) in plan.detail
    assert DAEMONSET.plan_sleep(obj).status is UNCHANGED


def test_daemonset_selector_that_is_not_a_map_fails() -> None:
    obj = daemonset_obj()
    obj["spec"]["template"]["spec"]["nodeSelector"] = ["linux"]
    assert DAEMONSET.plan_sleep(obj).status is FAILED


def test_daemonset_snapshot_counts_scheduled_pods() -> None:
    snap = DAEMONSET.snapshot(daemonset_obj(scheduled=4))
    assert (snap.replicas, snap.cpu_cores, snap.memory_gib) == (4, 0.1, 0.125)
    assert DAEMONSET.snapshot(daemonset_obj(scheduled=None)).replicas == 0


# ---- CronJob -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suspend", [False, None])
def test_cronjob_sleep_suspends_and_keeps_the_original(suspend: bool | None) -> None:
    plan = CRONJOB.plan_sleep(cronjob_obj(suspend))
    assert (plan.status, plan.detail) == (CHANGED, "suspended")
    assert plan.patch == {
        "metadata": {"annotations": {ORIGINAL_SUSPEND: "false"}, "resourceVersion": "42"},
        "spec": {"suspend": True},
    }


def test_cronjob_suspended_by_its_team_is_left_alone_and_stays_suspended() -> None:
    obj = cronjob_obj(True)
    plan = CRONJOB.plan_sleep(obj)
    assert (plan.status, plan.patch, plan.detail) == (UNCHANGED, None, "already suspended")
    assert CRONJOB.plan_wake(obj).status is UNCHANGED


def test_cronjob_asleep_is_unchanged_and_resumed_while_asleep_is_drift() -> None:
    assert CRONJOB.plan_sleep(cronjob_obj(True, {ORIGINAL_SUSPEND: "false"})).status is UNCHANGED
    plan = CRONJOB.plan_sleep(cronjob_obj(False, {ORIGINAL_SUSPEND: "false"}))
    assert plan.status is DRIFT
    assert plan.patch is not None
    assert plan.patch["spec"] == {"suspend": True}
    assert plan.patch["metadata"]["annotations"] == {ORIGINAL_SUSPEND: "false"}


@pytest.mark.parametrize(("annotation", "suspend"), [("false", False), ("true", True)])
def test_cronjob_wake_restores_suspend(annotation: str, suspend: bool) -> None:
    plan = CRONJOB.plan_wake(cronjob_obj(True, {ORIGINAL_SUSPEND: annotation}))
    assert plan.status is CHANGED
    assert plan.patch == {
        "metadata": {"annotations": {ORIGINAL_SUSPEND: None}, "resourceVersion": "42"},
        "spec": {"suspend": suspend},
    }


def test_cronjob_wake_keeps_one_resumed_while_asleep() -> None:
    plan = CRONJOB.plan_wake(cronjob_obj(False, {ORIGINAL_SUSPEND: "garbage"}))
    assert plan.status is CHANGED
    assert plan.patch == {
        "metadata": {"annotations": {ORIGINAL_SUSPEND: None}, "resourceVersion": "42"}
    }


@pytest.mark.parametrize("garbage", ["yes", "True", "FALSE", "", "1", " false"])
def test_cronjob_garbage_annotation_fails(garbage: str) -> None:
    plan = CRONJOB.plan_wake(cronjob_obj(True, {ORIGINAL_SUSPEND: garbage}))
    assert (plan.status, plan.patch) == (FAILED, None)
    assert ORIGINAL_SUSPEND in plan.detail and json.dumps(garbage) in plan.detail


def test_cronjob_snapshot_has_no_replicas_and_the_job_requests() -> None:
    snap = CRONJOB.snapshot(cronjob_obj())
    assert (snap.kind, snap.replicas, snap.cpu_cores, snap.memory_gib) == (
        WorkloadKind.CRONJOB,
        0,
        0.5,
        1.0,
    )
    assert CRONJOB.is_sleeping(cronjob_obj(True, {ORIGINAL_SUSPEND: "false"}))
    assert not CRONJOB.is_sleeping(cronjob_obj(True))


# ---- registry ------------------------------------------------------------------------------------


def test_registry_has_one_strategy_per_kind() -> None:
    assert set(STRATEGIES) == set(WorkloadKind)
    for kind in WorkloadKind:
        strategy: WorkloadStrategy = strategy_for(kind)
        assert strategy.kind is kind
        assert strategy_for(kind.value) is strategy
    with pytest.raises(ValueError, match="Job"):
        strategy_for("Job")


# ---- quantities ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100m", Decimal("0.1")),
        ("0.5", Decimal("0.5")),
        ("2", Decimal(2)),
        ("1500m", Decimal("1.5")),
        ("128Mi", Decimal(128 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("512Ki", Decimal(512 * 1024)),
        ("500M", Decimal(500_000_000)),
        ("1e9", Decimal(1_000_000_000)),
        ("1E3", Decimal(1000)),
        ("2k", Decimal(2000)),
        ("1G", Decimal(10**9)),
        ("1Ti", Decimal(2**40)),
        ("1E", Decimal(10**18)),
        ("250u", Decimal("0.00025")),
        ("5n", Decimal("0.000000005")),
        (".5", Decimal("0.5")),
        ("+1", Decimal(1)),
        (2, Decimal(2)),
        (0.25, Decimal("0.25")),
    ],
)
def test_parse_quantity(text: str | int | float, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text", ["", "abc", "1K", "1gi", "1.2.3", "Mi", "1 Gi", "1e", "1Gii", "--1", None, True, [1]]
)
def test_parse_quantity_rejects(text: Any) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


def _container(cpu: str | None = None, memory: str | None = None, **extra: Any) -> Obj:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: Obj = {"name": "c", "image": "i", **extra}
    if requests:
        container["resources"] = {"requests": requests}
    return container


def test_requests_sum_app_containers() -> None:
    spec = {"containers": [_container("250m", "256Mi"), _container("1", "1Gi")]}
    requests = pod_requests(spec)
    assert (requests.cpu_cores, requests.memory_gib) == (Decimal("1.25"), Decimal("1.25"))
    assert requests.has_requests


def test_init_containers_count_by_their_peak_per_resource() -> None:
    spec = {
        "initContainers": [_container("2", "64Mi"), _container("100m", "2Gi")],
        "containers": [_container("500m", "512Mi"), _container("500m", "512Mi")],
    }
    requests = pod_requests(spec)
    assert requests.cpu_cores == Decimal(2)  # the first init container beats the app's 1
    assert requests.memory_gib == Decimal(2)  # the second init container beats the app's 1Gi


def test_sidecar_init_containers_add_to_the_app_and_to_later_init_containers() -> None:
    spec = {
        "initContainers": [
            _container("100m", "128Mi", restartPolicy="Always"),
            _container("1", "128Mi"),
        ],
        "containers": [_container("500m", "512Mi")],
    }
    requests = pod_requests(spec)
    assert requests.cpu_cores == Decimal("1.1")  # the second init runs beside the sidecar
    assert requests.memory_bytes == Decimal(640 * 2**20)  # app + sidecar


def test_limits_stand_in_for_missing_requests() -> None:
    spec = {"containers": [{"name": "c", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}
    requests = pod_requests(spec)
    assert (requests.cpu_cores, requests.memory_gib, requests.has_requests) == (
        Decimal(1),
        Decimal(1),
        True,
    )


def test_no_requests_and_unparsable_requests() -> None:
    none = pod_requests({"containers": [{"name": "c", "image": "i"}]})
    assert (none.cpu_cores, none.memory_bytes, none.has_requests) == (Decimal(0), Decimal(0), False)
    bad = pod_requests({"containers": [_container("lots", "1Gi")]})
    assert (bad.cpu_cores, bad.memory_gib, bad.has_requests) == (Decimal(0), Decimal(1), False)
    assert not pod_requests({"containers": [_container("-1")]}).has_requests
    assert not pod_requests(None).has_requests
    assert not pod_requests({"containers": "nope"}).has_requests


def test_snapshot_never_crashes_on_odd_objects() -> None:
    for strategy in STRATEGIES.values():
        snap = strategy.snapshot({"metadata": {"name": "odd"}, "spec": {"template": "x"}})
        assert snap.name == "odd" and not snap.has_requests
        assert strategy.snapshot({}).name == ""


# ---- properties ----------------------------------------------------------------------------------

counts = st.integers(0, 50)
garbage_counts = st.one_of(
    st.sampled_from(GARBAGE_COUNTS),
    st.text(max_size=6).filter(lambda s: not (s.isascii() and s.isdigit())),
)
replica_annotations = st.one_of(st.none(), counts.map(str), garbage_counts.map(lambda g: g)).map(
    lambda value: None if value is None else {ORIGINAL_REPLICAS: value}
)
other_annotations = st.dictionaries(
    st.sampled_from(["team.example/owner", "deployment.kubernetes.io/revision"]),
    st.sampled_from(["ana", "7"]),
    max_size=2,
)
selectors = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["kubernetes.io/os", "pool", "topology.kubernetes.io/zone"]),
        st.sampled_from(["linux", "a", "b"]),
        min_size=1,
        max_size=3,
    ),
    st.fixed_dictionaries({SLEEPING_NODE_LABEL: st.sampled_from(["false", "no"])}),
)


@st.composite
def awake_objects(draw: st.DrawFn) -> tuple[WorkloadStrategy, Obj]:
    """Any workload without our annotations, of any kind, with others' annotations."""
    kind = draw(st.sampled_from(list(WorkloadKind)))
    others = draw(other_annotations) or None
    if kind in (WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET):
        obj = replica_obj(draw(counts), others, kind.value)
    elif kind is WorkloadKind.DAEMONSET:
        obj = daemonset_obj(draw(selectors), others)
    else:
        obj = cronjob_obj(draw(st.booleans()), others)
    return strategy_for(kind), obj


@st.composite
def any_objects(draw: st.DrawFn) -> tuple[WorkloadStrategy, Obj]:
    """Any state: awake, asleep, drifted, or carrying garbage in our annotation."""
    strategy, obj = draw(awake_objects())
    value = draw(
        st.one_of(
            st.none(),
            counts.map(str),
            garbage_counts,
            st.sampled_from(["true", "false", "{}", '{"pool":"a"}', "[1]"]),
            selectors.map(lambda s: json.dumps(s or {})),
        )
    )
    annotation = {
        WorkloadKind.DEPLOYMENT: ORIGINAL_REPLICAS,
        WorkloadKind.STATEFULSET: ORIGINAL_REPLICAS,
        WorkloadKind.DAEMONSET: ORIGINAL_NODE_SELECTOR,
        WorkloadKind.CRONJOB: ORIGINAL_SUSPEND,
    }[strategy.kind]
    if value is not None:
        obj["metadata"].setdefault("annotations", {})[annotation] = value
    if strategy.kind is WorkloadKind.DAEMONSET and draw(st.booleans()):
        template = obj["spec"]["template"]["spec"]
        template["nodeSelector"] = {
            **(template.get("nodeSelector") or {}),
            SLEEPING_NODE_LABEL: "true",
        }
    return strategy, obj


def _asleep(strategy: WorkloadStrategy, obj: Obj) -> bool:
    if strategy.kind is WorkloadKind.DAEMONSET:
        return (selector_of(obj) or {}).get(SLEEPING_NODE_LABEL) == "true"
    if strategy.kind is WorkloadKind.CRONJOB:
        return obj["spec"].get("suspend") is True
    return bool(obj["spec"].get("replicas", 1) == 0)


@settings(max_examples=300, deadline=None)
@given(awake_objects())
def test_property_sleep_then_wake_restores_the_object_exactly(
    case: tuple[WorkloadStrategy, Obj],
) -> None:
    strategy, obj = case
    asleep = apply(obj, strategy.plan_sleep(obj))
    assert _asleep(strategy, asleep)
    awake = apply(asleep, strategy.plan_wake(asleep))
    assert awake == obj  # spec, status, labels and others' annotations alike
    assert ours(awake) == {}


@settings(max_examples=300, deadline=None)
@given(any_objects())
def test_property_sleep_is_idempotent_and_always_ends_asleep(
    case: tuple[WorkloadStrategy, Obj],
) -> None:
    strategy, obj = case
    plan = strategy.plan_sleep(obj)
    assert plan.status is not FAILED
    assert (plan.patch is None) == (plan.status is UNCHANGED)
    asleep = apply(obj, plan)
    assert _asleep(strategy, asleep)
    again = strategy.plan_sleep(asleep)
    assert (again.status, again.patch) == (UNCHANGED, None)


@settings(max_examples=300, deadline=None)
@given(any_objects())
def test_property_wake_never_invents_and_leaves_no_annotation_unless_it_failed(
    case: tuple[WorkloadStrategy, Obj],
) -> None:
    strategy, obj = case
    plan = strategy.plan_wake(obj)
    if plan.status is FAILED:
        assert plan.patch is None
        return
    awake = apply(obj, plan)
    assert ours(awake) == {}
    if strategy.kind in (WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET):
        restored = (plan.patch or {}).get("spec", {}).get("replicas")
        if restored is not None:
            raw = ours(obj)[ORIGINAL_REPLICAS]
            assert raw.isascii() and raw.isdigit() and int(raw) == restored
            assert obj["spec"]["replicas"] == 0


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(REPLICA_STRATEGIES),
    original=counts,
    old=st.one_of(st.none(), counts.map(str), garbage_counts),
    by_hand=st.integers(1, 50),
)
def test_property_a_hand_scale_up_while_asleep_is_the_count_restored(
    kind: ReplicaStrategy, original: int, old: str | None, by_hand: int
) -> None:
    obj = replica_obj(original, None if old is None else {ORIGINAL_REPLICAS: old}, kind.kind.value)
    asleep = apply(obj, kind.plan_sleep(obj))
    asleep["spec"]["replicas"] = by_hand  # kubectl scale, or a GitOps sync
    plan = kind.plan_sleep(asleep)
    # DRIFT when it was put to sleep; a workload left alone at 0 is simply scaled up by hand.
    assert plan.status is (DRIFT if ours(asleep) else CHANGED)
    asleep_again = apply(asleep, plan)
    assert asleep_again["spec"]["replicas"] == 0
    awake = apply(asleep_again, kind.plan_wake(asleep_again))
    assert awake["spec"]["replicas"] == by_hand
    assert ours(awake) == {}


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(REPLICA_STRATEGIES), garbage=garbage_counts)
def test_property_garbage_never_becomes_a_count(kind: ReplicaStrategy, garbage: str) -> None:
    obj = replica_obj(0, {ORIGINAL_REPLICAS: garbage}, kind.kind.value)
    plan = kind.plan_wake(obj)
    assert (plan.status, plan.patch) == (FAILED, None)
    assert kind.plan_sleep(obj).status is UNCHANGED
    assert kind.snapshot(obj).replicas == 0
