"""Migration files: naming, ordering and servicekit's own set (no database needed)."""

from pathlib import Path

import pytest

from kervan_servicekit.migrations import (
    SERVICEKIT_SOURCE,
    MigrationError,
    load_migrations,
    parse_migrations,
    servicekit_migrations,
)


def test_files_are_ordered_by_number_not_by_listing_order() -> None:
    migrations = parse_migrations(
        [("0010_late.sql", "SELECT 10"), ("0002_b.sql", "SELECT 2"), ("0001_a.sql", "SELECT 1")]
    )
    assert [(m.version, m.name) for m in migrations] == [(1, "a"), (2, "b"), (10, "late")]


@pytest.mark.parametrize("name", ["1_a.sql", "0001-a.sql", "0001_A.sql", "0001_a.SQL", "0001_.sql"])
def test_bad_names_are_rejected(name: str) -> None:
    with pytest.raises(MigrationError, match="NNNN_"):
        parse_migrations([(name, "SELECT 1")])


def test_duplicate_numbers_are_rejected() -> None:
    with pytest.raises(MigrationError, match="0003"):
        parse_migrations([("0003_a.sql", "SELECT 1"), ("0003_b.sql", "SELECT 2")])


def test_checksum_changes_with_the_content() -> None:
    (a,) = parse_migrations([("0001_a.sql", "SELECT 1")])
    (b,) = parse_migrations([("0001_a.sql", "SELECT 1 ")])
    assert a.checksum != b.checksum
    assert len(a.checksum) == 64


def test_load_from_a_directory_ignores_other_files(tmp_path: Path) -> None:
    (tmp_path / "0002_second.sql").write_text("SELECT 2")
    (tmp_path / "0001_first.sql").write_text("SELECT 1")
    (tmp_path / "README.md").write_text("notes")
    assert [m.name for m in load_migrations(tmp_path)] == ["first", "second"]


def test_servicekit_ships_outbox_and_inbox() -> None:
    shipped = servicekit_migrations()
    assert shipped.source == SERVICEKIT_SOURCE
    assert [(m.version, m.name) for m in shipped.migrations] == [
        (1, "outbox"),
        (2, "inbox"),
        (3, "outbox_tombstones"),
    ]
    assert "CREATE TABLE outbox" in shipped.migrations[0].sql
    assert "WHERE published_at IS NULL" in shipped.migrations[0].sql
    assert "PRIMARY KEY (consumer, event_id)" in shipped.migrations[1].sql
    assert "ALTER COLUMN payload DROP NOT NULL" in shipped.migrations[2].sql
