"""Store fixtures: a SQLite file, DynamoDB on moto, and both behind one parametrized `store`.

Load them in a test module with `pytest_plugins = ["tests.store_fixtures"]` (or import the
helpers). moto's DynamoDB is not thread-safe (its handler takes no lock, so two conditional writes
can both pass their check); `serialized_moto()` wraps moto's request handler in one lock so every
request is applied atomically, as real DynamoDB applies conditional writes per item. The DynamoDB
fixtures here always run serialized, so race tests on them are meaningful.
"""

from __future__ import annotations

import functools
import itertools
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from core.models import (
    ActivationRequest,
    ActivationSlot,
    ActivityRecord,
    CostCenterPermission,
    OperationType,
    RecordStatus,
    RequestStatus,
    WorkloadSnapshot,
)
from core.store.base import Store
from core.store.dynamo import DynamoStore
from core.store.sqlite import _MIGRATIONS, SqliteStore

AWS_REGION = "us-east-1"
TABLE_PREFIX = "test_"
BACKENDS = ("sqlite", "dynamodb")

StoreFactory = Callable[[], Store]
T = TypeVar("T")

# One lock for the whole process: moto's backends are process-global too.
MOTO_LOCK = threading.Lock()


@contextmanager
def serialized_moto() -> Iterator[threading.Lock]:
    """Serialize moto's DynamoDB request handling: one request at a time, start to finish.

    Patch point: `moto.dynamodb.responses.DynamoHandler.call_action`, the method every DynamoDB
    request goes through (moto's URL map calls `DynamoHandler.dispatch`, which builds a handler
    and calls `call_action`; it parses the request, runs the backend method, i.e. the condition
    check and the write, and serializes the response). Nested use is harmless.
    """
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.__dict__["call_action"]
    if getattr(original, "_nsctl_serialized", False):
        yield MOTO_LOCK
        return

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with MOTO_LOCK:
            return original(self)

    call_action._nsctl_serialized = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action
    try:
        yield MOTO_LOCK
    finally:
        DynamoHandler.call_action = original


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, so nothing can reach a real AWS account."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", AWS_REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def moto_dynamodb(aws_credentials: None) -> Iterator[None]:
    """moto's in-memory AWS, with DynamoDB requests serialized (see `serialized_moto`)."""
    from moto import mock_aws

    with mock_aws(), serialized_moto():
        yield


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "audit" / "namespace-ctl.db")
    yield store
    store.close()


@pytest.fixture
def dynamo_store(moto_dynamodb: None) -> Iterator[DynamoStore]:
    store = DynamoStore(region=AWS_REGION, table_prefix=TABLE_PREFIX)
    yield store
    store.close()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Store:
    """Every contract test runs against both backends."""
    name = {"sqlite": "sqlite_store", "dynamodb": "dynamo_store"}[request.param]
    value: Store = request.getfixturevalue(name)
    return value


