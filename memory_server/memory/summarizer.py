"""A local, deterministic, extractive summary of a conversation that keeps what it told.

Every sentence said is scored for its information (see `informative`): names, numbers, dates,
first-person statements, answers; phatic talk scores nothing. Sentences are then chosen
greedily by information per token, each word counting less once the summary already holds
it, within a budget that is a share of what the summary covers (with a floor and a cap), so
a long conversation gets a longer summary than a short one. A previous summary's lines are
candidates like the new sentences, scored the same way with a small bonus, so a running
summary keeps its most informative old lines and drops the weakest, old or new.

Lines are printed in the order they were said, one per turn, under the day it was said,
each marked with the speaker's name when the message carried one (else its role).
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from memory_server.memory import informative, text

EARLIER_BONUS = 1.1  # a line of the previous summary was already judged worth keeping
MIN_VALUE = 1.0  # a sentence telling less than this is not worth its tokens
NOVELTY_FLOOR = 0.2  # a sentence whose words are all in the summary still adds its framing

_HEADER = re.compile(r"^(\d{1,2} [A-Z][a-z]+ \d{4}):$")
_LINE = re.compile(r"^- ([^:\n]{1,70}): (.+)$")


@dataclass(frozen=True)
class Turn:
    role: str
    content: str
    name: str | None = None
    said_at: float | None = None  # when it was said (epoch seconds, UTC), if known


def day(when: float | None) -> str | None:
    """ "8 May 2023": the day a line was said, as summaries and facts write it."""
    if when is None:
        return None
    moment = datetime.fromtimestamp(when, UTC)
    return f"{moment.day} {moment:%B %Y}"


def speaker(turn: Turn) -> str:
    if turn.role == "tool":
        return f"tool {turn.name}" if turn.name else "tool"
    return turn.name or turn.role


def budget(folded_tokens: int, *, share: float, floor: int, cap: int) -> int:
    """The summary's size: a share of the tokens it covers, within a floor and a cap."""
    return max(floor, min(cap, math.ceil(folded_tokens * share)))


@dataclass
class Candidate:
    group: int  # the turn (or previous line) it belongs to: one printed line per group
    label: str
    date: str | None
    sentence: str
    value: float
    keys: frozenset[str]  # what it tells, for redundancy: content words and names
    cost: int = field(init=False)

    def __post_init__(self) -> None:
        self.cost = text.estimate_tokens(self.sentence) + 1


def _candidate(
    group: int, label: str, date: str | None, sentence: str, value: float, found: informative.Features
) -> Candidate:
    return Candidate(group, label, date, sentence, value, found.words | found.names)


def earlier_lines(previous: str | None, *, local: bool) -> list[tuple[str, str | None, str]]:
    """(label, day, line text) of a previous summary: our own lines when it was made here,
    else a host's prose sentence by sentence."""
    found: list[tuple[str, str | None, str]] = []
    date: str | None = None
    for line in (previous or "").splitlines():
        line = line.strip()
        if not line:
            continue
        header = _HEADER.match(line) if local else None
        labelled = _LINE.match(line) if local else None
        if header:
            date = header.group(1)
        elif labelled:
            found.append((labelled.group(1), date, labelled.group(2)))
        else:
            found += [("summary", date, sentence) for sentence in informative.split_sentences(line, min_words=3)]
    return found


def candidates(turns: Sequence[Turn], previous: str | None = None, *, previous_local: bool = True) -> list[Candidate]:
    """Every sentence worth weighing: the previous summary's, then what was said (not system)."""
    earlier = earlier_lines(previous, local=previous_local)
    participants = {t.name for t in turns if t.name} | {label for label, _, _ in earlier}
    pool: list[Candidate] = []
    seen: set[str] = set()
    group = 0
    for label, date, line in earlier:
        group += 1
        for sentence in informative.split_sentences(line):
            found = informative.features(sentence, participants)
            value = informative.score(found) * EARLIER_BONUS
            key = text.normalize(sentence)
            if value >= MIN_VALUE and key not in seen:
                seen.add(key)
                pool.append(_candidate(group, label, date, sentence, value, found))
    asked_by: str | None = None  # who asked the last question still open
    for turn in turns:
        if turn.role == "system":
            continue
        group += 1
        label, date = speaker(turn), day(turn.said_at)
        answering = asked_by is not None and asked_by != label
        asked = False
        for sentence in informative.split_sentences(turn.content):
            found = informative.features(sentence, participants)
            asked = asked or found.question
            value = informative.score(found, answers_a_question=answering)
            key = text.normalize(sentence)
            if value >= MIN_VALUE and key not in seen:
                seen.add(key)
                pool.append(_candidate(group, label, date, sentence, value, found))
        asked_by = label if asked else None
    return pool


