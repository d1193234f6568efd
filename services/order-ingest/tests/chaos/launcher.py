"""`python launcher.py`: order-ingest as its own process, pointed at a marketplace-sim.

The chaos run SIGKILLs this process; it is the real service (`build_app` + `run_service`, as
`python -m order_ingest`) except that store credentials come from the environment
(`CHAOS_CREDENTIALS`, JSON store id -> fields) instead of Vault, and every platform URL points
at `CHAOS_SIM_URL`.
"""

from __future__ import annotations

import json
import os

from order_ingest.adapters.credentials import StaticCredentialsSource
from order_ingest.bootstrap import build_app
from order_ingest.settings import OrderIngestSettings

from kervan_marketplaces import (
    AdapterFactory,
    IntegratorIdentity,
    MarketplaceSettings,
    simulator_urls,
)
from kervan_servicekit import configure_logging, run_service


def marketplace_settings(sim: str) -> MarketplaceSettings:
    """Every platform's URLs pointed at the simulator."""
    return MarketplaceSettings(
        urls=simulator_urls(sim),
        simulator_origins=[sim],
        check_dns=False,
        integrator=IntegratorIdentity(trendyol_integrator_name="Kervan"),
    )


def main() -> None:
    """Serve until killed."""
    settings = OrderIngestSettings()
    configure_logging(settings.service_name, settings.log_level)
    credentials = json.loads(os.environ["CHAOS_CREDENTIALS"])
    app = build_app(
        settings,
        factory=AdapterFactory(marketplace_settings(os.environ["CHAOS_SIM_URL"])),
        credentials=StaticCredentialsSource(credentials),
    )
    run_service(
        app,
        host=settings.http_host,
        port=settings.http_port,
        health=app.state.health,
        drain_seconds=0.0,
        graceful_timeout=settings.kafka.graceful_timeout_seconds,
    )


if __name__ == "__main__":
    main()
