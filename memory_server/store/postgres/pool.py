"""A pool of async psycopg connections and the unit of work every write goes through.

A write is acknowledged only after COMMIT returns. A lock that cannot be had in time, a
serialization failure or a deadlock rolls the transaction back and becomes the same
"nothing was written; retry" error as on SQLite.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from memory_server.errors import StoreBusyError, StoreError

log = logging.getLogger(__name__)

# Errors after which the transaction wrote nothing and the same call may simply be retried.
_RETRYABLE = (pg_errors.LockNotAvailable, pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


class PostgresDatabase:
    """Owns the pool; `unit_of_work` hands out one transaction on one connection."""

    def __init__(self, url: str, *, lock_timeout_ms: int = 5000, min_size: int = 1, max_size: int = 8) -> None:
        self._url = url
        self._lock_timeout_ms = lock_timeout_ms
        self._pool = AsyncConnectionPool(
            url, min_size=min_size, max_size=max_size, open=False, configure=self._configure
        )

    async def _configure(self, connection: psycopg.AsyncConnection[Any]) -> None:
        from pgvector.psycopg import register_vector_async

        await register_vector_async(connection)
        # Lock waits end in a clear error rather than a hung request; set per session, not per query.
        await connection.execute(f"SET lock_timeout = {int(self._lock_timeout_ms)}")
        await connection.commit()

    async def open(self) -> None:
        try:
            await self._pool.open(wait=True, timeout=10)
        except Exception as error:
            raise StoreError(
                f"Cannot connect to PostgreSQL ({error}); check the database URL and that the server runs."
            ) from None

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """One transaction: committed when the block exits, rolled back on any error."""
        async with self._pool.connection() as connection:
            try:
                async with connection.transaction():
                    yield connection
            except _RETRYABLE as error:
                log.warning("transaction gave way: %s", type(error).__name__)
                raise StoreBusyError(
                    "Another instance held a lock on the same data for too long; nothing was written. "
                    "Retry the call in a moment."
                ) from None
            except psycopg.OperationalError as error:
                raise StoreError(f"The write could not be committed ({error}); nothing was saved. Retry.") from None
