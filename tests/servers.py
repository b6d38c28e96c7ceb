"""Throwaway helper servers for tests: free ports, and a redis-server of the test's own."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis


def free_port() -> int:
    """A port nothing listens on right now (bound to 0, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def throwaway_redis(*args: str, dir_path: str | None = None) -> Iterator[redis.Redis]:
    """Start `redis-server <args>` on a free loopback port (no persistence unless args say so),
    wait until it answers, yield a client, and stop it. Never touches the shared Redis."""
    own_dir = None if dir_path else tempfile.mkdtemp(prefix="test-redis-")
    dir_path = dir_path or own_dir
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", *args, "--port", str(port), "--bind", "127.0.0.1", "--dir", dir_path],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)
        if own_dir:
            shutil.rmtree(own_dir, ignore_errors=True)
