"""The command line: `memory-server` serves MCP over stdio; the other commands manage the store.

Every command loads settings once (file < env < flags) and calls the same domain code as the
MCP tools. Errors of this package become one readable line and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import BaseModel

from memory_server import __version__
from memory_server.config import Settings, load_settings
from memory_server.errors import MemoryServerError

T = TypeVar("T")


def _settings(ctx: click.Context) -> Settings:
    settings: Settings | None = ctx.obj.get("settings")
    if settings is None:
        flags = ctx.obj["flags"]
        settings = load_settings(
            config_file=flags["config"],
            overrides={
                "store.path": flags["db"],
                "user": flags["user"],
                "home": flags["home"],
                "log_level": flags["log_level"],
            },
        )
        ctx.obj["settings"] = settings
    return settings


def _configure_logging(level: str) -> None:
    # Before MCPServer configures logging: plain lines on stderr, never stdout.
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _run(
    ctx: click.Context,
    work: Callable[[Any], Awaitable[T]],
    *,
    needs_model: bool = False,
    check_model: bool = True,
    batch: bool = False,
) -> T:
    """Open the memory, run `work` on it, close it. `batch`: the command encodes many texts,
    so the encoder gets `embeddings.batch_threads` (a server keeps to `embeddings.threads`)."""
    from memory_server.app import open_memory

    settings = _settings(ctx)
    _configure_logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
    threads = (settings.embeddings.batch_threads or os.cpu_count() or 1) if batch else None

    async def main() -> T:
        async with open_memory(
            settings, preload_model=needs_model, check_model=check_model, encoder_threads=threads, keep_vectors=batch
        ) as memory:
            return await work(memory)

    return asyncio.run(main())


def _echo_json(models: Sequence[BaseModel]) -> None:
    """A list of answers as a JSON array on stdout, for scripts."""
    click.echo(json.dumps([model.model_dump() for model in models], indent=2))


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
def main(ctx: click.Context, /, **flags: Any) -> None:
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
@click.option(
    "--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True, help="How hosts connect."
)
@click.option("--host", help="HTTP only: loopback address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="HTTP only: port (default 8765).")
@click.pass_context
def serve(ctx: click.Context, transport: str, host: str | None, port: int | None) -> None:
    """Serve MCP over stdio (the default command), or over streamable HTTP on loopback.

    HTTP requires a bearer token: made on first use, stored owner-only in <config dir>/http.token
    (or <home>/http.token), printed once to stderr.

    Example:

        memory-server --user alice serve

        memory-server serve --transport http --port 8765
    """
    settings = _settings(ctx)
    _configure_logging(settings.log_level)
    if transport == "stdio" and (host is not None or port is not None):
        raise click.UsageError("--host and --port apply to --transport http only.")
    server = _built_without_gc_pauses(settings)
    if transport == "stdio":
        from memory_server.stdio import serve_stdio

        asyncio.run(serve_stdio(server))
        return
    from memory_server.http import MCP_PATH, load_or_create_token, require_loopback, serve_http, token_path

    bind = require_loopback(host or settings.http.host)
    port = port or settings.http.port
    path = token_path(settings)
    token, created = load_or_create_token(path)
    if created:
        click.echo(f"memory-server: new HTTP bearer token, stored in {path} (shown only this once):\n{token}", err=True)
    url_host = f"[{bind}]" if ":" in bind else bind
    click.echo(
        f"memory-server: MCP at http://{url_host}:{port}{MCP_PATH}; send 'Authorization: Bearer <token in {path}>'",
        err=True,
    )
    asyncio.run(serve_http(server, host=bind, port=port, token=token, log_level=settings.log_level))


def _built_without_gc_pauses(settings: Settings) -> Any:
    """Import the SDK and build the server with the cyclic GC off, then freeze what was built.

    Start-up creates tens of thousands of long-lived objects (pydantic schemas of the protocol
    and of our tools); the GC would re-scan them again and again, a tenth of the time to the
    MCP handshake. They live as long as the process, so they are frozen out of later scans.
    """
    gc.disable()
    try:
        from memory_server.server import build_server

        return build_server(settings)
    finally:
        gc.freeze()
        gc.enable()


@main.command()
@click.option("--torch", "check_torch", is_flag=True, help="Also check the torch backend (slow: imports torch).")
@click.pass_context
def doctor(ctx: click.Context, check_torch: bool) -> None:
    """Check config, key, database, extensions, the model's graph and the model; exit 1 on a problem.

    Example:

        memory-server doctor --torch
    """
    from memory_server.doctor import run_checks

    problems = run_checks(ctx.obj["flags"], echo=click.echo, torch=check_torch)
    if problems:
        raise SystemExit(1)


@main.group()
def model() -> None:
    """The embedding model: prepare its ONNX graph (set-up does this once).

    Example:

        memory-server model prepare
    """


@model.command("prepare")
@click.option("--model", "model_id", help="Model name or sentence-transformers folder (default: embeddings.model).")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Cache folder (default: embeddings.cache_dir).")
@click.option("--dimension", type=int, help="Expected vector size (default: embeddings.dimension).")
@click.option("--force", is_flag=True, help="Make the graph again even if a verified one exists.")
@click.pass_context
def model_prepare(
    ctx: click.Context, model_id: str | None, cache_dir: Path | None, dimension: int | None, force: bool
) -> None:
    """Export the model to ONNX once, verify it against sentence-transformers, and say where it
    is (on stderr: scripts/serve runs set-up, and its stdout is the protocol). Idempotent;
    several processes at once make one graph.

    Example:

        memory-server model prepare --force
    """
    from memory_server.embeddings import graph

    settings = _settings(ctx)
    _configure_logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
    changes = {"model": model_id, "cache_dir": cache_dir, "dimension": dimension}
    embeddings = settings.embeddings.model_copy(update={k: v for k, v in changes.items() if v is not None})
    prepared, made = graph.prepare(embeddings, force=force)
    manifest = prepared.manifest
    click.echo(
        f"{'made' if made else 'ready'}: ONNX graph of {manifest.model_id} at {prepared.graph} "
        f"(verified on {manifest.verified_sentences} sentences, min cosine {manifest.min_cosine:.6f})",
        err=True,
    )


@main.command()
@click.pass_context
def sweep(ctx: click.Context) -> None:
    """Delete expired facts now (the server also does this at start and periodically).

    Example:

        memory-server sweep
    """

    async def work(memory: Any) -> dict[str, int]:
        swept: dict[str, int] = await memory.sweep()
        return swept

    click.echo(json.dumps(_run(ctx, work)))


@main.command()
@click.argument("host", required=False, type=click.Choice(["claude-desktop"]))
@click.option(
    "--print",
    "print_host",
    type=click.Choice(["claude-desktop", "claude-code", "cursor", "vscode"]),
    help="Print the config snippet (or command) for this host; change nothing.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Claude Desktop's config file (default: where Claude Desktop keeps it on this platform).",
)
@click.option("--name", default="memory", show_default=True, help="The server's name in the host's config.")
@click.option("--env", "env_pairs", multiple=True, metavar="NAME=VALUE", help="Extra server environment; repeat.")
@click.option("--dry-run", is_flag=True, help="Print the resulting config file; write nothing.")
@click.pass_context
def install(
    ctx: click.Context,
    host: str | None,
    print_host: str | None,
    config_path: Path | None,
    name: str,
    env_pairs: tuple[str, ...],
    dry_run: bool,
) -> None:
    """Add memory-server to an MCP host: merge it into Claude Desktop's config, or print the
    snippet for Claude Code, Cursor or VS Code.

    The entry runs this installation's memory-server by absolute path, with the environment it
    needs (offline model; --home, --db, --user, --config and MEMORY_SERVER_* of this shell).
    The old config file is backed up next to it; other servers are left as they were.

    Example:

        memory-server --home ~/memory install claude-desktop --dry-run

        memory-server install --print claude-code
    """
    import os

    from memory_server import install as setup

    if (host is None) == (print_host is None):
        raise click.UsageError("Give a host to set up (claude-desktop) or --print HOST, not both and not neither.")
    extra = setup.parse_env_pairs(env_pairs)
    env = setup.server_environment(flags=ctx.obj["flags"], environ=os.environ, extra=extra)
    if os.environ.get(setup.PASSPHRASE_ENV) and setup.PASSPHRASE_ENV not in extra:
        click.echo(
            f"note: {setup.PASSPHRASE_ENV} is not written into the host's config (it is a secret); "
            f"pass --env {setup.PASSPHRASE_ENV}=... to do so anyway.",
            err=True,
        )
    launch = setup.build_launch(setup.find_server_command(), env)
    if print_host is not None:
        click.echo(setup.where_to_paste(print_host) + ":", err=True)
        click.echo(setup.snippet(print_host, name, launch))
        return

    path = (config_path or setup.claude_desktop_config_path()).expanduser().absolute()
    merged, status = setup.merge_entry(setup.read_config(path), name, launch.entry())
    if dry_run:
        click.echo(f"{status} {name!r} in {path} (dry run; nothing written):", err=True)
        click.echo(json.dumps(merged, indent=2, ensure_ascii=False))
        return
    if status == "unchanged":
        click.echo(f"{name!r} in {path} is already up to date; nothing written.")
        return
    backup = setup.write_config(path, merged)
    click.echo(f"{status} {name!r} in {path}" + (f" (backup: {backup})" if backup else ""))
    click.echo("Quit Claude Desktop completely and start it again to load it.")


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
def facts_add(ctx: click.Context, /, content: str, as_json: bool, **options: Any) -> None:
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
        click.echo(
            f"{result.status}: fact {result.fact_id}"
            + (f" (replaces {result.superseded_id})" if result.superseded_id else "")
        )


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
def facts_list(ctx: click.Context, /, as_json: bool, **options: Any) -> None:
    """List facts, most important first.

    Example:

        memory-server facts list --category preference
    """

    async def work(memory: Any) -> Any:
        return await memory.facts.list_facts(memory.user_id, **options)

    found = _run(ctx, work)
    if as_json:
        _echo_json(found)
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


# -- threads (checkpoints) -----------------------------------------------------------------


@main.group()
def threads() -> None:
    """List threads and show their checkpoints (what save_checkpoint stored).

    Example:

        memory-server threads show review-123
    """


@threads.command("list")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def threads_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """List threads with checkpoints, most recently saved first.

    Example:

        memory-server threads list
    """

    async def work(memory: Any) -> Any:
        return await memory.checkpoints.threads(memory.user_id, limit=limit)

    found = _run(ctx, work)
    if as_json:
        _echo_json(found)
        return
    from memory_server.console import rows_table, when

    rows_table(
        "Threads",
        ["thread", "step", "latest id", "saved", "checkpoints", "expires"],
        [
            (
                t.thread_id,
                t.latest_step,
                t.latest_checkpoint_id,
                when(t.last_saved_at),
                t.checkpoints,
                t.expires_at[:10],
            )
            for t in found
        ],
    )


@threads.command("show")
@click.argument("thread_id")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--state", "with_state", is_flag=True, help="Also print the latest state (hash verified).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def threads_show(ctx: click.Context, thread_id: str, limit: int, with_state: bool, as_json: bool) -> None:
    """Show a thread's checkpoints, newest first; with --state, the latest state too.

    Example:

        memory-server threads show review-123 --state
    """

    async def work(memory: Any) -> Any:
        history = await memory.checkpoints.history(memory.user_id, thread_id, limit=limit)
        latest = await memory.checkpoints.restore(memory.user_id, thread_id) if with_state else None
        return history, latest

    history, latest = _run(ctx, work)
    if as_json:
        data = history.model_dump()
        if latest is not None:
            data["latest_state"] = latest.state
        click.echo(json.dumps(data, indent=2))
        return
    from memory_server.console import rows_table, when

    rows_table(
        f"Thread {history.thread_id}: {history.total} checkpoints, expires {when(history.expires_at)}",
        ["id", "step", "parent", "saved", "bytes", "hash", "label"],
        [
            (c.id, c.step, c.parent_id or "-", when(c.created_at), c.size_bytes, c.hash[:12], c.label)
            for c in history.checkpoints
        ],
        wide="label",
    )
    if latest is not None:
        click.echo(f"\nstate of checkpoint {latest.checkpoint_id}:")
        click.echo(json.dumps(latest.state, indent=2, ensure_ascii=False))


# -- sessions ------------------------------------------------------------------------------


@main.group()
def sessions() -> None:
    """List, show and expire conversation sessions.

    Example:

        memory-server sessions list
    """


@sessions.command("list")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def sessions_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """List live sessions, most recently active first.

    Example:

        memory-server sessions list --limit 10
    """

    async def work(memory: Any) -> Any:
        return await memory.sessions.list_sessions(memory.user_id, limit=limit)

    found = _run(ctx, work)
    if as_json:
        _echo_json(found)
        return
    from memory_server.console import rows_table, when

    rows_table(
        "Sessions",
        ["id", "active", "msgs", "tokens", "cost $", "expires", "agent"],
        [
            (
                s.id,
                when(s.last_active_at),
                s.totals.messages,
                s.totals.tokens,
                f"{s.totals.cost_usd:.4f}",
                s.expires_at[:10],
                s.agent_name,
            )
            for s in found
        ],
        wide="agent",
    )


@sessions.command("show")
@click.argument("session_id")
@click.option("--all", "show_all", is_flag=True, help="Every stored message, summarized ones included.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def sessions_show(ctx: click.Context, session_id: str, show_all: bool, as_json: bool) -> None:
    """Show a session: its summary and recent messages (or, with --all, every message).

    Example:

        memory-server sessions show ses_AbC... --all
    """

    async def work(memory: Any) -> Any:
        window = await memory.sessions.context(memory.user_id, session_id)
        history = await memory.sessions.history(memory.user_id, session_id) if show_all else None
        return window, history

    window, history = _run(ctx, work)
    if as_json:
        data = window.model_dump()
        if history is not None:
            data["history"] = [message.model_dump() for message in history]
        click.echo(json.dumps(data, indent=2))
        return
    totals = window.totals
    click.echo(
        f"session {window.session_id}: {totals.messages} messages, {totals.tokens} tokens, ${totals.cost_usd:.4f}"
    )
    if window.summary:
        click.echo(f"\nsummary ({window.summary.source}, through message {window.summary.covers_through_seq}):")
        click.echo(window.summary.content)
    from memory_server.console import rows_table, when

    shown = history if history is not None else [*window.system, *window.messages]
    rows_table(
        "Messages",
        ["seq", "role", "content", "at"],
        [(m.seq, m.role + (f" ({m.name})" if m.name else ""), m.content, when(m.created_at)) for m in shown],
        wide="content",
    )


@sessions.command("gc")
@click.pass_context
def sessions_gc(ctx: click.Context) -> None:
    """Erase sessions idle past their TTL, with their messages and summaries (the server also does this).

    Example:

        memory-server sessions gc
    """

    async def work(memory: Any) -> int:
        return int(await memory.sessions.sweep_expired())

    click.echo(f"erased {_run(ctx, work)} expired session(s)")


# -- audit ---------------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """Verify and list the hash-chained audit log (ids and hashes of changes and served facts).

    Example:

        memory-server audit verify
    """


@audit.command("verify")
@click.option(
    "--expect-head",
    metavar="HASH",
    help="A head hash printed earlier (by verify or `audit head`): fail unless it is still in the chain.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def audit_verify(ctx: click.Context, expect_head: str | None, as_json: bool) -> None:
    """Walk the whole audit chain; exit 1 if a row was edited, deleted or reordered.

    The chain alone cannot prove that its end was not cut by someone holding the key: keep
    the printed head hash elsewhere, and pass it later with --expect-head.

    Example:

        memory-server audit verify --expect-head 3f9a…
    """
    from memory_server.memory.audit import AuditReport, AuditService

    async def work(memory: Any) -> AuditReport:
        return await AuditService(memory.db).verify(expect_head=expect_head)

    report = _run(ctx, work)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    elif report.ok:
        anchored = ", including the head you kept" if expect_head else ""
        click.echo(f"ok: {report.rows} audit rows, chain intact{anchored} (head {report.head_id}: {report.head_hash})")
        click.echo("Keep the head hash elsewhere; `audit verify --expect-head HASH` later proves the log up to it.")
    else:
        click.echo(f"FAIL: {len(report.problems)} problem(s) in {report.rows} audit rows:")
        for problem in report.problems:
            click.echo(f"  {problem}")
    if not report.ok:
        raise SystemExit(1)


@audit.command("head")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def audit_head(ctx: click.Context, as_json: bool) -> None:
    """Print the hash of the last audit row, to keep outside this machine (no chain walk).

    Example:

        memory-server audit head >> ~/audit-heads.txt
    """
    from memory_server.memory.audit import AuditService

    async def work(memory: Any) -> Any:
        return await AuditService(memory.db).head()

    row = _run(ctx, work)
    if as_json:
        click.echo(json.dumps({"head_id": row.id if row else None, "head_hash": row.hash if row else None}))
    elif row is None:
        click.echo("(no audit rows)")
    else:
        click.echo(f"{row.hash}  (row {row.id})")


@audit.command("list")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--session", "session_id", help="Only rows about this session.")
@click.option("--all-users", is_flag=True, help="Rows of every user, not only --user.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def audit_list(ctx: click.Context, limit: int, session_id: str | None, all_users: bool, as_json: bool) -> None:
    """List the newest audit rows, newest first: --user's rows (without the chain's row ids and
    hashes, which would show other users' activity), or with --all-users every row with them.

    Example:

        memory-server audit list --limit 20 --json
    """
    from memory_server.memory.audit import AuditService, ChainEntry

    async def work(memory: Any) -> Any:
        user_id = None if all_users else memory.user_id
        return await AuditService(memory.db).entries(user_id, limit=limit, session_id=session_id)

    found = _run(ctx, work)
    if as_json:
        _echo_json(found)
        return
    for entry in found:
        session = f"  session {entry.session_id}" if entry.session_id else ""
        ids = ",".join(map(str, entry.ids[:10])) + ("…" if len(entry.ids) > 10 else "")
        row = f"{entry.id}  " if isinstance(entry, ChainEntry) else ""
        click.echo(f"{row}{entry.at}  {entry.user_id}  {entry.action}  [{ids}]{session}")
    if not found:
        click.echo("(no audit rows)")


# -- keys and backups ----------------------------------------------------------------------


@main.command()
@click.option(
    "--to-passphrase",
    is_flag=True,
    help="Key the database by a new passphrase (from MEMORY_SERVER_NEW_PASSPHRASE, or asked) instead of a key file.",
)
@click.option(
    "--from-passphrase",
    is_flag=True,
    help="The database is keyed by a passphrase now (MEMORY_SERVER_PASSPHRASE, or asked).",
)
@click.pass_context
def rekey(ctx: click.Context, to_passphrase: bool, from_passphrase: bool) -> None:
    """Change the database key atomically; the old key no longer opens it. Stop running servers first.

    Without --to-passphrase the new key is a fresh random key file (written beside the old one,
    which is kept as memory.key.old until the change is confirmed). With --to-passphrase the new
    passphrase comes from MEMORY_SERVER_NEW_PASSPHRASE or a prompt. Backups made earlier still
    open only with the old key.

    Example:

        memory-server rekey --to-passphrase
    """
    import os

    from memory_server.store import rekey as keys_ops
    from memory_server.store.database import resolve_key
    from memory_server.store.keys import PASSPHRASE_ENV, passphrase_key

    settings = _settings(ctx)
    _configure_logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
    recovered = keys_ops.recover(settings)
    if from_passphrase:
        current = settings.passphrase.get_secret_value() if settings.passphrase else None
        old_key = passphrase_key(current or click.prompt("Current passphrase", hide_input=True))
    else:
        old_key = recovered or resolve_key(settings)
    new_passphrase = None
    if to_passphrase:
        new_passphrase = os.environ.get(keys_ops.NEW_PASSPHRASE_ENV) or click.prompt(
            "New passphrase", hide_input=True, confirmation_prompt=True
        )
    result = keys_ops.rekey(settings, old_key, new_passphrase=new_passphrase)
    click.echo(f"rekeyed {result.database}: now opened by {result.new_source}; {result.old_source} no longer opens it")
    if to_passphrase:
        click.echo(f"Set {PASSPHRASE_ENV} to the new passphrase wherever memory-server runs (every MCP host).")
    elif settings.passphrase is not None or from_passphrase:
        click.echo(f"Unset {PASSPHRASE_ENV} wherever memory-server runs: the key file opens the database now.")
    click.echo("Backups made before this still open only with the old key.")


@main.command()
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace DEST if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def backup(ctx: click.Context, dest: Path, force: bool, as_json: bool) -> None:
    """Copy the database to DEST, encrypted with the same key, while servers keep running.

    The copy is one consistent snapshot; it is checked (opens with the key, integrity_check ok,
    same row counts) before it is put in place.

    Example:

        memory-server backup ~/backups/memory-2026-01-01.db
    """
    from memory_server.store import backup as backups
    from memory_server.store import rekey as keys_ops
    from memory_server.store.database import resolve_key

    settings = _settings(ctx)
    if not settings.database_path.exists():
        raise click.ClickException(f"There is no database at {settings.database_path}. Check --db / --home.")
    key = keys_ops.recover(settings) or resolve_key(settings)
    result = backups.backup(
        settings.database_path, key, dest, force=force, busy_timeout_ms=settings.store.busy_timeout_ms
    )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "path": str(result.path),
                    "bytes": result.bytes,
                    "rows": result.rows,
                    "integrity": result.integrity,
                    "seconds": round(result.seconds, 3),
                },
                indent=2,
            )
        )
        return
    click.echo(
        f"backed up {settings.database_path} to {result.path}: {result.bytes} bytes, "
        f"{sum(result.rows.values())} rows, integrity {result.integrity}, encrypted with {key.source}"
    )


# -- export, import, reindex, stats --------------------------------------------------------

EXPORT_PASSPHRASE_ENV = "MEMORY_SERVER_EXPORT_PASSPHRASE"


def _export_passphrase(*, confirm: bool) -> str:
    import os

    secret = os.environ.get(EXPORT_PASSPHRASE_ENV)
    if secret:
        return secret
    if not sys.stdin.isatty():
        raise click.ClickException(f"No passphrase: set {EXPORT_PASSPHRASE_ENV}, or run in a terminal to be asked.")
    value: str = click.prompt("Export passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
    return value


@contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int | None], None]]:
    """A rich progress bar on stderr; yields the callback the domain calls after each batch."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@main.command("export")
