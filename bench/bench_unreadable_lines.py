"""How fast the real server answers lines it cannot read (raw JSON-RPC over stdio): each must
be answered, with its id, at once; a well-formed call is timed alongside for comparison.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.bench_unreadable_lines
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, p50, print_table, server_env

ROUNDS = 20


def call_line(request_id: int, tool: str, arguments: str) -> bytes:
    params = f'{{"name":"{tool}","arguments":{arguments}}}'
    return f'{{"jsonrpc":"2.0","id":{request_id},"method":"tools/call","params":{params}}}'.encode()


def deep(depth: int) -> str:
    return '{"thread_id":"t","state":' + '{"a":' * depth + "1" + "}" * depth + "}"


CASES: dict[str, str | bytes] = {
    "well-formed list_checkpoints (for comparison)": '{"thread_id":"t"}',
    "state nested 200 deep": deep(200),
    "state nested 1000 deep": deep(1000),
    "invalid UTF-8": b'{"content":"caf\xff"}',
    "lone surrogate escape": '{"content":"x\\ud800y"}',
    "broken JSON": '{"content":"unterminated}',
}


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        server = subprocess.Popen(
            [sys.executable, "-m", "memory_server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=server_env(Path(home), {"MEMORY_SERVER_EMBEDDINGS__PRELOAD": "false"}),
            cwd=str(ROOT),
        )
        stdin, stdout = server.stdin, server.stdout
        assert stdin is not None and stdout is not None

        def exchange(line: bytes) -> tuple[float, dict[str, object]]:
            started = time.perf_counter()
            stdin.write(line + b"\n")
            stdin.flush()
            ready, _, _ = select.select([stdout], [], [], 30)
            if not ready:
                raise SystemExit("no answer within 30 s")
            answer = json.loads(stdout.readline())
            return (time.perf_counter() - started) * 1000, answer

        hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}
        exchange(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello}).encode())
        stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        rows = []
        request_id = 0
        for name, arguments in CASES.items():
            samples = []
            for _ in range(ROUNDS):
                request_id += 1
                raw = arguments if isinstance(arguments, bytes) else arguments.encode()
                tool = "list_checkpoints" if name.startswith("well") else "save_checkpoint"
                elapsed, answer = exchange(call_line(request_id, tool, "@").replace(b"@", raw))
                assert answer["id"] == request_id, answer
                samples.append(elapsed)
            rows.append((name, ROUNDS, f"{p50(samples):.1f}", f"{max(samples):.1f}"))
        stdin.close()
        server.wait(timeout=30)
    print_table("Answers to unreadable lines (ms, raw stdio)", ["line", "n", "p50", "max"], rows)


if __name__ == "__main__":
    main()
