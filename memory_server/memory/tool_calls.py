"""The tool-call audit: one row per call an agent reports, and run totals per session.

Long inputs and outputs are not stored whole: a head, the full length and the sha256 of the
whole text are kept, so a person debugging a run can see what happened and check a copy
they hold elsewhere, without the audit growing with every large tool result.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Literal, cast

from pydantic import BaseModel, Field

from memory_server.clock import iso
from memory_server.config import Settings
from memory_server.errors import InvalidInputError
from memory_server.memory import audit, privacy, text
from memory_server.memory.session_rules import check_session_id, require_live_session, unknown_session
from memory_server.store import Database
from memory_server.store import sessions as session_rows
from memory_server.store import tool_calls as rows
from memory_server.store.tool_calls import StoredText, ToolCallRow, TotalsRow

log = logging.getLogger(__name__)

ToolStatus = Literal["ok", "error", "timeout", "cancelled"]
STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "cancelled")
MAX_DURATION_MS = 7 * 86_400_000.0
MAX_TOKENS = 1_000_000_000
MAX_COST_USD = 1_000_000.0

JsonOrText = str | dict[str, Any] | list[Any]


class RunTotals(BaseModel):
    """What one session's run cost, from the tool calls recorded for it."""

    session_id: str
    tool_calls: int
    errors: int = Field(description="Calls whose status was not ok")
    tokens: int
    cost_usd: float
    tool_ms: float = Field(description="Sum of the calls' reported durations")
    first_event_at: str | None = Field(None, description="Start of the earliest recorded call (UTC)")
    last_event_at: str | None = Field(None, description="When the latest call was recorded (UTC)")
    wall_seconds: float = Field(description="From the first event to the last")


class RecordedToolCall(BaseModel):
    call_id: int
    session_id: str
    tool_name: str
    status: ToolStatus
    input_truncated: bool
    output_truncated: bool
    output_length: int | None = Field(None, description="Characters of the whole output")
    output_hash: str | None = Field(None, description="sha256 of the whole output (UTF-8)")
    redacted: list[str] = Field(
        default_factory=list, description="Kinds of personal data replaced before storing, e.g. email -> [email]"
    )
    totals: RunTotals


class ToolCallEntry(BaseModel):
    id: int
    tool_name: str
    status: ToolStatus
    at: str
    duration_ms: float | None = None
    tokens: int | None = None
    cost_usd: float | None = None
    input: str | None = Field(None, description="The input, or its head when input_truncated")
    input_length: int | None = None
    input_hash: str | None = None
    input_truncated: bool = False
    output: str | None = Field(None, description="The output, or its head when output_truncated")
    output_length: int | None = None
    output_hash: str | None = None
    output_truncated: bool = False


class SessionAudit(BaseModel):
    totals: RunTotals
    calls: list[ToolCallEntry] = Field(description="The latest calls, oldest first")
    omitted: int = Field(description="Older calls not shown (they still count in totals)")


@dataclass(frozen=True)
class NewToolCall:
    session_id: str
    tool_name: str
    input: JsonOrText | None = None
    output: JsonOrText | None = None
    status: ToolStatus = "ok"
    duration_ms: float | None = None
    tokens: int | None = None
    cost_usd: float | None = None


def as_text(value: JsonOrText | None, field: str) -> str | None:
    """Text as given; JSON objects and arrays as compact JSON with sorted keys."""
    if value is None or isinstance(value, str):
        result = value
    else:
        try:
            result = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as error:
            raise InvalidInputError(f"{field} cannot be stored as JSON ({error}). Send text or plain JSON.") from None
    if result is not None:
        try:
            result.encode("utf-8")
        except UnicodeEncodeError as error:
            raise InvalidInputError(
                f"{field} contains invalid Unicode (a lone surrogate at position {error.start}). Send valid UTF-8."
            ) from None
    return result


def keep(value: str | None, limit: int) -> StoredText:
    """The whole text when it fits in `limit` characters, else its head; always its length and hash."""
    if value is None:
        return StoredText(text=None, length=None, hash=None)
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()
    return StoredText(text=value[:limit], length=len(value), hash=digest)


def to_totals(session_id: str, row: TotalsRow) -> RunTotals:
    wall = (row.last_at - row.first_at) if row.first_at is not None and row.last_at is not None else 0.0
    return RunTotals(
        session_id=session_id,
        tool_calls=row.tool_calls,
        errors=row.errors,
        tokens=row.tokens,
        cost_usd=round(row.cost_usd, 6),
        tool_ms=round(row.duration_ms, 3),
        first_event_at=iso(row.first_at) if row.first_at is not None else None,
        last_event_at=iso(row.last_at) if row.last_at is not None else None,
        wall_seconds=round(max(wall, 0.0), 3),
    )


def _truncated(stored: StoredText) -> bool:
    return stored.text is not None and stored.length is not None and stored.length > len(stored.text)


