"""Retrieval on LoCoMo (dev half): recall@5, recall@10 and MRR for vector only, keywords only
and the full ranking, per question category, plus search p50 and leave-one-conversation-out.

Protocol of `../shared/data/locomo-dev/README.md`: every turn is stored as one fact
(`"Speaker: text"`, plus ` [shares an image: caption]`) in its conversation's category,
through `FactService.remember` (the code `remember_fact` runs); every category 1-4 question
is asked in order against its own conversation, served as `search_facts(limit=10)` serves it
(the top 10 are counted as used, so later searches see the use counts). Recall@k is the share
of a question's evidence turns among the first k, averaged over questions; MRR is the mean
reciprocal rank of the first evidence turn.

Malformed evidence ids are repaired: `"D8:6; D9:17"` is split at `;`, `"D:11:26"` becomes
`D11:26`, a zero-padded turn (`"D30:05"`) loses its padding; an id naming no turn is dropped
(and counted in the output).

    HF_HUB_OFFLINE=1 python -m bench.bench_locomo [--data PATH] [--via-mcp] [--keyword-weight 1.2 ...]

`--via-mcp` stores and searches through the real MCP client as well and reports how many
questions got the same top 10 both ways. Leave-one-conversation-out: for each conversation,
the setting grid below is scored on the other four (re-scoring the served candidates of each
question, whose pool no setting in the grid changes), the best setting is applied to the held-out
one, and the five held-out results are pooled.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, call, print_table, spawn
from memory_server.app import open_memory
from memory_server.config import RankingSettings, Settings
from memory_server.embeddings import Encoder, Vector, load_encoder
from memory_server.memory import ranking
from memory_server.memory.facts import NewFact, RankedFact, SearchRequest

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "locomo-dev" / "locomo10-dev.json"
USER = "locomo"
LIMIT = 10
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
# The grid leave-one-conversation-out tunes over: the keyword blend only (few parameters).
GRID = {"keyword_weight": [0.4, 0.8, 1.2, 1.6, 2.4], "keyword_sharpness": [1.0, 2.0, 4.0]}


class CachedEmbedder:
    """Encodes each distinct text once per run; turns are encoded in batches up front."""

    def __init__(self, encoder: Encoder) -> None:
        self._encoder = encoder
        self._cache: dict[str, Vector] = {}

    @property
    def state(self) -> str:
        return "ready"

    def start(self) -> None:
        pass

    def prime(self, texts: Sequence[str]) -> None:
        fresh = [t for t in dict.fromkeys(texts) if t not in self._cache]
        for start in range(0, len(fresh), 64):
            batch = fresh[start : start + 64]
            self._cache.update(zip(batch, self._encoder.encode(batch), strict=True))

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        missing = [t for t in texts if t not in self._cache]
        if missing:
            self._cache.update(zip(missing, await asyncio.to_thread(self._encoder.encode, missing), strict=True))
        return [self._cache[t] for t in texts]


@dataclass
class Question:
    conversation: str
    text: str
    category: int
    evidence: set[str]


@dataclass
class Conversation:
    name: str
    turns: dict[str, str]  # dia_id -> stored text, in order
    questions: list[Question] = field(default_factory=list)


def turn_text(turn: dict[str, Any]) -> str:
    content = f"{turn['speaker']}: {turn['text']}"
    if turn.get("blip_caption"):
        content += f" [shares an image: {turn['blip_caption']}]"
    return content


def repair_evidence(raw: Sequence[str], known: set[str]) -> tuple[set[str], int]:
    """The evidence ids that name a turn, repaired; and how many were dropped."""
    kept: set[str] = set()
    dropped = 0
    for entry in raw:
        for part in re.split(r"[;,]", entry):
            found = re.fullmatch(r"\s*D:?(\d+):0*(\d+)\s*", part)
            ident = f"D{found.group(1)}:{found.group(2)}" if found else part.strip()
            if ident in known:
                kept.add(ident)
            elif part.strip():
                dropped += 1
    return kept, dropped


def load(path: Path) -> tuple[list[Conversation], int]:
    conversations, dropped = [], 0
    for record in json.loads(path.read_text()):
        talk = record["conversation"]
        sessions = sorted(
            (k for k in talk if re.fullmatch(r"session_\d+", k) and isinstance(talk[k], list)),
            key=lambda k: int(k.split("_")[1]),
        )
        turns = {turn["dia_id"]: turn_text(turn) for key in sessions for turn in talk[key]}
        conversation = Conversation(name=record["sample_id"], turns=turns)
        for qa in record["qa"]:
            if qa.get("category") not in CATEGORIES:
                continue
            evidence, lost = repair_evidence(qa.get("evidence", []), set(turns))
            dropped += lost
            if evidence:
                conversation.questions.append(Question(conversation.name, qa["question"], qa["category"], evidence))
        conversations.append(conversation)
    return conversations, dropped


@dataclass
class Served:
    """One question's served candidates: evidence flags and what the blend needs, per candidate."""

    question: Question
    relevant: list[bool]
    parts: list[RankedFact]


