"""How much a sentence of a conversation tells: the features the local summary and
consolidation rank by.

What a later question asks about is what the speakers said about themselves and the world:
names, numbers, dates and times, and first-person statements ("I started a new job",
"my sister moved to Lisbon"). What it never asks about is phatic talk: greetings, thanks,
reactions and back-channel ("Wow, that's so cool!", "It must be tough."). The features are
general properties of English sentences — pronoun person, capitalized names, numerals,
temporal words, interrogative form, discourse markers — not words of any one data set.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from memory_server.memory import text

MAX_SENTENCE_WORDS = 80

# Discourse markers, interjections and evaluative reactions: words that carry the social
# part of a turn (greeting, thanking, agreeing, reacting), not its content.
PHATIC_WORDS = frozenset(
    """
    hey hi hello bye goodbye thanks thank thx welcome please sorry wow whoa oh ooh ah aw aww ugh hmm
    haha hahaha lol yeah yes yep yup nope okay ok well sure totally absolutely definitely exactly indeed
    agree agreed right true cool great awesome nice amazing wonderful fantastic fabulous brilliant
    incredible lovely sweet glad happy congrats congratulations cheers really truly super pretty
    much good bad sounds sound seems looks thing things stuff tough hard must take care soon talk later
    keep luck hope hoping totally gonna wanna kinda lot lots always never ever yours mine man dude let know
    guess mean
    """.split()
)
_FIRST_PERSON = frozenset({"i", "me", "my", "mine", "myself", "we", "us", "our", "ours", "ourselves"})
_SECOND_PERSON = frozenset({"you", "your", "yours", "yourself"})
MONTHS = "january february march april may june july august september october november december".split()
_TEMPORAL = frozenset(
    MONTHS
    + "monday tuesday wednesday thursday friday saturday sunday yesterday today tomorrow tonight".split()
    + "week weeks weekend month months year years ago morning evening afternoon night summer winter".split()
    + "spring autumn fall christmas birthday anniversary recently lately since".split()
)
_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve twenty thirty hundred thousand first "
    "second third fourth fifth once twice".split()
)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_IMAGE = re.compile(r"^\[shares? an? (?:image|photo|picture)", re.IGNORECASE)
_TOKEN = re.compile(r"[\w'’-]+")
_DIGIT = re.compile(r"\d")


def content_words(value: str) -> list[str]:
    """Words that carry content: not stop words, longer than two letters."""
    return [word for word in text.words(value) if len(word) > 2 and word not in text.STOP_WORDS]


def split_sentences(value: str, *, min_words: int = 1) -> list[str]:
    sentences = []
    for part in _SENTENCE_END.split(value):
        part = _BULLET.sub("", part).strip()
        words = part.split()
        if len(words) < min_words:
            continue
        if len(words) > MAX_SENTENCE_WORDS:
            part = " ".join(words[:MAX_SENTENCE_WORDS]) + " …"
        sentences.append(part)
    return sentences


@dataclass(frozen=True)
class Features:
    """What one sentence holds."""

    words: frozenset[str]  # content words, participants' names and phatic words left out
    names: frozenset[str]  # capitalized words that are not the first of the sentence
    specifics: int  # numbers and temporal words
    first_person: bool
    second_person: bool
    question: bool
    image: bool

    @property
    def phatic(self) -> bool:
        """Nothing a later question could ask about: a greeting, a reaction, a back-channel."""
        if self.image:
            return False
        return len(self.words) + len(self.names) + self.specifics < 2

    @property
    def about_the_speaker(self) -> bool:
        """A statement (not a question) in which the speaker tells something of themselves."""
        return (self.first_person or self.image) and not self.question and not self.phatic


def features(sentence: str, participants: Collection[str] = ()) -> Features:
    tokens = [token.strip("'’-") for token in _TOKEN.findall(sentence)]
    lowered = [token.casefold() for token in tokens]
    known = {name.casefold() for name in participants}
    names = {
        low
        for index, (token, low) in enumerate(zip(tokens, lowered, strict=True))
        if index > 0 and token[:1].isupper() and low not in known and low != "i" and low not in PHATIC_WORDS
    }
    specifics = sum(1 for token in lowered if _DIGIT.search(token) or token in _TEMPORAL or token in _NUMBER_WORDS)
    words = {
        word
        for word in content_words(sentence)
        if word not in PHATIC_WORDS and word not in known and word not in names and word not in _TEMPORAL
    }
    pronouns = set(lowered) | {token.split("'")[0].split("’")[0] for token in lowered}
    return Features(
        words=frozenset(words),
        names=frozenset(names),
        specifics=specifics,
        first_person=bool(pronouns & _FIRST_PERSON),
        second_person=bool(pronouns & _SECOND_PERSON),
        question=sentence.rstrip(" \"')").endswith("?"),
        image=bool(_IMAGE.match(sentence)),
    )


# How much each kind of word is worth, and how the kind of sentence scales the total.
NAME_WEIGHT = 2.0
SPECIFIC_WEIGHT = 1.5
ABOUT_SPEAKER = 1.6
IMAGE = 1.2
ANSWER = 1.25
LISTENER_ONLY = 0.5  # about "you", nothing about the speaker: mostly praise or sympathy
QUESTION = 0.35


def score(found: Features, *, answers_a_question: bool = False) -> float:
    """How much a sentence tells, before redundancy with what is already kept: 0 for phatic."""
    if found.phatic:
        return 0.0
    value = len(found.words) + NAME_WEIGHT * len(found.names) + SPECIFIC_WEIGHT * min(found.specifics, 3)
    if found.question:
        value *= QUESTION
    elif found.about_the_speaker:
        value *= ABOUT_SPEAKER
    elif found.second_person:
        value *= LISTENER_ONLY
    if found.image:
        value *= IMAGE
    if answers_a_question and not found.question:
        value *= ANSWER
    return value
