"""`DynamoStore`: the audit log in DynamoDB (boto3 low-level client).

Tables (created when missing, on-demand billing), all named `{table_prefix}` + the seed's names:

- `namespace_activity_logs`: HASH `namespace_name` (S), RANGE `sk` (S) =
  `f"{timestamp_start:010d}#{operation_type}"`. The seed's bare `timestamp_start` cannot be the
  range key: an activation and a deactivation of one namespace in the same second would collide.
  Every seed attribute is kept (`timestamp_start` as a Number); `timestamp_end` and
  `duration_minutes` are absent while the record is open; `workloads` is a list of maps;
  `reason` (S, the reason a person gave for a `manual_activation`) is absent when empty, so items
  written before it read "".
  The sparse GSI `open_records` (HASH `open_type` = the operation type, RANGE `sk`) holds only
  open records: `open_type` is written with an open record and removed when it is closed, so
  `open_records()` is a Query, never a Scan. The GSI `by_start` (HASH `start_day` N = the UTC
  day number `timestamp_start // 86400`, RANGE `timestamp_start` N, all attributes projected)
  holds every record by start time.
- `activity_crossings`: HASH `midnight` (N), RANGE `record_id` (S) = `f"{sk}#{namespace_name}"`.
  A closed record whose interval crosses UTC midnights (start < midnight < end) has one entry per
  midnight, each a full copy of the record, written in the TransactWriteItems that closes (or
  adds) it (at most 99 entries beside the record; more go in batches just after) and rewritten
  by `set_status`. `records_overlapping(start, end)` is then Queries only: the entries of the
  midnight M at or before `start`, the records starting in [M, end) (one Query per UTC day on
  `by_start`), and the open records started before M (`open_records`). Item `midnight` = -1
  marks the one-time migration of tables made before these existed as done.
- `cost_center_permissions`: HASH `cost_center` (S), the seed's attributes: `is_authorized`
  (BOOL), `max_concurrent_namespaces` (N, absent when the global cap applies),
  `authorized_namespaces` (L of S), `created_at` and `updated_at` (N).
- `system_metrics` (HASH `metric_name`, RANGE `period` = local date): the daily counters of
  `core.metrics`, added to with an atomic ADD.
- `activation_slots`: HASH `namespace` (S). Two kinds of item:
  * a slot per namespace awake (or being woken) by activation: `namespace`, `cost_center`,
    `user_id`, `request_id`, `claimed_at`, `ends_at`, `state`, `record_start` (absent until set),
    `reason` (absent when empty; copied onto the window's `manual_activation` record);
  * counters: `namespace` = `#count#global` and `#count#cc#<cost center>`, attribute `active`
    (N), the number of slots held (all, and of that cost center). `#` cannot start a Kubernetes
    namespace name, so counters never collide with slots; `list_slots` skips them.
  `claim_slot` is ONE TransactWriteItems: Put the slot if `attribute_not_exists(namespace)`,
  increment the global counter if below the global cap, increment the cost center's counter if
  below its cap. DynamoDB applies all three or none, so racing claims (any number of processes
  and hosts) can never exceed a cap; the cancellation reasons say which condition failed.
  `release_slot` is one transaction too: Delete the slot (conditional on its `claimed_at`) and
  decrement both counters. Counters only change inside those transactions, so they always equal
  the number of slot items.
- `activation_requests`: HASH `request_id` (S), every `ActivationRequest` field (absent when
  None); GSI `by_status` (HASH `status` S, RANGE `created_at` N, all attributes projected), so
  `list_requests(statuses)` is one Query per status, never a Scan. The index is eventually
  consistent in real DynamoDB: a request written a moment ago may show late or under its old
  status; every decision is still a conditional write on the table itself.
- `notices`: the outbox of channel notices, HASH `notice_id` (S); `facts` is a JSON string
  (exact, and no DynamoDB type quirks). The sparse GSI `unsent_notices` (HASH `unsent` = "1",
  RANGE `next_attempt_at` N) holds only pending notices: `unsent` is written with a new notice
  and removed on delivery or expiry (`expired_at`, `slack.notice_max_age`), so `due_notices` and
  `pending_notice_count` are Queries, never a Scan. The index is
  eventually consistent: a notice just delivered may still show there, so readers re-read it
  from the table (consistent) before acting.
- `idempotency_keys`: the first answer to a REST POST with an `Idempotency-Key`, HASH `key` (S),
  every `IdempotentAnswer` field (`status`, `created_at`, `expires_at` as N). A claim is one
  PutItem conditioned on `attribute_not_exists(#k) OR expires_at <= :at` (no entry, or only an
  expired one), so exactly one of racing claimers wins; finishing is an UpdateItem and releasing
  a DeleteItem, both conditioned on `status = 0` (still running). TTL is enabled on `expires_at`
  at start: DynamoDB deletes expired entries itself, within days; until then the claim's
  condition treats them as gone.

`history_page` (see its docstring): with a namespace, one Query on that partition (the range key
orders it); otherwise a walk of `by_start` newest UTC day first, one Query per day, or a Scan when
the page has no upper bound on its start to begin the walk from.

Writes are conditional (PutItem `attribute_not_exists`, UpdateItem on "still open", "still
pending", "still the slot claimed at"), which DynamoDB serializes per item, so racing writers
cannot add a record twice, close it twice, or decide a request twice.
Numbers come back as `Decimal` and are converted to int/float; floats are written through their
shortest `repr`, so they round-trip exactly.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore import exceptions as botoexc
from botocore.config import Config

from core.errors import StoreError
from core.models import (
    ActivationRequest,
    ActivationSlot,
    ActivityRecord,
    ClaimOutcome,
    CostCenterPermission,
    HistoryQuery,
    IdempotentAnswer,
    Notice,
    OperationType,
    RecordStatus,
    RequestStatus,
    SlotState,
    WorkloadSnapshot,
)
from core.store.base import (
    SECONDS_PER_DAY,
    HistoryKey,
    midnights_crossed,
    newest_first,
    on_page,
    overlaps,
)

ACTIVITY_TABLE = "namespace_activity_logs"
COST_CENTER_TABLE = "cost_center_permissions"
METRICS_TABLE = "system_metrics"
SLOTS_TABLE = "activation_slots"
REQUESTS_TABLE = "activation_requests"
NOTICES_TABLE = "notices"
CROSSINGS_TABLE = "activity_crossings"
IDEMPOTENCY_TABLE = "idempotency_keys"
IDEMPOTENCY_TTL_ATTR = "expires_at"
# history_page without a namespace walks at most this many UTC days of `by_start` (one Query
# each) from the page's upper bound; anything older that the page still needs comes from one
# Scan with a filter, so a sparse filter over a long history costs a bounded number of calls.
HISTORY_WALK_DAYS = 31
# The Limit of the first Query of a history page, and of the largest: records of one second
# come in no order from `by_start`, so a small page re-reads the ties before its cursor; a few
# dozen small items cost little more than one, and a call less.
HISTORY_FIRST_ITEMS = 25
HISTORY_PAGE_ITEMS = 1_000
START_INDEX = "by_start"
START_DAY_ATTR = "start_day"
MIDNIGHT_ATTR = "midnight"
RECORD_ID_ATTR = "record_id"
# The crossings table item that says the start index and crossings of older tables are filled.
MIGRATION_KEY = {MIDNIGHT_ATTR: -1, RECORD_ID_ATTR: "#migration#by_start"}
TRANSACTION_LIMIT = 100  # items in one TransactWriteItems
TRANSACTION_BYTES = 3_000_000  # under the 4 MB a TransactWriteItems may carry
BATCH_LIMIT = 25  # items in one BatchWriteItem
INDEX_WAIT_SECONDS = 1_800
STATUS_INDEX = "by_status"
UNSENT_INDEX = "unsent_notices"
# A notice still to deliver: neither sent nor expired (#id, #sent, #expired in the names).
_NOTICE_PENDING = (
    "attribute_exists(#id) AND attribute_not_exists(#sent) AND attribute_not_exists(#expired)"
)
UNSENT_ATTR = "unsent"
UNSENT = "1"
COUNTER_PREFIX = "#count#"
GLOBAL_COUNTER = f"{COUNTER_PREFIX}global"
COUNTER_ATTR = "active"
OPEN_INDEX = "open_records"
OPEN_ATTR = "open_type"
SORT_KEY = "sk"
MAX_TIMESTAMP = 10**10  # sort keys hold 10 digits: enough until the year 2286

DEFAULT_CONFIG = Config(
    connect_timeout=5,
    read_timeout=10,
    retries={"mode": "standard", "max_attempts": 5},
)

_THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
}
_AUTH = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "MissingAuthenticationTokenException",
    "IncompleteSignature",
}
_CONDITION_FAILED = "ConditionalCheckFailedException"
_CLOSE_ATTEMPTS = 10
_TRANSACTION_CANCELED = "TransactionCanceledException"
# A write that met another transaction on the same item was not applied: try it again.
_TRANSACTION_CONFLICT = "TransactionConflictException"
# Cancellation reasons that mean "not applied, try again" (not a failed condition).
_RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
_TRANSACTION_ATTEMPTS = 10

_log = logging.getLogger(__name__)
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class _ConditionFailed(Exception):
    """A conditional write was refused; `item` is the stored item when DynamoDB returned it."""

    def __init__(self, response: Mapping[str, Any]) -> None:
        super().__init__("conditional check failed")
        self.has_item = "Item" in response
        raw = response.get("Item")
        self.item: dict[str, Any] | None = _from_attrs(raw) if raw else None


class _Cancelled(Exception):
    """A transaction was cancelled because of a failed condition; `failed` is the index of the
    first item (in request order) whose condition failed."""

    def __init__(self, failed: int) -> None:
        super().__init__(f"transaction cancelled: condition of item {failed} failed")
        self.failed = failed


def cost_center_counter(cost_center: str) -> str:
    """The key of the counter item holding the number of slots of `cost_center`."""
    return f"{COUNTER_PREFIX}cc#{cost_center}"


def sort_key(timestamp_start: int, operation_type: OperationType) -> str:
    """The activity table's range key: zero-padded start, then the operation type."""
    if not 0 <= timestamp_start < MAX_TIMESTAMP:
        raise ValueError(
            f"timestamp_start {timestamp_start} is outside 0..{MAX_TIMESTAMP - 1} (epoch seconds)"
        )
    return f"{timestamp_start:010d}#{OperationType(operation_type).value}"


