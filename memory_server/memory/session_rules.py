"""The rules every layer applies to a session id, in one place: its shape, the one answer for
an unknown, expired or another user's session, and that naming a live session counts as
activity. Sessions, tool calls, checkpoints and facts all refer to sessions through these."""

from __future__ import annotations

import re
import secrets

import aiosqlite

from memory_server.errors import NotFoundError
from memory_server.memory import privacy, text
from memory_server.store import sessions as rows

SESSION_ID_PATTERN = re.compile(r"^ses_[A-Za-z0-9_-]{16,64}$")
"""The ids this server issues (see `new_session_id`)."""
MAX_SESSION_ID_CHARS = 128
"""Longer is refused before any lookup (a caller may send any text as a session id)."""


def new_session_id() -> str:
    """128 random bits, URL-safe."""
    return "ses_" + secrets.token_urlsafe(16)


def unknown_session(session_id: str) -> NotFoundError:
    """The sessions layer's answer: unknown, expired and another user's look the same."""
    return NotFoundError(
        f"Unknown or expired session {privacy.quoted(session_id, 64)}. Sessions end after a period without activity. "
        "Call append_messages without session_id to start a new session, and use the id it returns."
    )


def check_session_id(session_id: str) -> str:
    if not session_id.strip() or len(session_id) > MAX_SESSION_ID_CHARS:
        raise unknown_session(session_id)
    text.check_text(session_id, field="session_id")
    return session_id


async def require_live_session(conn: aiosqlite.Connection, user_id: str, session_id: str, now: float) -> None:
    """Refuse a session that is missing, expired or another user's (all look the same);
    otherwise count this as activity. Call inside a write transaction."""
    ttl_hours = await rows.live_session_ttl(conn, user_id, session_id, now)
    if ttl_hours is None:
        raise unknown_session(session_id)
    await rows.touch_session(conn, session_id, ttl_hours, now)


async def live_summary(conn: aiosqlite.Connection, user_id: str, session_id: str, now: float) -> str | None:
    """The latest summary of the user's session while it is live; None otherwise."""
    if await rows.get_live_session(conn, user_id, session_id, now) is None:
        return None
    summary = await rows.latest_summary(conn, session_id)
    return summary.content if summary is not None else None
