"""The activation part of the `Store` contract (cost centers, cap slots, requests), run against
both backends: a SQLite file and DynamoDB on moto (always with its handler serialized, see
`tests/store_fixtures.py`). The race tests are the point: racing claims never exceed a cap."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import StoreError
from core.models import (
    ActivationSlot,
    ClaimOutcome,
    OperationType,
    RecordStatus,
    RequestStatus,
    SlotState,
)
from core.store.base import Store
from core.store.dynamo import GLOBAL_COUNTER, STATUS_INDEX, DynamoStore, cost_center_counter
from core.store.sqlite import SCHEMA_VERSION, SqliteStore
from tests import store_fixtures
from tests.store_fixtures import (
    AWS_REGION,
    StoreFactory,
    make_permission,
    make_record,
    make_request,
    make_slot,
    race,
    sqlite_file_at_version,
)

CLAIMED = ClaimOutcome.CLAIMED
ALREADY = ClaimOutcome.ALREADY_ACTIVE
GLOBAL = ClaimOutcome.GLOBAL_LIMIT
COST_CENTER = ClaimOutcome.COST_CENTER_LIMIT
PENDING = RequestStatus.PENDING
APPROVED = RequestStatus.APPROVED
DENIED = RequestStatus.DENIED

TRIALS = 20  # per race test and backend
THREADS = 20


def counts(store: Store) -> tuple[int, Counter[str]]:
    """Slots held: in all, and by cost center. On DynamoDB also checks that the counter items
    (what the claim conditions read) equal the slot items."""
    slots = store.list_slots()
    by_center = Counter(s.cost_center for s in slots)
    counters = dynamo_counters(store)
    if counters is not None:
        wanted = {GLOBAL_COUNTER: len(slots)}
        wanted.update({cost_center_counter(cc): n for cc, n in by_center.items()})
        assert {k: v for k, v in counters.items() if v} == {k: v for k, v in wanted.items() if v}
        assert all(v >= 0 for v in counters.values()), counters
    return len(slots), by_center


def dynamo_counters(store: Store) -> dict[str, int] | None:
    """The counter items of the DynamoDB slots table (None for other backends)."""
    if not isinstance(store, DynamoStore):
        return None
    items = store.client.scan(TableName=store.slots_table, ConsistentRead=True)["Items"]
    return {
        i["namespace"]["S"]: int(i["active"]["N"])
        for i in items
        if i["namespace"]["S"].startswith("#count#")
    }


def release_all(store: Store) -> None:
    for slot in store.list_slots():
        assert store.release_slot(slot.namespace, slot.claimed_at)
    assert counts(store) == (0, Counter())


def count_calls(store: Store) -> dict[str, int] | None:
    """Count DynamoDB API calls by operation name (None for other backends)."""
    if not isinstance(store, DynamoStore):
        return None
    calls: dict[str, int] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    store.client.meta.events.register("before-call.dynamodb", count)
    return calls


# ---- cost centers ------------------------------------------------------------------------------


def test_cost_centers_put_get_and_list_sorted(store: Store) -> None:
    assert store.get_cost_center("cc-a") is None
    assert store.list_cost_centers() == []
    b = make_permission("cc-b", max_concurrent_namespaces=2, is_authorized=False)
    a = make_permission("cc-a", authorized_namespaces=[])
    store.put_cost_center(b)
    store.put_cost_center(a)
    assert store.get_cost_center("cc-a") == a
    assert store.get_cost_center("cc-b") == b
    assert store.list_cost_centers() == [a, b]


def test_put_cost_center_replaces_but_keeps_created_at(store: Store) -> None:
    store.put_cost_center(make_permission(max_concurrent_namespaces=3, created_at=100))
    changed = make_permission(
        authorized_namespaces=["only-this"],
        max_concurrent_namespaces=None,
        is_authorized=False,
        created_at=999,
        updated_at=500,
    )
    store.put_cost_center(changed)
    assert store.get_cost_center("cc-a") == changed.model_copy(update={"created_at": 100})
    assert len(store.list_cost_centers()) == 1


def test_seed_inserts_only_missing_cost_centers(store: Store) -> None:
    admin_change = make_permission("cc-a", max_concurrent_namespaces=1, updated_at=300)
    store.put_cost_center(admin_change)
    seed = [
        make_permission("cc-a", max_concurrent_namespaces=5),
        make_permission("cc-b"),
        make_permission("cc-c", authorized_namespaces=["x"]),
    ]
    assert store.seed_cost_centers(seed) == 2
    assert store.get_cost_center("cc-a") == admin_change  # never overwritten
    assert store.list_cost_centers() == [admin_change, seed[1], seed[2]]
    assert store.seed_cost_centers(seed) == 0
    assert store.seed_cost_centers([]) == 0


# ---- claims ------------------------------------------------------------------------------------


def test_slot_round_trips_every_field(store: Store) -> None:
    slot = make_slot("payments", "cc-a", 1_000, user_id="U7", request_id="req-9", ends_at=8_200)
    assert store.get_slot("payments") is None
    assert store.claim_slot(slot, 5, 5) is CLAIMED
    assert store.get_slot("payments") == slot
    assert store.get_slot("other") is None
    assert store.list_slots() == [slot]


def test_a_slots_reason_round_trips_and_defaults_to_empty(store: Store) -> None:
    """The reason given for a window is kept on its slot through claims and updates; a slot
    claimed without one reads ""."""
    given = make_slot("payments", "cc-a", 1_000, reason='incident 4711: ñ, "v2"')
    plain = make_slot("team-x", "cc-a", 1_000)
    assert store.claim_slot(given, 5, 5) is CLAIMED
    assert store.claim_slot(plain, 5, 5) is CLAIMED
    assert store.get_slot("payments") == given
    assert store.get_slot("team-x") == plain and plain.reason == ""
    assert store.update_slot("payments", 1_000, state=SlotState.LIVE, record_start=1_000)
    live = given.model_copy(update={"state": SlotState.LIVE, "record_start": 1_000})
    assert store.list_slots() == [live, plain]


def test_claim_checks_already_active_then_global_then_cost_center(store: Store) -> None:
    # global cap 3, cost-center cap 2
    assert store.claim_slot(make_slot("a1", "cc-a"), 3, 2) is CLAIMED
    assert store.claim_slot(make_slot("a2", "cc-a"), 3, 2) is CLAIMED
    assert store.claim_slot(make_slot("a3", "cc-a"), 3, 2) is COST_CENTER
    assert store.claim_slot(make_slot("b1", "cc-b"), 3, 2) is CLAIMED
    assert counts(store) == (3, Counter({"cc-a": 2, "cc-b": 1}))
    # cc-b is below its cap, the global cap is reached
    assert store.claim_slot(make_slot("b2", "cc-b"), 3, 2) is GLOBAL
    # both caps reached: the global one is reported first
    assert store.claim_slot(make_slot("a3", "cc-a"), 3, 2) is GLOBAL
    # a namespace holding a slot: already active first, whatever the caps and cost center
    assert store.claim_slot(make_slot("a1", "cc-a", 2_000), 3, 2) is ALREADY
    assert store.claim_slot(make_slot("a1", "cc-b", 2_000), 100, 100) is ALREADY
    assert store.get_slot("a1") == make_slot("a1", "cc-a")  # the first claim is kept
    assert counts(store) == (3, Counter({"cc-a": 2, "cc-b": 1}))


def test_caps_are_per_call(store: Store) -> None:
    """The caps are the caller's (a cost center's cap may change between claims)."""
    assert store.claim_slot(make_slot("a1", "cc-a"), 5, 1) is CLAIMED
    assert store.claim_slot(make_slot("a2", "cc-a"), 5, 1) is COST_CENTER
    assert store.claim_slot(make_slot("a2", "cc-a"), 5, 2) is CLAIMED
    assert store.claim_slot(make_slot("b1", "cc-b"), 2, 5) is GLOBAL
    assert store.claim_slot(make_slot("b1", "cc-b"), 3, 5) is CLAIMED
    assert counts(store) == (3, Counter({"cc-a": 2, "cc-b": 1}))


def test_caps_of_zero_claim_nothing(store: Store) -> None:
    assert store.claim_slot(make_slot("a1"), 0, 5) is GLOBAL
    assert store.claim_slot(make_slot("a1"), 5, 0) is COST_CENTER
    assert store.claim_slot(make_slot("a1"), 0, 0) is GLOBAL
    assert store.claim_slot(make_slot("a1"), -1, -1) is GLOBAL
    assert counts(store) == (0, Counter())
    assert store.claim_slot(make_slot("a1"), 1, 1) is CLAIMED
    assert store.claim_slot(make_slot("a1"), 0, 0) is ALREADY
    assert store.claim_slot(make_slot("b1", "cc-b"), 5, 0) is COST_CENTER
    assert counts(store) == (1, Counter({"cc-a": 1}))


def test_release_frees_exactly_one_slot_in_both_counts(store: Store) -> None:
    for name in ("a1", "a2"):
        assert store.claim_slot(make_slot(name, "cc-a"), 3, 2) is CLAIMED
    assert store.claim_slot(make_slot("b1", "cc-b"), 3, 2) is CLAIMED
    assert store.claim_slot(make_slot("a3", "cc-a"), 3, 2) is GLOBAL

    assert store.release_slot("a1", 1_000) is True
    assert store.get_slot("a1") is None
    assert counts(store) == (2, Counter({"cc-a": 1, "cc-b": 1}))
    assert store.release_slot("a1", 1_000) is False  # once
    assert counts(store) == (2, Counter({"cc-a": 1, "cc-b": 1}))

    # one place freed in the global count and one in cc-a's: exactly one new claim fits
    assert store.claim_slot(make_slot("a3", "cc-a"), 3, 2) is CLAIMED
    assert store.claim_slot(make_slot("a4", "cc-a"), 3, 2) is GLOBAL
    assert store.claim_slot(make_slot("a4", "cc-a"), 4, 2) is COST_CENTER
    # and the namespace released may be claimed again, with a new claim time
    assert store.release_slot("b1", 1_000) is True
    assert store.claim_slot(make_slot("a1", "cc-b", 5_000), 3, 2) is CLAIMED
    assert store.get_slot("a1") == make_slot("a1", "cc-b", 5_000)
    assert counts(store) == (3, Counter({"cc-a": 2, "cc-b": 1}))


def test_release_with_the_wrong_claim_time_changes_nothing(store: Store) -> None:
    slot = make_slot("a1", "cc-a", 1_000)
    assert store.claim_slot(slot, 1, 1) is CLAIMED
    assert store.release_slot("a1", 999) is False
    assert store.release_slot("missing", 1_000) is False
    assert store.get_slot("a1") == slot
    assert counts(store) == (1, Counter({"cc-a": 1}))
    assert store.claim_slot(make_slot("b1", "cc-b"), 1, 1) is GLOBAL  # still counted


def test_update_slot_changes_only_the_given_fields_of_that_claim(store: Store) -> None:
    slot = make_slot("a1", "cc-a", 1_000, ends_at=8_200)
    assert store.claim_slot(slot, 5, 5) is CLAIMED
    assert store.update_slot("a1", 1_000, state=SlotState.LIVE, record_start=1_010) is True
    live = slot.model_copy(update={"state": SlotState.LIVE, "record_start": 1_010})
    assert store.get_slot("a1") == live
    assert store.update_slot("a1", 1_000, ends_at=9_999) is True
    extended = live.model_copy(update={"ends_at": 9_999})
    assert store.get_slot("a1") == extended
    assert store.update_slot("a1", 1_000) is True  # nothing to change: it is there

    assert store.update_slot("a1", 999, ends_at=1) is False  # another claim time
    assert store.update_slot("a1", 999) is False
    assert store.update_slot("missing", 1_000, ends_at=1) is False
    assert store.get_slot("missing") is None  # not created by the update
    assert store.get_slot("a1") == extended
    assert counts(store) == (1, Counter({"cc-a": 1}))

    assert store.release_slot("a1", 1_000) is True
    assert store.update_slot("a1", 1_000, state=SlotState.LIVE) is False
    assert store.list_slots() == []


def test_list_slots_sorted_by_namespace(store: Store) -> None:
    names = ["zeta", "alpha", "mid", "beta-2", "beta-10"]
    for i, name in enumerate(names):
        assert store.claim_slot(make_slot(name, f"cc-{i % 2}"), 10, 10) is CLAIMED
    assert [s.namespace for s in store.list_slots()] == sorted(names)


# ---- races -------------------------------------------------------------------------------------
# Each race test runs TRIALS trials of THREADS threads released by a barrier at the same moment,
# on one store; the slots are released between trials (which also exercises release under load).


def test_racing_claims_never_exceed_the_global_cap(store: Store) -> None:
    for trial in range(TRIALS):
        results = race(
            THREADS,
            lambda i, t=trial: store.claim_slot(
                make_slot(f"t{t}-ns-{i}", f"cc-{i % 4}", 1_000 + t), 5, 100
            ),
        )
        assert results.count(CLAIMED) == 5, (trial, results)
        assert set(results) == {CLAIMED, GLOBAL}
        total, _ = counts(store)
        assert total == 5
        winners = {f"t{trial}-ns-{i}" for i, r in enumerate(results) if r is CLAIMED}
        assert {s.namespace for s in store.list_slots()} == winners
        release_all(store)


def test_racing_claims_never_exceed_a_cost_center_cap(store: Store) -> None:
    # global 5, cost centers 2: two cost centers of 10 threads each get exactly 2 each
    for trial in range(TRIALS):
        results = race(
            THREADS,
            lambda i, t=trial: store.claim_slot(
                make_slot(f"t{t}-ns-{i}", f"cc-{i % 2}", 1_000 + t), 5, 2
            ),
        )
        assert results.count(CLAIMED) == 4, (trial, results)
        assert set(results) == {CLAIMED, COST_CENTER}
        assert counts(store) == (4, Counter({"cc-0": 2, "cc-1": 2}))
        release_all(store)


def test_racing_claims_with_both_caps_binding(store: Store) -> None:
    # global 5, cost centers 2, three cost centers: 6 would fit the cost-center caps, 5 the
    # global one; whichever order they run in, exactly 5 are claimed and no cost center has 3.
    for trial in range(TRIALS):
        results = race(
            THREADS,
            lambda i, t=trial: store.claim_slot(
                make_slot(f"t{t}-ns-{i}", f"cc-{i % 3}", 1_000 + t), 5, 2
            ),
        )
        assert results.count(CLAIMED) == 5, (trial, results)
        total, by_center = counts(store)
        assert total == 5
        assert max(by_center.values()) == 2
        assert sorted(by_center.values()) == [1, 2, 2]
        release_all(store)


def test_racing_claims_of_one_namespace_claim_it_once(store: Store) -> None:
    for trial in range(TRIALS):
        results = race(
            THREADS,
            lambda i, t=trial: store.claim_slot(
                make_slot("payments", f"cc-{i % 2}", 1_000 + t, user_id=f"U{i}"), 5, 5
            ),
        )
        assert results.count(CLAIMED) == 1, (trial, results)
        assert results.count(ALREADY) == THREADS - 1
        slot = store.get_slot("payments")
        assert slot is not None
        winner = results.index(CLAIMED)
        assert slot.user_id == f"U{winner}" and slot.cost_center == f"cc-{winner % 2}"
        assert counts(store) == (1, Counter({slot.cost_center: 1}))
        release_all(store)


def test_racing_releases_release_once(store: Store) -> None:
    for trial in range(TRIALS):
        assert store.claim_slot(make_slot("payments", "cc-a", 1_000 + trial), 5, 5) is CLAIMED
        results = race(THREADS, lambda i, t=trial: store.release_slot("payments", 1_000 + t))
        assert results.count(True) == 1, (trial, results)
        assert counts(store) == (0, Counter())


def test_racing_claims_and_releases_keep_the_caps(store: Store) -> None:
    """Per trial: 3 slots held; 3 threads release them (and 2 try a wrong claim time) while 15
    claim new namespaces; a sampler reads the slots meanwhile. Every snapshot and the end state
    keep both caps, every release of a held slot succeeds once, the counts add up."""
    global_cap, center_cap = 5, 3
    samples = 0
    for trial in range(TRIALS):
        held = [make_slot(f"t{trial}-held-{i}", f"cc-{i % 2}", 1_000 + trial) for i in range(3)]
        for slot in held:
            assert store.claim_slot(slot, global_cap, center_cap) is CLAIMED
        stop = threading.Event()
        seen: list[tuple[int, Counter[str]]] = []

        def sample(stop: threading.Event = stop, seen: list[Any] = seen) -> None:
            while not stop.is_set():
                slots = store.list_slots()
                seen.append((len(slots), Counter(s.cost_center for s in slots)))
                time.sleep(0.002)  # leave the store (and moto's lock) to the racers

        sampler = threading.Thread(target=sample)
        sampler.start()

        def act(i: int, trial: int = trial, held: list[ActivationSlot] = held) -> Any:
            if i < 3:
                return store.release_slot(held[i].namespace, held[i].claimed_at)
            if i < 5:
                return store.release_slot(held[i - 3].namespace, 1)  # wrong claim time
            slot = make_slot(f"t{trial}-new-{i}", f"cc-{i % 2}", 2_000 + trial)
            return store.claim_slot(slot, global_cap, center_cap)

        try:
            results = race(THREADS, act)
        finally:
            stop.set()
            sampler.join(timeout=60)
        assert results[:3] == [True, True, True], (trial, results)
        assert results[3:5] == [False, False]
        claimed = results[5:].count(CLAIMED)
        assert claimed >= global_cap - len(held)  # refusals only once the cap was really full
        total, by_center = counts(store)
        assert total == len(held) - 3 + claimed <= global_cap, (trial, results)
        assert max(by_center.values()) <= center_cap
        assert {s.namespace for s in store.list_slots()} == {
            f"t{trial}-new-{i}" for i, r in enumerate(results) if i >= 5 and r is CLAIMED
        }
        for n, centers in seen:
            assert n <= global_cap and all(c <= center_cap for c in centers.values())
        samples += len(seen)
        release_all(store)
    assert samples >= TRIALS  # the sampler ran


def test_sqlite_separate_processes_claim_exactly_the_cap(tmp_path: Path) -> None:
    """8 spawned processes, 5 trials, each process claiming 4 namespaces per trial (2 cost
    centers) on the same file with global cap 5 and cost-center cap 3: exactly 5 claimed per
    trial, never more than 3 per cost center, and the slots are exactly the claims that won."""
    path = str(tmp_path / "shared" / "namespace-ctl.db")
    processes_n, trials, claims, caps = 8, 5, 4, (5, 3)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes_n)
    results = ctx.Queue()
    processes = [
        ctx.Process(
            target=store_fixtures.sqlite_claimer,
            args=(path, worker, trials, claims, caps, barrier, results),
        )
        for worker in range(processes_n)
    ]
    for process in processes:
        process.start()
    try:
        reports = [results.get(timeout=120) for _ in range(processes_n * trials)]
    finally:
        for process in processes:
            process.join(timeout=60)
    assert [r[4] for r in reports if r[4]] == []
    assert all(process.exitcode == 0 for process in processes)
    for trial in range(trials):
        of_trial = [r for r in reports if r[1] == trial]
        assert len(of_trial) == processes_n
        won = [
            (f"t{trial}-w{worker}-{i}", cost_center)
            for worker, _, outcomes, _, _ in of_trial
            for i, (cost_center, outcome) in enumerate(outcomes)
            if outcome == CLAIMED.value
        ]
        assert len(won) == caps[0], (trial, of_trial)
        (seen,) = [r[3] for r in of_trial if r[3] is not None]
        assert sorted(seen) == sorted(won)
        assert max(Counter(cc for _, cc in seen).values()) <= caps[1]
    store = SqliteStore(path)
    assert store.list_slots() == []
    store.close()


def test_dynamo_claims_run_inside_serialized_moto(
    dynamo_store: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DynamoDB race tests above mean something only because every request is applied
    while holding the serializing lock (real DynamoDB applies a transaction atomically)."""
    from moto.dynamodb.models import DynamoDBBackend

    seen: list[bool] = []
    original = DynamoDBBackend.transact_write_items

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(store_fixtures.MOTO_LOCK.locked())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", spy)
    race(8, lambda i: dynamo_store.claim_slot(make_slot(f"ns-{i}"), 8, 8))
    race(8, lambda i: dynamo_store.release_slot(f"ns-{i}", 1_000))
    assert seen == [True] * 16


