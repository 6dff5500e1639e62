"""The streamable HTTP transport: the same MCP server on a loopback port, behind a bearer token.

The token is made on first use (`secrets.token_urlsafe(32)`), kept in an owner-only file and
compared in constant time. Only loopback addresses are served: this is for local hosts and
agents on the same machine, not a network service.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import secrets
import stat
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from memory_server.config import APP_NAME, Settings
from memory_server.errors import ConfigError

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"
TOKEN_FILE_NAME = "http.token"
_MIN_TOKEN_CHARS = 32

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def token_path(settings: Settings) -> Path:
    if settings.http.token_file is not None:
        return settings.http.token_file.expanduser()
    base = settings.home or Path(platformdirs.user_config_dir(APP_NAME))
    return base.expanduser() / TOKEN_FILE_NAME


def load_or_create_token(path: Path) -> tuple[str, bool]:
    """The bearer token stored at `path`, creating it (mode 0600) when absent.
    Returns the token and whether it was created now."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_token(path), False
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(token + "\n")
        file.flush()
        os.fsync(file.fileno())
    return token, True


def _read_token(path: Path) -> str:
    mode = path.stat().st_mode
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"Token file {path} is readable by other users (mode {stat.filemode(mode)}). Run: chmod 600 {path}"
        )
    token = path.read_text(encoding="ascii", errors="replace").strip()
    if len(token) < _MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise ConfigError(f"Token file {path} is damaged. Delete it and start the server again to make a new token.")
    return token


def require_loopback(host: str) -> str:
    """`host` if it is a loopback address (or "localhost"); otherwise a ConfigError."""
    if host == "localhost":
        return host
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ConfigError(
            f"The HTTP transport listens on loopback addresses only (127.0.0.1, ::1, localhost); got {host!r}. "
            "To reach it from elsewhere, use an SSH tunnel or a reverse proxy with TLS."
        )
    return str(address)


class BearerTokenGuard:
    """ASGI middleware: HTTP requests without `Authorization: Bearer <token>` get 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._token = token.encode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            await _refuse(send)
            return
        await self._app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        supplied = b""
        for name, value in scope.get("headers", ()):
            if name.lower() == b"authorization":
                supplied = value
                break
        scheme, _, credentials = supplied.partition(b" ")
        # compare_digest always runs, so a wrong scheme and a wrong token take the same time.
        matches = hmac.compare_digest(credentials.strip(), self._token)
        return matches and scheme.lower() == b"bearer"


async def _refuse(send: Send) -> None:
    body = json.dumps(
        {
            "error": "invalid_token",
            "error_description": "Send 'Authorization: Bearer <token>'; the token is in the server's http.token file.",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="memory-server"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def http_app(server: MCPServer, *, host: str, token: str) -> ASGIApp:
    """The MCP streamable HTTP app at /mcp, behind the bearer-token guard."""
    from mcp.server.transport_security import TransportSecuritySettings

    hosts = {host, "127.0.0.1", "localhost", "[::1]"}
    hosts = {f"[{h}]" if ":" in h and not h.startswith("[") else h for h in hosts}
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{h}:*" for h in sorted(hosts)],
        allowed_origins=[f"http://{h}:*" for h in sorted(hosts)],
    )
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, transport_security=security, host=host)
    return BearerTokenGuard(app, token)


async def serve_http(server: MCPServer, *, host: str, port: int, token: str, log_level: str) -> None:
    """Serve until interrupted. Logs go to stderr through the root logger, never to stdout."""
    import uvicorn

    config = uvicorn.Config(
        http_app(server, host=host, token=token),
        host=host,
        port=port,
        log_level=log_level.lower(),
        log_config=None,  # uvicorn's default config writes access logs to stdout
        lifespan="on",
    )
    await uvicorn.Server(config).serve()
