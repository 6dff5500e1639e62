"""Long-term facts through the domain service, on a real encrypted database with the fake encoder."""

from __future__ import annotations

import pytest

from memory_server.app import Memory
from memory_server.clock import ManualClock
from memory_server.errors import InvalidInputError, NotFoundError
from memory_server.memory.facts import NewFact, SearchRequest

USER = "alice"


async def remember(memory: Memory, content: str, user: str = USER, **options: object) -> int:
    result = await memory.facts.remember(user, NewFact(content=content, **options))  # type: ignore[arg-type]
    return result.fact_id


async def table_counts(memory: Memory) -> tuple[int, int, int]:
    """Rows in facts, vectors and the full-text index: the three must move together."""
    async with memory.db.read() as conn:
        facts = await memory.db.fetchone(conn, "SELECT count(*) FROM facts")
        vectors = await memory.db.fetchone(conn, "SELECT count(*) FROM fact_vectors")
        fts = await memory.db.fetchone(conn, "SELECT count(*) FROM fact_fts")
    assert facts and vectors and fts
    return facts[0], vectors[0], fts[0]


async def test_a_new_fact_is_stored_with_its_vector_and_full_text_row(memory: Memory) -> None:
    result = await memory.facts.remember(USER, NewFact("Prefers window seats on long flights", importance=0.7))
    assert result.status == "created"
    assert result.fact.content == "Prefers window seats on long flights"
    assert result.fact.importance == 0.7
    assert await table_counts(memory) == (1, 1, 1)


async def test_restating_a_fact_merges_it_instead_of_storing_it_twice(memory: Memory, clock: ManualClock) -> None:
    first = await memory.facts.remember(USER, NewFact("Drinks oat milk flat whites", importance=0.4, tags=["coffee"]))
    clock.advance(days=3)
    again = await memory.facts.remember(USER, NewFact("drinks OAT milk flat whites!", importance=0.8, tags=["milk"]))
    assert again.status == "duplicate"
    assert again.fact_id == first.fact_id
    assert again.fact.importance == 0.8
    assert again.fact.tags == ["coffee", "milk"]
    assert again.fact.updated_at > first.fact.updated_at
    assert await table_counts(memory) == (1, 1, 1)


async def test_a_near_duplicate_by_meaning_is_merged_and_keeps_the_larger_importance(memory: Memory) -> None:
    # The fake encoder maps the same bag of words to the same vector: cosine 1.0.
    first = await remember(memory, "the user likes jasmine tea", importance=0.9)
    result = await memory.facts.remember(USER, NewFact("jasmine tea the user likes", importance=0.3))
    assert (result.status, result.fact_id, result.fact.importance) == ("duplicate", first, 0.9)


async def test_a_batch_is_written_whole_and_a_later_restatement_merges_into_an_earlier_one(memory: Memory) -> None:
    results = await memory.facts.remember_many(
        USER, [NewFact("Keeps bees on the roof"), NewFact("Plays the cello"), NewFact("keeps BEES on the roof!")]
    )
    assert [result.status for result in results] == ["created", "created", "duplicate"]
    assert results[2].fact_id == results[0].fact_id
    assert await table_counts(memory) == (2, 2, 2)


async def test_a_batch_with_one_refused_fact_writes_none_of_them(memory: Memory) -> None:
    batch = [NewFact("Keeps bees on the roof"), NewFact("API key is sk-ant-api03-" + "a1B2c3D4" * 10)]
    with pytest.raises(InvalidInputError):
        await memory.facts.remember_many(USER, batch)
    assert await table_counts(memory) == (0, 0, 0)


async def test_a_superseding_fact_hides_the_old_one_from_search_and_context(memory: Memory) -> None:
    old = await remember(memory, "Lives in Lisbon near the river")
    result = await memory.facts.remember(USER, NewFact("Lives in Berlin since May", supersedes=old))
    assert result.status == "created"
    assert result.superseded_id == old
    hits = (await memory.facts.search(USER, SearchRequest("lives"))).hits
    assert [hit.fact.id for hit in hits] == [result.fact_id]
    context = await memory.context.build(USER)
    assert "Lisbon" not in context.text and "Berlin" in context.text
    everything = await memory.facts.search(USER, SearchRequest("lives", include_superseded=True))
    old_hit = next(hit for hit in everything.hits if hit.fact.id == old)
    assert old_hit.fact.superseded_by == result.fact_id


