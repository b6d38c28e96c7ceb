"""A small asyncio TCP fault proxy: put it between the app and MariaDB, Redis or the provider,
then change its mode at run time to make the dependency slow, stalled, reset or unreachable.

Modes (apply to open connections and new ones alike):
- `pass`            forward bytes untouched
- `latency MS`      hold every chunk MS milliseconds in each direction (order kept)
- `stall`           stop forwarding (bytes wait in the socket buffers); forwarding resumes, with
                    nothing lost, when the mode changes back: a paused server, SIGSTOP-like
- `blackhole`       accept and read, forward nothing, never answer; what was sent is dropped
- `reset`           reset (RST) every open connection, and each new one right after accept
- `refuse`          stop listening (connection refused), and reset open connections

Used two ways:
- in tests, in-process: `with FaultProxy(upstream=("127.0.0.1", 3306)) as proxy:
  proxy.set_mode("stall")` (the loop runs in a daemon thread; `proxy.port` is the listen port);
- by the drills, as a process with a line-based control port:
      python deploy/dev/faultproxy.py serve --listen 127.0.0.1:7300 --upstream 127.0.0.1:3306 \
          --control 127.0.0.1:7301
      python deploy/dev/faultproxy.py ctl --control 127.0.0.1:7301 latency 2000
  `ctl ... status` prints the mode and the number of open connections.

Standard library only, so every process (tests, drills, the stack scripts) can import it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

MODES = ("pass", "latency", "stall", "blackhole", "reset", "refuse")
CHUNK_BYTES = 65_536


@dataclass
class _State:
    mode: str = "pass"
    latency_ms: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


def _parse_mode(words: list[str]) -> tuple[str, int]:
    if not words or words[0] not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    mode = words[0]
    latency_ms = 0
    if mode == "latency":
        if len(words) != 2 or not words[1].isdigit():
            raise ValueError("latency needs milliseconds: `latency 2000`")
        latency_ms = int(words[1])
    return mode, latency_ms


def _hard_close(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), the way a crashed peer or a firewall reset looks."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Proxy:
    """The proxy's asyncio side: one listener, two pumps per connection."""

    def __init__(self, *, listen: tuple[str, int], upstream: tuple[str, int]) -> None:
        self.listen = listen
        self.upstream = upstream
        self.state = _State()
        self.server: asyncio.base_events.Server | None = None
        self.connections: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self.port = listen[1]

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._handle, self.listen[0], self.listen[1], reuse_address=True, backlog=1024
        )
        self.port = self.server.sockets[0].getsockname()[1]
        self.listen = (self.listen[0], self.port)

    async def set_mode(self, mode: str, latency_ms: int = 0) -> None:
        previous = self.state.mode
        self.state.mode, self.state.latency_ms = mode, latency_ms
        self.state.changed.set()
        self.state.changed = asyncio.Event()
        if mode in ("reset", "refuse"):
            for client, upstream in list(self.connections):
                _hard_close(client)
                if upstream is not None:
                    _hard_close(upstream)
        if mode == "refuse" and self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        elif previous == "refuse" and self.server is None:
            self.server = await asyncio.start_server(
                self._handle, self.listen[0], self.port, reuse_address=True, backlog=1024
            )
        logger.info("faultproxy mode=%s latency_ms=%s port=%s", mode, latency_ms, self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.state.mode in ("reset", "refuse"):
            _hard_close(writer)
            return
        pending = (writer, None)
        self.connections.add(pending)  # a mode change while connecting upstream applies too
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _hard_close(writer)
            return
        finally:
            self.connections.discard(pending)
        if self.state.mode in ("reset", "refuse") or writer.transport.is_closing():
            _hard_close(writer)
            _hard_close(up_writer)
            return
        entry = (writer, up_writer)
        self.connections.add(entry)
        try:
            await asyncio.gather(
                self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
            )
        finally:
            self.connections.discard(entry)
            for side in (writer, up_writer):
                with contextlib.suppress(Exception):
                    side.close()

    async def _wait_while_stalled(self) -> None:
        while self.state.mode == "stall":
            await self.state.changed.wait()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction; a writer task keeps order when chunks are delayed."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                item = await queue.get()
                if item is None:
                    break
                due, chunk = item
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._wait_while_stalled()
                if self.state.mode == "blackhole":
                    continue
                writer.write(chunk)
                await writer.drain()
            with contextlib.suppress(Exception):
                writer.write_eof()

        delivery = asyncio.create_task(deliver())
        try:
            while True:
                await self._wait_while_stalled()
                chunk = await reader.read(CHUNK_BYTES)
                if not chunk:
                    break
                if self.state.mode == "blackhole":
                    continue
                latency = self.state.latency_ms / 1000 if self.state.mode == "latency" else 0.0
                await queue.put((time.monotonic() + latency, chunk))
        finally:
            queue.put_nowait(None)
            with contextlib.suppress(Exception, asyncio.CancelledError):  # stop() cancels both
                await delivery

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Line protocol: `<mode> [ms]` → `ok <mode>`; `status` → `<mode> <ms> <connections>`."""
        try:
            line = (await reader.readline()).decode().split()
            if line == ["status"]:
                answer = f"{self.state.mode} {self.state.latency_ms} {len(self.connections)}"
            else:
                try:
                    mode, latency_ms = _parse_mode(line)
                    await self.set_mode(mode, latency_ms)
                    answer = f"ok {mode}"
                except ValueError as exc:
                    answer = f"error {exc}"
            writer.write(answer.encode() + b"\n")
            await writer.drain()
        finally:
            writer.close()


class FaultProxy:
    """In-process handle: the proxy runs on its own event loop in a daemon thread."""

    def __init__(
        self, *, upstream: tuple[str, int], listen: tuple[str, int] = ("127.0.0.1", 0)
    ) -> None:
        self._proxy = _Proxy(listen=listen, upstream=upstream)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._proxy.port

    @property
    def mode(self) -> str:
        return self._proxy.state.mode

    @property
    def open_connections(self) -> int:
        return len(self._proxy.connections)

    def start(self) -> FaultProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._proxy.start(), self._loop).result(timeout=5)
        return self

    def set_mode(self, mode: str, *, latency_ms: int = 0) -> None:
        _parse_mode([mode, str(latency_ms)] if mode == "latency" else [mode])
        future = asyncio.run_coroutine_threadsafe(
            self._proxy.set_mode(mode, latency_ms), self._loop
        )
        future.result(timeout=5)

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._proxy.server is not None:
                self._proxy.server.close()
            for client, upstream in list(self._proxy.connections):
                _hard_close(client)
                if upstream is not None:
                    _hard_close(upstream)

            current = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def fault_proxy(*, upstream: tuple[str, int]) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream=upstream).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def control(address: tuple[str, int], command: str, *, timeout_seconds: float = 5.0) -> str:
    """Send one control line to a running proxy process and return its answer."""
    with socket.create_connection(address, timeout=timeout_seconds) as sock:
        sock.sendall(command.encode() + b"\n")
        return sock.makefile().readline().strip()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


async def _serve(args: argparse.Namespace) -> None:
    proxy = _Proxy(listen=_address(args.listen), upstream=_address(args.upstream))
    await proxy.start()
    if args.mode:
        mode, latency_ms = _parse_mode(args.mode.split())
        await proxy.set_mode(mode, latency_ms)
    host, port = _address(args.control)
    control_server = await asyncio.start_server(proxy.control, host, port, reuse_address=True)
    logger.info(
        "faultproxy listening=%s upstream=%s control=%s", proxy.listen, args.upstream, args.control
    )
    async with control_server:
        await control_server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the proxy in the foreground")
    serve.add_argument("--listen", required=True, help="host:port to accept on")
    serve.add_argument("--upstream", required=True, help="host:port to forward to")
    serve.add_argument("--control", required=True, help="host:port of the control socket")
    serve.add_argument("--mode", default="", help="initial mode, e.g. 'latency 200'")
    ctl = commands.add_parser("ctl", help="change or read the mode of a running proxy")
    ctl.add_argument("--control", required=True)
    ctl.add_argument("words", nargs="+", help="status | pass | stall | latency MS | ...")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.command == "serve":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args))
        return 0
    answer = control(_address(args.control), " ".join(args.words))
    sys.stdout.write(answer + "\n")
    return 0 if not answer.startswith("error") else 1


if __name__ == "__main__":
    sys.exit(main())
