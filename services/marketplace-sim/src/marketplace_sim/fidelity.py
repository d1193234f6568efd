"""Check requests and responses against the platform contracts (for the simulator and adapters).

Amazon is checked against its official Swagger 2.0 models, the other platforms against Kervan's
OpenAPI 3.0 fragments in `contracts/marketplaces/<platform>.openapi.yaml`. Schemas are
evaluated by `openapi-schema-validator` (OAS 3.0 dialect, which also reads Swagger 2.0 schema
objects) with `referencing` resolving `$ref`s against the whole document; this module only
finds the operation and hands each piece to the validator.

    validate_response("amazon_tr", "GET", "/orders/v0/orders", 200, body)
    validate_request("trendyol", "GET", url, headers, query, None)

`path` may be a full URL or a path with or without the simulator's `/<platform>` or
`/<platform>-sandbox` prefix. Both functions raise `FidelityError` listing every problem;
`UnknownOperationError` (a subclass) when the contract has no such method and path.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from openapi_schema_validator import OAS30Validator, OAS31Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

from marketplace_sim.paths import contracts_dir

AMAZON_MODELS = (
    "ordersV0.json",
    "sellers.json",
    "listingsItems_2021-08-01.json",
    "feeds_2021-06-30.json",
)
_CONTRACT_PLATFORMS = ("trendyol", "hepsiburada", "n11", "ideasoft", "tsoft")
_PARAM_SCHEMA_KEYS = (
    "type",
    "format",
    "enum",
    "items",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "pattern",
    "minLength",
    "maxLength",
)


class FidelityError(AssertionError):
    """A request or response does not match the platform contract."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class UnknownOperationError(FidelityError):
    """The contract has no operation for this method and path."""


@dataclass(frozen=True)
class _Operation:
    document: _Contract
    template: str
    method: str
    pattern: re.Pattern[str]
    pointer: str

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.document.at(self.pointer)
        return spec

    @property
    def path_item_pointer(self) -> str:
        return self.pointer.rsplit("/", 1)[0]


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class _Contract:
    """One OpenAPI/Swagger document with a registry that resolves its internal references."""

    def __init__(self, name: str, document: dict[str, Any]) -> None:
        self.uri = f"urn:kervan-contract:{name}"
        self.document = document
        self.swagger2 = str(document.get("swagger", "")).startswith("2")
        self.oas31 = str(document.get("openapi", "")).startswith("3.1")
        spec = DRAFT202012 if self.oas31 else DRAFT4
        resource: Resource[Any] = Resource.from_contents(document, default_specification=spec)
        self.registry: Registry[Any] = Registry().with_resource(self.uri, resource)
        self._validators: dict[str, Validator] = {}
        self.operations: list[_Operation] = []
        for template, item in document.get("paths", {}).items():
            regex = re.sub(r"\\\{[^/]+?\\\}", "([^/]+)", re.escape(template))
            for method in item:
                if method in {"get", "put", "post", "patch", "delete", "head", "options"}:
                    pointer = f"/paths/{_escape(template)}/{method}"
                    self.operations.append(
                        _Operation(
                            self, template, method.upper(), re.compile(f"^{regex}$"), pointer
                        )
                    )
        # Literal paths win over templated ones (`/orders/count` before `/orders/{id}`).
        self.operations.sort(key=lambda op: op.template.count("{"))

    def at(self, pointer: str) -> Any:
        """The value at a JSON pointer of the document."""
        return self.registry.resolver(self.uri).lookup(f"{self.uri}#{pointer}").contents

    def deref(self, pointer: str) -> tuple[str, Any]:
        """Follow `$ref`s starting at pointer; returns the final pointer and value."""
        value = self.at(pointer)
        while isinstance(value, dict) and "$ref" in value:
            ref = str(value["$ref"])
            if not ref.startswith("#"):
                break
            pointer = ref[1:]
            value = self.at(pointer)
        return pointer, value

    def validator(self, pointer: str) -> Validator:
        """A cached schema validator for the schema at pointer."""
        found = self._validators.get(pointer)
        if found is None:
            cls = OAS31Validator if self.oas31 else OAS30Validator
            found = cls(
                {"$ref": f"{self.uri}#{pointer}"},
                registry=self.registry,
                format_checker=oas30_format_checker,
            )
            self._validators[pointer] = found
        return found

    def check(self, pointer: str, instance: Any, label: str) -> list[str]:
        """Problems of instance against the schema at pointer."""
        errors = list(self.validator(pointer).iter_errors(instance))
        if not errors:
            return []
        worst = best_match(errors)
        where = "/".join(str(p) for p in worst.absolute_path) or "(root)"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return [f"{label} at {where}: {worst.message}{more}"]


