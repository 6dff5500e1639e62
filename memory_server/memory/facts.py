"""Long-term facts: remember (with de-duplication and supersession), search, forget, sweep."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import aiosqlite

from memory_server.clock import iso
from memory_server.config import Settings
from memory_server.embeddings import Embedder
from memory_server.errors import InvalidInputError, NotFoundError
from memory_server.memory import audit, poisoning, privacy, ranking, text
from memory_server.memory.models import Fact, ForgetResult, RememberResult, ScoreParts, SearchHit, SearchResult
from memory_server.memory.session_rules import check_session_id, require_live_session
from memory_server.store import Database, vector_log
from memory_server.store import facts as rows
from memory_server.store.facts import FactFilter, FactRow

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400.0
WIDE_NEIGHBOURS = 120


def to_model(row: FactRow) -> Fact:
    return Fact(
        id=row.id,
        content=row.content,
        category=row.category,
        tags=row.tags,
        importance=round(row.importance, 4),
        created_at=iso(row.created_at),
        updated_at=iso(row.updated_at),
        last_accessed_at=iso(row.last_accessed_at) if row.last_accessed_at else None,
        access_count=row.access_count,
        expires_at=iso(row.expires_at) if row.expires_at else None,
        supersedes=row.supersedes,
        superseded_by=row.superseded_by,
        source_session=row.source_session,
    )


@dataclass(frozen=True)
class NewFact:
    content: str
    importance: float = 0.5
    category: str | None = None
    tags: Sequence[str] = ()
    ttl_days: float | None = None
    supersedes: int | None = None
    source_session: str | None = None


@dataclass(frozen=True)
class SearchRequest:
    query: str
    limit: int = 10
    category: str | None = None
    tags: Sequence[str] = ()
    min_importance: float | None = None
    include_superseded: bool = False


@dataclass(frozen=True)
class RankedFact:
    row: FactRow
    score: float
    candidate: ranking.Candidate
    relevance: float
    recency: float
    use: float

    @functools.cached_property
    def parts(self) -> ScoreParts:
        """The explanation of the score (built only for what is shown: a search ranks ~100)."""
        return ScoreParts(
            relevance=round(self.relevance, 4),
            similarity=round(self.candidate.similarity, 4),
            keyword_coverage=round(self.candidate.keyword_coverage, 4),
            vector_rank=self.candidate.vector_rank,
            keyword_rank=self.candidate.keyword_rank,
            importance=self.row.importance,
            recency=round(self.recency, 4),
            use=round(self.use, 4),
        )


class FactService:
    """Everything the tools and the CLI do with facts, for one store and one embedder."""

    def __init__(self, db: Database, embedder: Embedder, settings: Settings) -> None:
        self.db = db
        self.embedder = embedder
        self.settings = settings
        self.privacy = privacy.PrivacyPolicy(settings.privacy)

    @property
    def now(self) -> float:
        return self.db.clock()

    # -- remember ------------------------------------------------------------------------

    async def remember(self, user_id: str, new: NewFact) -> RememberResult:
        [result] = await self.remember_many(user_id, [new])
        return result

    async def remember_many(self, user_id: str, news: Sequence[NewFact]) -> list[RememberResult]:
        """The one path that makes facts: every input is checked before anything is written,
        the batch is encoded at once and written in one transaction (one commit), so a refusal
        anywhere changes nothing and a later fact of the batch merges into an earlier one."""
        if not news:
            return []
        checked = [self._checked_new(new) for new in news]
        vectors = await self.embedder.embed([content for content, *_ in checked])
        results: list[RememberResult] = []
        async with self.db.write() as conn:
            now = self.now
            live = FactFilter(now=now)
            for new, (content, category, tags, importance), vector in zip(news, checked, vectors, strict=True):
                results.append(
                    await self._remember_one(conn, user_id, new, content, category, tags, importance, vector, now, live)
                )
        for result in results:
            log.info("fact %d %s for user %s", result.fact_id, result.status, user_id)
        return results

    def _checked_new(self, new: NewFact) -> tuple[str, str | None, list[str], float]:
        content, category, tags = self.checked(new.content, new.category, new.tags)
        importance = _check_unit(new.importance, "importance")
        if new.ttl_days is not None and not 0 < new.ttl_days <= self.settings.facts.max_ttl_days:
            raise InvalidInputError(
                f"ttl_days must be more than 0 and at most {self.settings.facts.max_ttl_days:g}; "
                "omit it for a fact that never expires."
            )
        return content, category, tags, importance

    async def _remember_one(
        self,
        conn: aiosqlite.Connection,
        user_id: str,
        new: NewFact,
        content: str,
        category: str | None,
        tags: list[str],
        importance: float,
        vector: Sequence[float],
        now: float,
        live: FactFilter,
    ) -> RememberResult:
        expires_at = now + new.ttl_days * SECONDS_PER_DAY if new.ttl_days is not None else None
        if new.supersedes is not None:
            await self._require_supersedable(conn, user_id, new.supersedes, now)
        if new.source_session is not None:  # provenance: only a live session of this user
            await require_live_session(conn, user_id, check_session_id(new.source_session), now)
        duplicate_id = await self.find_duplicate(conn, user_id, content, vector, live, exclude=new.supersedes)
        status: Literal["created", "duplicate"]
        if duplicate_id is not None:
            existing = (await rows.get_facts(conn, user_id, [duplicate_id]))[duplicate_id]
            await rows.merge_into(
                conn, existing, importance=importance, category=category, tags=tags, expires_at=expires_at, now=now
            )
            fact_id, status = duplicate_id, "duplicate"
        else:
            fact_id = await rows.insert_fact(
                conn,
                user_id=user_id,
                content=content,
                key=text.content_key(content),
                category=category,
                tags=tags,
                importance=importance,
                now=now,
                expires_at=expires_at,
                supersedes=new.supersedes,
                source_session=new.source_session,
                vector=vector,
            )
            status = "created"
        if new.supersedes is not None:
            await rows.mark_superseded(conn, new.supersedes, fact_id, now)
        await audit.fact_remembered(
            conn, now, user_id, fact_id, status, content, supersedes=new.supersedes, session_id=new.source_session
        )
        stored = (await rows.get_facts(conn, user_id, [fact_id]))[fact_id]
        return RememberResult(status=status, fact_id=fact_id, superseded_id=new.supersedes, fact=to_model(stored))

    async def _require_supersedable(self, conn: aiosqlite.Connection, user_id: str, fact_id: int, now: float) -> None:
        found = await rows.get_facts(conn, user_id, [fact_id])
        old = found.get(fact_id)
        if old is None or (old.expires_at is not None and old.expires_at <= now):
            raise NotFoundError(f"supersedes: no fact with id {fact_id}. Use search_facts to find the fact to replace.")
        if old.superseded_by is not None:
            raise InvalidInputError(
                f"supersedes: fact {fact_id} was already replaced by fact {old.superseded_by}. "
                f"Supersede {old.superseded_by} instead."
            )

    async def find_duplicate(
        self,
        conn: aiosqlite.Connection,
        user_id: str,
        content: str,
        vector: Sequence[float],
        live: FactFilter,
        exclude: int | None = None,
    ) -> int | None:
        """The visible fact a new one merges into: the same statement (up to case, spacing and
        closing punctuation), else one close in meaning that repeats its numbers and names.
        Shared by remember and import, so both de-duplicate alike."""
        duplicate_id = await rows.find_by_key(conn, user_id, text.content_key(content), live, exclude=exclude)
        if duplicate_id is None:
            duplicate_id = await self._near_duplicate(conn, user_id, content, vector, live, exclude=exclude)
        return duplicate_id

    def checked(self, content: str, category: str | None, tags: Sequence[str]) -> tuple[str, str | None, list[str]]:
        """Content, category and tags as remember (and import) stores them: valid text, through the
        privacy policy (secrets refused before anything is lower-cased), trimmed and within the limits."""
        content = text.check_text(content, field="content", max_bytes=self.settings.facts.max_content_bytes).strip()
        self._check_tag_count(tags)
        labels = {"category": category, **{f"tags[{i}]": tag for i, tag in enumerate(tags)}}
        checked = self.privacy.check(privacy.Write("facts", text={"content": content}, names=labels)).value
        category = self._check_category(checked["category"])
        return checked["content"], category, self._check_tags([checked[f"tags[{i}]"] for i in range(len(tags))])

    async def _near_duplicate(
        self,
        conn: aiosqlite.Connection,
        user_id: str,
        content: str,
        vector: Sequence[float],
        live: FactFilter,
        exclude: int | None,
    ) -> int | None:
        neighbours = await rows.nearest(conn, user_id, vector, k=8, index=self.db.vectors)
        close = [
            (fact_id, similarity)
            for fact_id, similarity in neighbours
            if similarity >= self.settings.facts.duplicate_similarity and fact_id != exclude
        ]
        if not close:
            return None
        found = await rows.get_facts(conn, user_id, [fact_id for fact_id, _ in close], live)
        wanted = text.details(content)
        visible = {fact_id for fact_id, row in found.items() if text.details(row.content) == wanted}
        return next((fact_id for fact_id, _ in close if fact_id in visible), None)

    def _check_category(self, category: str | None) -> str | None:
        if category is None or not category.strip():
            return None
        limit = self.settings.facts.max_category_chars
        category = text.check_text(category, field="category").strip().lower()
        if len(category) > limit:
            raise InvalidInputError(
                f"category is longer than {limit} characters. Use a short word such as 'preference'."
            )
        return category

    def _check_tag_count(self, tags: Sequence[str]) -> None:
        if len(tags) > self.settings.facts.max_tags:
            raise InvalidInputError(
                f"{len(tags)} tags given; the limit is {self.settings.facts.max_tags}. Keep the few that matter."
            )

    def _check_tags(self, tags: Sequence[str]) -> list[str]:
        limits = self.settings.facts
        self._check_tag_count(tags)
        cleaned: list[str] = []
        for index, tag in enumerate(tags):
            tag = text.check_text(tag, field=f"tags[{index}]").strip().lower()
            if len(tag) > limits.max_tag_chars:  # never quoted: it may be a secret no pattern knows
                raise InvalidInputError(
                    f"tags[{index}] is {len(tag)} characters; the limit is {limits.max_tag_chars}. Use a short word."
                )
            if tag not in cleaned:
                cleaned.append(tag)
        return cleaned

    # -- search --------------------------------------------------------------------------

    async def search(self, user_id: str, request: SearchRequest) -> SearchResult:
        if not 1 <= request.limit <= self.settings.facts.max_results:
            raise InvalidInputError(f"limit must be between 1 and {self.settings.facts.max_results}.")
        ranked = await self.rank(user_id, request)
        hits = ranked[: request.limit]
        self.record_served(user_id, [hit.row.id for hit in hits], via="search_facts", session_id=None)
        return SearchResult(
            hits=[
                SearchHit(
                    fact=to_model(hit.row),
                    score=round(hit.score, 4),
                    why=hit.parts,
                    flags=poisoning.flags(hit.row.content),
                )
                for hit in hits
            ]
        )

    async def rank(self, user_id: str, request: SearchRequest) -> list[RankedFact]:
        """Hybrid retrieval: nearest neighbours by meaning and BM25 keyword matches, scored by
        relevance (see `ranking`) blended with importance, recency and use. Every candidate,
        best first."""
        text.check_text(
            request.query,
            field="query",
            max_bytes=self.settings.facts.max_query_bytes,
            send="words, names or numbers to look for",
            shorter="Send a few words, names or numbers to look for, not a whole text.",
        )
        terms = text.query_terms(request.query)
        match = text.fts_query(terms)
        if match is None:
            raise InvalidInputError("query has no words to search for. Send words, names or numbers.")
        where = FactFilter(
            now=self.now,
            include_superseded=request.include_superseded,
            category=self._check_category(request.category),
            tags=tuple(self._check_tags(request.tags)),
            min_importance=request.min_importance,
        )
        settings = self.settings.ranking
        filtered = where.category is not None or where.tags or where.min_importance is not None
        depth = settings.candidates * (4 if filtered or where.include_superseded else 1)
        # The model encodes the query in its own thread while the keyword half runs.
        embedding = asyncio.ensure_future(self.embedder.embed([request.query]))
        try:
            async with self.db.read() as conn:
                by_words = await rows.keyword_matches(conn, user_id, match, where, settings.candidates)
                documents, containing = await rows.term_documents(conn, user_id, terms)
            [vector] = await embedding
        finally:
            embedding.cancel()
        # One brute-force pass ranks every fact, so a wide k costs what a narrow one does and
        # gives the similarity of most keyword matches too, without reading their vectors.
        wide = max(depth, WIDE_NEIGHBOURS)
        async with self.db.read() as conn:
            neighbours = await rows.nearest(conn, user_id, vector, wide, index=self.db.vectors)
            wanted = dict.fromkeys([*(i for i, _ in by_words), *(i for i, _ in neighbours[:depth])])
            found = await rows.get_facts(conn, user_id, wanted, where)
        by_words = [(i, score) for i, score in by_words if i in found]  # gone since the keyword read
        by_meaning = [(i, sim) for i, sim in neighbours[:depth] if i in found][: settings.candidates]
        similarity = dict(neighbours)
        # A keyword match outside the scan's list is at most as close as its last entry.
        beyond = neighbours[-1][1] if len(neighbours) >= wide else 0.0
        meaning = {fact_id: similarity.get(fact_id, beyond) for fact_id, _ in by_words} | dict(by_meaning)
        term_idfs = [ranking.idf(documents, len(ids)) for ids in containing]
        candidates = _candidates(by_meaning, by_words, meaning, term_idfs, containing)
        now = self.now
        ranked = [self._score(found[c.fact_id], c, now) for c in candidates if c.fact_id in found]
        ranked.sort(key=lambda item: (-item.score, -item.row.id))
        return ranked

    def record_served(
        self, user_id: str, ids: Sequence[int], *, via: str, session_id: str | None, count_use: bool = True
    ) -> None:
        """Audit facts handed to a caller (and, with `count_use`, count their use) with the next
        write (see `Database.defer`): answering a read makes no durable write of its own."""
        if not ids:
            return
        served, now = list(ids), self.now

        async def write(conn: aiosqlite.Connection) -> None:
            if count_use:
                await rows.touch(conn, user_id, served, now)
            await audit.facts_served(conn, now, user_id, served, via=via, session_id=session_id)

        self.db.defer(write)

    def _score(self, row: FactRow, candidate: ranking.Candidate, now: float) -> RankedFact:
        settings = self.settings.ranking
        relevance = ranking.relevance(candidate, settings)
        # Rounded as the explanation shows them, so that its parts add up to the score.
        recency = round(ranking.recency(now, row.last_accessed_at or row.updated_at, settings.half_life_days), 4)
        use = round(ranking.use(row.access_count), 4)
        score = ranking.blend(
            relevance=relevance, importance=row.importance, recency=recency, use=use, ranking=settings
        )
        return RankedFact(row=row, score=score, candidate=candidate, relevance=relevance, recency=recency, use=use)

    def score_without_query(self, row: FactRow, now: float) -> RankedFact:
        return self._score(row, ranking.Candidate(fact_id=row.id), now)

    async def warm(self, user_id: str) -> None:
        """Load the user's vectors into memory now (a server, just after it opens), so that the
        first search does not wait for it."""
        if self.db.vectors is not None:
            async with self.db.read() as conn:
                await self.db.vectors.warm(conn, user_id)

    # -- reading -------------------------------------------------------------------------

    async def get(self, user_id: str, fact_id: int) -> Fact:
        async with self.db.read() as conn:
            found = await rows.get_facts(conn, user_id, [fact_id])
        row = found.get(fact_id)
        if row is None or (row.expires_at is not None and row.expires_at <= self.now):
            raise _no_such_fact(fact_id)
        return to_model(row)

    async def live_rows(self, user_id: str, *, limit: int, include_superseded: bool = False) -> list[FactRow]:
        async with self.db.read() as conn:
            return await rows.list_facts(
                conn, user_id, FactFilter(now=self.now, include_superseded=include_superseded), limit=limit
            )

    async def list_facts(
        self,
        user_id: str,
        *,
        limit: int = 50,
        offset: int = 0,
        category: str | None = None,
        include_superseded: bool = False,
    ) -> list[Fact]:
        where = FactFilter(now=self.now, include_superseded=include_superseded, category=self._check_category(category))
        async with self.db.read() as conn:
            return [to_model(row) for row in await rows.list_facts(conn, user_id, where, limit=limit, offset=offset)]

    async def count(self, user_id: str) -> int:
        async with self.db.read() as conn:
            return await rows.count_facts(conn, user_id, FactFilter(now=self.now))

    # -- forget --------------------------------------------------------------------------

    async def forget(
        self,
        user_id: str,
        *,
        fact_id: int | None = None,
        query: str | None = None,
        session_id: str | None = None,
        dry_run: bool = False,
    ) -> ForgetResult:
        """Erase one fact (with its older versions), the facts a query means, or the facts
        consolidated from one session (see `consolidation`)."""
        if [fact_id, query, session_id].count(None) != 2:
            raise InvalidInputError(
                "Give one of fact_id, query (with dry_run=true to preview) or session_id (the facts consolidated "
                "from that session), not several or none."
            )
        if query is not None and not query.strip():
            raise InvalidInputError(
                "query is empty. Send words that describe the facts to erase (preview with dry_run=true), "
                "or the fact_id of one fact."
            )
        if fact_id is not None:
            async with self.db.read() as conn:
                if not await rows.get_facts(conn, user_id, [fact_id]):
                    raise _no_such_fact(fact_id)
                ids = await rows.history_of(conn, user_id, fact_id)
        elif session_id is not None:
            async with self.db.read() as conn:
                ids = await rows.from_session(
                    conn, user_id, check_session_id(session_id), self.settings.summaries.fact_category
                )
        else:
            assert query is not None
            ids = await self._matching(user_id, query)
        if dry_run:
            async with self.db.read() as conn:
                found = await rows.get_facts(conn, user_id, ids)
        else:
            # Read and erase in one transaction: only facts that are this user's right now go.
            async with self.db.write() as conn:
                found = await rows.get_facts(conn, user_id, ids)
                if found:
                    erased = [i for i in ids if i in found]
                    await rows.erase(conn, erased)
                    await audit.record(
                        conn, self.now, user_id, audit.FACT_FORGOTTEN, erased, session_id=session_id, count=len(erased)
                    )
            if found:
                log.info("forgot %d facts for user %s", len(found), user_id)
        doomed = [found[i] for i in ids if i in found]
        return ForgetResult(dry_run=dry_run, deleted=[row.id for row in doomed], facts=[to_model(r) for r in doomed])

    async def _matching(self, user_id: str, query: str) -> list[int]:
        """Facts a forget-by-query means: close in meaning, or containing every query word."""
        wanted = set(text.query_terms(query))
        threshold = self.settings.facts.forget_query_similarity
        ranked = await self.rank(user_id, SearchRequest(query=query, include_superseded=True))
        chosen = [
            item.row.id
            for item in ranked
            if (item.parts.similarity or 0.0) >= threshold or (wanted and wanted <= set(text.words(item.row.content)))
        ]
        return chosen[: self.settings.facts.max_results]

    # -- lifetime ------------------------------------------------------------------------

    async def sweep_expired(self) -> int:
        """Delete every expired fact of every user; returns how many."""
        async with self.db.write() as conn:
            ids = await rows.expired_ids(conn, self.now)
            await audit.facts_expired(conn, self.now, ids)
            await rows.erase(conn, ids)
            await vector_log.prune(conn)
        if ids:
            log.info("swept %d expired facts", len(ids))
        return len(ids)


def _candidates(
    by_meaning: list[tuple[int, float]],
    by_words: list[tuple[int, float]],
    similarity: dict[int, float],
    term_idfs: list[float],
    containing: list[set[int]],
) -> list[ranking.Candidate]:
    vector_ranks = {fact_id: rank for rank, (fact_id, _) in enumerate(by_meaning, start=1)}
    keyword_ranks = {fact_id: rank for rank, (fact_id, _) in enumerate(by_words, start=1)}
    return [
        ranking.Candidate(
            fact_id=fact_id,
            similarity=similarity.get(fact_id, 0.0),
            vector_rank=vector_ranks.get(fact_id),
            keyword_rank=keyword_ranks.get(fact_id),
            keyword_coverage=ranking.keyword_coverage([fact_id in ids for ids in containing], term_idfs),
        )
        for fact_id in dict.fromkeys([*vector_ranks, *keyword_ranks])
    ]


def _check_unit(value: float, field: str) -> float:
    if not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{field} must be between 0 and 1 (0.5 is ordinary, 0.9 is essential); got {value}.")
    return float(value)


def _no_such_fact(fact_id: int) -> NotFoundError:
    return NotFoundError(f"No fact with id {fact_id}. Use search_facts to find the right id.")
