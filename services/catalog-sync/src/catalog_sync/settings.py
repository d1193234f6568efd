"""Settings of catalog-sync (env prefix `CATALOG_SYNC_`, nested with `__`)."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from catalog_sync.app.pusher import PushSettings
from catalog_sync.app.scheduler import LoopSettings
from catalog_sync.domain.outcomes import RetryRule
from kervan_servicekit import ServiceSettings


def _default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class CatalogSyncSettings(ServiceSettings):
    """Everything catalog-sync reads from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="CATALOG_SYNC_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = Field(default="catalog-sync", description="Service name.")
    http_port: int = Field(default=8084, ge=0, le=65535, description="HTTP API port.")
    ack_window_hours: float = Field(
        default=336.0,
        gt=0,
        description="Acknowledgement window of the stock model: platforms list every applied "
        "movement of this window in `applied_movement_ids`; older entries are pruned and "
        "older movements assumed included (≥ the stock-movements topic retention, 14 days).",
    )
    push_tick_seconds: float = Field(
        default=0.25, gt=0, description="Idle wait of the push loop between looks for work."
    )
    max_concurrent_stores: int = Field(
        default=16, ge=1, description="Stores pushed at the same time."
    )
    take_limit: int = Field(
        default=2000,
        ge=1,
        description="Queued SKUs planned per store and round, rounded up to whole batches "
        "of the platform's maximum.",
    )
    per_item_group: int = Field(
        default=20,
        ge=1,
        description="Items per adapter call (one ledger batch) on per-item platforms.",
    )
    follow_interval_seconds: float = Field(
        default=2.0, gt=0, description="How often an open batch's result is read."
    )
    follow_deadline_minutes: float = Field(
        default=30.0,
        gt=0,
        description="After this, still-pending items are settled as pending and retried.",
    )
    retry_base_seconds: float = Field(
        default=30.0, gt=0, description="Backoff after an item's first failure."
    )
    retry_cap_minutes: float = Field(default=30.0, gt=0, description="Cap of the item backoff.")
    retry_max_attempts: int = Field(
        default=6,
        ge=1,
        description="Attempts of one value before it is recorded as failed for good.",
    )
    rate_limit_pause_seconds: float = Field(
        default=30.0, gt=0, description="Pause of a store after a 429 without Retry-After."
    )
    auth_pause_minutes: float = Field(
        default=60.0,
        gt=0,
        description="Pause of a store after 401/403 (lifted earlier by new credentials).",
    )

    lease_ttl_seconds: float = Field(
        default=20.0,
        gt=0,
        description="Lifetime of a store lease unless renewed (several replicas: each store "
        "is pushed by the one replica holding its lease).",
    )
    lease_renew_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often leases are renewed and free stores claimed (ttl + this bounds "
        "the takeover of a dead replica's stores; keep it well under ttl / 2).",
    )
    replica_id: str = Field(
        default="",
        description="Name of this replica in the lease table; empty: host-pid-random.",
    )

    @model_validator(mode="after")
    def _name_the_replica(self) -> Self:
        # Computed here rather than as a default factory, so the documented default is stable.
        if not self.replica_id:
            self.replica_id = _default_replica_id()
        return self

    @property
    def ack_window(self) -> timedelta:
        """The acknowledgement window."""
        return timedelta(hours=self.ack_window_hours)

    def push_settings(self) -> PushSettings:
        """The pusher's view."""
        return PushSettings(
            take_limit=self.take_limit,
            per_item_group=self.per_item_group,
            follow_interval=timedelta(seconds=self.follow_interval_seconds),
            follow_deadline=timedelta(minutes=self.follow_deadline_minutes),
            rate_limit_pause=timedelta(seconds=self.rate_limit_pause_seconds),
            auth_pause=timedelta(minutes=self.auth_pause_minutes),
            retry=RetryRule(
                base=timedelta(seconds=self.retry_base_seconds),
                cap=timedelta(minutes=self.retry_cap_minutes),
                max_attempts=self.retry_max_attempts,
            ),
        )

    def loop_settings(self) -> LoopSettings:
        """The push loop's view."""
        return LoopSettings(
            tick_seconds=self.push_tick_seconds,
            max_concurrent_stores=self.max_concurrent_stores,
            lease_renew_seconds=self.lease_renew_interval_seconds,
        )
