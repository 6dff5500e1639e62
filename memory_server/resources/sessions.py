"""Read-only view of a conversation session: its summary and recent messages."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from memory_server.app import OpeningMemory
from memory_server.errors import InvalidInputError
from memory_server.tools import view_memory
from memory_server.tools.users import view_registrar, view_user


def register(server: MCPServer, opening: OpeningMemory, *, multi_user: bool = False) -> None:
    """`opening` gives the open memory, as for the other resources."""
    view = view_registrar(server, multi_user=multi_user)

    @view("sessions/{session_id}", mime_type="application/json")
    async def session(session_id: str, user_id: str | None = None) -> str:
        """A session's system messages, running summary and most recent messages."""
        memory = await view_memory(opening)
        try:
            found = await memory.sessions.context(view_user(multi_user, memory.user_id, user_id), session_id)
        except InvalidInputError as error:
            raise ResourceNotFoundError(str(error)) from None
        return found.model_dump_json(indent=2)
