"""The local extractive summarizer and the sentence scores it ranks by: pure, no model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memory_server.memory import informative, summarizer
from memory_server.memory.summarizer import Turn
from memory_server.memory.text import estimate_tokens
from tests.conversations import TURNS

MAY_8 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC).timestamp()
MAY_25 = datetime(2023, 5, 25, 9, 0, tzinfo=UTC).timestamp()


def conversation(start: int = 0, stop: int = len(TURNS)) -> list[Turn]:
    return [Turn(role, content) for role, content in TURNS[start:stop]]


def value(sentence: str, participants: tuple[str, ...] = ()) -> float:
    return informative.score(informative.features(sentence, participants))


# -- what a sentence tells -----------------------------------------------------------------

PHATIC = [
    "Haha, that must've been hilarious!",
    "I'll let you know.",
    "It must be tough.",
    "Wow, that's so cool, Caroline!",
    "Thanks so much, that's really sweet!",
    "Hey Mel! Good to see you!",
    "Totally agree, Mel.",
]
INFORMATIVE = [
    "I started a new job as a Financial Analyst last week.",
    "My sister moved to Lisbon in March.",
    "We adopted two cats from the shelter.",
    "I went to a support group yesterday and it was so powerful.",
    "I'm planning to run the Berlin marathon next year.",
]


@pytest.mark.parametrize("phatic", PHATIC)
def test_a_phatic_sentence_never_outranks_an_informative_one(phatic: str) -> None:
    weakest = min(value(s, ("Caroline", "Mel")) for s in INFORMATIVE)
    assert value(phatic, ("Caroline", "Mel")) < weakest


def test_a_phatic_turn_is_left_out_of_a_tight_summary_for_an_informative_one() -> None:
    turns = [Turn("user", sentence, "Caroline" if i % 2 else "Melanie") for i, sentence in enumerate(PHATIC)]
    turns.insert(3, Turn("user", "I started a new job as a Financial Analyst last week.", "Caroline"))
    summary = summarizer.summarize(turns, max_tokens=30)
    assert summary == "- Caroline: I started a new job as a Financial Analyst last week."


def test_first_person_statements_names_and_dates_count_and_questions_count_less() -> None:
    plain = value("the weather is nice in the valley")
    assert value("I moved to the valley in 2019 with my husband") > plain
    assert value("Is the weather nice in the valley?") < plain
    assert value("Caroline moved to the valley in 2019") > value("she moved to the valley")


def test_sentences_are_split_and_bullets_dropped() -> None:
    found = informative.split_sentences("- We chose Postgres. Ok!\n* The cutover is on March 14? Yes.")
    assert found == ["We chose Postgres.", "Ok!", "The cutover is on March 14?", "Yes."]


def test_system_messages_and_acknowledgements_are_not_candidates() -> None:
    pool = summarizer.candidates(
        [Turn("system", "You are a helpful assistant for travel plans."), Turn("assistant", "Glad it helps.")]
    )
    assert pool == []


# -- the summary ---------------------------------------------------------------------------


def test_lines_carry_the_speakers_names_and_the_day_they_were_said() -> None:
    summary = summarizer.summarize(
        [
            Turn("user", "Hey Mel! I went to an LGBTQ support group yesterday.", "Caroline", MAY_8),
            Turn("user", "Wow! I painted a lake sunrise last year.", "Melanie", MAY_8),
            Turn("user", "I ran a charity race for mental health on Sunday.", "Melanie", MAY_25),
        ]
    )
    assert summary.splitlines() == [
        "8 May 2023:",
        "- Caroline: I went to an LGBTQ support group yesterday.",
        "- Melanie: I painted a lake sunrise last year.",
        "25 May 2023:",
        "- Melanie: I ran a charity race for mental health on Sunday.",
    ]


def test_turns_without_a_name_are_labelled_by_role() -> None:
    summary = summarizer.summarize([Turn("user", "I work as a data engineer at Acme Logistics in Lisbon.")])
    assert summary == "- user: I work as a data engineer at Acme Logistics in Lisbon."


def test_the_summary_keeps_facts_stated_early_and_decisions_taken_later() -> None:
    summary = summarizer.summarize(conversation(0, 40), max_tokens=400)
    for words in ("Priya", "Lisbon", "peanuts", "Dagster", "Redis", "March 14", "Green Elephant"):
        assert words in summary
    assert "beach" not in summary  # small talk from the end is not what matters


def test_the_summary_is_not_just_the_last_lines() -> None:
    summary = summarizer.summarize(conversation(), max_tokens=400)
    lines = summary.splitlines()
    assert any(line.split(": ", 1)[1] in TURNS[0][1] for line in lines)
    assert len(lines) < len(TURNS) / 2


def test_the_summary_is_deterministic_and_fits_its_budget() -> None:
    first = summarizer.summarize(conversation(), max_tokens=120)
    assert first == summarizer.summarize(conversation(), max_tokens=120)
    assert estimate_tokens(first) <= 120


def test_the_budget_is_a_share_of_what_is_covered_within_a_floor_and_a_cap() -> None:
    assert summarizer.budget(100, share=0.25, floor=80, cap=2000) == 80
    assert summarizer.budget(4_000, share=0.25, floor=80, cap=2000) == 1000
    assert summarizer.budget(40_000, share=0.25, floor=80, cap=2000) == 2000


def test_a_second_summary_folds_the_first_one_in() -> None:
    earlier = summarizer.summarize(conversation(0, 40), max_tokens=400)
    later = summarizer.summarize(conversation(40), previous=earlier, max_tokens=400)
    for words in ("Lisbon", "peanuts", "Dagster"):  # only in the first part
        assert words in later


def test_a_running_summary_keeps_its_informative_lines_over_new_chatter() -> None:
    earlier = summarizer.summarize(
        [Turn("user", "I started a new job as a Financial Analyst at Northwind last week.", "Jon", MAY_8)]
    )
    chatter = [Turn("user", line, "Gina", MAY_25) for line in PHATIC] + [
        Turn("user", "That sounds so fun, you must be thrilled about it all!", "Gina", MAY_25)
    ]
    later = summarizer.summarize(chatter, previous=earlier, max_tokens=40)
    assert later == earlier


def test_repeated_statements_are_kept_once() -> None:
    repeated = [Turn("user", "The deploy must happen on Thursday night.") for _ in range(3)] + [
        Turn("assistant", "The database backup runs every six hours and is kept for a month."),
    ]
    summary = summarizer.summarize(repeated, max_tokens=400)
    assert sum("Thursday" in line for line in summary.splitlines()) == 1
    assert "backup" in summary


def test_a_host_written_summary_is_folded_in_sentence_by_sentence() -> None:
    host = (
        "Priya lives in Lisbon and is allergic to peanuts. She leads the billing migration to Dagster. "
        "The team dinner is at the Green Elephant."
    )
    later = summarizer.summarize(conversation(40), previous=host, previous_local=False, max_tokens=400)
    lines = later.splitlines()
    assert "- summary: Priya lives in Lisbon and is allergic to peanuts." in lines
    assert "- summary: She leads the billing migration to Dagster." in lines
