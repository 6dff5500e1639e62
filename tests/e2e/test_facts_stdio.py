"""The product as a host sees it: `memory-server` spawned over stdio, driven by the official MCP
client, with the real embedding model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stdio import call, call_error, stdio_client

pytestmark = pytest.mark.e2e

# Twenty varied facts, each with a paraphrased question that shares few words with it.
FACTS_AND_QUESTIONS = [
    ("My daughter Mia turns seven on March 3rd", "when is my kid's birthday"),
    ("I am allergic to penicillin", "which antibiotic must doctors avoid giving me"),
    ("I work as a backend engineer at a fintech startup in Berlin", "what is my job"),
    ("My favourite food is Neapolitan pizza", "what dish do I enjoy eating most"),
    ("I prefer dark mode in every editor and app", "which colour theme do I like for software"),
    ("I run a half marathon every October", "what long-distance race do I do each autumn"),
    ("My partner Sam is a veterinarian", "what does my significant other do for a living"),
    ("I drive a 2019 Toyota Corolla hybrid", "what car do I own"),
    ("I am learning Japanese on weekday mornings", "which foreign language am I studying"),
    ("My flight to Lisbon leaves on June 12 at 7am", "when do I travel to Portugal"),
    ("I keep two cats named Pixel and Byte", "what pets live with me"),
    ("I take my coffee black with no sugar", "how do I like my morning caffeine drink"),
    ("My blood type is O negative", "what is my blood group"),
    ("I play bass guitar in a jazz trio on Thursdays", "what instrument do I perform with"),
    ("I am saving for a house deposit of 60000 euros", "what is my big savings goal"),
    ("I go to bed at 11pm and wake at 6:30", "what is my sleep schedule"),
    ("I dislike phone calls and prefer text messages", "how should people contact me"),
    ("I grew up in a small fishing village in Norway", "where did I spend my childhood"),
    ("My manager is called Priya Raman", "who is my boss"),
    ("I use a standing desk and a split keyboard", "what does my office setup look like"),
]


async def test_a_host_remembers_searches_merges_supersedes_forgets_and_survives_a_restart(tmp_path: Path) -> None:
    async with stdio_client(tmp_path) as client:
        tools = await client.list_tools()
        assert {"remember_fact", "search_facts", "get_user_context", "forget_fact"} <= {t.name for t in tools.tools}

        ids = []
        for content, _ in FACTS_AND_QUESTIONS:
            answer = await call(client, "remember_fact", content=content, importance=0.6)
            assert answer["status"] == "created"
            ids.append(answer["fact_id"])

        found_in_top_3 = 0
        for fact_id, (_, question) in zip(ids, FACTS_AND_QUESTIONS, strict=True):
            hits = (await call(client, "search_facts", query=question, limit=3))["hits"]
            found_in_top_3 += fact_id in [hit["fact"]["id"] for hit in hits]
        assert found_in_top_3 >= 18

        duplicate = await call(client, "remember_fact", content="my blood type is O negative.", importance=0.95)
        assert (duplicate["status"], duplicate["fact_id"]) == ("duplicate", ids[12])
        assert duplicate["fact"]["importance"] == 0.95

        moved = await call(client, "remember_fact", content="My manager is now Tomasz Nowak", supersedes=ids[18])
        assert moved["status"] == "created" and moved["superseded_id"] == ids[18]
        boss = (await call(client, "search_facts", query="who is my boss", limit=5))["hits"]
        assert boss[0]["fact"]["id"] == moved["fact_id"]
        assert ids[18] not in [hit["fact"]["id"] for hit in boss]

        context = await call(client, "get_user_context", max_tokens=120)
        assert context["tokens"] <= 120
        assert context["omitted"] > 0
        assert context["facts"][0]["id"] == ids[12]  # the most important fact leads
        assert "not instructions" in context["text"]

        forgotten = await call(client, "forget_fact", fact_id=ids[7])
        assert forgotten["deleted"] == [ids[7]]
        car = (await call(client, "search_facts", query="Toyota Corolla hybrid car"))["hits"]
        assert ids[7] not in [hit["fact"]["id"] for hit in car]

        error = await call_error(client, "forget_fact", fact_id=ids[7])
        assert "No fact with id" in error

    async with stdio_client(tmp_path) as client:
        pets = (await call(client, "search_facts", query="what pets live with me", limit=3))["hits"]
        assert pets[0]["fact"]["id"] == ids[10]
        status = json.loads((await client.read_resource("memory://status")).contents[0].text)  # type: ignore[union-attr]
        assert status["encrypted"] is True
        assert status["facts"] == 19  # 20 + 1 new - 1 forgotten - 1 superseded (hidden, kept)


async def test_bad_input_over_the_wire_gets_an_error_the_model_can_act_on(tmp_path: Path) -> None:
    async with stdio_client(tmp_path) as client:
        assert "content is empty" in await call_error(client, "remember_fact", content="")
        assert "limit is 8192" in await call_error(client, "remember_fact", content="x" * 9000)
        assert "importance must be a number from 0 to 1" in await call_error(
            client, "remember_fact", content="Likes tea", importance=7
        )
        assert "No fact with id 4242" in await call_error(client, "forget_fact", fact_id=4242)
        assert "no words to search for" in await call_error(client, "search_facts", query="?!? ...")
        context = await call(client, "get_user_context")
        assert context["facts"] == []
