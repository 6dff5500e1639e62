"""Export and import: the whole memory of a user as JSON Lines, optionally sealed with a passphrase.

An export is a header line, then one object per line with a "type": fact, session, message,
summary, checkpoint, tool_call and (optionally) audit. Times are Unix seconds (floats), so a
round trip is exact. Vectors are not exported: an import re-embeds with the configured model.

An import de-duplicates: facts go through the same exact/near-duplicate check as remember_fact
(a duplicate is merged); sessions are kept under their ids, and skipped when the id exists;
checkpoints keep their ids when free and are skipped when the same checkpoint is already
stored. Facts get new ids and their supersedes links are remapped. Every batch of lines is one
transaction, so a failed import leaves whole batches, and running it again merges or skips
what is already there.

It also reads the official MCP knowledge-graph server's `memory.jsonl` (entities with
observations, relations): each observation becomes a fact "<entity>: <observation>" with the
entity type as category and the entity name as tag; each relation a fact "<from> <relation>
<to>" in category "relation".
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import aiosqlite
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memory_server import __version__
from memory_server.clock import iso
from memory_server.errors import InvalidInputError, MemoryServerError, RefusedContentError
from memory_server.memory import audit, privacy, sealed, text
from memory_server.memory.checkpoints import canonical_json, checkpoint_write, content_hash
from memory_server.memory.session_rules import SESSION_ID_PATTERN
from memory_server.memory.sessions import message_write, session_write, summary_write
from memory_server.memory.tool_calls import keep, tool_call_write
from memory_server.store import facts as fact_rows
from memory_server.store import meta as meta_keys
from memory_server.store import transfer as store
from memory_server.store.facts import FactFilter

if TYPE_CHECKING:
    from memory_server.app import Memory

log = logging.getLogger(__name__)

FORMAT = "memory-server-export"
FORMAT_VERSION = 1
KNOWLEDGE_GRAPH: Literal["mcp-knowledge-graph"] = "mcp-knowledge-graph"
DEFAULT_BATCH = 500
AUDIT_TABLE = "audit_log"

Progress = Callable[[int, int | None], None]
"""Called after each batch with (lines done, total lines or None when unknown)."""


class TransferError(MemoryServerError):
    """An import file cannot be read: not an export, a bad line, a newer format."""


# -- export ------------------------------------------------------------------------------


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


class Sink(Protocol):
    """Where an export goes: a binary file, stdout's buffer, or a SealedWriter."""

    def write(self, data: bytes, /) -> Any: ...

    def flush(self) -> None: ...


async def export(memory: Memory, out: Sink, *, include_audit: bool = False) -> dict[str, int]:
    """Write the user's memory to `out` as JSON Lines, from one consistent snapshot. Returns the counts."""
    user_id = memory.user_id
    async with memory.db.read() as conn:
        counts = {kind: await store.count(conn, table, user_id) for kind, table, _, _ in store.SECTIONS}
        threads = await memory.db.fetchone(
            conn, "SELECT count(DISTINCT thread_id) FROM checkpoints WHERE user_id = ?", [user_id]
        )
        audit_columns = (
            await store.columns(conn, AUDIT_TABLE) if include_audit and await store.has_table(conn, AUDIT_TABLE) else []
        )
        audit_where = " WHERE user_id = ?" if "user_id" in audit_columns else ""
        audit_params = [user_id] if audit_where else []
        if audit_columns:
            found = await memory.db.fetchone(conn, f"SELECT count(*) FROM {AUDIT_TABLE}{audit_where}", audit_params)
            counts["audit"] = int(found[0]) if found else 0
        meta: dict[str, str] = dict(await memory.db.fetchall(conn, "SELECT key, value FROM meta"))
        out.write(
            _line(
                {
                    "type": "header",
                    "format": FORMAT,
                    "version": FORMAT_VERSION,
                    "app_version": __version__,
                    "model": {
                        "id": meta.get(meta_keys.EMBEDDING_MODEL),
                        "dimension": _int(meta.get(meta_keys.EMBEDDING_DIMENSION)),
                    },
                    "exported_at": iso(memory.db.clock()),
                    "user": user_id,
                    "times": "unix seconds",
                    "counts": counts,
                    "threads": int(threads[0]) if threads else 0,
                }
            )
        )
        for kind, table, fields, order in store.SECTIONS:
            async for record in store.records(conn, table, fields, order, user_id):
                if kind == "fact":
                    record["tags"] = json.loads(record["tags"])
                elif kind == "checkpoint":
                    record["state"] = json.loads(record["state"])
                elif kind == "message":
                    record["compacted"] = bool(record["compacted"])
                out.write(_line({"type": kind, **record}))
        if audit_columns:
            async with conn.execute(f"SELECT * FROM {AUDIT_TABLE}{audit_where} ORDER BY rowid", audit_params) as cursor:
                async for row in cursor:
                    out.write(_line({"type": "audit", **dict(zip(audit_columns, row, strict=True))}))
    out.flush()
    log.info("exported %s for user %s", counts, user_id)
    return counts


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


