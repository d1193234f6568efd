"""Settings of order-ingest (env prefix `ORDER_INGEST_`, nested with `__`)."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from kervan_servicekit import OutboxSettings, ServiceSettings
from order_ingest.app.scheduler import ScheduleSettings
from order_ingest.app.services import PollSettings


def _default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


ORDER_OUTBOX_BATCH = 2000
"""Rows the relay claims per batch: each claim is a few round trips (claim, produce, confirm,
mark), and at 500 (servicekit's default) they bounded the service at ~1,100 orders/s."""


class OrderOutboxSettings(OutboxSettings):
    """servicekit's relay settings with order-ingest's batch (an order makes two or more
    events); a subclass, so that setting another field in the environment keeps it."""

    batch_size: int = Field(
        default=ORDER_OUTBOX_BATCH, ge=1, description="Rows claimed and published per batch."
    )
    delete_published: bool = Field(
        default=True,
        description=(
            "Published rows are deleted (Kafka keeps the events; the orders table the state): "
            "marking them rewrote every row."
        ),
    )


class OrderIngestSettings(ServiceSettings):
    """Everything order-ingest reads from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="ORDER_INGEST_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = Field(default="order-ingest", description="Service name.")
    outbox: OrderOutboxSettings = Field(
        default_factory=OrderOutboxSettings, description="Outbox relay (2,000 rows a batch)."
    )
    http_port: int = Field(default=8083, ge=0, le=65535, description="Ops API port.")
    poll_interval_seconds: float = Field(
        default=30.0,
        ge=1.0,
        description="Time between two polls of one store (raised to what the platform's "
        "documented order-endpoint limits allow).",
    )
    poll_jitter: float = Field(
        default=0.2, ge=0, le=1, description="Random ± fraction applied to each interval."
    )
    poll_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description="A poll of one store is cut after this long without committing a batch.",
    )
    backoff_max_seconds: float = Field(
        default=600.0, gt=0, description="Cap of the backoff after 429/5xx/errors."
    )
    overlap_seconds: float = Field(
        default=300.0,
        ge=120.0,
        description="When an order counts as settled: the platform's visibility lag plus the "
        "clock skew between Kervan and the platform (default: 2 min lag + 2 min skew + margin; "
        "never below 2 min + the platform's lag). Each stretch of time is read once more after "
        "it settled, so an order that became visible late is ingested within this (+ one "
        "interval).",
    )
    fresh_overlap_seconds: float = Field(
        default=0.0,
        ge=0,
        description="How far before the watermark each poll starts again, so orders visible a "
        "moment after their timestamp are seen by the next poll instead of the settled re-read "
        "(each second of it re-reads a second of orders at every poll, hence 0 by default).",
    )
    sweep_every_seconds: float = Field(
        default=30.0,
        ge=0,
        description="The settled re-read runs once this much time has settled (at most one "
        "query and transaction per store per this period instead of per poll); a late-visible "
        "order is ingested within overlap + this + one interval.",
    )
    initial_lookback_hours: float = Field(
        default=24.0, gt=0, description="How far back the first poll of a new store reads."
    )
    max_window_hours: float = Field(
        default=6.0,
        gt=0,
        description="Widest window of one query; a catch-up commits window by window.",
    )
    commit_batch_size: int = Field(
        default=100, ge=1, le=10_000, description="Orders per transaction (with their events)."
    )
    lease_ttl_seconds: float = Field(
        default=20.0, gt=0, description="Lifetime of a store lease unless renewed."
    )
    lease_renew_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often leases are renewed and free stores claimed (ttl + this "
        "bounds the takeover time of a dead replica's stores).",
    )
    replica_id: str = Field(
        default_factory=_default_replica_id,
        description="Name of this replica in the lease table (default host-pid-random).",
    )
    retest_url: str = Field(
        default="http://127.0.0.1:8082/v1/stores/{store_id}/credentials/test",
        description="credential-vault's re-test endpoint, called after a 401/403; empty "
        "disables the call (the store is paused either way).",
    )
    retest_token: SecretStr = Field(
        default=SecretStr(""), description="Bearer token for the re-test call (never logged)."
    )

    def poll_settings(self) -> PollSettings:
        """The poll use case's view."""
        return PollSettings(
            overlap=timedelta(seconds=self.overlap_seconds),
            fresh_overlap=timedelta(seconds=self.fresh_overlap_seconds),
            sweep_every=timedelta(seconds=self.sweep_every_seconds),
            initial_lookback=timedelta(hours=self.initial_lookback_hours),
            commit_batch_size=self.commit_batch_size,
            max_window=timedelta(hours=self.max_window_hours),
        )

    def schedule_settings(self) -> ScheduleSettings:
        """The scheduler's view."""
        return ScheduleSettings(
            interval=self.poll_interval_seconds,
            jitter=self.poll_jitter,
            poll_timeout=self.poll_timeout_seconds,
            backoff_max=self.backoff_max_seconds,
            lease_renew_interval=self.lease_renew_interval_seconds,
        )