def test_unserialized_moto_lets_racing_claims_exceed_the_cap(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the fixtures serialize moto: moto's DynamoDB handler takes no lock, so it is not
    thread-safe, and a race test on plain moto proves nothing about our transaction. Here plain
    moto is made to interleave 6 racing claims deterministically: each waits, right after
    reading the global counter (moto reads it twice: for the transaction's check, then again
    inside its update), until the other claims have read it too, so every claim passes
    `active < 1` and 6 slots exist under a cap of 1. DynamoDB itself applies a transaction's
    conditions and writes atomically, and so does moto serialized: the same race claims 1."""
    from moto import mock_aws
    from moto.dynamodb.models.table import Table

    threads = 6
    slot_read = threading.Barrier(threads)
    counter_read = threading.Barrier(threads)
    original = Table.get_item

    def interleaving_get_item(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        found = original(self, hash_key, *args, **kwargs)
        key = str(hash_key.value)
        if key.startswith("ns-"):
            slot_read.wait(timeout=10)  # every claim has copied the table (moto's rollback)
        elif key == GLOBAL_COUNTER:
            counter_read.wait(timeout=10)  # every claim has read the counter: now all write
        return found

    with mock_aws():
        plain = DynamoStore(region=AWS_REGION, table_prefix="plain_")
        with monkeypatch.context() as patch:
            patch.setattr(Table, "get_item", interleaving_get_item)
            results = race(threads, lambda i: plain.claim_slot(make_slot(f"ns-{i}"), 1, 100))
        assert results.count(CLAIMED) == threads  # a cap of 1, and 6 claimed
        assert len(plain.list_slots()) == threads
        plain.close()

        with store_fixtures.serialized_moto():
            safe = DynamoStore(region=AWS_REGION, table_prefix="safe_")
            results = race(threads, lambda i: safe.claim_slot(make_slot(f"ns-{i}"), 1, 100))
            assert results.count(CLAIMED) == 1
            assert len(safe.list_slots()) == 1
            safe.close()


def test_dynamo_retries_a_transaction_conflict(
    dynamo_store: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real DynamoDB cancels a transaction that meets another one on the same item
    (`TransactionConflict`): nothing was applied, so the claim is tried again."""
    from botocore.exceptions import ClientError

    client = dynamo_store.client
    original = client.transact_write_items
    calls: list[int] = []

    def conflicting(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= 2:
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": [
                        {"Code": "None"},
                        {"Code": "TransactionConflict", "Message": "conflict"},
                        {"Code": "None"},
                    ],
                },
                "TransactWriteItems",
            )
        return original(**kwargs)

    monkeypatch.setattr(client, "transact_write_items", conflicting)
    assert dynamo_store.claim_slot(make_slot("a1"), 1, 1) is CLAIMED
    assert len(calls) == 3
    assert counts(dynamo_store) == (1, Counter({"cc-a": 1}))
    calls.clear()
    assert dynamo_store.release_slot("a1", 1_000) is True
    assert len(calls) == 3
    assert counts(dynamo_store) == (0, Counter())


