"""Nothing stored is readable from the files on disk: database, WAL or shared memory."""

from __future__ import annotations

from pathlib import Path

from memory_server.app import open_memory
from memory_server.config import Settings
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.memory.facts import NewFact

SECRETS = ["Zanzibar-pineapple-7731", "quokka tangerine harmonica", "Mrs Oyelaran-Fitzgerald"]


def files_of(database: Path) -> list[Path]:
    return [p for p in (database, Path(f"{database}-wal"), Path(f"{database}-shm")) if p.exists()]


def plaintext_found(database: Path) -> list[str]:
    found = []
    for path in files_of(database):
        raw = path.read_bytes()
        for secret in SECRETS:
            # Words of 6+ bytes: shorter ones turn up in random ciphertext by chance.
            for form in (secret, secret.lower(), *(word for word in secret.split() if len(word) >= 6)):
                if form.encode("utf-8") in raw or form.encode("utf-16-le") in raw:
                    found.append(f"{form!r} in {path.name}")
    return found


async def test_the_database_and_its_wal_hold_none_of_the_stored_text(settings: Settings) -> None:
    async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder())) as memory:
        for secret in SECRETS:
            await memory.facts.remember("alice", NewFact(f"Remember {secret}", tags=[secret.split()[0]]))
        # While the server runs, recent writes sit in the WAL: check it too.
        assert Path(f"{settings.database_path}-wal").stat().st_size > 0
        assert plaintext_found(settings.database_path) == []
    assert plaintext_found(settings.database_path) == []
    assert settings.database_path.read_bytes()[:16] != b"SQLite format 3\x00"


def test_the_check_itself_finds_plaintext_when_it_is_there(tmp_path: Path) -> None:
    """Guards the test above against passing vacuously."""
    database = tmp_path / "plain.db"
    database.write_bytes(b"header " + SECRETS[1].encode() + b" trailer")
    assert plaintext_found(database) != []
