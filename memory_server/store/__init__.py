"""The encrypted SQLite store: connection, keys, schema. Imports nothing from `mcp`."""

from memory_server.store.database import Database

__all__ = ["Database"]
