"""Real services a test starts and stops itself (the machine's own Redis and PostgreSQL are never touched)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis


@dataclass
class RedisServer:
    """A ``redis-server`` of the test's own, and a client of it."""

    port: int
    proc: subprocess.Popen[bytes]
    client: redis.Redis

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        """Stop it as a crash would (SIGKILL): with no persistence, it comes back empty."""
        self.proc.kill()
        self.proc.wait(timeout=10)


@contextmanager
def redis_server(port: int) -> Iterator[RedisServer]:
    """``redis-server`` on ``port`` (loopback, no persistence), once it answers a ping; killed on exit."""
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    try:
        deadline = time.monotonic() + 10
        while not _pings(client):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        yield RedisServer(port, proc, client)
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
