"""Backups and rekeys against a real server process over stdio: a backup is taken while the
server keeps writing; a rekey is refused while it runs and goes through once it has stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from memory_server.errors import StoreBusyError
from memory_server.store import connection
from memory_server.store import rekey as keys_ops
from memory_server.store.backup import backup
from memory_server.store.database import resolve_key
from tests.conftest import make_settings
from tests.stdio import call, stdio_client

pytestmark = pytest.mark.e2e


async def test_backup_while_a_server_writes_and_rekey_only_once_it_stopped(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    dest = tmp_path / "backup.db"
    saved: list[int] = []
    copied = asyncio.Event()
    underway = asyncio.Event()

    async with stdio_client(tmp_path) as client:
        first = await call(client, "save_checkpoint", thread_id="task-1", state={"step": 0})
        key = resolve_key(settings)

        async def writer() -> None:
            while not copied.is_set() or len(saved) < 40:
                answer = await call(client, "save_checkpoint", thread_id="task-1", state={"step": len(saved) + 1})
                saved.append(answer["checkpoint_id"])
                if len(saved) == 10:
                    underway.set()

        async def copier() -> None:
            await underway.wait()
            try:
                await asyncio.to_thread(backup, settings.database_path, key, dest)
            finally:
                copied.set()

        await asyncio.gather(writer(), copier())
        with pytest.raises(StoreBusyError, match="Another process has"):
            keys_ops.rekey(settings, key, wait_ms=200)
        answer = await call(client, "restore_checkpoint", thread_id="task-1")
        assert answer["state"] == {"step": len(saved)}  # the server was not disturbed

    copy = connection.connect(dest, key)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        in_copy = copy.execute("SELECT count(*) FROM audit_log WHERE action = 'checkpoint.saved'").fetchone()[0]
        latest = copy.execute("SELECT max(id) FROM checkpoints").fetchone()[0]
    finally:
        copy.close()
    assert 10 <= in_copy <= len(saved) + 1
    # Every checkpoint in the copy has its audit row, and no more.
    assert latest == [first["checkpoint_id"], *saved][in_copy - 1]

    keys_ops.rekey(settings, key)
    assert not keys_ops.opens(settings.database_path, key)
    async with stdio_client(tmp_path) as client:
        answer = await call(client, "restore_checkpoint", thread_id="task-1")
        assert answer["state"] == {"step": len(saved)}
