"""Ordered, named, transactional schema steps, tracked in `schema_migrations`.

Each step runs in its own `BEGIN IMMEDIATE` transaction together with the row that records
it, so a crash leaves the database either before or after the step, never in between.
A step is never edited once released: change the schema with a new step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SchemaContext:
    """Values a step may need that only the configuration knows."""

    embedding_dimension: int


@dataclass(frozen=True)
class Migration:
    name: str
    statements: Callable[[SchemaContext], list[str]]


def _m001_facts(ctx: SchemaContext) -> list[str]:
    return [
        # Settings of the store itself: embedding model id and dimension, creation time.
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
        """CREATE TABLE facts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a stale id names no other fact
            user_id TEXT NOT NULL,
            content TEXT NOT NULL,
            content_key TEXT NOT NULL,          -- hash of the normalized text: exact-duplicate lookup
            category TEXT,
            tags TEXT NOT NULL DEFAULT '[]',    -- JSON array of strings
            importance REAL NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            last_accessed_at REAL,
            access_count INTEGER NOT NULL DEFAULT 0,
            expires_at REAL,
            supersedes INTEGER,
            superseded_by INTEGER,
            source_session TEXT
        ) STRICT""",
        "CREATE INDEX facts_by_user ON facts (user_id, superseded_by, importance DESC)",
        "CREATE INDEX facts_by_key ON facts (user_id, content_key)",
        "CREATE INDEX facts_by_expiry ON facts (expires_at) WHERE expires_at IS NOT NULL",
        # Contentless: the text lives once, in `facts`; contentless_delete lets rows be deleted.
        """CREATE VIRTUAL TABLE fact_fts USING fts5(
            content, tags, category,
            content='', contentless_delete=1,
            tokenize='porter unicode61 remove_diacritics 2'
        )""",
        # Deleting a row removes its terms from the index pages too, not just marks them.
        "INSERT INTO fact_fts (fact_fts, rank) VALUES ('secure-delete', 1)",
        f"""CREATE VIRTUAL TABLE fact_vectors USING vec0(
            fact_id INTEGER PRIMARY KEY,
            user_id TEXT PARTITION KEY,
            embedding float[{ctx.embedding_dimension}] distance_metric=cosine
        )""",
    ]


def _m002_sessions(ctx: SchemaContext) -> list[str]:
    return [
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,                -- unguessable handle, at least 96 random bits
            user_id TEXT NOT NULL,
            agent_name TEXT,
            created_at REAL NOT NULL,
            last_active_at REAL NOT NULL,
            ttl_hours REAL NOT NULL,
            expires_at REAL NOT NULL,           -- last_active_at + ttl; moved on every activity
            -- Running totals, so an append never re-reads the whole history.
            message_count INTEGER NOT NULL DEFAULT 0,
            tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            compacted_through_seq INTEGER NOT NULL DEFAULT 0,  -- messages up to here are summarized
            compacted_tokens INTEGER NOT NULL DEFAULT 0
        ) STRICT""",
        "CREATE INDEX sessions_by_user ON sessions (user_id, last_active_at DESC)",
        "CREATE INDEX sessions_by_expiry ON sessions (expires_at)",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            user_id TEXT NOT NULL,
            seq INTEGER NOT NULL,               -- 1, 2, 3... within the session
            role TEXT NOT NULL,
            name TEXT,
            content TEXT NOT NULL,
            tokens INTEGER NOT NULL,
            cost_usd REAL NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            compacted INTEGER NOT NULL DEFAULT 0,  -- 1 once folded into a summary: kept, not sent
            UNIQUE (session_id, seq)
        ) STRICT""",
        """CREATE TABLE summaries (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            user_id TEXT NOT NULL,
            content TEXT NOT NULL,
            covers_through_seq INTEGER NOT NULL,   -- every message up to this seq is summarized
            source TEXT NOT NULL,                  -- 'host' (given), 'sampled' (host model asked) or 'local'
            tokens INTEGER NOT NULL,
            created_at REAL NOT NULL
        ) STRICT""",
        "CREATE INDEX summaries_by_session ON summaries (session_id, id DESC)",
        # System messages are always sent; this finds them without scanning a long session.
        "CREATE INDEX messages_system ON messages (session_id, seq) WHERE role = 'system'",
    ]


def _m003_run_state(ctx: SchemaContext) -> list[str]:
    return [
        # Immutable snapshots of a thread's task state. AUTOINCREMENT: ids of deleted
        # checkpoints are never reused, so a parent_id can never point at a stranger.
        """CREATE TABLE checkpoints (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id TEXT NOT NULL,
            thread_id TEXT NOT NULL,           -- the caller's name for the task, e.g. review-123
            parent_id INTEGER,                 -- no foreign key: retention may delete the parent
            step INTEGER NOT NULL,
            label TEXT,
            session_id TEXT,
            state TEXT NOT NULL,               -- canonical JSON (sorted keys, no spaces)
            size INTEGER NOT NULL,             -- bytes of `state` as UTF-8
            hash TEXT NOT NULL,                -- sha256 of those bytes, checked on every restore
            created_at REAL NOT NULL
        ) STRICT""",
        # "Latest" is the highest id (ids grow with every save; the wall clock may step back).
        "CREATE INDEX checkpoints_by_thread ON checkpoints (user_id, thread_id, id)",
        "CREATE INDEX checkpoints_by_time ON checkpoints (user_id, thread_id, created_at)",
        """CREATE TABLE tool_calls (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            user_id TEXT NOT NULL,
            tool_name TEXT NOT NULL,
            status TEXT NOT NULL,              -- ok, error, timeout, cancelled
            input TEXT,                        -- JSON or text; a head only when input_length says more
            input_length INTEGER,
            input_hash TEXT,                   -- sha256 of the whole input
            output TEXT,
            output_length INTEGER,
            output_hash TEXT,
            duration_ms REAL,
            tokens INTEGER,
            cost_usd REAL,
            created_at REAL NOT NULL
        ) STRICT""",
        "CREATE INDEX tool_calls_by_session ON tool_calls (session_id, id)",
    ]


def _m004_audit(ctx: SchemaContext) -> list[str]:
    return [
        # Append-only and hash-chained (see store/audit.py). Ids, counts and hashes only:
        # content that is later erased must not survive here.
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so a deleted last row shows
            at REAL NOT NULL,
            user_id TEXT NOT NULL,
            session_id TEXT,                   -- the session the action served, when known
            action TEXT NOT NULL,              -- e.g. fact.created, facts.served, session.expired
            ids TEXT NOT NULL,                 -- canonical JSON array of the ids touched
            detail TEXT NOT NULL,              -- canonical JSON object: counts and sha256 hashes
            prev_hash TEXT NOT NULL,           -- hash of the row before (64 zeros for the first)
            hash TEXT NOT NULL                 -- sha256 of this row's fields + prev_hash
        ) STRICT""",
        "CREATE INDEX audit_by_user ON audit_log (user_id, id)",
        "CREATE INDEX audit_by_session ON audit_log (session_id, id) WHERE session_id IS NOT NULL",
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    ]


