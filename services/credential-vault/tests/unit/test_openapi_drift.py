"""The committed openapi.json is what the code serves.

Regenerate with `uv run python -m credential_vault openapi`.
"""

from __future__ import annotations

import json
from pathlib import Path

from credential_vault.bootstrap import openapi_document

from kervan_servicekit.cli import render_openapi

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.json"


def test_committed_openapi_matches_the_code() -> None:
    assert OPENAPI.read_text(encoding="utf-8") == render_openapi(openapi_document()), (
        "openapi.json is stale: run `uv run python -m credential_vault openapi`"
    )


def test_every_operation_documents_the_error_body_and_bearer_auth() -> None:
    document = json.loads(OPENAPI.read_text(encoding="utf-8"))
    paths = document["paths"]
    assert set(paths) >= {
        "/v1/stores/{store_id}/credentials",
        "/v1/stores/{store_id}/credentials/test",
        "/v1/oauth/{platform}/start",
        "/v1/oauth/{platform}/callback",
    }
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert "503" in operation["responses"], (method, path)
            secured = "security" in operation
            assert secured is not path.endswith("/callback"), (method, path)
