"""The Schemathesis helper: a real server on loopback, fuzzed against its own document."""

# No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
import json
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from schemathesis.core.failures import FailureGroup

from kervan_servicekit.contract_testing import fuzz_openapi, serve_in_thread
from kervan_servicekit.http import ApiError, error_docs, install_error_handlers


def _app(*, broken_errors: bool) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, {})

    @app.get("/items/{item_id}", responses=error_docs((404, 422)))
    async def item(
        item_id: Annotated[str, PathParam(pattern=r"^[a-z0-9]{1,8}$")],
    ) -> dict[str, str]:
        if item_id != "known":
            if broken_errors:
                return JSONResponse({"detail": "nope"}, status_code=404)  # type: ignore[return-value]
            raise ApiError(404, "item_not_found", "no such item")
        return {"id": item_id}

    return app


def _document(app: FastAPI, tmp_path: Path) -> Path:
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(app.openapi()), encoding="utf-8")
    return path


def test_serves_on_loopback_and_fuzzes_clean(tmp_path: Path) -> None:
    app = _app(broken_errors=False)
    with serve_in_thread(app) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{base_url}/items/known").json() == {"id": "known"}
        result = fuzz_openapi(
            _document(app, tmp_path),
            base_url,
            headers={},
            path_parameters={"item_id": "known"},
            examples_per_operation=10,
        )
    assert result.operations == 1
    assert not result.server_errors
    assert result.successes > 0  # the real id was used
    assert set(result.statuses) <= {200, 404, 422}


def test_an_error_body_of_another_shape_fails(tmp_path: Path) -> None:
    app = _app(broken_errors=True)
    with serve_in_thread(app) as base_url, pytest.raises(FailureGroup) as caught:
        fuzz_openapi(_document(app, tmp_path), base_url, headers={}, examples_per_operation=10)
    found = "\n".join(str(failure) for failure in caught.value.exceptions)
    assert "ErrorBody" in found  # the documented error body was not what came back