@click.option("--out", default="-", show_default=True, help="File to write, or - for stdout.")
@click.option("--encrypt", is_flag=True, help=f"Seal it with a passphrase (env {EXPORT_PASSPHRASE_ENV}, or asked).")
@click.option("--include-audit", is_flag=True, help="Also export the audit log, when the store has one.")
@click.pass_context
def export_command(ctx: click.Context, out: str, encrypt: bool, include_audit: bool) -> None:
    """Write this user's memory as JSON Lines: facts (with superseded ones), sessions with messages
    and summaries, checkpoints, tool calls. A file is written with owner-only permissions.

    Example:

        memory-server export --out backup.jsonl.sealed --encrypt
    """
    import os

    from memory_server.memory.sealed import SealedWriter
    from memory_server.memory.transfer import export

    if encrypt and out == "-" and sys.stdout.isatty():
        raise click.ClickException("A sealed export is binary: give --out FILE, or redirect stdout to a file.")
    secret = _export_passphrase(confirm=True) if encrypt else None
    target = None if out == "-" else Path(out).expanduser()
    partial = target.with_name(target.name + ".partial") if target else None

    async def work(memory: Any) -> dict[str, int]:
        if partial is None:
            sink: Any = sys.stdout.buffer
        else:
            sink = os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
        try:
            sealed = SealedWriter(sink, secret) if secret is not None else None
            counts = await export(memory, sealed or sink, include_audit=include_audit)
            if sealed is not None:
                sealed.close()
            sink.flush()
            if partial is not None:
                os.fsync(sink.fileno())
        finally:
            if partial is not None:
                sink.close()
        return counts

    try:
        # Vectors are not exported, so a store embedded with another model can still be moved.
        counts = _run(ctx, work, check_model=False)
    except BaseException:
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise
    if target is not None and partial is not None:
        os.replace(partial, target)
    where = "stdout" if target is None else str(target)
    what = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    click.echo(f"exported {what} to {where}{' (sealed)' if secret else ''}", err=True)


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch", type=int, default=500, show_default=True, help="Records per transaction.")
@click.option("--skip-bad", is_flag=True, help="Import the good lines; report unreadable ones by line number.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def import_command(ctx: click.Context, file: Path, batch: int, skip_bad: bool, as_json: bool) -> None:
    """Import an export (sealed or not) or a knowledge-graph server's memory.jsonl, de-duplicating:
    facts that restate stored ones are merged, sessions and checkpoints already there are skipped.

    Example:

        memory-server import backup.jsonl.sealed --batch 500
    """
    from memory_server.memory.transfer import import_lines, read_lines

    # Before the store opens: a sealed file is checked whole (and its passphrase asked) first.
    lines = read_lines(file, passphrase=lambda: _export_passphrase(confirm=False))
    with _progress(f"importing {file.name}") as progress:

        async def work(memory: Any) -> Any:
            return await import_lines(memory, lines, batch=batch, progress=progress, skip_bad=skip_bad)

        report = _run(ctx, work, needs_model=True, batch=True)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
        return
    from memory_server.console import rows_table

    rows_table(
        f"Imported {report.lines} records ({report.format})",
        ["type", "created", "merged", "skipped"],
        [(kind, c.created, c.merged, c.skipped) for kind, c in report.counts.items()],
    )
    for note in report.notes:
        click.echo(f"skipped: {note}", err=True)
    if report.bad_lines:
        click.echo(f"bad lines skipped: {', '.join(map(str, report.bad_lines))}", err=True)


@main.command()
@click.option("--batch", type=int, default=256, show_default=True, help="Facts embedded per transaction.")
@click.option("--force", is_flag=True, help="Re-embed even when the recorded model is the configured one.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def reindex(ctx: click.Context, batch: int, force: bool, as_json: bool) -> None:
    """Re-embed every fact with the configured model and record it; a stopped run resumes.

    Example:

        MEMORY_SERVER_MODEL=/models/bge-small memory-server reindex
    """
    from memory_server.memory.reindex import reindex as run_reindex

    with _progress("re-embedding facts") as progress:

        async def work(memory: Any) -> Any:
            return await run_reindex(
                memory.db, memory.embedder, memory.settings.embeddings, batch=batch, force=force, progress=progress
            )

        result = _run(ctx, work, needs_model=True, check_model=False, batch=True)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
    elif result.status == "up to date":
        click.echo(f"up to date: every fact is embedded with {result.model} ({result.dimension} dimensions)")
    else:
        resumed = f", resumed after fact {result.resumed_after_id}" if result.resumed_after_id is not None else ""
        click.echo(
            f"re-embedded {result.facts} facts with {result.model} ({result.dimension} dimensions; was "
            f"{result.previous_model}, {result.previous_dimension}){resumed}"
        )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """Counts per layer and category, what awaits the sweeper, oldest/newest, file sizes.

    Example:

        memory-server stats --json
    """
    from memory_server.memory.stats import collect

    async def work(memory: Any) -> Any:
        return await collect(memory.db, memory.user_id)

    # Inspection needs no vectors: it works (and shows the recorded model) when the model differs.
    found = _run(ctx, work, check_model=False)
    if as_json:
        click.echo(found.model_dump_json(indent=2))
        return
    from memory_server.console import rows_table, when

    store = found.store
    click.echo(
        f"{store.path}: {store.database_bytes:,} bytes + {store.wal_bytes:,} WAL; model {store.model} "
        f"({store.dimension} dimensions); user {found.user}"
    )
    layers = {
        "facts": found.facts,
        "sessions": found.sessions,
        "checkpoints": found.checkpoints,
        "tool calls": found.tool_calls,
    }
    if found.audit is not None:
        layers["audit"] = found.audit
    rows_table(
        "Layers",
        ["layer", "what", "value"],
        [
            (name if index == 0 else "", what.replace("_", " "), value)
            for name, layer in layers.items()
            for index, (what, value) in enumerate(
                [*layer.counts.items(), ("oldest", when(layer.oldest)), ("newest", when(layer.newest))]
            )
        ],
    )
    rows_table(
        "Live facts per category", ["category", "facts"], [(c or "(none)", n) for c, n in found.categories.items()]
    )


def _register() -> None:
    from memory_server.cli_privacy import scan_secrets

    main.add_command(scan_secrets)


_register()
