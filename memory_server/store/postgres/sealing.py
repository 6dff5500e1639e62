"""Sealing against the database's operator: per-user data keys, AES-256-GCM, blind index.

Every text a user gave is sealed in the application before it reaches PostgreSQL, under a
256-bit data key of that user. The row's table, id and user are bound in as associated data,
so a ciphertext copied to another row or another user's row fails to open. Data keys are
wrapped (AES-256-GCM) by a key-encryption key derived from the master key the server already
manages, and kept in a key store of their own, never in the database: a database backup holds
no key, so destroying a user's wrapped key (crypto-shredding) makes every copy of their rows
in backups and replicas unreadable.

From the data key three keys are derived (HKDF-SHA256), one per purpose: sealing, the blind
index (HMAC of each normalized term, so keyword search works on ciphertext) and hashing (the
exact-duplicate key and every content hash the database holds, so an operator cannot confirm
a guess by hashing it).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from memory_server.errors import StoreError, WrongKeyError
from memory_server.store.keys import DatabaseKey

_KEY_BYTES = 32
_NONCE_BYTES = 12
_FORMAT = b"\x01"  # first byte of every sealed value and wrapped key: the format version


class UserKeyErasedError(StoreError):
    """The user's data key was destroyed: their sealed rows can never be opened again."""


class KeyStore(Protocol):
    """Where wrapped data keys live, apart from the database. An external KMS can implement it."""

    def load(self, user_id: str) -> bytes | None:
        """The user's wrapped data key, or None if the user has none (or it was destroyed)."""

    def store_new(self, user_id: str, wrapped: bytes) -> bytes:
        """Keep `wrapped` unless the user already has a key; return the key that is kept
        (two instances creating a user's key at once must end up with one)."""

    def destroy(self, user_id: str) -> None:
        """Forget the user's wrapped key for good."""

    def users(self) -> list[str]:
        """Every user with a key (for re-wrapping at `rekey`)."""


def wrapping_key(master: DatabaseKey) -> bytes:
    """The key-encryption key for data keys, derived from the server's master key.

    A key file holds 256 random bits, so HKDF suffices. A passphrase should go through a slow
    KDF with a salt kept in the key store before it reaches here (not done yet, see the report).
    """
    return _derive(master.pragma_value.encode("utf-8"), b"memory-server data-key wrapping v1")


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=None, info=purpose).derive(secret)


def _bind(*parts: str) -> bytes:
    """Unambiguous associated data: each part length-prefixed, so ("a", "bc") ≠ ("ab", "c")."""
    out = bytearray()
    for part in parts:
        encoded = part.encode("utf-8")
        out += struct.pack(">I", len(encoded)) + encoded
    return bytes(out)


