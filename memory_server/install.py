"""Setting memory-server up in MCP hosts: the launch command, each host's config snippet, and a
careful merge into Claude Desktop's config file.

Everything but `find_server_command`, `claude_desktop_config_path`, `read_config` and
`write_config` is a pure function over dicts, so the merge is easy to test. Hosts start servers
with their own working folder and a limited environment, so the command is an absolute path and
every variable the server needs is written into the entry.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from memory_server.errors import ConfigError

DEFAULT_NAME = "memory"
PRINTABLE_HOSTS = ("claude-desktop", "claude-code", "cursor", "vscode")
WRITABLE_HOSTS = ("claude-desktop",)

# The embedding model ships inside a Python package; never let a host-launched server go online for it.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

# Variables of the installing shell that decide which store the server opens; carried into the entry.
# The passphrase is deliberately not among them: a secret does not belong in a host's config file.
CARRIED_ENV = (
    "MEMORY_SERVER_HOME",
    "MEMORY_SERVER_DB",
    "MEMORY_SERVER_KEY_FILE",
    "MEMORY_SERVER_CONFIG",
    "MEMORY_SERVER_USER",
    # Where `model prepare` put the model's graph, when not the default cache.
    "MEMORY_SERVER_EMBEDDINGS__CACHE_DIR",
)
PASSPHRASE_ENV = "MEMORY_SERVER_PASSPHRASE"


@dataclass(frozen=True)
class Launch:
    """How a host starts the server: an absolute command, its arguments and its environment."""

    command: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def entry(self) -> dict[str, Any]:
        """The `mcpServers` entry (Claude Desktop, Cursor)."""
        return {"command": self.command, "args": list(self.args), "env": dict(self.env)}


def find_server_command(
    argv0: str | None = None, *, prefix: str | None = None, executable: str | None = None
) -> list[str]:
    """The absolute command that starts this installation's `memory-server`.

    The script that is running (when it is `memory-server`), else the one next to this
    interpreter, else the interpreter itself with `-m memory_server`.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    prefix = sys.prefix if prefix is None else prefix
    executable = sys.executable if executable is None else executable
    script = Path(argv0)
    if script.name in ("memory-server", "memory-server.exe") and script.is_file():
        return [str(script.resolve())]
    bin_dir = Path(prefix) / ("Scripts" if os.name == "nt" else "bin")
    for name in ("memory-server.exe", "memory-server") if os.name == "nt" else ("memory-server",):
        if (bin_dir / name).is_file():
            return [str((bin_dir / name).absolute())]
    # Not resolved: a virtual environment's python is a symlink, and resolving it would leave the venv.
    return [os.path.abspath(executable), "-m", "memory_server"]


def server_environment(
    *,
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    extra: Mapping[str, str],
) -> dict[str, str]:
    """The env the entry needs: offline model, the store the installing shell points at (its
    MEMORY_SERVER_* variables, then the global flags --home/--db/--user/--config), then --env."""
    env = dict(OFFLINE_ENV)
    for name in CARRIED_ENV:
        if environ.get(name):
            env[name] = _absolute_if_path(name, environ[name])
    for flag, name in (("home", "MEMORY_SERVER_HOME"), ("db", "MEMORY_SERVER_DB"), ("config", "MEMORY_SERVER_CONFIG")):
        if flags.get(flag) is not None:
            env[name] = str(Path(flags[flag]).expanduser().absolute())
    if flags.get("user"):
        env["MEMORY_SERVER_USER"] = str(flags["user"])
    env.update(extra)
    return env


def parse_env_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """`K=V` strings (the --env option) to a dict; a malformed pair is a clear error."""
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or not name.replace("_", "A").isalnum():
            raise ConfigError(f"--env {pair!r} must look like NAME=value (for example MEMORY_SERVER_USER=alice).")
        env[name] = value
    return env


def build_launch(command: Sequence[str], env: Mapping[str, str], args: Sequence[str] = ("serve",)) -> Launch:
    return Launch(command=command[0], args=[*command[1:], *args], env=dict(env))


# -- Claude Desktop ------------------------------------------------------------------------