def choose(pool: Sequence[Candidate], budget: int) -> list[int]:
    """Greedy by information per token within the budget; returns chosen indexes.

    Lazy: a word already kept only lowers a sentence's worth, so a ratio computed earlier is
    an upper bound and only the top of the heap is recomputed. (A sentence's cost drops once
    its turn has a line: its siblings are pushed again then.)"""
    covered: set[str] = set()
    opened_groups: set[int] = set()
    opened_days: set[str] = set()
    siblings: dict[int, list[int]] = {}
    for index, candidate in enumerate(pool):
        siblings.setdefault(candidate.group, []).append(index)
    chosen: set[int] = set()
    used = 0
    step = 0

    def gain(candidate: Candidate) -> float:
        if not candidate.keys:
            return candidate.value
        novel = len(candidate.keys - covered) / len(candidate.keys)
        return candidate.value * (NOVELTY_FLOOR + (1 - NOVELTY_FLOOR) * novel)

    def cost(candidate: Candidate) -> int:
        extra = 0 if candidate.group in opened_groups else text.estimate_tokens(f"- {candidate.label}: ")
        return candidate.cost + extra

    def header(candidate: Candidate) -> int:
        if candidate.date is None or candidate.date in opened_days:
            return 0
        return text.estimate_tokens(f"{candidate.date}:") + 1

    heap = [(-c.value / cost(c), index, step) for index, c in enumerate(pool)]
    heapq.heapify(heap)
    while heap:
        _, index, stamp = heapq.heappop(heap)
        candidate = pool[index]
        if index in chosen:
            continue
        if stamp != step:  # stale: recompute, and let it compete again
            heapq.heappush(heap, (-gain(candidate) / cost(candidate), index, step))
            continue
        if gain(candidate) < MIN_VALUE * NOVELTY_FLOOR:
            break
        spend = cost(candidate) + header(candidate)
        if spend > budget - used:
            continue  # it does not fit; smaller ones may
        used += spend
        chosen.add(index)
        covered |= candidate.keys
        opened_groups.add(candidate.group)
        if candidate.date is not None:
            opened_days.add(candidate.date)
        step += 1
        for sibling in siblings[candidate.group]:
            if sibling not in chosen:
                heapq.heappush(heap, (-gain(pool[sibling]) / cost(pool[sibling]), sibling, step))
    return sorted(chosen)


def render(pool: Sequence[Candidate], chosen: Sequence[int]) -> str:
    """One line per turn, in the order said, under a line naming the day when it is known."""
    by_group: dict[int, list[int]] = {}
    for index in sorted(chosen):
        by_group.setdefault(pool[index].group, []).append(index)
    lines: list[str] = []
    shown: str | None = None
    for group in sorted(by_group):
        first = pool[by_group[group][0]]
        if first.date is not None and first.date != shown:
            lines.append(f"{first.date}:")
            shown = first.date
        lines.append(f"- {first.label}: " + " ".join(pool[i].sentence for i in by_group[group]))
    return "\n".join(lines)


def summarize(
    turns: Sequence[Turn],
    *,
    previous: str | None = None,
    previous_local: bool = True,
    max_tokens: int = 400,
    max_sentences: int = 2_000,
) -> str:
    """An extractive summary of `turns` (and `previous`), at most `max_tokens` long.

    Returns "" when there is nothing worth keeping (e.g. only greetings).
    """
    pool = candidates(turns, previous, previous_local=previous_local)
    if len(pool) > max_sentences:  # weigh only the most telling ones, in their order
        best = sorted(range(len(pool)), key=lambda i: (-pool[i].value, i))[:max_sentences]
        pool = [pool[i] for i in sorted(best)]
    if not pool:
        return previous.strip() if previous else ""
    return render(pool, choose(pool, max_tokens))