def test_dynamo_gives_up_on_endless_conflicts(
    dynamo_store: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    import core.store.dynamo as dynamo

    def always(**kwargs: Any) -> Any:
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                "CancellationReasons": [{"Code": "TransactionConflict"}],
            },
            "TransactWriteItems",
        )

    monkeypatch.setattr(dynamo_store.client, "transact_write_items", always)
    monkeypatch.setattr(dynamo.time, "sleep", lambda _: None)
    with pytest.raises(StoreError, match="kept conflicting"):
        dynamo_store.claim_slot(make_slot("a1"), 1, 1)


# ---- requests ----------------------------------------------------------------------------------


def test_request_round_trips_every_field(store: Store) -> None:
    booking = make_request(
        "req-1",
        1_000,
        starts_at=5_000,
        decided_by="U2",
        decided_at=1_100,
        decision_reason="ok",
        started_at=5_000,
        status=APPROVED,
    )
    plain = make_request("req-2", 1_001, reason="")
    store.add_request(booking)
    store.add_request(plain)
    assert store.get_request("req-1") == booking
    assert store.get_request("req-2") == plain
    assert store.get_request("missing") is None


def test_list_requests_by_status_newest_first(store: Store) -> None:
    requests = [
        make_request("r1", 1_000),
        make_request("r2", 3_000),
        make_request("r3", 2_000, status=APPROVED),
        make_request("r4", 4_000, status=DENIED),
        make_request("r5", 3_000),  # same second as r2: the id breaks the tie
        make_request("r6", 500, status=RequestStatus.EXPIRED),
    ]
    for request in requests:
        store.add_request(request)
    by_id = {r.request_id: r for r in requests}

    def ids(found: list[Any]) -> list[str]:
        return [r.request_id for r in found]

    assert ids(store.list_requests([PENDING])) == ["r5", "r2", "r1"]
    assert ids(store.list_requests({PENDING, APPROVED})) == ["r5", "r2", "r3", "r1"]
    assert ids(store.list_requests([DENIED, RequestStatus.EXPIRED])) == ["r4", "r6"]
    assert store.list_requests([RequestStatus.CANCELLED]) == []
    assert store.list_requests([]) == []
    assert store.list_requests() == [by_id[i] for i in ["r4", "r5", "r2", "r3", "r1", "r6"]]
    # a decision moves it between statuses
    assert store.decide_request("r1", PENDING, APPROVED, by="U2", at=1_500) is not None
    assert ids(store.list_requests([PENDING])) == ["r5", "r2"]
    assert ids(store.list_requests([APPROVED])) == ["r3", "r1"]


