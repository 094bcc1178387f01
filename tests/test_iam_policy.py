"""The IAM policy in manifests/iam/ grants exactly the DynamoDB actions the store calls.

The calls are not listed by hand: every `Store` operation (and the one-time migration of an
activity table made before the `by_start` index) runs through boto3 against moto, and a botocore
hook on the client records each API call with the tables and indexes it names. IAM has no
`TransactWriteItems` action: a transaction is authorized item by item (`Put` as
`dynamodb:PutItem`, `Update` as `UpdateItem`, `Delete` as `DeleteItem`, `ConditionCheck` as
`ConditionCheckItem`), so that is how the transactions are counted. A second check reads the
store's source for every boto3 method it calls, so a new call the driver below does not reach
fails here instead of passing unseen.
"""

from __future__ import annotations

import fnmatch
import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from core.models import HistoryQuery, OperationType, RecordStatus, RequestStatus
from core.store.base import Store
from core.store.dynamo import DynamoStore
from tests.store_fixtures import (
    AWS_REGION,
    make_permission,
    make_record,
    make_request,
    make_slot,
    snapshot,
)

ROOT = Path(__file__).resolve().parents[1]
IAM = ROOT / "manifests" / "iam"
STORE_SOURCES = sorted((ROOT / "core" / "store").rglob("*.py"))
ACCOUNT = "123456789012"  # moto's
PREFIX = "nsctl-iam-"
DAY = 86_400
BASE = 1_764_547_200  # 2025-12-01T00:00:00Z, a UTC midnight
TRANSACTION_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}

Call = tuple[str, str]  # (IAM action without "dynamodb:", resource ARN)


def table_arn(table: str, index: str | None = None) -> str:
    arn = f"arn:aws:dynamodb:{AWS_REGION}:{ACCOUNT}:table/{table}"
    return f"{arn}/index/{index}" if index else arn


def calls_of(operation: str, params: dict[str, Any]) -> set[Call]:
    """The (action, resource) pairs IAM authorizes for one API call."""
    if operation == "TransactWriteItems":
        found = set()
        for item in params["TransactItems"]:
            ((kind, body),) = item.items()
            found.add((TRANSACTION_ACTIONS[kind], table_arn(body["TableName"])))
        return found
    if operation.startswith("Batch"):
        return {(operation, table_arn(table)) for table in params["RequestItems"]}
    return {(operation, table_arn(params["TableName"], params.get("IndexName")))}


