"""The local extractive summarizer: pure pieces with no model, choices with the real model."""

from __future__ import annotations

import numpy as np
import pytest

from memory_server.embeddings import Encoder, ReadyEmbedder
from memory_server.memory import summarizer
from memory_server.memory.summarizer import Turn
from memory_server.memory.text import estimate_tokens
from tests.conversations import TURNS


def conversation(start: int = 0, stop: int = len(TURNS)) -> list[Turn]:
    return [Turn(role, content) for role, content in TURNS[start:stop]]


# -- pure pieces ---------------------------------------------------------------------------


def test_sentences_are_split_and_bullets_and_fragments_dropped() -> None:
    found = summarizer.split_sentences("- We chose Postgres. Ok!\n* The cutover is on March 14? Yes.")
    assert found == ["We chose Postgres.", "The cutover is on March 14?"]


def test_decisions_and_facts_about_the_user_earn_a_bonus_and_questions_lose_one() -> None:
    plain = summarizer.bonus("the weather is nice today", "assistant")
    assert summarizer.bonus("We decided to use Redis for the cache", "assistant") > plain
    assert summarizer.bonus("I am allergic to peanuts", "user") > plain
    assert summarizer.bonus("is the weather nice today?", "assistant") < plain


def test_system_messages_and_acknowledgements_are_not_candidates() -> None:
    pool = summarizer.candidates(
        [Turn("system", "You are a helpful assistant for travel plans."), Turn("assistant", "Glad it helps.")],
        None,
        100,
    )
    assert pool == []


def test_greedy_choice_skips_near_duplicates_and_respects_the_budget() -> None:
    a, b = np.eye(2, dtype=np.float32)
    vectors = np.stack([a, a, b]).astype(np.float32)
    assert sorted(summarizer.choose(vectors, [0.0, 0.0, 0.0], [10, 10, 10], budget=100)) == [0, 2]
    assert summarizer.choose(vectors, [0.0, 0.0, 0.0], [10, 10, 10], budget=15) == [0]


# -- with the real model -------------------------------------------------------------------


@pytest.fixture
def embedder(real_encoder: Encoder) -> ReadyEmbedder:
    return ReadyEmbedder(real_encoder)


async def test_the_summary_keeps_facts_stated_early_and_decisions_taken_later(embedder: ReadyEmbedder) -> None:
    summary = await summarizer.summarize(conversation(0, 40), embedder, max_tokens=400)
    for words in ("Priya", "Lisbon", "peanuts", "Dagster", "Redis", "March 14", "Green Elephant"):
        assert words in summary
    assert "beach" not in summary  # small talk from the end is not what matters


async def test_the_summary_is_not_just_the_last_lines(embedder: ReadyEmbedder) -> None:
    summary = await summarizer.summarize(conversation(), embedder, max_tokens=400)
    lines = summary.splitlines()
    first_said = TURNS[0][1]
    assert any(line.split(": ", 1)[1] in first_said for line in lines)
    assert len(lines) < len(TURNS) / 2


async def test_the_summary_is_deterministic_and_fits_its_budget(embedder: ReadyEmbedder) -> None:
    first = await summarizer.summarize(conversation(), embedder, max_tokens=120)
    again = await summarizer.summarize(conversation(), embedder, max_tokens=120)
    assert first == again
    assert estimate_tokens(first) <= 120


async def test_a_second_summary_folds_the_first_one_in(embedder: ReadyEmbedder) -> None:
    earlier = await summarizer.summarize(conversation(0, 40), embedder, max_tokens=400)
    later = await summarizer.summarize(conversation(40), embedder, previous=earlier, max_tokens=400)
    for words in ("Lisbon", "peanuts", "Dagster"):  # only in the first part
        assert words in later
    assert "Still to do" in later  # the to-do list from the second part


async def test_repeated_statements_are_kept_once(embedder: ReadyEmbedder) -> None:
    repeated = [Turn("user", "The deploy must happen on Thursday night.") for _ in range(3)] + [
        Turn("user", "The deployment has to happen Thursday night."),
        Turn("user", "Thursday night is when we must deploy."),
        Turn("assistant", "The database backup runs every six hours and is kept for a month."),
    ]
    summary = await summarizer.summarize(repeated, embedder, max_tokens=400)
    assert sum("Thursday" in line for line in summary.splitlines()) == 1
    assert "backup" in summary


async def test_a_host_written_summary_is_folded_in_sentence_by_sentence(embedder: ReadyEmbedder) -> None:
    host = (
        "Priya lives in Lisbon and is allergic to peanuts. She leads the billing migration to Dagster. "
        "The weather was discussed at length. The team dinner is at the Green Elephant."
    )
    later = await summarizer.summarize(conversation(40), embedder, previous=host, max_tokens=400)
    lines = later.splitlines()
    assert "- summary: Priya lives in Lisbon and is allergic to peanuts." in lines
    assert "- summary: She leads the billing migration to Dagster." in lines
