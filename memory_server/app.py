"""The running memory: store, embedder and services, opened together and closed together.

Both the MCP server and the CLI use this, so they act on the same domain code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from memory_server.clock import Clock, system_clock
from memory_server.config import Settings
from memory_server.embeddings import BackgroundEmbedder, Embedder
from memory_server.errors import MemoryServerError, StoreBusyError, StoreError
from memory_server.memory.checkpoints import CheckpointService
from memory_server.memory.context import ContextBuilder
from memory_server.memory.facts import FactService
from memory_server.memory.sessions import SessionService
from memory_server.memory.tool_calls import ToolCallService
from memory_server.store import Database

log = logging.getLogger(__name__)

OPEN_RETRY_SECONDS = 0.5


@dataclass
class Memory:
    settings: Settings
    db: Database
    embedder: Embedder
    facts: FactService
    context: ContextBuilder
    checkpoints: CheckpointService
    tool_calls: ToolCallService
    sessions: SessionService

    @property
    def user_id(self) -> str:
        return self.settings.user

    async def sweep(self) -> dict[str, int]:
        """Delete everything whose lifetime has ended. Returns counts per kind."""
        return {
            "facts": await self.facts.sweep_expired(),
            "threads": await self.checkpoints.sweep_expired(),
            "sessions": await self.sessions.sweep_expired(),
        }

    async def sweep_forever(self) -> None:
        """The sweeper: once at start (off the handshake's path), then every interval.
        A failed sweep is logged and tried again at the next interval."""
        interval = self.settings.sweep.interval_minutes * 60
        while True:
            try:
                swept = await self.sweep()
                log.info("swept %s", swept)
            except Exception:
                log.exception("sweep failed; will retry in %.0f minutes", interval / 60)
            await asyncio.sleep(interval)


@asynccontextmanager
async def open_memory(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    clock: Clock = system_clock,
    preload_model: bool = True,
    check_model: bool = True,
    encoder_threads: int | None = None,
    keep_vectors: bool = False,
) -> AsyncIterator[Memory]:
    """Open the store; with `preload_model`, start loading the model in the background now
    (nothing waits for it until a vector is needed). Without it, the first use loads it.
    `encoder_threads` overrides `embeddings.threads` (batch commands use more); `keep_vectors`
    holds fact vectors in memory (long-lived processes and batches: see store/vectors.py)."""
    own_embedder = embedder is None
    if embedder is None:
        background = BackgroundEmbedder(settings.embeddings, threads=encoder_threads)
        if preload_model:
            background.start()
        embedder = background
    try:
        async with Database.open(settings, clock=clock, check_model=check_model, keep_vectors=keep_vectors) as db:
            facts = FactService(db, embedder, settings)
            sessions = SessionService(db, embedder, settings, facts=facts)
            yield Memory(
                settings=settings,
                db=db,
                embedder=embedder,
                facts=facts,
                context=ContextBuilder(facts, sessions=sessions),
                checkpoints=CheckpointService(db, settings),
                tool_calls=ToolCallService(db, settings),
                sessions=sessions,
            )
    finally:
        if own_embedder and isinstance(embedder, BackgroundEmbedder):
            embedder.close()


class OpeningMemory:
    """The memory a server opens in the background, so the MCP handshake never waits for the
    key derivation, the schema or the model. Every call awaits `memory()`: it gets the open
    memory, or the error that kept it from opening (a wrong key, a newer schema...), whose
    message says what is wrong and how to fix it."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None, clock: Clock = system_clock) -> None:
        self.settings = settings
        self._embedder = embedder
        self._clock = clock
        self._opened: asyncio.Future[Memory] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def user_id(self) -> str:
        return self.settings.user

    def start(self) -> None:
        self._opened = asyncio.get_running_loop().create_future()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def memory(self) -> Memory:
        assert self._opened is not None, "start() first"
        return await asyncio.shield(self._opened)

    async def _run(self) -> None:
        while True:
            try:
                await self._serve()
                return
            except StoreBusyError as error:
                # Another process holds the write lock (it is migrating the same new file...):
                # the calls waiting now get "retry", and the next attempt serves the next ones.
                log.warning("store busy while opening; trying again: %s", error)
                self._fail(error)
                self._opened = asyncio.get_running_loop().create_future()
                await asyncio.sleep(OPEN_RETRY_SECONDS)
            except MemoryServerError as error:
                # One clear line, no traceback: every call will answer the same message.
                log.error("memory-server cannot open its store: %s", error)
                self._fail(error)
                return
            except asyncio.CancelledError:
                if self._opened is not None and not self._opened.done():
                    self._opened.cancel()
                raise
            except Exception as error:  # a defect, not a user's problem: keep the trace
                log.exception("memory-server cannot open its store")
                self._fail(
                    StoreError(f"The store could not be opened ({error}). Run `memory-server doctor` to see why.")
                )
                return

    async def _serve(self) -> None:
        async with open_memory(
            self.settings, embedder=self._embedder, clock=self._clock, preload_model=False, keep_vectors=True
        ) as memory:
            log.info("memory open: %s", memory.db.path)
            assert self._opened is not None
            self._opened.set_result(memory)
            await memory.facts.warm(memory.user_id)  # the default user's vectors, before the first search
            if self.settings.embeddings.preload:
                # Let the handshake's first exchanges finish before the encoder loads.
                await asyncio.sleep(self.settings.embeddings.preload_delay_seconds)
                memory.embedder.start()
            await memory.sweep_forever()

    def _fail(self, error: MemoryServerError) -> None:
        if self._opened is not None and not self._opened.done():
            self._opened.set_exception(error)
            self._opened.exception()  # retrieved here: callers that wait still receive it

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        if self._opened is not None and self._opened.done() and not self._opened.cancelled():
            self._opened.exception()
