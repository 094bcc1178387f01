"""The cost model: what a namespace runs when awake, and what an hour of it costs.

A workload's footprint is replicas x its pods' effective requests (snapshot on the shutdown
record, see `core.scaling.quantities`): a DaemonSet counts its scheduled pods, a CronJob nothing.
Workloads that run pods without any request cost nothing here and are flagged, so a report can
say its figure is a floor. Money is computed in `Decimal` and rounded to cents only where it is
shown, so totals add up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from core.config import Costs
from core.models import WorkloadKind, WorkloadSnapshot

CENT = Decimal("0.01")
TENTH = Decimal("0.1")
SECONDS_PER_HOUR = Decimal(3600)


@dataclass(frozen=True)
class Rates:
    """Prices per hour of one CPU core and one GiB of memory requested."""

    currency: str
    cpu_core_hour: Decimal
    memory_gib_hour: Decimal

    @classmethod
    def from_config(cls, costs: Costs) -> Rates:
        # str() first: the YAML float 0.04048 becomes exactly Decimal("0.04048").
        return cls(
            currency=costs.currency,
            cpu_core_hour=Decimal(str(costs.cpu_core_hour)),
            memory_gib_hour=Decimal(str(costs.memory_gib_hour)),
        )


@dataclass(frozen=True)
class Footprint:
    """What a namespace's workloads request in total while awake."""

    cpu_cores: Decimal = Decimal(0)
    memory_gib: Decimal = Decimal(0)
    pods: int = 0
    without_requests: tuple[str, ...] = ()  # "Kind/name" of workloads running pods unrequested

    def hourly_cost(self, rates: Rates) -> Decimal:
        return self.cpu_cores * rates.cpu_core_hour + self.memory_gib * rates.memory_gib_hour

    def cost(self, seconds: int, rates: Rates) -> Decimal:
        """The cost of `seconds` awake (unrounded)."""
        return self.hourly_cost(rates) * Decimal(seconds) / SECONDS_PER_HOUR


def footprint(workloads: Iterable[WorkloadSnapshot]) -> Footprint:
    """The namespace's footprint from its workloads' snapshots."""
    cpu, memory, pods, flagged = Decimal(0), Decimal(0), 0, []
    for workload in workloads:
        if workload.kind is WorkloadKind.CRONJOB or workload.replicas <= 0:
            continue
        pods += workload.replicas
        if not workload.has_requests:
            flagged.append(f"{workload.kind.value}/{workload.name}")
            continue
        cpu += workload.replicas * Decimal(str(workload.cpu_cores))
        memory += workload.replicas * Decimal(str(workload.memory_gib))
    return Footprint(cpu, memory, pods, tuple(sorted(flagged)))


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def money(amount: Decimal) -> float:
    """An amount rounded to cents, as the number the JSON and the messages show."""
    return float(cents(amount))


def percent(part: float | Decimal, whole: float | Decimal) -> float:
    """`part` as a share of `whole` in percent, to one decimal, half up (0 when `whole` is 0)."""
    if not whole:
        return 0.0
    share = 100 * Decimal(str(part)) / Decimal(str(whole))
    return float(share.quantize(TENTH, rounding=ROUND_HALF_UP))


def sum_shown(amounts: Iterable[float]) -> float:
    """The exact sum of figures as shown (no float drift), so a total adds up on paper."""
    return float(sum((Decimal(str(amount)) for amount in amounts), Decimal(0)))


DEFAULT_RATES = Rates.from_config(Costs())
