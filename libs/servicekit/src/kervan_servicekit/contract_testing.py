"""Contract tests of a REST service against its committed OpenAPI (Schemathesis).

For test suites only (needs `schemathesis` and `hypothesis`, dev dependencies):
`serve_in_thread(app)` runs the real app under uvicorn on 127.0.0.1 (own thread and loop),
and `fuzz_openapi(...)` sends every operation positive and negative cases and checks each
response against the document, plus `check_error_body` (every 4xx/5xx is the one error body).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn


@dataclass(frozen=True)
class FuzzResult:
    """What a fuzz run saw: how many operations, and how many responses per status."""

    operations: int
    statuses: dict[int, int]

    @property
    def server_errors(self) -> dict[int, int]:
        """The 5xx statuses seen (none is the goal)."""
        return {code: n for code, n in self.statuses.items() if code >= 500}

    @property
    def successes(self) -> int:
        """How many 2xx responses were seen (a run of refusals only proves little)."""
        return sum(n for code, n in self.statuses.items() if 200 <= code < 300)


@contextmanager
def serve_in_thread(app: Any, *, name: str = "service", timeout: float = 60) -> Iterator[str]:
    """Run `app` (lifespan on) on 127.0.0.1 with a free port; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError(f"{name} did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def check_error_body(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis check: a 4xx/5xx carries exactly `{"error": {"code", "message", "details"}}`."""
    if response.status_code < 400:
        return None
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str), body
    assert isinstance(body["error"]["details"], dict), body
    return None


def fuzz_openapi(
    openapi: Path,
    base_url: str,
    *,
    headers: Mapping[str, str],
    path_parameters: Mapping[str, str] | None = None,
    examples_per_operation: int = 12,
) -> FuzzResult:
    """Fuzz every operation of `openapi` against `base_url`; returns what was seen.

    Each operation gets positive and negative cases (random ids) and, when its path names
    one of `path_parameters`, positive cases with those real ids too. Deletes run last, so
    the real resources are exercised by everything else first. `headers` (the bearer token)
    are fixed, so negative cases never "break" them by leaving them out. Schema-valid input
    may still break a business rule, so positive cases may be refused (4xx); any response
    outside the document, a 5xx, or an error body of another shape fails.
    """
    # Imported here: schemathesis is a dev dependency, services never import this module.
    import schemathesis  # noqa: PLC0415
    from hypothesis import HealthCheck, given, settings  # noqa: PLC0415
    from hypothesis import strategies as st  # noqa: PLC0415
    from schemathesis import GenerationMode  # noqa: PLC0415
    from schemathesis.core.result import Ok  # noqa: PLC0415
    from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: PLC0415

    schema = schemathesis.openapi.from_path(openapi)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    statuses: dict[int, int] = {}
    fixed_ids = dict(path_parameters or {})
    for operation in operations:
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE, headers=dict(headers)),
            operation.as_strategy(GenerationMode.NEGATIVE, headers=dict(headers)),
        ]
        fixed = {
            name: value for name, value in fixed_ids.items() if f"{{{name}}}" in operation.path
        }
        if fixed:
            strategies.append(
                operation.as_strategy(
                    GenerationMode.POSITIVE, headers=dict(headers), path_parameters=fixed
                )
            )

        @settings(
            max_examples=examples_per_operation,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(*strategies))
        def run(case: Any) -> None:
            response = case.call_and_validate(
                base_url=base_url,
                additional_checks=[check_error_body],
                excluded_checks=[positive_data_acceptance],
            )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        run()
    return FuzzResult(operations=len(operations), statuses=statuses)
