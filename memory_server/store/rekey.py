"""Changing the database key, and finishing a key change that was interrupted.

A rekey runs with the database locked exclusively (so no server has it open), in this order:

1. write the new key to `memory.key.new` and copy the current key file to `memory.key.old`;
2. `PRAGMA rekey`: SQLCipher re-encrypts every page in one transaction of the database itself,
   so the file is keyed either by the old key or by the new one, never by a mix;
3. check that the new key opens the file and the old one no longer does;
4. rename `memory.key.new` over `memory.key` (atomic) and delete `memory.key.old`.

A crash at any point leaves a key file that opens the database: `memory.key` before step 2
completes, `memory.key.new` after it. `recover` (run by every open) finds the one that opens,
puts it in place and removes the other, while holding a connection that keeps a rekey out.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import sqlcipher3

from memory_server.config import Settings
from memory_server.errors import StoreBusyError, StoreError, WrongKeyError
from memory_server.store import connection
from memory_server.store.keys import PASSPHRASE_ENV, DatabaseKey, key_file_key, passphrase_key, raw_key

log = logging.getLogger(__name__)

NEW_SUFFIX = ".new"
OLD_SUFFIX = ".old"
LOCK_WAIT_MS = 2_000
NEW_PASSPHRASE_ENV = "MEMORY_SERVER_NEW_PASSPHRASE"  # read by `rekey --to-passphrase`


def new_key_file(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + NEW_SUFFIX)


def old_key_file(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + OLD_SUFFIX)


@dataclass(frozen=True)
class RekeyPlan:
    path: Path
    key_file: Path
    old_key: DatabaseKey
    new_key: DatabaseKey
    new_hex: str | None  # the new raw key when the target is a key file, else None (a passphrase)


@dataclass(frozen=True)
class RekeyResult:
    database: Path
    old_source: str
    new_source: str


# -- opening -------------------------------------------------------------------------------


def _busy(error: Exception) -> bool:
    return "locked" in str(error) or "busy" in str(error)


@contextmanager
def _held(path: Path, key: DatabaseKey) -> Iterator[sqlcipher3.Connection | None]:
    """A connection that `key` opens, kept open (it holds a shared lock in WAL mode, which keeps
    a rekey out), or None when the key does not open the file."""
    try:
        conn = connection.connect(path, key, busy_timeout_ms=LOCK_WAIT_MS)
    except WrongKeyError:
        yield None
        return
    try:
        yield conn
    finally:
        conn.close()


def opens(path: Path, key: DatabaseKey) -> bool:
    with _held(path, key) as conn:
        return conn is not None


def _read_key_file(path: Path) -> DatabaseKey | None:
    try:
        return key_file_key(path, database_exists=True)
    except (StoreError, OSError):
        return None


@contextmanager
def exclusive(path: Path, key: DatabaseKey, *, wait_ms: int = LOCK_WAIT_MS) -> Iterator[sqlcipher3.Connection]:
    """The database opened with `key` and locked against every other connection until closed."""
    if not path.exists():
        raise StoreError(f"There is no database at {path}. Check --db / --home.")
    conn = connection.connect(path, key, busy_timeout_ms=wait_ms)
    try:
        # In WAL mode every open connection keeps a shared lock, so this fails while a server runs.
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        try:
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("COMMIT")
        except connection.OperationalError as error:
            if not _busy(error):
                raise
            raise StoreBusyError(
                f"Another process has {path} open (a running memory-server?). Close the MCP hosts that use it, "
                "then run the command again. Nothing was changed."
            ) from None
        yield conn
    finally:
        conn.close()


# -- rekey ---------------------------------------------------------------------------------


def _write_new_file(path: Path, text: str) -> None:
    """Owner-only, created fresh (never over an existing file), flushed to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stage(settings: Settings, old_key: DatabaseKey, new_passphrase: str | None) -> RekeyPlan:
    """Step 1: the new key, on disk beside the current one before the database changes.
    Call while holding `exclusive`."""
    key_file = settings.key_file_path
    _discard_leftovers(key_file)  # the current key opened the file, so any leftovers are stale
    if new_passphrase is not None:
        return RekeyPlan(settings.database_path, key_file, old_key, passphrase_key(new_passphrase), None)
    new_hex = secrets.token_hex(32)
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_new_file(new_key_file(key_file), new_hex + "\n")
    if key_file.exists():
        _write_new_file(old_key_file(key_file), key_file.read_text(encoding="ascii", errors="replace"))
    _fsync_dir(key_file.parent)
    return RekeyPlan(settings.database_path, key_file, old_key, raw_key(new_hex, f"key file {key_file}"), new_hex)


