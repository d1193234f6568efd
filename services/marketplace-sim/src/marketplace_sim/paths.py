"""Where the contract files live (the repo's `contracts/marketplaces`, or an override)."""

from __future__ import annotations

import os
from pathlib import Path


def contracts_dir() -> Path:
    """`MARKETPLACE_SIM_CONTRACTS_DIR` or `<repo>/contracts/marketplaces`."""
    override = os.environ.get("MARKETPLACE_SIM_CONTRACTS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[4] / "contracts" / "marketplaces"