async def test_superseding_a_fact_twice_names_the_fact_to_supersede_instead(memory: Memory) -> None:
    old = await remember(memory, "Team lead is Priya")
    newer = await remember(memory, "Team lead is Jonas", supersedes=old)
    with pytest.raises(InvalidInputError, match=f"Supersede {newer} instead"):
        await remember(memory, "Team lead is Ana", supersedes=old)
    assert (await table_counts(memory))[0] == 2


async def test_superseding_an_unknown_fact_is_refused_and_writes_nothing(memory: Memory) -> None:
    with pytest.raises(NotFoundError, match="no fact with id 99"):
        await remember(memory, "Uses Neovim", supersedes=99)
    assert await table_counts(memory) == (0, 0, 0)


async def test_a_search_explains_every_hit_and_counts_the_use(memory: Memory) -> None:
    fact_id = await remember(memory, "Allergic to penicillin since childhood", importance=0.9)
    await remember(memory, "Enjoys hiking in the Alps")
    [hit, *_] = (await memory.facts.search(USER, SearchRequest("penicillin allergy"))).hits
    assert hit.fact.id == fact_id
    assert hit.why.keyword_rank == 1
    assert hit.why.keyword_coverage > 0
    assert hit.why.importance == 0.9
    assert hit.score > 0
    await memory.db.flush_deferred()  # use is counted with the next write (see tests/store/test_deferred.py)
    again = await memory.facts.get(USER, fact_id)
    assert again.access_count == 1
    assert again.last_accessed_at is not None


async def test_search_filters_by_category_tags_and_importance(memory: Memory) -> None:
    tea = await remember(memory, "Likes green tea", category="preference", tags=["drinks"], importance=0.9)
    await remember(memory, "Likes green shirts", category="style", tags=["clothes"], importance=0.9)
    await remember(memory, "Likes green apples", category="preference", tags=["drinks"], importance=0.1)
    request = SearchRequest("likes green", category="Preference", tags=["drinks"], min_importance=0.5)
    assert [hit.fact.id for hit in (await memory.facts.search(USER, request)).hits] == [tea]


async def test_an_expired_fact_is_never_returned_and_the_sweep_erases_it(memory: Memory, clock: ManualClock) -> None:
    await remember(memory, "Parking spot is B12 this week", ttl_days=7)
    await remember(memory, "Car is a blue Golf")
    clock.advance(days=8)
    assert [f.content for f in await memory.facts.list_facts(USER)] == ["Car is a blue Golf"]
    assert (await memory.facts.search(USER, SearchRequest("parking spot"))).hits[0].fact.content != (
        "Parking spot is B12 this week"
    )
    assert (await memory.sweep())["facts"] == 1
    assert (await memory.sweep())["facts"] == 0
    assert await table_counts(memory) == (1, 1, 1)


async def test_forgetting_by_id_erases_the_row_its_vector_its_text_and_its_history(memory: Memory) -> None:
    old = await remember(memory, "Works at Initech")
    new = await remember(memory, "Works at Globex", supersedes=old)
    keep = await remember(memory, "Plays the cello")
    result = await memory.facts.forget(USER, fact_id=new)
    assert sorted(result.deleted) == sorted([old, new])
    assert await table_counts(memory) == (1, 1, 1)
    assert [f.id for f in await memory.facts.list_facts(USER, include_superseded=True)] == [keep]
    with pytest.raises(NotFoundError):
        await memory.facts.get(USER, new)


async def test_forgetting_by_query_previews_with_dry_run_and_changes_nothing(memory: Memory) -> None:
    doomed = await remember(memory, "Old address is 12 Elm Street")
    await remember(memory, "Favourite colour is teal")
    preview = await memory.facts.forget(USER, query="old address elm street", dry_run=True)
    assert preview.dry_run and preview.deleted == [doomed]
    assert await table_counts(memory) == (2, 2, 2)
    done = await memory.facts.forget(USER, query="old address elm street")
    assert done.deleted == [doomed]
    assert await table_counts(memory) == (1, 1, 1)


async def test_forget_needs_exactly_one_of_id_query_and_session(memory: Memory) -> None:
    with pytest.raises(InvalidInputError, match="one of fact_id, query"):
        await memory.facts.forget(USER)
    with pytest.raises(InvalidInputError, match="one of fact_id, query"):
        await memory.facts.forget(USER, fact_id=1, query="x")


