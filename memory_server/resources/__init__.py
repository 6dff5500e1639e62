"""Read-only MCP views: server status and the default user context."""

from __future__ import annotations

import json

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from memory_server import __version__
from memory_server.app import OpeningMemory
from memory_server.errors import InvalidInputError
from memory_server.tools import view_memory
from memory_server.tools.users import view_registrar, view_user


def register(server: MCPServer, opening: OpeningMemory, *, multi_user: bool = False) -> None:
    """`opening` gives the open memory; static resources cannot receive a Context."""
    view = view_registrar(server, multi_user=multi_user)

    @server.resource("memory://status", mime_type="application/json")
    async def status() -> str:
        """Counts, database path, encryption and model state."""
        memory = await view_memory(opening)
        features = await memory.db.features()
        return json.dumps(
            {
                "version": __version__,
                "user": None if multi_user else memory.user_id,
                "multi_user": multi_user,
                "database": str(memory.db.path),
                "encrypted": features["sqlcipher"] != "missing",
                "features": features,
                "embedding_model": memory.settings.embeddings.model,
                "model_state": memory.embedder.state,
                "facts": None if multi_user else await memory.facts.count(memory.user_id),
                "schema": await memory.db.applied_migrations(),
            },
            indent=2,
        )

    @view("context", mime_type="text/plain")
    async def context(user_id: str | None = None) -> str:
        """What get_user_context returns with no query, as text."""
        memory = await view_memory(opening)
        try:
            user = view_user(multi_user, memory.user_id, user_id)
        except InvalidInputError as error:
            raise ResourceNotFoundError(str(error)) from None
        return (await memory.context.build(user)).text
