"""Create missing Kafka topics (with their configs) at service start, idempotently."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

logger = logging.getLogger("kervan.servicekit.topics")


class TopicSpecLike(Protocol):
    """What `ensure_topics` needs of a spec; `kervan_contracts.topics.TopicSpec` fits."""

    @property
    def name(self) -> str: ...

    @property
    def partitions(self) -> int: ...

    def config(self) -> Mapping[str, str]:
        """Topic-level configuration (cleanup.policy, retention.ms, ...)."""
        ...


@dataclass(frozen=True, slots=True)
class TopicDefinition:
    """A plain topic spec, for topics outside the contracts (tests, service-internal ones)."""

    name: str
    partitions: int = 1
    settings: Mapping[str, str] = field(default_factory=dict)

    def config(self) -> Mapping[str, str]:
        """Topic-level configuration."""
        return self.settings


async def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpecLike],
    *,
    replication_factor: int = 1,
    request_timeout: float = 30.0,
) -> list[str]:
    """Create the topics of `specs` that do not exist yet; return the names created.

    Dead-letter topics are specs too: `kervan_contracts.topics.dlq_topic(group)`. Existing
    topics are left as they are (partitions and configs are not altered). Safe to run from
    several replicas at once: "already exists" from a concurrent creator is fine.
    """
    wanted = {spec.name: spec for spec in specs}
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="kervan-topic-admin",
        request_timeout_ms=int(request_timeout * 1000),
    )
    try:
        async with asyncio.timeout(request_timeout):
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [spec for name, spec in wanted.items() if name not in existing]
            if not missing:
                return []
            response = await admin.create_topics(
                [
                    NewTopic(
                        name=spec.name,
                        num_partitions=spec.partitions,
                        replication_factor=replication_factor,
                        topic_configs=dict(spec.config()),
                    )
                    for spec in missing
                ],
                timeout_ms=int(request_timeout * 1000),
            )
    finally:
        # close() can hang like the producer's stop() when Kafka is gone (aiokafka#1101).
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5.0):
                await admin.close()
    created: list[str] = []
    for entry in response.topic_errors:
        name, code = entry[0], entry[1]
        if code == 0:
            created.append(name)
        elif for_code(code) is not TopicAlreadyExistsError:
            message = entry[2] if len(entry) > 2 else ""
            raise for_code(code)(f"creating topic {name!r} failed: {message}")
    if created:
        logger.info("created topics", extra={"topics": created})
    return created
