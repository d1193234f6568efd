"""ASGI application: every platform under `/<platform>` and `/<platform>-sandbox`, plus `/_sim`."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from marketplace_sim import control
from marketplace_sim.clock import Clock, SystemClock
from marketplace_sim.platforms import amazon, hepsiburada, ideasoft, n11, trendyol, tsoft
from marketplace_sim.runtime import SANDBOX_SUFFIX, PlatformSpec, Simulator, json_response
from marketplace_sim.settings import SimSettings
from marketplace_sim.state import SimState

PLATFORM_MODULES: tuple[Callable[[Simulator], PlatformSpec], ...] = (
    trendyol.spec,
    hepsiburada.spec,
    n11.spec,
    amazon.spec,
    ideasoft.spec,
    tsoft.spec,
)


def build_simulator(
    state: SimState | None = None, clock: Clock | None = None, settings: SimSettings | None = None
) -> Simulator:
    """The simulator core without HTTP, for callers that seed state directly."""
    return Simulator(state or SimState(), clock or SystemClock(), settings or SimSettings())


def create_app(
    state: SimState | None = None,
    clock: Clock | None = None,
    settings: SimSettings | None = None,
    simulator: Simulator | None = None,
) -> Starlette:
    """Build the simulator app; pass a ManualClock to drive time from tests."""
    sim = simulator or build_simulator(state, clock, settings)
    routes: list[BaseRoute] = []
    for make_spec in PLATFORM_MODULES:
        spec = make_spec(sim)
        platform_routes: list[BaseRoute] = [
            Route(ep.path, sim.wrap(spec, ep), methods=[ep.method], name=ep.name)
            for ep in spec.endpoints
        ]
        # The same routes serve the production and the sandbox base; the mount tells them apart.
        routes.append(Mount(f"/{spec.platform}", routes=platform_routes))
        routes.append(Mount(f"/{spec.platform}{SANDBOX_SUFFIX}", routes=platform_routes))

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        return json_response({"status": "ready", "accounts": len(sim.state.accounts)})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(sim.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    routes += [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Mount("/_sim", routes=list(control.routes(sim))),
    ]
    app = Starlette(routes=routes)
    app.state.sim = sim
    return app
