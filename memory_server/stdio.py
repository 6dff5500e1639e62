"""The stdio transport: every request that carries an id gets an answer with that id.

The SDK's own stdin reader turns a line it cannot parse (nested deeper than its parser
allows, broken JSON, a lone surrogate escape) into an exception that is never answered, and
it decodes invalid UTF-8 as U+FFFD, so such text would be stored altered. Here each line is
screened first: a line the SDK will parse is handed to it unchanged; any other line is
answered at once with a clear error carrying the request's id when it can be recovered (a
tool error for `tools/call`, so the model reads it; a JSON-RPC error otherwise).

The lines go through the SDK's public `stdio_server(stdin=..., stdout=...)`. Running the
server over it needs one private access, kept in `memory_server.sdk` with the other one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, cast

import anyio
import anyio.to_thread
import mcp_types
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server

from memory_server.sdk import lowlevel

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""Largest line read: room for the largest call the limits allow (500 messages of 64 KiB)."""
MAX_DEPTH = 128
"""Deepest nesting read; below the SDK parser's own limit (about 200), above any state we keep."""
_HEAD_BYTES = 64 * 1024  # what is kept of an overlong line, to find its id

PARSE_ERROR = -32700
INVALID_REQUEST = -32600

_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_TOKEN = re.compile(rf'{_STRING}|[{{}}\[\],:]|[^\s{{}}\[\],:"]+|"')


async def serve_stdio(server: MCPServer) -> None:
    """Serve `server` over stdin/stdout until stdin closes (what `MCPServer.run()` does, with our reader)."""
    runner = lowlevel(server)
    with _claimed_wire() as (wire_in, wire_out):
        out = _Writer(wire_out)
        lines = _ScreenedLines(wire_in, out)
        # Both streams are duck-typed: stdio_server only iterates stdin and writes/flushes stdout.
        async with stdio_server(stdin=cast(Any, lines), stdout=cast(Any, out)) as (read_stream, write_stream):
            await runner.run(read_stream, write_stream, runner.create_initialization_options())


@contextmanager
def _claimed_wire() -> Iterator[tuple[IO[bytes], IO[bytes]]]:
    """The protocol gets private copies of fd 0 and 1; fd 0 then reads /dev/null and fd 1 goes to
    stderr, so a stray print or a child process cannot corrupt the wire."""
    wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    try:
        with os.fdopen(wire_in, "rb", closefd=False) as reader, os.fdopen(wire_out, "wb", closefd=False) as writer:
            yield reader, writer
    finally:
        os.dup2(wire_in, 0)
        os.dup2(wire_out, 1)


class _Writer:
    """stdout for the SDK and for our own answers: whole lines, one writer at a time."""

    def __init__(self, wire: IO[bytes]) -> None:
        self.wire = wire
        self.lock = anyio.Lock()

    async def write(self, line: str) -> None:
        data = line.encode("utf-8", errors="replace")
        async with self.lock:
            await anyio.to_thread.run_sync(self._put, data)

    async def flush(self) -> None:
        """Every write is flushed already."""

    def _put(self, data: bytes) -> None:
        self.wire.write(data)
        self.wire.flush()

    async def answer(self, refusal: Refusal) -> None:
        await self.write(json.dumps(refusal.message(), ensure_ascii=False, separators=(",", ":")) + "\n")


class _ScreenedLines:
    """The lines the SDK reads: only those it can parse. The others are answered here."""

    def __init__(self, wire: IO[bytes], out: _Writer) -> None:
        self.wire = wire
        self.out = out

    def __aiter__(self) -> _ScreenedLines:
        return self

    async def __anext__(self) -> str:
        while True:
            read = await anyio.to_thread.run_sync(self._read_line)
            if read is None:
                raise StopAsyncIteration
            raw, overlong = read
            if not raw.strip() and not overlong:
                continue
            screened = screen(raw, overlong=overlong)
            if isinstance(screened, str):
                return screened
            log.warning("refused an unreadable request (id %r): %s", screened.request_id, screened.reason)
            await self.out.answer(screened)

    def _read_line(self) -> tuple[bytes, bool] | None:
        """The next line (without its newline) and whether it was longer than the limit (then
        only its head is kept and the rest is read and dropped). None at end of input."""
        line = self.wire.readline(MAX_REQUEST_BYTES + 1)
        if not line:
            return None
        if len(line) <= MAX_REQUEST_BYTES or line.endswith(b"\n"):
            return line.rstrip(b"\r\n"), False
        head = line[:_HEAD_BYTES]
        while line and not line.endswith(b"\n"):
            line = self.wire.readline(MAX_REQUEST_BYTES)
        return head, True


