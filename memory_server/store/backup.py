"""A consistent, encrypted copy of the live database, taken while servers keep writing.

The copy is made by SQLite's online backup API from one read transaction of the source, so it
is a single snapshot: in WAL mode writers in other processes go on meanwhile and are not in
it. The destination is a SQLCipher file keyed with the same key (pages are re-encrypted as
they are written), built under a temporary name, checked (it opens with the key,
`integrity_check` is ok, every table has the snapshot's row count), then renamed into place.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import sqlcipher3

from memory_server.errors import StoreError
from memory_server.store import connection
from memory_server.store.keys import DatabaseKey


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    rows: dict[str, int]  # per table, in the snapshot and in the copy
    integrity: str
    seconds: float


def row_counts(conn: sqlcipher3.Connection) -> dict[str, int]:
    """Rows of every ordinary table (virtual tables are counted through their shadow tables)."""
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name"
        ).fetchall()
    ]
    return {name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]) for name in names}


def backup(
    source: Path, key: DatabaseKey, dest: Path, *, force: bool = False, busy_timeout_ms: int = 5_000
) -> BackupResult:
    """Copy `source` to `dest`, encrypted with the same key. Refuses an existing `dest` unless `force`."""
    started = time.monotonic()
    dest = dest.expanduser()
    if not source.exists():
        raise StoreError(f"There is no database at {source}. Check --db / --home.")
    if dest.exists() and dest.resolve() == source.resolve():
        raise StoreError("The backup destination is the database itself. Choose another path.")
    if dest.is_dir():
        raise StoreError(f"{dest} is a folder. Give a file name, e.g. {dest / 'memory-backup.db'}.")
    if dest.exists() and not force:
        raise StoreError(f"{dest} already exists. Choose another path, or pass --force to replace it.")
    if not dest.parent.is_dir():
        raise StoreError(f"The folder {dest.parent} does not exist. Create it first.")
    partial = dest.with_name(f".{dest.name}.partial-{secrets.token_hex(4)}")
    try:
        rows = _copy(source, key, partial, busy_timeout_ms)
        integrity = _check(partial, key, rows)
        os.replace(partial, dest)
        _fsync_dir(dest.parent)
    finally:
        for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
            leftover.unlink(missing_ok=True)
    return BackupResult(
        path=dest, bytes=dest.stat().st_size, rows=rows, integrity=integrity, seconds=time.monotonic() - started
    )


def _copy(source: Path, key: DatabaseKey, partial: Path, busy_timeout_ms: int) -> dict[str, int]:
    src = connection.connect(source, key, busy_timeout_ms=busy_timeout_ms)
    try:
        out = connection.connect(partial, key)
        try:
            # One read transaction: the counts and the copied pages are the same snapshot.
            src.execute("BEGIN")
            try:
                rows = row_counts(src)
                src.backup(out)  # all pages in one step, so concurrent writers never restart it
            finally:
                src.execute("COMMIT")
            out.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            out.close()
    finally:
        src.close()
    return rows


def _check(partial: Path, key: DatabaseKey, expected: dict[str, int]) -> str:
    copy = connection.connect(partial, key)
    try:
        integrity = str(copy.execute("PRAGMA integrity_check").fetchone()[0])
        found = row_counts(copy)
    finally:
        copy.close()
    if integrity != "ok":
        raise StoreError(f"The backup copy failed its integrity check ({integrity}); nothing was kept. Retry.")
    if found != expected:
        differ = sorted(name for name in set(found) | set(expected) if found.get(name) != expected.get(name))
        raise StoreError(f"The backup copy's row counts differ from the database in {', '.join(differ)}. Retry.")
    return integrity


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
