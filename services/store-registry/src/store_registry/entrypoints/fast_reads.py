"""GET of one store and the store listing answered from the read model, past FastAPI's routing.

A plain ASGI endpoint per operation, placed before the FastAPI routes of the same paths. It
answers only the plain case: a bearer token allowed to read, no query parameter it does not
know, values it can check exactly, and a read model that has the answer. Anything else (no or
bad token, a value to reject, the text filter, an unknown store, a model not loaded) is handed
to the FastAPI route itself, so every error, 404 and validation answer is the one FastAPI gives,
and the answer served here is byte for byte what the route would render (tests compare them).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from fastapi.routing import APIRoute
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import StoreStatus
from kervan_servicekit.auth import Authenticator, Principal
from store_registry.app.queries import next_store_cursor, store_query
from store_registry.app.read_model import StoreEntry, StoreReadModel
from store_registry.domain.access import PERMISSIONS, Permission
from store_registry.domain.errors import InvalidCursor

_LIMIT = re.compile(r"[1-9][0-9]{0,2}")
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,512}")
_PLATFORMS = {p.value: p for p in Platform}
_STATUSES = {s.value: s for s in StoreStatus}
_API_STATUSES = {s.value: s for s in ApiStatus}
_WRITE_PATH = "/v1/stores/"


def json_response(body: bytes, etag: bytes | None = None) -> tuple[Message, Message]:
    """The two messages of a 200 with a JSON body (and an ETag), as `Response` renders them."""
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    if etag is not None:
        headers.append((b"etag", etag))
    return (
        {"type": "http.response.start", "status": 200, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


def allowed(auth: Authenticator, scope: Scope, permission: Permission) -> Principal | None:
    """The caller, if its bearer token grants `permission`; else None.

    Reads the header as HTTPBearer + BearerAuth do; for anything else (no header, another
    scheme, an unknown token, a role without the permission) the FastAPI route answers
    with its 401/403.
    """
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token:
                return None
            principal = auth.authenticate(token)
            if principal is None or not PERMISSIONS.allows(principal.role, permission):
                return None
            return principal
    return None


class _Reader:
    """Shared part of the two endpoints: the caller check and the hand-over to FastAPI."""

    def __init__(
        self, model: StoreReadModel, auth: Authenticator, route: APIRoute, max_page: int
    ) -> None:
        self.model = model
        self.auth = auth
        self.route = route
        self.max_page = max_page

    def may_read(self, scope: Scope) -> bool:
        return allowed(self.auth, scope, Permission.READ) is not None

    async def answer(self, scope: Scope, send: Send, body: bytes, etag: bytes | None) -> None:
        start, content = json_response(body, etag)
        await send(start)
        await send(content)


class StoreEndpoint(_Reader):
    """GET /v1/stores/{store_id}."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer from the model, or let the FastAPI route answer."""
        scope["route"] = self.route  # metrics label and the route's own query check
        if scope["method"] == "GET" and not scope["query_string"] and self.may_read(scope):
            entry = self.model.get(scope["path_params"]["store_id"])
            if entry is not None:
                await self.answer(scope, send, entry.body, entry.etag)
                return
        await self.route.handle(scope, receive, send)


class StoreListEndpoint(_Reader):
    """GET /v1/stores (every filter but `text`, which the database matches)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer from the model, or let the FastAPI route answer."""
        scope["route"] = self.route
        if scope["method"] == "GET" and self.may_read(scope):
            body = self._page(scope["query_string"])
            if body is not None:
                await self.answer(scope, send, body, None)
                return
        await self.route.handle(scope, receive, send)

    def _page(self, query_string: bytes) -> bytes | None:
        params = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
        given = dict(params)
        if len(given) != len(params):
            return None
        limit_text = given.pop("limit", "50")
        cursor = given.pop("cursor", None)
        platform = status = api_status = None
        if "platform" in given and (platform := _PLATFORMS.get(given.pop("platform"))) is None:
            return None
        if "status" in given and (status := _STATUSES.get(given.pop("status"))) is None:
            return None
        if (
            "api_status" in given
            and (api_status := _API_STATUSES.get(given.pop("api_status"))) is None
        ):
            return None
        if given or not _LIMIT.fullmatch(limit_text) or int(limit_text) > self.max_page:
            return None  # text, an unknown name, or a limit FastAPI must judge
        if cursor is not None and not _CURSOR.fullmatch(cursor):
            return None
        limit = int(limit_text)
        try:
            query = store_query(
                limit=limit, cursor=cursor, platform=platform, status=status, api_status=api_status
            )
        except InvalidCursor:
            return None
        entries = self.model.page(query)
        if entries is None:
            return None
        return _page_body(entries, limit)


def _page_body(entries: list[StoreEntry], limit: int) -> bytes:
    # What StorePage.model_dump_json renders: compact JSON, items in order, then the cursor.
    cursor = next_store_cursor([e.view for e in entries], limit)
    items = b",".join(e.body for e in entries[:limit])
    tail = b"null" if cursor is None else b'"' + cursor.encode() + b'"'
    return b'{"items":[' + items + b'],"next_cursor":' + tail + b"}"


def read_routes(
    model: StoreReadModel,
    auth: Authenticator,
    *,
    get_route: APIRoute,
    list_route: APIRoute,
    max_page: int,
) -> list[Route]:
    """The two fast routes, to be matched before the FastAPI ones."""
    return [
        Route(
            list_route.path,
            StoreListEndpoint(model, auth, list_route, max_page),
            methods=["GET"],
        ),
        Route(get_route.path, StoreEndpoint(model, auth, get_route, max_page), methods=["GET"]),
    ]


class ReadYourWritesMiddleware:
    """A write to a store is checked against this process's model before the answer goes out.

    A successful write's commit marked the store already (until the model holds the version
    in the answer's ETag); any other answer to a write marks it dirty and has it read again.
    So the writer's next read (same connection, hence this process) never sees an older
    store; other processes catch up through NOTIFY.
    """

    def __init__(self, app: ASGIApp, model: StoreReadModel) -> None:
        self.app = app
        self.model = model

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through; on a write under /v1/stores, mark the store on the response start."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def mark_then_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                version = created = None
                for name, value in message.get("headers", ()):
                    if name == b"location" and value.startswith(_WRITE_PATH.encode()):
                        created = value[len(_WRITE_PATH) :].decode("latin-1")
                    elif name == b"etag" and 200 <= message["status"] < 300:
                        digits = value.strip(b'W/"')
                        version = int(digits) if digits.isdigit() else None
                store_id = path[len(_WRITE_PATH) :].split("/", 1)[0]
                if path.startswith(_WRITE_PATH) and store_id:
                    self.model.answered(store_id, version)
                if created is not None:
                    self.model.answered(created, version)
            await send(message)

        await self.app(scope, receive, mark_then_send)