@functools.cache
def _contracts(platform: str) -> tuple[_Contract, ...]:
    base = contracts_dir()
    if platform == "amazon_tr":
        models = base / "amazon-sp-api"
        return tuple(
            _Contract(f"amazon/{name}", json.loads((models / name).read_text()))
            for name in AMAZON_MODELS
        )
    if platform not in _CONTRACT_PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}")
    path: Path = base / f"{platform}.openapi.yaml"
    return (_Contract(platform, yaml.safe_load(path.read_text())),)


def _platform_path(platform: str, path: str) -> str:
    path = urlsplit(path).path if "://" in path else path.split("?", 1)[0]
    for prefix in (f"/{platform}-sandbox", f"/{platform}"):
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
    return path


def _find(platform: str, method: str, path: str) -> tuple[_Operation, dict[str, str]]:
    local = _platform_path(platform, path)
    for contract in _contracts(platform):
        names_cache: dict[str, list[str]] = {}
        for op in contract.operations:
            if op.method != method.upper():
                continue
            match = op.pattern.match(local)
            if match is None:
                continue
            names = names_cache.setdefault(op.template, re.findall(r"\{([^}]+)\}", op.template))
            return op, dict(zip(names, match.groups(), strict=True))
    raise UnknownOperationError([f"{platform}: no operation {method.upper()} {local}"])


def operation_id(platform: str, method: str, path: str) -> str:
    """The contract's operationId for a request (raises UnknownOperationError)."""
    op, _ = _find(platform, method, path)
    return str(op.spec.get("operationId", op.template))


def validate_response(platform: str, method: str, path: str, status: int, body: Any) -> None:
    """Raise FidelityError unless status and body are what the contract documents."""
    op, _ = _find(platform, method, path)
    contract = op.document
    responses_pointer = f"{op.pointer}/responses"
    responses = contract.at(responses_pointer)
    candidates = [str(status), f"{str(status)[0]}XX", "default"]
    key = next((c for c in candidates if c in responses), None)
    label = f"{platform} {method.upper()} {op.template} -> {status}"
    if key is None:
        raise FidelityError([f"{label}: status not documented"])
    pointer, response = contract.deref(f"{responses_pointer}/{_escape(key)}")
    if contract.swagger2:
        if "schema" not in response:
            return
        schema_pointer = f"{pointer}/schema"
    else:
        content = response.get("content") or {}
        if not content:
            return
        media = "application/json" if "application/json" in content else next(iter(content))
        if "schema" not in content[media]:
            return
        schema_pointer = f"{pointer}/content/{_escape(media)}/schema"
    problems = contract.check(schema_pointer, body, f"{label} body")
    if problems:
        raise FidelityError(problems)


def validate_request(  # noqa: PLR0917 - mirrors the parts of an HTTP request
    platform: str,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, Any] | None = None,
    body: Any = None,
) -> None:
    """Raise FidelityError unless parameters, auth headers and body match the contract.

    `query` values may be strings or lists of strings; a query string left in `path` is read
    too. `body` is the parsed JSON (or the form fields as a dict) or None.
    """
    op, path_values = _find(platform, method, path)
    contract = op.document
    label = f"{platform} {method.upper()} {op.template}"
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    params = _query_values(path, query)
    problems: list[str] = []
    for pointer in _parameter_pointers(op):
        param_pointer, param = contract.deref(pointer)
        name, place = str(param["name"]), str(param["in"])
        if place == "body":
            problems += _check_body(contract, f"{param_pointer}/schema", body, param, label)
            continue
        raw: Any = {
            "path": path_values.get(name),
            "query": params.get(name),
            "header": lowered.get(name.lower()),
        }.get(place)
        if raw is None:
            if param.get("required"):
                problems.append(f"{label}: required {place} parameter {name} is missing")
            continue
        schema_pointer = f"{param_pointer}/schema" if "schema" in param else None
        schema = contract.at(schema_pointer) if schema_pointer else _inline_schema(param)
        value = _coerce(raw, schema, contract)
        if value is _INVALID:
            problems.append(f"{label}: {place} parameter {name}={raw!r} has the wrong type")
        elif schema_pointer is not None:
            problems += contract.check(schema_pointer, value, f"{label} {place} {name}")
        else:
            errors = list(OAS30Validator(schema).iter_errors(value))
            problems += [f"{label} {place} {name}: {best_match(errors).message}"] if errors else []
    spec = op.spec
    if not contract.swagger2 and "requestBody" in spec:
        body_pointer, request_body = contract.deref(f"{op.pointer}/requestBody")
        content = request_body.get("content") or {}
        if body is None:
            if request_body.get("required"):
                problems.append(f"{label}: request body is required")
        elif content:
            media = "application/json" if "application/json" in content else next(iter(content))
            if "schema" in content[media]:
                schema_pointer = f"{body_pointer}/content/{_escape(media)}/schema"
                problems += contract.check(schema_pointer, body, f"{label} body")
    problems += _check_security(platform, contract, spec, lowered, label)
    if problems:
        raise FidelityError(problems)


