"""Write (or check) the committed JSON Schemas: `python -m kervan_contracts.export [--check]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from kervan_contracts.schema import SCHEMA_DIR, generate_schemas

SCHEMA_GLOB = "*.v[0-9]*.json"


def schema_drift(directory: Path) -> list[str]:
    """What differs between the generated schemas and the files in `directory`."""
    expected = generate_schemas()
    problems = []
    for name, text in sorted(expected.items()):
        path = directory / name
        if not path.exists():
            problems.append(f"missing: {name}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"outdated: {name}")
    problems += [
        f"stale (no such event): {path.name}"
        for path in sorted(directory.glob(SCHEMA_GLOB))
        if path.name not in expected
    ]
    return problems


def write_schemas(directory: Path) -> list[str]:
    """Write every schema, delete files of events that no longer exist; report changes."""
    directory.mkdir(parents=True, exist_ok=True)
    changes = schema_drift(directory)
    expected = generate_schemas()
    for name, text in expected.items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    for path in directory.glob(SCHEMA_GLOB):
        if path.name not in expected:
            path.unlink()
    return changes


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m kervan_contracts.export", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="fail if the files differ instead of writing them"
    )
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="schema directory")
    args = parser.parse_args(argv)
    directory: Path = args.dir
    if args.check:
        problems = schema_drift(directory)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("JSON Schemas are out of date: run `make contracts`.", file=sys.stderr)
            return 1
        print(f"{len(generate_schemas())} schemas up to date in {directory}")
        return 0
    changes = write_schemas(directory)
    for change in changes:
        print(change)
    print(f"{len(generate_schemas())} schemas in {directory} ({len(changes)} changed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
