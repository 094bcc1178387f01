"""Domain models shared by every part of namespace-ctl (no I/O here)."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class WorkloadKind(StrEnum):
    DEPLOYMENT = "Deployment"
    STATEFULSET = "StatefulSet"
    DAEMONSET = "DaemonSet"
    CRONJOB = "CronJob"


class OperationType(StrEnum):
    AUTO_SHUTDOWN = "auto_shutdown"
    AUTO_STARTUP = "auto_startup"
    MANUAL_ACTIVATION = "manual_activation"
    MANUAL_DEACTIVATION = "manual_deactivation"


class RecordStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"


class DesiredState(StrEnum):
    AWAKE = "awake"
    ASLEEP = "asleep"


class WorkloadRef(BaseModel):
    """Identifies one workload in the cluster."""

    model_config = ConfigDict(frozen=True)

    kind: WorkloadKind
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind.value}/{self.namespace}/{self.name}"


class WorkloadSnapshot(BaseModel):
    """What a workload held when its namespace went to sleep (kept on the shutdown record).

    `replicas` is the count restored in the morning (a DaemonSet's scheduled pods, 0 for a CronJob);
    requests are per replica, so reports need no cluster.
    """

    kind: WorkloadKind
    name: str
    replicas: int = 0
    cpu_cores: float = 0.0
    memory_gib: float = 0.0
    has_requests: bool = True


class ActivityRecord(BaseModel):
    """One row of the audit log, with the seed's attribute names.

    Intervals (DESIGN.md): `auto_shutdown` and `manual_activation` are open (`timestamp_end`
    None) until closed exactly once; `auto_startup` and `manual_deactivation` are point records
    whose end equals their start. `workloads` and `reason` are our additions: the per-workload
    snapshot, and the reason a person gave for a `manual_activation` (empty on other records).
    """

    namespace_name: str
    timestamp_start: int
    operation_type: OperationType
    status: RecordStatus
    timestamp_end: int | None = None
    duration_minutes: int | None = None
    cost_center: str = ""
    user_id: str = ""
    error_message: str = ""
    workloads: list[WorkloadSnapshot] = Field(default_factory=list)
    reason: str = ""
    # An `auto_startup`'s: seconds from the wake to every woken pod ready (verified wake-ups;
    # None until verified, or never ready). `wake.lead_time: auto` learns from it.
    ready_seconds: int | None = None

    @property
    def key(self) -> tuple[str, int, OperationType]:
        """The idempotency key: one record per namespace, start time and operation."""
        return (self.namespace_name, self.timestamp_start, self.operation_type)

    @property
    def is_open(self) -> bool:
        return self.timestamp_end is None

    def seed_dict(self) -> dict[str, Any]:
        """The record as the seed's attribute names (plus `workloads` and `reason`), JSON-ready."""
        return self.model_dump(mode="json")


class Action(StrEnum):
    SLEEP = "sleep"
    WAKE = "wake"


class OutcomeStatus(StrEnum):
    CHANGED = "changed"  # patched
    UNCHANGED = "unchanged"  # already in the wanted state, left alone
    DRIFT = "drift"  # scaled up while asleep: put back to sleep, new count kept for the morning
    FAILED = "failed"
    GONE = "gone"  # deleted (or its namespace was) during the run: nothing left to do
    PLANNED = "planned"  # dry run: would be patched


class WorkloadOutcome(BaseModel):
    ref: WorkloadRef
    action: Action
    status: OutcomeStatus
    detail: str = ""
    error: str = ""


class NamespaceResult(BaseModel):
    namespace: str
    action: Action
    outcomes: list[WorkloadOutcome] = Field(default_factory=list)
    record_added: bool = False
    skipped_reason: str = ""
    # Replicas its workloads run when awake (from the shutdown record's snapshot), when known.
    replicas: int | None = None
    # What an hour of it awake costs at the configured rates (the same snapshot), when known.
    hourly_cost: float | None = None

    @property
    def changed(self) -> bool:
        return any(o.status is OutcomeStatus.CHANGED for o in self.outcomes)

    @property
    def failed(self) -> list[WorkloadOutcome]:
        return [o for o in self.outcomes if o.status is OutcomeStatus.FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed


class OperationResult(BaseModel):
    """What one use case did, namespace by namespace and workload by workload."""

    operation: str
    at: int
    dry_run: bool = False
    namespaces: list[NamespaceResult] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)  # failures not tied to one workload

    @property
    def ok(self) -> bool:
        return not self.errors and all(ns.ok for ns in self.namespaces)

    def failed_workloads(self) -> list[WorkloadOutcome]:
        return [o for ns in self.namespaces for o in ns.failed]


# ---- after-hours activation -----------------------------------------------------------------


class CostCenterPermission(BaseModel):
    """A row of the seed's `cost_center_permissions` table."""

    cost_center: str
    is_authorized: bool = True
    # None: the global cap (`limits.max_active_namespaces`) applies.
    max_concurrent_namespaces: int | None = None
    authorized_namespaces: list[str] = Field(default_factory=list)  # names or fnmatch globs
    created_at: int = 0
    updated_at: int = 0


class SlotState(StrEnum):
    CLAIMED = "claimed"  # a cap slot is held; the namespace may not be awake yet
    LIVE = "live"  # awake, its `manual_activation` record open


class ActivationSlot(BaseModel):
    """One namespace awake (or being woken) by activation: what the caps count.

    Claimed atomically against both caps; released when the window ends. `record_start` is the
    `timestamp_start` of its `manual_activation` record (set when the slot goes live); `reason`
    is the one given for the window, copied onto that record.
    """

    namespace: str
    cost_center: str
    user_id: str
    request_id: str = ""
    claimed_at: int
    ends_at: int
    state: SlotState = SlotState.CLAIMED
    record_start: int | None = None
    reason: str = ""


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"
    ALREADY_ACTIVE = "already active"
    GLOBAL_LIMIT = "global limit"
    COST_CENTER_LIMIT = "cost center limit"


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class ActivationRequest(BaseModel):
    """A request to wake a namespace after hours, now or (a booking) from `starts_at`."""

    request_id: str
    namespace: str
    cost_center: str
    requester: str
    reason: str
    duration_minutes: int
    created_at: int
    expires_at: int  # a pending request past this is expired
    status: RequestStatus = RequestStatus.PENDING
    starts_at: int | None = None  # None: as soon as approved; else a booking
    decided_by: str = ""
    decided_at: int | None = None
    decision_reason: str = ""
    started_at: int | None = None  # when its window was opened (bookings: by the reconcile pass)

    @property
    def is_booking(self) -> bool:
        return self.starts_at is not None


# ---- channel notices (the outbox) -----------------------------------------------------------


class NoticeKind(StrEnum):
    SHUTDOWN = "shutdown"
    STARTUP = "startup"
    FAILURE = "failure"
    DRIFT = "drift"
    ACTIVATION_STARTED = "activation_started"
    ACTIVATION_ENDING = "activation_ending"
    ACTIVATION_ENDED = "activation_ended"
    CAP_REACHED = "cap_reached"
    REQUEST_OPENED = "request_opened"
    REQUEST_DECIDED = "request_decided"
    REQUEST_EXPIRED = "request_expired"
    BOOKING_DROPPED = "booking_dropped"
    WEEKLY_SUMMARY = "weekly_summary"
    WAKE_VERIFIED = "wake_verified"  # a wake's namespaces ready, or not, by their deadline
    NOT_READY = "not_ready"  # one namespace not ready at its deadline, and why
    NAMESPACE_READY = "namespace_ready"  # an activation's namespace is ready (its requester)


class Notice(BaseModel):
    """Something the team should hear about, waiting in the outbox until it is delivered.

    `notice_id` is derived from the event (e.g. `ending:<ns>:<ends_at>`), so posting the same
    event twice adds nothing. `facts` is JSON-able data for the renderer. A new notice is due at
    once (`next_attempt_at` 0); a failed delivery pushes `next_attempt_at` back. `sent_ref` is
    where it went (e.g. `<channel>:<ts>` of a Slack message). Notices are delivered oldest `at`
    first; `sequence` (wall-clock nanoseconds when it was built) keeps the order in which one
    operation posted several notices of the same `at`. `expired_at`: when it was given up
    unsent, being older than `slack.notice_max_age` (kept, never due again).
    """

    notice_id: str
    kind: NoticeKind
    at: int
    sequence: int = Field(default_factory=time.time_ns)
    facts: dict[str, Any] = Field(default_factory=dict)
    attempts: int = 0
    next_attempt_at: int = 0
    last_error: str = ""
    sent_at: int | None = None
    sent_ref: str = ""
    expired_at: int | None = None

    @property
    def sent(self) -> bool:
        return self.sent_at is not None

    @property
    def expired(self) -> bool:
        return self.expired_at is not None

    @property
    def pending(self) -> bool:
        """Neither delivered nor expired: still to be delivered."""
        return self.sent_at is None and self.expired_at is None


# ---- the REST API's reads and retries -------------------------------------------------------


class IdempotentAnswer(BaseModel):
    """The first answer to a POST carrying an `Idempotency-Key`: a retry with the same key gets
    it back instead of acting again. Claimed (status 0) before the first request acts, finished
    with its answer, or released when it failed with a server fault."""

    key: str  # "<token name>:<Idempotency-Key header>", chosen by the caller
    fingerprint: str  # the caller's hash of method, path and body
    status: int  # HTTP status of the first answer; 0 while the first request is still running
    body: str  # the first answer's JSON text ("" while running)
    created_at: int  # epoch seconds
    expires_at: int  # epoch seconds; after it the key may be claimed again

    @property
    def running(self) -> bool:
        """The first request has not answered yet."""
        return self.status == 0


class HistoryQuery(BaseModel):
    """Which audit records `Store.history_page` returns (every given filter applies)."""

    namespace: str | None = None
    operation_type: OperationType | None = None
    user_id: str | None = None
    since: int | None = None  # timestamp_start >= since
    until: int | None = None  # timestamp_start < until

    def matches(self, record: ActivityRecord) -> bool:
        return (
            (self.namespace is None or record.namespace_name == self.namespace)
            and (self.operation_type is None or record.operation_type is self.operation_type)
            and (self.user_id is None or record.user_id == self.user_id)
            and (self.since is None or record.timestamp_start >= self.since)
            and (self.until is None or record.timestamp_start < self.until)
        )
