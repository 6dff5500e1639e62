"""Text checks and transformations shared by every layer: validation, normalization, FTS queries."""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import unicodedata

from memory_server.errors import InvalidInputError

_ALLOWED_CONTROLS = {"\t", "\n", "\r"}
_WORD = re.compile(r"\w+", re.UNICODE)

# Words too common to help a keyword search; dropped from FTS queries unless nothing else is left.
STOP_WORDS = frozenset(
    """
    a about above after again all am an and any are as at be been before being below between both but by
    can could did do does doing down during each few for from further had has have having he her here
    hers him his how i if in into is it its itself just me more most my myself no nor not now of off on
    once only or other our ours out over own same she should so some such than that the their theirs
    them then there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours user users s t
    """.split()
)


def check_text(
    value: str,
    *,
    field: str,
    max_bytes: int | None = None,
    allow_empty: bool = False,
    send: str = "the text to store",
    shorter: str = "Store a shorter, self-contained statement, or split it into several facts.",
) -> str:
    """Refuse text that cannot be stored faithfully, with a message that says how to fix it.
    `send` (what to send when it is empty) and `shorter` (what to do when it is too long) fit
    the message to the caller: text to store, or words to look for."""
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise InvalidInputError(
            f"{field} contains invalid Unicode (a lone surrogate at position {error.start}). Send valid UTF-8 text."
        ) from None
    if not allow_empty and not value.strip():
        raise InvalidInputError(f"{field} is empty. Send {send}.")
    for position, char in enumerate(value):
        if unicodedata.category(char) == "Cc" and char not in _ALLOWED_CONTROLS:
            raise InvalidInputError(
                f"{field} contains a control character (U+{ord(char):04X} at position {position}). "
                "Remove it and send plain text."
            )
    if max_bytes is not None and size > max_bytes:
        raise InvalidInputError(f"{field} is {size} bytes; the limit is {max_bytes}. {shorter}")
    return value


def normalize(value: str) -> str:
    """The form two texts share when they say the same thing: case, accents, spacing, punctuation."""
    folded = unicodedata.normalize("NFKD", value.casefold())
    letters = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(_WORD.findall(letters))


_SPACE = re.compile(r"\s+")
_EDGE = ".,;:!?\"'()[]…"
_DETAIL = re.compile(r"\S*[\d#+$€£¥%@&]\S*")


def same_statement_form(value: str) -> str:
    """What two statements share when only case, spacing and closing punctuation differ.
    Symbols stay: "C#" is not "C++", "€5k" is not "$5k"."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", value).casefold()).strip().strip(_EDGE + " ")


def content_key(value: str) -> str:
    """The exact-duplicate key of a fact."""
    return hashlib.sha256(same_statement_form(value).encode("utf-8")).hexdigest()


def details(value: str) -> frozenset[str]:
    """What a near-duplicate by meaning must repeat exactly: numbers, codes, words with symbols
    and names (capitalized words after the first). Sentence vectors blur exactly these, so
    "flight on May 3" and "flight on May 5" look alike to them."""
    marked = {token.strip(_EDGE).casefold() for token in _DETAIL.findall(value)}
    tokens = value.split()
    names = {
        word.strip(_EDGE).casefold()
        for previous, word in itertools.pairwise(tokens)
        if word[:1].isupper() and word != "I" and not previous.endswith((".", "!", "?", ":"))
    }
    return frozenset(marked | names)


def words(value: str) -> list[str]:
    return _WORD.findall(value.casefold())


def query_terms(query: str, limit: int = 32) -> list[str]:
    """The words of a query worth searching for: stop words dropped unless nothing else is left."""
    terms = list(dict.fromkeys(words(query)))
    meaningful = [term for term in terms if term not in STOP_WORDS]
    return (meaningful or terms)[:limit]


def fts_query(terms: list[str]) -> str | None:
    """An FTS5 MATCH expression that matches any of the terms, or None if there are none.

    Every term is quoted, so FTS5 syntax in the query (`"`, `*`, `NEAR`, `OR`, `-`) is data.
    """
    if not terms:
        return None
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def estimate_tokens(value: str) -> int:
    """A conservative token count: the larger of chars/4 and words×4/3, rounded up.

    Within about 10% above a BPE tokenizer's count for English prose; never needs a model.
    """
    if not value:
        return 0
    return max(math.ceil(len(value) / 4), math.ceil(len(value.split()) * 4 / 3))
