"""validate_base_url: the SSRF corpus (refused) and the legitimate URLs (accepted)."""

from __future__ import annotations

import ipaddress

import pytest

from kervan_marketplaces import BaseUrlPolicy, MarketplaceSettings, UnsafeBaseUrl, validate_base_url
from kervan_marketplaces.urls import check_public_address

SIM = "http://127.0.0.1:8090"
POLICY = BaseUrlPolicy.of(
    allowed_hosts=["apigw.trendyol.com", "stageapigw.trendyol.com", "*.hepsiburada.com"],
    allowed_http_origins=[SIM],
)

REFUSED = [
    # loopback in every spelling
    "https://127.0.0.1",
    "https://127.1",
    "https://127.0.1",
    "https://2130706433",
    "https://0x7f000001",
    "https://0x7f.1",
    "https://0177.0.0.1",
    "https://017700000001",
    "https://[::1]",
    "https://[::ffff:127.0.0.1]",
    "https://[::ffff:7f00:1]",
    "https://[0:0:0:0:0:ffff:127.0.0.1]",
    "https://localhost",
    "https://api.localhost",
    "https://0.0.0.0",
    "https://0",
    "https://[::]",
    # cloud metadata / link-local
    "https://169.254.169.254/latest/meta-data",
    "https://[fe80::1]",
    "https://metadata.google.internal",
    "https://[fd00:ec2::254]",
    # private ranges
    "https://10.0.0.1",
    "https://10.255.255.254",
    "https://172.16.0.1",
    "https://172.31.255.1",
    "https://192.168.1.10",
    "https://100.64.0.1",
    "https://100.127.255.254",
    "https://[fd00::1]",
    "https://[fc00::1]",
    "https://[64:ff9b::10.0.0.1]",
    "https://[2002:a00:1::]",
    "https://198.18.0.1",
    "https://224.0.0.1",
    "https://255.255.255.255",
    # other schemes
    "file:///etc/passwd",
    "gopher://apigw.trendyol.com:70/_x",
    "ftp://apigw.trendyol.com",
    "dict://apigw.trendyol.com:11211/",
    "ldap://apigw.trendyol.com",
    "javascript:alert(1)",
    # plain http on a public host, or on a loopback origin that is not the configured simulator
    "http://apigw.trendyol.com",
    "http://127.0.0.1:8091",
    "http://localhost:8090",
    # userinfo and parser confusion
    "https://user:pass@apigw.trendyol.com",
    "https://apigw.trendyol.com@10.0.0.1",
    "https://apigw.trendyol.com\\@evil.example",
    "https://apigw.trendyol.com%2f@evil.example",
    "https://apigw.trendyol.com/\r\nHost: evil",
    "https://ap igw.trendyol.com",
    "https://[fe80::1%25eth0]",
    # not on the allowlist, odd ports, queries
    "https://evil.example.com",
    "https://apigw.trendyol.com.evil.example",
    "https://hepsiburada.com.evil.example",
    "https://apigw.trendyol.com:8443",
    "https://apigw.trendyol.com/?next=http://10.0.0.1",
    "https://apigw.trendyol.com/../admin",
    "",
    "https://",
]


@pytest.mark.parametrize("url", REFUSED)
def test_refused(url: str) -> None:
    with pytest.raises(UnsafeBaseUrl) as caught:
        validate_base_url(url, POLICY)
    assert caught.value.code  # a stable code names the rule


def test_corpus_is_large() -> None:
    assert len(REFUSED) >= 50


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://apigw.trendyol.com", "https://apigw.trendyol.com"),
        ("https://APIGW.trendyol.com/", "https://apigw.trendyol.com"),
        ("https://stageapigw.trendyol.com:443/x/", "https://stageapigw.trendyol.com/x"),
        ("https://oms-external-sit.hepsiburada.com", "https://oms-external-sit.hepsiburada.com"),
        (f"{SIM}/trendyol", f"{SIM}/trendyol"),
        (f"{SIM}/trendyol-sandbox/", f"{SIM}/trendyol-sandbox"),
    ],
)
def test_accepted(url: str, expected: str) -> None:
    assert validate_base_url(url, POLICY) == expected


def test_without_policy_any_public_https_host_is_a_store_url() -> None:
    assert validate_base_url("https://magaza.myideasoft.com") == "https://magaza.myideasoft.com"
    assert validate_base_url("https://8.8.8.8") == "https://8.8.8.8"
    with pytest.raises(UnsafeBaseUrl):
        validate_base_url("https://192.168.0.1")
    with pytest.raises(UnsafeBaseUrl):
        validate_base_url(f"{SIM}/ideasoft")  # the simulator only when configured


def test_error_codes_are_specific() -> None:
    cases = {
        "https://2130706433": "ip_encoding_not_allowed",
        "https://10.0.0.1": "private_address",
        "gopher://apigw.trendyol.com": "scheme_not_allowed",
        "https://u@apigw.trendyol.com": "userinfo_not_allowed",
        "https://evil.example.com": "host_not_allowed",
    }
    for url, code in cases.items():
        with pytest.raises(UnsafeBaseUrl) as caught:
            validate_base_url(url, POLICY)
        assert caught.value.code == code, url


def test_public_address_check_unwraps_mapped_addresses() -> None:
    check_public_address(ipaddress.ip_address("8.8.8.8"))
    with pytest.raises(UnsafeBaseUrl):
        check_public_address(ipaddress.ip_address("::ffff:10.1.2.3"))


def test_simulator_url_points_every_sandbox_at_the_simulator_and_keeps_production() -> None:
    settings = MarketplaceSettings(simulator_url="http://127.0.0.1:8090/")
    assert settings.simulator_origins == ["http://127.0.0.1:8090"]
    assert settings.urls["trendyol"].sandbox == {"api": "http://127.0.0.1:8090/trendyol-sandbox"}
    assert settings.urls["trendyol"].production == {"api": "https://apigw.trendyol.com"}
    assert set(settings.urls["hepsiburada"].sandbox) == {"oms", "listing", "catalog"}
    amazon = settings.urls["amazon_tr"].sandbox
    assert amazon["lwa"] == "http://127.0.0.1:8090/amazon_tr-sandbox/auth/o2/token"
    assert amazon["consent"] == "http://127.0.0.1:8090/amazon_tr-sandbox/apps/authorize/consent"
    # Platforms without a sandbox of their own get the simulator's in test mode.
    assert settings.urls["n11"].sandbox == {"api": "http://127.0.0.1:8090/n11-sandbox"}


def test_without_a_simulator_url_nothing_points_at_loopback() -> None:
    settings = MarketplaceSettings()
    assert settings.simulator_origins == []
    assert all("127.0.0.1" not in str(urls) for urls in settings.urls.values())