def test_duplicate_request_id_is_a_store_error(store: Store) -> None:
    store.add_request(make_request("req-1", 1_000))
    with pytest.raises(StoreError, match="req-1"):
        store.add_request(make_request("req-1", 2_000, requester="U9"))
    assert store.get_request("req-1") == make_request("req-1", 1_000)
    assert len(store.list_requests()) == 1


def test_decide_request_sets_the_decision(store: Store) -> None:
    store.add_request(make_request("req-1", 1_000))
    decided = store.decide_request("req-1", PENDING, DENIED, by="U2", at=1_200, reason="no")
    expected = make_request(
        "req-1", 1_000, status=DENIED, decided_by="U2", decided_at=1_200, decision_reason="no"
    )
    assert decided == expected
    assert store.get_request("req-1") == expected


def test_decide_an_already_decided_request_changes_nothing(store: Store) -> None:
    store.add_request(make_request("req-1", 1_000))
    first = store.decide_request("req-1", PENDING, APPROVED, by="U2", at=1_200)
    assert first is not None
    assert store.decide_request("req-1", PENDING, DENIED, by="U3", at=1_300, reason="x") is None
    assert store.decide_request("req-1", PENDING, APPROVED, by="U3", at=1_300) is None
    assert store.get_request("req-1") == first
    assert store.decide_request("missing", PENDING, APPROVED, by="U2", at=1) is None
    assert store.get_request("missing") is None  # not created by the update
    # the next step of its life is conditioned on the new status
    cancelled = store.decide_request("req-1", APPROVED, RequestStatus.CANCELLED, by="U1", at=1_400)
    assert cancelled is not None and cancelled.status is RequestStatus.CANCELLED


