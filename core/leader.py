"""Leader election on a Lease: several replicas, one of them runs the jobs.

The rules are client-go's (`k8s.io/client-go/tools/leaderelection`), on a lock with optimistic
concurrency (every update carries the `resourceVersion` it read; a conflict means another replica
wrote first and this one lost the round):
- a candidate takes the Lease when it has no holder (released) or when its record has not changed
  for `leaseDurationSeconds` *as observed on this replica's monotonic clock* (the holder's
  `renewTime` is never compared with our wall clock, so clock skew cannot start a second leader);
- the leader renews every `retry_period`; when it could not renew for `renew_deadline` it stops
  leading at once (`is_leader()` turns False by itself even while a renewal request hangs), which
  is `lease_duration - renew_deadline` before any other replica may take over: two leaders never
  start work at the same time;
- `stop(release=True)` (SIGTERM) clears the holder, so a successor takes over within about one
  `retry_period` instead of a whole `lease_duration`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from core.config import LeaderElectionSettings

log = logging.getLogger("namespace_ctl.leader")
DEFAULT_NAMESPACE = "namespace-ctl"


class Leadership(Protocol):
    def is_leader(self) -> bool: ...

    def holder(self) -> str | None: ...


class LeaseConflict(Exception):
    """The Lease changed (or was created) since it was read: another replica wrote first."""


@dataclass(frozen=True)
class LeaseRecord:
    """The fields of a Lease's spec that election uses, and the version it was read at."""

    holder: str
    lease_duration_seconds: int
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0
    resource_version: str | None = None


class LeaseLock(Protocol):
    def get(self) -> LeaseRecord | None:
        """The Lease, or None when it does not exist."""
        ...

    def create(self, record: LeaseRecord) -> LeaseRecord:
        """Create it; LeaseConflict when it exists already."""
        ...

    def update(self, record: LeaseRecord) -> LeaseRecord:
        """Replace it at `record.resource_version`; LeaseConflict when it changed since."""
        ...

    def describe(self) -> str:
        """Where the Lease is (`namespace/name`), for logs."""
        ...


def holder_identity(environ: dict[str, str] | None = None) -> str:
    """`$POD_NAME`, else the host name and the process id."""
    env = os.environ if environ is None else environ
    return env.get("POD_NAME", "").strip() or f"{socket.gethostname()}_{os.getpid()}"


