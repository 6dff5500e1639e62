"""Checkpoints: immutable snapshots of a thread's task state, so an agent resumes after a crash.

A thread is the caller's name for one task (`review-123`), scoped to the user. Each save
stores the state as canonical JSON with its sha256; a restore recomputes the hash and refuses
a mismatch rather than hand back a wrong state. A save's parent is the thread's latest
checkpoint unless `parent_id` names an older one (a branch). Only the newest N checkpoints of
a thread are kept, and a thread is deleted when it has had no save for `ttl_days`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiosqlite
from pydantic import BaseModel, Field

from memory_server.clock import iso
from memory_server.config import Settings
from memory_server.errors import InvalidInputError, NotFoundError, StoreError
from memory_server.memory import audit, privacy, text
from memory_server.memory.session_rules import check_session_id, live_summary, require_live_session
from memory_server.store import Database
from memory_server.store import checkpoints as rows
from memory_server.store.checkpoints import CheckpointRow, ThreadRow

log = logging.getLogger(__name__)

THREAD_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
MAX_STEP = 1_000_000_000
SECONDS_PER_DAY = 86_400.0
SHOWN_IN_ERRORS = 5


class CheckpointInfo(BaseModel):
    """A checkpoint without its state."""

    id: int
    parent_id: int | None = Field(None, description="The checkpoint this one continues from")
    step: int
    label: str | None = None
    session_id: str | None = None
    created_at: str
    size_bytes: int
    hash: str = Field(description="sha256 of the state as canonical JSON")


class SavedCheckpoint(BaseModel):
    thread_id: str
    checkpoint_id: int
    parent_id: int | None
    step: int
    size_bytes: int
    hash: str
    created_at: str
    pruned: int = Field(description="Older checkpoints of the thread deleted by retention")
    redacted: list[str] = Field(
        default_factory=list, description="Kinds of personal data replaced in the state, e.g. email -> [email]"
    )


class RestoredCheckpoint(BaseModel):
    thread_id: str
    checkpoint_id: int
    parent_id: int | None
    step: int
    label: str | None = None
    session_id: str | None = None
    created_at: str
    size_bytes: int
    hash: str
    verified: bool = Field(True, description="The state matched its hash")
    state: dict[str, Any]


class CheckpointHistory(BaseModel):
    thread_id: str
    checkpoints: list[CheckpointInfo] = Field(description="Newest first")
    total: int = Field(description="Checkpoints the thread holds")
    keep_per_thread: int
    expires_at: str = Field(description="When the thread is deleted unless saved to again")


class ThreadInfo(BaseModel):
    thread_id: str
    checkpoints: int
    latest_checkpoint_id: int
    latest_step: int
    first_saved_at: str
    last_saved_at: str
    expires_at: str


@dataclass(frozen=True)
class NewCheckpoint:
    thread_id: str
    state: Mapping[str, Any]
    step: int | None = None
    label: str | None = None
    session_id: str | None = None
    parent_id: int | None = None


@dataclass(frozen=True)
class ResumePoint:
    checkpoint: RestoredCheckpoint
    summary: str | None


def canonical_json(state: Mapping[str, Any]) -> str:
    """One text per value: sorted keys, no spaces, UTF-8 as is. Its hash names the content."""
    if not isinstance(state, Mapping):
        raise InvalidInputError("state must be a JSON object ({...}), not a list or a single value.")
    try:
        encoded = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        encoded.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidInputError(
            f"state cannot be stored as JSON ({error}). Send an object of strings, finite numbers, booleans, "
            "null, arrays and objects."
        ) from None
    return encoded


def nesting_depth(value: Any, stop_after: int) -> int:
    """Levels of objects and arrays in `value` (a scalar is 0), counted without recursion and
    only up to `stop_after` + 1, so a hostile value costs no more than the limit."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping | list | tuple):
            depth += 1
            if depth > stop_after:
                return depth
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, Mapping) else item
            stack.extend((child, depth) for child in children)
    return deepest