@dataclass
class Measures:
    recall5: float = 0.0
    recall10: float = 0.0
    mrr: float = 0.0
    n: int = 0

    def add(self, relevant: Sequence[bool], wanted: int) -> None:
        self.recall5 += sum(relevant[:5]) / wanted
        self.recall10 += sum(relevant[:10]) / wanted
        first = next((i for i, hit in enumerate(relevant, start=1) if hit), None)
        self.mrr += 1 / first if first else 0.0
        self.n += 1

    def row(self) -> list[str]:
        n = max(1, self.n)
        return [str(self.n), f"{self.recall5 / n:.3f}", f"{self.recall10 / n:.3f}", f"{self.mrr / n:.3f}"]


def rescore(item: RankedFact, settings: RankingSettings) -> float:
    """The full score of a served candidate under other ranking settings (same pool)."""
    parts = item.parts
    candidate = ranking.Candidate(
        fact_id=item.row.id, similarity=parts.similarity, keyword_coverage=parts.keyword_coverage
    )
    return ranking.blend(
        relevance=ranking.relevance(candidate, settings),
        importance=parts.importance,
        recency=parts.recency,
        use=parts.use,
        ranking=settings,
    )


ORDERINGS: dict[str, Callable[[RankedFact], tuple[float, ...]]] = {
    "vector only": lambda item: (-item.parts.similarity, -item.row.id),
    "keywords only": lambda item: (item.parts.keyword_rank or 10**9, -item.parts.similarity),
    "full ranking": lambda item: (-item.score, -item.row.id),
}


def ordered_relevance(served: Served, key: Callable[[RankedFact], Any]) -> list[bool]:
    pairs = sorted(zip(served.parts, served.relevant, strict=True), key=lambda pair: key(pair[0]))
    return [hit for _, hit in pairs]


def measure(items: Sequence[Served], key: Callable[[RankedFact], Any]) -> dict[str, Measures]:
    by_category: dict[str, Measures] = {}
    for served in items:
        relevant = ordered_relevance(served, key)
        for label in (CATEGORIES[served.question.category], "overall"):
            by_category.setdefault(label, Measures()).add(relevant, len(served.question.evidence))
    return by_category


async def run_domain(
    conversations: Sequence[Conversation], embedder: CachedEmbedder, tuned: dict[str, Any]
) -> tuple[list[Served], list[float], dict[tuple[str, str], int]]:
    """Store and ask through the domain code the tools use; the served candidates and timings."""
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.model_validate({"home": home, "user": USER, "ranking": tuned})
        async with open_memory(settings, embedder=embedder) as memory:  # type: ignore[arg-type]
            ids: dict[tuple[str, str], int] = {}
            for conversation in conversations:
                for dia_id, content in conversation.turns.items():
                    result = await memory.facts.remember(USER, NewFact(content=content, category=conversation.name))
                    ids[(conversation.name, dia_id)] = result.fact_id
            served: list[Served] = []
            timings: list[float] = []
            for conversation in conversations:
                for question in conversation.questions:
                    wanted = {ids[(conversation.name, d)] for d in question.evidence}
                    request = SearchRequest(query=question.text, limit=LIMIT, category=conversation.name)
                    started = time.perf_counter()
                    ranked = await memory.facts.rank(USER, request)
                    # What `search` does after ranking: the served hits count as used.
                    memory.facts.record_served(
                        USER, [hit.row.id for hit in ranked[:LIMIT]], via="search_facts", session_id=None
                    )
                    timings.append((time.perf_counter() - started) * 1000)
                    served.append(Served(question, [item.row.id in wanted for item in ranked], ranked))
    return served, timings, ids


