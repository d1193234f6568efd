"""AsyncAPI 3.0.0 documents of Kervan's Kafka interface, generated from the contracts.

One document per party: each Kafka-using service, and the platform (the seller's ERP) that
publishes the catalogue. `PARTIES` is the only place that says who sends and who receives
what; topics, keys, messages, schemas and examples all come from `TOPICS`, `REGISTRY`,
`schema.envelope_schema` and `EXAMPLES`. Write or check the committed files with
`python -m kervan_contracts.asyncapi [--check]` (`make contracts` writes them).
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from kervan_contracts import topics
from kervan_contracts.catalog.v1 import PriceChanged, ProductUpserted, StockLevelChanged
from kervan_contracts.credentials.v1 import ApiStatusChanged, CredentialsChanged
from kervan_contracts.event import EventPayload
from kervan_contracts.examples import EXAMPLES
from kervan_contracts.inventory.v1 import StockDeducted, StockReleased
from kervan_contracts.orders.v1 import OrderCancelled, OrderReceived, OrderUpdated
from kervan_contracts.registry import (
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    EventSpec,
    envelope_headers,
    events_on_topic,
    make_envelope,
    serialize_envelope,
    spec_of,
)
from kervan_contracts.schema import SCHEMA_DIR, envelope_schema
from kervan_contracts.stores.v1 import (
    StoreCreated,
    StoreDeleted,
    StoreSettingsChanged,
    StoreStatusChanged,
    StoreUpdated,
)
from kervan_contracts.sync.v1 import CatalogPushCompleted
from kervan_contracts.topics import TOPICS, TopicSpec, dlq_topic

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
DOCUMENT_VERSION = "1.0.0"
"""`info.version`: the v1 topics and events; bump with any change of the interface's meaning."""

REPO_ROOT = SCHEMA_DIR.parents[2]
"""The repository root (`libs/contracts/schemas` → three levels up)."""

TOMBSTONE = "tombstone"
DEAD_LETTER = "deadLetter"

DLQ_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "x-dlq-error-type": "Qualified class name of the error, e.g. "
        "`kervan_contracts.errors.InvalidEventError`.",
        "x-dlq-error-message": "One-line description of the error, free of payload values.",
        "x-dlq-attempts": "How many times the record was tried (decimal).",
        "x-dlq-original-topic": "Topic the record was read from.",
        "x-dlq-original-partition": "Its partition (decimal).",
        "x-dlq-original-offset": "Its offset (decimal).",
        "x-dlq-failed-at": "When it was dead-lettered, ISO 8601 UTC.",
        "x-dlq-consumer-group": "The consumer group that gave up on it.",
    }
)
"""Headers servicekit adds to a dead-lettered record (servicekit's tests check the names)."""

_EXAMPLE_NAMESPACE = uuid.UUID("3b0c6c5e-8f3e-5a8e-9d5c-4a4b6f0e7a10")
_EXAMPLE_TIME = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Party:
    """One side of the Kafka interface: what it publishes and which topics it consumes."""

    name: str
    """Service name; the envelope's `producer` of what it sends."""
    title: str
    summary: str
    path: str
    """Where its document is committed, relative to the repository root."""
    sends: tuple[type[EventPayload], ...]
    """Events it publishes (Kervan services: through the transactional outbox)."""
    tombstones: tuple[str, ...] = ()
    """Compacted topics it writes tombstones (null values) to."""
    receives: tuple[str, ...] = ()
    """Topics it subscribes to; it reads every event on them."""
    group: str | None = None
    """Consumer group of its subscriptions; Kervan services dead-letter to `<group>.dlq`."""
    note: str = ""
    """Extra paragraph for the document's description."""

    @property
    def dlq(self) -> TopicSpec | None:
        """Its dead-letter topic, if it is a Kervan consumer."""
        return dlq_topic(self.group) if self.group and self.receives else None