def test_racing_decisions_first_one_wins(store: Store) -> None:
    for trial in range(TRIALS):
        request_id = f"req-{trial}"
        store.add_request(make_request(request_id, 1_000 + trial))
        results = race(
            16,
            lambda i, rid=request_id: store.decide_request(
                rid, PENDING, APPROVED if i % 2 else DENIED, by=f"U{i}", at=2_000 + i
            ),
        )
        winners = [(i, r) for i, r in enumerate(results) if r is not None]
        assert len(winners) == 1, (trial, results)
        i, won = winners[0]
        assert won.status is (APPROVED if i % 2 else DENIED)
        assert (won.decided_by, won.decided_at) == (f"U{i}", 2_000 + i)
        assert store.get_request(request_id) == won


def test_mark_request_started_once(store: Store) -> None:
    store.add_request(make_request("req-1", 1_000, status=APPROVED))
    assert store.mark_request_started("req-1", 1_500) is True
    assert store.mark_request_started("req-1", 1_600) is False
    stored = store.get_request("req-1")
    assert stored is not None and stored.started_at == 1_500
    assert store.mark_request_started("missing", 1_500) is False
    assert store.get_request("missing") is None
    results = race(8, lambda i: (store.add_request(make_request(f"r{i}", i)), None)[1])
    assert results == [None] * 8
    assert race(8, lambda i: store.mark_request_started("r0", 10 + i)).count(True) == 1


