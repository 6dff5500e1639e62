"""Wrong arguments over the wire get one clear sentence per argument: its name, the range or
shape it takes, and what to send instead; never pydantic's text or a URL. Values out of range
are refused (not clamped), unknown arguments are refused by name, and nothing is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.stdio import call, call_error, stdio_client

pytestmark = pytest.mark.e2e

CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("remember_fact", {"content": "Likes tea", "importance": "high"}, ["importance", "a number from 0 to 1", '"high"']),
    ("search_facts", {"query": "tea", "limit": -1}, ["limit", "a whole number from 1 to 50", "got -1"]),
    ("search_facts", {"query": "tea", "limit": 100000}, ["limit", "from 1 to 50", "got 100000"]),
    ("get_user_context", {"max_tokens": 0}, ["max_tokens", "from 50 to 8000", "got 0"]),
    ("get_user_context", {"max_tokens": 10**9}, ["max_tokens", "from 50 to 8000", "got 1000000000"]),
    ("save_checkpoint", {"thread_id": "t", "state": "step three"}, ["state must be a JSON object", "not as a string"]),
    ("remember_fact", {"content": "Likes tea", "foo": 1}, ["remember_fact has no argument foo", "Remove foo"]),
    ("search_facts", {"query": "tea", "limit": 5, "colour": "red"}, ["no argument colour", "query, limit"]),
    ("forget_fact", {"query": ""}, ["query is empty", "facts to erase"]),
    ("search_facts", {"query": "tea " * 25_000}, ["query is 100000 bytes", "the limit is 2000", "words"]),
]


@pytest.mark.parametrize("case", range(len(CASES)), ids=[f"{tool}-{sorted(args)[-1]}" for tool, args, _ in CASES])
async def test_a_wrong_argument_is_refused_in_one_sentence_that_says_what_to_send(tmp_path: Path, case: int) -> None:
    tool, arguments, expected = CASES[case]
    async with stdio_client(tmp_path) as client:
        error = await call_error(client, tool, **arguments)
        for words in expected:
            assert words in error, error
        for pydantic_text in ("validation error", "pydantic.dev", "http", "Input should", "type="):
            assert pydantic_text not in error, error
        assert "store" not in error.lower() or tool == "remember_fact", error
        # Nothing was stored: the user's context is still empty.
        assert (await call(client, "get_user_context"))["facts"] == []