def apply(conn: sqlcipher3.Connection, plan: RekeyPlan) -> None:
    """Step 2: re-encrypt every page with the new key, in one transaction."""
    conn.execute(f"PRAGMA rekey = {plan.new_key.pragma_value}")
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()


def finish(plan: RekeyPlan) -> RekeyResult:
    """Steps 3 and 4: confirm, then put the new key file in place and drop the old key."""
    if not opens(plan.path, plan.new_key):
        raise StoreError(
            f"After rekeying, the new key ({plan.new_key.source}) does not open {plan.path}. The old key file was "
            f"kept as {old_key_file(plan.key_file)}; run `memory-server doctor` and report this."
        )
    if opens(plan.path, plan.old_key):
        raise StoreError(f"After rekeying, the old key ({plan.old_key.source}) still opens {plan.path}.")
    if plan.new_hex is not None:
        _promote(new_key_file(plan.key_file), plan.key_file, plan.new_hex)
    else:
        # Keyed by a passphrase now: a key file that no longer opens the database would only mislead.
        plan.key_file.unlink(missing_ok=True)
    old_key_file(plan.key_file).unlink(missing_ok=True)
    if plan.key_file.parent.exists():
        _fsync_dir(plan.key_file.parent)
    log.info("rekeyed %s: now opened by %s", plan.path, plan.new_key.source)
    return RekeyResult(database=plan.path, old_source=plan.old_key.source, new_source=plan.new_key.source)


def rekey(
    settings: Settings, old_key: DatabaseKey, *, new_passphrase: str | None = None, wait_ms: int = LOCK_WAIT_MS
) -> RekeyResult:
    """Re-encrypt the database under a new random key file, or under `new_passphrase`."""
    if new_passphrase is not None and not new_passphrase:
        raise StoreError("The new passphrase is empty. Choose a long passphrase.")
    with exclusive(settings.database_path, old_key, wait_ms=wait_ms) as conn:
        plan = stage(settings, old_key, new_passphrase)
        apply(conn, plan)
    return finish(plan)


def _promote(new_file: Path, key_file: Path, new_hex: str) -> None:
    try:
        os.replace(new_file, key_file)
    except FileNotFoundError:
        # Another process's `recover` promoted it already; make sure the right key is in place.
        current = key_file.read_text(encoding="ascii", errors="replace").strip() if key_file.exists() else ""
        if current != new_hex:
            tmp = key_file.with_name(key_file.name + f".tmp-{secrets.token_hex(4)}")
            _write_new_file(tmp, new_hex + "\n")
            os.replace(tmp, key_file)


def _discard_leftovers(key_file: Path) -> None:
    new_key_file(key_file).unlink(missing_ok=True)
    old_key_file(key_file).unlink(missing_ok=True)


# -- recovery ------------------------------------------------------------------------------


def recover(settings: Settings) -> DatabaseKey | None:
    """Finish or undo a rekey that was interrupted, if one was. Returns the key that opens the
    database when key files had to be sorted out, else None (nothing to do)."""
    key_file = settings.key_file_path
    new_file, old_file = new_key_file(key_file), old_key_file(key_file)
    path = settings.database_path
    if not (new_file.exists() or old_file.exists()) or not path.exists():
        return None
    if settings.passphrase is not None:
        current: DatabaseKey | None = passphrase_key(settings.passphrase.get_secret_value())
    else:
        current = _read_key_file(key_file) if key_file.exists() else None
    try:
        if current is not None:
            with _held(path, current) as conn:
                if conn is not None:
                    _discard_leftovers(key_file)
                    log.warning("removed key files left by an unfinished rekey (%s opens the database)", current.source)
                    return current
        for spare in (new_file, old_file):
            candidate = _read_key_file(spare) if spare.exists() else None
            if candidate is None:
                continue
            with _held(path, candidate) as conn:
                if conn is None:
                    continue
                with suppress(FileNotFoundError):  # another process finished the same recovery just now
                    os.replace(spare, key_file)
                _discard_leftovers(key_file)
                _fsync_dir(key_file.parent)
                note = (
                    f" (unset {PASSPHRASE_ENV}: the database is keyed by the key file)" if settings.passphrase else ""
                )
                log.warning("finished an interrupted rekey: %s now holds the key that opens %s%s", key_file, path, note)
                return DatabaseKey(pragma_value=candidate.pragma_value, source=f"key file {key_file}")
    except StoreBusyError:
        return None  # a rekey is running right now; the normal open waits for it, then reports
    return None
