"""The CLI documents itself: every command's --help shows an example, and the README's command
list names exactly the commands the CLI has.

README format (section `## Commands`, first fenced code block in it): one command per line,
`memory-server <command words> ARGUMENTS [--options]`, arguments in UPPER CASE or after the
command's last word, options starting with `-` or `[`; a `# comment` may follow. For example:

    memory-server facts add CONTENT [--importance N] [--category NAME]   # remember a fact
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from memory_server.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"
_COMMAND_WORD = re.compile(r"[a-z][a-z0-9-]*")


def command_tree(group: click.Group = main, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], click.Command]:
    """Every command and group under `group`, by path (the root is the empty path)."""
    found: dict[tuple[str, ...], click.Command] = {prefix: group}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.update(command_tree(command, (*prefix, name)))
        else:
            found[(*prefix, name)] = command
    return found


def leaf_commands() -> set[str]:
    return {" ".join(path) for path, command in command_tree().items() if not isinstance(command, click.Group)}


def readme_commands(text: str) -> set[str]:
    """Command paths ("facts add") listed in the first code block of the `## Commands` section."""
    section = re.search(r"^## Commands[ \t]*\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert section, "README.md needs a '## Commands' section"
    block = re.search(r"^```[^\n]*\n(.*?)^```", section.group(1), flags=re.MULTILINE | re.DOTALL)
    assert block, "The '## Commands' section needs a fenced code block listing the commands"
    paths = set()
    for line in block.group(1).splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "memory-server":
            continue
        path: list[str] = []
        node: click.Command | None = main
        for word in words[1:]:  # command words until a leaf command (or an unknown one) is reached
            if not isinstance(node, click.Group) or not _COMMAND_WORD.fullmatch(word):
                break
            path.append(word)
            node = node.commands.get(word)
        if path:  # a bare `memory-server` line is the default command (serve)
            paths.add(" ".join(path))
    return paths


@pytest.mark.parametrize("path", sorted(" ".join(path) for path in command_tree()))
def test_every_command_has_help_with_an_example(path: str) -> None:
    result = CliRunner().invoke(main, [*path.split(), "--help"])

    assert result.exit_code == 0, result.output
    example = result.output.partition("Example")[2]
    assert example, f"`memory-server {path} --help` shows no example"
    assert "memory-server" in example, f"`memory-server {path} --help`: the example runs no command"


def test_the_readme_lists_exactly_the_commands_of_the_cli() -> None:
    if not README.is_file():
        pytest.skip("README.md is not written yet")
    listed = readme_commands(README.read_text(encoding="utf-8"))
    actual = leaf_commands()

    assert not actual - listed, f"commands missing from the README's command list: {sorted(actual - listed)}"
    assert not listed - actual, f"the README lists commands the CLI does not have: {sorted(listed - actual)}"


def test_the_readme_parser_reads_command_words_and_stops_at_arguments_and_options() -> None:
    text = """# memory-server

Intro mentioning `memory-server frobnicate`, outside the section.

## Commands

```bash
memory-server                                  # serve MCP over stdio (the default)
memory-server serve [--transport http]
memory-server facts add CONTENT [--importance N]   # remember a fact
memory-server facts search "a query"
memory-server sessions show SESSION_ID --all
memory-server install --print HOST
memory-server install claude-desktop --dry-run
memory-server facts frobnicate NAME
memory-server frobnicate more words
not-a-command facts list
```

```bash
memory-server only-in-a-second-block
```

## Next section

```bash
memory-server elsewhere
```
"""
    assert readme_commands(text) == {
        "serve",
        "facts add",
        "facts search",
        "sessions show",
        "install",
        "facts frobnicate",
        "frobnicate",
    }


def test_the_readme_check_sees_commands_missing_from_either_side() -> None:
    actual = leaf_commands()
    listed = {path for path in actual if path != "doctor"} | {"facts frobnicate"}

    assert actual - listed == {"doctor"}
    assert listed - actual == {"facts frobnicate"}
    assert {"serve", "doctor", "install", "facts add", "sessions show"} <= actual
    assert "facts" not in actual  # groups are not commands of their own
