"""Reading an announced store row's id and version without decoding it (store_listener)."""

from __future__ import annotations

import json

from store_registry.adapters.store_listener import row_id, row_version


def announced(**columns: object) -> str:
    """A row as PostgreSQL's `row_to_json` writes it: columns in table order, id first."""
    row = {"id": "st-1", "title": "Shop", "version": 7, **columns}
    return json.dumps(row, separators=(",", ":"))


def test_the_id_and_version_are_read_from_the_text() -> None:
    text = announced()
    assert (row_id(text), row_version(text)) == ("st-1", 7)


def test_a_title_that_looks_like_a_version_key_is_not_taken_for_it() -> None:
    text = announced(title='x,"version":99,"id":"other"')
    assert '\\"version\\":99' in text  # escaped inside the string
    assert (row_id(text), row_version(text)) == ("st-1", 7)


def test_an_unexpected_layout_is_decoded_or_gives_no_version() -> None:
    text = json.dumps({"title": "Shop", "id": "st-2"})  # id not first, no version
    assert row_id(text) == "st-2"
    assert row_version(text) is None
    assert row_version('{"id":"a","version":"7"}') is None  # not a number: decode instead
