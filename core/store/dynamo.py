"""`DynamoStore`: the audit log in DynamoDB (boto3 low-level client).

Tables (created when missing, on-demand billing), all named `{table_prefix}` + the seed's names:

- `namespace_activity_logs`: HASH `namespace_name` (S), RANGE `sk` (S) =
  `f"{timestamp_start:010d}#{operation_type}"`. The seed's bare `timestamp_start` cannot be the
  range key: an activation and a deactivation of one namespace in the same second would collide.
  Every seed attribute is kept (`timestamp_start` as a Number); `timestamp_end` and
  `duration_minutes` are absent while the record is open; `workloads` is a list of maps.
  The sparse GSI `open_records` (HASH `open_type` = the operation type, RANGE `sk`) holds only
  open records: `open_type` is written with an open record and removed when it is closed, so
  `open_records()` is a Query, never a Scan.
- `cost_center_permissions` (HASH `cost_center`) and `system_metrics` (HASH `metric_name`,
  RANGE `period`): created now, used by later features.

Writes are conditional (PutItem `attribute_not_exists`, UpdateItem on "still open"), which
DynamoDB serializes per item, so racing writers cannot add a record twice or close it twice.
Numbers come back as `Decimal` and are converted to int/float; floats are written through their
shortest `repr`, so they round-trip exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore import exceptions as botoexc
from botocore.config import Config

from core.errors import StoreError
from core.models import ActivityRecord, OperationType, RecordStatus, WorkloadSnapshot

ACTIVITY_TABLE = "namespace_activity_logs"
COST_CENTER_TABLE = "cost_center_permissions"
METRICS_TABLE = "system_metrics"
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

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class _ConditionFailed(Exception):
    """A conditional write was refused; `item` is the stored item when DynamoDB returned it."""

    def __init__(self, response: Mapping[str, Any]) -> None:
        super().__init__("conditional check failed")
        self.has_item = "Item" in response
        raw = response.get("Item")
        self.item: dict[str, Any] | None = _from_attrs(raw) if raw else None


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
        try:
            self._call(
                "add a record",
                self._client.put_item,
                TableName=self.activity_table,
                Item=_to_attrs(_to_item(record)),
                ConditionExpression="attribute_not_exists(#sk)",
                ExpressionAttributeNames={"#sk": SORT_KEY},
            )
        except _ConditionFailed:
            return False
        return True

    def get_record(
        self, namespace: str, timestamp_start: int, operation_type: OperationType
    ) -> ActivityRecord | None:
        item = self._get_item(self._key(namespace, timestamp_start, operation_type))
        return _to_record(item) if item is not None else None

    def close_record(
        self, namespace: str, timestamp_start: int, operation_type: OperationType, end: int
    ) -> bool:
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
        raise StoreError(
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
        """Update status and error message; a missing record is left missing (no-op)."""
        try:
            self._call(
                "update a record's status",
                self._client.update_item,
                TableName=self.activity_table,
                Key=self._key(namespace, timestamp_start, operation_type),
                UpdateExpression="SET #st = :st, #err = :err",
                ConditionExpression="attribute_exists(#sk)",
                ExpressionAttributeNames={
                    "#sk": SORT_KEY,
                    "#st": "status",
                    "#err": "error_message",
                },
                ExpressionAttributeValues=_to_attrs(
                    {":st": RecordStatus(status).value, ":err": error_message}
                ),
            )
        except _ConditionFailed:
            return

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
        self._ensure_table(
            self.activity_table,
            keys=[("namespace_name", "HASH"), (SORT_KEY, "RANGE")],
            attributes={"namespace_name": "S", SORT_KEY: "S", OPEN_ATTR: "S"},
            indexes={OPEN_INDEX: [(OPEN_ATTR, "HASH"), (SORT_KEY, "RANGE")]},
        )
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

    def _call(self, action: str, method: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = method(**kwargs)
        except botoexc.ClientError as exc:
            if _error_code(exc) == _CONDITION_FAILED:
                raise _ConditionFailed(exc.response) from exc
            raise self._error(action, exc) from exc
        except botoexc.BotoCoreError as exc:
            raise self._error(action, exc) from exc
        return response

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


def _to_item(record: ActivityRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        "namespace_name": record.namespace_name,
        SORT_KEY: sort_key(record.timestamp_start, record.operation_type),
        "timestamp_start": record.timestamp_start,
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
    return item


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
