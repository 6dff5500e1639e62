"""The audit: what changed and which facts were shown, recorded in the same transaction as
the change, and a verifier that walks the hash chain.

Rows hold ids, counts and sha256 hashes, never text, so erasing a fact, a session or a
checkpoint erases its content everywhere. Audit rows are kept (no retention): they are small
and the chain is only provable whole.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import aiosqlite
from pydantic import BaseModel, Field

from memory_server.clock import iso
from memory_server.store import Database
from memory_server.store import audit as rows
from memory_server.store.audit import AuditRow

FACT_CREATED = "fact.created"
FACT_MERGED = "fact.merged"
FACT_SUPERSEDED = "fact.superseded"
FACT_FORGOTTEN = "fact.forgotten"
FACT_EXPIRED = "fact.expired"
FACTS_SERVED = "facts.served"
SESSION_CREATED = "session.created"
SESSION_COMPACTED = "session.compacted"
SESSION_CONSOLIDATED = "session.consolidated"
SESSION_EXPIRED = "session.expired"
CHECKPOINT_SAVED = "checkpoint.saved"
CHECKPOINT_RESTORED = "checkpoint.restored"
CHECKPOINT_EXPIRED = "checkpoint.expired"
TOOL_CALL_RECORDED = "tool_call.recorded"
RECORDS_REMOVED = "privacy.removed"  # stored before a stricter privacy rule; see memory/scan.py


class AuditEntry(BaseModel):
    """A row as one user sees it: without the chain's row id and hash, which would show when
    other users acted (the id counts their rows; the hash links to their rows)."""

    at: str
    user_id: str
    session_id: str | None = None
    action: str
    ids: list[int | str] = Field(description="Ids of the facts, sessions, checkpoints or calls concerned")
    detail: dict[str, Any] = Field(description="Counts and sha256 hashes; never content")


class ChainEntry(AuditEntry):
    """A row of the whole log, for whoever holds the key (`audit list --all-users`)."""

    id: int
    hash: str


class AuditReport(BaseModel):
    ok: bool
    rows: int = Field(description="Rows checked")
    head_id: int | None = Field(None, description="Id of the last row")
    head_hash: str | None = Field(
        None, description="Hash of the last row: note it to prove later rows were not rewritten"
    )
    problems: list[str] = Field(description="Every break in the chain found, first to last")


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def to_entry(row: AuditRow, *, chain: bool = False) -> AuditEntry:
    entry = AuditEntry(
        at=iso(row.at),
        user_id=row.user_id,
        session_id=row.session_id,
        action=row.action,
        ids=json.loads(row.ids),
        detail=json.loads(row.detail),
    )
    return ChainEntry(**entry.model_dump(), id=row.id, hash=row.hash) if chain else entry


async def record(
    conn: aiosqlite.Connection,
    now: float,
    user_id: str,
    action: str,
    ids: Sequence[int | str] = (),
    *,
    session_id: str | None = None,
    **detail: Any,
) -> None:
    """Append one row. Call inside the write transaction of the change it records."""
    await rows.append(conn, at=now, user_id=user_id, session_id=session_id, action=action, ids=ids, detail=detail)


async def fact_remembered(
    conn: aiosqlite.Connection,
    now: float,
    user_id: str,
    fact_id: int,
    status: str,
    content: str,
    *,
    supersedes: int | None,
    session_id: str | None,
) -> None:
    if status == "created":
        await record(conn, now, user_id, FACT_CREATED, [fact_id], session_id=session_id, content_sha256=sha256(content))
    else:
        await record(conn, now, user_id, FACT_MERGED, [fact_id], session_id=session_id)
    if supersedes is not None:
        await record(conn, now, user_id, FACT_SUPERSEDED, [supersedes], session_id=session_id, superseded_by=fact_id)


async def facts_served(
    conn: aiosqlite.Connection, now: float, user_id: str, ids: Sequence[int], *, via: str, session_id: str | None
) -> None:
    if ids:
        await record(conn, now, user_id, FACTS_SERVED, list(ids), session_id=session_id, via=via)


async def facts_expired(conn: aiosqlite.Connection, now: float, ids: Sequence[int]) -> None:
    """Call before the expired facts are erased (their owners are read from them)."""
    for user_id, owned in (await rows.fact_owners(conn, ids)).items():
        await record(conn, now, user_id, FACT_EXPIRED, owned, count=len(owned))


async def sessions_expired(conn: aiosqlite.Connection, now: float, ids: Sequence[str]) -> None:
    """Call before the expired sessions are erased."""
    for user_id, owned in (await rows.session_owners(conn, ids)).items():
        await record(conn, now, user_id, SESSION_EXPIRED, owned, count=len(owned))


async def threads_expired(conn: aiosqlite.Connection, now: float, cutoff: float) -> None:
    """Call before the threads last saved before `cutoff` are deleted."""
    for user_id, threads in (await rows.stale_threads(conn, cutoff)).items():
        await record(
            conn,
            now,
            user_id,
            CHECKPOINT_EXPIRED,
            [thread_id for thread_id, _ in threads],
            threads=len(threads),
            checkpoints=sum(count for _, count in threads),
        )


class AuditService:
    """Reads and verifies the audit log (writing happens inside each service's transactions)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def entries(self, user_id: str | None, *, limit: int = 50, session_id: str | None = None) -> list[AuditEntry]:
        """The newest rows, newest first: a user's, or (`user_id` None, CLI only) every user's
        with the chain's ids and hashes. Served-facts rows still waiting to be written (see
        `Database.defer`) are written first."""
        await self.db.flush_deferred()
        async with self.db.read() as conn:
            found = await rows.latest(conn, user_id, limit=limit, session_id=session_id)
        return [to_entry(row, chain=user_id is None) for row in found]

    async def head(self) -> AuditRow | None:
        """The last row: its hash is the anchor to keep outside (see `verify(expect_head=...)`)."""
        await self.db.flush_deferred()
        async with self.db.read() as conn:
            return await rows.last(conn)

    async def verify(self, *, expect_head: str | None = None) -> AuditReport:
        """Walk the whole chain: recompute each hash and check each link to the row before.

        `expect_head`, a head hash noted earlier: it must still be a row of the chain. The chain
        alone cannot show a cut end (someone with the key can delete the last rows and reset the
        id counter); a head kept elsewhere can, for every row up to it."""
        await self.db.flush_deferred()
        problems: list[str] = []
        count = 0
        previous: AuditRow | None = None
        anchored = expect_head is None
        async with self.db.read() as conn:
            async for row in rows.walk(conn):
                count += 1
                anchored = anchored or row.hash == expect_head
                expected_prev = previous.hash if previous else rows.GENESIS
                if row.prev_hash != expected_prev:
                    where = f"after row {previous.id}" if previous else "at the start"
                    problems.append(
                        f"row {row.id}: does not link to the row before it ({where}): a row was deleted, "
                        "inserted or reordered there"
                    )
                if row.expected_hash() != row.hash:
                    problems.append(f"row {row.id}: its fields do not match its hash: the row was edited")
                previous = row
            issued = await rows.highest_issued_id(conn)
            triggers = await rows.present_triggers(conn)
        last_id = previous.id if previous else 0
        if issued > last_id:
            problems.append(
                f"rows {last_id + 1} to {issued} were issued but are missing: the end of the log was deleted"
            )
        if not anchored:
            problems.append(
                f"the head you kept ({expect_head}) is not in the log: rows up to it were deleted or the chain was "
                "rewritten"
            )
        missing = sorted(set(rows.TRIGGERS) - triggers)
        if missing:
            problems.append(f"the append-only triggers {', '.join(missing)} were dropped")
        return AuditReport(
            ok=not problems,
            rows=count,
            head_id=previous.id if previous else None,
            head_hash=previous.hash if previous else None,
            problems=problems,
        )
