"""One encrypted connection per process, driven through aiosqlite, with explicit transactions.

Concurrency model: every process (each MCP host starts its own) has one connection. Inside a
process an asyncio lock serializes units of work, so one coroutine's transaction never sees
another's statements. Across processes SQLite's WAL lets readers run beside one writer;
writers take the lock up front with `BEGIN IMMEDIATE`, waiting up to `busy_timeout`, and
the whole attempt is retried a bounded number of times before the call fails loudly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from memory_server.clock import Clock, system_clock
from memory_server.config import Settings
from memory_server.errors import ModelMismatchError, SchemaError, StoreBusyError, StoreError
from memory_server.store import connection, rekey
from memory_server.store import meta as meta_keys
from memory_server.store.keys import DatabaseKey, key_file_key, passphrase_key
from memory_server.store.migrations import MIGRATIONS, Migration, SchemaContext
from memory_server.store.sql import Row, fetch_all, fetch_one

if TYPE_CHECKING:
    from memory_server.store.vectors import VectorIndex

log = logging.getLogger(__name__)

Deferred = Callable[[aiosqlite.Connection], Awaitable[None]]


def resolve_key(settings: Settings) -> DatabaseKey:
    if settings.passphrase is not None:
        return passphrase_key(settings.passphrase.get_secret_value())
    path = settings.database_path
    exists = path.exists() and path.stat().st_size > 0
    return key_file_key(settings.key_file_path, database_exists=exists)


class Database:
    """The open store. Use `async with Database.open(settings) as db:`."""

    def __init__(
        self, conn: aiosqlite.Connection, settings: Settings, clock: Clock, *, keep_vectors: bool = False
    ) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.settings = settings
        self.path = settings.database_path
        self.clock = clock
        self._deferred: list[Deferred] = []
        self._flush: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()
        self.vectors = _vector_index(settings) if keep_vectors else None
        """In-memory vectors for a long-lived process (see store/vectors.py); None: scan the file."""

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        key: DatabaseKey | None = None,
        check_model: bool = True,
        keep_vectors: bool = False,
    ) -> AsyncIterator[Database]:
        """Connect, check the key, migrate and check the embedding model: no half-open store.
        `check_model=False` is for `reindex` only, which changes the recorded model itself;
        `keep_vectors` is for long-lived processes, whose searches then read vectors from memory."""
        # An interrupted `memory-server rekey` may have left the working key in memory.key.new.
        key = key or await asyncio.to_thread(rekey.recover, settings) or resolve_key(settings)
        path: Path = settings.database_path

        # Connect (and check the key) before aiosqlite's thread exists, so a refusal leaves
        # nothing running; the checked connection is then handed to that thread.
        raw = await asyncio.to_thread(
            connection.connect,
            path,
            key,
            busy_timeout_ms=settings.store.busy_timeout_ms,
            synchronous=settings.store.synchronous,
            cache_mib=settings.store.cache_mib,
        )
        conn = aiosqlite.Connection(lambda: raw, iter_chunk_size=256)
        await conn
        db = cls(conn, settings, clock, keep_vectors=keep_vectors)
        try:
            await db._migrate()
            if check_model:
                await db._check_model()
            yield db
        finally:
            try:
                await db._close_deferred()
            finally:
                await conn.close()

    # -- units of work -------------------------------------------------------------------

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """A consistent snapshot for several reads."""
        async with self._lock:
            await self._begin("BEGIN")
            try:
                yield self._conn
            finally:
                await self._conn.execute("COMMIT")

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction: committed durably when the block exits, rolled back on error.
        Deferred bookkeeping (see `defer`) rides along in the same transaction."""
        async with self._lock:
            await self._begin_immediate()
            riders, self._deferred = self._deferred, []
            if self.vectors is not None:
                self.vectors.begin()
            try:
                await self._run_deferred(riders)
                yield self._conn
            except BaseException:
                await self._rolled_back(riders)  # not written: they wait for the next write
                raise
            try:
                await self._conn.execute("COMMIT")
            except connection.DriverError as error:
                await self._rolled_back(riders)
                raise StoreError(f"The write could not be committed ({error}); nothing was saved. Retry.") from None
            if self.vectors is not None:
                self.vectors.commit()

    async def _rolled_back(self, riders: list[Deferred]) -> None:
        self._deferred[:0] = riders
        if self.vectors is not None:
            self.vectors.rollback()
        await self._conn.rollback()

    # -- deferred bookkeeping ------------------------------------------------------------

    def defer(self, work: Deferred) -> None:
        """Write `work` with the next transaction, or within `store.deferred_flush_ms` if none
        comes: for bookkeeping of reads (use counts, the audit of served facts), so a read makes
        no durable write of its own. A crash loses at most that window of bookkeeping."""
        self._deferred.append(work)
        if self._flush is None:
            delay = self.settings.store.deferred_flush_ms / 1000
            self._flush = asyncio.get_running_loop().call_later(delay, self._start_flush)

    def _start_flush(self) -> None:
        self._flush = None
        task = asyncio.get_running_loop().create_task(self.flush_deferred())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def flush_deferred(self) -> None:
        """Write pending bookkeeping now (tests, shutdown)."""
        if not self._deferred:
            return
        try:
            async with self.write():
                pass
        except StoreError as error:  # busy: they stay queued for the next write or flush
            log.warning("deferred bookkeeping not written yet: %s", error)
            if self._deferred and self._flush is None:
                delay = self.settings.store.deferred_flush_ms / 1000
                self._flush = asyncio.get_running_loop().call_later(delay, self._start_flush)

    async def _run_deferred(self, riders: list[Deferred]) -> None:
        for work in riders:
            # Each in a savepoint: bookkeeping that fails (its fact was erased meanwhile) is
            # dropped without taking the caller's write with it.
            await self._conn.execute("SAVEPOINT deferred")
            try:
                await work(self._conn)
            except connection.DriverError as error:
                log.warning("dropped deferred bookkeeping: %s", error)
                await self._conn.execute("ROLLBACK TO deferred")
            await self._conn.execute("RELEASE deferred")

    async def _close_deferred(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        for task in list(self._flushing):
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        with suppress(StoreError):
            await self.flush_deferred()

    async def _begin(self, statement: str) -> None:
        """Start a transaction. aiosqlite queues the statement before awaiting it, so if this
        call is cancelled (a client's notifications/cancelled, a timeout) the BEGIN still runs
        later; a rollback queued behind it keeps the connection from being left inside a
        transaction, holding the write lock for every process."""
        try:
            await self._conn.execute(statement)
        except BaseException:
            await asyncio.shield(self._conn.rollback())
            raise

    async def _begin_immediate(self) -> None:
        attempts = self.settings.store.write_attempts
        started = time.monotonic()
        for attempt in range(1, attempts + 1):
            try:
                await self._begin("BEGIN IMMEDIATE")
                return
            except connection.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                log.warning("write lock busy (attempt %d of %d)", attempt, attempts)
                await asyncio.sleep(0.01 * attempt)
        waited = time.monotonic() - started
        raise StoreBusyError(
            f"Another process held the database write lock for {waited:.1f}s; nothing was written. "
            "Retry the call in a moment."
        )

    async def fetchall(self, conn: aiosqlite.Connection, sql: str, params: Any = ()) -> list[Row]:
        return await fetch_all(conn, sql, params)

    async def fetchone(self, conn: aiosqlite.Connection, sql: str, params: Any = ()) -> Row | None:
        return await fetch_one(conn, sql, params)

    async def scalar(self, sql: str, params: Any = ()) -> Any:
        async with self.read() as conn:
            row = await self.fetchone(conn, sql, params)
        return row[0] if row else None

    # -- schema --------------------------------------------------------------------------

    async def applied_migrations(self) -> list[str]:
        async with self.read() as conn:
            return await self._applied(conn)

    async def _applied(self, conn: aiosqlite.Connection) -> list[str]:
        exists = await self.fetchone(
            conn, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        )
        if not exists:
            return []
        return [row[0] for row in await self.fetchall(conn, "SELECT name FROM schema_migrations ORDER BY name")]

    async def _migrate(self) -> None:
        known = [m.name for m in MIGRATIONS]
        applied = await self.applied_migrations()
        unknown = sorted(set(applied) - set(known))
        if unknown:
            raise SchemaError(
                f"{self.path} was written by a newer memory-server (schema steps {', '.join(unknown)}). "
                "Upgrade memory-server; this version will not touch the file."
            )
        context = SchemaContext(embedding_dimension=self.settings.embeddings.dimension)
        for migration in MIGRATIONS:
            if migration.name not in applied:
                await self._apply(migration, context)

    async def _apply(self, migration: Migration, context: SchemaContext) -> None:
        async with self.write() as conn:
            # Another process may have applied it while this one waited for the lock.
            if migration.name in await self._applied(conn):
                return
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            try:
                for statement in migration.statements(context):
                    await conn.execute(statement)
            except connection.DriverError as error:
                raise SchemaError(
                    f"Schema step {migration.name} failed on {self.path}: {error}. The database was left "
                    "as it was before the step. Report this with `memory-server doctor` output."
                ) from error
            await conn.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", (migration.name, self.clock())
            )
            log.info("applied schema step %s", migration.name)

    async def _check_model(self) -> None:
        """Record the embedding model on first use; refuse a database embedded with another.

        A read on every start; the write lock only the first time, so a server starting
        beside a busy one never waits for it."""
        model = self.settings.embeddings.model
        dimension = str(self.settings.embeddings.dimension)
        async with self.read() as conn:
            rows = await self._model_record(conn)
        if not rows:
            async with self.write() as conn:
                # OR IGNORE: another process may have recorded its model in the meantime.
                await conn.executemany(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                    [
                        (meta_keys.EMBEDDING_MODEL, model),
                        (meta_keys.EMBEDDING_DIMENSION, dimension),
                        (meta_keys.CREATED_AT, str(self.clock())),
                    ],
                )
                rows = await self._model_record(conn)
        if meta_keys.REINDEX_TARGET_MODEL in rows:
            # Half the vectors may be of the new model (or the table of the new size).
            raise ModelMismatchError(
                f"{self.path} is being re-embedded with model {rows[meta_keys.REINDEX_TARGET_MODEL]!r} and the run "
                "has not finished. Run `memory-server reindex` (it resumes) with that model configured."
            )
        if rows.get(meta_keys.EMBEDDING_MODEL) != model or rows.get(meta_keys.EMBEDDING_DIMENSION) != dimension:
            raise ModelMismatchError(
                f"{self.path} holds embeddings of model {rows.get(meta_keys.EMBEDDING_MODEL)!r} "
                f"(dimension {rows.get(meta_keys.EMBEDDING_DIMENSION)}), but the configured model is {model!r} "
                f"(dimension {dimension}). Set embeddings.model back, or run `memory-server reindex` "
                "to re-embed every fact with the configured model."
            )

    async def _model_record(self, conn: aiosqlite.Connection) -> dict[str, str]:
        wanted = (meta_keys.EMBEDDING_MODEL, meta_keys.EMBEDDING_DIMENSION, meta_keys.REINDEX_TARGET_MODEL)
        return dict(await self.fetchall(conn, "SELECT key, value FROM meta WHERE key IN (?, ?, ?)", wanted))

    async def meta(self) -> dict[str, str]:
        async with self.read() as conn:
            return dict(await self.fetchall(conn, "SELECT key, value FROM meta"))

    async def set_meta(self, conn: aiosqlite.Connection, key: str, value: str) -> None:
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def features(self) -> dict[str, str]:
        """Versions of what the store relies on, for `doctor` and the status resource."""
        async with self.read() as conn:
            cipher = await self.fetchone(conn, "PRAGMA cipher_version")
            options = {row[0] for row in await self.fetchall(conn, "PRAGMA compile_options")}
            vec = await self.fetchone(conn, "SELECT vec_version()")
        return {
            "sqlite": connection.SQLITE_VERSION,
            "sqlcipher": cipher[0] if cipher else "missing",
            "sqlite_vec": vec[0] if vec else "missing",
            "fts5": "yes" if "ENABLE_FTS5" in options else "no",
        }


def _vector_index(settings: Settings) -> VectorIndex | None:
    mib = settings.store.vector_cache_mib
    if not mib:
        return None
    # Imported here, not at the top: numpy comes with it, and the MCP handshake need not wait for it.
    from memory_server.store.vectors import VectorIndex

    return VectorIndex(settings.embeddings.dimension, mib << 20)
