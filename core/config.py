"""Configuration: one YAML file validated by pydantic, `NSCTL_*` environment overrides.

Unknown keys and bad values raise `ConfigError` naming the key (e.g. `business_hours.start`).
Secrets never live here: Slack tokens come from the environment only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import time, timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from core.errors import ConfigError

ENV_PREFIX = "NSCTL_"
_DURATION_RE = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?$")


def parse_duration(text: str) -> timedelta:
    """Parse `2h`, `30m`, `1h30m`, `1d`; raise ValueError saying the accepted forms."""
    cleaned = str(text).strip().lower().replace(" ", "")
    match = _DURATION_RE.match(cleaned)
    if not cleaned or match is None or not any(match.groupdict().values()):
        raise ValueError(f"{text!r} is not a duration: use forms like 30m, 2h, 1h30m or 1d")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    value = timedelta(days=parts.get("d", 0), hours=parts.get("h", 0), minutes=parts.get("m", 0))
    if value <= timedelta(0):
        raise ValueError(f"{text!r} is not a positive duration")
    return value


def format_duration(value: timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or not hours else "")


_PERIOD_RE = re.compile(r"^(?:(?P<m>\d+)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?$")


def parse_period(text: str) -> timedelta:
    """Parse a short period in seconds: `15s`, `0.5s`, `1m`, `1m30s` (leader election)."""
    cleaned = str(text).strip().lower().replace(" ", "")
    match = _PERIOD_RE.match(cleaned)
    if not cleaned or match is None or not any(match.groupdict().values()):
        raise ValueError(f"{text!r} is not a period: use forms like 2s, 0.5s, 15s or 1m30s")
    value = timedelta(minutes=int(match["m"] or 0), seconds=float(match["s"] or 0))
    if value <= timedelta(0):
        raise ValueError(f"{text!r} is not a positive period")
    return value


def format_period(value: timedelta) -> str:
    return f"{value.total_seconds():g}s"


def _to_period(value: Any) -> timedelta:
    return value if isinstance(value, timedelta) else parse_period(str(value))


def _to_duration(value: Any) -> timedelta:
    return value if isinstance(value, timedelta) else parse_duration(str(value))


MINUTES_PER_DAY = 24 * 60


def _to_time(value: Any) -> time:
    """A time of day, HH:MM in the configured zone: no UTC offset (business hours follow
    `timezone` and its DST), no seconds (the jobs fire on the minute), 00:00 to 23:59."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time of day: use HH:MM, e.g. 07:00")
    if isinstance(value, int):  # YAML 1.1 reads 07:00 unquoted as sexagesimal minutes
        if not 0 <= value < MINUTES_PER_DAY:
            hours, minutes = divmod(value, 60)
            raise ValueError(
                f"{hours:02d}:{minutes:02d} is not a time of day: use 00:00 to 23:59 "
                "(business hours end within the day; 23:59 for the latest)"
            )
        return time(value // 60, value % 60)
    parsed = value if isinstance(value, time) else _parse_time(value)
    if parsed.tzinfo is not None:
        raise ValueError(
            f"{value!s} has a UTC offset: business hours are in `timezone` (with its DST); "
            f"write {parsed.strftime('%H:%M')} and set timezone to the zone you mean"
        )
    if parsed.second or parsed.microsecond:
        raise ValueError(f"{value!s} has seconds: use HH:MM (the jobs fire on the minute)")
    return parsed


def _parse_time(value: Any) -> time:
    text = str(value).strip()
    try:
        return time.fromisoformat(text)
    except ValueError:
        if text.startswith("24:"):
            raise ValueError(
                f"{text} is not a time of day: use 00:00 to 23:59 (23:59 for the latest end)"
            ) from None
        raise ValueError(f"{value!r} is not a time of day: use HH:MM, e.g. 07:00") from None


Duration = Annotated[timedelta, BeforeValidator(_to_duration), PlainSerializer(format_duration)]
Period = Annotated[timedelta, BeforeValidator(_to_period), PlainSerializer(format_period)]
TimeOfDay = Annotated[
    time, BeforeValidator(_to_time), PlainSerializer(lambda t: t.strftime("%H:%M"))
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusinessHours(_Section):
    start: TimeOfDay = time(7, 0)
    end: TimeOfDay = time(20, 0)
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = [1, 2, 3, 4, 5]

    @model_validator(mode="after")
    def _start_before_end(self) -> BusinessHours:
        if self.start >= self.end:
            raise ValueError("start must be before end (business hours within one day)")
        if not self.weekdays:
            raise ValueError("weekdays must list at least one ISO weekday (1=Monday .. 7=Sunday)")
        repeated = sorted({day for day in self.weekdays if self.weekdays.count(day) > 1})
        if repeated:
            raise ValueError(
                f"weekdays lists {', '.join(map(str, repeated))} more than once: list each ISO "
                "weekday (1=Monday .. 7=Sunday) once"
            )
        return self


class Holidays(_Section):
    country: str | None = None
    subdivision: str | None = None
    dates: list[Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]] = []


class StoreSettings(_Section):
    backend: Literal["sqlite", "dynamodb"] = "sqlite"
    path: str = "namespace-ctl.db"
    region: str = "us-east-1"
    endpoint_url: str | None = None
    table_prefix: str = ""


class ClusterSettings(_Section):
    kubeconfig: str | None = None
    context: str | None = None
    simulated: str | None = None
    # Where a simulated cluster keeps its state between runs (none: memory only).
    simulated_state: str | None = None
    concurrency: Annotated[int, Field(ge=1, le=256)] = 32
    request_timeout: Annotated[float, Field(gt=0, le=300)] = 10.0
    retries: Annotated[int, Field(ge=0, le=20)] = 5
    # A ceiling for runaway loops, above what a healthy server answers one client (bench: ~600/s).
    qps: Annotated[float, Field(gt=0, le=100_000)] = 900.0
    burst: Annotated[int, Field(ge=1, le=100_000)] = 1800
    # Where `serve` runs its passes (core.worker): `auto` is a worker process unless the cluster
    # is simulated in memory only (a worker would have a cluster of its own).
    passes: Literal["auto", "worker", "in-process"] = "auto"
    # Kubernetes Events (core.events): `all`, the Warnings only (`failures`: a mass sleep stays
    # at one request per workload), or `none`.
    events: Literal["all", "failures", "none"] = "all"

    @model_validator(mode="after")
    def _worker_shares_the_cluster(self) -> ClusterSettings:
        if self.passes == "worker" and self.simulated and not self.simulated_state:
            raise ValueError(
                "cluster.passes: worker needs cluster.simulated_state with cluster.simulated "
                "(a worker process cannot see a cluster kept in this process's memory): set "
                "simulated_state, or passes: auto"
            )
        return self

    @property
    def passes_in_worker(self) -> bool:
        if self.passes == "auto":
            return not self.simulated or self.simulated_state is not None
        return self.passes == "worker"


class Limits(_Section):
    max_active_namespaces: Annotated[int, Field(ge=0)] = 5


class ActivationSettings(_Section):
    default_duration: Duration = timedelta(hours=2)
    max_duration: Duration = timedelta(hours=12)
    approval_timeout: Duration = timedelta(minutes=30)

    @model_validator(mode="after")
    def _default_within_max(self) -> ActivationSettings:
        if self.default_duration > self.max_duration:
            raise ValueError("default_duration must not exceed max_duration")
        return self


class CostCenter(_Section):
    cost_center: str = Field(min_length=1)
    is_authorized: bool = True
    max_concurrent_namespaces: Annotated[int, Field(ge=0)] | None = None
    authorized_namespaces: list[str] = []


class Costs(_Section):
    # Public AWS Fargate on-demand rates, us-east-1 (Linux/x86): per vCPU-hour and per GB-hour.
    currency: str = "USD"
    cpu_core_hour: Annotated[float, Field(ge=0)] = 0.04048
    memory_gib_hour: Annotated[float, Field(ge=0)] = 0.004445

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(
                f"{value!r} is not a currency code: use ISO 4217 in capitals, e.g. USD or EUR"
            )
        return value


class SlackSettings(_Section):
    notifications_channel: str = "#namespace-ctl"
    approvals_channel: str = "#namespace-ctl-approvals"
    admins: list[str] = []
    approvers: dict[str, list[str]] = {}
    api_base_url: str = "https://slack.com/api/"
    # A notice older than this (by its `at`) is not posted hours late as news: kept, expired.
    notice_max_age: Duration = timedelta(hours=12)


class ApiToken(_Section):
    name: str
    token_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    role: Literal["admin", "operator", "viewer"]


# A header's name is an RFC 9110 token.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
Network = Annotated[IPv4Network | IPv6Network, PlainSerializer(str)]
RoleWord = Literal["viewer", "operator", "admin"]


def _to_networks(value: Any) -> Any:
    """CIDRs as `ipaddress.ip_network(strict=False)` reads them: `10.0.0.1/8` is 10.0.0.0/8."""
    if not isinstance(value, list):
        return value  # pydantic says it must be a list
    networks: list[IPv4Network | IPv6Network] = []
    for item in value:
        try:
            if isinstance(item, IPv4Network | IPv6Network):
                networks.append(item)
                continue
            if not isinstance(item, str):
                raise ValueError
            networks.append(ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{item!r} is not an IP network: use CIDRs like 10.0.0.0/8, 127.0.0.1/32 or "
                "fd00::/8"
            ) from None
    return networks


class ApiSettings(_Section):
    """Bearer tokens, and sign-in by an authenticating proxy in front (oauth2-proxy and the
    like): from an address of `trusted_proxies`, `trusted_user_header` names the user, whose
    role is theirs in `users`, else `default_role` (`none`: refused)."""

    tokens: list[ApiToken] = []
    trusted_user_header: str | None = None
    trusted_proxies: Annotated[list[Network], BeforeValidator(_to_networks)] = []
    users: dict[Annotated[str, Field(min_length=1)], RoleWord] = {}
    default_role: Literal["none", "viewer", "operator", "admin"] = "none"

    @field_validator("trusted_user_header")
    @classmethod
    def _header_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "_" in value:
            raise ValueError(
                f"{value!r}: the HTTP server drops headers with an underscore in their name (a "
                "WSGI name would not tell it from '-'): use '-', e.g. X-Auth-Request-Email"
            )
        if not _HEADER_NAME.match(value):
            raise ValueError(
                f"{value!r} is not an HTTP header name: letters, digits and -, e.g. "
                "X-Auth-Request-Email"
            )
        if value.lower() == "authorization":
            raise ValueError(
                "must not be Authorization (it carries the bearer tokens): name the header "
                "the proxy sets, e.g. X-Auth-Request-Email"
            )
        return value

    @field_validator("users")
    @classmethod
    def _emails_once(cls, value: dict[str, str]) -> dict[str, str]:
        """An email is matched ignoring case, so two spellings of one would be ambiguous."""
        seen: dict[str, str] = {}
        for user in value:
            if "@" not in user:
                continue
            other = seen.setdefault(user.casefold(), user)
            if other != user:
                raise ValueError(
                    f"{other!r} and {user!r} differ only in case (emails are matched ignoring "
                    "case): keep one"
                )
        return value

    @model_validator(mode="after")
    def _header_needs_proxies(self) -> ApiSettings:
        if self.trusted_user_header and not self.trusted_proxies:
            raise ValueError(
                "api.trusted_user_header is set but api.trusted_proxies is empty, so the header "
                "would be ignored from every address: list the proxy's addresses (e.g. "
                "10.0.0.0/8), or unset api.trusted_user_header"
            )
        return self

    def proxy_user(self, user: str) -> tuple[str, str]:
        """A user the proxy names, as `users` spells them, and their role there (an email
        matches ignoring case); else as named, with `default_role` (`none`: no role)."""
        if user in self.users:
            return user, self.users[user]
        if "@" in user:
            for known, role in self.users.items():
                if known.casefold() == user.casefold():
                    return known, role
        return user, self.default_role


def _to_lead_time(value: Any) -> Any:
    if isinstance(value, timedelta) or value == "auto":
        return value
    if value in (0, "0", "0m", "0s"):
        return timedelta(0)
    return parse_duration(str(value))


LeadTime = Annotated[
    timedelta | Literal["auto"],
    BeforeValidator(_to_lead_time),
    PlainSerializer(lambda v: v if v == "auto" else format_duration(v)),
]


class WakeSettings(_Section):
    # After a wake, how long its workloads' pods have to be ready before the namespace is
    # reported not ready (core.readiness).
    ready_timeout: Duration = timedelta(minutes=10)
    # How long before business start to wake (core.prewake): 0, a duration, or `auto` (each
    # namespace's recent time to ready), never more than max_lead_time.
    lead_time: LeadTime = timedelta(0)
    max_lead_time: Duration = timedelta(minutes=45)
    # Early wakes in flight at once (woken, not yet ready); none: no limit.
    max_concurrent_namespaces: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _lead_within_max(self) -> WakeSettings:
        lead = self.lead_time
        if isinstance(lead, timedelta) and lead > self.max_lead_time:
            raise ValueError(
                f"lead_time {format_duration(lead)} is longer than max_lead_time "
                f"{format_duration(self.max_lead_time)}: shorten it or raise max_lead_time"
            )
        return self


class LeaderElectionSettings(_Section):
    """Several replicas, one leader on a `coordination.k8s.io/v1` Lease (client-go's timings).

    `namespace` unset: `$POD_NAMESPACE`, else `namespace-ctl` (resolved at start)."""

    enabled: bool = False
    namespace: str | None = None
    name: str = Field(default="namespace-ctl", min_length=1)
    lease_duration: Period = timedelta(seconds=15)
    renew_deadline: Period = timedelta(seconds=10)
    retry_period: Period = timedelta(seconds=2)

    @model_validator(mode="after")
    def _ordered(self) -> LeaderElectionSettings:
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "need retry_period < renew_deadline < lease_duration (e.g. 2s, 10s, 15s): a "
                "leader must stop working before another may take over"
            )
        return self


