"""The supervisor's dispatcher on loopback sockets: connections in turn, dead workers skipped."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from store_registry.workers import Dispatcher, port_socket


def _received(worker_end: socket.socket) -> socket.socket:
    """The next connection handed to a worker (blocks until one arrives, 5 s at most)."""
    worker_end.settimeout(5)
    _data, fds, _flags, _address = socket.recv_fds(worker_end, 1, 1)
    assert len(fds) == 1
    return socket.socket(fileno=fds[0])


@pytest.fixture
def dispatching() -> Iterator[tuple[Dispatcher, int, list[socket.socket]]]:
    listener = port_socket("127.0.0.1", 0)
    listener.listen()
    port = listener.getsockname()[1]
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(2)]
    dispatcher = Dispatcher(listener, [ours for ours, _ in pairs])
    dispatcher.start()
    try:
        yield dispatcher, port, [theirs for _, theirs in pairs]
    finally:
        dispatcher.stop()
        for pair in pairs:
            for end in pair:
                end.close()


def test_connections_go_to_the_workers_in_turn_and_work(
    dispatching: tuple[Dispatcher, int, list[socket.socket]],
) -> None:
    dispatcher, port, workers = dispatching
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
    try:
        served = [_received(workers[n % 2]) for n in range(4)]
        # Each handed socket is the server side of one client's connection.
        for client, server_side in zip(clients, served, strict=True):
            client.sendall(b"ping")
            assert server_side.recv(4) == b"ping"
            server_side.close()
        assert dispatcher.handed == [2, 2]
    finally:
        for client in clients:
            client.close()


def test_a_worker_whose_channel_closed_is_skipped(
    dispatching: tuple[Dispatcher, int, list[socket.socket]],
) -> None:
    dispatcher, port, workers = dispatching
    workers[1].close()  # that worker exited
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
    try:
        for _ in range(3):
            _received(workers[0]).close()
        assert dispatcher.handed == [3, 0]
    finally:
        for client in clients:
            client.close()
