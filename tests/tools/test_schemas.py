"""Compacted schemas accept and refuse exactly what pydantic's own schemas do."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, Field

from memory_server.memory.models import SearchResult
from memory_server.tools.schemas import compact


class Inner(BaseModel):
    label: str | None = None
    count: int = Field(0, ge=0)


class Outer(BaseModel):
    title: str  # a field *named* title stays
    inner: Inner
    maybe: Inner | None = None
    either: int | str | None = None


class Node(BaseModel):
    children: list[Node] = []


GOOD: list[dict[str, Any]] = [
    {"title": "a", "inner": {}},
    {"title": "a", "inner": {"label": None, "count": 3}, "maybe": {"label": "x"}, "either": "s"},
    {"title": "a", "inner": {"label": "x"}, "either": 4, "maybe": None},
]
BAD: list[dict[str, Any]] = [
    {"title": "a"},
    {"title": 1, "inner": {}},
    {"title": "a", "inner": {"count": -1}},
    {"title": "a", "inner": {"label": 5}},
    {"title": "a", "inner": {}, "either": 1.5},
    {"title": "a", "inner": {}, "maybe": 3},
]


def test_compact_schemas_have_no_generated_titles_refs_or_null_branches() -> None:
    schema = compact(Outer.model_json_schema())
    text = repr(schema)
    assert "$ref" not in text and "$defs" not in text and "'title': '" not in text
    assert schema["properties"]["inner"]["properties"]["label"]["type"] == ["string", "null"]
    assert "title" in schema["properties"] and schema["required"] == ["title", "inner"]


@pytest.mark.parametrize("instance", GOOD)
def test_what_pydantic_accepts_the_compact_schema_accepts(instance: dict[str, Any]) -> None:
    Outer.model_validate(instance)
    jsonschema.validate(instance, Outer.model_json_schema())
    jsonschema.validate(instance, compact(Outer.model_json_schema()))


@pytest.mark.parametrize("instance", BAD)
def test_what_pydantic_refuses_the_compact_schema_refuses(instance: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(instance, Outer.model_json_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(instance, compact(Outer.model_json_schema()))


def test_a_model_that_refers_to_itself_keeps_its_definitions() -> None:
    schema = compact(Node.model_json_schema())
    assert "$defs" in schema
    jsonschema.validate({"children": [{"children": []}]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"children": [{"children": 3}]}, schema)


def test_a_search_answer_is_valid_against_its_compact_schema() -> None:
    answer = {
        "hits": [
            {
                "fact": {"id": 1, "content": "x", "importance": 0.5, "created_at": "t", "updated_at": "t"},
                "score": 0.7,
                "why": {
                    "relevance": 0.6,
                    "similarity": 0.5,
                    "keyword_coverage": 1.0,
                    "vector_rank": None,
                    "keyword_rank": 1,
                    "importance": 0.5,
                    "recency": 1.0,
                    "use": 0.0,
                },
            }
        ]
    }
    jsonschema.validate(
        SearchResult.model_validate(answer).model_dump(mode="json"), compact(SearchResult.model_json_schema())
    )
