"""Small helpers shared by the platform modules: parameters, money, dates, batches."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request

from marketplace_sim.runtime import Call, Simulator
from marketplace_sim.state import Account, Batch, BatchItem, Listing, PushRecord

ISTANBUL = timezone(timedelta(hours=3))
DAY_MS = 86_400_000


class BadParameterError(ValueError):
    """A request parameter the platform would refuse; platforms map it to their 400 shape."""


def int_param(
    raw: str | None, name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    """Parse an integer query parameter within bounds."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameterError(f"{name} must be an integer") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise BadParameterError(f"{name} must be between {minimum} and {maximum}")
    return value


def decimal_value(raw: Any) -> Decimal | None:
    """A JSON number or numeric string as Decimal; None if it is not a number."""
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        return Decimal(str(raw))
    except InvalidOperation:
        return None


def money(value: Decimal) -> float:
    """Amount as the JSON number the platforms send (two decimals)."""
    return float(value.quantize(Decimal("0.01")))


def money_str(value: Decimal) -> str:
    """Amount as a two-decimal string (Amazon Money.Amount)."""
    return str(value.quantize(Decimal("0.01")))


def iso_utc(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with a Z suffix."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(raw: str, name: str) -> int:
    """ISO-8601 instant to epoch ms; a missing offset means UTC."""
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadParameterError(f"{name} is not an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def istanbul_text(ms: int, fmt: str) -> str:
    """Epoch ms formatted in Turkish local time (UTC+3, no DST)."""
    return datetime.fromtimestamp(ms / 1000, ISTANBUL).strftime(fmt)


def parse_istanbul(raw: str, fmt: str, name: str) -> int:
    """Turkish local time text to epoch ms."""
    try:
        parsed = datetime.strptime(raw, fmt).replace(tzinfo=ISTANBUL)
    except ValueError:
        raise BadParameterError(f"{name} must look like {fmt}") from None
    return int(parsed.timestamp() * 1000)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """Decode an HTTP Basic Authorization header into (user, password)."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def bearer_token(header: str | None) -> str | None:
    """The token of a Bearer Authorization header."""
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def body_fingerprint(body: Any) -> str:
    """Stable digest of a JSON body regardless of key order."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def encode_cursor(data: dict[str, Any]) -> str:
    """Opaque pagination token."""
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode()


def decode_cursor(token: str, name: str) -> dict[str, Any]:
    """Read a token made by encode_cursor."""
    try:
        value = orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        raise BadParameterError(f"{name} is invalid") from None
    if not isinstance(value, dict):
        raise BadParameterError(f"{name} is invalid")
    return value


def build_item(
    call: Call,
    request_item: Any,
    listing: Listing | None,
    changes: dict[str, Any],
    reasons: list[str],
    *,
    not_found: str,
) -> BatchItem:
    """One batch item: injected failures and missing listings become failure reasons."""
    account = call.acct
    sku = listing.sku if listing is not None else None
    failures = list(reasons)
    if listing is None:
        failures.append(not_found)
    injected = call.sim.faults.item_failure(account.platform, account.account_id, sku, call.now)
    if injected is not None:
        failures.append(injected)
    return BatchItem(request_item, sku, changes, failures)


def submit_batch(
    call: Call,
    kind: str,
    items: list[BatchItem],
    *,
    rejected: list[str] | None = None,
    extra: dict[str, Any] | None = None,
    synchronous: bool = False,
    batch_id: str | None = None,
) -> Batch:
    """Record pushes in listing history and queue (or at once apply) the batch."""
    account: Account = call.acct
    batch_id = batch_id or call.sim.state.ids.batch_id(kind)
    delay = 0.0 if synchronous else call.sim.settings.batch_delay_seconds
    batch = Batch(batch_id, kind, call.now, call.now + delay, items, extra=extra or {})
    batch.rejected_reasons = list(rejected or [])
    for item in items:
        listing = account.listings.get(item.sku) if item.sku is not None else None
        if listing is None:
            continue
        for field_name, value in item.changes.items():
            shown = str(value) if isinstance(value, Decimal) else value
            record = PushRecord(field_name, shown, call.now, batch_id)
            item.records.append(record)
            listing.history.append(record)
    account.schedule(batch)
    if synchronous:
        account.settle(call.now)
    return batch


async def read_form(call: Call) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as a dict (last value wins)."""
    return await request_form(call.request)


async def request_form(request: Request) -> dict[str, str]:
    """The form body of a request; Starlette keeps the body, so handlers can read it again."""
    body = await request.body()
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def account_by_host(request: Request, sim: Simulator, platform: str) -> Account | None:
    """The store whose `store_domain` is the request's Host (IdeaSoft, T-Soft).

    Real stores are told apart by host name; through the simulator's shared prefix the Host
    header is the only store hint left when a token is unknown, so refusals can still be
    attributed to the store they were meant for.
    """
    host = request.headers.get("host", "").rsplit(":", 1)[0].lower()
    return sim.state.find(platform, "store_domain", host) if host else None