def content_hash(canonical: str) -> str:
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def to_info(row: CheckpointRow) -> CheckpointInfo:
    return CheckpointInfo(
        id=row.id,
        parent_id=row.parent_id,
        step=row.step,
        label=row.label,
        session_id=row.session_id,
        created_at=iso(row.created_at),
        size_bytes=row.size,
        hash=row.hash,
    )


def describe(row: CheckpointRow) -> str:
    label = f" {row.label!r}" if row.label else ""
    return f"{row.id} (step {row.step}{label}, {iso(row.created_at)})"


def checkpoint_write(thread_id: str, label: str | None, state: Any) -> privacy.Write:
    """A checkpoint as the privacy policy sees it (shared with import)."""
    return privacy.Write("checkpoints", names={"label": label}, handles={"thread_id": thread_id}, data={"state": state})


class CheckpointService:
    """Save, restore and list checkpoints of a user's threads; sweep expired threads."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    @property
    def now(self) -> float:
        return self.db.clock()

    def _ttl_seconds(self) -> float:
        return self.settings.checkpoints.ttl_days * SECONDS_PER_DAY

    # -- validation ----------------------------------------------------------------------

    def check_thread_id(self, thread_id: str) -> str:
        limit = self.settings.checkpoints.max_thread_id_chars
        if len(thread_id) > limit or not re.fullmatch(THREAD_ID_PATTERN, thread_id):
            raise InvalidInputError(
                f"thread_id must be 1-{limit} characters of letters, digits, '.', '_' or '-', starting with a "
                f"letter or digit (like 'review-123'); got {privacy.quoted(thread_id, 40)}."
            )
        return thread_id

    def _check_label(self, label: str | None) -> str | None:
        if label is None or not label.strip():
            return None
        limit = self.settings.checkpoints.max_label_chars
        label = text.check_text(label, field="label").strip()
        if len(label) > limit:
            raise InvalidInputError(f"label is longer than {limit} characters. Use a short name like 'file 8 done'.")
        return label

    def _within_limits(self, state: Mapping[str, Any]) -> Mapping[str, Any]:
        """Valid JSON within the depth and size limits, before the privacy policy walks it."""
        self._check_state(state)
        return state

    def _check_state(self, state: Mapping[str, Any]) -> tuple[str, int]:
        deepest = self.settings.checkpoints.max_state_depth
        if nesting_depth(state, deepest) > deepest:
            raise InvalidInputError(
                f"state is nested more than {deepest} levels deep. Nothing was saved. Flatten it: keep lists of "
                "ids and short records, not deeply nested structures."
            )
        canonical = canonical_json(state)
        size = len(canonical.encode("utf-8"))
        limit = self.settings.checkpoints.max_state_bytes
        if size > limit:
            raise InvalidInputError(
                f"state is {size} bytes as JSON; the limit is {limit} bytes ({limit / 1024:g} KiB). Nothing was "
                "saved. Keep ids, paths, counters and short summaries in the state, not raw data such as file "
                "contents, documents or tool outputs: store those elsewhere and keep a reference to them."
            )
        return canonical, size

    # -- save ----------------------------------------------------------------------------

    async def save(self, user_id: str, new: NewCheckpoint) -> SavedCheckpoint:
        checked = privacy.PrivacyPolicy(self.settings.privacy).check(
            checkpoint_write(new.thread_id, new.label, self._within_limits(new.state))
        )
        thread_id = self.check_thread_id(checked.value["thread_id"])
        label = self._check_label(checked.value["label"])
        session_id = check_session_id(new.session_id) if new.session_id is not None else None
        if new.step is not None and not 0 <= new.step <= MAX_STEP:
            raise InvalidInputError(f"step must be between 0 and {MAX_STEP}; omit it to count on from the parent.")
        if new.parent_id is not None and new.parent_id < 1:
            raise InvalidInputError("parent_id must be a checkpoint id from list_checkpoints; omit it to continue.")
        canonical, size = self._check_state(checked.value["state"])
        digest = content_hash(canonical)
        keep = self.settings.checkpoints.keep_per_thread

        async with self.db.write() as conn:
            now = self.now
            if session_id is not None:
                await require_live_session(conn, user_id, session_id, now)
            if new.parent_id is not None:
                parent = await rows.get_checkpoint(conn, user_id, thread_id, new.parent_id)
                if parent is None:
                    raise await self._not_found(conn, user_id, thread_id, new.parent_id, what="parent_id")
            else:
                latest = await rows.latest_checkpoints(conn, user_id, thread_id, 1)
                parent = latest[0] if latest else None
            step = new.step if new.step is not None else (parent.step + 1 if parent else 1)
            checkpoint_id = await rows.insert_checkpoint(
                conn,
                user_id=user_id,
                thread_id=thread_id,
                parent_id=parent.id if parent else None,
                step=step,
                label=label,
                session_id=session_id,
                state=canonical,
                size=size,
                hash=digest,
                now=now,
            )
            pruned = await rows.prune_thread(conn, user_id, thread_id, keep)
            await audit.record(
                conn,
                now,
                user_id,
                audit.CHECKPOINT_SAVED,
                [checkpoint_id],
                session_id=session_id,
                thread_id=thread_id,
                step=step,
                state_sha256=digest,
                pruned=pruned,
            )
        log.info("checkpoint %d saved for thread %s (step %d, %d bytes)", checkpoint_id, thread_id, step, size)
        return SavedCheckpoint(
            thread_id=thread_id,
            checkpoint_id=checkpoint_id,
            parent_id=parent.id if parent else None,
            step=step,
            size_bytes=size,
            hash=digest,
            created_at=iso(now),
            pruned=pruned,
            redacted=checked.redacted,
        )

    # -- restore -------------------------------------------------------------------------

    async def restore(self, user_id: str, thread_id: str, checkpoint_id: int | None = None) -> RestoredCheckpoint:
        """The latest checkpoint of the thread, or the one named, with its state verified.

        Raises:
            NotFoundError: no such thread or checkpoint for this user (the message lists what exists).
            StoreError: the stored state no longer matches its hash; nothing is returned.
        """
        thread_id = self.check_thread_id(thread_id)
        async with self.db.read() as conn:
            if checkpoint_id is None:
                latest = await rows.latest_checkpoints(conn, user_id, thread_id, 1)
                row = latest[0] if latest else None
            else:
                row = await rows.get_checkpoint(conn, user_id, thread_id, checkpoint_id)
            if row is None:
                raise await self._not_found(conn, user_id, thread_id, checkpoint_id, what="checkpoint_id")
            stored = await rows.checkpoint_state(conn, user_id, row.id)
        state = self._verified(row, stored)
        async with self.db.write() as conn:
            await audit.record(
                conn, self.now, user_id, audit.CHECKPOINT_RESTORED, [row.id], thread_id=thread_id, step=row.step
            )
        info = to_info(row)
        return RestoredCheckpoint(
            thread_id=thread_id, checkpoint_id=info.id, **info.model_dump(exclude={"id"}), verified=True, state=state
        )

    def _verified(self, row: CheckpointRow, stored: str | None) -> dict[str, Any]:
        state: Any = None
        if stored is not None and content_hash(stored) == row.hash:
            try:
                state = json.loads(stored)
            except ValueError:
                state = None
        if not isinstance(state, dict):
            log.error("checkpoint %d of thread %s failed its integrity check", row.id, row.thread_id)
            parent = f"its parent is {row.parent_id}" if row.parent_id else "it has no parent"
            raise StoreError(
                f"Checkpoint {row.id} of thread {row.thread_id!r} failed its integrity check: the stored state "
                f"does not match the sha256 recorded when it was saved ({row.hash[:12]}...), so it was not "
                f"returned. Restore an earlier checkpoint with checkpoint_id ({parent}; list_checkpoints shows "
                "the others)."
            )
        return state

    # -- list ----------------------------------------------------------------------------

    async def history(self, user_id: str, thread_id: str, *, limit: int = 20) -> CheckpointHistory:
        """The thread's checkpoints, newest first.

        Raises:
            NotFoundError: the user has no such thread.
        """
        thread_id = self.check_thread_id(thread_id)
        largest = self.settings.checkpoints.max_list
        if not 1 <= limit <= largest:
            raise InvalidInputError(f"limit must be between 1 and {largest}.")
        async with self.db.read() as conn:
            found = await rows.latest_checkpoints(conn, user_id, thread_id, limit)
            if not found:
                raise await self._not_found(conn, user_id, thread_id, None, what="thread_id")
            total = await rows.count_checkpoints(conn, user_id, thread_id)
        return CheckpointHistory(
            thread_id=thread_id,
            checkpoints=[to_info(row) for row in found],
            total=total,
            keep_per_thread=self.settings.checkpoints.keep_per_thread,
            expires_at=iso(found[0].created_at + self._ttl_seconds()),
        )

    async def threads(self, user_id: str, *, limit: int = 100) -> list[ThreadInfo]:
        """The user's threads, most recently saved first."""
        async with self.db.read() as conn:
            found = await rows.list_threads(conn, user_id, limit)
        return [self._thread_info(row) for row in found]

    def _thread_info(self, row: ThreadRow) -> ThreadInfo:
        return ThreadInfo(
            thread_id=row.thread_id,
            checkpoints=row.checkpoints,
            latest_checkpoint_id=row.latest_id,
            latest_step=row.latest_step,
            first_saved_at=iso(row.first_at),
            last_saved_at=iso(row.last_at),
            expires_at=iso(row.last_at + self._ttl_seconds()),
        )

    async def resume_point(self, user_id: str, thread_id: str) -> ResumePoint:
        """The latest verified checkpoint and, when it names a live session with a summary, that summary."""
        checkpoint = await self.restore(user_id, thread_id)
        summary = None
        if checkpoint.session_id is not None:
            async with self.db.read() as conn:
                summary = await live_summary(conn, user_id, checkpoint.session_id, self.now)
        return ResumePoint(checkpoint=checkpoint, summary=summary)

    async def _not_found(
        self, conn: aiosqlite.Connection, user_id: str, thread_id: str, checkpoint_id: int | None, *, what: str
    ) -> NotFoundError:
        latest = await rows.latest_checkpoints(conn, user_id, thread_id, SHOWN_IN_ERRORS)
        if latest:
            keep = self.settings.checkpoints.keep_per_thread
            return NotFoundError(
                f"{what}: thread {thread_id!r} has no checkpoint {checkpoint_id} (only its newest {keep} are "
                f"kept). Its latest checkpoints: {'; '.join(describe(row) for row in latest)}. Use one of these "
                "ids, or omit the id for the latest."
            )
        threads = await rows.list_threads(conn, user_id, SHOWN_IN_ERRORS)
        known = (
            f"Your most recent threads: {', '.join(repr(t.thread_id) for t in threads)}."
            if threads
            else "You have no threads with checkpoints yet."
        )
        return NotFoundError(
            f"Unknown thread {thread_id!r}: it has no checkpoints (never saved, or expired "
            f"{self.settings.checkpoints.ttl_days:g} days after its last save). {known} Check the thread_id, "
            "or start the thread with save_checkpoint."
        )

    # -- lifetime ------------------------------------------------------------------------

    async def sweep_expired(self) -> int:
        """Physically delete every thread whose last save is older than the TTL; returns how many."""
        async with self.db.write() as conn:
            await audit.threads_expired(conn, self.now, self.now - self._ttl_seconds())
            threads, checkpoints = await rows.delete_threads_saved_before(conn, self.now - self._ttl_seconds())
        if threads:
            log.info("swept %d expired threads (%d checkpoints)", threads, checkpoints)
        return threads