# -- reading an import file --------------------------------------------------------------


def read_lines(path: Path, passphrase: Callable[[], str]) -> Iterator[str]:
    """The lines of an export file. A sealed one is verified whole (passphrase and every chunk)
    here, before this returns, so a wrong passphrase or a damaged file is refused before anything
    is opened or imported."""
    try:
        with path.open("rb") as probe:
            head = probe.read(len(sealed.MAGIC))
    except OSError as error:
        raise TransferError(f"Cannot read {path}: {error.strerror or error}.") from None
    if not sealed.is_sealed(head):
        return _plain_lines(path)
    secret = passphrase()
    with path.open("rb") as source:
        sealed.verify(source, secret)
    return _sealed_lines(path, secret)


def _sealed_lines(path: Path, secret: str) -> Iterator[str]:
    with path.open("rb") as source:
        yield from io.TextIOWrapper(io.BufferedReader(sealed.UnsealedReader(source, secret)), encoding="utf-8")


def _plain_lines(path: Path) -> Iterator[str]:
    with path.open("r", encoding="utf-8", errors="strict") as plain:
        try:
            yield from plain
        except UnicodeDecodeError:
            raise TransferError(f"{path} is not UTF-8 text: not a memory-server export or memory.jsonl.") from None


# -- import ------------------------------------------------------------------------------


class TypeCounts(BaseModel):
    created: int = 0
    merged: int = 0
    skipped: int = 0


class ImportReport(BaseModel):
    format: Literal["memory-server-export", "mcp-knowledge-graph"]
    lines: int = Field(description="Records read (the header not counted)")
    counts: dict[str, TypeCounts]
    notes: list[str] = Field(default_factory=list, description="Why some records were skipped")
    bad_lines: list[int] = Field(default_factory=list, description="Lines skipped as unreadable (with skip_bad)")


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class FactRecord(_Record):
    id: int
    content: str
    category: str | None = None
    tags: list[str] = Field(default_factory=list)
    importance: float = Field(0.5, ge=0.0, le=1.0)
    created_at: float
    updated_at: float
    last_accessed_at: float | None = None
    access_count: int = Field(0, ge=0)
    expires_at: float | None = None
    supersedes: int | None = None
    superseded_by: int | None = None
    source_session: str | None = None


class SessionRecord(_Record):
    id: str = Field(pattern=SESSION_ID_PATTERN.pattern)
    agent_name: str | None = None
    created_at: float
    last_active_at: float
    ttl_hours: float = Field(gt=0)
    expires_at: float
    message_count: int = Field(ge=0)
    tokens: int = Field(ge=0)
    cost_usd: float = Field(ge=0)
    compacted_through_seq: int = Field(ge=0)
    compacted_tokens: int = Field(ge=0)


class MessageRecord(_Record):
    session_id: str
    seq: int = Field(ge=1)
    role: Literal["user", "assistant", "system", "tool"]
    name: str | None = None
    content: str
    tokens: int = Field(ge=0)
    cost_usd: float = Field(0.0, ge=0)
    created_at: float
    compacted: bool = False
    said_at: float | None = None  # when it was said, if the host gave a time (older exports: none)


class SummaryRecord(_Record):
    session_id: str
    content: str
    covers_through_seq: int = Field(ge=0)
    source: Literal["host", "sampled", "local"]
    tokens: int = Field(ge=0)
    created_at: float


class CheckpointRecord(_Record):
    id: int
    thread_id: str = Field(min_length=1, max_length=512)
    parent_id: int | None = None
    step: int
    label: str | None = None
    session_id: str | None = None
    state: dict[str, Any]
    hash: str
    created_at: float