async def run_mcp(conversations: Sequence[Conversation], tuned: dict[str, Any]) -> list[list[str]]:
    """Store and ask through the real MCP client; the top-10 contents per question."""
    extra = {f"MEMORY_SERVER_RANKING__{name.upper()}": str(value) for name, value in tuned.items()}
    tops: list[list[str]] = []
    with tempfile.TemporaryDirectory() as home:
        async with spawn(Path(home), env=extra) as client:
            for conversation in conversations:
                for content in conversation.turns.values():
                    await call(client, "remember_fact", {"content": content, "category": conversation.name})
            for conversation in conversations:
                for question in conversation.questions:
                    found = await call(
                        client, "search_facts", {"query": question.text, "limit": LIMIT, "category": conversation.name}
                    )
                    tops.append([hit["fact"]["content"] for hit in found["hits"]])
    return tops


def leave_one_out(served: Sequence[Served], base: RankingSettings) -> tuple[dict[str, Measures], list[str]]:
    """Tune the grid on four conversations, score the fifth; pooled over the five."""
    names = list(dict.fromkeys(item.question.conversation for item in served))
    settings = [
        base.model_copy(update=dict(zip(GRID, values, strict=True))) for values in itertools.product(*GRID.values())
    ]
    pooled: list[Served] = []
    chosen: list[str] = []
    keys: list[Callable[[RankedFact], Any]] = []
    for held_out in names:
        train = [item for item in served if item.question.conversation != held_out]

        def train_recall(setting: RankingSettings, train: list[Served] = train) -> float:
            return measure(train, lambda candidate: -rescore(candidate, setting))["overall"].recall10

        best = max(settings, key=train_recall)
        chosen.append(f"{held_out}: " + ", ".join(f"{k}={getattr(best, k)}" for k in GRID))
        for item in served:
            if item.question.conversation == held_out:
                pooled.append(item)
                keys.append(lambda candidate, best=best: -rescore(candidate, best))
    by_category: dict[str, Measures] = {}
    for item, key in zip(pooled, keys, strict=True):
        relevant = ordered_relevance(item, key)
        for label in (CATEGORIES[item.question.category], "overall"):
            by_category.setdefault(label, Measures()).add(relevant, len(item.question.evidence))
    return by_category, chosen


def table(title: str, results: dict[str, dict[str, Measures]]) -> None:
    rows = []
    for label, by_category in results.items():
        for category in [*CATEGORIES.values(), "overall"]:
            rows.append([label, category, *by_category[category].row()])
    print_table(title, ["ranking", "category", "questions", "recall@5", "recall@10", "MRR"], rows)


def per_conversation(served: Sequence[Served]) -> None:
    rows = []
    for name in dict.fromkeys(item.question.conversation for item in served):
        mine = [item for item in served if item.question.conversation == name]
        rows.append([name, *measure(mine, ORDERINGS["full ranking"])["overall"].row()])
    print_table("Full ranking per conversation", ["conversation", "questions", "recall@5", "recall@10", "MRR"], rows)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="locomo10-dev.json")
    parser.add_argument("--via-mcp", action="store_true", help="also run through the MCP client and compare")
    defaults = Settings(user=USER).ranking
    for name, value in defaults.model_dump().items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"LoCoMo data not found at {args.data}; skipping (pass --data PATH to locomo10-dev.json).")
        return 0
    tuned = {name: getattr(args, name) for name in defaults.model_dump()}
    conversations, dropped = load(args.data)
    questions = sum(len(c.questions) for c in conversations)
    print(
        f"{len(conversations)} conversations, {sum(len(c.turns) for c in conversations)} turns, "
        f"{questions} questions (categories 1-4), {dropped} evidence ids dropped; ranking: {tuned}"
    )
    embedder = CachedEmbedder(load_encoder(Settings(user=USER).embeddings))
    started = time.perf_counter()
    for conversation in conversations:
        embedder.prime(list(conversation.turns.values()))
    embedder.prime([q.text for c in conversations for q in c.questions])
    print(f"encoded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    served, timings, _ = await run_domain(conversations, embedder, tuned)
    table("LoCoMo dev, served in order (domain)", {name: measure(served, key) for name, key in ORDERINGS.items()})
    per_conversation(served)
    loco, chosen = leave_one_out(served, RankingSettings.model_validate(tuned))
    table("Leave one conversation out (grid: " + ", ".join(GRID) + ")", {"full ranking, LOCO": loco})
    print("chosen per held-out conversation: " + "; ".join(chosen))
    print(f"\nsearch (rank + serve) p50: {statistics.median(timings):.1f} ms over {len(timings)} searches")
    if args.via_mcp:
        tops = await run_mcp(conversations, tuned)
        domain_tops = [[item.row.content for item in s.parts[:LIMIT]] for s in served]
        same = sum(1 for a, b in zip(tops, domain_tops, strict=True) if a == b)
        print(f"via MCP: {same}/{len(tops)} questions got the same top {LIMIT} as the domain run")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