def _seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return _FORMAT + nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def _open(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    if sealed[:1] != _FORMAT or len(sealed) < 1 + _NONCE_BYTES + 16:
        raise InvalidTag
    nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
    return AESGCM(key).decrypt(nonce, body, associated)


@dataclass(frozen=True, repr=False)
class UserKeys:
    """One user's keys, derived from their data key. Never logged (no repr of the keys)."""

    user_id: str
    _seal_key: bytes
    _index_key: bytes
    _hash_key: bytes

    def __repr__(self) -> str:
        return f"UserKeys(user_id={self.user_id!r})"

    def seal(self, table: str, row_id: int | str, text: str) -> bytes:
        return _seal(self._seal_key, text.encode("utf-8"), _bind(table, str(row_id), self.user_id))

    def open(self, table: str, row_id: int | str, sealed: bytes) -> str:
        try:
            return _open(self._seal_key, bytes(sealed), _bind(table, str(row_id), self.user_id)).decode("utf-8")
        except InvalidTag:
            raise StoreError(
                f"A sealed value in {table} row {row_id} does not open for this user: it was altered or "
                "copied from another row or user. Restore the row from a backup."
            ) from None

    def blind_term(self, term: str) -> bytes:
        return hmac.digest(self._index_key, term.encode("utf-8"), hashlib.sha256)

    def blind_index(self, terms: Iterable[str]) -> list[bytes]:
        """The indexed terms of a text, each as an HMAC: equal terms give equal values for one
        user only. The domain passes `memory.text.words(text)` (the SQLite search's split and
        case folding); the store does not import the domain."""
        return [self.blind_term(term) for term in dict.fromkeys(terms)]

    def content_key(self, statement_form: str) -> bytes:
        """The exact-duplicate key, keyed by this user: the domain passes
        `memory.text.same_statement_form(text)`, what `memory.text.content_key` hashes today."""
        return self.mac(statement_form.encode("utf-8"))

    def mac(self, data: bytes) -> bytes:
        """A keyed hash of user data, for every hash the database holds (content, state, audit)."""
        return hmac.digest(self._hash_key, data, hashlib.sha256)


@dataclass
class Sealer:
    """Hands out each user's keys: unwraps (or creates) their data key through the key store."""

    key_encryption_key: bytes
    key_store: KeyStore
    _cache: dict[str, UserKeys] = field(default_factory=dict, repr=False)

    def keys_for(self, user_id: str, *, create: bool = True) -> UserKeys:
        cached = self._cache.get(user_id)
        if cached is not None:
            return cached
        wrapped = self.key_store.load(user_id)
        if wrapped is None:
            if not create:
                raise UserKeyErasedError(
                    f"User {user_id!r} has no data key (it was erased, or the key store is not the one "
                    "this database was written with). Their sealed rows cannot be opened."
                )
            wrapped = self.key_store.store_new(user_id, self._wrap(user_id, secrets.token_bytes(_KEY_BYTES)))
        data_key = self._unwrap(user_id, wrapped)
        keys = UserKeys(
            user_id=user_id,
            _seal_key=_derive(data_key, b"memory-server seal v1"),
            _index_key=_derive(data_key, b"memory-server blind index v1"),
            _hash_key=_derive(data_key, b"memory-server keyed hash v1"),
        )
        self._cache[user_id] = keys
        return keys

    def erase(self, user_id: str) -> None:
        """Crypto-shredding: destroy the user's data key, so copies of their rows stay sealed forever."""
        self._cache.pop(user_id, None)
        self.key_store.destroy(user_id)

    def rewrap_all(self, new_key_encryption_key: bytes) -> int:
        """Re-wrap every data key under a new master key (for `rekey`); rows are not touched."""
        count = 0
        for user_id in self.key_store.users():
            wrapped = self.key_store.load(user_id)
            if wrapped is None:
                continue
            data_key = self._unwrap(user_id, wrapped)
            rewrapped = _seal(new_key_encryption_key, data_key, _bind("data-key", user_id))
            self.key_store.destroy(user_id)
            self.key_store.store_new(user_id, rewrapped)
            count += 1
        self.key_encryption_key = new_key_encryption_key
        self._cache.clear()
        return count

    def _wrap(self, user_id: str, data_key: bytes) -> bytes:
        return _seal(self.key_encryption_key, data_key, _bind("data-key", user_id))

    def _unwrap(self, user_id: str, wrapped: bytes) -> bytes:
        try:
            return _open(self.key_encryption_key, wrapped, _bind("data-key", user_id))
        except InvalidTag:
            raise WrongKeyError(
                f"The master key does not open the data key of user {user_id!r}. Use the key file or "
                "passphrase this store was created with."
            ) from None


class DirectoryKeyStore:
    """Wrapped data keys as one owner-only file per user in a folder next to the master key.

    File names are a hash of the user id (ids may hold any character). Backup rule: back this
    folder up apart from the database; a key-store backup older than an erase can still open
    database backups of the erased user until that key-store backup is itself destroyed.
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def _path(self, user_id: str) -> Path:
        return self._folder / (hashlib.sha256(user_id.encode("utf-8")).hexdigest() + ".key")

    def load(self, user_id: str) -> bytes | None:
        try:
            content = self._path(user_id).read_bytes()
        except FileNotFoundError:
            return None
        name, _, wrapped = content.partition(b"\n")
        return bytes.fromhex(wrapped.decode("ascii").strip()) if name.decode("utf-8") == user_id else None

    def store_new(self, user_id: str, wrapped: bytes) -> bytes:
        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self._path(user_id)
        partial = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(user_id.encode("utf-8") + b"\n" + wrapped.hex().encode("ascii") + b"\n")
                file.flush()
                os.fsync(file.fileno())
            os.link(partial, target)  # atomic and refuses to overwrite: the first writer wins
        except FileExistsError:
            pass
        finally:
            partial.unlink(missing_ok=True)
        kept = self.load(user_id)
        if kept is None:
            raise StoreError(f"The key store {self._folder} lost the key of {user_id!r} while it was written. Retry.")
        return kept

    def destroy(self, user_id: str) -> None:
        path = self._path(user_id)
        try:
            size = path.stat().st_size
            with path.open("r+b") as file:  # overwrite first: unlink alone leaves the bytes on disk
                file.write(secrets.token_bytes(size))
                file.flush()
                os.fsync(file.fileno())
            path.unlink()
        except FileNotFoundError:
            return

    def users(self) -> list[str]:
        if not self._folder.exists():
            return []
        return sorted(path.read_bytes().partition(b"\n")[0].decode("utf-8") for path in self._folder.glob("*.key"))
