"""Per-platform field validation and the fingerprint."""

from __future__ import annotations

import pytest
from credential_vault.domain.errors import InvalidCredentials
from credential_vault.domain.model import fingerprint
from credential_vault.domain.platforms import FIELDS, event_field, validate_fields

from kervan_contracts.credentials.v1 import CredentialField
from kervan_contracts.identifiers import Platform


@pytest.mark.parametrize("platform", list(Platform))
def test_every_platform_accepts_exactly_its_required_fields(platform: Platform) -> None:
    fields = dict.fromkeys(FIELDS[platform].required, "example.com")
    assert validate_fields(platform, fields) == fields


@pytest.mark.parametrize("platform", list(Platform))
def test_a_missing_field_is_named_without_any_value(platform: Platform) -> None:
    required = FIELDS[platform].required
    fields = dict.fromkeys(required[1:], "value-that-must-not-echo.com")
    with pytest.raises(InvalidCredentials) as caught:
        validate_fields(platform, fields)
    assert caught.value.details["missing_fields"] == [required[0]]
    assert "value-that-must-not-echo" not in repr(caught.value.details)


def test_unknown_and_blank_fields_are_refused() -> None:
    with pytest.raises(InvalidCredentials) as caught:
        validate_fields(Platform.N11, {"app_key": "k", "app_secret": "   ", "password": "x"})
    assert caught.value.details["unknown_fields"] == ["password"]
    assert caught.value.details["missing_fields"] == ["app_secret"]


def test_store_domain_must_be_a_host_name() -> None:
    fields = {"store_domain": "http://169.254.169.254/", "api_user": "u", "api_password": "p"}
    with pytest.raises(InvalidCredentials) as caught:
        validate_fields(Platform.TSOFT, fields)
    assert caught.value.details["malformed_fields"] == ["store_domain"]


def test_consent_fields_are_optional_for_ideasoft() -> None:
    base = {"store_domain": "shop.myideasoft.com", "client_id": "c", "client_secret": "s"}
    assert validate_fields(Platform.IDEASOFT, {**base, "refresh_token": "r"})["refresh_token"]


def test_adapter_names_map_onto_the_contract_vocabulary() -> None:
    names = {event_field(n) for fields in FIELDS.values() for n in fields.allowed}
    assert CredentialField.API_KEY in names  # hepsiburada service_key
    assert event_field("api_password") is CredentialField.PASSWORD


def test_fingerprint_depends_on_key_store_and_values_and_hides_them() -> None:
    fields = {"api_key": "AKIA-canary-1", "api_secret": "shh"}
    first = fingerprint(b"a" * 32, "s1", fields)
    assert first == fingerprint(b"a" * 32, "s1", dict(reversed(list(fields.items()))))
    assert first != fingerprint(b"b" * 32, "s1", fields)
    assert first != fingerprint(b"a" * 32, "s2", fields)
    assert first != fingerprint(b"a" * 32, "s1", {**fields, "api_secret": "shh2"})
    assert len(first) == 32
    assert "canary" not in first
