"""JSON Schema of every event, in the exact form committed under `libs/contracts/schemas/`."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from kervan_contracts.event import EventPayload
from kervan_contracts.registry import REGISTRY, WIRE_REQUIRED_FIELDS, EventSpec

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
"""`libs/contracts/schemas` in the source tree (the package is installed editable)."""


def schema_filename(spec: EventSpec[EventPayload]) -> str:
    """`<event_type>.v<major>.json`, e.g. `orders.order.received.v1.json`."""
    return f"{spec.event_type}.v{spec.version}.json"


def envelope_schema(spec: EventSpec[EventPayload]) -> dict[str, object]:
    """JSON Schema of a whole message value: the envelope with this event's `data`."""
    schema: dict[str, object] = dict(spec.envelope_model.model_json_schema(mode="validation"))
    properties = schema["properties"]
    assert isinstance(properties, dict)  # pydantic always emits an object schema here
    # Pin type and version so a validator (or a reader of the file) cannot mix events up.
    properties["event_type"] = {
        "const": spec.event_type,
        "type": "string",
        "description": "Event type; mirrored in the `event_type` Kafka header.",
    }
    properties["event_version"] = {
        "const": spec.version,
        "type": "integer",
        "description": "Major version of `data`'s schema.",
    }
    # The model defaults some envelope fields for producers' convenience; on the wire they
    # are mandatory (a consumer deduplicates on event_id, so it must never be invented).
    schema["required"] = list(WIRE_REQUIRED_FIELDS)
    schema["title"] = f"{spec.event_type} v{spec.version}"
    schema["description"] = inspect.cleandoc(spec.model.__doc__ or spec.event_type)
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = f"urn:kervan:event:{spec.event_type}:v{spec.version}"
    schema["x-kervan-topic"] = spec.topic
    return schema


def render_schema(spec: EventSpec[EventPayload]) -> str:
    """The committed text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(envelope_schema(spec), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate_schemas() -> dict[str, str]:
    """File name → text, for every registered event."""
    return {schema_filename(spec): render_schema(spec) for spec in REGISTRY.values()}
