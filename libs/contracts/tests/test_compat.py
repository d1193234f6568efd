"""The compatibility checker, rule by rule: each rule flags the breaking change and accepts
its compatible counterpart."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kervan_contracts.compat import incompatibilities
from kervan_contracts.examples import EXAMPLES
from kervan_contracts.registry import spec_of
from kervan_contracts.schema import envelope_schema


def _base() -> dict[str, Any]:
    return {
        "type": "object",
        "$defs": {
            "Price": {
                "type": "object",
                "properties": {"amount": {"type": "string", "pattern": "^[0-9]+$"}},
                "required": ["amount"],
            },
            "Kind": {"enum": ["a", "b"], "type": "string"},
        },
        "properties": {
            "sku": {"type": "string", "maxLength": 10},
            "qty": {"type": "integer", "minimum": 0},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "price": {"$ref": "#/$defs/Price"},
            "kind": {"$ref": "#/$defs/Kind"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "attrs": {"type": "object", "additionalProperties": {"type": "string"}},
            "type": {"const": "x.y.z", "type": "string"},
        },
        "required": ["sku", "qty", "price", "kind", "type"],
    }


def _changed(edit: Any) -> dict[str, Any]:
    schema = _base()
    edit(schema)
    return schema


def test_identical_schemas_are_compatible() -> None:
    assert incompatibilities(_base(), _base()) == []


def test_adding_an_optional_field_is_the_compatible_change() -> None:
    new = _changed(lambda s: s["properties"].update(color={"type": "string"}))
    nested = _changed(lambda s: s["$defs"]["Price"]["properties"].update(cur={"type": "string"}))

    assert incompatibilities(_base(), new) == []
    assert incompatibilities(_base(), nested) == []


def test_descriptions_titles_and_defaults_do_not_matter() -> None:
    def edit(s: dict[str, Any]) -> None:
        s["properties"]["sku"]["description"] = "new words"
        s["properties"]["sku"]["title"] = "SKU"
        s["properties"]["note"]["default"] = "n/a"

    assert incompatibilities(_base(), _changed(edit)) == []


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s["properties"].pop("tags"), "$.tags: field removed"),
        (
            lambda s: s["$defs"]["Price"]["properties"].pop("amount"),
            "$.price.amount: field removed",
        ),
        (
            lambda s: (
                s["properties"].update(color={"type": "string"}),
                s["required"].append("color"),
            ),
            "$.color: new required field",
        ),
        (lambda s: s["required"].append("tags"), "$.tags: field became required"),
        (lambda s: s["required"].remove("qty"), "$.qty: field became optional"),
        (
            lambda s: s["properties"]["qty"].update(type="string"),
            "$.qty: type changed from integer to string",
        ),
        (
            lambda s: s["$defs"]["Price"]["properties"]["amount"].update(type="number"),
            "$.price.amount: type changed from string to number",
        ),
        (
            lambda s: s["properties"]["tags"]["items"].update(type="integer"),
            "$.tags[]: type changed from string to integer",
        ),
        (
            lambda s: s["properties"]["attrs"]["additionalProperties"].update(type="integer"),
            "$.attrs{}: type changed from string to integer",
        ),
        (
            lambda s: s["$defs"]["Kind"].update(enum=["a"]),
            "$.kind: enum value(s) removed: b",
        ),
        (
            lambda s: s["$defs"]["Kind"].update(enum=["a", "b", "c"]),
            "$.kind: enum value(s) added: c (old consumers reject them)",
        ),
        (
            lambda s: s["properties"]["type"].update(const="x.y.w"),
            "$.type: constant changed from 'x.y.z' to 'x.y.w'",
        ),
        (
            lambda s: s["properties"]["sku"].update(maxLength=5),
            "$.sku: maxLength changed from 10 to 5",
        ),
        (
            lambda s: s["$defs"]["Price"]["properties"]["amount"].update(pattern="^.*$"),
            "$.price.amount: pattern changed from '^[0-9]+$' to '^.*$'",
        ),
        (
            lambda s: s["properties"].update(note={"type": "string"}),
            "$.note: no longer accepts null",
        ),
        (
            lambda s: s["properties"].update(
                sku={"anyOf": [{"type": "string", "maxLength": 10}, {"type": "null"}]}
            ),
            "$.sku: now also allows null (old consumers reject it)",
        ),
        (
            lambda s: s["properties"].update(price={"type": "string"}),
            "$.price: type changed from object to string",
        ),
    ],
)
def test_breaking_change_is_reported(edit: Any, expected: str) -> None:
    problems = incompatibilities(_base(), _changed(edit))

    assert len(problems) == 1, problems
    assert problems[0].startswith(expected)


def test_reverse_direction_is_checked_independently() -> None:
    # Widening an enum breaks old consumers; narrowing it strands old messages: both reported.
    wide = _changed(lambda s: s["$defs"]["Kind"].update(enum=["a", "b", "c"]))

    assert incompatibilities(wide, _base()) == ["$.kind: enum value(s) removed: c"]


def test_recursive_definitions_terminate() -> None:
    node: dict[str, Any] = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            }
        },
        "$ref": "#/$defs/Node",
    }
    renamed = copy.deepcopy(node)
    renamed["$defs"]["Node"]["properties"]["children"]["items"]["$ref"] = "#/$defs/Node"
    renamed["$defs"]["Node"]["properties"]["label"] = {"type": "string"}
    renamed["$defs"]["Node"]["required"] = ["label"]

    assert incompatibilities(node, renamed) == ["$.label: new required field"]


def test_dangling_reference_is_an_error_not_a_pass() -> None:
    broken = _changed(lambda s: s["$defs"].pop("Price"))

    with pytest.raises(ValueError, match="dangling"):
        incompatibilities(_base(), broken)


def test_real_event_schemas_detect_a_removed_nested_field() -> None:
    spec = spec_of(type(EXAMPLES["orders.order.received"]))
    old = envelope_schema(spec)
    new = copy.deepcopy(old)
    del new["$defs"]["OrderLine"]["properties"]["barcode"]  # type: ignore[index]

    assert incompatibilities(old, old) == []
    assert incompatibilities(old, new) == ["$.data.order.lines[].barcode: field removed"]
