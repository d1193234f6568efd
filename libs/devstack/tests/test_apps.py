"""The apps layer of `make up`: devstack.toml parsing and the start/stop/status cycle."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from kervan_devstack._proc import free_ports
from kervan_devstack.apps import ADMIN_TOKEN_ENV, AppRunner, AppSpec, load_apps, with_app_env
from kervan_devstack.errors import DevstackError


def test_load_apps_reads_the_file_in_order(tmp_path: Path) -> None:
    (tmp_path / "devstack.toml").write_text(
        '[[app]]\nname = "a"\nmodule = "m.a"\nport = 1\nurl_env = "A_URL"\n'
        'args = ["--x"]\nseed = ["-m", "m.seed"]\n'
        '[[app]]\nname = "b"\nmodule = "m.b"\nport = 2\nurl_env = "B_URL"\n'
    )
    apps = load_apps(tmp_path)
    assert [a.name for a in apps] == ["a", "b"]
    assert apps[0].args == ("--x",)
    assert apps[0].seed == ("-m", "m.seed")
    assert apps[1].ready_path == "/readyz"


def test_load_apps_rejects_an_entry_without_a_port(tmp_path: Path) -> None:
    (tmp_path / "devstack.toml").write_text('[[app]]\nname = "a"\nmodule = "m"\nurl_env = "U"\n')
    with pytest.raises(DevstackError, match="bad \\[\\[app\\]\\] entry"):
        load_apps(tmp_path)


def test_no_file_means_no_apps(tmp_path: Path) -> None:
    assert load_apps(tmp_path) == []
    assert load_apps(None) == []


def test_an_app_is_started_waited_for_exported_and_stopped(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    app = AppSpec(
        name="web",
        module="http.server",
        port=port,
        url_env="KERVAN_WEB_URL",
        args=(str(port), "--bind", "127.0.0.1"),
        ready_path="/",
        ready_timeout=30,
    )
    runner = AppRunner(tmp_path, [app])
    try:
        exported = runner.up({})
        record = runner.running(app)
        assert record is not None
        with urllib.request.urlopen(app.url + "/", timeout=5) as response:
            assert response.status == 200
        assert exported["KERVAN_WEB_URL"] == f"http://127.0.0.1:{port}"
        token = exported[ADMIN_TOKEN_ENV]
        assert len(token) >= 40
        # Idempotent: a second `up` reuses the process and the token.
        assert runner.up({})[ADMIN_TOKEN_ENV] == token
        assert runner.running(app) == record
    finally:
        stopped = runner.down()
    assert stopped == ["web"]
    assert runner.running(app) is None


def test_an_app_that_dies_at_start_fails_with_its_log(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    app = AppSpec(
        name="broken",
        module="kervan_devstack_no_such_module",
        port=port,
        url_env="X_URL",
        ready_timeout=30,
    )
    with pytest.raises(DevstackError, match="broken exited during start-up"):
        AppRunner(tmp_path, [app]).up({})
    assert "No module named" in (tmp_path / "logs" / "broken.log").read_text()


def test_app_variables_may_refer_to_the_stack_environment() -> None:
    app = AppSpec(
        name="svc",
        module="m",
        port=1,
        url_env="U",
        env={"SVC_TOKEN": "${KERVAN_ADMIN_TOKEN}", "SVC_PLAIN": "x", "SVC_UNKNOWN": "${NOPE}"},
    )
    merged = with_app_env({"KERVAN_ADMIN_TOKEN": "t0k", "OTHER": "o"}, app)
    assert merged["SVC_TOKEN"] == "t0k"
    assert merged["SVC_PLAIN"] == "x"
    assert merged["SVC_UNKNOWN"] == "${NOPE}"  # left as written, never silently emptied
    assert merged["OTHER"] == "o"