class Config(_Section):
    timezone: str = "UTC"
    business_hours: BusinessHours = BusinessHours()
    holidays: Holidays = Holidays()
    exclude_namespaces: list[str] = []
    store: StoreSettings = StoreSettings()
    cluster: ClusterSettings = ClusterSettings()
    limits: Limits = Limits()
    activation: ActivationSettings = ActivationSettings()
    cost_centers: list[CostCenter] = []
    costs: Costs = Costs()
    slack: SlackSettings = SlackSettings()
    api: ApiSettings = ApiSettings()
    leader_election: LeaderElectionSettings = LeaderElectionSettings()
    wake: WakeSettings = WakeSettings()

    @model_validator(mode="after")
    def _leader_election_needs_shared_state(self) -> Config:
        if not self.leader_election.enabled:
            return self
        if self.store.backend == "sqlite":
            raise ValueError(
                "leader_election.enabled needs store.backend: dynamodb: replicas need a shared "
                "store (a SQLite file is one pod's; run one replica with leader election off)"
            )
        if self.cluster.simulated:
            raise ValueError(
                "leader_election.enabled needs a Kubernetes cluster for its Lease: unset "
                "cluster.simulated"
            )
        return self

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as Europe/Madrid"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


EnvPath = tuple[str, ...]


def _describe(error: ValidationError, source: str, from_env: dict[EnvPath, str]) -> str:
    lines = [f"bad configuration in {source}:"]
    for item in error.errors():
        loc = tuple(str(p) for p in item["loc"])
        key = ".".join(loc) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see README for the keys)"
        variable = _variable_for(loc, from_env)
        if variable is not None:
            message += f" (set by the environment variable {variable})"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def _variable_for(loc: EnvPath, from_env: dict[EnvPath, str]) -> str | None:
    """The NSCTL_ variable that set the key at `loc` (or below or above it), if one did."""
    for path, variable in from_env.items():
        if path[: len(loc)] == loc or loc[: len(path)] == path:
            return variable
    return None


