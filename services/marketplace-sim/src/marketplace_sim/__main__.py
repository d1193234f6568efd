"""`python -m marketplace_sim --host 127.0.0.1 --port 8090 [--demo]`."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from marketplace_sim.app import build_simulator, create_app
from marketplace_sim.demo import seed_demo
from marketplace_sim.settings import SimSettings

_log = logging.getLogger("marketplace_sim")


def main(argv: list[str] | None = None) -> None:
    """Parse flags (overriding MARKETPLACE_SIM_* settings) and serve until SIGINT/SIGTERM."""
    defaults = SimSettings()
    parser = argparse.ArgumentParser(prog="marketplace-sim", description=__doc__)
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--demo", action="store_true", default=defaults.demo)
    parser.add_argument("--log-level", default=defaults.log_level)
    args = parser.parse_args(argv)
    settings = defaults.model_copy(
        update={
            "host": args.host,
            "port": args.port,
            "demo": args.demo,
            "log_level": args.log_level,
        }
    )
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")
    sim = build_simulator(settings=settings)
    if settings.demo:
        accounts = seed_demo(sim)
        _log.info('{"event": "demo_seeded", "accounts": %d}', len(accounts))
    app = create_app(simulator=sim)
    # uvicorn drains in-flight requests on SIGINT/SIGTERM before exiting (graceful shutdown).
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
