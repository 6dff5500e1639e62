"""Consolidation: what the people in a conversation said about themselves, kept as facts.

A summary has a budget and must drop things; long-term memory need not. When turns are
folded into a summary, each informative first-person statement of the user (or of a named
participant speaking as a user) becomes a fact, with the speaker and the day in its text
("On 8 May 2023, Caroline said: I started a new job as a financial analyst."), the session as
its source, a low importance and a category of its own. The assistant's turns never do: what
an assistant says about itself is not a fact about the user.

Facts go through `FactService.remember_many`, the path `remember_fact` takes, in one batch
(one encode, one commit): the facts layer's privacy policy, de-duplication (a restated
statement refreshes the fact already kept) and the audit. A statement that policy refuses
(a secret) is skipped, never stored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from memory_server.config import SummarySettings
from memory_server.errors import InvalidInputError
from memory_server.memory import audit, informative
from memory_server.memory.facts import FactService, NewFact
from memory_server.memory.summarizer import Turn, day

log = logging.getLogger(__name__)

MIN_STATEMENT_VALUE = 6.0  # below this a turn says too little about its speaker to keep
MAX_STATEMENT_CHARS = 1_200


class ConsolidationReport(BaseModel):
    """What folding turns into the summary left in long-term facts."""

    created: list[int] = Field(default_factory=list, description="Ids of new facts")
    merged: list[int] = Field(default_factory=list, description="Ids of known facts these statements restated")
    skipped: int = Field(0, description="Statements the facts layer's privacy policy refused")


@dataclass(frozen=True)
class Statement:
    content: str
    value: float
    words: int  # of what was said, not of the who and when


def statement(turn: Turn) -> Statement | None:
    """What one turn of the user tells about its speaker, as a fact's text; None if nothing."""
    if turn.role != "user":
        return None
    participants = [turn.name] if turn.name else []
    kept: list[str] = []
    value = 0.0
    about_the_speaker = False
    for sentence in informative.split_sentences(turn.content):
        found = informative.features(sentence, participants)
        if found.phatic or found.question:
            continue
        if sum(len(s) + 1 for s in kept) + len(sentence) > MAX_STATEMENT_CHARS:
            break
        kept.append(sentence)
        value += informative.score(found)
        about_the_speaker = about_the_speaker or found.about_the_speaker
    if not about_the_speaker or value < MIN_STATEMENT_VALUE:
        return None
    who = turn.name or "the user"
    when = day(turn.said_at)
    said = " ".join(kept)
    content = f"On {when}, {who} said: {said}" if when else f"{who} said: {said}"
    return Statement(content, value, len(said.split()))


def statements(turns: Sequence[Turn], share: float = 1.0) -> list[str]:
    """The facts a stretch of conversation leaves, in the order said, each once: the most
    telling per word first while their words stay within `share` of the words said (each one costs an
    encoding, whose time grows with its length)."""
    found: dict[str, Statement] = {}
    for turn in turns:
        if (one := statement(turn)) is not None and one.content not in found:
            found[one.content] = one
    room = share * sum(len(turn.content.split()) for turn in turns if turn.role != "system")
    chosen: set[str] = set()
    used = 0
    for one in sorted(found.values(), key=lambda s: -s.value / s.words):
        if not chosen or used + one.words <= room:  # the most telling one always
            chosen.add(one.content)
            used += one.words
    return [content for content in found if content in chosen]


async def consolidate(
    facts: FactService, user_id: str, session_id: str, turns: Sequence[Turn], settings: SummarySettings
) -> ConsolidationReport:
    """Remember the statements of `turns` as facts from `session_id`; one audit row sums it up."""
    report = ConsolidationReport()
    accepted: list[NewFact] = []
    for content in statements(turns, settings.fact_share):
        try:  # the facts layer's policy (a secret, a contact) refuses a statement: skip it alone
            facts.checked(content, settings.fact_category, ())
        except InvalidInputError:
            report.skipped += 1
            continue
        accepted.append(
            NewFact(
                content=content,
                importance=settings.fact_importance,
                category=settings.fact_category,
                source_session=session_id,
            )
        )
    for result in await facts.remember_many(user_id, accepted):  # one encode, one commit
        (report.created if result.status == "created" else report.merged).append(result.fact_id)
    if not report.created and not report.merged and not report.skipped:
        return report
    async with facts.db.write() as conn:
        await audit.record(
            conn,
            facts.now,
            user_id,
            audit.SESSION_CONSOLIDATED,
            [*report.created, *report.merged],
            session_id=session_id,
            created=len(report.created),
            merged=len(report.merged),
            skipped=report.skipped,
        )
    log.info(
        "consolidated %d facts (%d merged, %d skipped) from a session",
        len(report.created),
        len(report.merged),
        report.skipped,
    )
    return report
