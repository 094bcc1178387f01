"""Kubernetes resource quantities, parsed exactly, and a pod template's effective requests.

`parse_quantity` follows apimachinery's `resource.Quantity` grammar: a signed decimal number, then
a binary suffix (Ki Mi Gi Ti Pi Ei), a decimal suffix (n u m "" k M G T P E) or a decimal exponent
(e3, E-2). It works in `Decimal`, so "100m" is exactly 0.1 and "1.5Gi" exactly 1610612736.

`pod_requests` applies the scheduler's effective-request rule per resource:
max(sum of app containers + sum of sidecars, the largest init-phase request), where an init
container's phase also holds every sidecar (init container with `restartPolicy: Always`) started
before it. A container without a request but with a limit gets the limit, as the API server
defaults it on the pod.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

_NUMBER_RE = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)$")
_EXPONENT_RE = re.compile(r"^[eE]([+-]?[0-9]+)$")

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

GIB = Decimal(1024**3)
RESOURCES = ("cpu", "memory")


class QuantityError(ValueError):
    """Not a Kubernetes quantity."""


def parse_quantity(value: Any) -> Decimal:
    """The exact value of a Kubernetes quantity ("250m" -> 0.25, "1Gi" -> 1073741824).

    JSON numbers are accepted as the API server accepts them. Raise `QuantityError` otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise QuantityError(f"{value!r} is not a quantity")
    text = value.strip() if isinstance(value, str) else str(value)
    match = _NUMBER_RE.match(text)
    if match is None:
        raise QuantityError(f"{value!r} is not a quantity: expected a number like 250m or 1Gi")
    number_text, suffix = match.groups()
    try:
        number = Decimal(number_text)
    except InvalidOperation:  # pragma: no cover - the regex only lets decimals through
        raise QuantityError(f"{value!r} is not a quantity") from None
    if suffix in _BINARY:
        return number * (Decimal(1024) ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    exponent = _EXPONENT_RE.match(suffix)
    if exponent is not None:
        power = int(exponent.group(1))
        if abs(power) > 1000:
            raise QuantityError(f"{value!r} is not a quantity: exponent out of range")
        return number.scaleb(power)
    raise QuantityError(
        f"{value!r} is not a quantity: unknown suffix {suffix!r} "
        "(use m, k, M, G, Ki, Mi, Gi, ... or an exponent like e9)"
    )


def is_quantity(value: Any) -> bool:
    try:
        parse_quantity(value)
    except QuantityError:
        return False
    return True


@dataclass(frozen=True)
class Requests:
    """Per-replica requests of a pod template. `valid` is False when a quantity was unparsable
    (that request then counts as absent)."""

    cpu_cores: Decimal = Decimal(0)
    memory_bytes: Decimal = Decimal(0)
    declared: bool = False
    valid: bool = True

    @property
    def memory_gib(self) -> Decimal:
        return self.memory_bytes / GIB

    @property
    def has_requests(self) -> bool:
        return self.declared and self.valid


class _Collector:
    def __init__(self) -> None:
        self.declared = False
        self.valid = True

    def container(self, container: Any) -> dict[str, Decimal]:
        """The container's request per resource (0 when absent or unparsable)."""
        result = dict.fromkeys(RESOURCES, Decimal(0))
        if not isinstance(container, Mapping):
            return result
        resources = container.get("resources")
        if not isinstance(resources, Mapping):
            return result
        requests = resources.get("requests")
        limits = resources.get("limits")
        requests = requests if isinstance(requests, Mapping) else {}
        limits = limits if isinstance(limits, Mapping) else {}
        for name in RESOURCES:
            raw = requests.get(name, limits.get(name))
            if raw is None:
                continue
            self.declared = True
            try:
                amount = parse_quantity(raw)
            except QuantityError:
                self.valid = False
                continue
            if amount < 0 or not amount.is_finite():
                self.valid = False
                continue
            result[name] = amount
        return result


def _containers(pod_spec: Mapping[str, Any], key: str) -> Iterable[Any]:
    items = pod_spec.get(key)
    return items if isinstance(items, list) else []


def pod_requests(pod_spec: Any) -> Requests:
    """The effective per-pod CPU and memory requests of a pod spec (never raises)."""
    if not isinstance(pod_spec, Mapping):
        return Requests()
    collect = _Collector()
    app = dict.fromkeys(RESOURCES, Decimal(0))
    for container in _containers(pod_spec, "containers"):
        for name, amount in collect.container(container).items():
            app[name] += amount
    sidecars = dict.fromkeys(RESOURCES, Decimal(0))
    init_peak = dict.fromkeys(RESOURCES, Decimal(0))
    for container in _containers(pod_spec, "initContainers"):
        amounts = collect.container(container)
        sidecar = isinstance(container, Mapping) and container.get("restartPolicy") == "Always"
        for name, amount in amounts.items():
            if sidecar:
                sidecars[name] += amount
                init_peak[name] = max(init_peak[name], sidecars[name])
            else:
                init_peak[name] = max(init_peak[name], amount + sidecars[name])
    totals = {name: max(app[name] + sidecars[name], init_peak[name]) for name in RESOURCES}
    return Requests(
        cpu_cores=totals["cpu"],
        memory_bytes=totals["memory"],
        declared=collect.declared,
        valid=collect.valid,
    )