def claude_desktop_config_path(
    *, platform: str | None = None, environ: Mapping[str, str] | None = None, home: Path | None = None
) -> Path:
    """Where Claude Desktop keeps its config on this platform."""
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    if platform == "darwin":
        folder = home / "Library" / "Application Support" / "Claude"
    elif platform == "win32":
        appdata = environ.get("APPDATA")
        folder = (Path(appdata) if appdata else home / "AppData" / "Roaming") / "Claude"
    else:
        xdg = environ.get("XDG_CONFIG_HOME")
        folder = (Path(xdg) if xdg else home / ".config") / "Claude"
    return folder / "claude_desktop_config.json"


def merge_entry(config: Mapping[str, Any], name: str, entry: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """A copy of `config` with `mcpServers[name]` set to `entry`; every other key and server is
    kept as it was. Returns the new config and "added", "updated" or "unchanged"."""
    merged = json.loads(json.dumps(config))  # a deep copy that stays plain JSON
    servers = merged.setdefault("mcpServers", {})
    if not isinstance(servers, dict):
        raise ConfigError(
            f'"mcpServers" in the Claude Desktop config is a {type(servers).__name__}, not an object. '
            "Fix the file by hand (it should map server names to their settings); nothing was changed."
        )
    previous = servers.get(name)
    servers[name] = dict(entry)
    if previous is None:
        return merged, "added"
    return merged, "unchanged" if previous == servers[name] else "updated"


def read_config(path: Path) -> dict[str, Any]:
    """The config file's JSON object; an absent or empty file is an empty config."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{path} is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}). "
            "Fix it or move it away, then run the install again; nothing was changed."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} holds a JSON {type(data).__name__}, not an object. Fix it; nothing was changed.")
    return data


def write_config(path: Path, config: Mapping[str, Any], *, now: datetime | None = None) -> Path | None:
    """Write `config` to `path` atomically (temporary file + rename, same permissions), after
    copying the old file to a timestamped backup next to it. Returns the backup's path, if any."""
    now = datetime.now(UTC) if now is None else now
    path.parent.mkdir(parents=True, exist_ok=True)
    backup: Path | None = None
    mode = 0o600
    if path.exists():
        mode = path.stat().st_mode & 0o777
        backup = _free_backup_path(path, now)
        _write_atomically(backup, path.read_bytes(), mode)
    _write_atomically(path, (json.dumps(config, indent=2, ensure_ascii=False) + "\n").encode("utf-8"), mode)
    return backup


def _free_backup_path(path: Path, now: datetime) -> Path:
    stamp = now.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.{stamp}.bak")
    counter = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{stamp}-{counter}.bak")
        counter += 1
    return candidate


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if os.name == "posix":
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


# -- snippets for every host -----------------------------------------------------------------


def snippet(host: str, name: str, launch: Launch) -> str:
    """What to paste (or run) to add the server to `host`."""
    if host in ("claude-desktop", "cursor"):
        return json.dumps({"mcpServers": {name: launch.entry()}}, indent=2, ensure_ascii=False)
    if host == "vscode":
        entry = {"type": "stdio", **launch.entry()}
        return json.dumps({"servers": {name: entry}}, indent=2, ensure_ascii=False)
    if host == "claude-code":
        words = ["claude", "mcp", "add", name]
        for key, value in launch.env.items():
            words += ["-e", f"{key}={value}"]
        words += ["--", launch.command, *launch.args]
        return shlex.join(words)
    raise ConfigError(f"Unknown host {host!r}. Choose one of: {', '.join(PRINTABLE_HOSTS)}.")


def where_to_paste(host: str) -> str:
    return {
        "claude-desktop": f"Merge into {claude_desktop_config_path()} (or run: memory-server install claude-desktop)",
        "claude-code": "Run this in a shell (add --scope user to use it in every project)",
        "cursor": "Merge into .cursor/mcp.json in your project, or ~/.cursor/mcp.json for every project",
        "vscode": "Merge into .vscode/mcp.json in your workspace",
    }[host]


def _absolute_if_path(name: str, value: str) -> str:
    if name == "MEMORY_SERVER_USER":
        return value
    return str(Path(value).expanduser().absolute())
