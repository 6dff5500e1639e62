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


def when(timestamp: str | None) -> str:
    """An ISO time as a table shows it: to the minute, no 'T' or 'Z'."""
    return timestamp[:16].replace("T", " ") if timestamp else ""


def rows_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]], *, wide: str = "") -> None:
    """A plain table. The first column (the handle people copy) is never cut; the column named
    `wide` folds long text; the others stay on one line and give way on a narrow terminal."""
    cells = [["" if value is None else str(value) for value in row] for row in rows]
    table = Table(title=title, show_lines=False, expand=False)
    for index, name in enumerate(columns):
        if name == wide:
            table.add_column(name, overflow="fold", max_width=60, min_width=min(20, len(name)))
        elif index == 0:
            table.add_column(name, no_wrap=True, min_width=max([len(name), *(len(row[0]) for row in cells)]))
        else:
            table.add_column(name, no_wrap=True, min_width=len(name))
    for row in cells:
        table.add_row(*row)
    Console().print(table)
    if not rows:
        Console().print("(none)")
