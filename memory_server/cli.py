"""The command line: `memory-server` serves MCP over stdio; the other commands manage the store.

Every command loads settings once (file < env < flags) and calls the same domain code as the
MCP tools. Errors of this package become one readable line and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from memory_server import __version__
from memory_server.config import Settings, load_settings
from memory_server.errors import MemoryServerError

T = TypeVar("T")


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.obj.get("settings")
    if settings is None:
        flags = ctx.obj["flags"]
        settings = load_settings(
            config_file=flags["config"],
            overrides={"store.path": flags["db"], "user": flags["user"], "home": flags["home"], "log_level": flags["log_level"]},
        )
        ctx.obj["settings"] = settings
    return settings


def _configure_logging(level: str) -> None:
    # Before MCPServer configures logging: plain lines on stderr, never stdout.
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _run(ctx: click.Context, work: Callable[[Any], Awaitable[T]], *, needs_model: bool = False) -> T:
    from memory_server.app import open_memory

    settings = _settings(ctx)
    _configure_logging("WARNING" if settings.log_level == "INFO" else settings.log_level)

    async def main() -> T:
        async with open_memory(settings, preload_model=needs_model) as memory:
            return await work(memory)

    return asyncio.run(main())


class _Group(click.Group):
    """Turns our errors into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MemoryServerError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=_Group, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(path_type=Path), help="Config file (TOML). Default: <config dir>/config.toml")
@click.option("--db", type=click.Path(path_type=Path), help="Database file (overrides config and env).")
@click.option("--home", type=click.Path(path_type=Path), help="One folder for the database and key file.")
@click.option("--user", help="The user this server remembers for (default: your OS user name).")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), help="Log level (stderr).")
@click.version_option(__version__, prog_name="memory-server")
@click.pass_context
def main(ctx: click.Context, **flags: Any) -> None:
    """Local, encrypted memory for AI agents, over MCP.

    With no command, serves MCP over stdio (what an MCP host runs).

    Example:

        memory-server --home ~/memory doctor
    """
    ctx.ensure_object(dict)
    ctx.obj["flags"] = flags
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve)


@main.command()
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Serve MCP over stdio (the default command).

    Example:

        memory-server serve --user alice
    """
    settings = _settings(ctx)
    _configure_logging(settings.log_level)
    from memory_server.server import build_server

    build_server(settings).run()


@main.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check config, key, database, extensions and the model; exit 1 on a problem.

    Example:

        memory-server doctor
    """
    from memory_server.doctor import run_checks

    problems = run_checks(ctx.obj["flags"], echo=click.echo)
    if problems:
        raise SystemExit(1)


@main.command()
@click.pass_context
def sweep(ctx: click.Context) -> None:
    """Delete expired facts now (the server also does this at start and periodically).

    Example:

        memory-server sweep
    """

    async def work(memory: Any) -> dict[str, int]:
        return await memory.sweep()

    click.echo(json.dumps(_run(ctx, work)))


# -- facts ---------------------------------------------------------------------------------


@main.group()
def facts() -> None:
    """Add, search, list and forget long-term facts.

    Example:

        memory-server facts add "Prefers metric units" --importance 0.8
    """


@facts.command("add")
@click.argument("content")
@click.option("--importance", type=float, default=0.5, show_default=True)
@click.option("--category")
@click.option("--tag", "tags", multiple=True, help="Repeat for several tags.")
@click.option("--ttl-days", type=float)
@click.option("--supersedes", type=int, help="Id of the fact this one replaces.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def facts_add(ctx: click.Context, content: str, as_json: bool, **options: Any) -> None:
    """Remember a fact.

    Example:

        memory-server facts add "Works at Acme as a data engineer" --category profile
    """
    from memory_server.memory.facts import NewFact

    async def work(memory: Any) -> Any:
        return await memory.facts.remember(memory.user_id, NewFact(content=content, **options))

    result = _run(ctx, work, needs_model=True)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
    else:
        click.echo(f"{result.status}: fact {result.fact_id}" + (f" (replaces {result.superseded_id})" if result.superseded_id else ""))


@facts.command("search")
@click.argument("query")
@click.option("--limit", type=int, default=10, show_default=True)
@click.option("--category")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def facts_search(ctx: click.Context, query: str, limit: int, category: str | None, as_json: bool) -> None:
    """Search facts by meaning and keywords.

    Example:

        memory-server facts search "what does the user drink" --limit 5
    """
    from memory_server.memory.facts import SearchRequest

    async def work(memory: Any) -> Any:
        return await memory.facts.search(memory.user_id, SearchRequest(query=query, limit=limit, category=category))

    result = _run(ctx, work, needs_model=True)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
        return
    from memory_server.console import fact_table

    fact_table(
        [hit.fact for hit in result.hits],
        extra={"score": [f"{hit.score:.3f}" for hit in result.hits]},
        title=f"Facts matching {query!r}",
    )


@facts.command("list")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--offset", type=int, default=0)
@click.option("--category")
@click.option("--all", "include_superseded", is_flag=True, help="Include superseded facts.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def facts_list(ctx: click.Context, as_json: bool, **options: Any) -> None:
    """List facts, most important first.

    Example:

        memory-server facts list --category preference
    """

    async def work(memory: Any) -> Any:
        return await memory.facts.list(memory.user_id, **options)

    found = _run(ctx, work)
    if as_json:
        click.echo(json.dumps([fact.model_dump() for fact in found], indent=2))
        return
    from memory_server.console import fact_table

    fact_table(found, title="Facts")


@facts.command("forget")
@click.argument("fact_id", type=int, required=False)
@click.option("--query", help="Forget facts matching this query instead of one id.")
@click.option("--dry-run", is_flag=True, help="Show what would be erased; erase nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def facts_forget(ctx: click.Context, fact_id: int | None, query: str | None, dry_run: bool, as_json: bool) -> None:
    """Erase a fact (by id) or the facts matching a query, permanently.

    Example:

        memory-server facts forget --query "old address" --dry-run
    """

    async def work(memory: Any) -> Any:
        return await memory.facts.forget(memory.user_id, fact_id=fact_id, query=query, dry_run=dry_run)

    result = _run(ctx, work, needs_model=query is not None)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
        return
    verb = "would erase" if dry_run else "erased"
    click.echo(f"{verb} {len(result.deleted)} fact(s): {', '.join(map(str, result.deleted)) or '-'}")
