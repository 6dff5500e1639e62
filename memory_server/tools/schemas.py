"""The published schemas, made smaller and cheaper to check without changing what they accept.

Pydantic titles every field ("Fact Id" for fact_id), writes an optional field as
`anyOf: [{type: X}, {type: null}]` and nests models through `$defs`/`$ref`. Hosts put the
input schemas in the model's context, and clients check every structured answer against its
output schema (the Python SDK's client spends about 7 ms on one search answer as pydantic
writes it, 4 ms on the same schema compacted here).
"""

from __future__ import annotations

from typing import Any


def compact(schema: dict[str, Any]) -> dict[str, Any]:
    """The same constraints: no generated titles, optional simple types as a type list, and
    `$defs` written in place (unless a definition refers to itself)."""
    inlined = _inline(schema, schema.get("$defs", {}), ())
    compacted: dict[str, Any] = _simplified(inlined if inlined is not None else schema)
    return compacted


def _inline(node: Any, defs: dict[str, Any], seen: tuple[str, ...]) -> Any:
    """`node` with every local `$ref` replaced by its definition; None if a definition recurses."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in seen or name not in defs:
                return None
            target = _inline(defs[name], defs, (*seen, name))
            siblings = _inline({k: v for k, v in node.items() if k not in ("$ref", "$defs")}, defs, seen)
            return None if target is None or siblings is None else {**target, **siblings}
        out = {}
        for key, value in node.items():
            if key == "$defs":
                continue
            inlined = _inline(value, defs, seen)
            if inlined is None and value is not None:
                return None
            out[key] = inlined
        return out
    if isinstance(node, list):
        items = [_inline(value, defs, seen) for value in node]
        return None if any(i is None and v is not None for i, v in zip(items, node, strict=True)) else items
    return node


def _simplified(node: Any) -> Any:
    if isinstance(node, list):
        return [_simplified(value) for value in node]
    if not isinstance(node, dict):
        return node
    # A string "title" is pydantic's label; a property *named* title would hold a dict.
    out = {key: _simplified(value) for key, value in node.items() if not (key == "title" and isinstance(value, str))}
    branches = out.get("anyOf")
    if isinstance(branches, list) and branches and all(_bare_type(b) for b in branches) and "type" not in out:
        del out["anyOf"]
        out["type"] = [b["type"] for b in branches]
    return out


def _bare_type(branch: Any) -> bool:
    return isinstance(branch, dict) and set(branch) == {"type"} and isinstance(branch["type"], str)
