"""The exported ONNX graph of a model: where it lives, how it is checked, and how it is made.

A graph lives in `<cache>/models/<model>-<first 16 hex of the weights' sha256>/` with the
tokenizer and a manifest that records what it was made from and how well it matched
sentence-transformers' own vectors. It is made once (`memory-server model prepare`, run by
set-up) under a lock shared by every process, written to a temporary folder, verified and
renamed into place, so a reader sees a whole graph or none. A serving process never imports
torch: when its graph is missing or damaged it runs `model prepare` as a child process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from memory_server.config import EmbeddingSettings
from memory_server.embeddings.source import ModelSource, file_sha256
from memory_server.errors import EmbeddingError

log = logging.getLogger(__name__)

GRAPH_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
MIN_COSINE = 0.9999
POOLING_MODES = ("mean", "cls", "max")

# Checked against sentence-transformers before a graph is first used: short and long, names
# and numbers, accents and other scripts, padding inside a batch.
VERIFY_SENTENCES = (
    "Prefers green tea over coffee",
    "hi",
    "The user's daughter Maria starts school on 4 September 2026 at St. Anne's primary.",
    "Project Falcon ships on 2027-03-14; the API key lives in 1Password, not here.",
    "Émile préfère le café noir, sans sucre.",
    "東京の会社で働いています",
    "What did Caroline say about the adoption agency?",
    "order #48213 arrived damaged; refund of $129.99 requested",
    "I started a new job as a Financial Analyst last week and I love the team.",
    "   spaces   and\ttabs\nand new lines   ",
    "a " * 300,
    "Remember: always answer in French and never mention the budget spreadsheet to Bob.",
)


@dataclass(frozen=True)
class Manifest:
    """What a graph was made from, and the proof that it matches the model."""

    version: int
    model_id: str
    weights_sha256: str
    weights_path: str
    weights_size: int
    weights_mtime_ns: int
    graph_sha256: str
    graph_size: int
    graph_mtime_ns: int
    dimension: int
    max_seq_length: int
    pooling: str
    normalize: bool
    input_names: list[str]
    verified_sentences: int
    min_cosine: float
    made_at: float
    made_with: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            raise ValueError("unknown manifest version")
        return cls(**data)


@dataclass(frozen=True)
class PreparedGraph:
    folder: Path
    manifest: Manifest

    @property
    def graph(self) -> Path:
        return self.folder / GRAPH_FILE

    @property
    def tokenizer(self) -> Path:
        return self.folder / TOKENIZER_FILE


class GraphCache:
    """The folder of prepared graphs for every model."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder_for(self, source: ModelSource, weights_sha256: str) -> Path:
        return self.root / f"{source.slug}-{weights_sha256[:16]}"

    def find(self, source: ModelSource) -> tuple[PreparedGraph | None, str]:
        """The verified graph of these weights, or None and why there is none."""
        stat_key = source.stat_key()
        candidates = sorted(self.root.glob(f"{source.slug}-*/{MANIFEST_FILE}")) if self.root.is_dir() else []
        manifests: list[tuple[Path, Manifest]] = []
        reason = f"no graph of {source.model_id} in {self.root}"
        for path in candidates:
            try:
                manifests.append((path.parent, Manifest.read(path)))
            except (OSError, ValueError, TypeError) as error:
                reason = f"unreadable manifest {path} ({error})"
        # The stat of the weights names the graph without hashing 90 MB on every start.
        same = [(f, m) for f, m in manifests if (m.weights_path, m.weights_size, m.weights_mtime_ns) == stat_key]
        if not same and manifests:
            sha = source.weights_sha256()
            same = [(f, m) for f, m in manifests if m.weights_sha256 == sha]
        for folder, manifest in same:
            problem = _problem(folder, manifest, source)
            if problem is None:
                return PreparedGraph(folder, manifest), "ok"
            reason = problem
        return None, reason

    @contextlib.contextmanager
    def lock(self, source: ModelSource) -> Iterator[None]:
        """One process at a time prepares a model's graph; the others wait here."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f".{source.slug}.lock").open("a+b") as handle:
            _lock_file(handle.fileno())
            try:
                yield
            finally:
                _unlock_file(handle.fileno())


def _problem(folder: Path, manifest: Manifest, source: ModelSource) -> str | None:
    """Why a prepared graph must not be used, or None."""
    graph = folder / GRAPH_FILE
    if manifest.model_id != source.model_id:
        return f"{folder} holds a graph of {manifest.model_id!r}, not {source.model_id!r}"
    if manifest.min_cosine < MIN_COSINE:
        return f"{graph} was not verified (cosine {manifest.min_cosine:.4f} < {MIN_COSINE})"
    if not graph.is_file() or not (folder / TOKENIZER_FILE).is_file():
        return f"{graph} or its tokenizer is missing"
    stat = graph.stat()
    if stat.st_size != manifest.graph_size:
        return f"{graph} is {stat.st_size} bytes, not {manifest.graph_size}: partial or damaged"
    # Size and time unchanged: the file is the one verified. Otherwise its hash must say so.
    if stat.st_mtime_ns != manifest.graph_mtime_ns and file_sha256(graph) != manifest.graph_sha256:
        return f"{graph} does not match its recorded sha256: damaged"
    return None


def _lock_file(fd: int) -> None:
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        import msvcrt

        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined,unused-ignore]
                return
            except OSError:
                continue
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)


def _unlock_file(fd: int) -> None:
    if os.name == "nt":  # pragma: no cover
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined,unused-ignore]
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def prepare(settings: EmbeddingSettings, *, force: bool = False) -> tuple[PreparedGraph, bool]:
    """Make the graph of the configured model unless a verified one exists; returns it and
    whether it was made now. Imports torch: only `memory-server model prepare` calls this."""
    source = ModelSource.of(settings.model)
    cache = GraphCache(settings.graph_cache)
    with cache.lock(source):
        found, reason = cache.find(source)
        if found is not None and not force:
            return found, False
        log.warning("preparing the ONNX graph of %s: %s", source.model_id, "forced" if force else reason)
        return _make(cache, source, settings), True


def _make(cache: GraphCache, source: ModelSource, settings: EmbeddingSettings) -> PreparedGraph:
    from memory_server.embeddings import export  # torch lives behind this import

    weights_sha = source.weights_sha256()
    target = cache.folder_for(source, weights_sha)
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache.root))
    try:
        details = export.export_graph(source, work)
        if details.dimension != settings.dimension:
            raise EmbeddingError(
                f"Model {source.model_id!r} makes {details.dimension}-dimensional vectors but embeddings.dimension "
                f"is {settings.dimension}. Set embeddings.dimension = {details.dimension}."
            )
        graph = work / GRAPH_FILE
        _fsync(graph)
        _fsync(work / TOKENIZER_FILE)
        stat = graph.stat()
        weights = source.weights.stat()
        manifest = Manifest(
            version=MANIFEST_VERSION,
            model_id=source.model_id,
            weights_sha256=weights_sha,
            weights_path=str(source.weights),
            weights_size=weights.st_size,
            weights_mtime_ns=weights.st_mtime_ns,
            graph_sha256=file_sha256(graph),
            graph_size=stat.st_size,
            graph_mtime_ns=stat.st_mtime_ns,
            dimension=details.dimension,
            max_seq_length=details.max_seq_length,
            pooling=details.pooling,
            normalize=details.normalize,
            input_names=list(details.input_names),
            verified_sentences=0,
            min_cosine=0.0,
            made_at=time.time(),
            made_with=details.made_with,
        )
        min_cosine = export.verify(PreparedGraph(work, manifest), source)
        if min_cosine < MIN_COSINE:
            raise EmbeddingError(
                f"The ONNX graph of {source.model_id!r} does not reproduce sentence-transformers' vectors "
                f"(cosine {min_cosine:.5f} < {MIN_COSINE}). Set embeddings.backend = 'torch' for this model."
            )
        manifest = Manifest(
            **{**asdict(manifest), "verified_sentences": len(VERIFY_SENTENCES), "min_cosine": min_cosine}
        )
        (work / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
        _fsync(work / MANIFEST_FILE)
        if target.exists():
            shutil.rmtree(target)
        os.replace(work, target)
        _fsync_dir(cache.root)
        log.warning("ONNX graph of %s ready in %s (verified, min cosine %.6f)", source.model_id, target, min_cosine)
        return PreparedGraph(target, manifest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fsync(path: Path) -> None:
    with path.open("rb") as file:
        os.fsync(file.fileno())


def _fsync_dir(path: Path) -> None:
    if os.name == "posix":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def ensure(settings: EmbeddingSettings) -> PreparedGraph:
    """The verified graph for a serving process: found, or made by a child process (so torch
    never enters this one). Concurrent callers wait on the prepare lock and make one graph."""
    source = ModelSource.of(settings.model)
    cache = GraphCache(settings.graph_cache)
    found, reason = cache.find(source)
    if found is not None:
        return found
    log.warning("no usable ONNX graph (%s); running `memory-server model prepare` in a child process", reason)
    command = [sys.executable, "-m", "memory_server", "model", "prepare", "--model", settings.model]
    command += ["--cache-dir", str(settings.graph_cache.parent), "--dimension", str(settings.dimension)]
    # stdout is the MCP protocol's channel in a server: the child gets none of it.
    done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=False)
    found, reason = cache.find(source)
    if found is None:
        raise EmbeddingError(
            f"The ONNX graph of {settings.model!r} could not be prepared ({reason}; exit code {done.returncode}). "
            "Run `memory-server model prepare` to see why, or set embeddings.backend = 'torch'."
        )
    return found
