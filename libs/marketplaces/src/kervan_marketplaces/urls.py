"""Validation of base URLs that come from configuration or from users (SSRF defence).

`validate_base_url` is the single gate for every outbound origin: platform base-URL overrides
(simulator, sandbox hosts) and store URLs typed by sellers (IdeaSoft/T-Soft store domains).
It follows the OWASP SSRF cheat sheet: https only, no credentials in the URL, no IP literals
that are not globally routable, no alternative IPv4 spellings (decimal, octal, hex, short forms),
no internal-looking names, optional host allowlist. Plain http is accepted only for origins
listed explicitly (the local simulator on 127.0.0.1).

`ensure_public_resolution` complements it at connect time: the names a URL uses must resolve to
public addresses only (defeats a public name pointing at 10.0.0.1).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from kervan_marketplaces.errors import UnsafeBaseUrl

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_FORBIDDEN_SUFFIXES = (
    ".localhost",
    ".local",
    ".internal",
    ".localdomain",
    ".home.arpa",
    ".arpa",
    ".lan",
    ".intranet",
    ".corp",
)
_FORBIDDEN_NAMES = frozenset({"localhost", "localhost.localdomain", "metadata", "instance-data"})
_UNSAFE_CHARS = re.compile(r"[\s\\\x00-\x1f\x7f]")


@dataclass(frozen=True)
class BaseUrlPolicy:
    """What an outbound origin may be.

    `allowed_hosts`: exact host names, or `*.suffix` patterns; empty means any public host.
    `allowed_http_origins`: exact `http://127.0.0.1:<port>` origins (the simulator) that may use
    plain http and a loopback address; nothing else may.
    """

    allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    allowed_http_origins: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls, allowed_hosts: Iterable[str] = (), allowed_http_origins: Iterable[str] = ()
    ) -> BaseUrlPolicy:
        """Build a policy, normalising case and trailing slashes."""
        return cls(
            allowed_hosts=frozenset(h.strip().lower().rstrip(".") for h in allowed_hosts),
            allowed_http_origins=frozenset(
                o.strip().lower().rstrip("/") for o in allowed_http_origins
            ),
        )


def validate_base_url(url: str, policy: BaseUrlPolicy | None = None) -> str:
    """Return `url` normalised (no trailing slash) if it is a safe outbound base URL.

    Raises `UnsafeBaseUrl` with a stable code otherwise. With no policy, any public https host
    is accepted (the store-registry's check for seller-typed store URLs).
    """
    policy = policy or BaseUrlPolicy()
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise UnsafeBaseUrl("malformed", "base URL must be a non-empty string of sane length")
    if _UNSAFE_CHARS.search(url) or not url.isascii():
        # Non-ASCII hosts must arrive already IDNA-encoded; escapes and controls never.
        raise UnsafeBaseUrl("malformed", "URL contains whitespace, controls, '\\' or non-ASCII")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeBaseUrl("malformed", "URL cannot be parsed") from exc
    scheme = parts.scheme.lower()
    if scheme not in {"https", "http"}:
        raise UnsafeBaseUrl("scheme_not_allowed", "only https base URLs are allowed")
    if "%" in parts.netloc:
        raise UnsafeBaseUrl("bad_host", "percent-encoding and zone ids are not allowed in the host")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise UnsafeBaseUrl("userinfo_not_allowed", "credentials in a URL are not allowed")
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        raise UnsafeBaseUrl("query_not_allowed", "a base URL carries no query or fragment")
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeBaseUrl("missing_host", "URL has no host")
    path = parts.path.rstrip("/")
    if "/../" in f"{path}/" or "/./" in f"{path}/":
        raise UnsafeBaseUrl("malformed", "dot segments are not allowed in a base URL path")

    origin = f"{scheme}://{parts.netloc.lower()}"
    if scheme == "http":
        if origin not in policy.allowed_http_origins:
            raise UnsafeBaseUrl(
                "scheme_not_allowed", "plain http is allowed only for the simulator"
            )
        return f"{origin}{path}"
    if origin in policy.allowed_http_origins:
        # An explicitly configured simulator origin may also be served over https on loopback.
        return f"{origin}{path}"

    if port is not None and port != 443:
        raise UnsafeBaseUrl("port_not_allowed", "only the default https port is allowed")
    _check_host(host)
    if policy.allowed_hosts and not host_matches(host, policy.allowed_hosts):
        raise UnsafeBaseUrl("host_not_allowed", "host is not in the allowlist")
    return f"https://{host}{path}"


def host_matches(host: str, patterns: Collection[str]) -> bool:
    """True if `host` equals a pattern or is a subdomain of a `*.suffix` pattern."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            suffix = pattern[1:]
            if host.endswith(suffix) and len(host) > len(suffix):
                return True
        elif host == pattern:
            return True
    return False


def _check_host(host: str) -> None:
    if host.startswith("[") or ":" in host:
        _check_ip_literal(host.strip("[]"))
        return
    host = host.rstrip(".")
    labels = host.split(".")
    # WHATWG URL parsing treats a host whose last label is numeric as IPv4 (127.1, 0x7f.1,
    # 2130706433, 0177.0.0.1): only the canonical dotted quad is accepted, and then checked.
    if _NUMERIC_PART.match(labels[-1]):
        if not re.fullmatch(
            r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}", host
        ):
            raise UnsafeBaseUrl("ip_encoding_not_allowed", "non-canonical IPv4 spelling")
        _check_ip_literal(host)
        return
    if not all(_LABEL.match(label) for label in labels) or len(labels) < 2:
        raise UnsafeBaseUrl("bad_host", "host is not a fully qualified DNS name")
    if host in _FORBIDDEN_NAMES or host.endswith(_FORBIDDEN_SUFFIXES):
        raise UnsafeBaseUrl("internal_host", "host names an internal or local domain")


def _check_ip_literal(text: str) -> None:
    if "%" in text:
        raise UnsafeBaseUrl("bad_host", "IPv6 zone ids are not allowed")
    try:
        address = ipaddress.ip_address(text)
    except ValueError as exc:
        raise UnsafeBaseUrl("bad_host", "host is not a valid IP literal") from exc
    check_public_address(address)


def check_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    """Raise `UnsafeBaseUrl` unless `address` is globally routable (no private/loopback/etc.)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or _nat64(address)
        if embedded is not None:
            check_public_address(embedded)
        if address.teredo is not None:
            raise UnsafeBaseUrl("private_address", "Teredo addresses are not allowed")
    if (
        not address.is_global
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    ):
        raise UnsafeBaseUrl("private_address", "address is not a public unicast address")


def _nat64(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


async def ensure_public_resolution(host: str, port: int = 443) -> None:
    """Resolve `host` and refuse it if any address it resolves to is not public.

    Called right before connecting, so a name that passed `validate_base_url` cannot point at an
    internal address (DNS rebinding is narrowed to the resolver cache window; an egress proxy
    closes it fully, see docs/marketplaces.md).
    """
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeBaseUrl("unresolvable_host", "host does not resolve") from exc
    for info in infos:
        check_public_address(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
