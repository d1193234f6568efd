"""The service command line: openapi drift check, hash-token, dispatch to service commands."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from kervan_servicekit.auth import hash_token
from kervan_servicekit.cli import (
    ExtraCommand,
    ServiceCli,
    read_token,
    render_openapi,
    write_or_check_openapi,
)
from kervan_servicekit.settings import ServiceSettings

DOCUMENT = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/ü": {}}}


def test_render_is_stable_json_with_a_trailing_newline() -> None:
    text = render_openapi(DOCUMENT)
    assert text.endswith("}\n")
    assert json.loads(text) == DOCUMENT
    assert "/ü" in text  # not \u-escaped
    assert text == render_openapi(json.loads(text))


def test_check_reports_a_stale_file_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "openapi.json"
    err = io.StringIO()
    assert write_or_check_openapi("new\n", target, check=True, hint="run it", err=err) == 1
    assert not target.exists()
    assert err.getvalue() == f"{target} is stale: run it\n"
    assert write_or_check_openapi("new\n", target, check=False, hint="run it") == 0
    assert target.read_text(encoding="utf-8") == "new\n"
    assert write_or_check_openapi("new\n", target, check=True, hint="run it") == 0


def test_read_token_from_a_pipe() -> None:
    assert read_token(io.StringIO("  s3cret  \nignored\n")) == "s3cret"


class _Settings(ServiceSettings):
    service_name: str = "demo-service"


def _cli(calls: list[str], tmp_path: Path) -> ServiceCli[_Settings]:
    def build_app(_settings: _Settings) -> Any:
        raise AssertionError("serve must not run in this test")

    async def migrate(_settings: _Settings) -> list[str]:
        calls.append("migrate")
        return ["demo:0001_x"]

    def seed(settings: _Settings) -> int:
        calls.append(f"seed:{settings.service_name}")
        return 3

    return ServiceCli(
        prog="demo-service",
        module="demo_service",
        settings=_Settings,
        build_app=build_app,
        migrate=migrate,
        openapi_document=lambda: DOCUMENT,
        openapi_path=tmp_path / "openapi.json",
        extra_commands={"seed": ExtraCommand("seed demo data", seed)},
    )


def test_openapi_command_writes_then_checks(tmp_path: Path) -> None:
    cli = _cli([], tmp_path)
    stale = tmp_path / "other.json"
    stale.write_text("{}\n", encoding="utf-8")
    assert cli.main(["openapi", "--check", "--output", str(stale)]) == 1
    assert cli.main(["openapi", "--output", str(stale)]) == 0
    assert cli.main(["openapi", "--check", "--output", str(stale)]) == 0
    assert cli.main(["openapi", "--check"]) == 1  # the default path was never written
    assert cli.main(["openapi"]) == 0
    assert (tmp_path / "openapi.json").read_text(encoding="utf-8") == render_openapi(DOCUMENT)


def test_hash_token_prints_the_hash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("tok-1\n"))
    assert _cli([], tmp_path).main(["hash-token"]) == 0
    assert capsys.readouterr().out == hash_token("tok-1") + "\n"


def test_migrate_and_service_commands_run_with_settings(tmp_path: Path) -> None:
    calls: list[str] = []
    cli = _cli(calls, tmp_path)
    assert cli.main(["migrate"]) == 0
    assert cli.main(["seed"]) == 3
    assert calls == ["migrate", "seed:demo-service"]


def test_unknown_commands_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        _cli([], tmp_path).main(["launch"])
    assert exited.value.code == 2
