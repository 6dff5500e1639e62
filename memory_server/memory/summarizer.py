"""A local, deterministic, extractive summary of a conversation.

The summary is made of sentences that were actually said, chosen greedily to cover the
conversation: each step takes the sentence that adds the most *coverage* (how much closer it
brings every sentence to its nearest chosen sentence, in embedding space — a facility-location
objective, so a topic that was discussed a lot is covered once and a topic mentioned once still
counts), plus a bonus for sentences that state a decision or a fact about the user, minus a
penalty for resembling what is already chosen (MMR). Sentences of a previous summary are
candidates too, with a bonus, so a second summarization folds the first one in.

The chosen sentences are printed in the order they were said, each marked with its speaker.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from memory_server.embeddings import Embedder
from memory_server.memory import text

COVERAGE_WEIGHT = 0.6
REDUNDANCY_WEIGHT = 0.4
NEAR_DUPLICATE = 0.9  # cosine similarity above which a sentence adds nothing new
PREVIOUS_SUMMARY_BONUS = 0.3
MIN_SCORE = 0.02  # below this a sentence adds too little to be worth its tokens
COMPRESSION = 0.25  # a summary is at most this share of what it summarizes
MIN_BUDGET = 60
MAX_SENTENCE_WORDS = 60
MIN_SENTENCE_WORDS = 3
SHORT_SENTENCE_WORDS = 5

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_LABEL = re.compile(r"^(user|assistant|tool|summary)(?: [\w.-]+)?: ", re.IGNORECASE)

# What makes a sentence worth keeping beyond its centrality: decisions and facts about the user.
_DECISION = re.compile(
    r"\b(decid\w*|agree\w*|chose|choose|settled?|going with|go with|we'?ll|let'?s|plan(?:ned|s)? to|"
    r"next steps?|to[- ]?do|must|deadline|due|budget|confirm\w*|switch(?:ed)? to|instead of|final)\b",
    re.IGNORECASE,
)
_PERSONAL = re.compile(
    r"\b(my name|call me|i am|i'm|i live|i work|i prefer|i like|i love|i hate|i don'?t|i never|i always|"
    r"i need|i want|allergic|my (?:\w+ )?(?:is|are|was)|remember)\b",
    re.IGNORECASE,
)
_AGENDA = re.compile(r"\b(project|goal|objective|priority|working on|main)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d")
_NAME = re.compile(r"^[A-Z][a-z]{2,}")

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Turn:
    role: str
    content: str
    name: str | None = None


@dataclass(frozen=True)
class Candidate:
    position: int  # order in the conversation; previous-summary lines come first
    label: str
    sentence: str
    bonus: float

    @property
    def line(self) -> str:
        return f"- {self.label}: {self.sentence}"


def split_sentences(value: str) -> list[str]:
    sentences = []
    for part in _SENTENCE_END.split(value):
        part = _BULLET.sub("", part).strip()
        words = part.split()
        if len(words) < MIN_SENTENCE_WORDS:
            continue
        if len(words) > MAX_SENTENCE_WORDS:
            part = " ".join(words[:MAX_SENTENCE_WORDS]) + " …"
        sentences.append(part)
    return sentences


def bonus(sentence: str, role: str) -> float:
    """How much a sentence reads like a decision or a fact worth keeping (0 to 0.4)."""
    score = 0.0
    if _DECISION.search(sentence):
        score += 0.2
    elif _AGENDA.search(sentence):
        score += 0.15
    if role == "user" and _PERSONAL.search(sentence):
        score += 0.2
    if _NUMBER.search(sentence):
        score += 0.05
    if any(_NAME.match(word) for word in sentence.split()[1:]):  # a name, not the first word
        score += 0.05
    if sentence.rstrip().endswith("?"):
        score -= 0.1
    elif role == "user":
        score += 0.03
    if role == "tool":
        score -= 0.05
    return min(score, 0.4)


def candidates(turns: Sequence[Turn], previous: str | None, max_sentences: int) -> list[Candidate]:
    """Sentences that may be chosen: the previous summary's lines, then what was said (not system)."""
    found: list[Candidate] = []
    seen: set[str] = set()
    earlier: list[tuple[str, str]] = []
    for line in (previous or "").splitlines():
        line = _BULLET.sub("", line).strip()
        match = _LABEL.match(line)
        if match:  # a line of an earlier local summary: one sentence, with its speaker
            earlier.append((match.group(0)[:-2], line[match.end() :]))
        else:  # a host-written summary: prose, taken sentence by sentence
            earlier += [("summary", sentence) for sentence in split_sentences(line)]
    for index, (label, sentence) in enumerate(earlier):
        key = text.normalize(sentence)
        if key and key not in seen:
            seen.add(key)
            found.append(Candidate(index - len(earlier), label, sentence, PREVIOUS_SUMMARY_BONUS))
    said: list[Candidate] = []
    for position, turn in enumerate(turns):
        if turn.role == "system":
            continue
        label = f"tool {turn.name}" if turn.role == "tool" and turn.name else turn.role
        for sentence in split_sentences(turn.content):
            key = text.normalize(sentence)
            extra = bonus(sentence, turn.role)
            # Very short sentences are mostly acknowledgements ("Glad it helps."), unless they state something.
            if not key or key in seen or (len(key.split()) < SHORT_SENTENCE_WORDS and extra < 0.15):
                continue
            seen.add(key)
            said.append(Candidate(position, label, sentence, extra))
    room = max(0, max_sentences - len(found))
    if len(said) > room:
        # Keep every decision- or fact-like sentence first, then an even spread of the rest.
        strong = [c for c in said if c.bonus >= 0.2][:room]
        rest = [c for c in said if c.bonus < 0.2]
        spare = room - len(strong)
        step = len(rest) / spare if spare > 0 else 0
        spread = [rest[int(i * step)] for i in range(spare)] if spare > 0 else []
        said = sorted(strong + spread, key=lambda c: c.position)
    return found + said


