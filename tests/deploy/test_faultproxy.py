"""The fault proxy the resilience tests and drills use: each mode does what it says."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from deploy.dev.faultproxy import FaultProxy, control, main


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(4096):
                self.request.sendall(data)
        except OSError:
            return  # the proxy reset us on purpose


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _connect(proxy: FaultProxy) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    sock.settimeout(0.3)
    return sock


def test_pass_forwards_both_ways(echo_port: int) -> None:
    with FaultProxy(upstream=("127.0.0.1", echo_port)) as proxy, _connect(proxy) as sock:
        sock.sendall(b"ping")
        assert sock.recv(16) == b"ping"


def test_stall_holds_bytes_until_resumed_and_loses_nothing(echo_port: int) -> None:
    with FaultProxy(upstream=("127.0.0.1", echo_port)) as proxy, _connect(proxy) as sock:
        proxy.set_mode("stall")
        sock.sendall(b"held")
        with pytest.raises(TimeoutError):
            sock.recv(16)
        proxy.set_mode("pass")
        sock.settimeout(2)
        assert sock.recv(16) == b"held"


def test_blackhole_drops_and_never_answers(echo_port: int) -> None:
    with FaultProxy(upstream=("127.0.0.1", echo_port)) as proxy, _connect(proxy) as sock:
        proxy.set_mode("blackhole")
        sock.sendall(b"lost")
        with pytest.raises(TimeoutError):
            sock.recv(16)
        proxy.set_mode("pass")
        sock.sendall(b"next")
        sock.settimeout(2)
        assert sock.recv(16) == b"next"


def test_reset_breaks_open_connections_and_refuse_stops_listening(echo_port: int) -> None:
    with FaultProxy(upstream=("127.0.0.1", echo_port)) as proxy:
        sock = _connect(proxy)
        proxy.set_mode("reset")
        try:
            answer = sock.recv(16)
        except ConnectionResetError:
            answer = b""
        assert answer == b""  # closed by RST, not answered
        sock.close()
        proxy.set_mode("refuse")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
        proxy.set_mode("pass")
        with _connect(proxy) as again:
            again.sendall(b"back")
            assert again.recv(16) == b"back"


def test_control_port_changes_mode_of_a_running_proxy(echo_port: int) -> None:
    import asyncio

    from deploy.dev import faultproxy

    proxy = faultproxy._Proxy(listen=("127.0.0.1", 0), upstream=("127.0.0.1", echo_port))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(timeout=5)
    control_server = asyncio.run_coroutine_threadsafe(
        asyncio.start_server(proxy.control, "127.0.0.1", 0), loop
    ).result(timeout=5)
    address = control_server.sockets[0].getsockname()[:2]
    try:
        assert control(address, "latency 50") == "ok latency"
        assert control(address, "status") == "latency 50 0"
        assert control(address, "latency soon").startswith("error")
        assert main(["ctl", "--control", f"{address[0]}:{address[1]}", "pass"]) == 0
        assert proxy.state.mode == "pass"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