_INVALID = object()


def _query_values(path: str, query: Mapping[str, Any] | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "?" in path:
        values.update(parse_qsl(path.split("?", 1)[1], keep_blank_values=True))
    values.update(query or {})
    return values


def _parameter_pointers(op: _Operation) -> list[str]:
    contract = op.document
    pointers: dict[tuple[str, str], str] = {}
    for base in (op.path_item_pointer, op.pointer):
        container = contract.at(base)
        for index, _ in enumerate(
            container.get("parameters", []) if isinstance(container, dict) else []
        ):
            pointer = f"{base}/parameters/{index}"
            _, param = contract.deref(pointer)
            pointers[(str(param["name"]), str(param["in"]))] = pointer
    return list(pointers.values())


def _inline_schema(param: Mapping[str, Any]) -> dict[str, Any]:
    return {k: param[k] for k in _PARAM_SCHEMA_KEYS if k in param}


def _coerce(raw: Any, schema: Mapping[str, Any], contract: _Contract) -> Any:
    """Strings from a URL or header as the typed value the schema describes."""
    if isinstance(schema, Mapping) and "$ref" in schema:
        _, schema = contract.deref(str(schema["$ref"])[1:])
    kind = schema.get("type")
    if kind == "array":
        parts = raw if isinstance(raw, list) else str(raw).split(",")
        items = schema.get("items", {})
        coerced = [_coerce(p, items, contract) for p in parts]
        return _INVALID if any(c is _INVALID for c in coerced) else coerced
    if isinstance(raw, list):
        raw = raw[-1] if raw else ""
    text = str(raw)
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return _INVALID
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), _INVALID)
    return text


def _check_body(
    contract: _Contract, pointer: str, body: Any, param: Mapping[str, Any], label: str
) -> list[str]:
    if body is None:
        return [f"{label}: request body is required"] if param.get("required") else []
    return contract.check(pointer, body, f"{label} body")


def _check_security(
    platform: str,
    contract: _Contract,
    spec: Mapping[str, Any],
    headers: Mapping[str, str],
    label: str,
) -> list[str]:
    if platform == "amazon_tr":
        # The SP-API models do not declare it, but every SP-API call carries the LWA token.
        return [] if headers.get("x-amz-access-token") else [f"{label}: x-amz-access-token missing"]
    requirements = spec.get("security", contract.document.get("security", []))
    if not requirements:
        return []
    schemes = contract.document.get("components", {}).get("securitySchemes", {})
    for requirement in requirements:
        if all(_scheme_present(schemes.get(name, {}), headers) for name in requirement):
            return []
    return [f"{label}: credentials missing (security {list(requirements[0])})"]


def _scheme_present(scheme: Mapping[str, Any], headers: Mapping[str, str]) -> bool:
    auth = headers.get("authorization", "")
    kind = scheme.get("type")
    if kind == "http":
        return auth.lower().startswith(str(scheme.get("scheme", "")).lower() + " ")
    if kind in {"oauth2", "openIdConnect"}:
        return auth.lower().startswith("bearer ")
    if kind == "apiKey" and scheme.get("in") == "header":
        return str(scheme.get("name", "")).lower() in headers
    return False
