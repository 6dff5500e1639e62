"""`memory-server install`: merging into Claude Desktop's config, and the snippets for other hosts."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from mcp import Client, StdioServerParameters

from memory_server import install as setup
from memory_server.cli import main
from memory_server.errors import ConfigError

OTHER_SERVER = {"command": "/usr/local/bin/other-mcp", "args": ["--fast"], "env": {"OTHER_TOKEN": "x"}}
# The installing shell's store variables would be carried into the entry; tests start clean.
CLEAN_ENV: dict[str, str | None] = {name: None for name in (*setup.CARRIED_ENV, setup.PASSPHRASE_ENV)}


def desktop_config(path: Path) -> None:
    path.write_text(json.dumps({"globalShortcut": "Ctrl+Space", "mcpServers": {"other": OTHER_SERVER}}, indent=2))


def run_install(*args: str) -> Result:
    result = CliRunner().invoke(main, ["install", *args], env=CLEAN_ENV, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def backups(config: Path) -> list[Path]:
    return sorted(config.parent.glob(config.name + ".*.bak"))


@pytest.mark.e2e
async def test_the_entry_written_into_claude_desktop_config_starts_the_server_and_keeps_other_servers(
    tmp_path: Path,
) -> None:
    config = tmp_path / "claude_desktop_config.json"
    desktop_config(config)
    original = config.read_bytes()
    home = tmp_path / "memory-home"

    run_install("claude-desktop", "--config", str(config), "--env", f"MEMORY_SERVER_HOME={home}")

    written = json.loads(config.read_text())
    assert written["mcpServers"]["other"] == OTHER_SERVER
    assert written["globalShortcut"] == "Ctrl+Space"
    entry = written["mcpServers"]["memory"]
    assert Path(entry["command"]).is_absolute()
    assert entry["env"]["HF_HUB_OFFLINE"] == "1"
    assert [backup.read_bytes() for backup in backups(config)] == [original]

    # Exactly what a host would run: the command, args and env from the file, nothing else of ours.
    parameters = StdioServerParameters(command=entry["command"], args=entry["args"], env=entry["env"])
    async with Client(parameters, mode="legacy") as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
    assert {"remember_fact", "search_facts", "get_user_context"} <= tools
    assert (home / "memory.db").is_file()  # it used the home the entry named, not the real one

    run_install(
        "claude-desktop",
        "--config",
        str(config),
        "--env",
        f"MEMORY_SERVER_HOME={home}",
        "--env",
        "MEMORY_SERVER_USER=bob",
    )

    again = json.loads(config.read_text())
    assert list(again["mcpServers"]) == ["other", "memory"]
    assert again["mcpServers"]["other"] == OTHER_SERVER
    assert again["mcpServers"]["memory"]["env"]["MEMORY_SERVER_USER"] == "bob"
    assert len(backups(config)) == 2


def test_a_second_identical_install_writes_nothing_and_makes_no_backup(tmp_path: Path) -> None:
    config = tmp_path / "claude_desktop_config.json"
    desktop_config(config)
    run_install("claude-desktop", "--config", str(config))
    after_first = config.read_bytes()

    result = run_install("claude-desktop", "--config", str(config))

    assert "already up to date" in result.output
    assert config.read_bytes() == after_first
    assert len(backups(config)) == 1


def test_a_dry_run_prints_the_merged_config_and_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "claude_desktop_config.json"
    desktop_config(config)
    original = config.read_bytes()

    result = run_install("claude-desktop", "--config", str(config), "--dry-run", "--name", "mem")

    printed = json.loads(result.stdout)
    assert set(printed["mcpServers"]) == {"other", "mem"}
    assert config.read_bytes() == original
    assert backups(config) == []


def test_a_missing_config_file_is_created_owner_only_with_no_backup(tmp_path: Path) -> None:
    config = tmp_path / "Claude" / "claude_desktop_config.json"

    run_install("claude-desktop", "--config", str(config))

    assert set(json.loads(config.read_text())["mcpServers"]) == {"memory"}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert backups(config) == []


def test_a_config_file_that_is_not_json_is_refused_and_left_alone(tmp_path: Path) -> None:
    config = tmp_path / "claude_desktop_config.json"
    config.write_text('{"mcpServers": {"other": ')

    result = CliRunner().invoke(main, ["install", "claude-desktop", "--config", str(config)], env=CLEAN_ENV)

    assert result.exit_code == 1
    assert "is not valid JSON" in result.output and "nothing was changed" in result.output
    assert config.read_text() == '{"mcpServers": {"other": '
    assert backups(config) == []


def test_global_flags_and_env_options_become_the_entry_environment(tmp_path: Path) -> None:
    result = run_install(
        "claude-desktop", "--config", str(tmp_path / "c.json"), "--dry-run", "--env", "MEMORY_SERVER_LOG_LEVEL=DEBUG"
    )
    env = json.loads(result.stdout)["mcpServers"]["memory"]["env"]
    assert env == {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MEMORY_SERVER_LOG_LEVEL": "DEBUG"}

    config = tmp_path / "c.json"
    flagged = CliRunner().invoke(
        main,
        ["--home", "rel/home", "--user", "alice", "install", "claude-desktop", "--dry-run", "--config", str(config)],
        env=CLEAN_ENV,
    )
    env = json.loads(flagged.stdout)["mcpServers"]["memory"]["env"]
    assert env["MEMORY_SERVER_HOME"] == str(Path("rel/home").absolute())
    assert env["MEMORY_SERVER_USER"] == "alice"


def test_the_passphrase_of_the_installing_shell_is_not_written_into_the_host_config(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["install", "claude-desktop", "--config", str(tmp_path / "c.json"), "--dry-run"],
        env={**CLEAN_ENV, "MEMORY_SERVER_PASSPHRASE": "hunter2", "MEMORY_SERVER_HOME": "/srv/memory"},
    )
    env = json.loads(result.stdout)["mcpServers"]["memory"]["env"]
    assert env["MEMORY_SERVER_HOME"] == "/srv/memory"
    assert "MEMORY_SERVER_PASSPHRASE" not in env
    assert "hunter2" not in result.stdout
    assert "is not written" in result.stderr


def test_install_needs_exactly_one_of_a_host_or_print() -> None:
    neither = CliRunner().invoke(main, ["install"], env=CLEAN_ENV)
    both = CliRunner().invoke(main, ["install", "claude-desktop", "--print", "cursor"], env=CLEAN_ENV)
    assert neither.exit_code == both.exit_code == 2


def test_a_malformed_env_option_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="NAME=value"):
        setup.parse_env_pairs(["MEMORY_SERVER_HOME"])
    with pytest.raises(ConfigError, match="NAME=value"):
        setup.parse_env_pairs(["BAD NAME=1"])
    assert setup.parse_env_pairs(["A=b=c", "EMPTY="]) == {"A": "b=c", "EMPTY": ""}


# -- pure functions --------------------------------------------------------------------------

LAUNCH = setup.Launch(command="/opt/ms/bin/memory-server", args=["serve"], env={"HF_HUB_OFFLINE": "1", "X": "a b"})


def test_print_gives_each_host_its_own_format() -> None:
    cursor = json.loads(setup.snippet("cursor", "memory", LAUNCH))
    vscode = json.loads(setup.snippet("vscode", "memory", LAUNCH))
    desktop = json.loads(setup.snippet("claude-desktop", "memory", LAUNCH))
    claude_code = setup.snippet("claude-code", "memory", LAUNCH)

    assert cursor == desktop == {"mcpServers": {"memory": LAUNCH.entry()}}
    assert vscode == {"servers": {"memory": {"type": "stdio", **LAUNCH.entry()}}}
    assert claude_code == ("claude mcp add memory -e HF_HUB_OFFLINE=1 -e 'X=a b' -- /opt/ms/bin/memory-server serve")


def test_print_on_the_command_line_writes_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["install", "--print", "vscode"], env={**CLEAN_ENV, "HOME": str(tmp_path)})
    assert json.loads(result.stdout)["servers"]["memory"]["type"] == "stdio"
    assert list(tmp_path.iterdir()) == []


def test_merge_updates_an_entry_of_the_same_name_and_keeps_everything_else() -> None:
    config: dict[str, Any] = {"theme": "dark", "mcpServers": {"memory": {"command": "old"}, "other": OTHER_SERVER}}

    merged, status = setup.merge_entry(config, "memory", LAUNCH.entry())

    assert status == "updated"
    assert merged == {"theme": "dark", "mcpServers": {"memory": LAUNCH.entry(), "other": OTHER_SERVER}}
    assert config["mcpServers"]["memory"] == {"command": "old"}  # the input is not modified
    assert setup.merge_entry(merged, "memory", LAUNCH.entry())[1] == "unchanged"
    assert setup.merge_entry({}, "memory", LAUNCH.entry())[1] == "added"
    with pytest.raises(ConfigError, match="not an object"):
        setup.merge_entry({"mcpServers": []}, "memory", LAUNCH.entry())


def test_writing_keeps_the_file_permissions_and_backs_up_the_old_content(tmp_path: Path) -> None:
    config = tmp_path / "claude_desktop_config.json"
    config.write_text("{}")
    os.chmod(config, 0o640)
    now = datetime(2026, 11, 25, 20, 30, 0, tzinfo=UTC)

    first = setup.write_config(config, {"mcpServers": {}}, now=now)
    second = setup.write_config(config, {"mcpServers": {"a": {}}}, now=now)

    assert first == tmp_path / "claude_desktop_config.json.20261125-203000.bak"
    assert second == tmp_path / "claude_desktop_config.json.20261125-203000-1.bak"
    assert first.read_text() == "{}"
    assert json.loads(second.read_text()) == {"mcpServers": {}}
    assert json.loads(config.read_text()) == {"mcpServers": {"a": {}}}
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_claude_desktop_config_is_found_where_each_platform_keeps_it(tmp_path: Path) -> None:
    home = tmp_path
    name = "claude_desktop_config.json"
    assert setup.claude_desktop_config_path(platform="darwin", environ={}, home=home) == (
        home / "Library" / "Application Support" / "Claude" / name
    )
    assert setup.claude_desktop_config_path(platform="win32", environ={"APPDATA": "C:/Users/a/AppData/Roaming"}) == (
        Path("C:/Users/a/AppData/Roaming") / "Claude" / name
    )
    assert setup.claude_desktop_config_path(platform="linux", environ={"XDG_CONFIG_HOME": "/x"}, home=home) == (
        Path("/x/Claude") / name
    )
    assert setup.claude_desktop_config_path(platform="linux", environ={}, home=home) == home / ".config/Claude" / name


def test_the_server_command_is_the_running_script_else_the_installed_one_else_the_interpreter(tmp_path: Path) -> None:
    script = tmp_path / "venv" / "bin" / "memory-server"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")

    assert setup.find_server_command(str(script), prefix="/nowhere", executable="/x/python") == [str(script.resolve())]
    assert setup.find_server_command("/usr/bin/pytest", prefix=str(tmp_path / "venv"), executable="/x/python") == [
        str(script)
    ]
    assert setup.find_server_command("/usr/bin/pytest", prefix="/nowhere", executable="/x/python") == [
        "/x/python",
        "-m",
        "memory_server",
    ]


def test_a_model_cache_outside_the_default_is_passed_to_the_host(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["install", "claude-desktop", "--config", str(tmp_path / "c.json"), "--dry-run"],
        env={**CLEAN_ENV, "MEMORY_SERVER_EMBEDDINGS__CACHE_DIR": "/srv/models"},
    )
    env = json.loads(result.stdout)["mcpServers"]["memory"]["env"]
    assert env["MEMORY_SERVER_EMBEDDINGS__CACHE_DIR"] == "/srv/models"