# ---- a random sequence of claims, releases and updates against a model -------------------------

NAMESPACES = ["a", "b", "c", "d", "e"]
CENTERS = ["x", "y"]
slot_ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("claim"),
            st.sampled_from(NAMESPACES),
            st.sampled_from(CENTERS),
            st.integers(0, 2),
            st.integers(0, 50),
        ),
        st.tuples(st.just("release"), st.sampled_from(NAMESPACES), st.integers(0, 2)),
        st.tuples(
            st.just("update"),
            st.sampled_from(NAMESPACES),
            st.integers(0, 2),
            st.one_of(st.none(), st.integers(0, 50)),
            st.one_of(st.none(), st.sampled_from(SlotState)),
            st.one_of(st.none(), st.integers(0, 50)),
        ),
    ),
    max_size=20,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=slot_ops,
    global_cap=st.integers(0, 4),
    center_caps=st.fixed_dictionaries({cc: st.integers(0, 3) for cc in CENTERS}),
)
def test_random_slot_operations_match_the_model(
    store_factory: StoreFactory,
    ops: list[Any],
    global_cap: int,
    center_caps: dict[str, int],
) -> None:
    store = store_factory()
    model: dict[str, ActivationSlot] = {}
    for op in ops:
        if op[0] == "claim":
            _, namespace, center, claimed_at, length = op
            slot = make_slot(namespace, center, claimed_at, ends_at=claimed_at + length)
            if namespace in model:
                expected = ALREADY
            elif len(model) >= global_cap:
                expected = GLOBAL
            elif sum(s.cost_center == center for s in model.values()) >= center_caps[center]:
                expected = COST_CENTER
            else:
                expected = CLAIMED
                model[namespace] = slot
            assert store.claim_slot(slot, global_cap, center_caps[center]) is expected
        elif op[0] == "release":
            _, namespace, claimed_at = op
            held = model.get(namespace)
            hit = held is not None and held.claimed_at == claimed_at
            if hit:
                del model[namespace]
            assert store.release_slot(namespace, claimed_at) is hit
        else:
            _, namespace, claimed_at, ends_at, state, record_start = op
            held = model.get(namespace)
            hit = held is not None and held.claimed_at == claimed_at
            if held is not None and hit:
                changes = {"ends_at": ends_at, "state": state, "record_start": record_start}
                model[namespace] = held.model_copy(
                    update={k: v for k, v in changes.items() if v is not None}
                )
            assert (
                store.update_slot(
                    namespace, claimed_at, ends_at=ends_at, state=state, record_start=record_start
                )
                is hit
            )
        assert store.list_slots() == [model[n] for n in sorted(model)]
        total, by_center = counts(store)  # on DynamoDB: the counters agree too
        assert total <= max(global_cap, 0)
        assert all(by_center[cc] <= center_caps[cc] for cc in CENTERS)
    for namespace in NAMESPACES:
        assert store.get_slot(namespace) == model.get(namespace)


