"""The README's settings table is the one the code generates."""

from __future__ import annotations

from pathlib import Path

from credential_vault.settings import CredentialVaultSettings

from kervan_servicekit.settings import settings_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_the_current_settings() -> None:
    assert settings_markdown(CredentialVaultSettings).strip() in README.read_text(encoding="utf-8")
