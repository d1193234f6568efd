"""Shared fixtures of the deploy tests: rendered overlays, the services' real metric names."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAYS = ("dev", "prod")

SERVICES: dict[str, str] = {
    "store-registry": "store_registry",
    "credential-vault": "credential_vault",
    "order-ingest": "order_ingest",
    "catalog-sync": "catalog_sync",
}
"""Deployed Kervan services: name -> import package."""

EXTERNAL_METRICS = frozenset({"up", "kafka_consumergroup_lag"})
"""Series not exported by Kervan itself: Prometheus' `up` and kafka-exporter's lag gauge."""


def tool(name: str) -> str:
    """Absolute path of a CLI the deploy checks need; fail (never skip) when it is missing."""
    venv_bin = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / name
    found = str(venv_bin) if venv_bin.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: run `uv sync` (Python tools) or scripts/ensure-tools.sh")
    return found


def run(*args: str, stdin: str | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output (never raises on a non-zero exit)."""
    return subprocess.run(
        args, input=stdin, capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )


def load_docs(text: str) -> list[dict[str, Any]]:
    """The non-empty documents of a multi-document YAML string."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Each overlay rendered by `kubectl kustomize`, parsed."""
    kubectl = tool("kubectl")
    result: dict[str, list[dict[str, Any]]] = {}
    for overlay in OVERLAYS:
        proc = run(kubectl, "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay))
        assert proc.returncode == 0, proc.stderr
        result[overlay] = load_docs(proc.stdout)
    return result


def _metrics_app(package: str) -> Any:
    """Build a service's ASGI app as its entry point would, without running its lifespan."""
    if package == "marketplace_sim":
        sim = importlib.import_module("marketplace_sim.app")
        return sim.create_app(simulator=sim.build_simulator())
    bootstrap = importlib.import_module(f"{package}.bootstrap")
    settings_module = importlib.import_module(f"{package}.settings")
    prefix = package.replace("_", "").lower()
    (settings_cls,) = (
        getattr(settings_module, attr)
        for attr in dir(settings_module)
        if attr.lower() == f"{prefix}settings"
    )
    return bootstrap.build_app(settings_cls())


@pytest.fixture(scope="session")
def metrics_pages() -> Iterator[dict[str, str]]:
    """Each service's real `/metrics` text (apps built in process; no server needed).

    The lifespan is not started, so no connection is attempted: the page holds every
    metric family the app registers (labelled families without samples show HELP/TYPE).
    """
    # Settings validation needs a DSN; nothing connects because the lifespan never runs.
    saved = os.environ.get("KERVAN_POSTGRES_DSN")
    os.environ["KERVAN_POSTGRES_DSN"] = "postgresql://metrics:unused@127.0.0.1:1/unused"
    try:
        pages: dict[str, str] = {}
        with warnings.catch_warnings():
            # Starlette nudges its TestClient towards httpx2; irrelevant to a /metrics read.
            warnings.simplefilter("ignore")
            from starlette.testclient import TestClient  # noqa: PLC0415 (warning scope)

            for name, package in {**SERVICES, "marketplace-sim": "marketplace_sim"}.items():
                response = TestClient(_metrics_app(package)).get("/metrics")
                assert response.status_code == 200, name
                pages[name] = response.text
        yield pages
    finally:
        if saved is None:
            os.environ.pop("KERVAN_POSTGRES_DSN", None)
        else:
            os.environ["KERVAN_POSTGRES_DSN"] = saved


_TYPE_LINE = re.compile(r"^# TYPE (\S+) (counter|gauge|histogram|summary|untyped|info)$", re.M)
_SUFFIXES = {
    "counter": ("",),
    "gauge": ("",),
    "untyped": ("",),
    "info": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}


def sample_names(page: str) -> set[str]:
    """Every series name a /metrics page can produce, from its TYPE lines."""
    return {
        family + suffix for family, kind in _TYPE_LINE.findall(page) for suffix in _SUFFIXES[kind]
    }


@pytest.fixture(scope="session")
def exposed_metrics(metrics_pages: dict[str, str]) -> frozenset[str]:
    """Series names the services really expose, plus the documented external ones."""
    names: set[str] = set(EXTERNAL_METRICS)
    for page in metrics_pages.values():
        names |= sample_names(page)
    return frozenset(names)


_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "inf",
        "nan",
    }
)
_NAME_MATCHER = re.compile(r'__name__\s*=~\s*"([^"]*)"')


def promql_metric_refs(expr: str) -> tuple[set[str], set[str]]:
    """(plain metric names, `__name__=~` regexes) referenced by a PromQL expression.

    A small scanner, enough for our dashboards and rules: label matchers, grouping
    clauses, ranges and strings are removed, then every identifier left that is not a
    function call or keyword is a metric name.
    """
    regexes = set(_NAME_MATCHER.findall(expr))
    text = re.sub(r"\$\{?\w+\}?", "5m", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r'"[^"]*"', " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    names = {
        match.group(1)
        for match in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?", text)
        if match.group(2) is None and match.group(1).lower() not in _KEYWORDS
    }
    return names, regexes


def unknown_metrics(expr: str, exposed: frozenset[str]) -> list[str]:
    """References in `expr` that match nothing the services expose."""
    names, regexes = promql_metric_refs(expr)
    missing = sorted(name for name in names if name not in exposed)
    missing += sorted(
        f"__name__=~{rx}" for rx in regexes if not any(re.fullmatch(rx, name) for name in exposed)
    )
    return missing


# Test modules cannot import conftest under --import-mode=importlib, so the helpers they
# need are handed out as fixtures.


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool (Debian's `prometheus` package)."""
    return tool("promtool")


@pytest.fixture(scope="session")
def find_tool() -> Any:
    """`tool(name) -> path` of a CLI, failing the test when it is not installed."""
    return tool


@pytest.fixture(scope="session")
def sh() -> Any:
    """`run(*args, stdin=None, cwd=REPO) -> CompletedProcess`."""
    return run


@pytest.fixture(scope="session")
def metric_refs_missing() -> Any:
    """`unknown_metrics(expr, exposed) -> list[str]`."""
    return unknown_metrics
