"""Argument errors a model can act on.

The SDK answers a call whose arguments fail validation with pydantic's own text (several
lines, the rejected input, a documentation URL) and ignores arguments the tool does not
have. Here every such call is refused with one sentence per argument: its name, the shape
or range it takes (read from the tool's published input schema, the contract the model
sees), what was sent, and what to send instead; an unknown argument is refused by name.
Values out of range are refused, never clamped.

An answer's text block is its structured content as compact JSON: the SDK would indent it,
which costs the host's context window about a third more for the same data.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, InputRequiredResult, TextContent
from pydantic import ValidationError
from pydantic_core import ErrorDetails

MAX_EXPLAINED = 3
PREFIX = "Error executing tool "  # as the SDK starts every other tool error
# In single-user mode user_id is not in the schema; the tool itself answers that it must be omitted.
PASSED_THROUGH = frozenset({"user_id"})


class ToolServer(MCPServer):
    """An MCPServer whose tools refuse unknown and malformed arguments with errors written for the model."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        schema = await self._input_schema(name)
        if schema is not None:
            unknown = sorted(set(arguments) - set(schema.get("properties", {})) - PASSED_THROUGH)
            if unknown:
                raise ToolError(f"{PREFIX}{name}: {unknown_arguments(name, unknown, schema)}")
        try:
            return compact_text(await super().call_tool(name, arguments, context))
        except ToolError as error:
            cause = error.__cause__
            if schema is None or not isinstance(cause, ValidationError):
                raise
            # Chained to the ValidationError, so the SDK logs the field names only, not the values.
            raise ToolError(f"{PREFIX}{name}: {explain(cause, schema)}") from cause

    _schemas: dict[str, dict[str, Any]] | None = None

    async def _input_schema(self, name: str) -> dict[str, Any] | None:
        # Read once: every tool is registered before the server runs (see server.build_server).
        if self._schemas is None:
            self._schemas = {tool.name: tool.input_schema for tool in await self.list_tools()}
        return self._schemas.get(name)


def compact_text(result: CallToolResult | InputRequiredResult) -> CallToolResult | InputRequiredResult:
    """The answer with its text block made from the structured content, without indentation."""
    if not isinstance(result, CallToolResult) or result.structured_content is None or result.is_error:
        return result
    text = json.dumps(result.structured_content, ensure_ascii=False, separators=(",", ":"))
    return result.model_copy(update={"content": [TextContent(type="text", text=text)]})


def unknown_arguments(tool: str, unknown: list[str], schema: dict[str, Any]) -> str:
    names = ", ".join(unknown)
    known = ", ".join(schema.get("properties", {})) or "none"
    noun = "argument" if len(unknown) == 1 else "arguments"
    return f"{tool} has no {noun} {names}. Its arguments are: {known}. Remove {names} (or fix the spelling)."


def explain(error: ValidationError, schema: dict[str, Any]) -> str:
    """One sentence per wrong argument (the first few), each saying what to send instead."""
    sentences: list[str] = []
    seen: set[str] = set()
    for detail in error.errors(include_url=False):
        path = _path(detail["loc"])
        top = str(detail["loc"][0]) if detail["loc"] else path
        if top in seen:
            continue
        seen.add(top)
        sentences.append(_sentence(detail, path, _schema_at(schema, detail["loc"]), schema))
        if len(sentences) == MAX_EXPLAINED:
            break
    return " ".join(sentences) or "The arguments do not match the tool's input schema. Check them against it."


def _sentence(detail: ErrorDetails, path: str, at: dict[str, Any], root: dict[str, Any]) -> str:
    shape = describe(at, root)
    hint = f" ({at['description']})" if at.get("description") else ""
    if detail["type"] == "missing":
        return f"{path} is required: send {shape}{hint}."
    got = _sent(detail["input"])
    fix = f"Send {shape}"
    if _types(at, root) & {"object", "array"} and isinstance(detail["input"], str):
        fix += " itself, not as a string"
    default = at.get("default")
    if path in root.get("properties", {}) and path not in root.get("required", []):
        fix += f", or omit {path}" + (f" for the default ({json.dumps(default)})" if default is not None else "")
    return f"{path} must be {shape}{hint}; got {got}. {fix}."


def describe(schema: dict[str, Any], root: dict[str, Any]) -> str:
    """What a schema accepts, in words: "a number from 0 to 1", "text of 1 to 128 characters"."""
    schema = _resolve(schema, root)
    options = [_resolve(option, root) for option in schema.get("anyOf", [])]
    if options:
        real = [option for option in options if option.get("type") != "null"]
        words = [describe(option, root) for option in real]
        return " or ".join(dict.fromkeys(words)) if words else "null"
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(value) for value in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return _number(schema, "a whole number" if kind == "integer" else "a number")
    if kind == "string":
        return _text(schema)
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        items = schema.get("items")
        inner = f" of {_plural(describe(items, root))}" if isinstance(items, dict) and items else ""
        return f"a list{inner}"
    if kind == "object":
        return "a JSON object"
    return "a valid value"


def _number(schema: dict[str, Any], noun: str) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    above, below = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if low is not None and high is not None:
        return f"{noun} from {low} to {high}"
    parts = []
    if low is not None:
        parts.append(f"at least {low}")
    if above is not None:
        parts.append(f"greater than {above}")
    if high is not None:
        parts.append(f"at most {high}")
    if below is not None:
        parts.append(f"less than {below}")
    return f"{noun} {' and '.join(parts)}" if parts else noun


def _text(schema: dict[str, Any]) -> str:
    shortest, longest = schema.get("minLength"), schema.get("maxLength")
    if shortest is not None and longest is not None:
        size = f" of {shortest} to {longest} characters"
    elif longest is not None:
        size = f" of at most {longest} characters"
    elif shortest:
        size = " that is not empty"
    else:
        size = ""
    pattern = f" matching {schema['pattern']}" if "pattern" in schema else ""
    return f"text{size}{pattern}"


def _plural(words: str) -> str:
    plurals = (("a whole number", "whole numbers"), ("a number", "numbers"), ("a JSON object", "objects"))
    for singular, plural in plurals:
        if words.startswith(singular):
            return plural + words[len(singular) :]
    return words.replace("text", "strings", 1) if words.startswith("text") else words


def _sent(value: Any) -> str:
    """What was sent, without echoing long text (it may be large, or private)."""
    if value is None:
        return "null"
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return f'the text "{value}"' if len(value) <= 20 else f"text of {len(value)} characters"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return "a value of another type"


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _schema_at(root: dict[str, Any], loc: tuple[int | str, ...]) -> dict[str, Any]:
    """The schema of the value at `loc` (as far as it can be followed)."""
    at: dict[str, Any] = root
    for part in loc:
        at = _resolve(at, root)
        options = [_resolve(o, root) for o in at.get("anyOf", []) if o.get("type") != "null"]
        if len(options) == 1:
            at = options[0]
        if isinstance(part, int) and isinstance(at.get("items"), dict):
            at = at["items"]
        elif isinstance(part, str) and part in at.get("properties", {}):
            at = at["properties"][part]
        else:
            break
    return at


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        found = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"))
        if isinstance(found, dict):
            return {**found, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _types(schema: dict[str, Any], root: dict[str, Any]) -> set[str]:
    schema = _resolve(schema, root)
    kinds = {schema["type"]} if isinstance(schema.get("type"), str) else set()
    for option in schema.get("anyOf", []):
        kinds |= _types(option, root)
    return kinds
