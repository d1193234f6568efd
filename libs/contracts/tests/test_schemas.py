"""Committed JSON Schemas: equal to the code, valid for real messages, compatible with history."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from kervan_contracts import key_for, make_envelope, parse_envelope, serialize_envelope
from kervan_contracts.compat import incompatibilities
from kervan_contracts.examples import EXAMPLES
from kervan_contracts.export import main, schema_drift
from kervan_contracts.schema import SCHEMA_DIR, generate_schemas


def _committed() -> list[Path]:
    return sorted(SCHEMA_DIR.glob("*.json"))


def test_committed_schemas_match_the_models() -> None:
    drift = schema_drift(SCHEMA_DIR)

    assert drift == [], (
        "JSON Schemas differ from the models; run `make contracts` and commit the result:\n"
        + "\n".join(drift)
    )


def test_schema_files_are_stable_text() -> None:
    for name, text in generate_schemas().items():
        assert text.endswith("}\n"), name
        assert (
            json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            == text
        )


def test_export_check_fails_on_drift_and_write_repairs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--dir", str(tmp_path)]) == 0
    (tmp_path / "orders.order.received.v1.json").write_text("{}\n")
    (tmp_path / "orders.order.shipped.v1.json").write_text("{}\n")

    assert main(["--check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "outdated: orders.order.received.v1.json" in err
    assert "stale (no such event): orders.order.shipped.v1.json" in err
    assert "run `make contracts`" in err

    assert main(["--dir", str(tmp_path)]) == 0
    assert main(["--check", "--dir", str(tmp_path)]) == 0
    assert not (tmp_path / "orders.order.shipped.v1.json").exists()


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_committed_schema_accepts_real_messages_and_pins_the_type(event_type: str) -> None:
    schema = json.loads((SCHEMA_DIR / f"{event_type}.v1.json").read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    message = json.loads(serialize_envelope(make_envelope(EXAMPLES[event_type], producer="t")))

    assert list(validator.iter_errors(message)) == []
    other = next(t for t in sorted(EXAMPLES) if t != event_type)
    assert not validator.is_valid({**message, "event_type": other})
    assert not validator.is_valid({k: v for k, v in message.items() if k != "event_id"})


def test_schema_rejects_money_as_a_json_number() -> None:
    schema = json.loads((SCHEMA_DIR / "catalog.price.changed.v1.json").read_text())
    message = json.loads(
        serialize_envelope(make_envelope(EXAMPLES["catalog.price.changed"], producer="t"))
    )
    message["data"]["sale_price"]["amount"] = 299.9

    assert not Draft202012Validator(schema).is_valid(message)


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )


def _history(repo: Path, relative: str) -> list[tuple[str, str]]:
    """(commit, text) of every committed version of a file, newest first."""
    if _git(repo, "rev-parse", "--verify", "--quiet", "HEAD").returncode != 0:
        return []  # a repository without commits has no history yet
    log = _git(repo, "log", "--format=%H", "--", relative)
    assert log.returncode == 0, f"git log failed for {relative}: {log.stderr.strip()}"
    versions = []
    for commit in log.stdout.split():
        shown = _git(repo, "show", f"{commit}:{relative}")
        if shown.returncode == 0:  # commits that deleted the file have nothing to show
            versions.append((commit, shown.stdout))
    return versions


def test_committed_schemas_stay_compatible_with_every_earlier_committed_version() -> None:
    git = shutil.which("git")
    assert git is not None, "git is needed to check schema history; install git"
    top = _git(SCHEMA_DIR, "rev-parse", "--show-toplevel")
    assert top.returncode == 0, (
        f"{SCHEMA_DIR} is not inside a git repository ({top.stderr.strip()}); "
        "the schema history check needs the repository"
    )
    repo = Path(top.stdout.strip())
    problems = []
    for path in _committed():
        relative = path.relative_to(repo).as_posix()
        current = json.loads(path.read_text())
        for commit, text in _history(repo, relative):
            problems += [
                f"{relative} vs {commit[:10]}: {problem}"
                for problem in incompatibilities(json.loads(text), current)
            ]
    assert problems == [], (
        "breaking changes within a major version (add a v2 event instead):\n" + "\n".join(problems)
    )


def test_history_reader_sees_committed_versions(tmp_path: Path) -> None:
    # The real repository may have no commits yet, so prove the reader on a scratch repository.
    assert _git(tmp_path, "init", "--quiet").returncode == 0
    for config in (("user.email", "t@example.com"), ("user.name", "t")):
        _git(tmp_path, "config", *config)
    target = tmp_path / "s.json"
    for version in ("1", "2"):
        target.write_text(version)
        _git(tmp_path, "add", "s.json")
        assert _git(tmp_path, "commit", "--quiet", "-m", version).returncode == 0

    assert [text for _, text in _history(tmp_path, "s.json")] == ["2", "1"]
    assert _history(tmp_path, "missing.json") == []


def test_every_full_example_in_the_consumer_docs_parses() -> None:
    docs = SCHEMA_DIR.parents[2] / "docs" / "events.md"
    assert docs.exists(), f"{docs} is missing"
    blocks = re.findall(r"```json\n(.*?)\n```", docs.read_text(encoding="utf-8"), flags=re.DOTALL)
    event_types = set()
    for block in blocks:
        envelope = parse_envelope(block)
        event_types.add(envelope.event_type)
        assert key_for(envelope.data)
    assert len(blocks) >= 9
    assert len(event_types) == len(blocks)
