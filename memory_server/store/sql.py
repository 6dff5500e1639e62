"""The row-fetching helpers every store module uses, so reading rows is written once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiosqlite

Row = tuple[Any, ...]


async def fetch_all(conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> list[Row]:
    """Every row of `sql`, as plain tuples (never the driver's row objects)."""
    async with conn.execute(sql, params) as cursor:
        return [tuple(row) for row in await cursor.fetchall()]


async def fetch_one(conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Row | None:
    """The first row of `sql`, or None when there is none."""
    async with conn.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return tuple(row) if row is not None else None
