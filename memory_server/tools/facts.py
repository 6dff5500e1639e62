"""Tools for long-term facts: remember_fact, search_facts, get_user_context, forget_fact."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from memory_server.memory.facts import NewFact, SearchRequest
from memory_server.memory.models import ForgetResult, RememberResult, SearchResult, UserContext
from memory_server.tools import errors_for_the_model, memory_of
from memory_server.tools.users import UserId, acting_user, tool_registrar

Text = Annotated[str, Field(min_length=1)]
FactId = Annotated[int, Field(ge=1, description="A fact id from an earlier answer")]


def register(server: MCPServer, *, multi_user: bool = False) -> None:
    tool = tool_registrar(server, multi_user=multi_user)

    @tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False))
    async def remember_fact(
        content: Annotated[str, Field(description="One self-contained statement about the user")],
        ctx: Context,
        importance: Annotated[float, Field(ge=0, le=1, description="0.5 ordinary, 0.9 essential")] = 0.5,
        category: Annotated[str | None, Field(description="e.g. preference, profile, project")] = None,
        tags: list[str] | None = None,
        ttl_days: Annotated[float | None, Field(gt=0, description="Forget after this many days")] = None,
        supersedes: Annotated[int | None, Field(ge=1, description="Id of an older fact this replaces")] = None,
        session_id: Annotated[str | None, Field(max_length=128, description="The session it was said in")] = None,
        user_id: UserId | None = None,
    ) -> RememberResult:
        """Store a durable fact about the user. Restating a known fact refreshes it instead of
        duplicating it; use supersedes when a fact changed."""
        memory = await memory_of(ctx)
        user = acting_user(ctx, user_id)
        with errors_for_the_model():
            return await memory.facts.remember(
                user,
                NewFact(
                    content=content,
                    importance=importance,
                    category=category,
                    tags=tags or [],
                    ttl_days=ttl_days,
                    supersedes=supersedes,
                    source_session=session_id,
                ),
            )

    @tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    async def search_facts(
        query: Text,
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=50)] = 10,
        category: str | None = None,
        tags: Annotated[list[str] | None, Field(description="Only facts with all these tags")] = None,
        min_importance: Annotated[float | None, Field(ge=0, le=1)] = None,
        include_superseded: bool = False,
        user_id: UserId | None = None,
    ) -> SearchResult:
        """Find remembered facts by meaning and keywords, best first; each hit explains its score."""
        memory = await memory_of(ctx)
        user = acting_user(ctx, user_id)
        with errors_for_the_model():
            return await memory.facts.search(
                user,
                SearchRequest(
                    query=query,
                    limit=limit,
                    category=category,
                    tags=tags or [],
                    min_importance=min_importance,
                    include_superseded=include_superseded,
                ),
            )

    @tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    async def get_user_context(
        ctx: Context,
        query: Annotated[str | None, Field(description="The topic at hand, to favour related facts")] = None,
        max_tokens: Annotated[int, Field(ge=50, le=8000)] = 800,
        session_id: Annotated[
            str | None, Field(max_length=100, description="A session whose summary should join the context")
        ] = None,
        user_id: UserId | None = None,
    ) -> UserContext:
        """Call at the start of a chat: the user's most important facts, packed within max_tokens."""
        memory = await memory_of(ctx)
        user = acting_user(ctx, user_id)
        with errors_for_the_model():
            return await memory.context.build(user, query=query, max_tokens=max_tokens, session_id=session_id)

    @tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False))
    async def forget_fact(
        ctx: Context,
        fact_id: FactId | None = None,
        query: Annotated[str | None, Field(description="Erase facts matching this; preview with dry_run")] = None,
        session_id: Annotated[
            str | None, Field(max_length=128, description="Erase the facts consolidated from this session")
        ] = None,
        dry_run: bool = False,
        user_id: UserId | None = None,
    ) -> ForgetResult:
        """Erase a fact (and the older versions it replaced) permanently, by id or by query."""
        memory = await memory_of(ctx)
        user = acting_user(ctx, user_id)
        with errors_for_the_model():
            return await memory.facts.forget(user, fact_id=fact_id, query=query, session_id=session_id, dry_run=dry_run)