PARTIES: tuple[Party, ...] = (
    Party(
        name="store-registry",
        title="Kervan store-registry",
        summary="Stores and their settings; the API status column.",
        path="services/store-registry/asyncapi.json",
        sends=(StoreCreated, StoreUpdated, StoreSettingsChanged, StoreStatusChanged, StoreDeleted),
        tombstones=(topics.STORES,),
        receives=(topics.API_STATUS,),
        group="store-registry",
    ),
    Party(
        name="credential-vault",
        title="Kervan credential-vault",
        summary="Marketplace credentials in Vault and the API status of each store.",
        path="services/credential-vault/asyncapi.json",
        sends=(ApiStatusChanged, CredentialsChanged),
        tombstones=(topics.API_STATUS, topics.CREDENTIALS),
        receives=(topics.STORES,),
        group="credential-vault",
    ),
    Party(
        name="order-ingest",
        title="Kervan order-ingest",
        summary="Polls marketplace orders; publishes orders and the stock they take or give back.",
        path="services/order-ingest/asyncapi.json",
        sends=(OrderReceived, OrderUpdated, OrderCancelled, StockDeducted, StockReleased),
        receives=(topics.STORES, topics.API_STATUS, topics.CREDENTIALS),
        group="order-ingest",
    ),
    Party(
        name="catalog-sync",
        title="Kervan catalog-sync",
        summary="Pushes product info, prices and stock to the marketplaces.",
        path="services/catalog-sync/asyncapi.json",
        sends=(CatalogPushCompleted,),
        receives=(
            topics.CATALOG,
            topics.STOCK_MOVEMENTS,
            topics.STORES,
            topics.API_STATUS,
            topics.CREDENTIALS,
        ),
        group="catalog-sync",
        note="The demo commands `publish-catalog` and `reference-inventory` of this package "
        "play the platform's part; they are described in `docs/asyncapi/platform.json`, "
        "not here.",
    ),
    Party(
        name="erp-publisher",
        title="The platform (ERP) and Kervan",
        summary="The platform (the seller's ERP): publishes the catalogue Kervan pushes.",
        path="docs/asyncapi/platform.json",
        sends=(ProductUpserted, PriceChanged, StockLevelChanged),
        tombstones=(topics.CATALOG,),
        receives=(topics.STOCK_MOVEMENTS,),
        note="Not a Kervan service: this is the contract for the platform team. Consuming "
        "`kervan.stock-movements.v1` is optional; a platform that does, lists the movements "
        "it applied in `applied_movement_ids` (docs/stock-model.md). Kervan's demo stand-ins "
        "are catalog-sync's `publish-catalog` (producer `catalog-publisher`) and "
        "`reference-inventory` commands. The consumer group is the platform's choice.",
    ),
)
"""Every party of the Kafka interface, in documentation order."""


def party(name: str) -> Party:
    """The party of that name, or KeyError."""
    for candidate in PARTIES:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def sender_of(spec: EventSpec[EventPayload]) -> Party:
    """The one party that publishes an event (RuntimeError if none or several do)."""
    senders = [p for p in PARTIES if spec.model in p.sends]
    if len(senders) != 1:
        names = [p.name for p in senders]
        raise RuntimeError(f"{spec.event_type} must have one sender, has {names}")
    return senders[0]


def message_id(spec: EventSpec[EventPayload]) -> str:
    """`<event_type>.v<major>`: the id of its message and payload schema."""
    return f"{spec.event_type}.v{spec.version}"


def _ref(*parts: str) -> dict[str, str]:
    pointer = "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)
    return {"$ref": f"#/{pointer}"}


def _rewrite_refs(node: Any) -> Any:
    """`#/$defs/X` → `#/components/schemas/X`; a `$ref` with siblings goes into an `allOf`.

    AsyncAPI schemas are JSON Schema draft-07, where keywords beside a `$ref` are ignored;
    pydantic puts `description` and `default` there, so they would be lost otherwise.
    """
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _rewrite_refs(value) for key, value in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = _ref("components", "schemas", ref.removeprefix("#/$defs/"))
        siblings = {key: value for key, value in out.items() if key != "$ref"}
        out = {"allOf": [target], **siblings} if siblings else target
    return out


def _payload_schemas(
    specs: Sequence[EventSpec[EventPayload]],
) -> dict[str, Any]:
    """components.schemas: each event's envelope schema (schema.py's), and the shared `$defs`."""
    envelopes: dict[str, Any] = {}
    shared: dict[str, Any] = {}
    for spec in specs:
        schema = copy.deepcopy(envelope_schema(spec))
        definitions = schema.pop("$defs", {})
        assert isinstance(definitions, dict)  # pydantic emits $defs as an object
        for definition_name, definition in definitions.items():
            rewritten = _rewrite_refs(definition)
            if shared.setdefault(definition_name, rewritten) != rewritten:
                raise RuntimeError(f"two different schemas named {definition_name}")
        # The $id would become the base URI of the refs below, and the dialect is AsyncAPI's.
        schema.pop("$id")
        schema.pop("$schema")
        envelopes[message_id(spec)] = _rewrite_refs(schema)
    return {**envelopes, **dict(sorted(shared.items()))}


def _key_schema(topic: TopicSpec) -> dict[str, Any]:
    return {"type": "string", "description": f"UTF-8 string: {topic.key_description}."}


