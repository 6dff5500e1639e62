"""Pure scoring functions: relevance from both retrievers, recency decay, use, and the blend.

Relevance is the cosine similarity plus a keyword boost. The boost is the share of the
query's informative words (weighted by IDF) that a fact contains,
raised to a sharp power: a fact holding the query's rare name, number or code gets nearly
the full boost, while the incidental overlap typical of a paraphrase ("work", "month")
adds almost nothing. Rank fusion (RRF) gave every keyword hit a sizeable share however
weak, and lost to vectors alone on paraphrases; see bench/bench_retrieval.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from memory_server.config import RankingSettings

SECONDS_PER_DAY = 86_400.0
_USE_SATURATION = math.log1p(50)


@dataclass(frozen=True)
class Candidate:
    """What the retrievers know about one fact before the blend."""

    fact_id: int
    similarity: float = 0.0
    vector_rank: int | None = None
    keyword_rank: int | None = None
    keyword_coverage: float = 0.0


def idf(documents: int, containing: int) -> float:
    """Inverse document frequency, smoothed to stay positive even in a store of two facts."""
    return math.log(1 + (documents - containing + 0.5) / (containing + 0.5))


def keyword_coverage(present: Sequence[bool], term_idfs: Sequence[float]) -> float:
    """The share of the query's IDF mass whose terms a fact contains, 0-1."""
    mass = sum(term_idfs)
    found = sum(weight for weight, here in zip(term_idfs, present, strict=True) if here)
    return found / mass if mass > 0 else 0.0


def relevance(candidate: Candidate, ranking: RankingSettings) -> float:
    boost: float = ranking.keyword_weight * candidate.keyword_coverage**ranking.keyword_sharpness
    return candidate.similarity + boost


def recency(now: float, last_used: float, half_life_days: float) -> float:
    age_days = max(0.0, now - last_used) / SECONDS_PER_DAY
    return float(0.5 ** (age_days / half_life_days))


def use(access_count: int) -> float:
    return min(1.0, math.log1p(max(0, access_count)) / _USE_SATURATION)


def blend(*, relevance: float, importance: float, recency: float, use: float, ranking: RankingSettings) -> float:
    return (
        ranking.relevance_weight * relevance
        + ranking.importance_weight * importance
        + ranking.recency_weight * recency
        + ranking.use_weight * use
    )
