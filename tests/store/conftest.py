"""The store's tests run once per backend: the `store` fixture is how a test opens one.

A backend is one parameter of `BACKENDS`: a function that opens the store for given settings
(the same keyword options `Database.open` takes). SQLite is the only one today; a second
backend joins by adding its opener here, and every test that uses `store` runs against it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from memory_server.config import Settings
from memory_server.store import Database

OpenStore = Callable[..., AbstractAsyncContextManager[Database]]


def _sqlite(settings: Settings, **options: Any) -> AbstractAsyncContextManager[Database]:
    return Database.open(settings, **options)


BACKENDS: dict[str, OpenStore] = {"sqlite": _sqlite}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest) -> OpenStore:
    """Opens the backend under test: `async with store(settings) as db:`."""
    return BACKENDS[request.param]