def _example(spec: EventSpec[EventPayload]) -> dict[str, Any]:
    name = message_id(spec)
    envelope = make_envelope(
        EXAMPLES[spec.event_type],
        producer=sender_of(spec).name,
        event_id=uuid.uuid5(_EXAMPLE_NAMESPACE, name),
        correlation_id=str(uuid.uuid5(_EXAMPLE_NAMESPACE, f"correlation:{name}")),
        occurred_at=_EXAMPLE_TIME,
    )
    return {
        "name": spec.event_type.replace(".", "-"),
        "summary": f"A {spec.event_type} message (from kervan_contracts.examples).",
        "headers": envelope_headers(envelope),
        "payload": json.loads(serialize_envelope(envelope)),
    }


def _event_message(spec: EventSpec[EventPayload]) -> dict[str, Any]:
    topic = TOPICS[spec.topic]
    doc = inspect.cleandoc(spec.model.__doc__ or spec.event_type)
    return {
        "name": spec.model.__name__,
        "title": f"{spec.event_type} v{spec.version}",
        "summary": doc.split("\n\n", 1)[0].replace("\n", " "),
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "required": [HEADER_EVENT_TYPE, HEADER_EVENT_ID],
            "properties": {
                HEADER_EVENT_TYPE: {
                    "type": "string",
                    "const": spec.event_type,
                    "description": "Mirrors the envelope's `event_type` (UTF-8).",
                },
                HEADER_EVENT_ID: {
                    "type": "string",
                    "format": "uuid",
                    "description": "Mirrors the envelope's `event_id` (UTF-8).",
                },
            },
        },
        "payload": _ref("components", "schemas", message_id(spec)),
        "correlationId": {
            "description": "Shared by every event descending from one request, poll or import.",
            "location": "$message.payload#/correlation_id",
        },
        "bindings": {"kafka": {"key": _key_schema(topic), "bindingVersion": KAFKA_BINDING_VERSION}},
        "examples": [_example(spec)],
    }


