"""Who a call acts for: the user fixed at launch, or, with `multi_user = true`, the `user_id`
the caller names on every call.

Each tool is written once, with a trailing `user_id: UserId | None = None` parameter, and
registered through `for_mode`: in single-user mode the parameter is left out of the tool's
schema (and a `user_id` sent anyway is refused); in multi-user mode it is listed first and
required. The body calls `acting_user(ctx, user_id)` and never reads the launch user itself.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar, cast

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from memory_server.config import USER_ID_PATTERN
from memory_server.errors import InvalidInputError
from memory_server.tools import opening_of

UserId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=USER_ID_PATTERN,
        description="The user this call is for (letters, digits, . _ @ -)",
    ),
]

SINGLE_USER = (
    "This server acts for one user fixed at launch; omit user_id. (One server for several users needs "
    "multi_user = true in its config.)"
)
USER_REQUIRED = (
    "user_id is required: this server serves several users (multi_user = true). Pass the id of the user this "
    "call is for, the same on every call for that user."
)
BAD_USER = "user_id must be 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit."

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def raw_argument(ctx: Context, name: str) -> Any:
    """An argument as the client sent it (present even when the schema does not list it)."""
    params = ctx.request_context.params
    arguments = params.get("arguments") if isinstance(params, Mapping) else None
    return arguments.get(name) if isinstance(arguments, Mapping) else None


def sent(ctx: Context, name: str) -> bool:
    params = ctx.request_context.params
    arguments = params.get("arguments") if isinstance(params, Mapping) else None
    return isinstance(arguments, Mapping) and name in arguments


def check_user_id(user_id: object) -> str:
    if not isinstance(user_id, str) or not re.fullmatch(USER_ID_PATTERN, user_id):
        raise ToolError(BAD_USER)
    return user_id


def resolve_user(multi_user: bool, launch_user: str, user_id: str | None, *, named: bool) -> str:
    """The acting user, or a ToolError saying how to call. `named`: the caller sent a user_id."""
    if multi_user:
        if user_id is None:
            raise ToolError(USER_REQUIRED)
        return check_user_id(user_id)
    if named or user_id is not None:
        raise ToolError(SINGLE_USER)
    return launch_user


def acting_user(ctx: Context, user_id: str | None) -> str:
    """The user a tool call acts for."""
    opening = opening_of(ctx)
    return resolve_user(opening.settings.multi_user, opening.user_id, user_id, named=sent(ctx, "user_id"))


def for_mode(fn: F, *, multi_user: bool) -> F:
    """A copy of the tool `fn` whose signature (hence its schema) fits the mode: without
    `user_id` in single-user mode, with a required `user_id` first in multi-user mode."""
    signature = inspect.signature(fn, eval_str=True)
    others = [p for name, p in signature.parameters.items() if name != "user_id"]
    if multi_user:
        keyword = inspect.Parameter.KEYWORD_ONLY
        user = inspect.Parameter("user_id", keyword, annotation=UserId)
        parameters = [user, *(p.replace(kind=keyword) for p in others)]
    else:
        parameters = others

    @functools.wraps(fn)
    async def tool(*args: Any, **kwargs: Any) -> Any:
        return await fn(*args, **kwargs)

    adapted = cast(Any, tool)
    adapted.__signature__ = signature.replace(parameters=parameters)
    adapted.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": signature.return_annotation}
    return cast(F, tool)


def tool_registrar(server: MCPServer, *, multi_user: bool) -> Callable[..., Callable[[F], F]]:
    """`@tool(...)` in place of `@server.tool(...)`: registers the tool's version for the mode."""

    def tool(**options: Any) -> Callable[[F], F]:
        def register(fn: F) -> F:
            server.tool(**options)(for_mode(fn, multi_user=multi_user))
            return fn

        return register

    return tool


# -- resources and prompts ------------------------------------------------------------------
# In multi-user mode every view is addressed under its user, `memory://users/{user_id}/...`,
# and every prompt takes a user_id argument; in single-user mode they stay `memory://...`.


def view_uri(path: str, *, multi_user: bool) -> str:
    return f"memory://users/{{user_id}}/{path}" if multi_user else f"memory://{path}"


def view_user(multi_user: bool, launch_user: str, user_id: str | None) -> str:
    """The user a resource or prompt is for; None in multi-user mode, or a malformed id, is refused."""
    if not multi_user:
        return launch_user
    if user_id is None or not re.fullmatch(USER_ID_PATTERN, user_id):
        raise InvalidInputError(BAD_USER)
    return user_id


def view_registrar(server: MCPServer, *, multi_user: bool) -> Callable[..., Callable[[F], F]]:
    """`@view("sessions/{session_id}", ...)` in place of `@server.resource("memory://sessions/{session_id}", ...)`."""

    def view(path: str, **options: Any) -> Callable[[F], F]:
        def register(fn: F) -> F:
            server.resource(view_uri(path, multi_user=multi_user), **options)(for_mode(fn, multi_user=multi_user))
            return fn

        return register

    return view


def prompt_registrar(server: MCPServer, *, multi_user: bool) -> Callable[..., Callable[[F], F]]:
    """`@prompt(...)` in place of `@server.prompt(...)`: with a required user_id in multi-user mode."""

    def prompt(**options: Any) -> Callable[[F], F]:
        def register(fn: F) -> F:
            server.prompt(**options)(for_mode(fn, multi_user=multi_user))
            return fn

        return register

    return prompt
