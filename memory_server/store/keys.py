"""Where the database key comes from: a passphrase in the environment, or a key file.

A passphrase goes to SQLCipher as is; SQLCipher derives the key from it (PBKDF2-HMAC-SHA512,
256,000 iterations, with a random salt kept in the file). A key file holds 32 random bytes
as hex and is used as a raw key, so opening costs no derivation.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from memory_server.errors import StoreError

PASSPHRASE_ENV = "MEMORY_SERVER_PASSPHRASE"
_RAW_KEY_HEX_CHARS = 64


@dataclass(frozen=True, repr=False)
class DatabaseKey:
    """A key ready for `PRAGMA key`, and a description of where it came from (never the key)."""

    pragma_value: str
    source: str

    def __repr__(self) -> str:
        return f"DatabaseKey(source={self.source!r})"


def passphrase_key(passphrase: str) -> DatabaseKey:
    if not passphrase:
        raise StoreError(
            f"{PASSPHRASE_ENV} is set but empty. Set it to your passphrase, or unset it to use a key file."
        )
    return DatabaseKey(pragma_value=_sql_string(passphrase), source=f"passphrase from {PASSPHRASE_ENV}")


def raw_key(key_hex: str, source: str) -> DatabaseKey:
    return DatabaseKey(pragma_value=_sql_string(f"x'{key_hex}'"), source=source)


def key_file_key(key_file: Path, *, database_exists: bool) -> DatabaseKey:
    """Read the key file, creating it (owner-only) when neither it nor the database exists yet."""
    if not key_file.exists():
        if database_exists:
            raise StoreError(
                f"The database exists but its key file {key_file} is missing. Restore the key file, "
                f"or set {PASSPHRASE_ENV} if the database was created with a passphrase."
            )
        try:
            return raw_key(create_key_file(key_file), f"key file {key_file}")
        except FileExistsError:
            pass  # another server starting at the same moment made it first: use theirs
    mode = key_file.stat().st_mode
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StoreError(
            f"Key file {key_file} is readable by other users (mode {stat.filemode(mode)}). Run: chmod 600 {key_file}"
        )
    key_hex = key_file.read_text(encoding="ascii", errors="replace").strip()
    if len(key_hex) != _RAW_KEY_HEX_CHARS or any(c not in "0123456789abcdefABCDEF" for c in key_hex):
        raise StoreError(f"Key file {key_file} is damaged: it must hold 64 hex characters. Restore it from a backup.")
    return raw_key(key_hex, f"key file {key_file}")


def create_key_file(key_file: Path) -> str:
    """Write a new random key with mode 0600; refuse to overwrite an existing file.

    The key is written to a private temporary file and linked into place, so a process that
    sees the key file sees it whole; FileExistsError means another process made it first.
    """
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_hex = secrets.token_hex(_RAW_KEY_HEX_CHARS // 2)
    partial = key_file.with_name(f".{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(key_hex + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.link(partial, key_file)
    finally:
        partial.unlink(missing_ok=True)
    return key_hex


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
