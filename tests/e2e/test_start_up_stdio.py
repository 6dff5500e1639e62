"""How a server process starts, seen from its host: the handshake never waits for the store
or the model, torch never enters the process, a store that cannot open explains itself in
every answer, and a missing or damaged model graph is made once, by a child process."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from memory_server.embeddings.graph import GRAPH_FILE, MANIFEST_FILE, Manifest
from tests.conftest import make_settings
from tests.stdio import call, call_error, graph_cache_dir, stdio_client

pytestmark = pytest.mark.e2e

HEAVY = ("torch", "transformers", "sentence_transformers")


def imported(importtime_log: str) -> set[str]:
    """Top-level packages named in `python -X importtime` output."""
    found = set()
    for line in importtime_log.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)", line)
        if match:
            found.add(match.group(1).split(".")[0])
    return found


async def test_the_serving_process_never_imports_torch(tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    with log.open("w") as errlog:
        async with stdio_client(tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"}, errlog=errlog) as client:
            await call(client, "remember_fact", content="Prefers green tea over coffee")
            hits = await call(client, "search_facts", query="what does the user drink")
    assert hits["hits"][0]["fact"]["content"] == "Prefers green tea over coffee"
    modules = imported(log.read_text())
    assert {"onnxruntime", "tokenizers", "memory_server"} <= modules  # the log saw the encoder load
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))


async def test_a_wrong_key_answers_the_handshake_and_every_call_with_the_fix(tmp_path: Path) -> None:
    async with stdio_client(tmp_path) as client:
        await call(client, "save_checkpoint", thread_id="task", state={"step": 1})
    database = make_settings(tmp_path).database_path
    before = database.read_bytes()

    log = tmp_path / "stderr.log"
    with log.open("w") as errlog:
        async with stdio_client(tmp_path, env={"MEMORY_SERVER_PASSPHRASE": "not the key"}, errlog=errlog) as client:
            tools = await client.list_tools()
            assert len(tools.tools) == 11
            for tool, arguments in [
                ("remember_fact", {"content": "Lives in Lyon"}),
                ("restore_checkpoint", {"thread_id": "task"}),
                ("get_user_context", {}),
            ]:
                message = await call_error(client, tool, **arguments)
                assert str(database) in message and "MEMORY_SERVER_PASSPHRASE" in message, message
            with pytest.raises(Exception, match=re.escape(str(database))):
                await client.read_resource("memory://context")
    assert database.read_bytes() == before  # refused, not touched
    stderr = log.read_text()
    assert "Traceback" not in stderr
    assert len([line for line in stderr.splitlines() if "cannot open its store" in line]) == 1


async def test_a_damaged_graph_is_made_again_once_when_two_servers_start_together(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(Path(graph_cache_dir()) / "models", cache / "models")
    [graph] = (cache / "models").glob(f"*/{GRAPH_FILE}")
    with graph.open("r+b") as file:  # one flipped byte in the middle of the weights
        file.seek(graph.stat().st_size // 2)
        byte = file.read(1)
        file.seek(-1, 1)
        file.write(bytes([byte[0] ^ 0xFF]))
    env = {"MEMORY_SERVER_EMBEDDINGS__CACHE_DIR": str(cache), "MEMORY_SERVER_LOG_LEVEL": "WARNING"}
    logs = [tmp_path / "a.log", tmp_path / "b.log"]

    async def host(name: str, log: Path) -> str:
        with log.open("w") as errlog:
            async with stdio_client(tmp_path / name, env=env, errlog=errlog) as client:
                answer = await call(client, "remember_fact", content=f"Host {name} prefers window seats")
        return str(answer["status"])

    assert await asyncio.gather(host("a", logs[0]), host("b", logs[1])) == ["created", "created"]
    stderr = "".join(log.read_text() for log in logs)
    assert stderr.count("preparing the ONNX graph") == 1, stderr
    assert "damaged" in stderr
    [folder] = [path.parent for path in (cache / "models").glob(f"*/{MANIFEST_FILE}")]
    manifest = Manifest.read(folder / MANIFEST_FILE)
    assert manifest.min_cosine >= 0.9999
    assert (folder / GRAPH_FILE).stat().st_size == manifest.graph_size
    assert not list((cache / "models").glob(".partial-*"))
