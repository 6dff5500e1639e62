"""Retrieval quality on the committed labelled set: vector only, BM25 only, and the full ranking.

Runs the same `FactService.rank` the tools use, in-process with the real model on a real
encrypted database; quality does not depend on the transport. Prints hit@1, hit@5 and MRR
per query kind and overall.

    HF_HUB_OFFLINE=1 python -m bench.bench_retrieval [--backend torch] [--keyword-weight 0.8 ...]

`--backend torch` encodes with sentence-transformers instead of the ONNX graph: the two must
give the same figures.

All three orderings come from the same candidates (the top `candidates` of each retriever):
vector only sorts by cosine similarity, BM25 only by keyword rank, the full ranking by score.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import print_table
from memory_server.app import open_memory
from memory_server.config import Settings
from memory_server.embeddings import Encoder, ReadyEmbedder, load_encoder
from memory_server.memory.facts import NewFact, RankedFact, SearchRequest

DATA = Path(__file__).parent / "data" / "retrieval_set.json"


@dataclass
class Scores:
    hit1: float
    hit5: float
    mrr: float
    n: int


def score(ranks: list[int | None]) -> Scores:
    n = len(ranks)
    return Scores(
        hit1=sum(1 for r in ranks if r == 1) / n,
        hit5=sum(1 for r in ranks if r is not None and r <= 5) / n,
        mrr=sum(1 / r for r in ranks if r is not None) / n,
        n=n,
    )


ORDERINGS: dict[str, Callable[[RankedFact], tuple[float, ...]]] = {
    "vector only": lambda item: (-item.parts.similarity,),
    "BM25 only": lambda item: (item.parts.keyword_rank or 10**9, -item.parts.similarity),
    "full ranking": lambda item: (-item.score,),
}


async def evaluate(encoder: Encoder, ranking: dict[str, Any], data: dict[str, Any]) -> dict[str, dict[str, Scores]]:
    """Scores per ordering, per query kind (and overall)."""
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.model_validate({"home": home, "user": "eval", "ranking": ranking})
        async with open_memory(settings, embedder=ReadyEmbedder(encoder)) as memory:
            ids: dict[str, int] = {}
            for fact in data["facts"]:
                result = await memory.facts.remember(
                    "eval", NewFact(content=fact["content"], importance=fact["importance"], category=fact["category"])
                )
                ids[fact["id"]] = result.fact_id
            ranks: dict[str, dict[str, list[int | None]]] = {name: {} for name in ORDERINGS}
            for query in data["queries"]:
                ranked = await memory.facts.rank("eval", SearchRequest(query=query["query"]))
                wanted = {ids[f] for f in query["relevant"]}
                for name, key in ORDERINGS.items():
                    ordered = sorted(ranked, key=key)
                    position = next((i for i, item in enumerate(ordered, start=1) if item.row.id in wanted), None)
                    for kind in (query["kind"], "overall"):
                        ranks[name].setdefault(kind, []).append(position)
    return {name: {kind: score(r) for kind, r in by_kind.items()} for name, by_kind in ranks.items()}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Settings(user="eval").ranking
    parser.add_argument("--backend", choices=["onnx", "torch"], default="onnx", help="How the model encodes.")
    for name, value in defaults.model_dump().items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = parser.parse_args()
    base = {name: getattr(args, name) for name in defaults.model_dump()}
    print(f"backend: {args.backend}")
    data = json.loads(DATA.read_text())
    embeddings = Settings.model_validate({"user": "eval", "embeddings": {"backend": args.backend}}).embeddings
    encoder = load_encoder(embeddings)
    results = await evaluate(encoder, base, data)
    rows = []
    for label, by_kind in results.items():
        for kind in ("paraphrase", "exact", "overall"):
            s = by_kind[kind]
            rows.append([label, kind, s.n, f"{s.hit1:.3f}", f"{s.hit5:.3f}", f"{s.mrr:.3f}"])
    print(f"facts: {len(data['facts'])}, queries: {len(data['queries'])}; ranking: {base}")
    print_table(
        "Retrieval quality (bench/data/retrieval_set.json)",
        ["retriever", "kind", "queries", "hit@1", "hit@5", "MRR"],
        rows,
    )


if __name__ == "__main__":
    asyncio.run(main())