def choose(vectors: Matrix, bonuses: Sequence[float], costs: Sequence[int], budget: int) -> list[int]:
    """Greedy coverage + bonus − redundancy within a token budget; returns chosen indexes."""
    count = len(costs)
    if count == 0:
        return []
    similarity = np.clip(vectors @ vectors.T, 0.0, 1.0)
    covered = np.zeros(count, dtype=np.float32)  # each sentence's similarity to its nearest chosen one
    closest = np.zeros(count, dtype=np.float32)  # each candidate's similarity to the chosen set
    extra = np.asarray(bonuses, dtype=np.float32)
    cost = np.asarray(costs)
    open_ = np.ones(count, dtype=bool)
    chosen: list[int] = []
    used = 0
    first_gain = 0.0
    while True:
        open_ &= (cost <= budget - used) & (closest < NEAR_DUPLICATE)
        if not open_.any():
            break
        gain = np.maximum(similarity - covered[:, None], 0.0).sum(axis=0)
        # Gains are scaled by the first round's best, so they shrink as the conversation gets covered.
        first_gain = first_gain or float(gain[open_].max()) or 1.0
        score = COVERAGE_WEIGHT * gain / first_gain + extra - REDUNDANCY_WEIGHT * closest
        score[~open_] = -np.inf
        pick = int(np.argmax(score))  # ties go to the earliest sentence
        if score[pick] < MIN_SCORE:
            break
        chosen.append(pick)
        used += int(cost[pick])
        open_[pick] = False
        covered = np.maximum(covered, similarity[:, pick])
        closest = np.maximum(closest, similarity[pick])
    return chosen


async def summarize(
    turns: Sequence[Turn],
    embedder: Embedder,
    *,
    previous: str | None = None,
    max_tokens: int = 400,
    max_sentences: int = 2_000,
) -> str:
    """An extractive summary of `turns` (and `previous`), at most `max_tokens` long.

    Returns "" when there is nothing worth keeping (e.g. only greetings).
    """
    pool = candidates(turns, previous, max_sentences)
    if not pool:
        return previous.strip() if previous else ""
    vectors = np.asarray(await embedder.embed([c.sentence for c in pool]), dtype=np.float32)
    costs = [text.estimate_tokens(c.line) + 1 for c in pool]
    # Room for the previous summary as it was, plus a compressed share of what is new.
    kept = sum(cost for c, cost in zip(pool, costs, strict=True) if c.position < 0)
    fresh = sum(costs) - kept
    budget = min(max_tokens, max(MIN_BUDGET, kept + int(fresh * COMPRESSION)))
    picked = choose(vectors, [c.bonus for c in pool], costs, budget)
    return "\n".join(pool[i].line for i in sorted(picked, key=lambda i: (pool[i].position, i)))
