"""Read-only view of the audit log: the user's latest audited changes and served facts."""

from __future__ import annotations

import json

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from memory_server.app import OpeningMemory
from memory_server.errors import InvalidInputError
from memory_server.memory.audit import AuditService
from memory_server.tools import view_memory
from memory_server.tools.users import view_registrar, view_user

SHOWN = 50


def register(server: MCPServer, opening: OpeningMemory, *, multi_user: bool = False) -> None:
    """`opening` gives the open memory, as for the other resources."""
    view = view_registrar(server, multi_user=multi_user)

    @view("audit", mime_type="application/json")
    async def audit_log(user_id: str | None = None) -> str:
        """The user's latest audit rows, newest first: ids and hashes of changes and of facts served."""
        memory = await view_memory(opening)
        try:
            user = view_user(multi_user, memory.user_id, user_id)
        except InvalidInputError as error:
            raise ResourceNotFoundError(str(error)) from None
        entries = await AuditService(memory.db).entries(user, limit=SHOWN)
        return json.dumps([entry.model_dump() for entry in entries], indent=2)
