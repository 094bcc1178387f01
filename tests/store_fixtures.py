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
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from core.models import ActivityRecord, OperationType, RecordStatus, WorkloadSnapshot
from core.store.base import Store
from core.store.dynamo import DynamoStore
from core.store.sqlite import SqliteStore

AWS_REGION = "us-east-1"
TABLE_PREFIX = "test_"
BACKENDS = ("sqlite", "dynamodb")

StoreFactory = Callable[[], Store]

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