@dataclass(frozen=True)
class Refusal:
    """An unreadable line, and the answer it gets."""

    request_id: int | str | None
    method: str | None
    code: int
    reason: str

    def message(self) -> dict[str, Any]:
        text = f"{self.reason} Nothing was done."
        if self.request_id is not None and self.method == "tools/call":
            result = {"content": [{"type": "text", "text": text}], "isError": True}
            return {"jsonrpc": "2.0", "id": self.request_id, "result": result}
        return {"jsonrpc": "2.0", "id": self.request_id, "error": {"code": self.code, "message": text}}


def screen(raw: bytes, *, overlong: bool = False) -> str | Refusal:
    """The line as text when the SDK will parse it; otherwise why not, with the request's id."""
    if not overlong:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            try:
                mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
            except Exception:
                pass
            else:
                return line
    return _diagnose(raw, overlong=overlong)


def _diagnose(raw: bytes, *, overlong: bool) -> Refusal:
    lossy = raw.decode("utf-8", errors="replace")
    request_id, method = envelope(lossy)

    def refuse(code: int, reason: str) -> Refusal:
        return Refusal(request_id, method, code, reason)

    if overlong:
        return refuse(
            INVALID_REQUEST,
            f"The request is larger than {MAX_REQUEST_BYTES // (1024 * 1024)} MiB, the most this server reads. "
            "Send less per call (fewer messages, a smaller state or output).",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return refuse(
            PARSE_ERROR,
            f"The request is not valid UTF-8 (byte {error.start} of the line). Send text encoded as UTF-8.",
        )
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        return refuse(
            INVALID_REQUEST,
            f"The request is nested {depth} levels deep; this server reads at most {MAX_DEPTH} levels "
            "(and keeps checkpoint states of at most 64 levels). Send flatter JSON: lists of ids and short "
            "records rather than deeply nested objects.",
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return refuse(PARSE_ERROR, f"The request is not valid JSON ({error.msg}, character {error.pos}).")
    where = _lone_surrogate(value)
    if where is not None:
        return refuse(
            INVALID_REQUEST,
            f"The request holds a lone surrogate (an unpaired \\ud800-\\udfff escape) in {where}. "
            "Send valid Unicode text.",
        )
    return refuse(
        INVALID_REQUEST,
        'The request is not a JSON-RPC 2.0 message (an object with jsonrpc "2.0", a method and an id, '
        "or a response). Send a well-formed MCP message.",
    )


def envelope(text: str) -> tuple[int | str | None, str | None]:
    """The top-level `id` and `method` of a JSON object, read without parsing it whole, so
    they are found in a line too deep, broken or cut off to parse."""
    found: dict[str, Any] = {}
    depth = 0
    previous = ""
    key: str | None = None
    for match in _TOKEN.finditer(text):
        token = match.group()
        if depth == 0 and token != "{":
            break
        if token in ("{", "["):
            depth += 1
        elif token in ("}", "]"):
            depth -= 1
        elif depth == 1 and previous in ("{", ",") and token.startswith('"'):
            key = _scalar(token)
        elif depth == 1 and previous == ":" and key in ("id", "method"):
            found[key] = _scalar(token)
            if len(found) == 2:
                break
        previous = token
    request_id = found.get("id")
    method = found.get("method")
    return (
        request_id if isinstance(request_id, int | str) and not isinstance(request_id, bool) else None,
        method if isinstance(method, str) else None,
    )


def _scalar(token: str) -> Any:
    try:
        return json.loads(token)
    except ValueError:
        return None


def nesting_depth(text: str) -> int:
    """The deepest nesting of objects and arrays, counted without recursion."""
    depth = deepest = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("{", "["):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("}", "]"):
            depth -= 1
    return deepest


def _lone_surrogate(value: Any) -> str | None:
    """Where a string (or key) holds a lone surrogate, as a dotted path; None when none does."""
    stack: list[tuple[str, Any]] = [("the message", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return path
        elif isinstance(item, dict):
            for name, child in item.items():
                if not _encodable(name):
                    return f"a key of {path}"
                stack.append((name if path == "the message" else f"{path}.{name}", child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(item))
    return None


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
