"""Committed AsyncAPI documents: equal to the code, valid AsyncAPI 3.0.0, examples valid."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from kervan_contracts import REGISTRY, TOPICS, make_envelope, serialize_envelope
from kervan_contracts import asyncapi as generator
from kervan_contracts.asyncapi import (
    DEAD_LETTER,
    PARTIES,
    TOMBSTONE,
    Party,
    build_document,
    document_drift,
    main,
    message_id,
    party,
    sender_of,
)
from kervan_contracts.examples import EXAMPLES
from kervan_contracts.schema import SCHEMA_DIR

VENDORED_SCHEMA = SCHEMA_DIR.parent / "vendor" / "asyncapi" / "asyncapi-3.0.0.schema.json"
_DOCUMENT_URI = "urn:kervan:test:asyncapi-document"
_NAMES = [p.name for p in PARTIES]


@pytest.fixture(scope="module")
def asyncapi_schema() -> Draft7Validator:
    schema = json.loads(VENDORED_SCHEMA.read_text(encoding="utf-8"))
    assert schema["$id"] == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def _committed(who: Party) -> dict[str, Any]:
    document = json.loads((generator.REPO_ROOT / who.path).read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _validator_at(document: dict[str, Any], pointer: str) -> Draft7Validator:
    """A validator for the schema at `pointer` in the document, its refs resolved in it."""
    resource = Resource.from_contents(document, default_specification=DRAFT7)
    registry: Registry[Any] = Registry().with_resource(_DOCUMENT_URI, resource)
    return Draft7Validator(
        {"$ref": f"{_DOCUMENT_URI}#{pointer}"},
        registry=registry,
        format_checker=Draft7Validator.FORMAT_CHECKER,
    )


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are expected, got {ref}"
    node: Any = document
    for part in ref[2:].split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"{ref}: {key} is not inside an object"
        assert key in node, f"{ref} does not resolve ({key} missing)"
        node = node[key]
    return node


def test_committed_documents_match_the_contracts() -> None:
    drift = document_drift(generator.REPO_ROOT)

    assert drift == [], (
        "AsyncAPI documents differ from the contracts; run `make contracts` and commit:\n"
        + "\n".join(drift)
    )


def test_check_fails_on_drift_and_write_repairs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--check", "--root", str(tmp_path)]) == 1
    assert "missing: services/order-ingest/asyncapi.json" in capsys.readouterr().err

    assert main(["--root", str(tmp_path)]) == 0
    assert main(["--check", "--root", str(tmp_path)]) == 0
    target = tmp_path / "services" / "order-ingest" / "asyncapi.json"
    target.write_text(target.read_text(encoding="utf-8").replace("order-ingest", "x", 1))
    capsys.readouterr()

    assert main(["--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "outdated: services/order-ingest/asyncapi.json" in err
    assert "run `make contracts`" in err
    assert main(["--root", str(tmp_path)]) == 0
    assert main(["--check", "--root", str(tmp_path)]) == 0


@pytest.mark.parametrize("name", _NAMES)
def test_committed_document_is_valid_asyncapi_3(
    name: str, asyncapi_schema: Draft7Validator
) -> None:
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in asyncapi_schema.iter_errors(_committed(party(name)))
    ]

    assert errors == []


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("operation action of AsyncAPI 2", ("operations", "send.kervan.orders.v1", "action")),
        ("zero partitions", ("channels", "kervan.orders.v1", "bindings", "kafka", "partitions")),
        ("unknown Kafka message binding field", ("components", "messages", TOMBSTONE, "bindings")),
    ],
)
def test_the_vendored_schema_rejects_invalid_documents(
    where: str, change: tuple[str, ...], asyncapi_schema: Draft7Validator
) -> None:
    document = copy.deepcopy(_committed(party("order-ingest")))
    *path, last = change
    node = document
    for key in path:
        node = node[key]
    node[last] = {
        "action": "publish",
        "partitions": 0,
        "bindings": {"kafka": {"keyy": {"type": "string"}}},
    }[last]

    assert not asyncapi_schema.is_valid(document), where


@pytest.mark.parametrize("name", _NAMES)
def test_every_reference_resolves_and_operations_use_their_channels_messages(name: str) -> None:
    document = _committed(party(name))
    for ref in _refs(document):
        _resolve(document, ref)
    for operation_id, operation in document["operations"].items():
        channel_ref = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel_ref}/messages/"), operation_id


@pytest.mark.parametrize("name", _NAMES)
def test_message_examples_validate_against_their_payload_and_header_schemas(name: str) -> None:
    document = _committed(party(name))
    checked = 0
    for message_name, message in document["components"]["messages"].items():
        pointer = f"/components/messages/{message_name}"
        payload = _validator_at(document, f"{pointer}/payload")
        headers = _validator_at(document, f"{pointer}/headers")
        for example in message.get("examples", []):
            assert list(payload.iter_errors(example["payload"])) == [], message_name
            assert list(headers.iter_errors(example["headers"])) == [], message_name
            # The schemas pin the type, so another event's type or a missing id fails.
            other = "orders.order.received"
            if example["payload"]["event_type"] == other:
                other = "stores.store.created"
            assert not payload.is_valid({**example["payload"], "event_type": other})
            assert not headers.is_valid({**example["headers"], "event_type": other})
            data = dict(example["payload"]["data"])
            data.pop(next(iter(data)))
            assert not payload.is_valid({**example["payload"], "data": data})
            checked += 1
    assert checked == len(
        [m for m in document["components"]["messages"] if m not in {TOMBSTONE, DEAD_LETTER}]
    )


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_payload_schema_accepts_real_messages_and_rejects_money_as_a_number(
    event_type: str,
) -> None:
    spec = next(s for s in REGISTRY.values() if s.event_type == event_type)
    document = build_document(sender_of(spec))
    validator = _validator_at(document, f"/components/schemas/{message_id(spec)}")
    message = json.loads(serialize_envelope(make_envelope(EXAMPLES[event_type], producer="t")))

    assert list(validator.iter_errors(message)) == []
    assert not validator.is_valid({k: v for k, v in message.items() if k != "event_id"})
    if event_type == "catalog.price.changed":
        message["data"]["sale_price"]["amount"] = 299.9
        assert not validator.is_valid(message)


def test_tombstones_and_dead_letters_are_their_own_messages() -> None:
    document = _committed(party("credential-vault"))
    tombstone = _validator_at(document, f"/components/messages/{TOMBSTONE}/payload")
    assert tombstone.is_valid(None)
    assert not tombstone.is_valid({})
    assert set(document["channels"]) == {
        "kervan.stores.v1",
        "kervan.api-status.v1",
        "kervan.credentials.v1",
        "credential-vault.dlq",
    }
    assert document["operations"]["receive.kervan.stores.v1"]["bindings"]["kafka"]["groupId"] == {
        "type": "string",
        "const": "credential-vault",
    }
    dead_letter = _validator_at(document, f"/components/messages/{DEAD_LETTER}/headers")
    assert not dead_letter.is_valid({"event_type": "stores.store.created"})


def test_every_event_is_sent_by_exactly_one_party() -> None:
    senders = {
        spec.event_type: [p.name for p in PARTIES if spec.model in p.sends]
        for spec in REGISTRY.values()
    }

    assert {event: names for event, names in senders.items() if len(names) != 1} == {}
    assert sum(len(p.sends) for p in PARTIES) == len(REGISTRY)


def test_sender_of_refuses_an_event_without_a_single_sender(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = next(iter(REGISTRY.values()))
    owner = sender_of(spec)
    monkeypatch.setattr(generator, "PARTIES", (*PARTIES, owner))
    with pytest.raises(RuntimeError, match="one sender"):
        sender_of(spec)
    monkeypatch.setattr(generator, "PARTIES", tuple(p for p in PARTIES if p is not owner))
    with pytest.raises(RuntimeError, match="one sender"):
        sender_of(spec)


def test_parties_name_known_topics_and_consumers_get_a_dead_letter_channel() -> None:
    for who in PARTIES:
        assert set(who.receives) <= set(TOPICS), who.name
        for topic in who.tombstones:
            assert TOPICS[topic].cleanup_policy == "compact", (who.name, topic)
        document = build_document(who)
        dlq = f"{who.group}.dlq"
        if who.group is None:
            assert not any(name.endswith(".dlq") for name in document["channels"]), who.name
        else:
            assert document["channels"][dlq]["bindings"]["kafka"]["partitions"] == 3
            assert document["operations"][f"send.{dlq}"]["action"] == "send"


def test_each_service_readme_links_its_document() -> None:
    for who in PARTIES:
        path = Path(who.path)
        if path.parts[0] != "services":
            continue
        readme = generator.REPO_ROOT / path.parent / "README.md"
        assert "(asyncapi.json)" in readme.read_text(encoding="utf-8"), readme