def _m005_private_ids(ctx: SchemaContext) -> list[str]:
    floors = [
        # The floor of each table: the highest id given out so far (AUTOINCREMENT remembers
        # deleted ones). New ids start above it, so no old id is ever reissued.
        "INSERT INTO id_marks (tbl, user_id, issued, high) VALUES "
        f"('{table}', '', 0, max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0), "
        f"coalesce((SELECT max(id) FROM {table}), 0)))"
        for table in ("facts", "messages", "summaries", "checkpoints", "tool_calls")
    ]
    return [
        # Per user and table: how many ids the user was given and the highest (see store/ids.py).
        """CREATE TABLE id_marks (
            tbl TEXT NOT NULL,
            user_id TEXT NOT NULL,             -- '' holds the table's floor
            issued INTEGER NOT NULL,
            high INTEGER NOT NULL,
            PRIMARY KEY (tbl, user_id)
        ) STRICT, WITHOUT ROWID""",
        # The key of the hash that spaces each user's ids; inside the encrypted file.
        "INSERT INTO meta (key, value) VALUES ('ids.key', hex(randomblob(32)))",
        *floors,
    ]


def _m006_message_time(ctx: SchemaContext) -> list[str]:
    return [
        # When a message was said, if the host knew (a replayed or imported conversation);
        # NULL: when it was appended (created_at).
        "ALTER TABLE messages ADD COLUMN said_at REAL",
    ]


def _m007_vector_log(ctx: SchemaContext) -> list[str]:
    return [
        # What changed among the fact vectors, for the in-memory indexes of every process
        # (store/vectors.py): one row per fact added or removed, written by the writer's own
        # transaction. Ids only; `vector_log.prune` keeps it short.
        """CREATE TABLE vector_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id TEXT NOT NULL,
            fact_id INTEGER NOT NULL,
            added INTEGER NOT NULL
        ) STRICT""",
        "CREATE INDEX vector_log_by_user ON vector_log (user_id, seq)",
        """CREATE TRIGGER facts_vector_added AFTER INSERT ON facts BEGIN
            INSERT INTO vector_log (user_id, fact_id, added) VALUES (NEW.user_id, NEW.id, 1);
        END""",
        """CREATE TRIGGER facts_vector_removed AFTER DELETE ON facts BEGIN
            INSERT INTO vector_log (user_id, fact_id, added) VALUES (OLD.user_id, OLD.id, 0);
        END""",
    ]


MIGRATIONS: tuple[Migration, ...] = (
    Migration("001_facts", _m001_facts),
    Migration("002_sessions", _m002_sessions),
    Migration("003_run_state", _m003_run_state),
    Migration("004_audit", _m004_audit),
    Migration("005_private_ids", _m005_private_ids),
    Migration("006_message_time", _m006_message_time),
    Migration("007_vector_log", _m007_vector_log),
)
