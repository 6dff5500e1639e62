"""Every request that carries an id gets an answer with that id, whatever the line holds:
the real server over stdio, spoken to in raw JSON-RPC and through the official client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from memory_server.stdio import MAX_REQUEST_BYTES
from tests.stdio import RawServer, call, call_error, stdio_client, tool_call_line

pytestmark = pytest.mark.e2e


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.fixture
def raw(tmp_path: Path) -> Iterator[RawServer]:
    server = RawServer(tmp_path)
    try:
        yield server
    finally:
        server.close()


def tool_error(answer: dict[str, object], request_id: int) -> str:
    assert answer["id"] == request_id
    result = answer["result"]
    assert isinstance(result, dict) and result["isError"] is True
    text = result["content"][0]["text"]
    assert isinstance(text, str)
    return text


async def test_a_checkpoint_state_nested_200_deep_gets_a_clear_error_naming_the_limit(tmp_path: Path) -> None:
    """Through the official client (it cannot serialize 1000 levels; the raw test below sends those)."""
    state: object = 1
    for _ in range(200):
        state = {"a": state}
    async with stdio_client(tmp_path) as client:
        error = await call_error(client, "save_checkpoint", thread_id="deep", state=state)
        assert "128 levels" in error and "64 levels" in error and "Nothing was done" in error
        # The connection still works, and nothing was saved.
        assert "no checkpoints" in await call_error(client, "restore_checkpoint", thread_id="deep")
        assert (await call(client, "save_checkpoint", thread_id="deep", state={"a": {"b": 1}}))["step"] >= 0


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (tool_call_line(11, "save_checkpoint", '{"thread_id":"t","state":' + nested(200) + "}"), "nested 203 levels"),
        (tool_call_line(12, "save_checkpoint", '{"thread_id":"t","state":' + nested(1000) + "}"), "at most 128"),
        (tool_call_line(13, "remember_fact", '{"content":"caf\\u00e9 @"}').replace(b"@", b"\xff"), "not valid UTF-8"),
        (tool_call_line(14, "remember_fact", '{"content":"x@y"}').replace(b"@", b"\xed\xa0\x80"), "not valid UTF-8"),
        (tool_call_line(15, "remember_fact", '{"content":"x\\ud800y"}'), "lone surrogate"),
        (tool_call_line(16, "remember_fact", '{"content":"unterminated}'), "not valid JSON"),
    ],
    ids=["depth-200", "depth-1000", "invalid-utf8", "encoded-surrogate", "lone-surrogate-escape", "broken-json"],
)
def test_an_unreadable_tool_call_is_answered_with_its_id_and_changes_nothing(
    raw: RawServer, line: bytes, expected: str
) -> None:
    request_id = int(line.split(b'"id":', 1)[1].split(b",", 1)[0])
    raw.send(line)
    assert expected in tool_error(raw.receive(), request_id)
    raw.send(tool_call_line(99, "search_facts", '{"query":"cafe"}'))
    answer = raw.receive()
    assert answer["id"] == 99 and answer["result"]["structuredContent"]["hits"] == []


def test_an_unreadable_request_of_another_method_gets_a_json_rpc_error_with_its_id(raw: RawServer) -> None:
    raw.send(b'{"jsonrpc":"2.0","id":"r-1","method":"resources/read","params":{"uri":"memory://x\\udfff"}}')
    answer = raw.receive()
    assert answer["id"] == "r-1" and "lone surrogate" in answer["error"]["message"]
    raw.send(b'{"jsonrpc":"2.0","id":7,"method":"tools/list","params":' + nested(300).encode() + b"}")
    answer = raw.receive()
    assert answer["id"] == 7 and "nested 301 levels" in answer["error"]["message"]


def test_a_line_with_no_recoverable_id_gets_a_parse_error_with_a_null_id(raw: RawServer) -> None:
    raw.send(b"this is not json")
    answer = raw.receive()
    assert answer["id"] is None and answer["error"]["code"] == -32700


def test_a_line_of_many_megabytes_is_answered_by_the_tool_or_refused_by_size(raw: RawServer) -> None:
    big_state = '{"thread_id":"t","state":{"blob":"' + "x" * 20_000_000 + '"}}'
    raw.send(tool_call_line(21, "save_checkpoint", big_state))
    assert "the limit is 262144 bytes" in tool_error(raw.receive(), 21)
    too_big = '{"thread_id":"t","state":{"blob":"' + "x" * (MAX_REQUEST_BYTES + 10) + '"}}'
    raw.send(tool_call_line(22, "save_checkpoint", too_big))
    assert "larger than 64 MiB" in tool_error(raw.receive(), 22)
    raw.send(tool_call_line(23, "save_checkpoint", '{"thread_id":"t","state":{"n":1}}'))
    raw.receive()
    raw.send(tool_call_line(24, "list_checkpoints", '{"thread_id":"t"}'))
    assert len(raw.receive()["result"]["structuredContent"]["checkpoints"]) == 1  # nothing before was saved