class ToolCallRecord(_Record):
    session_id: str
    tool_name: str = Field(min_length=1)
    status: str
    input: str | None = None
    input_length: int | None = None
    input_hash: str | None = None
    output: str | None = None
    output_length: int | None = None
    output_hash: str | None = None
    duration_ms: float | None = None
    tokens: int | None = None
    cost_usd: float | None = None
    created_at: float


_SESSION_PARTS: dict[str, type[_Record]] = {
    "message": MessageRecord,
    "summary": SummaryRecord,
    "tool_call": ToolCallRecord,
}
_INSERT_PART = {
    "message": store.insert_message,
    "summary": store.insert_summary,
    "tool_call": store.insert_tool_call,
}


@dataclass
class _NewFact:
    """A fact to import: from an export (`record`) or made from a knowledge-graph line."""

    kind: str
    content: str
    category: str | None
    tags: list[str]
    importance: float
    record: FactRecord | None = None


@dataclass
class _Op:
    line: int
    kind: str
    value: Any


class Importer:
    """One import run into one user's memory: holds the id maps that span batches."""

    def __init__(
        self, memory: Memory, *, batch: int = DEFAULT_BATCH, progress: Progress | None = None, skip_bad: bool = False
    ) -> None:
        if not 1 <= batch <= 100_000:
            raise InvalidInputError("--batch must be between 1 and 100000.")
        self.memory = memory
        self.user_id = memory.user_id
        self.batch = batch
        self.progress = progress
        self.skip_bad = skip_bad
        self.bad_lines: list[int] = []
        self.batches_written = 0
        self.counts: dict[str, TypeCounts] = {}
        self.notes: list[str] = []
        self.fact_ids: dict[int, int] = {}
        self.checkpoint_ids: dict[int, int] = {}
        self.sessions: dict[str, bool] = {}  # id -> created by this import

    def _count(self, kind: str, outcome: Literal["created", "merged", "skipped"]) -> None:
        counts = self.counts.setdefault(kind, TypeCounts())
        setattr(counts, outcome, getattr(counts, outcome) + 1)

    async def run(self, lines: Iterable[str]) -> ImportReport:
        numbered = ((number, line) for number, line in enumerate(lines, start=1) if line.strip())
        first = next(numbered, None)
        if first is None:
            raise TransferError("The file is empty: nothing to import.")
        number, line = first
        head = _parse(number, line)
        total: int | None = None
        if head.get("type") == "header":
            if head.get("format") != FORMAT:
                raise TransferError(f"line {number}: the header names format {head.get('format')!r}, not {FORMAT!r}.")
            version = head.get("version")
            if not isinstance(version, int) or version > FORMAT_VERSION:
                raise TransferError(
                    f"This export has format version {version}; this memory-server reads up to {FORMAT_VERSION}. "
                    "Upgrade memory-server to import it."
                )
            counts = head.get("counts")
            total = sum(v for v in counts.values() if isinstance(v, int)) if isinstance(counts, dict) else None
            fmt: Literal["memory-server-export", "mcp-knowledge-graph"] = "memory-server-export"
            pending: list[tuple[int, str]] = []
        elif head.get("type") in ("entity", "relation"):
            fmt = KNOWLEDGE_GRAPH
            pending = [first]
        else:
            raise TransferError(
                "This is neither a memory-server export (its first line is a header) nor a knowledge-graph "
                "memory.jsonl (lines of type entity or relation). Nothing was imported."
            )
        done = 0
        chunk: list[tuple[int, str]] = pending
        for item in numbered:
            chunk.append(item)
            if len(chunk) >= self.batch:
                await self._batch_or_explain(chunk, fmt)
                done += len(chunk)
                chunk = []
                if self.progress:
                    self.progress(done, total)
        if chunk:
            await self._batch_or_explain(chunk, fmt)
            done += len(chunk)
        if self.progress:
            self.progress(done, total if total is not None else done)
        if total is not None and done != total:
            raise TransferError(
                f"The export is incomplete: its header announces {total} records but the file holds {done} "
                f"(a cut-off copy?). Those {done} were imported: {_summary(self.counts)}. Export again and import "
                "the new file; what is already here is merged or skipped."
            )
        log.info("imported %d records (%s) for user %s", done, fmt, self.user_id)
        return ImportReport(format=fmt, lines=done, counts=self.counts, notes=self.notes, bad_lines=self.bad_lines)

    async def _batch_or_explain(self, chunk: list[tuple[int, str]], fmt: str) -> None:
        """A bad line before any batch was written means nothing was imported: say so, and how
        to import the good lines anyway."""
        try:
            await self._batch(chunk, fmt)
        except TransferError as error:
            if self.batches_written:
                raise
            reason = str(error).removesuffix(_RERUN)
            raise TransferError(
                f"{reason} Nothing was imported. Fix that line, or run the import again with --skip-bad to "
                "import the good lines and list the bad ones by line number."
            ) from None
        self.batches_written += 1

    # -- one batch: validate and embed outside the transaction, then write it whole ------

    async def _batch(self, chunk: list[tuple[int, str]], fmt: str) -> None:
        ops: list[_Op] = []
        for number, line in chunk:
            try:
                record = _parse(number, line)
                ops.extend(
                    self._knowledge_graph(number, record) if fmt == KNOWLEDGE_GRAPH else self._ours(number, record)
                )
            except TransferError as error:
                if not self.skip_bad:
                    raise
                self.bad_lines.append(number)
                self._skip("bad line", str(error).removesuffix(_RERUN))
        facts = [op for op in ops if isinstance(op.value, _NewFact)]
        vectors = await self.memory.embedder.embed([op.value.content for op in facts]) if facts else []
        vector_of = {id(op): vector for op, vector in zip(facts, vectors, strict=True)}
        async with self.memory.db.write() as conn:
            for op in ops:
                if isinstance(op.value, _NewFact):
                    await self._fact(conn, op.value, vector_of[id(op)])
                elif op.kind == "session":
                    await self._session(conn, op.value)
                elif op.kind == "checkpoint":
                    await self._checkpoint(conn, op.line, op.value)
                elif op.kind in _INSERT_PART:
                    if self.sessions.get(op.value.session_id):
                        await _INSERT_PART[op.kind](conn, self.user_id, op.value.model_dump())
                        self._count(op.kind, "created")
                    else:
                        self._count(op.kind, "skipped")
                else:
                    self._count(op.kind, "skipped")

    def _ours(self, number: int, record: dict[str, Any]) -> list[_Op]:
        kind = record.get("type")
        try:
            if kind == "fact":
                fact = FactRecord.model_validate(record)
                try:
                    return [_Op(number, kind, self._checked_fact(kind, fact.content, fact.category, fact.tags, fact))]
                except RefusedContentError as error:  # this store's policy refuses what another let in
                    self._skip(kind, f"line {number}: {error}")
                    return []
            if kind == "session":
                return self._checked(number, kind, SessionRecord.model_validate(record))
            if kind == "checkpoint":
                return self._checked(number, kind, _verified(number, CheckpointRecord.model_validate(record)))
            if kind in _SESSION_PARTS:
                return self._checked(number, kind, _SESSION_PARTS[kind].model_validate(record))
            if kind == "audit":
                # The audit is a hash chain of the store it describes: exported to be kept, not merged.
                return [_Op(number, kind, None)]
        except ValidationError as error:
            raise TransferError(f"line {number}: invalid {kind} record: {_problems(error)}.{_RERUN}") from None
        except InvalidInputError as error:
            raise TransferError(f"line {number}: invalid {kind} record: {error}{_RERUN}") from None
        raise TransferError(f"line {number}: unknown record type {kind!r}.{_RERUN}")

    def _checked_fact(
        self, kind: str, content: str, category: str | None, tags: list[str], record: FactRecord | None
    ) -> _NewFact:
        """The checks and privacy policy of remember_fact; raises InvalidInputError (or RefusedContentError)."""
        content, category, tags = self.memory.facts.checked(content, category, tags)
        importance = record.importance if record else 0.5
        return _NewFact(kind, content, category, tags, importance, record)

    def _checked(self, number: int, kind: str, record: _Record) -> list[_Op]:
        """The record through the privacy policy the tools use; one it refuses is skipped with a note."""
        policy = privacy.PrivacyPolicy(self.memory.settings.privacy)
        try:
            checked = policy.check(_write_of(record)).value
        except RefusedContentError as error:  # this store's policy refuses what another let in
            self._skip(kind, f"line {number}: {error}")
            return []
        return [_Op(number, kind, _with_checked(record, checked))]

    def _knowledge_graph(self, number: int, record: dict[str, Any]) -> list[_Op]:
        limits = self.memory.settings.facts
        kind = record.get("type")
        ops: list[_Op] = []
        if kind == "entity":
            name, entity_type = _kg_text(record.get("name")) or "", _kg_text(record.get("entityType")) or ""
            observations = record.get("observations") or []
            if not name or not isinstance(observations, list):
                self._skip("observation", f"line {number}: an entity without a name or observations list")
                return []
            for position, observation in enumerate(observations, start=1):
                said = _kg_text(observation)
                if not said:
                    empty = "null" if observation is None else "empty"
                    self._skip("observation", f"line {number}: observation {position} of {name} is {empty}")
                    continue
                made = self._kg_fact(
                    number,
                    "observation",
                    f"{name}: {said}",
                    entity_type[: limits.max_category_chars] or None,
                    [name[: limits.max_tag_chars]],
                )
                if made:
                    ops.append(made)
        elif kind == "relation":
            source, relation, target = (_kg_text(record.get(k)) or "" for k in ("from", "relationType", "to"))
            if not (source and relation and target):
                self._skip("relation", f"line {number}: a relation without from, relationType or to")
                return []
            tags = [source[: limits.max_tag_chars], target[: limits.max_tag_chars]]
            made = self._kg_fact(number, "relation", f"{source} {relation} {target}", "relation", tags)
            if made:
                ops.append(made)
        else:
            self._skip(str(kind), f"line {number}: unknown type {kind!r}")
        return ops

    def _kg_fact(self, number: int, kind: str, content: str, category: str | None, tags: list[str]) -> _Op | None:
        try:
            return _Op(number, kind, self._checked_fact(kind, content, category, tags, None))
        except InvalidInputError as error:
            self._skip(kind, f"line {number}: {error}")
            return None

    def _skip(self, kind: str, note: str) -> None:
        self._count(kind, "skipped")
        if len(self.notes) < 100:
            self.notes.append(note)

    # -- writers (inside the batch's transaction) -----------------------------------------

    async def _fact(self, conn: aiosqlite.Connection, new: _NewFact, vector: list[float]) -> None:
        now = self.memory.db.clock()
        record = new.record
        if record is not None and record.expires_at is not None and record.expires_at <= now:
            self._count(new.kind, "skipped")
            return
        key = text.content_key(new.content)
        if record is not None and record.superseded_by is not None:
            # History: it joins only an identical fact (an earlier import), never a near one.
            every = FactFilter(now=now, include_superseded=True)
            duplicate = await fact_rows.find_by_key(conn, self.user_id, key, every, exclude=None)
        else:
            duplicate = await self.memory.facts.find_duplicate(
                conn, self.user_id, new.content, vector, FactFilter(now=now)
            )
        expires_at = record.expires_at if record else None
        status: Literal["created", "merged"]
        if duplicate is not None:
            existing = (await fact_rows.get_facts(conn, self.user_id, [duplicate]))[duplicate]
            await fact_rows.merge_into(
                conn,
                existing,
                importance=new.importance,
                category=new.category,
                tags=new.tags,
                expires_at=expires_at,
                now=now,
            )
            fact_id, status = duplicate, "merged"
        else:
            fact_id = await fact_rows.insert_fact(
                conn,
                user_id=self.user_id,
                content=new.content,
                key=key,
                category=new.category,
                tags=new.tags,
                importance=new.importance,
                now=record.created_at if record else now,
                expires_at=expires_at,
                supersedes=None,
                source_session=record.source_session if record else None,
                vector=vector,
            )
            if record is not None:
                await store.insert_fact_metadata(conn, fact_id, record.model_dump())
            status = "created"
        self._count(new.kind, status)
        await audit.fact_remembered(
            conn, now, self.user_id, fact_id, status, new.content, supersedes=None, session_id=None
        )
        if record is None:
            return
        self.fact_ids[record.id] = fact_id
        older = self.fact_ids.get(record.supersedes) if record.supersedes is not None else None
        newer = self.fact_ids.get(record.superseded_by) if record.superseded_by is not None else None
        if older is not None and older != fact_id:
            await store.link_superseded(conn, older, fact_id)
        if newer is not None and newer != fact_id:
            await store.link_superseded(conn, fact_id, newer)

    async def _session(self, conn: aiosqlite.Connection, record: SessionRecord) -> None:
        if record.expires_at <= self.memory.db.clock() or await store.session_exists(conn, record.id):
            self.sessions[record.id] = False
            self._count("session", "skipped")
            return
        await store.insert_session(conn, self.user_id, record.model_dump())
        self.sessions[record.id] = True
        self._count("session", "created")

    async def _checkpoint(self, conn: aiosqlite.Connection, number: int, record: CheckpointRecord) -> None:
        canonical = canonical_json(record.state)
        same = await store.same_checkpoint(conn, self.user_id, record.model_dump())
        if same is not None:
            self.checkpoint_ids[record.id] = same
            self._count("checkpoint", "skipped")
            return
        parent = record.parent_id
        if parent is not None:
            if parent in self.checkpoint_ids:
                parent = self.checkpoint_ids[parent]
            elif await store.checkpoint_id_taken(conn, parent):
                parent = None  # the parent was pruned at the source; its id now names another checkpoint
        values = {**record.model_dump(), "parent_id": parent, "state": canonical, "size": len(canonical.encode())}
        keep_id = not await store.checkpoint_id_taken(conn, record.id)
        self.checkpoint_ids[record.id] = await store.insert_checkpoint(conn, self.user_id, values, keep_id=keep_id)
        self._count("checkpoint", "created")


