"""Passphrase-sealed files: AES-256-GCM in authenticated chunks, key from scrypt.

Layout (all integers big-endian):

    header  = magic "MEMSEAL\\0" | version 1 | kdf 1 (scrypt) | log2(n) | r | p | salt(16) | nonce prefix(7)
              | chunk size(4)                                                               = 40 bytes
    check   = HMAC-SHA256(mac key, header)                                                  = 32 bytes
    chunk*  = length(4) | AES-256-GCM(enc key, nonce, plaintext, aad)

scrypt(passphrase, salt) gives 64 bytes: the encryption key, then the key of `check`, so a wrong
passphrase is told apart from a damaged file before any chunk is opened. Each chunk's nonce is
the prefix, the chunk's index (4 bytes) and a final-chunk flag (1 byte) — the STREAM
construction — and the AAD is the header with the same index and flag: a changed header, a
changed, reordered, dropped or appended chunk, and a file cut at a chunk boundary all fail
authentication. Plaintext is released chunk by chunk, each only after its tag is checked.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from memory_server.errors import MemoryServerError

MAGIC = b"MEMSEAL\x00"
VERSION = 1
KDF_SCRYPT = 1
_HEADER = struct.Struct(">8sBBBBB16s7sI")
HEADER_BYTES = _HEADER.size
CHECK_BYTES = 32
TAG_BYTES = 16
DEFAULT_CHUNK = 1 << 20
# Refuse headers that would make opening a file cost unbounded memory or time.
MAX_LOG2_N, MAX_R, MAX_P, MAX_CHUNK = 22, 32, 16, 64 << 20


class SealedFileError(MemoryServerError):
    """A sealed file cannot be opened: wrong passphrase, damaged or altered, or not ours."""


@dataclass(frozen=True)
class ScryptParams:
    """n = 2**17 (128 MiB, ~0.3 s here): memory-hard enough to make guessing costly."""

    log2_n: int = 17
    r: int = 8
    p: int = 1


def is_sealed(head: bytes) -> bool:
    return head.startswith(MAGIC)


def _derive(passphrase: str, salt: bytes, params: ScryptParams) -> tuple[bytes, bytes]:
    if not passphrase:
        raise SealedFileError("The passphrase is empty. Give a passphrase (at least a few words).")
    kdf = Scrypt(salt=salt, length=64, n=1 << params.log2_n, r=params.r, p=params.p)
    key = kdf.derive(passphrase.encode("utf-8"))
    return key[:32], key[32:]


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if final else 0)


class SealedWriter(io.RawIOBase):
    """A write-only stream that seals what is written to `sink`. `close()` writes the final chunk."""

    def __init__(
        self,
        sink: BinaryIO,
        passphrase: str,
        *,
        chunk_size: int = DEFAULT_CHUNK,
        params: ScryptParams | None = None,
    ) -> None:
        super().__init__()
        params = params or ScryptParams()
        if not 1 <= chunk_size <= MAX_CHUNK:
            raise ValueError("chunk_size out of range")
        salt, self._prefix = os.urandom(16), os.urandom(7)
        key, mac_key = _derive(passphrase, salt, params)
        self._aead = AESGCM(key)
        self._header = _HEADER.pack(
            MAGIC, VERSION, KDF_SCRYPT, params.log2_n, params.r, params.p, salt, self._prefix, chunk_size
        )
        self._sink = sink
        self._chunk = chunk_size
        self._buffer = bytearray()
        self._index = 0
        sink.write(self._header + hmac.new(mac_key, self._header, hashlib.sha256).digest())

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("write to a closed SealedWriter")
        self._buffer += data
        # Keep at least one byte back: the last chunk must be sealed as final at close().
        while len(self._buffer) > self._chunk:
            self._seal(bytes(self._buffer[: self._chunk]), final=False)
            del self._buffer[: self._chunk]
        return len(data)

    def _seal(self, plaintext: bytes, *, final: bool) -> None:
        if self._index >= 0xFFFFFFFF:
            raise SealedFileError("The export is too large to seal (over 4 billion chunks).")
        aad = self._header + struct.pack(">IB", self._index, int(final))
        sealed = self._aead.encrypt(_nonce(self._prefix, self._index, final), plaintext, aad)
        self._sink.write(struct.pack(">I", len(sealed)) + sealed)
        self._index += 1

    def __del__(self) -> None:
        # An abandoned writer (an export that failed) must not seal a final chunk: left
        # unfinished, the file reads as truncated instead of as a shorter, valid export.
        if not self.closed:
            self._buffer.clear()
            io.RawIOBase.close(self)

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buffer), final=True)
            self._buffer.clear()
            self._sink.flush()
        super().close()


def _read_exact(source: BinaryIO, size: int) -> bytes:
    data = source.read(size)
    return data if data is not None else b""


def unseal(source: BinaryIO, passphrase: str) -> Iterator[bytes]:
    """Yield the plaintext chunk by chunk; raise SealedFileError on any mismatch.

    A generator: the header and passphrase are checked on the first `next()`. Truncation is
    only known at the end, so callers that act on the data should `verify` the file first.
    """
    header = _read_exact(source, HEADER_BYTES)
    if len(header) < HEADER_BYTES or not is_sealed(header):
        raise SealedFileError("This is not a sealed memory-server export (its first bytes are not MEMSEAL).")
    _, version, kdf, log2_n, r, p, salt, prefix, chunk_size = _HEADER.unpack(header)
    if version != VERSION or kdf != KDF_SCRYPT:
        raise SealedFileError(
            f"This sealed export uses format version {version} (kdf {kdf}); this memory-server reads version "
            f"{VERSION}. Upgrade memory-server."
        )
    if not (1 <= log2_n <= MAX_LOG2_N and 1 <= r <= MAX_R and 1 <= p <= MAX_P and 1 <= chunk_size <= MAX_CHUNK):
        raise SealedFileError("The sealed export's header asks for out-of-range parameters; the file is damaged.")
    check = _read_exact(source, CHECK_BYTES)
    key, mac_key = _derive(passphrase, salt, ScryptParams(log2_n, r, p))
    if not hmac.compare_digest(check, hmac.new(mac_key, header, hashlib.sha256).digest()):
        raise SealedFileError(
            "Wrong passphrase for this sealed export (or its header was altered). Nothing was read. Use the "
            "passphrase given at export (env MEMORY_SERVER_EXPORT_PASSPHRASE)."
        )
    aead = AESGCM(key)
    index = 0
    pending = _read_chunk(source, chunk_size)
    if pending is None:
        raise _damaged("it ends before its first chunk (truncated)")
    while pending is not None:
        following = _read_chunk(source, chunk_size)
        final = following is None
        aad = header + struct.pack(">IB", index, int(final))
        try:
            yield aead.decrypt(_nonce(prefix, index, final), pending, aad)
        except InvalidTag:
            raise _damaged(f"chunk {index} fails authentication (altered, reordered or truncated)") from None
        pending = following
        index += 1


def _read_chunk(source: BinaryIO, chunk_size: int) -> bytes | None:
    length_bytes = _read_exact(source, 4)
    if not length_bytes:
        return None
    if len(length_bytes) < 4:
        raise _damaged("it ends inside a chunk header (truncated)")
    (length,) = struct.unpack(">I", length_bytes)
    if not TAG_BYTES <= length <= chunk_size + TAG_BYTES:
        raise _damaged(f"a chunk claims {length} bytes")
    data = _read_exact(source, length)
    if len(data) < length:
        raise _damaged("it ends inside a chunk (truncated)")
    return data


def _damaged(why: str) -> SealedFileError:
    return SealedFileError(
        f"The sealed export is damaged or was altered: {why}. Nothing from it can be trusted; export again."
    )


def verify(source: BinaryIO, passphrase: str) -> int:
    """Check the passphrase and every chunk without keeping the plaintext; returns its size."""
    return sum(len(chunk) for chunk in unseal(source, passphrase))


class UnsealedReader(io.RawIOBase):
    """`unseal` as a readable binary stream (wrap it in io.TextIOWrapper for lines)."""

    def __init__(self, source: BinaryIO, passphrase: str) -> None:
        super().__init__()
        self._chunks = unseal(source, passphrase)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
