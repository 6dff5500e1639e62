import io
import struct

import pytest

from memory_server.memory.sealed import (
    CHECK_BYTES,
    HEADER_BYTES,
    ScryptParams,
    SealedFileError,
    SealedWriter,
    UnsealedReader,
    is_sealed,
    unseal,
    verify,
)

FAST = ScryptParams(log2_n=15)  # the lowest the format is meant for; the default is 2**17
PLAINTEXT = b"".join(f'{{"type":"fact","content":"line {i} \xc3\xbc"}}\n'.encode() for i in range(400))


def seal(data: bytes = PLAINTEXT, passphrase: str = "correct horse", chunk_size: int = 1_000) -> bytes:
    out = io.BytesIO()
    writer = SealedWriter(out, passphrase, chunk_size=chunk_size, params=FAST)
    for start in range(0, len(data), 777):  # writes that do not line up with chunks
        writer.write(data[start : start + 777])
    writer.close()
    return out.getvalue()


def chunks(sealed: bytes) -> tuple[bytes, list[bytes]]:
    """The file's header (with its check) and its framed chunks."""
    head, offset, found = sealed[: HEADER_BYTES + CHECK_BYTES], HEADER_BYTES + CHECK_BYTES, []
    while offset < len(sealed):
        (length,) = struct.unpack(">I", sealed[offset : offset + 4])
        found.append(sealed[offset : offset + 4 + length])
        offset += 4 + length
    return head, found


def opened(sealed: bytes, passphrase: str = "correct horse") -> bytes:
    return b"".join(unseal(io.BytesIO(sealed), passphrase))


def test_a_sealed_file_opens_to_exactly_what_was_written_in_several_chunks() -> None:
    sealed = seal()
    assert is_sealed(sealed) and len(chunks(sealed)[1]) > 10
    assert opened(sealed) == PLAINTEXT
    assert UnsealedReader(io.BytesIO(sealed), "correct horse").read() == PLAINTEXT
    assert verify(io.BytesIO(sealed), "correct horse") == len(PLAINTEXT)
    assert b"line 1" not in sealed


@pytest.mark.parametrize("data", [b"", b"x", b"y" * 1_000, b"z" * 1_001])
def test_empty_and_chunk_sized_plaintexts_round_trip(data: bytes) -> None:
    assert opened(seal(data)) == data


def test_two_seals_of_the_same_data_differ() -> None:
    assert seal() != seal()


def test_a_wrong_passphrase_is_named_as_such() -> None:
    with pytest.raises(SealedFileError, match="Wrong passphrase"):
        opened(seal(), "wrong horse")


def test_a_flipped_byte_in_a_chunk_is_detected() -> None:
    sealed = bytearray(seal())
    sealed[len(sealed) // 2] ^= 0x01
    with pytest.raises(SealedFileError, match="damaged or was altered"):
        opened(bytes(sealed))


def test_a_changed_header_is_detected() -> None:
    sealed = bytearray(seal())
    sealed[HEADER_BYTES - 1] ^= 0x01  # the chunk size field
    with pytest.raises(SealedFileError):
        opened(bytes(sealed))


@pytest.mark.parametrize("cut", ["last chunk", "mid chunk", "mid length"])
def test_a_truncated_file_is_detected(cut: str) -> None:
    sealed = seal()
    head, found = chunks(sealed)
    shorter = {
        "last chunk": head + b"".join(found[:-1]),
        "mid chunk": sealed[:-10],
        "mid length": head + b"".join(found[:-1]) + found[-1][:2],
    }[cut]
    with pytest.raises(SealedFileError, match="damaged or was altered"):
        opened(shorter)


def test_swapped_chunks_are_detected() -> None:
    head, found = chunks(seal())
    found[0], found[1] = found[1], found[0]
    with pytest.raises(SealedFileError, match="chunk 0 fails authentication"):
        opened(head + b"".join(found))


def test_an_appended_chunk_is_detected() -> None:
    head, found = chunks(seal())
    with pytest.raises(SealedFileError, match="damaged or was altered"):
        opened(head + b"".join(found) + found[1])


def test_a_plain_file_is_not_taken_for_a_sealed_one() -> None:
    assert not is_sealed(PLAINTEXT)
    with pytest.raises(SealedFileError, match="not a sealed"):
        opened(PLAINTEXT)


def test_an_abandoned_writer_leaves_a_file_that_reads_as_truncated() -> None:
    out = io.BytesIO()
    writer = SealedWriter(out, "correct horse", chunk_size=1_000, params=FAST)
    writer.write(PLAINTEXT)
    del writer  # an export that failed half-way: never closed
    with pytest.raises(SealedFileError, match="damaged or was altered"):
        opened(out.getvalue())
