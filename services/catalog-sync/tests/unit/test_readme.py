"""The README's settings table is generated from the settings class."""

from __future__ import annotations

from pathlib import Path

from catalog_sync.settings import CatalogSyncSettings

from kervan_servicekit import settings_markdown


def test_readme_lists_every_setting_with_its_default() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert settings_markdown(CatalogSyncSettings) in readme
