"""`run_service(handed=...)`: a server that serves connections another process accepted.

In-process: a real uvicorn server on this loop with no listening socket of its own, a real
TCP listener in the test that accepts and passes each connection over a Unix socket pair
(what store-registry's supervisor does), and a real HTTP client on loopback.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
import uvicorn
from starlette.types import Receive, Scope, Send

from kervan_servicekit.runtime import _Server
from kervan_testkit import wait_until

SERVED: list[int] = []


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    SERVED.append(1)
    body = b"served"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Supervisor:
    """Accepts on a loopback port and hands every connection to the server's channel."""

    def __init__(self, channel: socket.socket) -> None:
        self.channel = channel
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.listener.setblocking(False)
        self.port: int = self.listener.getsockname()[1]

    async def hand_one(self) -> None:
        conn, _ = await asyncio.get_running_loop().sock_accept(self.listener)
        with conn:
            socket.send_fds(self.channel, [b"c"], [conn.fileno()])


@pytest_asyncio.fixture
async def served() -> AsyncIterator[tuple[_Server, Supervisor, socket.socket]]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = _Server(config, None, 0.0, theirs)
    task = asyncio.create_task(server.serve(sockets=[]))

    async def started() -> bool:
        return server.started

    await wait_until(started, timeout=10, what="the server started")
    supervisor = Supervisor(ours)
    try:
        yield server, supervisor, ours
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        supervisor.listener.close()
        ours.close()


async def test_handed_connections_are_served_and_kept_alive(
    served: tuple[_Server, Supervisor, socket.socket],
) -> None:
    server, supervisor, _ = served
    SERVED.clear()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{supervisor.port}") as client:
        handing = asyncio.create_task(supervisor.hand_one())
        first = await client.get("/a")
        await handing
        second = await client.get("/b")  # same keep-alive connection: nothing handed again
    assert (first.status_code, first.content, second.content) == (200, b"served", b"served")
    assert len(SERVED) == 2
    assert len(server.server_state.connections) <= 1


async def test_a_closed_channel_stops_the_taking_but_not_the_server(
    served: tuple[_Server, Supervisor, socket.socket],
) -> None:
    server, supervisor, ours = served
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{supervisor.port}") as client:
        handing = asyncio.create_task(supervisor.hand_one())
        assert (await client.get("/")).status_code == 200
        await handing
        ours.shutdown(socket.SHUT_RDWR)  # the supervisor went away
        assert server._handed is not None

        async def stopped_taking() -> bool:
            return server._handed is not None and server._handed.fileno() == -1

        await wait_until(stopped_taking, timeout=10, what="the server stopped taking")
        # The connection it already serves keeps working.
        assert (await client.get("/")).status_code == 200
    assert not server.should_exit
