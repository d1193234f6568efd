"""PUT of a settings tab, past FastAPI's routing and dependency resolution.

The settings tabs are the writes store managers and the platform's ERP make most, and about
half of what such a write cost in this process was FastAPI's per-request machinery (route
matching, dependency resolution, parameter extraction, response model), not the write. A
plain ASGI endpoint per tab, placed before the FastAPI route of the same path, handles the
plain case the same way the route does: a bearer token allowed to change settings, an
`If-Match` header, a JSON body that validates against the route's own body model (parsed as
FastAPI parses it: `json.loads`, then the model in Python mode), no query string. It calls the
same use case with the same command and renders the answer with the same code.

Anything else (no or bad token, no `If-Match`, another content type, a body or path that
does not validate, a query string) is handed to the FastAPI route with the body replayed,
so every 401, 403, 422 and 428 is the one FastAPI gives. Errors of the use case itself (412,
404, 422 from the domain) are raised as they are and rendered by the app's error handlers,
as for the route. Tests compare both paths answer for answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from kervan_contracts.identifiers import IDENTIFIER_PATTERN
from kervan_servicekit.auth import Authenticator, Principal
from kervan_servicekit.http import replaying_receive
from store_registry.app.commands import Caller
from store_registry.app.ports import StoreView, UnitOfWork
from store_registry.app.services import Collaborators
from store_registry.domain.access import Permission
from store_registry.entrypoints.fast_reads import allowed, json_response

_STORE_ID = re.compile(IDENTIFIER_PATTERN)
_JSON_TYPES = frozenset({b"application/json", b"application/json; charset=utf-8"})


@dataclass(frozen=True, slots=True)
class SettingsTab:
    """One tab: its body model, how a body becomes a command, and what the answer shows."""

    body: type[BaseModel]
    command: Callable[[Caller, str, int | None, Any], Any]
    """(caller, store id, expected version, validated body) → the use case's command."""
    use_case: Callable[[Any, UnitOfWork, Collaborators], Awaitable[StoreView]]
    render: Callable[[StoreView], bytes]
    """The answer's body for the store after the write."""


class SettingsWriteEndpoint:
    """PUT /v1/stores/{store_id}/settings/<tab>."""

    def __init__(
        self,
        tab: SettingsTab,
        route: APIRoute,
        *,
        auth: Authenticator,
        uow: Callable[[], UnitOfWork],
        env: Collaborators,
        expected_version: Callable[[str | None], int | None],
    ) -> None:
        self.tab = tab
        self.route = route
        self.auth = auth
        self.uow = uow
        self.env = env
        self.expected_version = expected_version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Write and answer, or let the FastAPI route answer."""
        scope["route"] = self.route  # metrics label, as for the route
        plain = self._plain_request(scope)
        if plain is None:
            await self.route.handle(scope, receive, send)
            return
        if_match, principal = plain
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            validated = self.tab.body.model_validate(json.loads(body))
        except (ValueError, ValidationError):  # JSONDecodeError is a ValueError
            await self.route.handle(scope, replaying_receive([body], None, receive), send)
            return
        caller = Caller(principal.name, scope.get("state", {}).get("correlation_id"))
        store_id: str = scope["path_params"]["store_id"]
        # A DomainError raised here (412, 404, 422, 428) goes to the app's error handlers.
        command = self.tab.command(caller, store_id, self.expected_version(if_match), validated)
        view = await self.tab.use_case(command, self.uow(), self.env)
        start, content = json_response(self.tab.render(view), f'"{view.state.version}"'.encode())
        await send(start)
        await send(content)

    def _plain_request(self, scope: Scope) -> tuple[str, Principal] | None:
        """`If-Match` and the caller when this endpoint handles the request itself."""
        if scope["method"] != "PUT" or scope["query_string"]:
            return None
        if not _STORE_ID.fullmatch(scope["path_params"].get("store_id", "")):
            return None
        if_match = content_type = None
        for name, value in scope["headers"]:
            if name == b"if-match":
                if if_match is not None:
                    return None  # several: let FastAPI decide which one counts
                if_match = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.lower()
        if if_match is None or not if_match.strip() or content_type not in _JSON_TYPES:
            return None
        principal = allowed(self.auth, scope, Permission.WRITE_SETTINGS)
        return None if principal is None else (if_match, principal)


def write_routes(tabs: list[tuple[APIRoute, SettingsTab]], **wiring: Any) -> list[Route]:
    """The fast settings routes, to be matched before the FastAPI ones."""
    return [
        Route(route.path, SettingsWriteEndpoint(tab, route, **wiring), methods=["PUT"])
        for route, tab in tabs
    ]