class DynamoStore:
    """The audit log in DynamoDB. `client` (a boto3 DynamoDB client) overrides region,
    endpoint_url and config; `config` defaults to short timeouts and 5 standard retries."""

    def __init__(
        self,
        region: str,
        endpoint_url: str | None = None,
        table_prefix: str = "",
        client: Any = None,
        config: Config | None = None,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self.table_prefix = table_prefix
        self.activity_table = f"{table_prefix}{ACTIVITY_TABLE}"
        self.cost_center_table = f"{table_prefix}{COST_CENTER_TABLE}"
        self.metrics_table = f"{table_prefix}{METRICS_TABLE}"
        self.slots_table = f"{table_prefix}{SLOTS_TABLE}"
        self.requests_table = f"{table_prefix}{REQUESTS_TABLE}"
        self.notices_table = f"{table_prefix}{NOTICES_TABLE}"
        self.crossings_table = f"{table_prefix}{CROSSINGS_TABLE}"
        self.idempotency_table = f"{table_prefix}{IDEMPOTENCY_TABLE}"
        self.items_read = 0
        self._count_lock = threading.Lock()
        if client is None:
            try:
                client = boto3.session.Session().client(
                    "dynamodb",
                    region_name=region,
                    endpoint_url=endpoint_url,
                    config=config or DEFAULT_CONFIG,
                )
            except (botoexc.BotoCoreError, ValueError) as exc:
                raise StoreError(
                    f"cannot create a DynamoDB client (region {region!r}, endpoint "
                    f"{endpoint_url!r}): {exc}; check store.region and store.endpoint_url"
                ) from exc
        self._client: Any = client
        self._ensure_tables()

    @property
    def client(self) -> Any:
        """The boto3 DynamoDB client (low level)."""
        return self._client

    # ---- Store -------------------------------------------------------------------------------

    def add_record(self, record: ActivityRecord) -> bool:
        put = {
            "TableName": self.activity_table,
            "Item": _to_attrs(activity_item(record)),
            "ConditionExpression": "attribute_not_exists(#sk)",
            "ExpressionAttributeNames": {"#sk": SORT_KEY},
        }
        crossings = crossing_items(record)
        try:
            if crossings:
                self._write_with_crossings("add a record", {"Put": put}, crossings)
            else:
                self._call("add a record", self._client.put_item, **put)
        except (_ConditionFailed, _Cancelled):
            return False
        return True

    def add_records(self, records: Sequence[ActivityRecord]) -> list[bool]:
        """One conditional put each (BatchWriteItem takes no condition, and a transaction
        would fail whole for one key already there), a few in flight at once."""
        if len(records) <= 1:
            return [self.add_record(record) for record in records]
        with ThreadPoolExecutor(max_workers=min(8, len(records))) as pool:
            return list(pool.map(self.add_record, records))

    def get_record(
        self, namespace: str, timestamp_start: int, operation_type: OperationType
    ) -> ActivityRecord | None:
        item = self._get_item(self._key(namespace, timestamp_start, operation_type))
        return _to_record(item) if item is not None else None

    def close_record(
        self, namespace: str, timestamp_start: int, operation_type: OperationType, end: int
    ) -> bool:
        if midnights_crossed(timestamp_start, end):
            return self._close_with_crossings(namespace, timestamp_start, operation_type, end)
        key = self._key(namespace, timestamp_start, operation_type)
        # The new status depends on the stored one (active -> completed, others kept), and an
        # UpdateExpression cannot branch: guess `active`, and on a refusal learn the stored status
        # from the refused item and retry conditioned on it. Every attempt is conditioned on the
        # record still being open, so exactly one closer wins.
        expected = RecordStatus.ACTIVE.value
        for _ in range(_CLOSE_ATTEMPTS):
            new = (
                RecordStatus.COMPLETED.value if expected == RecordStatus.ACTIVE.value else expected
            )
            try:
                self._call(
                    "close a record",
                    self._client.update_item,
                    TableName=self.activity_table,
                    Key=key,
                    UpdateExpression="SET #end = :end, #dur = :dur, #st = :new REMOVE #open",
                    ConditionExpression=(
                        "attribute_exists(#sk) AND attribute_not_exists(#end) AND #st = :expected"
                    ),
                    ExpressionAttributeNames={
                        "#sk": SORT_KEY,
                        "#end": "timestamp_end",
                        "#dur": "duration_minutes",
                        "#st": "status",
                        "#open": OPEN_ATTR,
                    },
                    ExpressionAttributeValues=_to_attrs(
                        {
                            ":end": end,
                            ":dur": (end - timestamp_start) // 60,
                            ":new": new,
                            ":expected": expected,
                        }
                    ),
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except _ConditionFailed as refused:
                item = refused.item if refused.has_item else self._get_item(key)
                if item is None or item.get("timestamp_end") is not None:
                    return False  # missing, or already closed
                expected = str(item.get("status", ""))
                continue
            return True
        raise self._kept_changing(namespace, timestamp_start, operation_type)

    def _close_with_crossings(
        self, namespace: str, timestamp_start: int, operation_type: OperationType, end: int
    ) -> bool:
        """Close a record crossing midnights: read it, then one transaction updates it (if it
        is unchanged since the read) and puts its crossing entries, copies of the closed record."""
        key = self._key(namespace, timestamp_start, operation_type)
        for _ in range(_CLOSE_ATTEMPTS):
            item = self._get_item(key)
            if item is None or item.get("timestamp_end") is not None:
                return False  # missing, or already closed
            record = _to_record(item)
            status = (
                RecordStatus.COMPLETED if record.status is RecordStatus.ACTIVE else record.status
            )
            closed = record.model_copy(
                update={
                    "timestamp_end": end,
                    "duration_minutes": (end - timestamp_start) // 60,
                    "status": status,
                }
            )
            # Unchanged since the read: still open, same status and message.
            has_message = "error_message" in item
            condition = (
                "attribute_exists(#sk) AND attribute_not_exists(#end) AND #st = :expected AND "
                + ("#err = :err" if has_message else "attribute_not_exists(#err)")
            )
            update = {
                "Update": {
                    "TableName": self.activity_table,
                    "Key": key,
                    "UpdateExpression": "SET #end = :end, #dur = :dur, #st = :new REMOVE #open",
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {
                        "#sk": SORT_KEY,
                        "#end": "timestamp_end",
                        "#dur": "duration_minutes",
                        "#st": "status",
                        "#err": "error_message",
                        "#open": OPEN_ATTR,
                    },
                    "ExpressionAttributeValues": _to_attrs(
                        {
                            ":end": end,
                            ":dur": closed.duration_minutes,
                            ":new": status.value,
                            ":expected": item.get("status", ""),
                            **({":err": item["error_message"]} if has_message else {}),
                        }
                    ),
                }
            }
            try:
                self._write_with_crossings("close a record", update, crossing_items(closed))
            except _Cancelled:
                continue  # changed since the read: read it again
            return True
        raise self._kept_changing(namespace, timestamp_start, operation_type)

    def _kept_changing(
        self, namespace: str, timestamp_start: int, operation_type: OperationType
    ) -> StoreError:
        return StoreError(
            f"DynamoDB table {self.activity_table}: the status of record {namespace} "
            f"{timestamp_start} {operation_type} kept changing while closing it; try again"
        )

    def set_status(
        self,
        namespace: str,
        timestamp_start: int,
        operation_type: OperationType,
        status: RecordStatus,
        error_message: str,
    ) -> None:
        """Update status and error message; a missing record is left missing (no-op). A closed
        record's crossing entries are rewritten in the same transaction."""
        key = self._key(namespace, timestamp_start, operation_type)
        update: dict[str, Any] = {
            "TableName": self.activity_table,
            "Key": key,
            "UpdateExpression": "SET #st = :st, #err = :err",
            "ConditionExpression": "attribute_exists(#sk) AND attribute_not_exists(#end)",
            "ExpressionAttributeNames": {
                "#sk": SORT_KEY,
                "#st": "status",
                "#err": "error_message",
                "#end": "timestamp_end",
            },
            "ExpressionAttributeValues": _to_attrs(
                {":st": RecordStatus(status).value, ":err": error_message}
            ),
        }
        action = "update a record's status"
        try:  # an open record: no crossing entries
            self._call(
                action,
                self._client.update_item,
                **update,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return
        except _ConditionFailed as refused:
            item = refused.item if refused.has_item else self._get_item(key)
        if item is None:
            return
        # Closed: everything but status and message is final, so the copies come from `item`.
        changed = _to_record(item).model_copy(
            update={"status": RecordStatus(status), "error_message": error_message}
        )
        update["ConditionExpression"] = "attribute_exists(#sk)"
        del update["ExpressionAttributeNames"]["#end"]
        try:
            crossings = crossing_items(changed)
            if crossings:
                self._write_with_crossings(action, {"Update": update}, crossings)
            else:
                self._call(action, self._client.update_item, **update)
        except (_ConditionFailed, _Cancelled):
            return

    def set_ready_seconds(
        self, namespace: str, timestamp_start: int, operation_type: OperationType, seconds: int
    ) -> None:
        """A point record (end = start) has no crossing copies: one conditional update."""
        try:
            self._call(
                "record a wake's seconds to ready",
                self._client.update_item,
                TableName=self.activity_table,
                Key=self._key(namespace, timestamp_start, operation_type),
                UpdateExpression="SET #ready = :ready",
                ConditionExpression="attribute_exists(#sk)",
                ExpressionAttributeNames={"#sk": SORT_KEY, "#ready": "ready_seconds"},
                ExpressionAttributeValues=_to_attrs({":ready": seconds}),
            )
        except _ConditionFailed:
            return

    def add_snapshots(
        self,
        namespace: str,
        timestamp_start: int,
        operation_type: OperationType,
        snapshots: Sequence[WorkloadSnapshot],
    ) -> bool:
        """One conditional update: appended only while the record is open (an open record has
        no crossing copies to rewrite)."""
        try:
            self._call(
                "add workloads to a record",
                self._client.update_item,
                TableName=self.activity_table,
                Key=self._key(namespace, timestamp_start, operation_type),
                UpdateExpression="SET #wl = list_append(if_not_exists(#wl, :none), :new)",
                ConditionExpression="attribute_exists(#sk) AND attribute_not_exists(#end)",
                ExpressionAttributeNames={
                    "#sk": SORT_KEY,
                    "#wl": "workloads",
                    "#end": "timestamp_end",
                },
                ExpressionAttributeValues=_to_attrs(
                    {":new": [w.model_dump(mode="json") for w in snapshots], ":none": []}
                ),
            )
        except _ConditionFailed:
            return False
        return True

    def open_records(self, operation_type: OperationType | None = None) -> list[ActivityRecord]:
        types = list(OperationType) if operation_type is None else [OperationType(operation_type)]
        records: list[ActivityRecord] = []
        for op in types:
            pages = self._pages(
                "list open records",
                self._client.query,
                TableName=self.activity_table,
                IndexName=OPEN_INDEX,
                KeyConditionExpression="#open = :op",
                ExpressionAttributeNames={"#open": OPEN_ATTR},
                ExpressionAttributeValues=_to_attrs({":op": op.value}),
                ScanIndexForward=True,
            )
            records.extend(_to_record(_from_attrs(raw)) for page in pages for raw in page["Items"])
        # The index is eventually consistent in real DynamoDB: drop anything closed meanwhile.
        open_now = [r for r in records if r.is_open]
        return sorted(open_now, key=_order_key)

    def history(
        self, namespace: str | None = None, limit: int | None = None
    ) -> list[ActivityRecord]:
        if limit is not None and limit <= 0:
            return []
        records: list[ActivityRecord] = []
        if namespace is not None:
            query: dict[str, Any] = {
                "TableName": self.activity_table,
                "KeyConditionExpression": "#ns = :ns",
                "ExpressionAttributeNames": {"#ns": "namespace_name"},
                "ExpressionAttributeValues": _to_attrs({":ns": namespace}),
                "ScanIndexForward": False,
                "ConsistentRead": True,
            }
            if limit is not None:
                query["Limit"] = limit
            for page in self._pages("read the history", self._client.query, **query):
                records.extend(_to_record(_from_attrs(raw)) for raw in page["Items"])
                if limit is not None and len(records) >= limit:
                    break
            return records[:limit]  # the range key already orders one namespace newest first
        # Every namespace: an audit dump, so a Scan, then one total order.
        for page in self._pages(
            "read the history",
            self._client.scan,
            TableName=self.activity_table,
            ConsistentRead=True,
        ):
            records.extend(_to_record(_from_attrs(raw)) for raw in page["Items"])
        records.sort(key=_order_key, reverse=True)
        return records[:limit]

    def history_page(
        self, query: HistoryQuery, limit: int, after: HistoryKey | None = None
    ) -> list[ActivityRecord]:
        """With `query.namespace`: one Query on that partition, newest first (the range key `sk`
        orders it by start, then operation: the page's order within one namespace), `since`,
        `until` and `after` as key conditions, user and operation as a FilterExpression; pages
        of `limit + 1` items (or `HISTORY_FIRST_ITEMS`) and more until `limit` records match.

        Without a namespace, when the page has an upper bound on its start (`until`, or `after`
        on every page but the first): the `by_start` index, newest UTC day first, one Query per
        day (`since`, `until`, `after` as key conditions on `timestamp_start`, user and operation
        filtered server-side). Its items are in start order within a day, in no order across
        days, and ties of one second in no order at all, so the page's records are certain once
        `limit` matching records start after the last item a page evaluated (or its day is
        done); then it stops. At most `HISTORY_WALK_DAYS` days are walked: what the page still
        needs from older days comes from one Scan filtered on them. The index is eventually
        consistent: a record added a moment ago may show late.

        Without a namespace and without an upper bound (no `until`, first page): a Scan with a
        FilterExpression (every filter server-side), sorted here. An index cannot serve it: its
        partitions are days, and nothing says which day is the newest without reading. Give
        `until` (e.g. now + 1 s) to walk the index instead."""
        if limit <= 0:
            return []
        bounds = _start_bounds(query, after)
        if bounds is None:
            return []
        low, high = bounds
        if query.namespace is not None:
            return self._namespace_page(query, query.namespace, limit, after, low, high)
        if high is None:
            return newest_first(self._scan_history(query, after, low, None))[:limit]
        return self._walked_page(query, limit, after, low, high)

    def _namespace_page(
        self,
        query: HistoryQuery,
        namespace: str,
        limit: int,
        after: HistoryKey | None,
        low: int | None,
        high: int | None,
    ) -> list[ActivityRecord]:
        lower = None if low is None else f"{low:010d}"  # sk >= lower: start >= low
        # sk < upper: start <= high, and strictly after `after` in the page's order.
        uppers = [] if high is None or high + 1 >= MAX_TIMESTAMP else [f"{high + 1:010d}"]
        if after is not None:
            start, after_namespace, operation = after
            if namespace == after_namespace:
                uppers.append(f"{start:010d}#{operation}")
            elif namespace > after_namespace:
                uppers.append(f"{start:010d}")
        upper = min(uppers) if uppers else None
        names = {"#ns": "namespace_name"}
        values: dict[str, Any] = {":ns": namespace}
        condition = "#ns = :ns"
        if lower is not None or upper is not None:
            names["#sk"] = SORT_KEY
        if lower is not None and upper is not None:
            if lower > upper:
                return []
            # BETWEEN includes `upper`: the one item it may hold (`after` itself) is dropped by
            # `on_page` below.
            condition += " AND #sk BETWEEN :lower AND :upper"
            values.update({":lower": lower, ":upper": upper})
        elif lower is not None:
            condition += " AND #sk >= :lower"
            values[":lower"] = lower
        elif upper is not None:
            condition += " AND #sk < :upper"
            values[":upper"] = upper
        request = {
            "TableName": self.activity_table,
            "KeyConditionExpression": condition,
            "ScanIndexForward": False,
            "ConsistentRead": True,
            **_filtered(query, names, values),
        }
        found: list[ActivityRecord] = []
        for page in self._history_pages(self._client.query, request, limit):
            found.extend(r for r in _page_records(page) if on_page(query, after, r))
            if len(found) >= limit:
                break
        return found[:limit]

    def _walked_page(
        self, query: HistoryQuery, limit: int, after: HistoryKey | None, low: int | None, high: int
    ) -> list[ActivityRecord]:
        oldest_day = 0 if low is None else low // SECONDS_PER_DAY
        last_day = max(oldest_day, high // SECONDS_PER_DAY - HISTORY_WALK_DAYS + 1)
        found: list[ActivityRecord] = []
        for day in range(high // SECONDS_PER_DAY, last_day - 1, -1):
            names = {"#day": START_DAY_ATTR, "#ts": "timestamp_start"}
            values: dict[str, Any] = {
                ":day": day,
                ":low": max(low or 0, day * SECONDS_PER_DAY),
                ":high": min(high, day * SECONDS_PER_DAY + SECONDS_PER_DAY - 1),
            }
            request = {
                "TableName": self.activity_table,
                "IndexName": START_INDEX,
                "KeyConditionExpression": "#day = :day AND #ts BETWEEN :low AND :high",
                "ScanIndexForward": False,
                **_filtered(query, names, values),
            }
            for page in self._history_pages(self._client.query, request, limit):
                found.extend(r for r in _page_records(page) if on_page(query, after, r))
                last = page.get("LastEvaluatedKey")
                evaluated = _from_attrs(last).get("timestamp_start") if last else None
                # Later items of the walk start at or before `evaluated`: newer ones are final.
                if evaluated is not None and (
                    sum(r.timestamp_start > evaluated for r in found) >= limit
                ):
                    return newest_first(found)[:limit]
            if len(found) >= limit:  # the day is done, and every later day is older
                return newest_first(found)[:limit]
        if last_day > oldest_day:  # days older than the walk
            found.extend(self._scan_history(query, after, low, last_day * SECONDS_PER_DAY - 1))
        return newest_first(found)[:limit]

    def _scan_history(
        self, query: HistoryQuery, after: HistoryKey | None, low: int | None, high: int | None
    ) -> list[ActivityRecord]:
        """Every record matching `query` with a start in [low, high], after `after`: a Scan
        with every filter in its FilterExpression."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        starts = []
        if low is not None:
            starts.append("#ts >= :low")
            values[":low"] = low
        if high is not None:
            starts.append("#ts <= :high")
            values[":high"] = high
        if starts:
            names["#ts"] = "timestamp_start"
        request: dict[str, Any] = {"TableName": self.activity_table, "ConsistentRead": True}
        request.update(_filtered(query, names, values, starts))
        pages = self._pages("read a history page", self._client.scan, **request)
        return [r for page in pages for r in _page_records(page) if on_page(query, after, r)]

    def _history_pages(
        self, method: Callable[..., Any], request: dict[str, Any], limit: int
    ) -> Iterator[dict[str, Any]]:
        """The pages of one Query: the first evaluates `limit + 1` items (at least
        `HISTORY_FIRST_ITEMS`), each next one twice as many (up to `HISTORY_PAGE_ITEMS`), so a
        page with a sparse filter costs few calls."""
        size = min(max(limit + 1, HISTORY_FIRST_ITEMS), HISTORY_PAGE_ITEMS)
        while True:
            page = self._call("read a history page", method, **request, Limit=size)
            yield page
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            request = {**request, "ExclusiveStartKey": last}
            size = min(size * 2, HISTORY_PAGE_ITEMS)

    def records_overlapping(self, start: int, end: int) -> list[ActivityRecord]:
        if end <= start:
            return []
        midnight = start - start % SECONDS_PER_DAY
        found: dict[tuple[str, int, OperationType], ActivityRecord] = {}
        for item in self._overlap_candidates(midnight, end):
            record = _to_record(item)
            seen = found.get(record.key)
            # The open index is eventually consistent: a closed copy is the newer one.
            if seen is None or seen.is_open:
                found[record.key] = record
        return [r for r in found.values() if overlaps(r, start, end)]

    def _overlap_candidates(self, midnight: int, end: int) -> Iterator[dict[str, Any]]:
        action = "read the records of a period"
        queries: list[dict[str, Any]] = [
            {
                "TableName": self.crossings_table,
                "KeyConditionExpression": "#m = :m",
                "ExpressionAttributeNames": {"#m": MIDNIGHT_ATTR},
                "ExpressionAttributeValues": _to_attrs({":m": midnight}),
                "ConsistentRead": True,
            }
        ]
        for day in range(midnight // SECONDS_PER_DAY, (end - 1) // SECONDS_PER_DAY + 1):
            queries.append(
                {
                    "TableName": self.activity_table,
                    "IndexName": START_INDEX,
                    "KeyConditionExpression": "#day = :day AND #ts < :end",
                    "ExpressionAttributeNames": {"#day": START_DAY_ATTR, "#ts": "timestamp_start"},
                    "ExpressionAttributeValues": _to_attrs({":day": day, ":end": end}),
                }
            )
        for operation in OperationType:  # open records that started before the midnight
            queries.append(
                {
                    "TableName": self.activity_table,
                    "IndexName": OPEN_INDEX,
                    "KeyConditionExpression": "#open = :op AND #sk < :before",
                    "ExpressionAttributeNames": {"#open": OPEN_ATTR, "#sk": SORT_KEY},
                    "ExpressionAttributeValues": _to_attrs(
                        {":op": operation.value, ":before": f"{midnight:010d}"}
                    ),
                }
            )
        for query in queries:
            for page in self._pages(action, self._client.query, **query):
                self._count_read(int(page.get("ScannedCount", len(page["Items"]))))
                yield from (_from_attrs(raw) for raw in page["Items"])

    def _count_read(self, items: int) -> None:
        with self._count_lock:
            self.items_read += items

    # ---- cost-center permissions -------------------------------------------------------------

    def get_cost_center(self, cost_center: str) -> CostCenterPermission | None:
        item = self._get("read a cost center", self.cost_center_table, {"cost_center": cost_center})
        return _to_cost_center(item) if item is not None else None

    def list_cost_centers(self) -> list[CostCenterPermission]:
        items = self._scan("list cost centers", self.cost_center_table)
        return sorted((_to_cost_center(i) for i in items), key=lambda p: p.cost_center)

    def put_cost_center(self, permission: CostCenterPermission) -> None:
        # An UpdateItem, not a PutItem: `created_at` is kept when the row exists.
        names = {
            "#auth": "is_authorized",
            "#list": "authorized_namespaces",
            "#created": "created_at",
            "#updated": "updated_at",
            "#max": "max_concurrent_namespaces",
        }
        values: dict[str, Any] = {
            ":auth": permission.is_authorized,
            ":list": list(permission.authorized_namespaces),
            ":created": permission.created_at,
            ":updated": permission.updated_at,
        }
        expression = (
            "SET #auth = :auth, #list = :list, #updated = :updated, "
            "#created = if_not_exists(#created, :created)"
        )
        if permission.max_concurrent_namespaces is None:
            expression += " REMOVE #max"
        else:
            expression = expression.replace("SET ", "SET #max = :max, ", 1)
            values[":max"] = permission.max_concurrent_namespaces
        self._call(
            "write a cost center",
            self._client.update_item,
            TableName=self.cost_center_table,
            Key=_to_attrs({"cost_center": permission.cost_center}),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=_to_attrs(values),
        )

    def seed_cost_centers(self, permissions: Collection[CostCenterPermission]) -> int:
        inserted = 0
        for permission in permissions:
            try:
                self._call(
                    "seed a cost center",
                    self._client.put_item,
                    TableName=self.cost_center_table,
                    Item=_to_attrs(_cost_center_item(permission)),
                    ConditionExpression="attribute_not_exists(#cc)",
                    ExpressionAttributeNames={"#cc": "cost_center"},
                )
            except _ConditionFailed:
                continue  # an existing row (perhaps changed by an admin) is never overwritten
            inserted += 1
        return inserted

    # ---- activation slots --------------------------------------------------------------------

    def claim_slot(
        self, slot: ActivationSlot, global_cap: int, cost_center_cap: int
    ) -> ClaimOutcome:
        _check_slot_name(slot.namespace)
        items = [
            {
                "Put": {
                    "TableName": self.slots_table,
                    "Item": _to_attrs(_slot_item(slot)),
                    "ConditionExpression": "attribute_not_exists(#ns)",
                    "ExpressionAttributeNames": {"#ns": "namespace"},
                }
            },
            self._increment(GLOBAL_COUNTER, global_cap),
            self._increment(cost_center_counter(slot.cost_center), cost_center_cap),
        ]
        try:
            self._transact("claim an activation slot", items)
        except _Cancelled as cancelled:
            # Reasons come in request order: the first failed condition decides, which gives
            # the same precedence as the SQLite store (already active, global, cost center).
            return (
                ClaimOutcome.ALREADY_ACTIVE,
                ClaimOutcome.GLOBAL_LIMIT,
                ClaimOutcome.COST_CENTER_LIMIT,
            )[cancelled.failed]
        return ClaimOutcome.CLAIMED

    def get_slot(self, namespace: str) -> ActivationSlot | None:
        if namespace.startswith(COUNTER_PREFIX):
            return None
        item = self._get("read an activation slot", self.slots_table, {"namespace": namespace})
        return _to_slot(item) if item is not None else None

    def list_slots(self) -> list[ActivationSlot]:
        # A Scan is right here: the table holds at most the global cap of slots plus counters.
        items = self._scan("list activation slots", self.slots_table)
        slots = [_to_slot(i) for i in items if not str(i["namespace"]).startswith(COUNTER_PREFIX)]
        return sorted(slots, key=lambda s: s.namespace)

    def update_slot(
        self,
        namespace: str,
        claimed_at: int,
        *,
        ends_at: int | None = None,
        state: SlotState | None = None,
        record_start: int | None = None,
    ) -> bool:
        if namespace.startswith(COUNTER_PREFIX):
            return False
        changes: dict[str, Any] = {}
        if ends_at is not None:
            changes["ends_at"] = ends_at
        if state is not None:
            changes["state"] = SlotState(state).value
        if record_start is not None:
            changes["record_start"] = record_start
        if not changes:  # nothing to change: report whether that slot is still there
            slot = self.get_slot(namespace)
            return slot is not None and slot.claimed_at == claimed_at
        names = {f"#f{i}": name for i, name in enumerate(changes)}
        values = {f":f{i}": value for i, value in enumerate(changes.values())}
        try:
            self._call(
                "update an activation slot",
                self._client.update_item,
                TableName=self.slots_table,
                Key=_to_attrs({"namespace": namespace}),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(changes))),
                ConditionExpression="#claimed = :claimed",  # false when the slot is missing
                ExpressionAttributeNames={**names, "#claimed": "claimed_at"},
                ExpressionAttributeValues=_to_attrs({**values, ":claimed": claimed_at}),
            )
        except _ConditionFailed:
            return False
        return True

    def release_slot(self, namespace: str, claimed_at: int) -> bool:
        slot = self.get_slot(namespace)
        if slot is None or slot.claimed_at != claimed_at:
            return False
        # The Delete is conditioned on the slot read above (same claim time, same cost center),
        # so the counters decremented are the ones its claim incremented.
        items = [
            {
                "Delete": {
                    "TableName": self.slots_table,
                    "Key": _to_attrs({"namespace": namespace}),
                    "ConditionExpression": "#claimed = :claimed AND #cc = :cc",
                    "ExpressionAttributeNames": {"#claimed": "claimed_at", "#cc": "cost_center"},
                    "ExpressionAttributeValues": _to_attrs(
                        {":claimed": claimed_at, ":cc": slot.cost_center}
                    ),
                }
            },
            self._decrement(GLOBAL_COUNTER),
            self._decrement(cost_center_counter(slot.cost_center)),
        ]
        try:
            self._transact("release an activation slot", items)
        except _Cancelled:
            return False  # released (or replaced) by someone else meanwhile
        return True

    # ---- activation requests -----------------------------------------------------------------

    def add_request(self, request: ActivationRequest) -> None:
        try:
            self._call(
                "add an activation request",
                self._client.put_item,
                TableName=self.requests_table,
                Item=_to_attrs(_request_item(request)),
                ConditionExpression="attribute_not_exists(#id)",
                ExpressionAttributeNames={"#id": "request_id"},
            )
        except _ConditionFailed:
            raise StoreError(
                f"DynamoDB table {self.requests_table}: activation request "
                f"{request.request_id!r} already exists; request ids must be unique"
            ) from None

    def get_request(self, request_id: str) -> ActivationRequest | None:
        item = self._get(
            "read an activation request", self.requests_table, {"request_id": request_id}
        )
        return _to_request(item) if item is not None else None

    def list_requests(
        self, statuses: Collection[RequestStatus] | None = None
    ) -> list[ActivationRequest]:
        if statuses is None:
            items = self._scan("list activation requests", self.requests_table)
            found = [_to_request(i) for i in items]
        else:
            wanted = sorted({RequestStatus(s) for s in statuses})
            by_id: dict[str, ActivationRequest] = {}
            for status in wanted:
                pages = self._pages(
                    "list activation requests",
                    self._client.query,
                    TableName=self.requests_table,
                    IndexName=STATUS_INDEX,
                    KeyConditionExpression="#st = :st",
                    ExpressionAttributeNames={"#st": "status"},
                    ExpressionAttributeValues=_to_attrs({":st": status.value}),
                    ScanIndexForward=False,
                )
                for page in pages:
                    for raw in page["Items"]:
                        request = _to_request(_from_attrs(raw))
                        by_id.setdefault(request.request_id, request)
            found = [r for r in by_id.values() if r.status in wanted]
        return sorted(found, key=lambda r: (r.created_at, r.request_id), reverse=True)

    def decide_request(
        self,
        request_id: str,
        expected: RequestStatus,
        new: RequestStatus,
        *,
        by: str,
        at: int,
        reason: str = "",
    ) -> ActivationRequest | None:
        try:
            response = self._call(
                "decide an activation request",
                self._client.update_item,
                TableName=self.requests_table,
                Key=_to_attrs({"request_id": request_id}),
                UpdateExpression="SET #st = :new, #by = :by, #at = :at, #why = :why",
                ConditionExpression="#st = :expected",  # false when the request is missing
                ExpressionAttributeNames={
                    "#st": "status",
                    "#by": "decided_by",
                    "#at": "decided_at",
                    "#why": "decision_reason",
                },
                ExpressionAttributeValues=_to_attrs(
                    {
                        ":new": RequestStatus(new).value,
                        ":by": by,
                        ":at": at,
                        ":why": reason,
                        ":expected": RequestStatus(expected).value,
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except _ConditionFailed:
            return None
        return _to_request(_from_attrs(response["Attributes"]))

    def mark_request_started(self, request_id: str, at: int) -> bool:
        try:
            self._call(
                "mark an activation request started",
                self._client.update_item,
                TableName=self.requests_table,
                Key=_to_attrs({"request_id": request_id}),
                UpdateExpression="SET #started = :at",
                ConditionExpression="attribute_exists(#id) AND attribute_not_exists(#started)",
                ExpressionAttributeNames={"#id": "request_id", "#started": "started_at"},
                ExpressionAttributeValues=_to_attrs({":at": at}),
            )
        except _ConditionFailed:
            return False
        return True

    def increment_metric(self, metric_name: str, period: str, amount: float, at: int) -> None:
        self._call(
            "count a metric",
            self._client.update_item,
            TableName=self.metrics_table,
            Key=_to_attrs({"metric_name": metric_name, "period": period}),
            UpdateExpression="ADD #value :amount SET updated_at = :at",
            ExpressionAttributeNames={"#value": "value"},
            ExpressionAttributeValues=_to_attrs({":amount": amount, ":at": at}),
        )

    def get_metric(self, metric_name: str, period: str) -> float:
        response = self._call(
            "read a metric",
            self._client.get_item,
            TableName=self.metrics_table,
            Key=_to_attrs({"metric_name": metric_name, "period": period}),
            ConsistentRead=True,
        )
        item = _from_attrs(response.get("Item") or {})
        return float(item.get("value", 0))

    # ---- notices ----------------------------------------------------------------------------

    def add_notice(self, notice: Notice) -> bool:
        try:
            self._call(
                "add a notice",
                self._client.put_item,
                TableName=self.notices_table,
                Item=_to_attrs(_notice_item(notice)),
                ConditionExpression="attribute_not_exists(#id)",
                ExpressionAttributeNames={"#id": "notice_id"},
            )
        except _ConditionFailed:
            return False
        return True

    def get_notice(self, notice_id: str) -> Notice | None:
        item = self._get("read a notice", self.notices_table, {"notice_id": notice_id})
        return _to_notice(item) if item is not None else None

    def due_notices(self, now: int, limit: int) -> list[Notice]:
        if limit <= 0:
            return []
        pages = self._pages(
            "list due notices",
            self._client.query,
            TableName=self.notices_table,
            IndexName=UNSENT_INDEX,
            KeyConditionExpression="#u = :u AND #next <= :now",
            ExpressionAttributeNames={"#u": UNSENT_ATTR, "#next": "next_attempt_at"},
            ExpressionAttributeValues=_to_attrs({":u": UNSENT, ":now": now}),
        )
        due = [_to_notice(_from_attrs(raw)) for page in pages for raw in page["Items"]]
        # The index orders by next_attempt_at; the contract is oldest event first.
        due.sort(key=lambda n: (n.at, n.sequence, n.notice_id))
        return [n for n in due if n.pending][:limit]

    def mark_notice_delivered(self, notice_id: str, at: int, ref: str) -> bool:
        try:
            self._call(
                "mark a notice delivered",
                self._client.update_item,
                TableName=self.notices_table,
                Key=_to_attrs({"notice_id": notice_id}),
                UpdateExpression="SET #sent = :at, #ref = :ref REMOVE #u",
                ConditionExpression=_NOTICE_PENDING,
                ExpressionAttributeNames={
                    "#id": "notice_id",
                    "#sent": "sent_at",
                    "#expired": "expired_at",
                    "#ref": "sent_ref",
                    "#u": UNSENT_ATTR,
                },
                ExpressionAttributeValues=_to_attrs({":at": at, ":ref": ref}),
            )
        except _ConditionFailed:
            return False
        return True

    def mark_notice_expired(self, notice_id: str, at: int) -> bool:
        try:
            self._call(
                "mark a notice expired",
                self._client.update_item,
                TableName=self.notices_table,
                Key=_to_attrs({"notice_id": notice_id}),
                UpdateExpression="SET #expired = :at REMOVE #u",
                ConditionExpression=_NOTICE_PENDING,
                ExpressionAttributeNames={
                    "#id": "notice_id",
                    "#sent": "sent_at",
                    "#expired": "expired_at",
                    "#u": UNSENT_ATTR,
                },
                ExpressionAttributeValues=_to_attrs({":at": at}),
            )
        except _ConditionFailed:
            return False
        return True

    def mark_notice_failed(self, notice_id: str, error: str, next_attempt_at: int) -> Notice | None:
        try:
            response = self._call(
                "count a failed notice",
                self._client.update_item,
                TableName=self.notices_table,
                Key=_to_attrs({"notice_id": notice_id}),
                UpdateExpression=(
                    "SET #tries = if_not_exists(#tries, :zero) + :one, #err = :err, #next = :next"
                ),
                ConditionExpression=_NOTICE_PENDING,
                ExpressionAttributeNames={
                    "#id": "notice_id",
                    "#sent": "sent_at",
                    "#expired": "expired_at",
                    "#tries": "attempts",
                    "#err": "last_error",
                    "#next": "next_attempt_at",
                },
                ExpressionAttributeValues=_to_attrs(
                    {":zero": 0, ":one": 1, ":err": error, ":next": next_attempt_at}
                ),
                ReturnValues="ALL_NEW",
            )
        except _ConditionFailed:
            return None
        return _to_notice(_from_attrs(response["Attributes"]))

    def pending_notice_count(self) -> int:
        pages = self._pages(
            "count pending notices",
            self._client.query,
            TableName=self.notices_table,
            IndexName=UNSENT_INDEX,
            KeyConditionExpression="#u = :u",
            ExpressionAttributeNames={"#u": UNSENT_ATTR},
            ExpressionAttributeValues=_to_attrs({":u": UNSENT}),
            Select="COUNT",
        )
        return sum(int(page.get("Count", 0)) for page in pages)

    # ---- idempotency keys --------------------------------------------------------------------

    def claim_idempotency(
        self, key: str, fingerprint: str, at: int, ttl_seconds: int
    ) -> IdempotentAnswer | None:
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, not {ttl_seconds}")
        claimed = IdempotentAnswer(
            key=key,
            fingerprint=fingerprint,
            status=0,
            body="",
            created_at=at,
            expires_at=at + ttl_seconds,
        )
        for _ in range(_CLOSE_ATTEMPTS):
            try:
                self._call(
                    "claim an idempotency key",
                    self._client.put_item,
                    TableName=self.idempotency_table,
                    Item=_to_attrs(claimed.model_dump()),
                    ConditionExpression="attribute_not_exists(#k) OR #exp <= :at",
                    ExpressionAttributeNames={"#k": "key", "#exp": IDEMPOTENCY_TTL_ATTR},
                    ExpressionAttributeValues=_to_attrs({":at": at}),
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except _ConditionFailed as refused:
                stored = (
                    IdempotentAnswer.model_validate(refused.item)
                    if refused.item is not None
                    else self._get_answer(key)
                )
                if stored is not None and stored.expires_at > at:
                    return stored
                continue  # released (or expired) since the refusal: claim again
            return None
        raise StoreError(
            f"DynamoDB table {self.idempotency_table}: idempotency key {key!r} kept being "
            "claimed and released by others while claiming it; try again"
        )

    def _get_answer(self, key: str) -> IdempotentAnswer | None:
        item = self._get("read an idempotency key", self.idempotency_table, {"key": key})
        return IdempotentAnswer.model_validate(item) if item is not None else None

    def finish_idempotency(self, key: str, status: int, body: str) -> None:
        if status <= 0:
            raise ValueError(f"an answer's status must be positive, not {status}")
        try:
            self._call(
                "store the answer of an idempotency key",
                self._client.update_item,
                TableName=self.idempotency_table,
                Key=_to_attrs({"key": key}),
                UpdateExpression="SET #st = :st, #body = :body",
                ConditionExpression="attribute_exists(#k) AND #st = :running",
                ExpressionAttributeNames={"#k": "key", "#st": "status", "#body": "body"},
                ExpressionAttributeValues=_to_attrs({":st": status, ":body": body, ":running": 0}),
            )
        except _ConditionFailed:
            return  # finished, released or gone: the first answer stays

    def release_idempotency(self, key: str) -> None:
        try:
            self._call(
                "release an idempotency key",
                self._client.delete_item,
                TableName=self.idempotency_table,
                Key=_to_attrs({"key": key}),
                ConditionExpression="#st = :running",  # false when the key is missing
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues=_to_attrs({":running": 0}),
            )
        except _ConditionFailed:
            return  # finished (never forgotten) or already gone

    def close(self) -> None:
        closer = getattr(self._client, "close", None)
        if callable(closer):
            closer()

    def __enter__(self) -> DynamoStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- tables ------------------------------------------------------------------------------

    def _ensure_tables(self) -> None:
        keys = [("namespace_name", "HASH"), (SORT_KEY, "RANGE")]
        open_index = {OPEN_INDEX: [(OPEN_ATTR, "HASH"), (SORT_KEY, "RANGE")]}
        existing = self._describe_table(self.activity_table)
        if existing is not None and START_INDEX not in _index_names(existing):
            self._check_schema(self.activity_table, existing, keys, open_index)
            self._add_start_index(existing)
        self._ensure_table(
            self.activity_table,
            keys=keys,
            attributes={
                "namespace_name": "S",
                SORT_KEY: "S",
                OPEN_ATTR: "S",
                START_DAY_ATTR: "N",
                "timestamp_start": "N",
            },
            indexes={
                **open_index,
                START_INDEX: [(START_DAY_ATTR, "HASH"), ("timestamp_start", "RANGE")],
            },
        )
        self._ensure_table(
            self.crossings_table,
            keys=[(MIDNIGHT_ATTR, "HASH"), (RECORD_ID_ATTR, "RANGE")],
            attributes={MIDNIGHT_ATTR: "N", RECORD_ID_ATTR: "S"},
        )
        self._ensure_migrated(fresh=existing is None)
        self._ensure_table(
            self.cost_center_table,
            keys=[("cost_center", "HASH")],
            attributes={"cost_center": "S"},
        )
        self._ensure_table(
            self.metrics_table,
            keys=[("metric_name", "HASH"), ("period", "RANGE")],
            attributes={"metric_name": "S", "period": "S"},
        )
        self._ensure_table(
            self.slots_table,
            keys=[("namespace", "HASH")],
            attributes={"namespace": "S"},
        )
        self._ensure_table(
            self.requests_table,
            keys=[("request_id", "HASH")],
            attributes={"request_id": "S", "status": "S", "created_at": "N"},
            indexes={STATUS_INDEX: [("status", "HASH"), ("created_at", "RANGE")]},
        )
        self._ensure_table(
            self.notices_table,
            keys=[("notice_id", "HASH")],
            attributes={"notice_id": "S", UNSENT_ATTR: "S", "next_attempt_at": "N"},
            indexes={UNSENT_INDEX: [(UNSENT_ATTR, "HASH"), ("next_attempt_at", "RANGE")]},
        )
        self._ensure_table(
            self.idempotency_table,
            keys=[("key", "HASH")],
            attributes={"key": "S"},
        )
        self._ensure_ttl(self.idempotency_table, IDEMPOTENCY_TTL_ATTR)

    def _ensure_table(
        self,
        name: str,
        keys: list[tuple[str, str]],
        attributes: dict[str, str],
        indexes: dict[str, list[tuple[str, str]]] | None = None,
    ) -> None:
        indexes = indexes or {}
        description = self._describe_table(name)
        if description is None:
            spec: dict[str, Any] = {
                "TableName": name,
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": a, "KeyType": t} for a, t in keys],
                "AttributeDefinitions": [
                    {"AttributeName": a, "AttributeType": t} for a, t in attributes.items()
                ],
            }
            if indexes:
                spec["GlobalSecondaryIndexes"] = [
                    {
                        "IndexName": index,
                        "KeySchema": [{"AttributeName": a, "KeyType": t} for a, t in schema],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                    for index, schema in indexes.items()
                ]
            try:
                self._call(f"create table {name}", self._client.create_table, **spec)
            except StoreError as exc:
                # Another process created it at the same moment: fine, wait for it below.
                if not isinstance(exc.__cause__, botoexc.ClientError) or (
                    _error_code(exc.__cause__) != "ResourceInUseException"
                ):
                    raise
            waiter = self._client.get_waiter("table_exists")
            self._call(
                f"wait for table {name} to become active",
                waiter.wait,
                TableName=name,
                WaiterConfig={"Delay": 2, "MaxAttempts": 60},
            )
            description = self._describe_table(name)
            if description is None:  # pragma: no cover - the waiter saw it
                raise StoreError(f"DynamoDB table {name} vanished right after it was created")
        self._check_schema(name, description, keys, indexes)

    def _ensure_ttl(self, table: str, attribute: str) -> None:
        """Let DynamoDB delete the items of `table` once `attribute` (epoch seconds) is past."""
        described = self._call(
            f"read the TTL setting of table {table}",
            self._client.describe_time_to_live,
            TableName=table,
        )
        ttl = described.get("TimeToLiveDescription") or {}
        if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            if ttl.get("AttributeName") != attribute:
                _log.warning(
                    "DynamoDB table %s has TTL on %r, not %r: expired entries stay until that "
                    "attribute says so (they are claimable again all the same)",
                    table,
                    ttl.get("AttributeName"),
                    attribute,
                )
            return
        try:
            self._call(
                f"enable TTL on table {table}",
                self._client.update_time_to_live,
                TableName=table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute},
            )
        except StoreError as exc:
            # Another process enabled it at the same moment, or it was disabled within the hour
            # (DynamoDB refuses a change then): entries expire by condition all the same.
            cause = exc.__cause__
            if not isinstance(cause, botoexc.ClientError) or _error_code(cause) != (
                "ValidationException"
            ):
                raise
            _log.warning("DynamoDB table %s: TTL on %r not enabled: %s", table, attribute, cause)

    def _add_start_index(self, description: Mapping[str, Any]) -> None:
        """Migration: add the `by_start` GSI to an activity table made before it existed."""
        _log.warning(
            "DynamoDB table %s has no index %s: adding it (one-time migration)",
            self.activity_table,
            START_INDEX,
        )
        attributes = {
            a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]
        }
        attributes.update({START_DAY_ATTR: "N", "timestamp_start": "N"})
        try:
            self._call(
                f"add the index {START_INDEX} to {self.activity_table}",
                self._client.update_table,
                TableName=self.activity_table,
                AttributeDefinitions=[
                    {"AttributeName": a, "AttributeType": t} for a, t in attributes.items()
                ],
                GlobalSecondaryIndexUpdates=[
                    {
                        "Create": {
                            "IndexName": START_INDEX,
                            "KeySchema": [
                                {"AttributeName": START_DAY_ATTR, "KeyType": "HASH"},
                                {"AttributeName": "timestamp_start", "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "ALL"},
                        }
                    }
                ],
            )
        except StoreError:
            # Another process may have added it at the same moment.
            again = self._describe_table(self.activity_table)
            if again is None or START_INDEX not in _index_names(again):
                raise

    def _ensure_migrated(self, fresh: bool) -> None:
        """Fill `start_day` and the crossing entries of records written before they existed:
        one paginated Scan, once (a marker item remembers it; rerunning it is harmless)."""
        marker = self._get("read the migration marker", self.crossings_table, MIGRATION_KEY)
        if marker is not None:
            return
        if not fresh:
            self._backfill()
        self._wait_for_index(self.activity_table, START_INDEX)
        self._call(
            "write the migration marker",
            self._client.put_item,
            TableName=self.crossings_table,
            Item=_to_attrs({**MIGRATION_KEY, "done": True}),
        )

    def _backfill(self) -> None:
        _log.warning(
            "DynamoDB table %s: filling %s and the crossing entries of existing records "
            "(one-time migration, one Scan)",
            self.activity_table,
            START_DAY_ATTR,
        )
        action = "migrate the activity records"
        records = crossings = 0
        for page in self._pages(
            action, self._client.scan, TableName=self.activity_table, ConsistentRead=True
        ):
            for raw in page["Items"]:
                item = _from_attrs(raw)
                record = _to_record(item)
                if item.get(START_DAY_ATTR) != record.timestamp_start // SECONDS_PER_DAY:
                    self._call(
                        action,
                        self._client.update_item,
                        TableName=self.activity_table,
                        Key=self._key(*record.key),
                        UpdateExpression="SET #day = :day",
                        ExpressionAttributeNames={"#day": START_DAY_ATTR},
                        ExpressionAttributeValues=_to_attrs(
                            {":day": record.timestamp_start // SECONDS_PER_DAY}
                        ),
                    )
                entries = crossing_items(record)
                self._put_crossings(entries)
                records, crossings = records + 1, crossings + len(entries)
        _log.warning(
            "DynamoDB table %s: migrated %d records, %d crossing entries",
            self.activity_table,
            records,
            crossings,
        )

    def _wait_for_index(self, table: str, index: str) -> None:
        """A GSI added to a table with items is CREATING while DynamoDB backfills it."""
        deadline = time.monotonic() + INDEX_WAIT_SECONDS
        while True:
            description = self._describe_table(table) or {}
            status = {
                gsi["IndexName"]: gsi.get("IndexStatus", "ACTIVE")
                for gsi in description.get("GlobalSecondaryIndexes", []) or []
            }.get(index)
            if status == "ACTIVE":
                return
            if time.monotonic() > deadline:
                raise StoreError(
                    f"DynamoDB index {index} of {table} is still {status} after "
                    f"{INDEX_WAIT_SECONDS}s; restart namespace-ctl when it is ACTIVE"
                )
            time.sleep(5)

    def _describe_table(self, name: str) -> dict[str, Any] | None:
        try:
            response = self._client.describe_table(TableName=name)
        except botoexc.ClientError as exc:
            if _error_code(exc) == "ResourceNotFoundException":
                return None
            raise self._error(f"describe table {name}", exc) from exc
        except botoexc.BotoCoreError as exc:
            raise self._error(f"describe table {name}", exc) from exc
        table: dict[str, Any] = response["Table"]
        return table

    def _check_schema(
        self,
        name: str,
        description: Mapping[str, Any],
        keys: list[tuple[str, str]],
        indexes: Mapping[str, list[tuple[str, str]]],
    ) -> None:
        def schema(entries: Any) -> list[tuple[str, str]]:
            return [(e["AttributeName"], e["KeyType"]) for e in entries]

        found = schema(description.get("KeySchema", []))
        if found != keys:
            raise StoreError(
                f"DynamoDB table {name} has key schema {found}, namespace-ctl needs {keys}: "
                "point store.table_prefix at other tables or migrate this one"
            )
        existing = {
            gsi["IndexName"]: schema(gsi["KeySchema"])
            for gsi in description.get("GlobalSecondaryIndexes", []) or []
        }
        for index, wanted in indexes.items():
            if existing.get(index) != wanted:
                raise StoreError(
                    f"DynamoDB table {name} lacks the global secondary index {index} {wanted} "
                    "that namespace-ctl needs: point store.table_prefix at other tables or "
                    "migrate this one"
                )

    # ---- calls -------------------------------------------------------------------------------

    def _key(
        self, namespace: str, timestamp_start: int, operation_type: OperationType
    ) -> dict[str, Any]:
        return _to_attrs(
            {"namespace_name": namespace, SORT_KEY: sort_key(timestamp_start, operation_type)}
        )

    def _get_item(self, key: dict[str, Any]) -> dict[str, Any] | None:
        response = self._call(
            "read a record",
            self._client.get_item,
            TableName=self.activity_table,
            Key=key,
            ConsistentRead=True,
        )
        raw = response.get("Item")
        return _from_attrs(raw) if raw else None

    def _get(self, action: str, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        response = self._call(
            action, self._client.get_item, TableName=table, Key=_to_attrs(key), ConsistentRead=True
        )
        raw = response.get("Item")
        return _from_attrs(raw) if raw else None

    def _scan(self, action: str, table: str) -> list[dict[str, Any]]:
        pages = self._pages(action, self._client.scan, TableName=table, ConsistentRead=True)
        return [_from_attrs(raw) for page in pages for raw in page["Items"]]

    def _increment(self, counter: str, cap: int) -> dict[str, Any]:
        """A transaction item: add 1 to `counter` if it is below `cap` (a missing counter is 0)."""
        # A comparison with a missing attribute is false, so with a cap of 0 (or less) even a
        # missing counter refuses.
        condition = "attribute_not_exists(#n) OR #n < :cap" if cap > 0 else "#n < :cap"
        return {
            "Update": {
                "TableName": self.slots_table,
                "Key": _to_attrs({"namespace": counter}),
                "UpdateExpression": "SET #n = if_not_exists(#n, :zero) + :one",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#n": COUNTER_ATTR},
                "ExpressionAttributeValues": _to_attrs({":zero": 0, ":one": 1, ":cap": cap}),
            }
        }

    def _decrement(self, counter: str) -> dict[str, Any]:
        """A transaction item: subtract 1 from `counter` (unconditional: the slot deleted in the
        same transaction was counted in it)."""
        return {
            "Update": {
                "TableName": self.slots_table,
                "Key": _to_attrs({"namespace": counter}),
                "UpdateExpression": "SET #n = if_not_exists(#n, :one) - :one",
                "ExpressionAttributeNames": {"#n": COUNTER_ATTR},
                "ExpressionAttributeValues": _to_attrs({":one": 1}),
            }
        }

    def _write_with_crossings(
        self, action: str, write: dict[str, Any], crossings: list[dict[str, Any]]
    ) -> None:
        """`write` (a transaction item on the record) and its crossing entries in one
        transaction; entries beyond a transaction's size are put right after it. Raises
        `_Cancelled` when the condition of `write` failed (nothing written)."""
        # The copies are equal in size (a record with many workloads is a large item).
        size = len(json.dumps(crossings[0], default=str)) if crossings else 1
        first = max(0, min(TRANSACTION_LIMIT - 1, TRANSACTION_BYTES // size - 1))
        puts = [
            {"Put": {"TableName": self.crossings_table, "Item": _to_attrs(entry)}}
            for entry in crossings[:first]
        ]
        self._transact(action, [write, *puts])
        self._put_crossings(crossings[first:])

    def _put_crossings(self, entries: list[dict[str, Any]]) -> None:
        """Unconditional batch puts (an entry is a copy: putting it again changes nothing)."""
        for begin in range(0, len(entries), BATCH_LIMIT):
            pending: dict[str, Any] = {
                self.crossings_table: [
                    {"PutRequest": {"Item": _to_attrs(entry)}}
                    for entry in entries[begin : begin + BATCH_LIMIT]
                ]
            }
            delay = 0.01
            for _ in range(_TRANSACTION_ATTEMPTS):
                response = self._call(
                    "write crossing entries", self._client.batch_write_item, RequestItems=pending
                )
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(random.uniform(0, delay))
                delay = min(delay * 2, 0.5)
            if pending:
                raise StoreError(
                    f"DynamoDB table {self.crossings_table}: writes stayed unprocessed after "
                    f"{_TRANSACTION_ATTEMPTS} attempts (throttled); try again"
                )

    def _transact(self, action: str, items: list[dict[str, Any]]) -> None:
        """One TransactWriteItems. Raises `_Cancelled` when a condition failed; retries (with
        jittered backoff) a cancellation for a conflict with another transaction or throttling,
        which applied nothing."""
        delay = 0.01
        for attempt in range(_TRANSACTION_ATTEMPTS):
            try:
                self._client.transact_write_items(TransactItems=items)
                return
            except botoexc.ClientError as exc:
                if _error_code(exc) != _TRANSACTION_CANCELED:
                    raise self._error(action, exc) from exc
                codes = [
                    str(reason.get("Code") or "None")
                    for reason in exc.response.get("CancellationReasons") or []
                ]
                first = next(((i, c) for i, c in enumerate(codes) if c != "None"), None)
                if first is not None and first[1] == "ConditionalCheckFailed":
                    raise _Cancelled(first[0]) from exc
                if first is None or first[1] not in _RETRYABLE_REASONS:
                    raise self._error(action, exc) from exc
                if attempt + 1 == _TRANSACTION_ATTEMPTS:
                    raise StoreError(
                        f"DynamoDB: cannot {action}: the transaction kept conflicting with "
                        f"others ({first[1]}) after {_TRANSACTION_ATTEMPTS} attempts; try again"
                    ) from exc
            except botoexc.BotoCoreError as exc:
                raise self._error(action, exc) from exc
            time.sleep(random.uniform(0, delay))
            delay = min(delay * 2, 0.5)

    def _call(self, action: str, method: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
        delay = 0.01
        for attempt in range(_TRANSACTION_ATTEMPTS):
            try:
                response: dict[str, Any] = method(**kwargs)
            except botoexc.ClientError as exc:
                code = _error_code(exc)
                if code == _CONDITION_FAILED:
                    raise _ConditionFailed(exc.response) from exc
                if code != _TRANSACTION_CONFLICT or attempt + 1 == _TRANSACTION_ATTEMPTS:
                    raise self._error(action, exc) from exc
                # It met a transaction on the same item and was not applied: try again.
                time.sleep(random.uniform(0, delay))
                delay = min(delay * 2, 0.5)
                continue
            except botoexc.BotoCoreError as exc:
                raise self._error(action, exc) from exc
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _pages(
        self, action: str, method: Callable[..., Any], **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        while True:
            page = self._call(action, method, **kwargs)
            yield page
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def _error(self, action: str, exc: Exception) -> StoreError:
        where = self.endpoint_url or f"AWS region {self.region}"
        if isinstance(exc, botoexc.NoCredentialsError | botoexc.PartialCredentialsError):
            message = (
                f"no AWS credentials to {action} in DynamoDB ({where}): set AWS_ACCESS_KEY_ID "
                "and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or give the pod an IAM role"
            )
        elif isinstance(
            exc,
            botoexc.EndpointConnectionError
            | botoexc.ConnectTimeoutError
            | botoexc.ReadTimeoutError
            | botoexc.ConnectionClosedError,
        ):
            message = (
                f"cannot reach DynamoDB at {where} to {action}: {exc}; check store.endpoint_url, "
                "store.region and the network"
            )
        elif isinstance(exc, botoexc.ClientError):
            code = _error_code(exc)
            detail = exc.response.get("Error", {}).get("Message", "")
            if code in _THROTTLING:
                message = (
                    f"DynamoDB ({where}) throttled the request to {action} even after retries "
                    f"({code}): try again later"
                )
            elif code in _AUTH:
                message = (
                    f"DynamoDB ({where}) refused the credentials to {action} ({code}: {detail}): "
                    f"check the credentials and that the IAM policy allows DynamoDB on tables "
                    f"{self.table_prefix}*"
                )
            elif code == "ResourceNotFoundException":
                message = (
                    f"DynamoDB ({where}): a table is missing to {action} ({detail}); was it "
                    "deleted? restart namespace-ctl to create it again"
                )
            else:
                message = f"DynamoDB ({where}) refused to {action}: {code}: {detail}"
        else:
            message = f"DynamoDB ({where}): cannot {action}: {exc}"
        return StoreError(message)


# ---- conversions -----------------------------------------------------------------------------


def _error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _order_key(record: ActivityRecord) -> tuple[int, str, str]:
    """Oldest first; the same total order as the SQLite store."""
    return (record.timestamp_start, record.namespace_name, record.operation_type.value)


def _start_bounds(
    query: HistoryQuery, after: HistoryKey | None
) -> tuple[int | None, int | None] | None:
    """The (lowest, highest) `timestamp_start` a page may hold, inclusive, None where no bound
    narrows what a sort key can hold; None when no record can match."""
    low = query.since if query.since is not None and query.since > 0 else None
    highs = [] if query.until is None else [query.until - 1]
    if after is not None:
        highs.append(after[0])
    high = min(highs) if highs else None
    if high is not None and high >= MAX_TIMESTAMP - 1:
        high = None
    if (high is not None and high < 0) or (low is not None and low >= MAX_TIMESTAMP):
        return None
    if low is not None and high is not None and low > high:
        return None
    return low, high


def _filtered(
    query: HistoryQuery,
    names: dict[str, str],
    values: dict[str, Any],
    conditions: Collection[str] = (),
) -> dict[str, Any]:
    """A request's expression names and values, with a FilterExpression of `conditions` plus
    the query's user and operation (attributes no key holds)."""
    parts = list(conditions)
    names, values = dict(names), dict(values)
    if query.user_id is not None:
        parts.append("#uid = :uid")
        names["#uid"] = "user_id"
        values[":uid"] = query.user_id
    if query.operation_type is not None:
        parts.append("#op = :op")
        names["#op"] = "operation_type"
        values[":op"] = OperationType(query.operation_type).value
    request: dict[str, Any] = {}
    if parts:
        request["FilterExpression"] = " AND ".join(parts)
    if names:
        request["ExpressionAttributeNames"] = names
    if values:
        request["ExpressionAttributeValues"] = _to_attrs(values)
    return request


def _page_records(page: Mapping[str, Any]) -> Iterator[ActivityRecord]:
    return (_to_record(_from_attrs(raw)) for raw in page["Items"])


def _index_names(description: Mapping[str, Any]) -> set[str]:
    return {gsi["IndexName"] for gsi in description.get("GlobalSecondaryIndexes", []) or []}


def activity_item(record: ActivityRecord) -> dict[str, Any]:
    """The activity table item of `record` (plain values), as `add_record` writes it."""
    item: dict[str, Any] = {
        "namespace_name": record.namespace_name,
        SORT_KEY: sort_key(record.timestamp_start, record.operation_type),
        "timestamp_start": record.timestamp_start,
        START_DAY_ATTR: record.timestamp_start // SECONDS_PER_DAY,
        "cost_center": record.cost_center,
        "user_id": record.user_id,
        "operation_type": record.operation_type.value,
        "status": record.status.value,
        "error_message": record.error_message,
        "workloads": [w.model_dump(mode="json") for w in record.workloads],
    }
    if record.timestamp_end is None:
        item[OPEN_ATTR] = record.operation_type.value  # in the sparse open_records index
    else:
        item["timestamp_end"] = record.timestamp_end
    if record.duration_minutes is not None:
        item["duration_minutes"] = record.duration_minutes
    if record.reason:
        item["reason"] = record.reason  # optional: items written before it read ""
    if record.ready_seconds is not None:
        item["ready_seconds"] = record.ready_seconds  # optional, as `reason`
    return item


def crossing_items(record: ActivityRecord) -> list[dict[str, Any]]:
    """The crossings table items of `record`: a full copy of it under each UTC midnight its
    closed interval crosses (none while it is open)."""
    if record.timestamp_end is None:
        return []
    midnights = midnights_crossed(record.timestamp_start, record.timestamp_end)
    if not midnights:
        return []
    copy = activity_item(record)
    del copy[START_DAY_ATTR]  # only the activity table is indexed by start
    record_id = f"{copy[SORT_KEY]}#{record.namespace_name}"
    return [{**copy, MIDNIGHT_ATTR: m, RECORD_ID_ATTR: record_id} for m in midnights]


def _to_record(item: Mapping[str, Any]) -> ActivityRecord:
    return ActivityRecord(
        namespace_name=item["namespace_name"],
        timestamp_start=item["timestamp_start"],
        operation_type=OperationType(item["operation_type"]),
        status=RecordStatus(item["status"]),
        timestamp_end=item.get("timestamp_end"),
        duration_minutes=item.get("duration_minutes"),
        cost_center=item.get("cost_center") or "",
        user_id=item.get("user_id") or "",
        error_message=item.get("error_message") or "",
        workloads=[WorkloadSnapshot.model_validate(w) for w in item.get("workloads") or []],
        reason=item.get("reason") or "",
        ready_seconds=item.get("ready_seconds"),
    )


def _to_dynamo_value(value: Any) -> Any:
    """Floats become Decimals through their shortest repr (exact round trip)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo_value(v) for v in value]
    return value


def _from_dynamo_value(value: Any) -> Any:
    """Decimals become int when integral, float otherwise."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo_value(v) for v in value]
    return value


def _to_attrs(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(_to_dynamo_value(v)) for k, v in values.items()}


def _from_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo_value(_deserializer.deserialize(v)) for k, v in attrs.items()}


def _check_slot_name(namespace: str) -> None:
    if namespace.startswith(COUNTER_PREFIX) or not namespace:
        raise ValueError(f"{namespace!r} cannot name an activation slot")


def _cost_center_item(permission: CostCenterPermission) -> dict[str, Any]:
    item: dict[str, Any] = {
        "cost_center": permission.cost_center,
        "is_authorized": permission.is_authorized,
        "authorized_namespaces": list(permission.authorized_namespaces),
        "created_at": permission.created_at,
        "updated_at": permission.updated_at,
    }
    if permission.max_concurrent_namespaces is not None:
        item["max_concurrent_namespaces"] = permission.max_concurrent_namespaces
    return item


def _to_cost_center(item: Mapping[str, Any]) -> CostCenterPermission:
    return CostCenterPermission(
        cost_center=item["cost_center"],
        is_authorized=bool(item.get("is_authorized", True)),
        max_concurrent_namespaces=item.get("max_concurrent_namespaces"),
        authorized_namespaces=list(item.get("authorized_namespaces") or []),
        created_at=item.get("created_at", 0),
        updated_at=item.get("updated_at", 0),
    )


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB leaves optional attributes absent rather than NULL."""
    return {k: v for k, v in values.items() if v is not None}


def _slot_item(slot: ActivationSlot) -> dict[str, Any]:
    item = _without_none(slot.model_dump(mode="json"))
    if not slot.reason:
        del item["reason"]  # optional: slots written before it read ""
    return item


def _to_slot(item: Mapping[str, Any]) -> ActivationSlot:
    return ActivationSlot.model_validate(
        {k: item[k] for k in ActivationSlot.model_fields if k in item}
    )


def _request_item(request: ActivationRequest) -> dict[str, Any]:
    return _without_none(request.model_dump(mode="json"))


def _to_request(item: Mapping[str, Any]) -> ActivationRequest:
    return ActivationRequest.model_validate(
        {k: item[k] for k in ActivationRequest.model_fields if k in item}
    )


def _notice_item(notice: Notice) -> dict[str, Any]:
    item = _without_none(notice.model_dump(mode="json"))
    item["facts"] = json.dumps(notice.model_dump(mode="json")["facts"], sort_keys=True)
    if notice.pending:
        item[UNSENT_ATTR] = UNSENT  # in the sparse unsent_notices index
    return item


def _to_notice(item: Mapping[str, Any]) -> Notice:
    values = {k: item[k] for k in Notice.model_fields if k in item}
    values["facts"] = json.loads(item.get("facts") or "{}")
    return Notice.model_validate(values)
