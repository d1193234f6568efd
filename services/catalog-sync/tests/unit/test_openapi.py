"""The committed OpenAPI document matches the code."""

from __future__ import annotations

from pathlib import Path

from catalog_sync.__main__ import OPENAPI_PATH, main, openapi_document

from kervan_servicekit.cli import render_openapi


def test_committed_openapi_is_current() -> None:
    # On failure: `uv run python -m catalog_sync openapi`, then review and commit the diff.
    assert OPENAPI_PATH.read_text(encoding="utf-8") == render_openapi(openapi_document())


def test_openapi_documents_the_explain_and_preview_routes() -> None:
    paths = openapi_document()["paths"]
    assert set(paths) >= {
        "/v1/stores/{store_id}/skus/{sku}",
        "/v1/stores/{store_id}/preview",
        "/v1/stores/{store_id}/sync",
    }
    assert "post" in paths["/v1/stores/{store_id}/preview"]


def test_openapi_check_command_detects_drift(tmp_path: Path) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n", encoding="utf-8")
    assert main(["openapi", "--check", "--output", str(stale)]) == 1
    assert main(["openapi", "--output", str(stale)]) == 0
    assert main(["openapi", "--check", "--output", str(stale)]) == 0
