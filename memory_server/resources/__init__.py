"""Read-only MCP views: server status and the default user context."""

from __future__ import annotations

import json
from collections.abc import Callable

from mcp.server.mcpserver import MCPServer

from memory_server import __version__
from memory_server.app import Memory


def register(server: MCPServer, current: Callable[[], Memory]) -> None:
    """`current` returns the open memory; static resources cannot receive a Context."""

    @server.resource("memory://status", mime_type="application/json")
    async def status() -> str:
        """Counts, database path, encryption and model state."""
        memory = current()
        features = await memory.db.features()
        return json.dumps(
            {
                "version": __version__,
                "user": memory.user_id,
                "database": str(memory.db.path),
                "encrypted": features["sqlcipher"] != "missing",
                "features": features,
                "embedding_model": memory.settings.embeddings.model,
                "model_state": memory.embedder.state,
                "facts": await memory.facts.count(memory.user_id),
                "schema": await memory.db.applied_migrations(),
            },
            indent=2,
        )

    @server.resource("memory://context", mime_type="text/plain")
    async def context() -> str:
        """What get_user_context returns with no query, as text."""
        memory = current()
        return (await memory.context.build(memory.user_id)).text
