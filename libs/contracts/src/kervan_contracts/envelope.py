"""The envelope every Kervan event travels in, on every topic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

DataT = TypeVar("DataT", bound=BaseModel)


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must carry a timezone (UTC)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]
"""A timezone-aware instant, normalised to UTC."""


class ContractModel(BaseModel):
    """Base of every wire model: immutable, and tolerant of fields added by newer producers."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Envelope(ContractModel, Generic[DataT]):
    """Metadata common to every event; `data` holds the event-specific payload."""

    event_id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        description="Unique id of this event; consumers deduplicate on it (inbox).",
    )
    event_type: str = Field(
        description="`<context>.<entity>.<verb>`, e.g. `orders.order.received`.",
        pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$",
    )
    event_version: int = Field(ge=1, description="Major version of the `data` schema.")
    occurred_at: UtcDatetime = Field(
        default_factory=lambda: datetime.now(UTC),
        description="When the fact happened, UTC.",
    )
    producer: str = Field(
        min_length=1, max_length=100, description="Name of the service that produced the event."
    )
    correlation_id: str = Field(
        default_factory=lambda: str(uuid.uuid4()),
        min_length=1,
        max_length=128,
        description="Id shared by every event caused by the same original request or poll.",
    )
    causation_id: uuid.UUID | None = Field(
        default=None, description="`event_id` of the event that caused this one, if any."
    )
    data: DataT = Field(description="The event payload; its schema is given by event_type.")
