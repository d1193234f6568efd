"""Injected faults: latency, random errors, 429 storms, revoked credentials, failing items."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal[
    "latency", "error_rate", "rate_limit_storm", "revoked_credentials", "item_failure"
]


@dataclass(frozen=True, slots=True)
class Fault:
    """One active fault, scoped to a platform and/or an account, optionally time-bounded."""

    fault_id: str
    kind: FaultKind
    platform: str | None
    account_id: str | None
    starts_at: float
    until: float | None
    seconds: float = 0.0
    rate: float = 0.0
    status: int = 503
    skus: frozenset[str] | None = None
    reason: str = "simulated failure"

    def applies(self, platform: str, account_id: str | None, now: float) -> bool:
        """True when the fault covers this platform/account at this instant."""
        if self.until is not None and now >= self.until:
            return False
        if self.platform is not None and self.platform != platform:
            return False
        return self.account_id is None or self.account_id == account_id

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the control API."""
        return {
            "fault_id": self.fault_id,
            "kind": self.kind,
            "platform": self.platform,
            "account_id": self.account_id,
            "starts_at": self.starts_at,
            "until": self.until,
            "seconds": self.seconds,
            "rate": self.rate,
            "status": self.status,
            "skus": sorted(self.skus) if self.skus is not None else None,
            "reason": self.reason,
        }


class FaultBook:
    """Active faults plus the seeded random source used for error rates."""

    def __init__(self, seed: int) -> None:
        self._faults: dict[str, Fault] = {}
        self._seed = seed
        self._random = random.Random(seed)
        self._count = 0

    def add(self, fault: Fault) -> None:
        """Activate a fault."""
        self._faults[fault.fault_id] = fault

    def next_id(self) -> str:
        """Deterministic fault id."""
        self._count += 1
        return f"fault-{self._count}"

    def remove(self, fault_id: str) -> bool:
        """Deactivate a fault; False if it did not exist."""
        return self._faults.pop(fault_id, None) is not None

    def all(self) -> list[Fault]:
        """Every registered fault (expired ones included until reset)."""
        return list(self._faults.values())

    def active(
        self, kind: FaultKind, platform: str, account_id: str | None, now: float
    ) -> list[Fault]:
        """Faults of one kind that apply now."""
        if not self._faults:
            return []
        return [
            f
            for f in self._faults.values()
            if f.kind == kind and f.applies(platform, account_id, now)
        ]

    def roll(self, probability: float) -> bool:
        """A seeded coin toss."""
        return self._random.random() < probability

    def item_failure(
        self, platform: str, account_id: str, sku: str | None, now: float
    ) -> str | None:
        """The injected failure reason for an item, if one applies."""
        for fault in self.active("item_failure", platform, account_id, now):
            if fault.skus is None or (sku is not None and sku in fault.skus):
                return fault.reason
        return None

    def clear(self) -> None:
        """Remove every fault and reseed."""
        self._faults.clear()
        self._random = random.Random(self._seed)
        self._count = 0
