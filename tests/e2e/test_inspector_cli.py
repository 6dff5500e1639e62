"""A client that is not ours: the MCP Inspector CLI (npm) lists the tools and calls remember_fact
and search_facts against `memory-server` over stdio.

Needs `npx` and the npm registry (or the package in the npm cache, kept in .pytest_cache so only
the first run downloads it); skips with the reason otherwise. Deselect with `-m "not npm"`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.npm]

INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"
INSTALL_TIMEOUT_SECONDS = 120
CALL_TIMEOUT_SECONDS = 90


@dataclass
class Inspector:
    command: list[str]
    env: dict[str, str]

    def run(self, home: Path, *method_args: str) -> dict[str, Any]:
        """Run one Inspector call against a fresh `memory-server` process; its JSON result."""
        server = [sys.executable, "-m", "memory_server", "serve"]
        server_env = {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "MEMORY_SERVER_HOME": str(home),
            "MEMORY_SERVER_USER": "alice",
            "MEMORY_SERVER_LOG_LEVEL": "WARNING",
        }
        env_flags = [part for name, value in server_env.items() for part in ("-e", f"{name}={value}")]
        completed = subprocess.run(
            [*self.command, *env_flags, *method_args, "--format", "json", "--", *server],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CALL_TIMEOUT_SECONDS,
            check=False,
        )
        assert completed.returncode == 0, f"inspector exit {completed.returncode}: {completed.stderr[-2000:]}"
        answer: dict[str, Any] = json.loads(completed.stdout)["result"]
        return answer


@pytest.fixture
def inspector(request: pytest.FixtureRequest, tmp_path: Path) -> Inspector:
    """The Inspector CLI through npx, with HOME and the npm cache in scratch folders."""
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not installed (Node.js), so the MCP Inspector CLI cannot run")
    cache = getattr(request.config, "cache", None)
    npm_cache = cache.mkdir("npm-cache") if cache is not None else tmp_path / "npm-cache"
    home = tmp_path / "inspector-home"  # the Inspector writes ~/.mcp-inspector/
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "npm_config_cache": str(npm_cache),
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
        # Without a registry, fail fast and skip rather than retry for a minute.
        "npm_config_fetch_retries": "1",
        "npm_config_fetch_retry_mintimeout": "1000",
        "npm_config_fetch_retry_maxtimeout": "3000",
    }
    command = [npx, "-y", "--prefer-offline", INSPECTOR, "--cli"]
    try:
        probe = subprocess.run(
            [*command, "--version"], env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"installing {INSPECTOR} took over {INSTALL_TIMEOUT_SECONDS} s (no npm registry?)")
    if probe.returncode != 0:
        errors = [line for line in probe.stderr.splitlines() if "error" in line.lower()] or [probe.stderr.strip()]
        pytest.skip(f"{INSPECTOR} is not installable here: {' '.join(errors[:2])[:300]}")
    return Inspector(command=command, env=env)


def test_the_inspector_cli_lists_the_tools_and_remembers_and_finds_a_fact(inspector: Inspector, tmp_path: Path) -> None:
    home = tmp_path / "memory-home"

    listed = inspector.run(home, "--method", "tools/list")
    assert {"remember_fact", "search_facts", "get_user_context"} <= {tool["name"] for tool in listed["tools"]}

    remembered = inspector.run(
        home,
        *("--method", "tools/call", "--tool-name", "remember_fact"),
        *("--tool-arg", "content=Prefers green tea over coffee", "--tool-arg", "importance=0.8"),
    )
    assert remembered["isError"] is False
    assert remembered["structuredContent"]["status"] == "created"
    fact_id = remembered["structuredContent"]["fact_id"]

    found = inspector.run(
        home,
        *("--method", "tools/call", "--tool-name", "search_facts"),
        *("--tool-arg", "query=what does the user like to drink", "--tool-arg", "limit=3"),
    )
    assert found["isError"] is False
    assert found["structuredContent"]["hits"][0]["fact"]["id"] == fact_id
