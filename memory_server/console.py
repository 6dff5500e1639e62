"""Readable tables for the CLI (rich), kept apart from the commands."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from memory_server.memory.models import Fact


def fact_table(facts: Sequence[Fact], *, title: str, extra: dict[str, list[str]] | None = None) -> None:
    table = Table(title=title, show_lines=False, expand=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("content", overflow="fold", max_width=70)
    table.add_column("category", no_wrap=True)
    table.add_column("imp.", justify="right", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    for name in extra or {}:
        table.add_column(name, justify="right", no_wrap=True)
    for index, fact in enumerate(facts):
        values = [str(fact.id), fact.content, fact.category or "", f"{fact.importance:.2f}", fact.updated_at[:10]]
        values += [column[index] for column in (extra or {}).values()]
        table.add_row(*values)
    Console().print(table)
    if not facts:
        Console().print("(none)")
