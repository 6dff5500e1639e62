"""The row-fetching helpers every store module uses, so reading rows is written once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiosqlite

Row = tuple[Any, ...]


async def fetch_all(conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> list[Row]:
    """Every row of `sql`, as plain tuples (never the driver's row objects). One trip to the
    driver's thread (a cursor would take three: execute, fetch, close), which on the hot path
    is most of a query's cost."""
    return [tuple(row) for row in await conn.execute_fetchall(sql, params)]


async def fetch_one(conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Row | None:
    """The only row of a query of one row (a count, a LIMIT 1), or None when there is none."""
    rows = await fetch_all(conn, sql, params)
    return rows[0] if rows else None
