"""Backward/forward compatibility check between two JSON Schemas of one event major version.

Within a major version both directions must hold: new consumers read old messages still on
the topic, and old consumers read new messages until they upgrade. So the only safe change
is adding an optional field (old consumers ignore it). Everything else is reported:
removed field, new required field, required→optional, type/variant changes, enum values
removed or added, changed constants and changed constraints (pattern, lengths, bounds...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Schema = Mapping[str, object]

_CONSTRAINTS = (
    "pattern",
    "format",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
)


def incompatibilities(old_schema: Schema, new_schema: Schema) -> list[str]:
    """Every change from `old_schema` to `new_schema` that breaks a producer or consumer.

    An empty list means the new schema may replace the old one within the same major version.
    """
    checker = _Checker(old_schema, new_schema)
    checker.compare(old_schema, new_schema, "$")
    return checker.problems


class _Checker:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self.problems: list[str] = []
        self._seen: set[tuple[str, str]] = set()

    def compare(self, old: Schema, new: Schema, path: str) -> None:
        old_ref, new_ref = _ref_name(old), _ref_name(new)
        if old_ref is not None and new_ref is not None:
            # Recursive schemas would loop forever; a pair of definitions is checked once.
            if (old_ref, new_ref) in self._seen:
                return
            self._seen.add((old_ref, new_ref))
        old = _resolve(self.old_root, old)
        new = _resolve(self.new_root, new)
        old_variants, new_variants = _variants(old), _variants(new)
        if len(old_variants) == 1 and len(new_variants) == 1:
            self._compare_node(old_variants[0], new_variants[0], path)
            return
        old_by_shape = {_shape_of(_resolve(self.old_root, v)): v for v in old_variants}
        new_by_shape = {_shape_of(_resolve(self.new_root, v)): v for v in new_variants}
        for shape, variant in old_by_shape.items():
            if shape in new_by_shape:
                self.compare(variant, new_by_shape[shape], path)
            else:
                self.problems.append(f"{path}: no longer accepts {shape}")
        for shape in new_by_shape.keys() - old_by_shape.keys():
            self.problems.append(f"{path}: now also allows {shape} (old consumers reject it)")

    def _compare_node(self, old: Schema, new: Schema, path: str) -> None:
        old_types, new_types = _types(old), _types(new)
        if old_types != new_types:
            self.problems.append(
                f"{path}: type changed from {_show(old_types)} to {_show(new_types)}"
            )
            return
        if ("const" in old or "const" in new) and old.get("const") != new.get("const"):
            self.problems.append(
                f"{path}: constant changed from {old.get('const')!r} to {new.get('const')!r}"
            )
        self._compare_enum(old, new, path)
        for keyword in _CONSTRAINTS:
            if old.get(keyword) != new.get(keyword):
                self.problems.append(
                    f"{path}: {keyword} changed from {old.get(keyword)!r} to {new.get(keyword)!r}"
                )
        self._compare_object(old, new, path)
        old_items, new_items = old.get("items"), new.get("items")
        if isinstance(old_items, Mapping) and isinstance(new_items, Mapping):
            self.compare(old_items, new_items, f"{path}[]")
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if isinstance(old_extra, Mapping) and isinstance(new_extra, Mapping):
            self.compare(old_extra, new_extra, f"{path}{{}}")

    def _compare_enum(self, old: Schema, new: Schema, path: str) -> None:
        old_enum, new_enum = old.get("enum"), new.get("enum")
        if old_enum is None and new_enum is None:
            return
        if not isinstance(old_enum, list) or not isinstance(new_enum, list):
            self.problems.append(f"{path}: enum added or dropped")
            return
        removed = [value for value in old_enum if value not in new_enum]
        added = [value for value in new_enum if value not in old_enum]
        if removed:
            self.problems.append(f"{path}: enum value(s) removed: {_show(removed)}")
        if added:
            self.problems.append(
                f"{path}: enum value(s) added: {_show(added)} (old consumers reject them)"
            )

    def _compare_object(self, old: Schema, new: Schema, path: str) -> None:
        old_props, new_props = _properties(old), _properties(new)
        if not old_props and not new_props:
            return
        old_required, new_required = _required(old), _required(new)
        for name, old_prop in old_props.items():
            where = f"{path}.{name}"
            if name not in new_props:
                self.problems.append(f"{where}: field removed")
                continue
            if name in old_required and name not in new_required:
                self.problems.append(f"{where}: field became optional (old consumers need it)")
            elif name not in old_required and name in new_required:
                self.problems.append(f"{where}: field became required (old messages lack it)")
            self.compare(old_prop, new_props[name], where)
        for name in new_props.keys() - old_props.keys():
            if name in new_required:
                self.problems.append(f"{path}.{name}: new required field")


def _ref_name(schema: Schema) -> str | None:
    ref = schema.get("$ref")
    return ref if isinstance(ref, str) else None


def _resolve(root: Schema, schema: Schema) -> Schema:
    """Follow local `$ref`s (`#/$defs/X`, `#/definitions/X`, `#`), merging sibling keywords."""
    seen: set[str] = set()
    while (ref := _ref_name(schema)) is not None:
        if ref in seen or not ref.startswith("#"):
            raise ValueError(f"cannot resolve $ref {ref!r}")
        seen.add(ref)
        target: object = root
        for part in [p for p in ref[1:].split("/") if p]:
            if not isinstance(target, Mapping) or part not in target:
                raise ValueError(f"dangling $ref {ref!r}")
            target = target[part]
        if not isinstance(target, Mapping):
            raise TypeError(f"$ref {ref!r} is not a schema")
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **siblings}
    return schema


def _variants(schema: Schema) -> list[Schema]:
    for keyword in ("anyOf", "oneOf"):
        options = schema.get(keyword)
        if isinstance(options, list):
            siblings = {k: v for k, v in schema.items() if k != keyword}
            return [{**siblings, **option} for option in options if isinstance(option, Mapping)]
    return [schema]


def _types(schema: Schema) -> frozenset[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(str(t) for t in declared)
    if "properties" in schema:
        return frozenset({"object"})
    return frozenset()


def _shape_of(schema: Schema) -> str:
    types = _types(schema)
    if types:
        return _show(sorted(types))
    if "const" in schema:
        return f"const {schema['const']!r}"
    if "enum" in schema:
        return "enum"
    return "any value"


def _properties(schema: Schema) -> dict[str, Schema]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    return {str(k): v for k, v in properties.items() if isinstance(v, Mapping)}


def _required(schema: Schema) -> frozenset[str]:
    required = schema.get("required")
    return frozenset(str(r) for r in required) if isinstance(required, list) else frozenset()


def _show(values: Sequence[object] | frozenset[str]) -> str:
    items = sorted(values) if isinstance(values, frozenset) else list(values)
    return "|".join(str(v) for v in items) if items else "untyped"