async def test_another_users_facts_are_invisible_and_answer_as_missing(memory: Memory) -> None:
    fact_id = await remember(memory, "Secret hobby is competitive yodelling", user="bob")
    assert (await memory.facts.search(USER, SearchRequest("yodelling"))).hits == []
    assert (await memory.context.build(USER)).facts == []
    with pytest.raises(NotFoundError) as theirs:
        await memory.facts.forget(USER, fact_id=fact_id)
    with pytest.raises(NotFoundError) as missing:
        await memory.facts.forget(USER, fact_id=fact_id + 1000)
    assert str(theirs.value).replace(str(fact_id), "N") == str(missing.value).replace(str(fact_id + 1000), "N")
    assert await table_counts(memory) == (1, 1, 1)


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        ("", {}, "content is empty"),
        ("   \n\t", {}, "content is empty"),
        ("x" * 8_193, {}, "8193 bytes; the limit is 8192"),
        ("Likes tea", {"importance": 7}, "importance must be between 0 and 1"),
        ("Likes \ud800 tea", {}, "lone surrogate"),
        ("Likes \x00 tea", {}, "control character"),
        ("Likes tea", {"tags": [f"t{i}" for i in range(21)]}, "21 tags given"),
        ("Likes tea", {"ttl_days": -1}, "ttl_days must be more than 0"),
        ("Likes tea", {"category": "c" * 65}, "category is longer than 64"),
    ],
)
async def test_bad_input_gets_a_clear_error_and_writes_nothing(
    memory: Memory, content: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        await remember(memory, content, **options)
    assert await table_counts(memory) == (0, 0, 0)


@pytest.mark.parametrize("query", ["?!?", "   ", "\"'*()", "\ud800"])
async def test_a_query_with_nothing_to_search_for_is_refused(memory: Memory, query: str) -> None:
    await remember(memory, "Likes tea")
    with pytest.raises(InvalidInputError):
        await memory.facts.search(USER, SearchRequest(query))


@pytest.mark.parametrize("query", ['"unbalanced', "tea OR coffee", "NEAR(tea coffee)", "tea*", "-tea", "a AND"])
async def test_fts_syntax_in_a_query_is_searched_as_plain_words(memory: Memory, query: str) -> None:
    fact_id = await remember(memory, "Likes tea and coffee")
    hits = (await memory.facts.search(USER, SearchRequest(query))).hits
    assert [hit.fact.id for hit in hits] == [fact_id]


async def test_a_rare_word_finds_its_fact_even_beyond_the_nearest_neighbours(memory: Memory) -> None:
    """The vector scan lists only the closest facts; a keyword match outside that list still
    competes, scored with the closeness of the list's last entry as its similarity."""
    from memory_server.memory.facts import WIDE_NEIGHBOURS

    for i in range(WIDE_NEIGHBOURS + 10):
        await remember(memory, f"tea time note {i}")
    rare = await remember(memory, "ledger kept in the zanzibar archive")
    [best, *_] = (await memory.facts.search(USER, SearchRequest("tea zanzibar"))).hits
    assert best.fact.id == rare
    assert best.why.vector_rank is None
    assert best.why.keyword_rank == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Main language at work is C#", "Main language at work is C++"),
        ("Monthly budget is €500", "Monthly budget is $500"),
        ("Team lead is Priya", "Team lead is Jonas"),
    ],
)
async def test_statements_that_differ_in_a_symbol_number_or_name_are_both_kept(
    memory: Memory, first: str, second: str
) -> None:
    # The fake encoder sees the same words in each pair (symbols aside): similarity 1.0.
    await remember(memory, first)
    result = await memory.facts.remember(USER, NewFact(second))
    assert result.status == "created"
    assert sorted(f.content for f in await memory.facts.list_facts(USER)) == sorted([first, second])


async def test_a_forgotten_facts_id_is_never_given_to_another_fact(memory: Memory) -> None:
    first = await remember(memory, "Parks in spot B12")
    await memory.facts.forget(USER, fact_id=first)
    later = await remember(memory, "Rides the tram to work", user="bob")
    assert later != first
    with pytest.raises(NotFoundError):
        await memory.facts.forget(USER, fact_id=first)
    assert [f.content for f in await memory.facts.list_facts("bob")] == ["Rides the tram to work"]
