"""Named, ordered, transactional schema steps for PostgreSQL, tracked in `schema_migrations`.

They mirror store/migrations.py layer by layer, with three differences that come from sealing
(see sealing.py): every text the user gave is a `bytea` ciphertext, every hash of user text is
an HMAC under the user's key, and keyword search uses a blind index (`bytea[]` + GIN) instead
of FTS5. Vectors stay in clear in `vector(N)` with an HNSW cosine index; filtered searches set
`hnsw.iterative_scan = relaxed_order` (pgvector 0.8) so a user filter still yields the full k.
Each step runs in one transaction with the row that records it, under an advisory lock, so
two instances starting at once apply each step exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from memory_server.store.migrations import SchemaContext
from memory_server.store.postgres.pool import PostgresDatabase

# Any constant that is ours alone: the key of the advisory lock that serialises schema steps.
_SCHEMA_LOCK = 0x6D656D5F736368  # "mem_sch"


@dataclass(frozen=True)
class PostgresMigration:
    name: str
    statements: Callable[[SchemaContext], list[str]]


def _p001_facts(ctx: SchemaContext) -> list[str]:
    return [
        "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
        f"""CREATE TABLE facts (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            user_id text NOT NULL,
            content bytea NOT NULL,             -- sealed
            content_key bytea NOT NULL,         -- HMAC of the normalized text under the user's key
            terms bytea[] NOT NULL DEFAULT '{{}}', -- blind index: HMAC of each normalized term
            category bytea,                     -- sealed
            tags bytea,                         -- sealed JSON array
            embedding vector({ctx.embedding_dimension}) NOT NULL,
            importance double precision NOT NULL,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL,
            last_accessed_at double precision,
            access_count integer NOT NULL DEFAULT 0,
            expires_at double precision,
            supersedes bigint,
            superseded_by bigint,
            source_session text
        )""",
        "CREATE INDEX facts_by_user ON facts (user_id, superseded_by, importance DESC)",
        # Two instances remembering the same statement at once make one fact: ON CONFLICT on this.
        "CREATE UNIQUE INDEX facts_by_key ON facts (user_id, content_key) WHERE superseded_by IS NULL",
        "CREATE INDEX facts_by_expiry ON facts (expires_at) WHERE expires_at IS NOT NULL",
        "CREATE INDEX facts_by_term ON facts USING gin (terms)",
        "CREATE INDEX facts_by_meaning ON facts USING hnsw (embedding vector_cosine_ops)",
    ]


def _p002_sessions(ctx: SchemaContext) -> list[str]:
    return [
        """CREATE TABLE sessions (
            id text PRIMARY KEY,
            user_id text NOT NULL,
            agent_name bytea,                   -- sealed
            created_at double precision NOT NULL,
            last_active_at double precision NOT NULL,
            ttl_hours double precision NOT NULL,
            expires_at double precision NOT NULL,
            message_count integer NOT NULL DEFAULT 0,
            tokens integer NOT NULL DEFAULT 0,
            cost_usd double precision NOT NULL DEFAULT 0,
            compacted_through_seq integer NOT NULL DEFAULT 0,
            compacted_tokens integer NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX sessions_by_user ON sessions (user_id, last_active_at DESC)",
        "CREATE INDEX sessions_by_expiry ON sessions (expires_at)",
        """CREATE TABLE messages (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            user_id text NOT NULL,
            seq integer NOT NULL,               -- gapless: taken from sessions.message_count under its row lock
            role text NOT NULL,
            name bytea,                         -- sealed
            content bytea NOT NULL,             -- sealed
            tokens integer NOT NULL,
            cost_usd double precision NOT NULL DEFAULT 0,
            created_at double precision NOT NULL,
            compacted boolean NOT NULL DEFAULT false,
            UNIQUE (session_id, seq)
        )""",
        "CREATE INDEX messages_system ON messages (session_id, seq) WHERE role = 'system'",
        """CREATE TABLE summaries (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            user_id text NOT NULL,
            content bytea NOT NULL,             -- sealed
            covers_through_seq integer NOT NULL,
            source text NOT NULL,
            tokens integer NOT NULL,
            created_at double precision NOT NULL
        )""",
        "CREATE INDEX summaries_by_session ON summaries (session_id, id DESC)",
    ]


def _p003_run_state(ctx: SchemaContext) -> list[str]:
    return [
        """CREATE TABLE checkpoints (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            user_id text NOT NULL,
            thread_id text NOT NULL,
            parent_id bigint,
            step integer NOT NULL,
            label bytea,                        -- sealed
            session_id text,
            state bytea NOT NULL,               -- sealed canonical JSON
            size integer NOT NULL,
            hash bytea NOT NULL,                -- HMAC of the state under the user's key
            created_at double precision NOT NULL
        )""",
        "CREATE INDEX checkpoints_by_thread ON checkpoints (user_id, thread_id, id)",
        "CREATE INDEX checkpoints_by_time ON checkpoints (user_id, thread_id, created_at)",
        # A thread's chain stays unbroken under concurrent saves: one child per parent.
        "CREATE UNIQUE INDEX checkpoints_one_child ON checkpoints (user_id, thread_id, parent_id)",
        """CREATE TABLE tool_calls (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            user_id text NOT NULL,
            tool_name text NOT NULL,
            status text NOT NULL,
            input bytea,                        -- sealed
            input_length integer,
            input_hash bytea,                   -- HMAC under the user's key
            output bytea,                       -- sealed
            output_length integer,
            output_hash bytea,
            duration_ms double precision,
            tokens integer,
            cost_usd double precision,
            created_at double precision NOT NULL
        )""",
        "CREATE INDEX tool_calls_by_session ON tool_calls (session_id, id)",
    ]


def _p004_audit(ctx: SchemaContext) -> list[str]:
    return [
        """CREATE TABLE audit_log (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at double precision NOT NULL,
            user_id text NOT NULL,
            session_id text,
            action text NOT NULL,
            ids jsonb NOT NULL,
            detail jsonb NOT NULL,              -- counts and HMACs (under the user's key), never text
            prev_hash text NOT NULL,
            hash text NOT NULL,
            UNIQUE (prev_hash)                  -- one chain: two appends cannot share a predecessor
        )""",
        "CREATE INDEX audit_by_user ON audit_log (user_id, id)",
        "CREATE INDEX audit_by_session ON audit_log (session_id, id) WHERE session_id IS NOT NULL",
        """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$""",
        "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    ]


POSTGRES_MIGRATIONS: tuple[PostgresMigration, ...] = (
    PostgresMigration("001_facts", _p001_facts),
    PostgresMigration("002_sessions", _p002_sessions),
    PostgresMigration("003_run_state", _p003_run_state),
    PostgresMigration("004_audit", _p004_audit),
)


async def apply_schema(database: PostgresDatabase, ctx: SchemaContext) -> list[str]:
    """Apply every step not yet recorded; return the names applied now (empty when up to date)."""
    applied_now: list[str] = []
    async with database.unit_of_work() as connection:
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL)"
        )
    for step in POSTGRES_MIGRATIONS:
        async with database.unit_of_work() as connection:
            await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            cursor = await connection.execute("SELECT 1 FROM schema_migrations WHERE name = %s", (step.name,))
            if await cursor.fetchone() is not None:
                continue
            for statement in step.statements(ctx):
                await connection.execute(statement.encode())
            await connection.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (%s, now())", (step.name,)
            )
            applied_now.append(step.name)
    return applied_now
