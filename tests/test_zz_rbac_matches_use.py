"""The RBAC in manifests/ grants exactly what the product uses of the Kubernetes API, no more and
no less: a verb granted and never used is privilege to drop; one used and not granted is a 403 in
production.

"Used" is read off the fake API server (tests/fake_kube.py): every in-process `FakeKube` adds the
(METHOD, kind) of the requests it answered to `SESSION_LOG` when it stops. This file is named to
run last (pytest collects tests/ in file-name order), so in a whole-suite run the log holds every
suite's requests; run alone, the test drives a representative set itself (a night's shutdown and
the morning's startup through `KubeCluster`, with a conflict on every kind so the re-read GET
happens too, and a round of leader election on the Lease), so it still checks. Tests of the fake
itself (`test_fake_*`) send raw HTTP the product never sends (a PUT on a Deployment, say): their
requests are left out.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from core.cluster.kube import KubeCluster
from core.config import ClusterSettings, LeaderElectionSettings
from core.leader import LeaseElection
from tests.builders import team_namespace
from tests.fake_kube import EVENT, NAMESPACE, POD, RESOURCES, SESSION_LOG, STORED, FakeKube
from tests.harness import madrid, make_harness
from tests.kustomize import build, granted, one

NIGHT = madrid(2026, 12, 1, 20)
MORNING = madrid(2026, 12, 2, 7)
BOT_NAMESPACE = "namespace-ctl"
FAKE_SELF_TESTS = re.compile(r"::test_fake_")
VERBS = {
    "GET": "get",
    "LIST": "list",
    "PATCH": "patch",
    "PUT": "update",
    "POST": "create",
    "DELETE": "delete",
}
KINDS = {r.kind: (r.group, r.plural) for r in (*STORED.values(), NAMESPACE, POD, EVENT)}

Rule = tuple[str, str, str]  # (apiGroup, resource, verb)


def drive_the_product(tmp_path: Path) -> None:
    """A shutdown and a startup through the real client, a 409 on one PATCH of every kind (the
    re-read), a readiness check past its deadline with a workload not ready (the pods read),
    and one round of leader election with a release."""
    with FakeKube() as fake:
        fake.add_namespace(BOT_NAMESPACE, annotations={"namespace-ctl.io/exclude": "true"})
        for team in ("alpha", "beta"):
            for obj in team_namespace(team, {"api": 2, "web": 1}):
                if obj["kind"] == "Namespace":
                    fake.add_namespace(obj["metadata"]["name"])
                else:
                    fake.add(obj)
        for kind in RESOURCES.values():
            fake.inject("PATCH", rf"/{kind.plural}/", 409)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        settings = {"kubeconfig": str(kubeconfig), "request_timeout": 5, "retries": 2}
        cluster = KubeCluster(ClusterSettings.model_validate(settings), backoff_base=0.01)
        h = make_harness(tmp_path, [], cluster=cluster)
        assert h.service.shutdown(at=NIGHT).ok
        fake.hold_ready("Deployment", "alpha", "api", 0)
        woken = h.ctl.schedule.startup(at=MORNING)
        assert woken.ok
        assert fake.pending_faults() == 0, "every kind got its conflict"
        settled = h.ctl.schedule.follow_wakes(MORNING + timedelta(hours=1))
        assert settled is not None and settled.not_ready, "the pods of alpha were read"
        settings = LeaderElectionSettings(enabled=True)
        lock = cluster.lease(BOT_NAMESPACE, settings.name, 5.0)
        election = LeaseElection(lock, "namespace-ctl-0", settings)
        assert election.try_acquire_or_renew()  # GET (404), POST
        assert election.try_acquire_or_renew()  # GET, PUT (renew)
        assert election.release()  # PUT
        cluster.close()
        h.store.close()


def used(log: set[tuple[str, str, str]]) -> set[Rule]:
    rules = set()
    for origin, method, kind in log:
        if FAKE_SELF_TESTS.search(origin):
            continue
        group, resource = KINDS[kind]
        rules.add((group, resource, VERBS[method]))
    return rules


def test_rbac_grants_exactly_what_the_product_uses(tmp_path: Path) -> None:
    drive_the_product(tmp_path)
    this_test = {entry for entry in SESSION_LOG if "test_zz_rbac_matches_use" in entry[0]}
    assert this_test, "FakeKube.stop() did not fill SESSION_LOG"
    objects = build("overlays/ha")
    grants = granted([one(objects, "ClusterRole"), one(objects, "Role")])
    uses = used(SESSION_LOG)
    unused = sorted(grants - uses)
    assert not unused, f"granted but never used by the product: {unused}"
    ungranted = sorted(uses - grants)
    assert not ungranted, (
        f"used by the product but not granted (a 403 in the cluster): {ungranted}; grant them in "
        "manifests/base (clusterrole.yaml, leader-election-role.yaml)"
    )