# ---- SQLite specifics --------------------------------------------------------------------------


def test_sqlite_migrates_a_version_1_file_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite_file_at_version(path, 1)
    conn.execute(
        "INSERT INTO namespace_activity_logs (namespace_name, timestamp_start, operation_type, "
        "status) VALUES ('payments', 1000, 'auto_shutdown', 'active')"
    )
    conn.commit()
    conn.close()

    store = SqliteStore(path)
    assert store.history() == [make_record()]  # kept
    assert store.claim_slot(make_slot(), 1, 1) is CLAIMED
    store.add_request(make_request())
    store.close()

    conn = sqlite3.connect(path)
    try:
        # 3: notices; 4: week reads; 5: expiry; 6: REST API; 7: reasons; 8: seconds to ready
        assert SCHEMA_VERSION == 8
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        objects = dict(conn.execute("SELECT name, type FROM sqlite_master").fetchall())
        assert objects["activation_slots"] == "table"
        assert objects["activation_requests"] == "table"
        assert objects["idx_requests_status"] == "index"
        slot_columns = [row[1] for row in conn.execute("PRAGMA table_info(activation_slots)")]
        assert slot_columns == list(ActivationSlot.model_fields)
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM activation_requests "
                "WHERE status IN ('pending', 'approved') ORDER BY created_at DESC"
            )
        )
        assert "idx_requests_status" in plan
    finally:
        conn.close()


def test_sqlite_migrates_a_version_6_file_and_its_rows_read_no_reason(tmp_path: Path) -> None:
    path = tmp_path / "v6.db"
    conn = sqlite_file_at_version(path, 6)
    conn.execute(
        "INSERT INTO namespace_activity_logs (namespace_name, timestamp_start, operation_type, "
        "status, cost_center, user_id) VALUES ('payments', 1000, 'manual_activation', 'active', "
        "'cc-a', 'U1')"
    )
    conn.execute(
        "INSERT INTO activation_slots (namespace, cost_center, user_id, claimed_at, ends_at, "
        "state, record_start) VALUES ('payments', 'cc-a', 'U1', 1000, 8200, 'live', 1000)"
    )
    conn.commit()
    conn.close()

    activation = OperationType.MANUAL_ACTIVATION
    store = SqliteStore(path)
    try:
        old_record = make_record("payments", 1_000, activation, cost_center="cc-a", user_id="U1")
        assert store.history() == [old_record] and old_record.reason == ""
        old_slot = make_slot(state=SlotState.LIVE, record_start=1_000)
        assert store.list_slots() == [old_slot] and old_slot.reason == ""
        # The migrated file keeps the reasons written from now on.
        assert store.release_slot("payments", 1_000)
        slot = make_slot(claimed_at=9_000, reason="incident 4711")
        assert store.claim_slot(slot, 1, 1) is CLAIMED
        assert store.get_slot("payments") == slot
        record = make_record("payments", 9_000, activation, user_id="U1", reason="incident 4711")
        assert store.add_record(record)
        assert store.history() == [record, old_record]
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
        for table in ("namespace_activity_logs", "activation_slots"):
            columns = {row[1]: row for row in conn.execute(f"PRAGMA table_info({table})")}
            # (cid, name, type, notnull, default, pk)
            assert columns["reason"][2:5] == ("TEXT", 1, "''"), table
    finally:
        conn.close()