def _verified(number: int, record: CheckpointRecord) -> CheckpointRecord:
    if content_hash(canonical_json(record.state)) != record.hash:
        raise TransferError(
            f"line {number}: checkpoint {record.id}'s state does not match its hash; the export was altered "
            f"or damaged.{_RERUN}"
        )
    return record


def _write_of(record: _Record) -> privacy.Write:
    """What an imported record stores, described as the tools describe the same write."""
    if isinstance(record, MessageRecord):
        return message_write("message", record.content, record.name)
    if isinstance(record, SummaryRecord):
        return summary_write(record.content)
    if isinstance(record, SessionRecord):
        return session_write(record.agent_name)
    if isinstance(record, CheckpointRecord):
        return checkpoint_write(record.thread_id, record.label, record.state)
    assert isinstance(record, ToolCallRecord)
    return tool_call_write(record.tool_name, record.input, record.output)


def _with_checked(record: _Record, checked: dict[str, Any]) -> _Record:
    """The record with its fields as the policy let them be stored (contacts maybe redacted)."""
    if isinstance(record, MessageRecord):
        return record.model_copy(update={"content": checked["message.content"], "name": checked["message.name"]})
    if isinstance(record, SummaryRecord):
        return record.model_copy(update={"content": checked["summary"]})
    if isinstance(record, SessionRecord):
        return record.model_copy(update={"agent_name": checked["agent_name"]})
    if isinstance(record, CheckpointRecord):
        state = checked["state"]
        return record.model_copy(
            update={"label": checked["label"], "state": state, "hash": content_hash(canonical_json(state))}
        )
    assert isinstance(record, ToolCallRecord)
    update: dict[str, Any] = {}
    for field in ("input", "output"):
        value, before = checked[field], getattr(record, field)
        if value != before:  # redacted: length and hash describe what is kept, when it was kept whole
            length = getattr(record, f"{field}_length")
            whole = length is None or length == len(before or "")
            stored = keep(value, len(value))
            update |= {
                field: value,
                f"{field}_length": stored.length if whole else length,
                f"{field}_hash": stored.hash if whole else None,
            }
    return record.model_copy(update=update)


_RERUN = (
    " Batches before this line were imported; fix the file and run the import again "
    "(what is already there is merged or skipped)."
)


def _kg_text(value: Any) -> str | None:
    """A knowledge-graph value as fact text: strings as they are, numbers and booleans as JSON
    writes them, objects and lists as compact JSON; None for null."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _summary(counts: dict[str, TypeCounts]) -> str:
    return "; ".join(
        f"{kind} {c.created} created, {c.merged} merged, {c.skipped} skipped" for kind, c in counts.items()
    )


def _parse(number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise TransferError(f"line {number} is not JSON ({error.msg}).{_RERUN}") from None
    if not isinstance(record, dict):
        raise TransferError(f"line {number} is not a JSON object.{_RERUN}")
    return record


def _problems(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}" for e in error.errors()[:5])


async def import_lines(
    memory: Memory,
    lines: Iterable[str],
    *,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    skip_bad: bool = False,
) -> ImportReport:
    """Import an export or a knowledge-graph memory.jsonl into the memory's user. With
    `skip_bad`, unreadable lines are skipped and reported by number instead of stopping it."""
    return await Importer(memory, batch=batch, progress=progress, skip_bad=skip_bad).run(lines)