def lease_namespace(settings: LeaderElectionSettings, environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return settings.namespace or env.get("POD_NAMESPACE", "").strip() or DEFAULT_NAMESPACE


@dataclass(frozen=True)
class Observation:
    """The last record seen, and when (monotonic) it was first seen in that form."""

    record: LeaseRecord | None
    at: float

    def same_as(self, record: LeaseRecord | None) -> bool:
        mine = self.record
        if mine is None or record is None:
            return mine is record
        return (mine.holder, mine.renew_time, mine.resource_version) == (
            record.holder,
            record.renew_time,
            record.resource_version,
        )


class LeaseElection:
    """The rules, one round at a time (`try_acquire_or_renew`); `LeaderElector` runs the rounds.
    `is_leader()` is cheap and thread-safe."""

    def __init__(
        self,
        lock: LeaseLock,
        identity: str,
        settings: LeaderElectionSettings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.lock, self.identity, self.settings = lock, identity, settings
        self._monotonic, self._wall = monotonic, wall
        self._state = threading.Lock()
        self._renewed_at: float | None = None  # monotonic time of our last successful write
        self._record: LeaseRecord | None = None  # our last written record (while leading)
        self._observed = Observation(None, monotonic())
        self.requests = 0  # Lease API calls made (reads and writes)

    # ---- what the rest of the process asks ----------------------------------------------------

    def is_leader(self) -> bool:
        """True only while our last renewal is younger than `renew_deadline`."""
        with self._state:
            renewed = self._renewed_at
        deadline = self.settings.renew_deadline.total_seconds()
        return renewed is not None and self._monotonic() - renewed < deadline

    def holder(self) -> str | None:
        """The holder as last seen (ourselves while leading); None if unknown or released."""
        if self.is_leader():
            return self.identity
        with self._state:
            record = self._observed.record
        return record.holder if record is not None and record.holder else None

    # ---- one round ----------------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One round: read the Lease, then create, take over or renew it when allowed. True when
        we hold it after this round. Raises what the lock raises besides conflicts."""
        now = self._wall()
        duration = max(1, round(self.settings.lease_duration.total_seconds()))
        self.requests += 1
        current = self.lock.get()
        self._observe(current)
        if current is None:
            fresh = LeaseRecord(self.identity, duration, now, now, 0)
            return self._write(self.lock.create, fresh)
        if current.holder == self.identity:
            renewed = replace(current, lease_duration_seconds=duration, renew_time=now)
            return self._write(self.lock.update, renewed)
        if current.holder and not self._expired(current):
            return False
        taken = replace(
            current,
            holder=self.identity,
            lease_duration_seconds=duration,
            acquire_time=now,
            renew_time=now,
            transitions=current.transitions + 1,
        )
        return self._write(self.lock.update, taken)

    def release(self) -> bool:
        """Clear the holder if we hold the Lease (a successor need not wait for it to expire)."""
        with self._state:
            record, self._renewed_at = self._record, None
        if record is None:
            return False
        cleared = replace(record, holder="", lease_duration_seconds=1, renew_time=self._wall())
        try:
            self.requests += 1
            self.lock.update(cleared)
        except LeaseConflict:
            return False  # someone took it already
        except Exception as exc:
            log.warning("could not release the Lease %s: %s", self.lock.describe(), exc)
            return False
        log.info("released the Lease %s", self.lock.describe())
        return True

    def _expired(self, record: LeaseRecord) -> bool:
        with self._state:
            seen_at = self._observed.at
        return self._monotonic() - seen_at >= record.lease_duration_seconds

    def _observe(self, record: LeaseRecord | None) -> None:
        with self._state:
            if not self._observed.same_as(record):
                self._observed = Observation(record, self._monotonic())

    def _write(self, write: Callable[[LeaseRecord], LeaseRecord], record: LeaseRecord) -> bool:
        # The lease runs from before the request: a slow answer must not stretch our term.
        sent = self._monotonic()
        try:
            self.requests += 1
            written = write(record)
        except LeaseConflict:
            return False
        with self._state:
            self._record, self._renewed_at = written, sent
            self._observed = Observation(written, self._monotonic())
        return True


class LeaderElector:
    """Runs an election's rounds every `retry_period` in a daemon thread, and calls `on_started`
    / `on_stopped` when this replica starts or stops leading."""

    def __init__(
        self,
        election: LeaseElection,
        on_started: Callable[[], None] = lambda: None,
        on_stopped: Callable[[], None] = lambda: None,
    ) -> None:
        self.election = election
        self.on_started, self.on_stopped = on_started, on_stopped
        self._leading = False  # as the loop last decided (callbacks fired on its changes)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def is_leader(self) -> bool:
        return self.election.is_leader()

    def holder(self) -> str | None:
        return self.election.holder()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
            self._thread.start()

    def stop(self, release: bool = True, timeout: float = 5.0) -> None:
        """End the loop; with `release`, clear the holder so a successor starts at once."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if release:
            self.election.release()
        self._transition(False)

    def _run(self) -> None:
        election = self.election
        period = election.settings.retry_period.total_seconds()
        log.info("leader election as %s on the Lease %s", election.identity, self._where())
        while not self._stopping.is_set():
            try:
                election.try_acquire_or_renew()
            except Exception as exc:
                log.warning("Lease %s: %s", self._where(), exc)
            self._transition(election.is_leader())
            self._stopping.wait(period)

    def _where(self) -> str:
        return self.election.lock.describe()

    def _transition(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        who = self.election.identity
        if leading:
            log.info("%s started leading (Lease %s)", who, self._where())
            callback = self.on_started
        else:
            log.warning("%s stopped leading (Lease %s)", who, self._where())
            callback = self.on_stopped
        try:
            callback()
        except Exception:
            log.exception("leader election callback failed")


class AlwaysLeader:
    """One replica, no election: it always leads."""

    def is_leader(self) -> bool:
        return True

    def holder(self) -> str | None:
        return None
