"""The stdin screen in process: what it passes to the SDK and what it answers itself."""

from __future__ import annotations

from memory_server import stdio
from memory_server.stdio import Refusal, envelope, nesting_depth, screen


def test_a_line_the_sdk_parses_passes_unchanged() -> None:
    line = '{"jsonrpc":"2.0","id":3,"method":"tools/list"}'
    assert screen(line.encode()) == line


def test_the_id_and_method_are_found_in_a_line_too_deep_or_broken_to_parse() -> None:
    deep = '{"jsonrpc":"2.0","id":"x-1","method":"tools/call","params":' + '{"a":' * 5000
    assert envelope(deep) == ("x-1", "tools/call")
    assert envelope('{"params":{"id":5,"method":"no"},"method":"ping","id":9}') == (9, "ping")
    assert envelope('[{"id": 1}]') == (None, None)
    assert envelope('{"id": true, "method": 3}') == (None, None)
    assert nesting_depth('{"a":"{{{{","b":[[1]]}') == 3


def test_an_answer_to_a_tool_call_is_a_tool_error_and_to_anything_else_a_json_rpc_error() -> None:
    refused = screen(b'{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"x","arguments":{"a":"\xff"}}}')
    assert isinstance(refused, Refusal)
    assert refused.message()["result"]["isError"] is True and refused.message()["id"] == 4
    other = screen(b'{"jsonrpc":"2.0","id":5,"method":"ping","params":{"a":"\xff"}}')
    assert isinstance(other, Refusal) and other.message()["error"]["code"] == stdio.PARSE_ERROR
    unknown = screen(b'{"jsonrpc":"1.0","id":6}')
    assert isinstance(unknown, Refusal) and unknown.message()["error"]["code"] == stdio.INVALID_REQUEST