def _tombstone_message() -> dict[str, Any]:
    return {
        "name": "Tombstone",
        "title": "Tombstone",
        "summary": "Null value under a key of a compacted topic: forget that key.",
        "description": "No envelope and no headers. Kervan writes one after a deletion "
        "(`stores.store.deleted`, and credential-vault's forgetting of a deleted store); "
        "compaction then removes the key after `delete.retention.ms`. Consumers must accept "
        "null values.",
        "payload": {"type": "null"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The key of the record to forget."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "DeadLetter",
        "title": "Dead-lettered record",
        "summary": "A record that still failed after the bounded retries, copied unchanged.",
        "description": "Same key and value bytes as the original (usually an envelope of a "
        "consumed topic, but possibly anything that failed to parse, or null), the original "
        "headers, plus the `x-dlq-*` headers servicekit adds. Replay it into the original "
        "topic after fixing the cause; consumers deduplicate on `event_id`.",
        "headers": {
            "type": "object",
            "required": sorted(DLQ_HEADERS),
            "properties": {
                name: {"type": "string", "description": text} for name, text in DLQ_HEADERS.items()
            },
            "additionalProperties": {
                "type": "string",
                "description": "The original record's headers (`event_type`, `event_id`, …).",
            },
        },
        "payload": {"description": "The original value, unchanged."},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The original key."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _topic_configuration(topic: TopicSpec) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name, value in topic.config().items():
        if name == "cleanup.policy":
            config[name] = value.split(",")
        else:
            config[name] = float(value) if "." in value else int(value)
    return config


def _channel(
    topic: TopicSpec, messages: Sequence[str], description: str, title: str | None = None
) -> dict[str, Any]:
    channel: dict[str, Any] = {"address": topic.name}
    if title:
        channel["title"] = title
    channel["description"] = description
    channel["messages"] = {name: _ref("components", "messages", name) for name in messages}
    channel["bindings"] = {
        "kafka": {
            "partitions": topic.partitions,
            "topicConfiguration": _topic_configuration(topic),
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }
    return channel


def _topic_description(topic: TopicSpec) -> str:
    cleanup = (
        "`compact` (the latest value per key is kept)"
        if topic.retention_ms is None
        else f"`{topic.cleanup_policy}` after {topic.retention_ms // 86_400_000} days"
    )
    return f"Key: {topic.key_description}. {topic.partitions} partitions, cleanup {cleanup}."


def _operation(
    action: str, channel: str, messages: Sequence[str], summary: str, group: str | None = None
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": action,
        "channel": _ref("channels", channel),
        "summary": summary,
        "messages": [_ref("channels", channel, "messages", name) for name in messages],
    }
    if group is not None:
        operation["bindings"] = {
            "kafka": {
                "groupId": {"type": "string", "const": group},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        }
    return operation


def _description(who: Party) -> str:
    lines = [
        who.summary,
        "",
        "Every message value is a UTF-8 JSON envelope (`event_id`, `event_type`, "
        "`event_version`, `occurred_at`, `producer`, `correlation_id`, `causation_id`, "
        "`data`); the headers `event_type` and `event_id` mirror it. Delivery is at least "
        "once: deduplicate on `event_id`. Details: docs/events.md.",
        "",
        "Generated by `python -m kervan_contracts.asyncapi` from kervan_contracts; "
        "do not edit by hand (`make contracts`).",
    ]
    if who.note:
        lines[1:1] = ["", who.note]
    return "\n".join(lines)


def build_document(who: Party) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of one party."""
    sent = [spec_of(model) for model in who.sends]
    received = [spec for name in who.receives for spec in events_on_topic(name)]
    specs = list({message_id(s): s for s in sent + received}.values())
    messages: dict[str, Any] = {message_id(s): _event_message(s) for s in specs}
    channel_messages: dict[str, list[str]] = {}
    operations: dict[str, Any] = {}

    def note(topic: str, names: Sequence[str]) -> None:
        listed = channel_messages.setdefault(topic, [])
        listed += [name for name in names if name not in listed]

    for topic in dict.fromkeys(s.topic for s in sent):
        names = [message_id(s) for s in sent if s.topic == topic]
        if topic in who.tombstones:
            names.append(TOMBSTONE)
        note(topic, names)
        operations[f"send.{topic}"] = _operation(
            "send", topic, names, f"{who.name} publishes to {topic}."
        )
    if unsent := set(who.tombstones) - {s.topic for s in sent}:
        raise RuntimeError(f"{who.name} writes tombstones to {sorted(unsent)} but no events")
    for topic in who.receives:
        names = [message_id(s) for s in events_on_topic(topic)]
        if TOPICS[topic].cleanup_policy == "compact":
            names.append(TOMBSTONE)
        note(topic, names)
        operations[f"receive.{topic}"] = _operation(
            "receive",
            topic,
            names,
            f"{who.name} consumes {topic}"
            + (f" (consumer group `{who.group}`)." if who.group else "."),
            who.group,
        )
    channels: dict[str, Any] = {
        topic: _channel(
            TOPICS[topic],
            names,
            f"{_topic_description(TOPICS[topic])} Messages are ordered per key only.",
        )
        for topic, names in channel_messages.items()
    }
    if any(TOMBSTONE in names for names in channel_messages.values()):
        messages[TOMBSTONE] = _tombstone_message()
    dlq = who.dlq
    if dlq is not None:
        messages[DEAD_LETTER] = _dead_letter_message()
        channels[dlq.name] = _channel(
            dlq,
            [DEAD_LETTER],
            f"Dead letters of consumer group `{who.group}`: records that still failed after "
            f"the bounded retries. {_topic_description(dlq)}",
        )
        operations[f"send.{dlq.name}"] = _operation(
            "send",
            dlq.name,
            [DEAD_LETTER],
            f"{who.name} dead-letters a record it cannot process, then commits past it.",
        )
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": f"urn:kervan:asyncapi:{who.name}",
        "info": {
            "title": f"{who.title}: Kafka interface",
            "version": DOCUMENT_VERSION,
            "description": _description(who),
            "license": {
                "name": "Apache-2.0",
                "url": "https://www.apache.org/licenses/LICENSE-2.0",
            },
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "The Kafka cluster (`KERVAN_KAFKA_BOOTSTRAP`).",
                "variables": {
                    "bootstrap": {
                        "default": "127.0.0.1:9092",
                        "description": "host:port of a bootstrap broker.",
                    }
                },
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": _payload_schemas(specs)},
    }


def render_document(who: Party) -> str:
    """The committed text: two-space indent, UTF-8, trailing newline."""
    return json.dumps(build_document(who), indent=2, ensure_ascii=False) + "\n"


def generate_documents() -> dict[str, str]:
    """Path relative to the repository root → text, for every party."""
    return {who.path: render_document(who) for who in PARTIES}


def document_drift(root: Path) -> list[str]:
    """What differs between the generated documents and the files under `root`."""
    problems = []
    for relative, text in generate_documents().items():
        path = root / relative
        if not path.exists():
            problems.append(f"missing: {relative}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"outdated: {relative}")
    return problems


def write_documents(root: Path) -> list[str]:
    """Write every document that differs; report what changed."""
    changes = document_drift(root)
    for relative, text in generate_documents().items():
        path = root / relative
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return changes


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m kervan_contracts.asyncapi", description=__doc__
    )
    parser.add_argument(
        "--check", action="store_true", help="fail if the files differ instead of writing them"
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    args = parser.parse_args(argv)
    root: Path = args.root
    if args.check:
        problems = document_drift(root)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("AsyncAPI documents are out of date: run `make contracts`.", file=sys.stderr)
            return 1
        print(f"{len(PARTIES)} AsyncAPI documents up to date under {root}")
        return 0
    changes = write_documents(root)
    for change in changes:
        print(change)
    print(f"{len(PARTIES)} AsyncAPI documents under {root} ({len(changes)} changed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