def to_entry(row: ToolCallRow) -> ToolCallEntry:
    status = cast(ToolStatus, row.status if row.status in STATUSES else "error")
    return ToolCallEntry(
        id=row.id,
        tool_name=row.tool_name,
        status=status,
        at=iso(row.created_at),
        duration_ms=row.duration_ms,
        tokens=row.tokens,
        cost_usd=row.cost_usd,
        input=row.input.text,
        input_length=row.input.length,
        input_hash=row.input.hash,
        input_truncated=_truncated(row.input),
        output=row.output.text,
        output_length=row.output.length,
        output_hash=row.output.hash,
        output_truncated=_truncated(row.output),
    )


def tool_call_write(tool_name: str, input: str | None, output: str | None) -> privacy.Write:
    """A tool call as the privacy policy sees it (shared with import)."""
    return privacy.Write("tool_calls", text={"input": input, "output": output}, names={"tool_name": tool_name})


class ToolCallService:
    """Records tool calls into a live session and reports a session's run."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def record(self, user_id: str, call: NewToolCall) -> RecordedToolCall:
        limits = self.settings.audit
        session_id = check_session_id(call.session_id)
        if call.status not in STATUSES:
            raise InvalidInputError(
                f"status must be one of {', '.join(STATUSES)}; got {privacy.quoted(call.status, 40)}."
            )
        _check_range(call.duration_ms, "duration_ms", MAX_DURATION_MS)
        _check_range(call.tokens, "tokens", MAX_TOKENS)
        _check_range(call.cost_usd, "cost_usd", MAX_COST_USD)
        given = {"input": as_text(call.input, "input"), "output": as_text(call.output, "output")}
        for field, value in given.items():
            if value is not None and len(value) > limits.max_payload_chars:
                raise InvalidInputError(
                    f"{field} is {len(value)} characters; the limit is {limits.max_payload_chars}. Nothing was "
                    "recorded. Send its first part or a summary instead: only a head is kept anyway."
                )
        tool_name = text.check_text(call.tool_name, field="tool_name").strip()
        checked = privacy.PrivacyPolicy(self.settings.privacy).check(
            tool_call_write(tool_name, given["input"], given["output"])
        )
        tool_name = checked.value["tool_name"]
        if len(tool_name) > limits.max_tool_name_chars:
            raise InvalidInputError(
                f"tool_name is longer than {limits.max_tool_name_chars} characters. Send the tool's name only."
            )
        redacted = checked.redacted
        stored_input = keep(checked.value["input"], limits.max_input_chars)
        stored_output = keep(checked.value["output"], limits.max_output_chars)

        async with self.db.write() as conn:
            now = self.db.clock()
            await require_live_session(conn, user_id, session_id, now)
            call_id = await rows.insert_tool_call(
                conn,
                user_id=user_id,
                session_id=session_id,
                tool_name=tool_name,
                status=call.status,
                input=stored_input,
                output=stored_output,
                duration_ms=call.duration_ms,
                tokens=call.tokens,
                cost_usd=call.cost_usd,
                now=now,
            )
            await audit.record(
                conn,
                now,
                user_id,
                audit.TOOL_CALL_RECORDED,
                [call_id],
                session_id=session_id,
                tool_name=tool_name,
                status=call.status,
                input_sha256=stored_input.hash,
                output_sha256=stored_output.hash,
            )
            totals = to_totals(session_id, await rows.totals(conn, user_id, session_id))
        log.debug("tool call %d recorded in session %s", call_id, session_id)
        return RecordedToolCall(
            call_id=call_id,
            session_id=session_id,
            tool_name=tool_name,
            status=call.status,
            input_truncated=_truncated(stored_input),
            output_truncated=_truncated(stored_output),
            output_length=stored_output.length,
            output_hash=stored_output.hash,
            redacted=redacted,
            totals=totals,
        )

    async def totals(self, user_id: str, session_id: str) -> RunTotals:
        """Run totals of a live session of this user (for get_session_context and the audit view).

        Raises:
            NotFoundError: the session is unknown, expired or another user's.
        """
        check_session_id(session_id)
        async with self.db.read() as conn:
            if await session_rows.live_session_ttl(conn, user_id, session_id, self.db.clock()) is None:
                raise unknown_session(session_id)
            return to_totals(session_id, await rows.totals(conn, user_id, session_id))

    async def audit(self, user_id: str, session_id: str, *, limit: int | None = None) -> SessionAudit:
        """Totals and the latest calls of a live session of this user.

        Raises:
            NotFoundError: the session is unknown, expired or another user's.
        """
        check_session_id(session_id)
        limit = self.settings.audit.resource_calls if limit is None else limit
        async with self.db.read() as conn:
            if await session_rows.live_session_ttl(conn, user_id, session_id, self.db.clock()) is None:
                raise unknown_session(session_id)
            totals = to_totals(session_id, await rows.totals(conn, user_id, session_id))
            calls = await rows.tool_calls(conn, user_id, session_id, limit)
        return SessionAudit(
            totals=totals, calls=[to_entry(row) for row in calls], omitted=max(totals.tool_calls - len(calls), 0)
        )


def _check_range(value: float | None, field: str, largest: float) -> None:
    if value is not None and not 0 <= value <= largest:
        raise InvalidInputError(f"{field} must be between 0 and {largest:g}; got {value}. Omit it if unknown.")