def test_sqlite_migrates_a_version_7_file_and_its_startups_read_no_seconds(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v7.db"
    conn = sqlite_file_at_version(path, 7)
    conn.execute(
        "INSERT INTO namespace_activity_logs (namespace_name, timestamp_start, timestamp_end, "
        "duration_minutes, operation_type, status) VALUES "
        "('payments', 1000, 1000, 0, 'auto_startup', 'completed')"
    )
    conn.commit()
    conn.close()

    startup = OperationType.AUTO_STARTUP
    store = SqliteStore(path)
    try:
        (old,) = store.history()
        assert old.ready_seconds is None and old.status is RecordStatus.COMPLETED
        store.set_ready_seconds("payments", 1_000, startup, 95)
        assert store.history()[0].ready_seconds == 95
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
    finally:
        conn.close()


# ---- DynamoDB specifics ------------------------------------------------------------------------


def test_dynamo_creates_its_activation_tables(dynamo_store: DynamoStore) -> None:
    client = dynamo_store.client
    slots = client.describe_table(TableName="test_activation_slots")["Table"]
    assert slots["KeySchema"] == [{"AttributeName": "namespace", "KeyType": "HASH"}]
    assert slots["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    requests = client.describe_table(TableName="test_activation_requests")["Table"]
    assert requests["KeySchema"] == [{"AttributeName": "request_id", "KeyType": "HASH"}]
    (index,) = requests["GlobalSecondaryIndexes"]
    assert index["IndexName"] == STATUS_INDEX == "by_status"
    assert index["KeySchema"] == [
        {"AttributeName": "status", "KeyType": "HASH"},
        {"AttributeName": "created_at", "KeyType": "RANGE"},
    ]
    assert {"AttributeName": "created_at", "AttributeType": "N"} in requests["AttributeDefinitions"]


def test_dynamo_existing_deployment_gets_the_missing_tables(dynamo_store: DynamoStore) -> None:
    dynamo_store.add_record(make_record())
    for table in ("test_activation_slots", "test_activation_requests"):
        dynamo_store.client.delete_table(TableName=table)
    again = DynamoStore(region=AWS_REGION, table_prefix="test_")
    assert again.history() == [make_record()]
    assert again.claim_slot(make_slot(), 1, 1) is CLAIMED
    again.add_request(make_request())
    assert again.list_requests([PENDING]) == [make_request()]


def test_dynamo_slot_and_counter_items(dynamo_store: DynamoStore) -> None:
    assert dynamo_store.claim_slot(make_slot("a1", "cc-a"), 5, 5) is CLAIMED
    assert dynamo_store.claim_slot(make_slot("b1", "cc-b"), 5, 5) is CLAIMED
    assert dynamo_counters(dynamo_store) == {
        "#count#global": 2,
        "#count#cc#cc-a": 1,
        "#count#cc#cc-b": 1,
    }
    raw = dynamo_store.client.get_item(
        TableName="test_activation_slots", Key={"namespace": {"S": "a1"}}
    )["Item"]
    assert raw["claimed_at"] == {"N": "1000"} and raw["state"] == {"S": "claimed"}
    assert "record_start" not in raw
    assert dynamo_store.get_slot("#count#global") is None
    assert dynamo_store.update_slot("#count#global", 0, ends_at=1) is False
    with pytest.raises(ValueError, match="activation slot"):
        dynamo_store.claim_slot(make_slot("#count#global"), 5, 5)
    assert dynamo_store.release_slot("a1", 1_000)
    assert dynamo_counters(dynamo_store) == {
        "#count#global": 1,
        "#count#cc#cc-a": 0,
        "#count#cc#cc-b": 1,
    }


def test_dynamo_writes_a_slots_reason_only_when_it_has_one(dynamo_store: DynamoStore) -> None:
    """`reason` is an optional attribute: absent when empty, as on slots written before it."""
    assert dynamo_store.claim_slot(make_slot("a1", reason="incident 4711"), 5, 5) is CLAIMED
    assert dynamo_store.claim_slot(make_slot("b1"), 5, 5) is CLAIMED

    def raw(namespace: str) -> dict[str, Any]:
        item: dict[str, Any] = dynamo_store.client.get_item(
            TableName="test_activation_slots", Key={"namespace": {"S": namespace}}
        )["Item"]
        return item

    assert raw("a1")["reason"] == {"S": "incident 4711"}
    assert "reason" not in raw("b1")
    slot = dynamo_store.get_slot("b1")
    assert slot is not None and slot.reason == ""


def test_dynamo_cost_center_items_keep_the_seed_attribute_names(
    dynamo_store: DynamoStore,
) -> None:
    dynamo_store.put_cost_center(make_permission(max_concurrent_namespaces=2))
    raw = dynamo_store.client.get_item(
        TableName="test_cost_center_permissions", Key={"cost_center": {"S": "cc-a"}}
    )["Item"]
    assert raw["is_authorized"] == {"BOOL": True}
    assert raw["max_concurrent_namespaces"] == {"N": "2"}
    assert raw["authorized_namespaces"] == {"L": [{"S": "payments"}, {"S": "team-*"}]}
    assert raw["created_at"] == {"N": "100"} and raw["updated_at"] == {"N": "100"}


def test_dynamo_list_requests_by_status_is_a_query_not_a_scan(dynamo_store: DynamoStore) -> None:
    for i in range(30):
        status = [PENDING, APPROVED, DENIED][i % 3]
        dynamo_store.add_request(make_request(f"r{i:02d}", 1_000 + i, status=status))
    calls = count_calls(dynamo_store)
    assert calls is not None
    pending = dynamo_store.list_requests([PENDING])
    assert [r.request_id for r in pending] == [f"r{i:02d}" for i in range(27, -1, -3)]
    assert len(dynamo_store.list_requests([PENDING, APPROVED])) == 20
    assert calls["Scan"] == 0
    assert calls["Query"] == 3