def env_overrides(environ: Mapping[str, str]) -> dict[EnvPath, str]:
    """The key path each `NSCTL_` variable sets: `NSCTL_STORE__BACKEND` sets store.backend."""
    return {
        tuple(name[len(ENV_PREFIX) :].lower().split("__")): name
        for name in sorted(environ)
        if name.startswith(ENV_PREFIX) and name != f"{ENV_PREFIX}CONFIG"
    }


def apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """`NSCTL_STORE__BACKEND=dynamodb` sets `store.backend`; values are read as YAML scalars."""
    merged = dict(raw)
    for path, name in env_overrides(environ).items():
        text = environ[name]
        node = merged
        for part in path[:-1]:
            child = node.get(part)
            node[part] = dict(child) if isinstance(child, dict) else {}
            node = node[part]
        try:
            node[path[-1]] = yaml.safe_load(text) if text else text
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"environment variable {name} is not a YAML value ({exc}): quote it or fix it"
            ) from None
    return merged


def load_config(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Read, merge env overrides into, and validate the configuration. Raise ConfigError."""
    environ = os.environ if environ is None else environ
    raw: Any = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found: pass --config FILE") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys at the top level")
    raw = apply_env_overrides(raw, environ)
    from_env = env_overrides(environ)
    if from_env:
        source += " and the environment"
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, from_env)) from None