class Recorder:
    """Every DynamoDB call a client makes, as IAM sees it, and the operation names."""

    def __init__(self, client: Any) -> None:
        self.calls: set[Call] = set()
        self.operations: set[str] = set()
        client.meta.events.register("before-parameter-build.dynamodb", self._hook)

    def _hook(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.operations.add(model.name)
        self.calls |= calls_of(model.name, params)


class Used:
    """A `Store` that remembers which of its methods were called."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.called: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if callable(value):
            self.called.add(name)
        return value


def store_operations() -> set[str]:
    return {
        name
        for name, member in vars(Store).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }


def old_activity_table(client: Any) -> None:
    """An activity table exactly as namespace-ctl made it before the `by_start` index, with a
    record crossing midnights: opening the store migrates it (index, backfill, crossings)."""
    from core.store.dynamo import OPEN_INDEX, _to_attrs, activity_item

    table = f"{PREFIX}namespace_activity_logs"
    client.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "namespace_name", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "namespace_name", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "open_type", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": OPEN_INDEX,
                "KeySchema": [
                    {"AttributeName": "open_type", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    weekend = make_record(
        "weekend",
        BASE + 20 * 3_600,
        status=RecordStatus.COMPLETED,
        timestamp_end=BASE + 3 * DAY + 7 * 3_600,
        duration_minutes=(3 * DAY - 13 * 3_600) // 60,
    )
    item = activity_item(weekend)
    del item["start_day"]  # the old layout
    client.put_item(TableName=table, Item=_to_attrs(item))


def drive(store: Used) -> None:
    """Every `Store` operation, on the paths that reach DynamoDB differently."""
    from core.models import Notice, NoticeKind

    night = BASE + 7 * DAY + 20 * 3_600
    shutdown = OperationType.AUTO_SHUTDOWN
    # Records: plain and crossing midnights (a transaction with its crossing entries).
    assert store.add_record(make_record("payments", night, workloads=[snapshot("api")]))
    assert store.add_record(make_record("search", night))
    assert store.add_record(
        make_record(
            "point", night, OperationType.AUTO_STARTUP, RecordStatus.COMPLETED, timestamp_end=night
        )
    )
    assert store.get_record("payments", night, shutdown) is not None
    store.set_ready_seconds("point", night, OperationType.AUTO_STARTUP, 312)
    assert store.add_snapshots("payments", night, shutdown, [snapshot("late")])  # while asleep
    store.set_status("search", night, shutdown, RecordStatus.FAILED, "forbidden")
    assert store.close_record("search", night, shutdown, night + 3_000)  # same day
    assert store.close_record("payments", night, shutdown, night + 2 * DAY)  # crosses midnights
    store.set_status("payments", night, shutdown, RecordStatus.FAILED, "a closed one")
    assert store.add_record(make_record("ops", night + 3 * DAY))
    # A mass pass's records at once: each its own conditional put.
    batch = [make_record(f"team-{i}", night + 3 * DAY) for i in range(3)]
    assert store.add_records([*batch, batch[0]]) == [True, True, True, False]
    assert store.open_records()
    assert store.open_records(shutdown)
    assert store.history()
    assert store.history("payments", limit=5)
    assert store.records_overlapping(night + DAY, night + DAY + 3_600)
    # History pages: a namespace's partition, the start index (then a Scan of older days),
    # and the Scan of a first page without an upper bound.
    assert store.history_page(HistoryQuery(namespace="payments", user_id=""), 5)
    assert store.history_page(HistoryQuery(until=night + 4 * DAY), 10)
    assert store.history_page(HistoryQuery(operation_type=shutdown), 2)
    # Cost centers.
    assert store.seed_cost_centers([make_permission("cc-a"), make_permission("cc-b")]) == 2
    store.put_cost_center(make_permission("cc-a", max_concurrent_namespaces=1, updated_at=200))
    assert store.get_cost_center("cc-a") is not None
    assert len(store.list_cost_centers()) == 2
    # Activation slots: the claim and the release are transactions with the cap counters.
    claimed = make_slot("payments", "cc-a", night + 3_600)
    assert store.claim_slot(claimed, 5, 2).value == "claimed"
    assert store.get_slot("payments") is not None
    assert store.list_slots()
    assert store.update_slot("payments", claimed.claimed_at, ends_at=claimed.ends_at + 3_600)
    assert store.release_slot("payments", claimed.claimed_at)
    # Requests.
    store.add_request(make_request("req-1", night))
    assert store.get_request("req-1") is not None
    assert store.list_requests()
    assert store.list_requests([RequestStatus.PENDING])
    decided = store.decide_request(
        "req-1", RequestStatus.PENDING, RequestStatus.APPROVED, by="U2", at=night + 60
    )
    assert decided is not None
    assert store.mark_request_started("req-1", night + 120)
    # Daily counters.
    store.increment_metric("workloads_slept", "2025-12-08", 3, night)
    assert store.get_metric("workloads_slept", "2025-12-08") == 3
    # The notices outbox.
    notice = Notice(notice_id="shutdown:1", kind=NoticeKind.SHUTDOWN, at=night)
    assert store.add_notice(notice)
    assert store.get_notice("shutdown:1") is not None
    assert store.due_notices(night, 10)
    assert store.mark_notice_failed("shutdown:1", "slack down", night + 60) is not None
    assert store.pending_notice_count() == 1
    assert store.mark_notice_delivered("shutdown:1", night + 120, "C1:1.2")
    assert store.add_notice(Notice(notice_id="shutdown:2", kind=NoticeKind.SHUTDOWN, at=night))
    assert store.mark_notice_expired("shutdown:2", night + DAY)
    # Idempotency keys: claim, replay, finish, release.
    assert store.claim_idempotency("ci:k1", "fp", night, DAY) is None
    assert store.claim_idempotency("ci:k1", "fp", night + 1, DAY) is not None
    store.finish_idempotency("ci:k1", 201, "{}")
    assert store.claim_idempotency("ci:k2", "fp", night, DAY) is None
    store.release_idempotency("ci:k2")
    store.close()


@pytest.fixture
def recorded(moto_dynamodb: None) -> Iterator[tuple[Recorder, Used]]:
    client = boto3.client("dynamodb", region_name=AWS_REGION)
    old_activity_table(client)
    recorder = Recorder(client)  # from here on: only what namespace-ctl does
    store = Used(DynamoStore(region=AWS_REGION, table_prefix=PREFIX, client=client))
    drive(store)
    yield recorder, store


def policy() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((IAM / "dynamodb-policy.json").read_text())
    return loaded


def statements() -> list[tuple[set[str], list[str]]]:
    """(actions without "dynamodb:", resources with the placeholders filled) per statement."""
    found = []
    for statement in policy()["Statement"]:
        assert statement["Effect"] == "Allow" and set(statement) <= {
            "Sid",
            "Effect",
            "Action",
            "Resource",
        }, statement
        actions = statement["Action"]
        resources = statement["Resource"]
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        assert all(a.startswith("dynamodb:") and "*" not in a for a in actions), actions
        filled = [
            r.replace("REGION", AWS_REGION).replace("ACCOUNT", ACCOUNT).replace("PREFIX", PREFIX)
            for r in resources
        ]
        found.append(({a.removeprefix("dynamodb:") for a in actions}, filled))
    return found


def allowed(call: Call) -> bool:
    action, arn = call
    return any(
        action in actions and any(fnmatch.fnmatchcase(arn, pattern) for pattern in resources)
        for actions, resources in statements()
    )


def test_the_driver_runs_every_store_operation(recorded: tuple[Recorder, Used]) -> None:
    _, store = recorded
    assert store.called >= store_operations(), store_operations() - store.called


def test_the_driver_reaches_every_dynamodb_call_in_the_store_source(
    recorded: tuple[Recorder, Used],
) -> None:
    recorder, _ = recorded
    client = boto3.client("dynamodb", region_name=AWS_REGION)
    source = "\n".join(path.read_text(encoding="utf-8") for path in STORE_SOURCES)
    methods = set(re.findall(r"_client\.([a-z_]+)\b", source)) - {"get_waiter", "meta"}
    assert methods, "no boto3 calls found in core/store: has the client attribute been renamed?"
    mapping = client.meta.method_to_api_mapping
    unknown = methods - set(mapping)
    assert not unknown, f"not DynamoDB API methods: {unknown}"
    operations = {mapping[m] for m in methods}
    for waiter in re.findall(r"get_waiter\(\s*[\"']([a-z_]+)[\"']", source):
        operations.add(client.get_waiter(waiter).config.operation)
    assert operations <= recorder.operations, (
        f"the store calls {sorted(operations - recorder.operations)}, which drive() never "
        "reached: make it reach them, so the policy is checked against them"
    )
    kinds = set(re.findall(r"[\"'](Put|Update|Delete|ConditionCheck)[\"']\s*:", source))
    in_transactions = {TRANSACTION_ACTIONS[k] for k in kinds}
    assert in_transactions <= {action for action, _ in recorder.calls}


def test_the_policy_grants_exactly_the_actions_the_store_calls(
    recorded: tuple[Recorder, Used],
) -> None:
    recorder, _ = recorded
    used = {action for action, _ in recorder.calls}
    granted = set().union(*(actions for actions, _ in statements()))
    assert "TransactWriteItems" in recorder.operations  # the caps rely on transactions
    assert granted == used, (
        f"granted but never called: {sorted(granted - used)}; "
        f"called but not granted: {sorted(used - granted)}"
    )


def test_every_call_is_allowed_on_the_table_or_index_it_names(
    recorded: tuple[Recorder, Used],
) -> None:
    recorder, _ = recorded
    denied = sorted(call for call in recorder.calls if not allowed(call))
    assert not denied, denied
    # DeleteItem is for activation slots and idempotency keys only: records are never deleted.
    deletes = {arn for action, arn in recorder.calls if action == "DeleteItem"}
    assert deletes == {
        table_arn(f"{PREFIX}activation_slots"),
        table_arn(f"{PREFIX}idempotency_keys"),
    }
    assert not allowed(("DeleteItem", table_arn(f"{PREFIX}namespace_activity_logs")))
    # Nothing outside the prefix.
    assert not allowed(("GetItem", table_arn("someone-elses-table")))


def test_the_trust_policies_name_the_service_account() -> None:
    irsa = json.loads((IAM / "irsa-trust-policy.json").read_text())
    (statement,) = irsa["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    conditions = statement["Condition"]["StringEquals"]
    subjects = [v for k, v in conditions.items() if k.endswith(":sub")]
    assert subjects == ["system:serviceaccount:namespace-ctl:namespace-ctl"]
    assert [v for k, v in conditions.items() if k.endswith(":aud")] == ["sts.amazonaws.com"]
    pod_identity = json.loads((IAM / "pod-identity-trust-policy.json").read_text())
    (statement,) = pod_identity["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert set(statement["Action"]) == {"sts:AssumeRole", "sts:TagSession"}
