"""Who may talk to the local API: a token by default, local origins and hosts only, loopback unless
there is a token.

Like Jupyter: without ``ROSIE_API_TOKEN`` a random token is generated once and kept in a file only
the user can read (``ROSIE_API_TOKEN_FILE``, mode 0600 in a 0700 folder), where the desktop app and
``rosie open`` find it. A web page the user visits can neither send the token (it cannot read the
file) nor reach the API by another name: requests whose ``Host`` is not a local name (DNS
rebinding) or whose ``Origin`` is not the API's own page are refused with 403 before any route runs.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import secrets
import stat
from pathlib import Path
from urllib.parse import urlsplit

from foundation.settings import Settings

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost",)


def load_or_create_token(path: Path) -> str:
    """The token kept in ``path``, generated (and the file created 0600) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s was readable by others (mode %o): narrowed to 0600", path, mode)
            path.chmod(0o600)
        token = path.read_text().strip()
        if token:
            return token
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)  # an empty file (killed while writing): fill it
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    log.info("generated the local API's token in %s", path)
    return token


def configured_token(settings: Settings) -> str | None:
    """``ROSIE_API_TOKEN`` if set (empty: no token), else the token file's."""
    if settings.api_token is not None:
        return settings.api_token.get_secret_value() or None
    return load_or_create_token(settings.api_token_file)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token (anyone on the network could chat)."""
    if token is None and not is_loopback(host):
        raise SystemExit(
            f"refusing to listen on {host} without a token: anyone who can reach this machine could use "
            "the API. Unset ROSIE_API_TOKEN (a random token is then kept in ROSIE_API_TOKEN_FILE) or set "
            "it to a secret, or listen on 127.0.0.1"
        )


def _split_host(value: str) -> tuple[str, str]:
    """``[::1]:8765`` -> (``::1``, ``8765``); ``localhost`` -> (``localhost``, ``""``)."""
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        return name, rest.removeprefix(":")
    if value.count(":") == 1:
        name, _, port = value.partition(":")
        return name, port
    return value, ""


class LocalOnlyMiddleware:
    """ASGI middleware: 403 for a ``Host`` that is not allowed, or an ``Origin`` other than the API's
    own page or ``allowed_origins``; WebSocket handshakes are closed with 1008 (policy violation).

    A request without ``Origin`` (a local program, the desktop app's native side) passes: browsers
    always send it on WebSockets and cross-site POSTs, and the token guards the rest.
    """

    def __init__(self, app, allowed_hosts: list[str], allowed_origins: list[str]) -> None:
        self.app = app
        self.allowed_hosts = {h.lower() for h in allowed_hosts}
        self.allowed_origins = {o.lower().rstrip("/") for o in allowed_origins}

    def refusal(self, headers: dict[bytes, bytes]) -> str | None:
        host = headers.get(b"host", b"").decode("latin-1").lower()
        name, port = _split_host(host)
        if name not in self.allowed_hosts:
            return f"Host {host!r} is not one this API answers (ROSIE_API_ALLOWED_HOSTS)"
        origin = headers.get(b"origin")
        if origin is None:
            return None
        origin_text = origin.decode("latin-1").lower().rstrip("/")
        parts = urlsplit(origin_text)
        # The API's own page, under any of its local names: only this process listens on that port.
        own_page = parts.scheme in ("http", "https") and _split_host(parts.netloc) in (
            (allowed, port) for allowed in self.allowed_hosts
        )
        if own_page or origin_text in self.allowed_origins:
            return None
        return f"Origin {origin_text!r} may not use this API (ROSIE_API_ALLOWED_ORIGINS)"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        reason = self.refusal(dict(scope["headers"]))
        if reason is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008, "reason": reason})
        body = json.dumps({"detail": reason}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})
