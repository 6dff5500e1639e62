"""Pure scoring functions: rank fusion, recency decay, use, and the final blend."""

from __future__ import annotations

import math
from dataclasses import dataclass

from memory_server.config import RankingSettings

SECONDS_PER_DAY = 86_400.0
_USE_SATURATION = math.log1p(50)


@dataclass(frozen=True)
class Candidate:
    """What the retrievers know about one fact before the blend."""

    fact_id: int
    vector_rank: int | None = None
    keyword_rank: int | None = None
    similarity: float | None = None


def fused_relevance(candidate: Candidate, ranking: RankingSettings) -> float:
    """Weighted reciprocal rank fusion, scaled so a fact first in both lists scores 1."""
    k = ranking.rrf_k
    total = 0.0
    if candidate.vector_rank is not None:
        total += ranking.vector_weight / (k + candidate.vector_rank)
    if candidate.keyword_rank is not None:
        total += ranking.keyword_weight / (k + candidate.keyword_rank)
    best = (ranking.vector_weight + ranking.keyword_weight) / (k + 1)
    return total / best if best > 0 else 0.0


def recency(now: float, last_used: float, half_life_days: float) -> float:
    age_days = max(0.0, now - last_used) / SECONDS_PER_DAY
    return 0.5 ** (age_days / half_life_days)


def use(access_count: int) -> float:
    return min(1.0, math.log1p(max(0, access_count)) / _USE_SATURATION)


def blend(*, relevance: float, importance: float, recency: float, use: float, ranking: RankingSettings) -> float:
    return (
        ranking.relevance_weight * relevance
        + ranking.importance_weight * importance
        + ranking.recency_weight * recency
        + ranking.use_weight * use
    )
