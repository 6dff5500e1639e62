"""`memory-server doctor`: a readable health report, one line per check."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from memory_server.config import Settings, load_settings
from memory_server.errors import MemoryServerError

Echo = Callable[[str], None]


def run_checks(flags: dict[str, Any], *, echo: Echo, torch: bool = False) -> int:
    """Run every check that can run; returns the number of problems. `torch`: also check the
    torch backend (imports torch; seconds)."""
    problems = 0

    def report(ok: bool, label: str, detail: str) -> None:
        nonlocal problems
        problems += 0 if ok else 1
        echo(f"{'ok ' if ok else 'FAIL'} {label:<12} {detail}")

    try:
        settings = load_settings(
            config_file=flags.get("config"),
            overrides={"store.path": flags.get("db"), "user": flags.get("user"), "home": flags.get("home")},
        )
    except MemoryServerError as error:
        report(False, "config", str(error))
        return problems
    report(True, "config", f"user {settings.user!r}, database {settings.database_path}")
    if settings.passphrase is not None:
        report(True, "key", "passphrase from MEMORY_SERVER_PASSPHRASE")
    else:
        key_file = settings.key_file_path
        report(True, "key", f"key file {key_file}" + ("" if key_file.exists() else " (created on first open)"))

    try:
        asyncio.run(_check_store(settings, report))
    except MemoryServerError as error:
        report(False, "database", str(error))

    _check_model(settings, report, torch=torch)
    echo("all checks passed" if not problems else f"{problems} problem(s) found")
    return problems


async def _check_store(settings: Settings, report: Callable[[bool, str, str], None]) -> None:
    from memory_server.app import open_memory

    async with open_memory(settings, preload_model=False) as memory:
        features = await memory.db.features()
        report(True, "database", f"opened {memory.db.path}")
        report(features["sqlcipher"] != "missing", "encryption", f"SQLCipher {features['sqlcipher']}")
        report(features["sqlite_vec"] != "missing", "sqlite-vec", features["sqlite_vec"])
        report(features["fts5"] == "yes", "fts5", "available" if features["fts5"] == "yes" else "missing")
        steps = await memory.db.applied_migrations()
        report(True, "schema", ", ".join(steps))
        report(True, "facts", f"{await memory.facts.count(memory.user_id)} live facts for {memory.user_id!r}")
        from memory_server.memory.audit import AuditService

        chain = await AuditService(memory.db).verify()
        report(
            chain.ok,
            "audit",
            f"{chain.rows} rows, hash chain intact"
            if chain.ok
            else f"{chain.problems[0]} ({len(chain.problems)} problem(s); `memory-server audit verify` lists them)",
        )


def _check_model(settings: Settings, report: Callable[[bool, str, str], None], *, torch: bool) -> None:
    """The configured encoder, its graph and its verification; the torch path when asked."""
    from memory_server.embeddings import load_encoder

    embeddings = settings.embeddings
    if embeddings.backend == "onnx":
        from memory_server.embeddings.graph import GraphCache
        from memory_server.embeddings.source import ModelSource

        try:
            found, reason = GraphCache(embeddings.graph_cache).find(ModelSource.of(embeddings.model))
        except MemoryServerError as error:
            found, reason = None, str(error)
        if found is None:
            report(False, "graph", f"{reason}. Run: memory-server model prepare")
            return
        manifest = found.manifest
        report(
            True,
            "graph",
            f"{found.graph} ({manifest.graph_size / 1e6:.0f} MB, verified on {manifest.verified_sentences} "
            f"sentences, min cosine {manifest.min_cosine:.6f}, {manifest.made_with})",
        )
    backends = [embeddings.backend] + (["torch"] if torch and embeddings.backend != "torch" else [])
    for backend in backends:
        try:
            started = time.perf_counter()
            encoder = load_encoder(embeddings.model_copy(update={"backend": backend}))
            loaded = time.perf_counter() - started
            [vector] = encoder.encode(["memory-server health check"])
            report(
                len(vector) == embeddings.dimension,
                "model",
                f"{embeddings.model} on {backend}: loaded in {loaded:.2f}s, {len(vector)} dimensions",
            )
        except MemoryServerError as error:
            report(False, "model", f"{backend}: {error}")