@pytest.fixture(params=BACKENDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """A function that makes a fresh, empty store on each call (for Hypothesis examples)."""
    if request.param == "dynamodb":
        request.getfixturevalue("moto_dynamodb")
    made: list[Store] = []
    counter = itertools.count()

    def make() -> Store:
        n = next(counter)
        fresh: Store
        if request.param == "sqlite":
            fresh = SqliteStore(tmp_path / f"store-{n}.db")
        else:
            fresh = DynamoStore(region=AWS_REGION, table_prefix=f"{TABLE_PREFIX}{n}_")
        made.append(fresh)
        return fresh

    yield make
    for each in made:
        each.close()


def make_record(
    namespace: str = "payments",
    start: int = 1_000,
    operation: OperationType = OperationType.AUTO_SHUTDOWN,
    status: RecordStatus = RecordStatus.ACTIVE,
    **fields: Any,
) -> ActivityRecord:
    return ActivityRecord(
        namespace_name=namespace,
        timestamp_start=start,
        operation_type=operation,
        status=status,
        **fields,
    )


def snapshot(
    name: str, replicas: int = 2, cpu: float = 0.25, memory: float = 0.5
) -> WorkloadSnapshot:
    return WorkloadSnapshot(
        kind="Deployment", name=name, replicas=replicas, cpu_cores=cpu, memory_gib=memory
    )


def sqlite_writer(
    path: str, worker: int, unique: int, shared: int, barrier: Any, results: Any
) -> None:
    """Runs in a separate (spawned) process: open the store, wait for the other process, then add
    `unique` records of its own and `shared` records both processes add, and close every shared
    record. Puts (worker, added, closed, error) on `results`."""
    try:
        store = SqliteStore(path)
        barrier.wait(timeout=60)
        added = closed = 0
        for i in range(unique):
            added += store.add_record(make_record(f"ns-{worker}", 10_000 + i))
        for i in range(shared):
            added += store.add_record(make_record("shared", 10_000 + i))
            closed += store.close_record("shared", 10_000 + i, OperationType.AUTO_SHUTDOWN, 20_000)
        store.close()
        results.put((worker, added, closed, ""))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put((worker, 0, 0, f"{type(exc).__name__}: {exc}"))


# ---- after-hours activation ----------------------------------------------------------------------


def make_slot(
    namespace: str = "payments",
    cost_center: str = "cc-a",
    claimed_at: int = 1_000,
    **fields: Any,
) -> ActivationSlot:
    values: dict[str, Any] = {"user_id": "U1", "ends_at": claimed_at + 7_200, **fields}
    return ActivationSlot(
        namespace=namespace, cost_center=cost_center, claimed_at=claimed_at, **values
    )


def make_request(
    request_id: str = "req-1",
    created_at: int = 1_000,
    status: RequestStatus = RequestStatus.PENDING,
    **fields: Any,
) -> ActivationRequest:
    values: dict[str, Any] = {
        "namespace": "payments",
        "cost_center": "cc-a",
        "requester": "U1",
        "reason": "release tonight",
        "duration_minutes": 120,
        "expires_at": created_at + 1_800,
        **fields,
    }
    return ActivationRequest(request_id=request_id, created_at=created_at, status=status, **values)


def make_permission(cost_center: str = "cc-a", **fields: Any) -> CostCenterPermission:
    values: dict[str, Any] = {
        "authorized_namespaces": ["payments", "team-*"],
        "created_at": 100,
        "updated_at": 100,
        **fields,
    }
    return CostCenterPermission(cost_center=cost_center, **values)


def race(threads: int, action: Callable[[int], T]) -> list[T]:
    """Run `action(i)` in `threads` threads released at the same moment; return the results."""
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = action(i)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not errors, errors
    return results


def sqlite_claimer(
    path: str,
    worker: int,
    trials: int,
    claims: int,
    caps: tuple[int, int],
    barrier: Any,
    results: Any,
) -> None:
    """Runs in a separate (spawned) process. For each trial: wait for every process, claim
    `claims` namespaces of its own (cost centers cc-0 and cc-1 in turn) against `caps` (global,
    per cost center), wait again; worker 0 then lists the slots and releases them all, and every
    process waits for that before the next trial. Puts (worker, trial, [(cost center, outcome)],
    [(namespace, cost center)] seen by worker 0 or None, error) on `results`."""
    store: SqliteStore | None = None
    try:
        store = SqliteStore(path)
        for trial in range(trials):
            barrier.wait(timeout=60)
            outcomes: list[tuple[str, str]] = []
            for i in range(claims):
                cost_center = f"cc-{(worker + i) % 2}"
                slot = make_slot(
                    f"t{trial}-w{worker}-{i}", cost_center, 10_000 + trial, user_id=f"U{worker}"
                )
                outcomes.append((cost_center, store.claim_slot(slot, *caps).value))
            barrier.wait(timeout=60)
            seen: list[tuple[str, str]] | None = None
            if worker == 0:
                slots = store.list_slots()
                seen = [(s.namespace, s.cost_center) for s in slots]
                for each in slots:
                    assert store.release_slot(each.namespace, each.claimed_at)
            results.put((worker, trial, outcomes, seen, ""))
            barrier.wait(timeout=60)  # the next trial starts with no slot
    except Exception as exc:  # reported to the parent, which fails the test
        barrier.abort()  # do not leave the other processes waiting
        results.put((worker, -1, [], None, f"{type(exc).__name__}: {exc}"))
    finally:
        if store is not None:
            store.close()


def sqlite_file_at_version(path: Path, version: int) -> sqlite3.Connection:
    """A SQLite file exactly as namespace-ctl at schema `version` created it (to test the
    migrations); the caller inserts its old rows, commits and closes."""
    conn = sqlite3.connect(path)
    for statements in _MIGRATIONS[:version]:
        for statement in statements:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    return conn
