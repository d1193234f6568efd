"""`CoalescingHttpToolsProtocol`: a response's head and body leave in one write, bytes intact.

The protocol is driven as uvicorn drives it (a parsed request in, ASGI app, writes out) over a
transport that records each `write`, and once behind a real uvicorn server on loopback.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.server import ServerState

from kervan_servicekit._http_protocol import CoalescingHttpToolsProtocol
from kervan_testkit import wait_until


async def plain(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = b'{"ok":true}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def streamed(scope: Scope, receive: Receive, send: Send) -> None:
    """Chunks sent across several loop steps (each `await` below yields)."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for n in range(50):
        await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"%03d," % n, "more_body": True})
    await send({"type": "http.response.body", "body": b"end"})


class RecordingTransport(asyncio.Transport):
    """What the socket would have been asked to send, write by write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def protocol_for(app: object) -> CoalescingHttpToolsProtocol:
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        log_config=None,
        access_log=False,
        lifespan="off",
        http=CoalescingHttpToolsProtocol,
    )
    config.load()
    protocol = config.http_protocol_class(  # type: ignore[call-arg]
        config=config, server_state=ServerState(), app_state={}
    )
    assert isinstance(protocol, CoalescingHttpToolsProtocol)
    return protocol


async def test_head_and_body_of_a_response_are_one_write() -> None:
    protocol = protocol_for(plain)
    transport = RecordingTransport()
    protocol.connection_made(transport)
    for path in (b"/a", b"/b"):  # two requests on one keep-alive connection
        protocol.data_received(b"GET " + path + b" HTTP/1.1\r\nhost: t\r\n\r\n")

        async def answered(count: int = len(transport.writes) + 1) -> bool:
            return len(transport.writes) == count

        await wait_until(answered, timeout=5, what="the answer written")
    assert len(transport.writes) == 2
    for write in transport.writes:
        assert write.startswith(b"HTTP/1.1 200 OK\r\n")
        assert write.endswith(b'\r\n\r\n{"ok":true}')
    protocol.connection_lost(None)


async def test_close_sends_what_is_kept_first_and_nothing_goes_out_after() -> None:
    protocol = protocol_for(plain)
    transport = RecordingTransport()
    protocol.connection_made(transport)
    proxy = protocol.transport
    proxy.write(b"head;")
    proxy.write(b"body")
    assert transport.writes == []  # kept until the end of this step
    proxy.close()
    assert transport.writes == [b"head;body"]
    assert transport.closed
    proxy.write(b"late")
    await asyncio.sleep(0)  # the scheduled flush finds the transport closing
    assert transport.writes == [b"head;body"]
    protocol.connection_lost(None)


@pytest_asyncio.fixture
async def server_url() -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        streamed,
        log_config=None,
        access_log=False,
        lifespan="off",
        http=CoalescingHttpToolsProtocol,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))

    async def started() -> bool:
        return server.started

    await wait_until(started, timeout=10, what="the server started")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()


async def test_a_streamed_response_arrives_whole_and_in_order_over_tcp(server_url: str) -> None:
    expected = b"".join(b"%03d," % n for n in range(50)) + b"end"
    async with httpx.AsyncClient(base_url=server_url) as client:
        for _ in range(3):  # keep-alive: chunked framing must stay intact across responses
            response = await client.get("/")
            assert (response.status_code, response.content) == (200, expected)
