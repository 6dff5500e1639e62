"""The only place that opens SQLCipher: key first, then pragmas, then sqlite-vec.

There is no fallback to an unencrypted driver.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import time
from functools import cache
from pathlib import Path

import sqlcipher3

from memory_server.errors import StoreBusyError, StoreError, WrongKeyError
from memory_server.store.keys import PASSPHRASE_ENV, DatabaseKey

DriverError = sqlcipher3.Error
OperationalError = sqlcipher3.OperationalError
SQLITE_VERSION: str = sqlcipher3.sqlite_version
MAX_ROWID = 2**63 - 1  # larger ints cannot be bound as SQLite INTEGERs (OverflowError)


@cache
def sqlite_vec_path() -> str:
    """The sqlite-vec extension file, found without importing the package (which imports numpy)."""
    spec = importlib.util.find_spec("sqlite_vec")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError("The sqlite-vec package is not installed. Run: pip install sqlite-vec")
    return os.path.join(next(iter(spec.submodule_search_locations)), "vec0")


def connect(
    path: Path,
    key: DatabaseKey,
    *,
    busy_timeout_ms: int = 5_000,
    synchronous: str = "FULL",
    cache_mib: int = 64,
) -> sqlcipher3.Connection:
    """Open `path` with `key`, check the key, then configure the connection.

    A wrong key or a file that is not a database raises `WrongKeyError` before anything is
    written, so the file stays byte-for-byte as it was.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):  # another server created it at the same moment
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    # isolation_level=None: this code issues BEGIN IMMEDIATE / COMMIT itself.
    conn = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = {key.pragma_value}")
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlcipher3.DatabaseError as error:
            if isinstance(error, sqlcipher3.OperationalError) and ("locked" in str(error) or "busy" in str(error)):
                # Held exclusively (by `memory-server rekey`, say): the key could not even be tried.
                raise StoreBusyError(
                    f"{path} is locked by another process (a rekey in progress?); nothing was changed. "
                    "Retry in a moment."
                ) from None
            raise WrongKeyError(
                f"Cannot open {path}: the key ({key.source}) does not match, or the file is not a "
                f"memory-server database. The file was not changed. Use the passphrase or key file "
                f"it was created with (set {PASSPHRASE_ENV}), or point --db at another file."
            ) from None
        mode = _enable_wal(conn, busy_timeout_ms)
        if str(mode).lower() != "wal":
            raise StoreError(f"Cannot switch {path} to WAL mode (got {mode}); put the database on a local disk.")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        # Every page read from disk is decrypted; a cache that holds the vectors keeps a
        # nearest-neighbour scan from decrypting them all again (38 ms -> 4 ms at 10k facts).
        conn.execute(f"PRAGMA cache_size = {-1024 * int(cache_mib)}")
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.enable_load_extension(True)
        try:
            conn.load_extension(sqlite_vec_path())
        finally:
            conn.enable_load_extension(False)
    except BaseException:
        conn.close()
        raise
    return conn


def _enable_wal(conn: sqlcipher3.Connection, busy_timeout_ms: int) -> str:
    """Switch to WAL. When several servers open a new file at once, SQLite answers all but one
    "database is locked" at once, without waiting on busy_timeout; retry within that timeout."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlcipher3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)
