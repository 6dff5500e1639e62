"""The running memory: store, embedder and services, opened together and closed together.

Both the MCP server and the CLI use this, so they act on the same domain code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from memory_server.clock import Clock, system_clock
from memory_server.config import Settings
from memory_server.embeddings import BackgroundEmbedder, Embedder
from memory_server.memory.checkpoints import CheckpointService
from memory_server.memory.context import ContextBuilder
from memory_server.memory.facts import FactService
from memory_server.memory.sessions import SessionService
from memory_server.memory.tool_calls import ToolCallService
from memory_server.store import Database

log = logging.getLogger(__name__)


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
) -> AsyncIterator[Memory]:
    """Open the store; with `preload_model`, start loading the model in the background now
    (nothing waits for it until a vector is needed). Without it, the first use loads it."""
    own_embedder = embedder is None
    if embedder is None:
        background = BackgroundEmbedder(settings.embeddings)
        if preload_model:
            background.start()
        embedder = background
    try:
        async with Database.open(settings, clock=clock, check_model=check_model) as db:
            facts = FactService(db, embedder, settings)
            sessions = SessionService(db, embedder, settings)
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
